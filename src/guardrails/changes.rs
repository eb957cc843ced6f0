//! The journal of guardrail changes (budgets, billing alarms, anomaly
//! detection): each recorded before the call and settled after, like a
//! resource's change.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::engine::actions::ActionState;
use crate::engine::db::{Db, History, JournalError, Table};

/// The guardrail changes' table; settled rows leave with `state-keep-days`.
pub static TABLE: Table = Table {
    name: "guardrail_changes",
    schema: "
-- Guardrail changes (budgets, billing alarms, anomaly detection), journaled
-- like resource changes: before the call, settled after. `differences` is
-- what was changed, field by field, from what AWS had.
CREATE TABLE IF NOT EXISTS guardrail_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    change      TEXT NOT NULL,
    differences TEXT NOT NULL,
    state       TEXT NOT NULL,
    detail      TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
",
    added: &[],
    then: "",
    history: History::Settled("started_at"),
};

/// A guardrail change about to be made, as the journal records it first.
#[derive(Clone, Copy, Debug)]
pub struct GuardrailIntent<'a> {
    pub run_id: &'a str,
    /// `budget`, `billing-alarm`, ... as stored.
    pub kind: &'a str,
    pub name: &'a str,
    /// `create`, `update`, ... as stored.
    pub change: &'a str,
    /// What differed from what AWS had, field by field.
    pub differences: &'a [String],
}

/// The guardrail changes, over the state database.
#[derive(Clone, Copy)]
pub struct Changes<'a>(pub &'a Db);

impl Changes<'_> {
    /// Records a guardrail change before it is made; returns its id for
    /// [`Changes::settle`].
    pub fn record_intent(&self, intent: &GuardrailIntent<'_>, at: DateTime<Utc>) -> Result<i64, JournalError> {
        let GuardrailIntent { run_id, kind, name, change, differences } = *intent;
        let differences = serde_json::to_string(differences).map_err(|source| self.0.corrupt(source))?;
        self.0.with(&TABLE, |c| {
            c.execute(
                "INSERT INTO guardrail_changes (run_id, kind, name, change, differences, state, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run_id, kind, name, change, differences, ActionState::Intent.as_str(), at.to_rfc3339()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn settle(&self, id: i64, state: ActionState, detail: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "UPDATE guardrail_changes SET state = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), detail, at.to_rfc3339()],
            )
            .map(drop)
        })
    }

    /// Guardrail changes a crash left as `intent`: superseded by the
    /// reconciliation about to run. Returns how many.
    pub fn supersede_intents(&self, run_id: &str, at: DateTime<Utc>) -> Result<usize, JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "UPDATE guardrail_changes SET state = ?1, detail = ?2, finished_at = ?3 WHERE state = 'intent'",
                params![ActionState::Superseded.as_str(), format!("interrupted; run {run_id} planned it again from what AWS has"), at.to_rfc3339()],
            )
        })
    }

    /// How many guardrail changes are in `state`.
    pub fn count(&self, state: ActionState) -> Result<u64, JournalError> {
        self.0
            .with(&TABLE, |c| c.query_row("SELECT COUNT(*) FROM guardrail_changes WHERE state = ?1", params![state.as_str()], |r| r.get(0)).optional())
            .map(|n: Option<i64>| n.unwrap_or(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guardrail_change_a_crash_interrupted_is_superseded() {
        let dir = tempfile::tempdir().unwrap();
        let journal = crate::engine::journal::Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        let now = crate::clock::test_now();
        let differences = ["limit: 400 -> 500".to_string()];
        let intent = GuardrailIntent { run_id: "r1", kind: "budget", name: "costguard-monthly-500", change: "update", differences: &differences };
        let done = Changes(journal.db()).record_intent(&intent, now).unwrap();
        Changes(journal.db()).settle(done, ActionState::Done, "1 call(s)", now).unwrap();
        let intent = GuardrailIntent { run_id: "r1", kind: "billing-alarm", name: "costguard-billing-1000", change: "create", differences: &[] };
        Changes(journal.db()).record_intent(&intent, now).unwrap();
        assert_eq!(Changes(journal.db()).supersede_intents("r2", now).unwrap(), 1);
        assert_eq!(Changes(journal.db()).count(ActionState::Superseded).unwrap(), 1);
        assert_eq!(Changes(journal.db()).count(ActionState::Done).unwrap(), 1, "settled rows are left as they are");
    }
}
