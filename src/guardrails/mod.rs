//! Guardrails: account-level spend controls costguard declares and keeps
//! true, reconciled like a controller: read what exists, diff it against the
//! declaration, change only the difference, and never touch what costguard
//! does not own.

pub mod anomaly;
pub mod billing_alarms;
pub mod budgets;
pub mod spend;

use serde::Serialize;

use crate::aws::{Aws, AwsError};
use crate::config::Guardrails;
use crate::outcome::Status;

/// Reconciles every kind of guardrail; a kind that cannot be read is an
/// error and the others still run.
pub async fn reconcile(aws: &Aws, g: &Guardrails, dry_run: bool) -> (Vec<GuardrailChange>, Vec<AwsError>) {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let results = [
        budgets::reconcile(aws, g, dry_run).await,
        billing_alarms::reconcile(aws, g, dry_run).await,
        anomaly::reconcile(&aws.cost_explorer(), g, dry_run).await,
    ];
    for result in results {
        match result {
            Ok(c) => changes.extend(c),
            Err(e) => errors.push(e),
        }
    }
    (changes, errors)
}

/// One declared guardrail's reconciliation, for the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuardrailChange {
    /// `budget`, `billing-alarm`, `anomaly-monitor`, `anomaly-subscription`.
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
    /// Field by field: what differs, as `field: now -> declared`.
    pub differences: Vec<String>,
    pub status: Status,
    pub detail: Option<String>,
    /// For a budget that exists: spend counted against it this period, and
    /// AWS's forecast for the period, so the report shows how close it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend: Option<BudgetSpend>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetSpend {
    pub limit_usd: f64,
    pub actual_usd: Option<f64>,
    pub forecast_usd: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Create,
    Update,
    Unchanged,
    /// Owned by costguard (name prefix) but no longer declared: reported,
    /// never deleted by costguard.
    NotDeclared,
}

impl GuardrailChange {
    pub fn new(kind: &'static str, name: impl Into<String>, change: Change, differences: Vec<String>, status: Status, detail: Option<String>) -> Self {
        Self { kind, name: name.into(), change, differences, status, detail, spend: None }
    }

    /// Carries costguard's prefix but is no longer declared: reported, and
    /// left alone (deleting what a person may rely on is theirs to decide).
    pub fn not_declared(kind: &'static str, name: impl Into<String>) -> Self {
        let why = "carries costguard's prefix but is no longer declared; left alone (delete it by hand if it should go)";
        Self::new(kind, name, Change::NotDeclared, Vec::new(), Status::Skipped, Some(why.to_string()))
    }
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update => "update",
            Change::Unchanged => "unchanged",
            Change::NotDeclared => "not-declared",
        }
    }
}
