//! Findings: each plan entry with what happened to it, flat, in plan
//! order; what the report, the email and the metrics all read.

use std::sync::Arc;

use serde::Serialize;

use super::apply::{Outcome, Outcomes};
use super::plan::{EntryId, Plan};
use crate::outcome::Status;
use crate::resources::sizes::Assessment;
use crate::resources::{CostKind, ResourceType};

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
}

/// The findings of `plan`, given the outcome of each entry (by its id).
/// Each entry's reason and each outcome's detail
/// move into its finding (nothing reads them past here; on a large estate
/// they are the longest texts there are).
pub fn findings(plan: &mut Plan, mut outcomes: Outcomes, account_id: &str) -> Vec<Finding> {
    let mut findings = Vec::with_capacity(plan.len());
    let account_id: Arc<str> = Arc::from(account_id);
    for policy in &mut plan.policies {
        // The same for every entry of the policy: built once.
        let policy_name: Arc<str> = Arc::from(policy.policy.as_str());
        let action: Arc<str> = crate::actions::joined_names(&policy.actions).into();
        let action_description: Arc<str> = if policy.actions.is_empty() {
            Arc::from("report only")
        } else {
            policy.actions.iter().map(|a| a.describe()).collect::<Vec<_>>().join(", then ").into()
        };
        for entry in &mut policy.entries {
            // An entry without an outcome was never reached (it cannot
            // happen: a dry run gives every entry one first).
            let outcome = outcomes.take(entry.id).unwrap_or(Outcome { status: Status::Skipped, detail: None });
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
                detail: outcome.detail,
                monthly_cost_usd: entry.resource.monthly_cost_usd,
                cost_kind: entry.resource.cost_kind,
                cost_basis: entry.resource.cost_basis.clone(),
                monthly_saving_usd: super::ledger::saving(&policy.actions, &entry.resource, entry.assessment.as_deref(), plan.now),
                recommendation: entry.assessment.clone(),
            });
        }
    }
    findings
}
