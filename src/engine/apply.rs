//! Apply: the only code that changes AWS. It runs the plan's decisions one
//! resource at a time; one failure never stops the others, and a
//! cancellation stops between resources, never inside one.
//!
//! # Guarantees
//! - A change held back by a grace period (`mark`) re-reads the resource
//!   right before acting (description, tags, metrics) and skips it if it no
//!   longer matches or has become protected.
//! - Every change is journaled before AWS is called and settled after.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::actions::{ActionState, Intent, PendingSaving};
use super::journal::Journal;
use super::plan::Mark;
use super::plan::{Decision, EntryId, Hold, Plan, PlanEntry, PlanSettings, PolicyPlan};
use crate::actions::{mark, Action};
use crate::aws::Aws;
use crate::clock::Clock;
use crate::config::Policy;
use crate::filters;
use crate::filters::offhours::Status as Schedule;
pub use crate::outcome::Status;
use crate::outcome::{ActionResult, Repair};
use crate::resources::ResourceAction;
use crate::resources::{Change, Resource, ResourceType, Tags};
use crate::schedule::Power;

/// Each plan entry's outcome, by the entry's id.
#[derive(Clone, Debug, Default)]
pub struct Outcomes(Vec<Option<Outcome>>);

impl Outcomes {
    fn set(&mut self, id: EntryId, outcome: Outcome) {
        if self.0.len() <= id.index() {
            self.0.resize(id.index() + 1, None);
        }
        self.0[id.index()] = Some(outcome);
    }

    /// Every outcome, in entry order.
    pub fn in_order(self) -> Vec<Outcome> {
        self.0.into_iter().flatten().collect()
    }

    /// Entry `id`'s outcome.
    pub fn get(&self, id: EntryId) -> Option<&Outcome> {
        self.0.get(id.index()).and_then(Option::as_ref)
    }

    /// Entry `id`'s outcome, taken (its detail moves into the finding).
    pub fn take(&mut self, id: EntryId) -> Option<Outcome> {
        self.0.get_mut(id.index()).and_then(Option::take)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// Shared with the plan's decision when that says it all (a circuit
    /// breaker's one reason for thousands of entries).
    pub detail: Option<Arc<str>>,
    /// What kept a skipped change from running.
    pub hold: Option<Hold>,
}

impl Outcome {
    fn new(status: Status, detail: impl Into<Option<String>>) -> Self {
        Self { status, detail: detail.into().map(Arc::from), hold: None }
    }

    /// Skipped, held by `hold`, for the reason `detail`.
    fn held(hold: Hold, detail: String) -> Self {
        Self { status: Status::Skipped, detail: Some(Arc::from(detail)), hold: Some(hold) }
    }
}

fn day(t: DateTime<Utc>) -> String {
    crate::text::utc(t)
}

/// The outcome of every plan entry, by its id, without touching AWS: what
/// a dry run reports.
pub fn dry_run(plan: &Plan) -> Outcomes {
    let mut outcomes = Outcomes(Vec::with_capacity(plan.len()));
    for (policy, entry) in plan.entries() {
        let outcome = match &entry.decision {
            Decision::Act | Decision::Report => Outcome::new(Status::Planned, None),
            Decision::Mark { due } => Outcome::new(Status::Planned, format!("would mark; {} due {}", gated(policy), day(*due))),
            Decision::Wait { due } => Outcome::new(Status::Planned, format!("marked; {} due {}", gated(policy), day(*due))),
            Decision::Skip(hold, why) => Outcome { status: Status::Skipped, detail: Some(Arc::clone(why)), hold: Some(*hold) },
        };
        outcomes.set(entry.id, outcome);
    }
    outcomes
}

fn gated(policy: &PolicyPlan) -> String {
    crate::actions::gated_names(&policy.actions)
}

/// Everything apply needs besides the plan.
pub struct ApplyContext<'a> {
    pub aws: &'a Aws,
    pub journal: &'a Journal,
    pub policies: &'a [Policy],
    pub settings: &'a PlanSettings,
    pub run_id: &'a str,
    /// The account the changes are made in (the savings ledger's rows say it).
    pub account_id: &'a str,
    pub cancel: &'a CancellationToken,
    pub clock: &'a Clock,
    /// `Some`: the plan came from a file, whose sizes, prices and metric
    /// dimensions are not trusted: every re-read resource is sized and
    /// priced afresh with these prices. `None`: the inventory's are kept.
    pub fresh_sizes: Option<&'a crate::pricing::PriceBook>,
}

pub async fn apply(plan: &Plan, ctx: &ApplyContext<'_>) -> Outcomes {
    let mut outcomes = dry_run(plan);
    for policy in &plan.policies {
        unmark(policy, ctx).await;
    }
    for (policy_plan, entry) in plan.entries() {
        if !matches!(entry.decision, Decision::Act | Decision::Mark { .. }) {
            continue;
        }
        if ctx.cancel.is_cancelled() {
            outcomes.set(entry.id, Outcome::held(Hold::Interrupted, "interrupted before this resource".to_string()));
            continue;
        }
        let Some(policy) = ctx.policies.iter().find(|p| p.name == policy_plan.policy) else { continue };
        let outcome = match entry.decision {
            Decision::Mark { due } => mark_resource(policy, entry, due, plan.now, ctx).await,
            _ => act(policy, policy_plan, entry, plan.now, ctx).await,
        };
        tracing::info!(
            policy = %policy.name,
            resource = %entry.resource.id,
            region = %entry.resource.region,
            status = ?outcome.status,
            detail = %outcome.detail.as_deref().unwrap_or(""),
            "action applied"
        );
        outcomes.set(entry.id, outcome);
    }
    outcomes
}

/// Tags the mark and journals it, after re-reading the resource like any
/// change (a resource protected since the listing is not marked).
async fn mark_resource(policy: &Policy, entry: &PlanEntry, due: DateTime<Utc>, now: DateTime<Utc>, ctx: &ApplyContext<'_>) -> Outcome {
    let fresh = match recheck(policy, entry, now, ctx).await {
        Ok(fresh) => fresh,
        Err(outcome) => return outcome,
    };
    let r = &fresh;
    let action = policy.gated_action_names();
    let tag = Tags::from([(mark::TAG.to_string(), mark::tag_value(&action, due))]);
    if let Err(e) = r.resource_type().set_tags(ctx.aws, r, &tag).await {
        return Outcome::new(Status::Failed, format!("could not tag the mark: {e}"));
    }
    let record = Mark { policy: policy.name.clone(), key: r.key(), action: action.clone(), marked_at: now, due_at: due };
    match ctx.journal.marks().put(&record, ctx.run_id) {
        Ok(()) => Outcome::new(Status::Done, format!("marked; {action} due {}", day(due))),
        Err(e) => Outcome::new(Status::Failed, format!("tagged, but the journal failed: {e}")),
    }
}

/// Runs the policy's changes on one resource, guarded as the module says.
async fn act(policy: &Policy, policy_plan: &PolicyPlan, entry: &PlanEntry, now: DateTime<Utc>, ctx: &ApplyContext<'_>) -> Outcome {
    let fresh = match recheck(policy, entry, now, ctx).await {
        Ok(fresh) => fresh,
        Err(outcome) => return outcome,
    };
    let assessment = policy.rightsizing().and_then(|r| r.assess(&fresh));
    if let Some(why) = policy_plan.actions.iter().filter_map(Action::change).find_map(|c| c.refusal(&fresh)) {
        return Outcome::held(Hold::Refused, format!("{why}; not changed"));
    }
    // A sleep's saving is its hours asleep (`sleep`), not a monthly one.
    // Its schedule, read again: a tag that became unreadable since the
    // plan matches the filter (so its owner hears of it) but never sleeps.
    let sleep = match policy.off_hours().map(|o| o.status(&fresh, now)) {
        None => None,
        Some(Schedule::Scheduled { schedule, wants: Power::Off }) => Some(schedule.name.clone()),
        Some(Schedule::Invalid(why)) => return Outcome::held(Hold::Misconfigured, format!("its schedule cannot be read, so it is not put to sleep: {why}")),
        Some(_) => return Outcome::held(Hold::Settled, "its schedule no longer puts it to sleep now; not changed".to_string()),
    };
    // The entry's saving rides on its last change: counted once that is done.
    let saving = super::ledger::saving(&policy_plan.actions, &fresh, assessment.as_ref(), now)
        .filter(|usd| *usd > 0.0)
        .map(|monthly_usd| PendingSaving { account_id: ctx.account_id.to_string(), action: crate::actions::joined_names(&policy_plan.actions), monthly_usd })
        .filter(|_| sleep.is_none());
    let changes: Vec<&Change> = policy_plan.actions.iter().filter_map(Action::change).collect();
    let mut details = Vec::new();
    let mut status = Status::Done;
    for (i, change) in changes.iter().enumerate() {
        let intent = Intent {
            run_id: ctx.run_id,
            policy: &policy.name,
            action: change.name(),
            resource: &fresh,
            saving: saving.as_ref().filter(|_| i + 1 == changes.len()),
            undoes: None,
        };
        let id = match ctx.journal.actions().record_intent(&intent, now) {
            Ok(id) => id,
            Err(e) => {
                // No journal, no change: the change could not be undone.
                return Outcome::new(Status::Failed, format!("not changed: {e}"));
            }
        };
        if let Some(schedule) = sleep.as_deref().filter(|_| i == 0) {
            let new = super::sleeps::NewSleep { action_id: id, policy: &policy.name, resource: &fresh, account_id: ctx.account_id, schedule, at: now };
            if let Err(e) = ctx.journal.sleeps().put(&new) {
                // Not woken without its record: settled as never done, and not changed.
                let _ = ctx.journal.actions().settle(id, ActionState::Abandoned, &format!("its sleep could not be recorded: {e}"), ctx.clock.now());
                return Outcome::new(Status::Failed, format!("not put to sleep: {e}"));
            }
        }
        let (state, detail) = match change.apply(ctx.aws, &fresh, assessment.as_ref()).await {
            Ok(ActionResult::Done(what)) => (ActionState::Done, what),
            Ok(ActionResult::AlreadyDone(why)) => {
                status = Status::Skipped;
                (ActionState::AlreadyDone, why)
            }
            Err(e) => {
                let (state, repair) = repair_after_failure(change, &fresh, now, ctx).await;
                status = if state == ActionState::Done { Status::Done } else { Status::Failed };
                (state, format!("{e}{repair}"))
            }
        };
        if let Err(e) = ctx.journal.actions().settle(id, state, &detail, ctx.clock.now()) {
            tracing::error!(error = %e, "could not settle a journaled action; the next run settles it");
        }
        details.push(detail);
        if status == Status::Failed {
            break;
        }
    }
    if status != Status::Failed && policy.grace().is_some() {
        clear_mark(policy, &fresh, ctx).await;
    }
    let mut outcome = Outcome::new(status, details.join("; "));
    // Found already done: nothing left to save.
    outcome.hold = (status == Status::Skipped).then_some(Hold::Settled);
    outcome
}

/// A change that failed may have done half its work (a resize that
/// stopped the instance): the resource as it is now says, and its module
/// puts it right. What cannot be put right yet stays open in the journal
/// (`incomplete`), and the next run tries again.
async fn repair_after_failure(change: &Change, before: &Resource, now: DateTime<Utc>, ctx: &ApplyContext<'_>) -> (ActionState, String) {
    let rt = before.resource_type();
    let current = match rt.reread(ctx.aws, &before.region, &before.id, now).await {
        Ok(current) => current,
        Err(e) => return (ActionState::Incomplete, format!("; could not re-read it to check for a half-done change ({e}): the next run looks again")),
    };
    match change.recover(ctx.aws, before, current.as_ref()).await {
        None => (ActionState::Failed, String::new()),
        Some(Repair::StillHalfDone(pending)) => (ActionState::Incomplete, format!("; {pending}")),
        Some(Repair::Repaired(done)) => {
            // Put right, the change may have taken effect after all (the
            // type changed and only the start had failed): then it is done,
            // and journaled so `restore` can undo it.
            let after = rt.reread(ctx.aws, &before.region, &before.id, now).await.ok().flatten();
            if after.is_some() && change.took_effect(before, after.as_ref()) {
                (ActionState::Done, format!("; {done}: the change took effect"))
            } else {
                (ActionState::Failed, format!("; {done}"))
            }
        }
    }
}

/// Re-reads the resource and re-evaluates the policy on what AWS says now;
/// for a reviewed plan's entry, what made it match must also be unchanged.
async fn recheck(policy: &Policy, entry: &PlanEntry, now: DateTime<Utc>, ctx: &ApplyContext<'_>) -> Result<Resource, Outcome> {
    let listed = &entry.resource;
    let rt = policy.resource_type;
    let mut fresh = match rt.reread(ctx.aws, &listed.region, &listed.id, now).await {
        Ok(Some(mut fresh)) => {
            match ctx.fresh_sizes {
                // A plan file's record could have been edited: read again.
                Some(prices) => {
                    if let Some(r) = policy.rightsizing() {
                        let options = crate::resources::sizes::SizeOptions { memory: r.memory, gpu_namespace: r.gpu_namespace.clone() };
                        let region = fresh.region.clone();
                        let sizing = crate::resources::sizes::SizeContext { aws: ctx.aws, region: &region, options: &options, prices, now };
                        if let Err(e) = rt.prepare_sizes(&sizing, vec![&mut fresh]).await {
                            return Err(Outcome::new(Status::Failed, format!("could not read its sizes again before acting: {e}")));
                        }
                    }
                    rt.price(&mut fresh, prices, now).await;
                }
                // What the inventory learnt besides the description.
                None => fresh.carry_over_from(listed),
            }
            fresh
        }
        Ok(None) => {
            clear_mark(policy, listed, ctx).await;
            return Err(Outcome::held(Hold::Settled, "no longer exists".to_string()));
        }
        Err(e) => return Err(Outcome::new(Status::Failed, format!("could not re-read before acting: {e}"))),
    };
    if let Some(value) = fresh.tags.get(&ctx.settings.protect_tag) {
        return Err(Outcome::held(Hold::Protected, format!("became protected (tag {}={value}); not changed", ctx.settings.protect_tag)));
    }
    if let Err(e) = super::inventory::fetch_metrics(ctx.aws, &fresh.region.clone(), &[policy], std::slice::from_mut(&mut fresh), now).await {
        return Err(Outcome::new(Status::Failed, format!("could not re-read metrics before acting: {e}")));
    }
    if let Some(unmet) = filters::first_unmet(&policy.filters, &fresh, now) {
        return Err(Outcome::held(Hold::Settled, format!("no longer matches when re-read ({unmet}); not changed")));
    }
    if let Some(planned) = &entry.reviewed {
        let assessment = policy.rightsizing().and_then(|r| r.assess(&fresh));
        let policy_fingerprint = super::plan_file::policy_fingerprint(policy);
        let differences = super::plan_file::Evidence::of(policy, &policy_fingerprint, &fresh, assessment.as_ref()).differences(planned);
        if !differences.is_empty() {
            return Err(Outcome::held(Hold::Review, format!("changed since the plan was reviewed: {}; not changed", differences.join("; "))));
        }
    }
    Ok(fresh)
}

async fn unmark(policy: &PolicyPlan, ctx: &ApplyContext<'_>) {
    for u in &policy.unmark {
        if let Some(arn) = &u.arn {
            if let Err(e) = remove_tag(ctx.aws, u.key.resource_type, &u.key.region, arn).await {
                tracing::warn!(policy = %policy.policy, resource = %u.key.id, error = %e, "could not remove the mark tag");
                continue;
            }
        }
        match ctx.journal.marks().remove(&policy.policy, &u.key) {
            Ok(()) => tracing::info!(policy = %policy.policy, resource = %u.key.id, why = %u.why, "unmarked"),
            Err(e) => tracing::error!(policy = %policy.policy, resource = %u.key.id, error = %e, "could not remove a mark"),
        }
    }
}

/// After the change: the mark has served its purpose.
async fn clear_mark(policy: &Policy, r: &Resource, ctx: &ApplyContext<'_>) {
    if r.tags.contains_key(mark::TAG) {
        // A deleted endpoint takes its tags with it; a stopped notebook keeps them.
        if let Err(e) = remove_tag(ctx.aws, r.resource_type(), &r.region, &r.arn).await {
            if !e.is_not_found() {
                tracing::warn!(resource = %r.id, error = %e, "could not remove the mark tag");
            }
        }
    }
    if let Err(e) = ctx.journal.marks().remove(&policy.name, &r.key()) {
        tracing::error!(resource = %r.id, error = %e, "could not remove a mark");
    }
}

async fn remove_tag(aws: &Aws, rt: ResourceType, region: &str, arn: &str) -> Result<(), crate::aws::AwsError> {
    rt.remove_tags(aws, region, arn, &[mark::TAG]).await
}

/// What crash recovery did: lines for the log, and problems for the
/// report (an error there: the exit code says someone should look).
#[derive(Debug, Default)]
pub struct Recovery {
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// Settles actions a crash left as `intent`: the resource as it is now says
/// whether the change happened (its saving enters the ledger as it is
/// settled done); a restore left open is finished. A journal row that cannot be read is
/// quarantined and reported; the other rows still recover.
pub async fn settle_unsettled(aws: &Aws, journal: &Journal, policies: &[Policy], clock: &Clock) -> Recovery {
    let (entries, problems) = match journal.actions().unsettled(clock.now()) {
        Ok(found) => found,
        Err(e) => return Recovery { notes: Vec::new(), problems: vec![format!("could not read the journal's unsettled actions: {e}")] },
    };
    let mut recovery = Recovery { notes: Vec::new(), problems };
    let notes = &mut recovery.notes;
    for entry in entries {
        if let Some(undoes) = entry.undoes {
            match super::restore::finish(aws, journal, &entry, undoes, clock).await {
                Ok(super::restore::Finished::Done(note)) => notes.push(note),
                Ok(super::restore::Finished::Refused(problem) | super::restore::Finished::Pending(problem)) => recovery.problems.push(problem),
                Err(e) => recovery.problems.push(format!("restore of {} {}: could not settle ({e})", entry.resource.resource_type(), entry.resource.id)),
            }
            continue;
        }
        let rt = entry.resource.resource_type();
        let now_state = match rt.reread(aws, &entry.resource.region, &entry.resource.id, clock.now()).await {
            Ok(state) => state,
            Err(e) => {
                recovery.problems.push(format!("{} {}: interrupted by a crash and still unsettled: cannot read it ({e})", entry.action, entry.resource.id));
                continue;
            }
        };
        let change =
            policies.iter().find(|p| p.name == entry.policy).and_then(|p| p.actions.iter().filter_map(Action::change).find(|c| c.name() == entry.action));
        let happened = match change {
            Some(c) => c.took_effect(&entry.resource, now_state.as_ref()),
            // The policy changed since; only a vanished resource proves a deletion.
            None => rt.effect_of(&entry.action) == Some(crate::resources::Effect::Removes) && now_state.is_none(),
        };
        match change.map(|c| c.recover(aws, &entry.resource, now_state.as_ref())) {
            None => {}
            Some(repair) => match repair.await {
                None => {}
                Some(Repair::Repaired(done)) => notes.push(format!("{} {}: {done}", entry.action, entry.resource.id)),
                Some(Repair::StillHalfDone(pending)) => {
                    // Still half done: the row stays open for the next run.
                    recovery.problems.push(format!("{} {}: left half done: {pending}", entry.action, entry.resource.id));
                    continue;
                }
            },
        }
        let (state, detail) = if happened {
            (ActionState::Done, "settled after an interruption: the change had happened")
        } else {
            (ActionState::Abandoned, "settled after an interruption: the change had not happened")
        };
        match journal.actions().settle(entry.id, state, detail, clock.now()) {
            Ok(()) => notes.push(format!("{} {}: {detail}", entry.action, entry.resource.id)),
            Err(e) => recovery.problems.push(format!("{} {}: could not settle ({e})", entry.action, entry.resource.id)),
        }
    }
    recovery
}
