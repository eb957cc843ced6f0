//! Guardrails: account-level spend controls costguard declares and keeps
//! true, reconciled like a controller: read what exists, diff it against the
//! declaration, change only the difference, and never touch what costguard
//! does not own.

pub mod budgets;

use serde::Serialize;

use crate::engine::apply::Status;

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
