//! Findings: each plan entry with what happened to it, flat, in plan
//! order; what the report, the email and the metrics all read.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::apply::Outcome;
use super::plan::{Plan, PlanEntry};
use crate::outcome::Status;
use crate::resources::sizes::Assessment;
use crate::resources::{CostKind, ResourceType};

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Finding {
    pub policy: String,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub arn: String,
    /// The account it is in (an organization's sweep covers many).
    #[serde(default)]
    pub account_id: String,
    pub region: String,
    pub reason: String,
    /// The actions, joined with `+`; `report` when the policy has none.
    pub action: String,
    pub action_description: String,
    pub status: Status,
    /// Why it was skipped or failed, or what was done.
    pub detail: Option<String>,
    /// What the resource costs a month as it runs now; `None` when unknown
    /// (never reported as $0).
    pub monthly_cost_usd: Option<f64>,
    /// What the cost is made of: instance-hours, GB-months, usage.
    pub cost_kind: Option<CostKind>,
    /// How the cost was worked out, or why it is unknown.
    pub cost_basis: Option<String>,
    /// What acting on the finding would save a month, where known: the
    /// rightsizing saving, or the whole cost for what would be deleted or stopped.
    pub monthly_saving_usd: Option<f64>,
    /// The rightsizing judgement: figures, current and recommended types,
    /// costs. Boxed: few findings have one, and inline it would be a
    /// quarter of every finding's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<Box<Assessment>>,
}

/// The findings of `plan`, given the outcome of each entry (in
/// `Plan::entries` order). Each entry's reason moves into its finding (the
/// plan has no other use for it past here; on a large estate it is the
/// longest text there is).
pub fn findings(plan: &mut Plan, outcomes: &[Outcome], account_id: &str) -> Vec<Finding> {
    let mut findings = Vec::with_capacity(outcomes.len());
    let mut outcomes = outcomes.iter();
    for policy in &mut plan.policies {
        // The same for every entry of the policy: built once.
        let (action, action_description) = if policy.actions.is_empty() {
            ("report".to_string(), "report only".to_string())
        } else {
            (
                policy.actions.iter().map(|a| a.name()).collect::<Vec<_>>().join("+"),
                policy.actions.iter().map(|a| a.describe()).collect::<Vec<_>>().join(", then "),
            )
        };
        for (entry, outcome) in policy.entries.iter_mut().zip(outcomes.by_ref()) {
            findings.push(Finding {
                policy: policy.policy.clone(),
                resource_type: policy.resource_type,
                resource_id: entry.resource.id.clone(),
                arn: entry.resource.arn.clone(),
                account_id: account_id.to_string(),
                region: entry.resource.region.clone(),
                reason: std::mem::take(&mut entry.reason),
                action: action.clone(),
                action_description: action_description.clone(),
                status: outcome.status,
                detail: outcome.detail.clone(),
                monthly_cost_usd: entry.resource.monthly_cost_usd,
                cost_kind: entry.resource.cost_kind,
                cost_basis: entry.resource.cost_basis.clone(),
                monthly_saving_usd: saving(&policy.actions, entry, plan.now),
                recommendation: entry.assessment.clone().map(Box::new),
            });
        }
    }
    findings
}

/// What acting on one finding saves a month: a rightsizing assessment's
/// saving; else what the policy's actions say they save (the whole cost of
/// what is deleted or stopped, the storage a retention frees), counted for
/// findings held back too (what would be saved, were it allowed to act);
/// else what its type says the way it runs wastes (training on demand).
fn saving(actions: &[crate::actions::Action], entry: &PlanEntry, now: DateTime<Utc>) -> Option<f64> {
    if let Some(a) = &entry.assessment {
        return a.monthly_saving_usd;
    }
    actions.iter().filter_map(|a| a.monthly_saving(&entry.resource, now)).reduce(f64::max).or_else(|| entry.resource.avoidable_cost())
}
