//! Findings: each plan entry with what happened to it, flat, in plan
//! order; what the report, the email and the metrics all read.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use super::apply::{Outcome, Outcomes};
use super::plan::{Decision, EntryId, Plan, PlanEntry, PolicyPlan};
use crate::actions::Action;
use crate::outcome::{Standing, Status};
use crate::resources::sizes::Assessment;
use crate::resources::{CostKind, ResourceType};
use crate::resources::{Effort, ResourceAction};

/// The texts that are the same for every finding of a policy, an account
/// or a region (policy, account, region, action) are shared (`Arc<str>`),
/// not copied into each: an estate's sweep makes thousands of findings.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Finding {
    /// The plan entry it reports.
    #[serde(skip)]
    pub entry: EntryId,
    pub policy: Arc<str>,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub arn: String,
    /// The account it is in (an organization's sweep covers many).
    #[serde(default)]
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    pub reason: String,
    /// The actions, joined with `+`; `report` when the policy has none.
    pub action: Arc<str>,
    pub action_description: Arc<str>,
    pub status: Status,
    /// Whether its saving will happen: a change that runs or ran, one a
    /// person must decide on, or nothing by design.
    #[serde(default)]
    pub standing: Standing,
    /// Why it was skipped or failed, or what was done.
    pub detail: Option<Arc<str>>,
    /// What the resource costs a month as it runs now; `None` when unknown
    /// (never reported as $0).
    pub monthly_cost_usd: Option<f64>,
    /// What the cost is made of: instance-hours, GB-months, usage.
    pub cost_kind: Option<CostKind>,
    /// How the cost was worked out, or why it is unknown.
    pub cost_basis: Option<Arc<str>>,
    /// What acting on the finding would save a month, where known: the
    /// rightsizing saving, or the whole cost for what would be deleted or stopped.
    pub monthly_saving_usd: Option<f64>,
    /// The rightsizing judgement: figures, current and recommended types,
    /// costs. Boxed: few findings have one, and inline it would be a
    /// quarter of every finding's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Box<Assessment>>,
    /// What acting takes: the policy's changes as its type declares them;
    /// `None` for a report-only policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Arc<Remedy>>,
    /// How much data the match rests on; `None` when it rests on settings
    /// and tags read now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Box<Confidence>>,
    /// Its owner, from the first owner tag it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Box<str>>,
}

/// What acting on a finding takes, from its policy's changes.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Remedy {
    /// The changes' names, joined with `+` (`stop`, `delete`, `resize`).
    pub changes: Cow<'static, str>,
    /// The most any of the changes asks.
    pub effort: Effort,
    /// Whether whoever uses the resource sees it go down or restart.
    pub restart_needed: bool,
    /// Whether `costguard restore` undoes every change.
    pub reversible: bool,
    /// What restore brings back, change by change; `None` when some change
    /// cannot be undone.
    pub restores: Option<Cow<'static, str>>,
}

impl Remedy {
    /// Of `policy`'s changes; `None` when it only reports.
    fn of(policy: &PolicyPlan) -> Option<Remedy> {
        let infos: Vec<_> = policy.actions.iter().filter_map(Action::change).filter_map(|c| policy.resource_type.action_info(c.name())).collect();
        Self::of_infos(&infos)
    }

    /// What acting on a finding of a policy that only reports would take:
    /// for an over-provisioned verdict, the resize its type makes (or a
    /// redeploy at the smaller size, where costguard has no resize for
    /// it); else (idle, or no judgement) its type's first change.
    pub fn suggested(resource_type: crate::resources::ResourceType, verdict: Option<crate::resources::sizes::Verdict>) -> Option<Remedy> {
        let actions = resource_type.actions();
        if verdict != Some(crate::resources::sizes::Verdict::OverProvisioned) {
            return Self::of_infos(&[actions.first()?]);
        }
        match actions.iter().find(|a| a.effect == crate::resources::Effect::Modifies && a.restart) {
            Some(resize) => Self::of_infos(&[resize]),
            None => Some(Remedy { changes: Cow::Borrowed("redeploy smaller"), effort: Effort::High, restart_needed: true, reversible: false, restores: None }),
        }
    }

    fn of_infos(infos: &[&crate::resources::ActionInfo]) -> Option<Remedy> {
        let effort = infos.iter().map(|i| i.effort).max()?;
        let restores: Option<Vec<&str>> = infos.iter().map(|i| i.restores).collect();
        Some(Remedy {
            changes: match infos {
                [one] => Cow::Borrowed(one.name),
                many => Cow::Owned(many.iter().map(|i| i.name).collect::<Vec<_>>().join("+")),
            },
            effort,
            restart_needed: infos.iter().any(|i| i.restart),
            reversible: restores.is_some(),
            restores: restores.map(|r| match r.as_slice() {
                [one] => Cow::Borrowed(*one),
                many => Cow::Owned(many.join("; then ")),
            }),
        })
    }
}

/// How much data a match rests on.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Confidence {
    /// Days of metrics judged: the policy's window, or the resource's age
    /// where it is younger.
    pub days_of_data: f64,
    /// Hours with datapoints, where the judgement counted them (rightsizing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours_of_data: Option<f64>,
}

impl Confidence {
    fn of(window_days: Option<f64>, entry: &PlanEntry, now: chrono::DateTime<chrono::Utc>) -> Option<Confidence> {
        let window = window_days?;
        let hours_of_data = entry.assessment.as_ref().and_then(|a| a.parts.iter().filter_map(|p| p.hours_of_data).reduce(f64::min));
        // Younger than the window: its age, unless the metrics measured say more.
        let age = entry.resource.created_at.map(|at| (now - at).num_minutes().max(0) as f64 / 1440.0);
        let measured = hours_of_data.map_or(0.0, |h| h / 24.0);
        let days_of_data = age.map_or(window, |age| age.max(measured).min(window));
        Some(Confidence { days_of_data: (days_of_data * 10.0).round() / 10.0, hours_of_data })
    }
}

/// What findings need besides the plan and its outcomes.
pub struct FindingsContext<'a> {
    /// The account swept.
    pub account_id: &'a str,
    /// The tags that name an owner, the first set wins.
    pub owner_tags: &'a [String],
    /// A resource carrying it is left alone, even by a report-only policy.
    pub protect_tag: &'a str,
    /// The plan was saved for review (`approval: required`): nothing it
    /// would change runs before a person applies it.
    pub held_for_review: bool,
}

/// Whether a finding's saving will happen.
fn standing(decision: &Decision, outcome: &Outcome, held_for_review: bool) -> Standing {
    if let Some(hold) = outcome.hold {
        return hold.standing();
    }
    match (decision, outcome.status) {
        (Decision::Skip(hold, _), _) => hold.standing(),
        (Decision::Report | Decision::Mark { .. } | Decision::Wait { .. }, _) => Standing::NeedsDecision,
        (Decision::Act, Status::Done) => Standing::WillChange,
        (Decision::Act, Status::Planned) if !held_for_review => Standing::WillChange,
        (Decision::Act, Status::Planned | Status::Failed | Status::Skipped) => Standing::NeedsDecision,
    }
}

/// The findings of `plan`, given the outcome of each entry (by its id).
/// Each entry's reason and each outcome's detail
/// move into its finding (nothing reads them past here; on a large estate
/// they are the longest texts there are).
pub fn findings(plan: &mut Plan, mut outcomes: Outcomes, ctx: &FindingsContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::with_capacity(plan.len());
    let account_id: Arc<str> = Arc::from(ctx.account_id);
    for policy in &mut plan.policies {
        // The same for every entry of the policy: built once.
        let policy_name: Arc<str> = Arc::from(policy.policy.as_str());
        let action: Arc<str> = crate::actions::joined_names(&policy.actions).into();
        let action_description: Arc<str> = if policy.actions.is_empty() {
            Arc::from("report only")
        } else {
            policy.actions.iter().map(|a| a.describe()).collect::<Vec<_>>().join(", then ").into()
        };
        let (remedy, window_days) = (Remedy::of(policy).map(Arc::new), policy.window_days);
        for entry in &mut policy.entries {
            // An entry without an outcome was never reached (it cannot
            // happen: a dry run gives every entry one first).
            let outcome = outcomes.take(entry.id).unwrap_or(Outcome { status: Status::Skipped, detail: None, hold: None });
            let owner = ctx.owner_tags.iter().filter_map(|k| entry.resource.tags.get(k)).map(|v| v.trim()).find(|v| !v.is_empty()).map(Box::from);
            findings.push(Finding {
                entry: entry.id,
                policy: Arc::clone(&policy_name),
                resource_type: policy.resource_type,
                resource_id: entry.resource.id.clone(),
                arn: entry.resource.arn.clone(),
                account_id: Arc::clone(&account_id),
                region: Arc::clone(&entry.resource.region),
                reason: std::mem::take(&mut entry.reason),
                action: Arc::clone(&action),
                action_description: Arc::clone(&action_description),
                status: outcome.status,
                standing: match entry.resource.tags.get(ctx.protect_tag) {
                    Some(_) => Standing::LeftAlone,
                    None => standing(&entry.decision, &outcome, ctx.held_for_review),
                },
                detail: outcome.detail,
                monthly_cost_usd: entry.resource.monthly_cost_usd,
                cost_kind: entry.resource.cost_kind,
                cost_basis: entry.resource.cost_basis.clone(),
                monthly_saving_usd: super::ledger::saving(&policy.actions, &entry.resource, entry.assessment.as_deref(), plan.now),
                recommendation: entry.assessment.clone(),
                remedy: remedy.clone(),
                confidence: Confidence::of(window_days, entry, plan.now).map(Box::new),
                owner,
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::Hold;

    fn outcome(status: Status, hold: Option<Hold>) -> Outcome {
        Outcome { status, detail: None, hold }
    }

    #[test]
    fn a_saving_will_happen_only_for_a_change_that_runs() {
        let now = crate::clock::test_now();
        let planned = outcome(Status::Planned, None);
        assert_eq!(standing(&Decision::Act, &planned, false), Standing::WillChange);
        assert_eq!(standing(&Decision::Act, &outcome(Status::Done, None), false), Standing::WillChange);
        // Held for review, failed, interrupted: a person decides.
        assert_eq!(standing(&Decision::Act, &planned, true), Standing::NeedsDecision);
        assert_eq!(standing(&Decision::Act, &outcome(Status::Failed, None), false), Standing::NeedsDecision);
        assert_eq!(standing(&Decision::Act, &outcome(Status::Skipped, Some(Hold::Interrupted)), false), Standing::NeedsDecision);
        // Report only, or waiting out a grace period.
        assert_eq!(standing(&Decision::Report, &planned, false), Standing::NeedsDecision);
        assert_eq!(standing(&Decision::Wait { due: now }, &planned, false), Standing::NeedsDecision);
        assert_eq!(standing(&Decision::Mark { due: now }, &outcome(Status::Done, None), false), Standing::NeedsDecision);
        // The breaker needs a decision; protection and a type's refusal are by design.
        let skipped = |hold| (Decision::Skip(hold, "why".into()), outcome(Status::Skipped, Some(hold)));
        for (hold, want) in [(Hold::Breaker, Standing::NeedsDecision), (Hold::Protected, Standing::LeftAlone), (Hold::Refused, Standing::LeftAlone)] {
            let (decision, out) = skipped(hold);
            assert_eq!(standing(&decision, &out, false), want, "{hold:?}");
        }
        // Re-read before the change: gone or no longer matching.
        assert_eq!(standing(&Decision::Act, &outcome(Status::Skipped, Some(Hold::Settled)), false), Standing::LeftAlone);
    }
}
