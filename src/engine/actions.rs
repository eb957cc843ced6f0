//! The journal of changes (`actions`): every change costguard makes to a
//! resource, and every restore, recorded before AWS is called and settled
//! after.
//!
//! # Guarantees
//! - A change is recorded (`intent`, with the full description of the
//!   resource as it was) *before* AWS is called, and its outcome after. A
//!   crash in between leaves an `intent` row; the next real run looks at the
//!   resource and settles the row as `done` or `abandoned`, so nothing is
//!   lost and nothing is done twice.
//! - Settling a change `done` writes its saving to the ledger in the same
//!   transaction (`ledger::on_done`).

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension};

use super::db::{parse_type, Db, History, JournalError, Table};
use super::ledger;
use crate::resources::{Resource, ResourceType};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL,
    policy        TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource      TEXT NOT NULL,
    state         TEXT NOT NULL,
    detail        TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    -- What the change takes off the monthly bill: written to the savings
    -- ledger in the transaction that settles the row as done.
    saving_usd    REAL,
    saving_action TEXT,
    account_id    TEXT,
    -- A restore: the id of the change it undoes.
    undoes        INTEGER
);
CREATE INDEX IF NOT EXISTS actions_by_resource ON actions (resource_type, resource_id, action, state);
CREATE INDEX IF NOT EXISTS actions_by_state ON actions (state);
";

/// The changes' table; a settled row leaves with `state-keep-days`, an
/// open one (`intent`, `incomplete`) never.
pub static TABLE: Table = Table {
    name: "actions",
    schema: SCHEMA,
    added: &[("saving_usd", "REAL"), ("saving_action", "TEXT"), ("account_id", "TEXT"), ("undoes", "INTEGER")],
    then: "",
    history: History::Settled("started_at"),
};

/// Where an action stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionState {
    /// Recorded, AWS not yet known to have answered.
    Intent,
    Done,
    /// AWS said there was nothing to do.
    AlreadyDone,
    Failed,
    /// Found as `intent` after a crash, and the resource showed it never happened.
    Abandoned,
    /// Failed part way and could not be put right yet (an instance left
    /// stopped): the next run looks again, as after a crash.
    Incomplete,
    /// A guardrail change a crash interrupted: the next reconciliation
    /// plans it again from what AWS has, so nothing is left to settle.
    Superseded,
    /// Found as `intent`, but the row cannot be read (its reason in `detail`):
    /// set apart so the other rows still recover, and reported.
    Quarantined,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Intent => "intent",
            ActionState::Done => "done",
            ActionState::AlreadyDone => "already-done",
            ActionState::Failed => "failed",
            ActionState::Abandoned => "abandoned",
            ActionState::Incomplete => "incomplete",
            ActionState::Superseded => "superseded",
            ActionState::Quarantined => "quarantined",
        }
    }
}

/// An action about to be made, as the journal records it first.
#[derive(Clone, Copy, Debug)]
pub struct Intent<'a> {
    pub run_id: &'a str,
    /// Empty for a restore (no policy asked for it).
    pub policy: &'a str,
    pub action: &'a str,
    /// The resource as it was right before: what a restore brings back.
    pub resource: &'a Resource,
    /// What the change saves once done (the ledger's row to be).
    pub saving: Option<&'a PendingSaving>,
    /// A restore: the journaled change it undoes.
    pub undoes: Option<i64>,
}

/// A change's saving, carried by its journal row until the row is done.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingSaving {
    pub account_id: String,
    /// The policy's actions as the ledger names them (`delete`, `stop+resize`).
    pub action: String,
    pub monthly_usd: f64,
}

/// One journaled action.
#[derive(Clone, Debug)]
pub struct JournalEntry {
    pub id: i64,
    pub run_id: String,
    pub policy: String,
    pub action: String,
    pub resource: Resource,
    pub state: String,
    pub started_at: String,
    /// A restore: the change it undoes.
    pub undoes: Option<i64>,
}

/// The changes and restores, over the state database.
#[derive(Clone, Copy)]
pub struct Actions<'a>(pub &'a Db);

impl Actions<'_> {
    /// Records an action before it runs; returns its id for [`Actions::settle`].
    pub fn record_intent(&self, intent: &Intent<'_>, at: DateTime<Utc>) -> Result<i64, JournalError> {
        let resource = intent.resource;
        let json = serde_json::to_string(resource).map_err(|source| self.0.corrupt(source))?;
        let saving = intent.saving.as_ref();
        self.0.with(&TABLE, |c| {
            c.execute(
                "INSERT INTO actions (run_id, policy, action, resource_type, region, resource_id, resource, state, started_at,
                                      saving_usd, saving_action, account_id, undoes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    intent.run_id,
                    intent.policy,
                    intent.action,
                    resource.resource_type().name(),
                    resource.region,
                    resource.id,
                    json,
                    ActionState::Intent.as_str(),
                    at.to_rfc3339(),
                    saving.map(|s| s.monthly_usd),
                    saving.map(|s| s.action.as_str()),
                    saving.map(|s| s.account_id.as_str()),
                    intent.undoes
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Settles an action, and in the same transaction what follows from it
    /// being done: its saving enters the ledger (once, however often the
    /// row is settled), or, for a restore, the savings of what it brought
    /// back stop counting. A crash therefore loses no saving and counts
    /// none twice: either the row and its ledger change are written, or
    /// neither is and the next run settles the row again.
    pub fn settle(&self, id: i64, state: ActionState, detail: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.0.with(&TABLE, |c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("UPDATE actions SET state = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1", params![id, state.as_str(), detail, at.to_rfc3339()])?;
            if state == ActionState::Done {
                ledger::on_done(&tx, id, at)?;
            }
            tx.commit()
        })
    }

    /// Actions recorded but never settled (a crash happened in between), or
    /// left `incomplete` by a failure that could not be put right yet.
    /// A row that cannot be read is quarantined (state `quarantined`, the
    /// reason in `detail`) instead of stopping the recovery of the others;
    /// what was set apart comes back as messages for the report. Rows of a
    /// resource type this version does not know (a newer version wrote
    /// them) are left for that version.
    pub fn unsettled(&self, at: DateTime<Utc>) -> Result<(Vec<JournalEntry>, Vec<String>), JournalError> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (id, row) in self.rows("WHERE state IN ('intent', 'incomplete') ORDER BY id", params![])? {
            match row {
                Ok(entry) => entries.push(entry),
                Err(RowProblem::NewerType(name)) => problems.push(format!("journal row {id}: resource type {name} is unknown to this version; left unsettled")),
                Err(RowProblem::Unreadable(why)) => {
                    self.settle(id, ActionState::Quarantined, &format!("unreadable: {why}"), at)?;
                    problems.push(format!(
                        "journal row {id} cannot be read ({why}); quarantined: check that change by hand (`SELECT * FROM actions WHERE id = {id}` in {})",
                        self.0.path().display()
                    ));
                }
            }
        }
        Ok((entries, problems))
    }

    /// The latest completed `action` on a resource, e.g. the deletion to undo.
    /// The latest done action among `actions` on a resource.
    pub fn last_done(&self, resource_type: ResourceType, resource_id: &str, actions: &[&str]) -> Result<Option<JournalEntry>, JournalError> {
        let names = serde_json::to_string(actions).unwrap_or_else(|_| "[]".to_string());
        let found = self.entries(
            "WHERE resource_type = ?1 AND resource_id = ?2 AND action IN (SELECT value FROM json_each(?3)) AND state = 'done' ORDER BY id DESC LIMIT 1",
            params![resource_type.name(), resource_id, names],
        )?;
        Ok(found.into_iter().next())
    }

    /// One journaled action, by its id.
    pub fn entry(&self, id: i64) -> Result<Option<JournalEntry>, JournalError> {
        Ok(self.entries("WHERE id = ?1", params![id])?.into_iter().next())
    }

    /// Whether a restore of the change `undoes` is recorded done.
    pub fn restored(&self, undoes: i64) -> Result<bool, JournalError> {
        self.0.with(&TABLE, |c| c.query_row("SELECT EXISTS (SELECT 1 FROM actions WHERE undoes = ?1 AND state = 'done')", params![undoes], |r| r.get(0)))
    }

    /// Restores of the change `undoes` that a crash or a failure part way
    /// left open: a new restore of it takes their place. Returns how many.
    pub fn supersede_restores(&self, undoes: i64, run_id: &str, at: DateTime<Utc>) -> Result<usize, JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "UPDATE actions SET state = ?2, detail = ?3, finished_at = ?4 WHERE undoes = ?1 AND state IN ('intent', 'incomplete')",
                params![undoes, ActionState::Superseded.as_str(), format!("restored again by run {run_id}"), at.to_rfc3339()],
            )
        })
    }

    fn entries(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<JournalEntry>, JournalError> {
        self.rows(clause, args)?.into_iter().map(|(id, row)| row.map_err(|p| self.0.row_problem(id, p.to_string()))).collect()
    }

    /// Rows, each read on its own: one bad row is that row's problem.
    fn rows(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Row>, JournalError> {
        let sql = format!("SELECT id, run_id, policy, action, resource_type, resource, state, started_at, undoes FROM actions {clause}");
        // Values are read as whatever SQLite holds: a hand-edited row of the
        // wrong type is that row's problem, not the query's.
        let rows: Vec<(i64, Vec<Value>)> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, |r| Ok((r.get(0)?, (1..9).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<Value>>>()?)))?;
            rows.collect()
        })?;
        Ok(rows.into_iter().map(|(id, values)| (id, entry(id, values))).collect())
    }

    /// The resources `policy` changed (or began to) since `since`, as
    /// (type, region, id): what an `on-create` policy's breaker counts.
    pub fn changed_by_since(&self, policy: &str, since: DateTime<Utc>) -> Result<Vec<(String, String, String)>, JournalError> {
        self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT resource_type, region, resource_id FROM actions WHERE policy = ?1 AND started_at >= ?2 AND state IN ('intent', 'done', 'incomplete')",
            )?;
            let rows = stmt.query_map(params![policy, since.to_rfc3339()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// How many actions are in each state (for tests and the report).
    pub fn count(&self, state: ActionState) -> Result<u64, JournalError> {
        self.0
            .with(&TABLE, |c| c.query_row("SELECT COUNT(*) FROM actions WHERE state = ?1", params![state.as_str()], |r| r.get(0)).optional())
            .map(|n: Option<i64>| n.unwrap_or(0).max(0) as u64)
    }
}

/// One `actions` row from its columns after the id (run_id, policy,
/// action, resource_type, resource, state, started_at, undoes).
fn entry(id: i64, values: Vec<Value>) -> Result<JournalEntry, RowProblem> {
    let mut values = values.into_iter();
    let mut text = |what: &str| match values.next() {
        Some(Value::Text(s)) => Ok(s),
        Some(Value::Null) | None => Err(RowProblem::Unreadable(format!("no {what}"))),
        Some(_) => Err(RowProblem::Unreadable(format!("{what} is not text"))),
    };
    let (run_id, policy, action, resource_type, resource, state, started_at) =
        (text("run id")?, text("policy").unwrap_or_default(), text("action")?, text("resource type")?, text("resource")?, text("state")?, text("start time")?);
    if parse_type(&resource_type).is_none() {
        return Err(RowProblem::NewerType(resource_type));
    }
    let undoes = match values.next() {
        Some(Value::Integer(n)) => Some(n),
        Some(Value::Null) | None => None,
        Some(_) => return Err(RowProblem::Unreadable("undoes is not a row id".to_string())),
    };
    let resource = serde_json::from_str(&resource).map_err(|e| RowProblem::Unreadable(format!("resource: {e}")))?;
    Ok(JournalEntry { id, run_id, policy, action, resource, state, started_at, undoes })
}

/// A row's id, and the entry or why it cannot be used.
type Row = (i64, Result<JournalEntry, RowProblem>);

/// Why one journal row cannot be used.
#[derive(Debug)]
enum RowProblem {
    Unreadable(String),
    NewerType(String),
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowProblem::Unreadable(why) => write!(f, "cannot be read: {why}"),
            RowProblem::NewerType(name) => write!(f, "resource type {name} is unknown to this version"),
        }
    }
}
