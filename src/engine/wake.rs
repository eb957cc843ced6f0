//! Wake: what `off-hours` policies put to sleep, woken on schedule.
//!
//! An `off-hours` policy's change (an instance stopped, an endpoint
//! deleted) is a sleep: journaled like any change, and recorded here
//! beside it (`sleeps`, one row per change, keyed by its journal row). A
//! later sweep wakes it through the change's own restore (start what was
//! stopped, re-create what was deleted from its journaled config) once its
//! schedule wants it on, early by the schedule's warm-up.
//!
//! # Guarantees
//! - Only what costguard put to sleep is woken: a sleep whose change is
//!   not `done` (failed, abandoned, or found already done because someone
//!   had stopped it first) is never woken.
//! - Never started twice, never fought: a sweep that finds it running
//!   again (someone started it, or re-created it) settles the sleep as
//!   `started-by-someone`, and the plan leaves it running until the next
//!   off window (`plan::Slept`); a resource that is gone settles as `gone`.
//! - A wake is a journaled restore: a crash part way is finished by the
//!   next run, like any restore.
//! - The hours asleep times the hourly price when it was put to sleep are
//!   the scheduled saving, written when the sleep ends.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::actions::ActionState;
use super::inventory::Inventory;
use super::journal::Journal;
use super::sleeps::{hours_between, SleepRow, SleepState};
use crate::actions::Action;
use crate::aws::Aws;
use crate::clock::Clock;
use crate::config::Policy;
use crate::filters::offhours::{local, Status};
use crate::resources::{Effect, Resource, ResourceAction, Waking};
use crate::schedule::Power;

/// What a sweep does about one open sleep.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Its schedule wants it on: wake it (restore its change).
    Wake { why: String },
    /// Still in its off hours.
    Sleep { wakes_at: Option<DateTime<Utc>>, wakes: String },
    /// Found running again, or re-created, before its wake-up.
    StartedBySomeone,
    /// Gone before its wake-up.
    Gone,
    /// Its schedule wants it on, and nothing is to be woken: its user
    /// brings it back by using it.
    LeftToItsUser { why: String, reopens: &'static str },
    /// Its region's listing failed: looked at again next time.
    Unseen,
}

/// One open sleep and what to do about it.
#[derive(Clone, Debug)]
pub struct Wake {
    pub sleep: SleepRow,
    pub step: Step,
}

/// Decides, for each open sleep, whether to wake it: pure, from the
/// sweep's inventory (each sleep's type is listed, as its policy's is)
/// and the resource's schedule as its tags say now.
pub fn plan_wakes(open: Vec<SleepRow>, policies: &[Policy], inventory: &Inventory, now: DateTime<Utc>) -> Vec<Wake> {
    open.into_iter()
        .filter_map(|sleep| {
            // Each sleep is its own policy's: a sweep that does not run it (another job) leaves it be.
            let policy = policies.iter().find(|p| p.name == sleep.policy && p.resource_type == sleep.key.resource_type)?;
            if !policy.enabled {
                let step = Step::Wake { why: format!("its policy {} is disabled", sleep.policy) };
                return Some(Wake { step: nothing_to_wake(&sleep, step), sleep });
            }
            if inventory.failed_regions(sleep.key.resource_type).contains(&sleep.key.region) {
                return Some(Wake { sleep, step: Step::Unseen });
            }
            let listed = inventory.of(sleep.key.resource_type).iter().find(|r| sleep.key.is(r)).map(Arc::clone);
            let step = step(&sleep, policy, listed.as_deref(), now);
            Some(Wake { step: nothing_to_wake(&sleep, step), sleep })
        })
        .collect()
}

/// A wake of what its user brings back (a Studio app) is no restore: the
/// sleep ends, and the resource stays as it is until its user opens it.
fn nothing_to_wake(sleep: &SleepRow, step: Step) -> Step {
    let info = sleep.key.resource_type.action_info(&sleep.action);
    match (step, info.map(|i| (i.waking(), i.reopens))) {
        (Step::Wake { why }, Some((Some(Waking::ByItsUser), Some(reopens)))) => Step::LeftToItsUser { why, reopens },
        (step, _) => step,
    }
}

fn step(sleep: &SleepRow, policy: &Policy, listed: Option<&Resource>, now: DateTime<Utc>) -> Step {
    let rt = sleep.key.resource_type;
    // The change that put it to sleep, as the journal recorded it.
    let action = policy.actions.iter().filter_map(Action::change).find(|c| c.name() == sleep.action);
    let effect = rt.effect_of(&sleep.action);
    match (listed, effect) {
        (Some(r), Some(Effect::Stops)) if !action.is_some_and(|a| a.already_satisfied(r)) => return Step::StartedBySomeone,
        (Some(_), Some(Effect::Removes)) => return Step::StartedBySomeone,
        _ => {}
    }
    // Not listed (a listing may leave out what is stopped, and what was
    // deleted to sleep is gone): its tags as journaled when it was put to
    // sleep; waking re-reads it.
    let Some(resource) = listed.or(sleep.resource.as_deref()) else {
        return Step::Wake { why: "its journaled description is unreadable, so it is woken".to_string() };
    };
    let Some(off_hours) = policy.off_hours() else {
        return Step::Wake { why: format!("policy {} no longer has an off-hours filter", sleep.policy) };
    };
    match off_hours.status(resource, now) {
        Status::Scheduled { schedule, wants: Power::Off } => {
            let at = schedule.next(now, Power::On);
            Step::Sleep { wakes_at: at, wakes: at.map_or_else(|| "no wake-up within two weeks".to_string(), |t| local(&schedule, t)) }
        }
        Status::Scheduled { schedule, wants: Power::On } => Step::Wake { why: format!("schedule {} wants it on", schedule.name) },
        Status::Awake { until, .. } => Step::Wake { why: format!("its owner keeps it awake until {}", crate::text::utc(until)) },
        Status::OptedOut { tag } => Step::Wake { why: format!("its {tag} tag opts it out") },
        Status::Unscheduled => Step::Wake { why: "it no longer has a schedule".to_string() },
        // Never guessed at: it stays as it is until its tag is put right.
        Status::Invalid(why) => Step::Sleep { wakes_at: None, wakes: format!("not woken: its schedule cannot be read ({why})") },
    }
}

/// What waking needs.
pub struct WakeContext<'a> {
    pub aws: &'a Aws,
    pub journal: &'a Journal,
    pub clock: &'a Clock,
    pub cancel: &'a tokio_util::sync::CancellationToken,
}

/// Where a sleep stands after this run, as the report says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SleepStatus {
    PutToSleep,
    WouldSleep,
    /// In its off hours but in use: left up until a later sweep.
    InUse,
    Asleep,
    Woken,
    WouldWake,
    StartedBySomeone,
    Gone,
    LeftToItsUser,
    WakeFailed,
}

impl SleepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SleepStatus::PutToSleep => "put-to-sleep",
            SleepStatus::WouldSleep => "would-sleep",
            SleepStatus::InUse => "in-use",
            SleepStatus::Asleep => "asleep",
            SleepStatus::Woken => "woken",
            SleepStatus::WouldWake => "would-wake",
            SleepStatus::StartedBySomeone => "started-by-someone",
            SleepStatus::Gone => "gone",
            SleepStatus::LeftToItsUser => "left-to-its-user",
            SleepStatus::WakeFailed => "wake-failed",
        }
    }
}

/// One sleep as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SleepLine {
    pub resource_type: crate::resources::ResourceType,
    pub region: String,
    pub resource_id: String,
    pub policy: String,
    pub schedule: String,
    pub slept_at: DateTime<Utc>,
    pub status: SleepStatus,
    pub detail: String,
    /// When it wakes (still asleep).
    pub wakes_at: Option<DateTime<Utc>>,
    pub hours_asleep: f64,
    /// Hours asleep times its hourly price.
    pub saved_usd: Option<f64>,
}

/// Carries out the steps: wakes (a journaled restore of the change) and
/// settles what ended on its own. `ctx` is `None` in a dry run: nothing
/// changes, and the lines say what would happen.
pub async fn wake(wakes: Vec<Wake>, ctx: Option<&WakeContext<'_>>, now: DateTime<Utc>) -> (Vec<SleepLine>, Vec<String>) {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for Wake { sleep, step } in wakes {
        let (status, detail, wakes_at, ended) = match (&step, ctx) {
            (Step::Sleep { wakes_at, wakes }, _) => (SleepStatus::Asleep, format!("wakes {wakes}"), *wakes_at, None),
            (Step::Unseen, _) => (SleepStatus::Asleep, "its region could not be listed: looked at again next time".to_string(), None, None),
            (Step::Wake { why }, None) => (SleepStatus::WouldWake, why.clone(), None, None),
            (Step::StartedBySomeone, None) => (SleepStatus::StartedBySomeone, "running again before its wake-up".to_string(), None, None),
            (Step::Gone, None) => (SleepStatus::Gone, "gone before its wake-up".to_string(), None, None),
            (Step::StartedBySomeone, Some(_)) => (
                SleepStatus::StartedBySomeone,
                "running again before its wake-up: left running until its next off time".to_string(),
                None,
                Some(SleepState::StartedBySomeone),
            ),
            (Step::Gone, Some(_)) => (SleepStatus::Gone, "gone before its wake-up".to_string(), None, Some(SleepState::Gone)),
            (Step::LeftToItsUser { why, reopens }, None) => (SleepStatus::LeftToItsUser, format!("{why}: nothing to wake ({reopens})"), None, None),
            (Step::LeftToItsUser { why, reopens }, Some(_)) => {
                (SleepStatus::LeftToItsUser, format!("{why}: nothing to wake ({reopens})"), None, Some(SleepState::LeftToItsUser))
            }
            (Step::Wake { why }, Some(ctx)) if ctx.cancel.is_cancelled() => {
                (SleepStatus::Asleep, format!("{why}; the sweep stopped before waking it"), None, None)
            }
            (Step::Wake { why }, Some(ctx)) => match wake_one(&sleep, ctx).await {
                Ok(done) => (SleepStatus::Woken, format!("{why}: {done}"), None, Some(SleepState::Woken)),
                Err(super::restore::RestoreError::Resource(crate::resources::RestoreError::AlreadyExists { .. })) => {
                    (SleepStatus::StartedBySomeone, "found running before its wake-up".to_string(), None, Some(SleepState::StartedBySomeone))
                }
                Err(e) => match sleep.key.resource_type.reread(ctx.aws, &sleep.key.region, &sleep.key.id, now).await {
                    Ok(None) if sleep.key.resource_type.effect_of(&sleep.action) == Some(Effect::Stops) => {
                        (SleepStatus::Gone, "gone before its wake-up".to_string(), None, Some(SleepState::Gone))
                    }
                    _ => (SleepStatus::WakeFailed, format!("{why}, but waking it failed: {e}; the next sweep tries again"), None, None),
                },
            },
        };
        let at = ctx.map_or(now, |c| c.clock.now());
        let line = SleepLine {
            resource_type: sleep.key.resource_type,
            region: sleep.key.region.clone(),
            resource_id: sleep.key.id.clone(),
            policy: sleep.policy.clone(),
            schedule: sleep.schedule.clone(),
            slept_at: sleep.slept_at,
            status,
            detail,
            wakes_at,
            hours_asleep: hours_between(sleep.slept_at, at),
            saved_usd: sleep.hourly_usd.map(|h| h * hours_between(sleep.slept_at, at)),
        };
        if let (Some(state), Some(ctx)) = (ended, ctx) {
            if let Err(e) = ctx.journal.sleeps().end(&sleep, state, &line.detail, at) {
                problems.push(format!("{} {}: {e}", sleep.key.resource_type, sleep.key.id));
            }
        }
        if status == SleepStatus::WakeFailed {
            problems.push(format!("{} {} in {}: {}", sleep.key.resource_type, sleep.key.id, sleep.key.region, line.detail));
        }
        lines.push(line);
    }
    (lines, problems)
}

/// What this run put to sleep (or, in a dry run, would): the plan's
/// entries of `off-hours` policies whose change was done (or is planned).
pub fn put_to_sleep(plan: &super::plan::Plan, outcomes: &super::apply::Outcomes, policies: &[Policy]) -> Vec<SleepLine> {
    use super::apply::Status as Done;
    let mut lines = Vec::new();
    for (policy_plan, entry) in plan.entries() {
        let Some(off_hours) = policies.iter().find(|p| p.name == policy_plan.policy).and_then(Policy::off_hours) else { continue };
        let status = match (outcomes.get(entry.id).map(|o| o.status), &entry.decision) {
            (Some(Done::Done), _) => SleepStatus::PutToSleep,
            (Some(Done::Planned), super::plan::Decision::Act) => SleepStatus::WouldSleep,
            (_, super::plan::Decision::Skip(super::plan::Hold::InUse, _)) => SleepStatus::InUse,
            _ => continue,
        };
        let detail = match &entry.decision {
            super::plan::Decision::Skip(_, why) => why.to_string(),
            _ => entry.reason.clone(),
        };
        let r = &entry.resource;
        let Status::Scheduled { schedule, .. } = off_hours.status(r, plan.now) else { continue };
        let wakes_at = schedule.next(plan.now, Power::On).filter(|_| status != SleepStatus::InUse);
        lines.push(SleepLine {
            resource_type: r.resource_type(),
            region: r.region.to_string(),
            resource_id: r.id.clone(),
            policy: policy_plan.policy.clone(),
            schedule: schedule.name.clone(),
            slept_at: plan.now,
            status,
            detail,
            wakes_at,
            hours_asleep: 0.0,
            saved_usd: None,
        });
    }
    lines
}

/// Restores the change that put `sleep` to sleep, journaled as any restore.
async fn wake_one(sleep: &SleepRow, ctx: &WakeContext<'_>) -> Result<String, super::restore::RestoreError> {
    let entry = ctx.journal.actions().entry(sleep.action_id)?.filter(|e| e.state == ActionState::Done.as_str());
    let Some(entry) = entry else {
        return Err(super::restore::RestoreError::NothingToRestore {
            journal: ctx.journal.path().display().to_string(),
            action: "sleep".to_string(),
            resource_type: sleep.key.resource_type,
            name: sleep.key.id.clone(),
        });
    };
    super::restore::restore_entry(ctx.aws, ctx.journal, &entry, ctx.clock).await
}
