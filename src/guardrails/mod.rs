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
use crate::engine::apply::Status;

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
    /// `budget`.
    pub kind: &'static str,
    pub name: String,
    pub change: Change,
    /// Field by field: what differs, as `field: now -> declared`.
    pub differences: Vec<String>,
    pub status: Status,
    pub detail: Option<String>,
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
