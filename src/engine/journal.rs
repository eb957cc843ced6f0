//! The journal: an embedded SQLite database that remembers every run, every
//! mark, and every action, so changes can be audited and undone.
//!
//! # Guarantees
//! - An action is recorded (`intent`, with the full description of the
//!   resource as it was) *before* AWS is called, and its outcome after. A
//!   crash in between leaves an `intent` row; the next real run looks at the
//!   resource and settles the row as `done` or `abandoned`, so nothing is
//!   lost and nothing is done twice.
//! - Writes are transactions on the state database (`db`); whole sweeps
//!   are kept apart by the state folder's lock (`state_lock`).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) use super::db::parse_time;
pub use super::db::JournalError;
use super::db::{add_missing_columns, parse_type, Db};
use super::ledger::{self, LedgerRow};
use crate::resources::{Resource, ResourceType};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    dry_run     INTEGER NOT NULL,
    summary     TEXT
);
CREATE TABLE IF NOT EXISTS marks (
    policy        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    action        TEXT NOT NULL,
    marked_at     TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    PRIMARY KEY (policy, resource_type, region, resource_id)
);
-- Answers of billed APIs (Cost Explorer), kept for a while to save money.
CREATE TABLE IF NOT EXISTS api_cache (
    key        TEXT PRIMARY KEY,
    fetched_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
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
-- What each person was last told about each finding (the email quiet period).
CREATE TABLE IF NOT EXISTS notices (
    recipient     TEXT NOT NULL,
    policy        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    state         TEXT NOT NULL,
    sent_at       TEXT NOT NULL,
    PRIMARY KEY (recipient, policy, resource_type, region, resource_id)
);
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
-- Email that could not be delivered yet: retried by the next sweeps.
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT NOT NULL,
    sender      TEXT NOT NULL,
    recipients  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    raw         BLOB NOT NULL,
    attempts    INTEGER NOT NULL,
    last_error  TEXT
);
-- AI spend alerts (guardrails::velocity) standing now: what was last told
-- and when, so an alert is repeated only when worse or after a while, and
-- going back under is told once.
CREATE TABLE IF NOT EXISTS ai_spend_alerts (
    key      TEXT PRIMARY KEY,
    value    REAL NOT NULL,
    told_at  TEXT NOT NULL
);
";

/// `PRAGMA auto_vacuum`'s answer for incremental.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

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

/// A resource marked for a destructive action after a grace period.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub policy: String,
    pub resource_type: ResourceType,
    pub region: String,
    pub resource_id: String,
    /// The action that will run, e.g. `delete`.
    pub action: String,
    pub marked_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
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

/// The journal: the runs, the actions and marks, and the owner of the
/// state database's other stores (the savings ledger's, notify's, the AI
/// spend alerts').
pub struct Journal {
    db: Db,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Ok(Self { db: Db::open(path, &[prepare, ledger::prepare])? })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// The database the other stores share.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Runs `f` on the database; other state tables (`notify::state`) use it.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        self.db.with(f)
    }

    pub fn begin_run(&self, run_id: &str, started_at: DateTime<Utc>, dry_run: bool) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute("INSERT INTO runs (run_id, started_at, dry_run) VALUES (?1, ?2, ?3)", params![run_id, started_at.to_rfc3339(), dry_run]).map(drop)
        })
    }

    pub fn finish_run(&self, run_id: &str, finished_at: DateTime<Utc>, summary: &str) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute("UPDATE runs SET finished_at = ?2, summary = ?3 WHERE run_id = ?1", params![run_id, finished_at.to_rfc3339(), summary]).map(drop)
        })
    }

    /// A cached API answer no older than `max_age`.
    pub fn cached(&self, key: &str, now: DateTime<Utc>, max_age: chrono::Duration) -> Result<Option<(DateTime<Utc>, String)>, JournalError> {
        let row: Option<(String, String)> = self.with(|c| {
            let mut stmt = c.prepare("SELECT fetched_at, body FROM api_cache WHERE key = ?1")?;
            let mut rows = stmt.query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.next().transpose()
        })?;
        Ok(row.and_then(|(at, body)| {
            let at = DateTime::parse_from_rfc3339(&at).ok()?.with_timezone(&Utc);
            (now - at < max_age && at <= now).then_some((at, body))
        }))
    }

    pub fn put_cached(&self, key: &str, now: DateTime<Utc>, body: &str) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO api_cache (key, fetched_at, body) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET fetched_at = ?2, body = ?3",
                params![key, now.to_rfc3339(), body],
            )
        })?;
        Ok(())
    }

    pub fn marks(&self) -> Result<Vec<Mark>, JournalError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT policy, resource_type, region, resource_id, action, marked_at, due_at FROM marks")?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(6)?,
                ))
            })?;
            let mut marks = Vec::new();
            for row in rows {
                let (policy, rt, region, resource_id, action, marked_at, due_at) = row?;
                // Rows this version cannot read (a type from a newer version) are skipped.
                let (Some(resource_type), Some(marked_at), Some(due_at)) = (parse_type(&rt), parse_time(&marked_at), parse_time(&due_at)) else {
                    continue;
                };
                marks.push(Mark { policy, resource_type, region, resource_id, action, marked_at, due_at });
            }
            Ok(marks)
        })
    }

    pub fn put_mark(&self, mark: &Mark, run_id: &str) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO marks (policy, resource_type, region, resource_id, action, marked_at, due_at, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    mark.policy,
                    mark.resource_type.name(),
                    mark.region,
                    mark.resource_id,
                    mark.action,
                    mark.marked_at.to_rfc3339(),
                    mark.due_at.to_rfc3339(),
                    run_id
                ],
            )
            .map(drop)
        })
    }

    pub fn remove_mark(&self, policy: &str, resource_type: ResourceType, region: &str, resource_id: &str) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM marks WHERE policy = ?1 AND resource_type = ?2 AND region = ?3 AND resource_id = ?4",
                params![policy, resource_type.name(), region, resource_id],
            )
            .map(drop)
        })
    }

    /// Records an action before it runs; returns its id for [`Journal::settle`].
    pub fn record_intent(&self, intent: &Intent<'_>, at: DateTime<Utc>) -> Result<i64, JournalError> {
        let resource = intent.resource;
        let json = serde_json::to_string(resource).map_err(|source| self.db.corrupt(source))?;
        let saving = intent.saving.as_ref();
        self.with(|c| {
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
        self.with(|c| {
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
                        self.path().display()
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
        self.with(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM actions WHERE undoes = ?1 AND state = 'done')", params![undoes], |r| r.get(0)))
    }

    /// Restores of the change `undoes` that a crash or a failure part way
    /// left open: a new restore of it takes their place. Returns how many.
    pub fn supersede_restores(&self, undoes: i64, run_id: &str, at: DateTime<Utc>) -> Result<usize, JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE actions SET state = ?2, detail = ?3, finished_at = ?4 WHERE undoes = ?1 AND state IN ('intent', 'incomplete')",
                params![undoes, ActionState::Superseded.as_str(), format!("restored again by run {run_id}"), at.to_rfc3339()],
            )
        })
    }

    fn entries(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<JournalEntry>, JournalError> {
        self.rows(clause, args)?.into_iter().map(|(id, row)| row.map_err(|p| self.db.row_problem(id, p.to_string()))).collect()
    }

    /// Rows, each read on its own: one bad row is that row's problem.
    fn rows(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Row>, JournalError> {
        let sql = format!("SELECT id, run_id, policy, action, resource_type, resource, state, started_at, undoes FROM actions {clause}");
        // Values are read as whatever SQLite holds: a hand-edited row of the
        // wrong type is that row's problem, not the query's.
        let rows: Vec<(i64, Vec<Value>)> = self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, |r| Ok((r.get(0)?, (1..9).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<Value>>>()?)))?;
            rows.collect()
        })?;
        Ok(rows.into_iter().map(|(id, values)| (id, entry(id, values))).collect())
    }

    /// Records a guardrail change before it is made; returns its id for
    /// [`Journal::settle_guardrail`].
    pub fn record_guardrail_intent(&self, intent: &GuardrailIntent<'_>, at: DateTime<Utc>) -> Result<i64, JournalError> {
        let GuardrailIntent { run_id, kind, name, change, differences } = *intent;
        let differences = serde_json::to_string(differences).map_err(|source| self.db.corrupt(source))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO guardrail_changes (run_id, kind, name, change, differences, state, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run_id, kind, name, change, differences, ActionState::Intent.as_str(), at.to_rfc3339()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn settle_guardrail(&self, id: i64, state: ActionState, detail: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE guardrail_changes SET state = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), detail, at.to_rfc3339()],
            )
            .map(drop)
        })
    }

    /// Guardrail changes a crash left as `intent`: superseded by the
    /// reconciliation about to run. Returns how many.
    pub fn supersede_guardrail_intents(&self, run_id: &str, at: DateTime<Utc>) -> Result<usize, JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE guardrail_changes SET state = ?1, detail = ?2, finished_at = ?3 WHERE state = 'intent'",
                params![ActionState::Superseded.as_str(), format!("interrupted; run {run_id} planned it again from what AWS has"), at.to_rfc3339()],
            )
        })
    }

    /// How many guardrail changes are in `state`.
    pub fn count_guardrail_changes(&self, state: ActionState) -> Result<u64, JournalError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM guardrail_changes WHERE state = ?1", params![state.as_str()], |r| r.get(0)).optional())
            .map(|n: Option<i64>| n.unwrap_or(0).max(0) as u64)
    }

    /// The savings ledger's rows done at or after `since` (all when `None`).
    pub fn savings(&self, since: Option<DateTime<Utc>>) -> Result<Vec<LedgerRow>, JournalError> {
        ledger::Savings(&self.db).rows(since)
    }

    /// Removes history older than `before`: runs, settled actions and
    /// guardrail changes, notices, AI spend alerts, cached answers and
    /// email that never went out. What is still open (an `intent`, an
    /// `incomplete` change, a mark) and the savings ledger stay. The
    /// freed pages go back to the file system (incremental auto-vacuum;
    /// an older journal is converted once, with `VACUUM`). Returns how many
    /// rows went.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
        let before = before.to_rfc3339();
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let mut rows = 0;
            for sql in [
                "DELETE FROM runs WHERE started_at < ?1",
                "DELETE FROM actions WHERE started_at < ?1 AND state NOT IN ('intent', 'incomplete')",
                "DELETE FROM guardrail_changes WHERE started_at < ?1 AND state <> 'intent'",
                "DELETE FROM notices WHERE sent_at < ?1",
                "DELETE FROM ai_spend_alerts WHERE told_at < ?1",
                "DELETE FROM api_cache WHERE fetched_at < ?1",
                "DELETE FROM outbox WHERE created_at < ?1",
            ] {
                rows += tx.execute(sql, params![before])?;
            }
            tx.commit()?;
            if rows > 0 {
                let mode: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
                if mode == AUTO_VACUUM_INCREMENTAL {
                    c.execute_batch("PRAGMA incremental_vacuum;")?;
                } else {
                    c.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
                }
            }
            Ok(rows)
        })
    }

    /// How many actions are in each state (for tests and the report).
    pub fn count(&self, state: ActionState) -> Result<u64, JournalError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM actions WHERE state = ?1", params![state.as_str()], |r| r.get(0)).optional())
            .map(|n: Option<i64>| n.unwrap_or(0).max(0) as u64)
    }
}

/// The journal's tables, made or brought up to date.
fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    add_missing_columns(conn, "actions", &[("saving_usd", "REAL"), ("saving_action", "TEXT"), ("account_id", "TEXT"), ("undoes", "INTEGER")])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ledger::SavingState;
    use crate::resources::sagemaker_endpoint::fixture;

    #[test]
    fn an_action_is_recorded_before_it_runs_and_settled_after() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("state/journal.sqlite")).unwrap();
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let now = crate::clock::test_now();
        let intent = Intent { run_id: "run", policy: "p", action: "delete", resource: &endpoint, saving: None, undoes: None };
        let id = journal.record_intent(&intent, now).unwrap();
        assert_eq!(journal.unsettled(now).unwrap().0.len(), 1, "a crash here leaves the intent");
        journal.settle(id, ActionState::Done, "deleted", now).unwrap();
        assert!(journal.unsettled(now).unwrap().0.is_empty());
        let done = journal.last_done(ResourceType::SagemakerEndpoint, "e1", &["delete"]).unwrap().unwrap();
        assert_eq!(done.resource.arn, endpoint.arn, "the resource comes back as it was");
    }

    #[test]
    fn a_guardrail_change_a_crash_interrupted_is_superseded() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        let now = crate::clock::test_now();
        let differences = ["limit: 400 -> 500".to_string()];
        let intent = GuardrailIntent { run_id: "r1", kind: "budget", name: "costguard-monthly-500", change: "update", differences: &differences };
        let done = journal.record_guardrail_intent(&intent, now).unwrap();
        journal.settle_guardrail(done, ActionState::Done, "1 call(s)", now).unwrap();
        let intent = GuardrailIntent { run_id: "r1", kind: "billing-alarm", name: "costguard-billing-1000", change: "create", differences: &[] };
        journal.record_guardrail_intent(&intent, now).unwrap();
        assert_eq!(journal.supersede_guardrail_intents("r2", now).unwrap(), 1);
        assert_eq!(journal.count_guardrail_changes(ActionState::Superseded).unwrap(), 1);
        assert_eq!(journal.count_guardrail_changes(ActionState::Done).unwrap(), 1, "settled rows are left as they are");
    }

    #[test]
    fn marks_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap().with_timezone(&Utc);
        let mark = Mark {
            policy: "idle".into(),
            resource_type: ResourceType::SagemakerEndpoint,
            region: "us-east-1".into(),
            resource_id: "e1".into(),
            action: "delete".into(),
            marked_at: now,
            due_at: now + chrono::Duration::days(7),
        };
        Journal::open(&path).unwrap().put_mark(&mark, "run").unwrap();
        let reopened = Journal::open(&path).unwrap();
        assert_eq!(reopened.marks().unwrap(), vec![mark.clone()]);
        reopened.remove_mark("idle", ResourceType::SagemakerEndpoint, "us-east-1", "e1").unwrap();
        assert!(reopened.marks().unwrap().is_empty());
    }
    fn saving(usd: f64) -> PendingSaving {
        PendingSaving { account_id: "123456789012".into(), action: "delete".into(), monthly_usd: usd }
    }

    #[test]
    fn a_saving_enters_the_ledger_with_its_change_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        let now = crate::clock::test_now();
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let pending = saving(83.95);
        let intent = Intent { run_id: "run", policy: "idle", action: "delete", resource: &endpoint, saving: Some(&pending), undoes: None };
        let id = journal.record_intent(&intent, now).unwrap();
        assert!(journal.savings(None).unwrap().is_empty(), "not before the change is done");
        journal.settle(id, ActionState::Failed, "throttled", now).unwrap();
        assert!(journal.savings(None).unwrap().is_empty(), "a failed change saves nothing");
        journal.settle(id, ActionState::Done, "deleted", now).unwrap();
        journal.settle(id, ActionState::Done, "settled again", now).unwrap();
        let rows = journal.savings(None).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].saving.monthly_usd, rows[0].saving.account_id.as_str(), rows[0].run_id.as_str()), (83.95, "123456789012", "run"));
        assert_eq!(rows[0].state, SavingState::Saved);

        // A restore of it, settled done, takes the saving back in the same write.
        let restore = Intent { run_id: "restore-1", policy: "", action: "restore", resource: &endpoint, saving: None, undoes: Some(id) };
        let rid = journal.record_intent(&restore, now).unwrap();
        assert_eq!(journal.unsettled(now).unwrap().0[0].undoes, Some(id));
        journal.settle(rid, ActionState::Incomplete, "created the model, not the endpoint", now).unwrap();
        assert_eq!(journal.savings(None).unwrap()[0].state, SavingState::Saved, "a restore left part way does not take it back");
        assert_eq!(journal.supersede_restores(id, "restore-2", now).unwrap(), 1);
        assert!(journal.unsettled(now).unwrap().0.is_empty());
        let rid = journal.record_intent(&Intent { run_id: "restore-2", ..restore }, now).unwrap();
        assert!(!journal.restored(id).unwrap());
        journal.settle(rid, ActionState::Done, "re-created", now).unwrap();
        assert_eq!(journal.savings(None).unwrap()[0].state, SavingState::Restored);
        assert!(journal.restored(id).unwrap(), "a later restore of it that finds it back does not count it twice");
    }

    #[test]
    fn pruning_removes_old_history_but_keeps_what_is_open_and_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let journal = Journal::open(&path).unwrap();
        let now = crate::clock::test_now();
        let old = now - chrono::Duration::days(500);
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let pending = saving(10.0);
        let intent = Intent { run_id: "old", policy: "idle", action: "delete", resource: &endpoint, saving: Some(&pending), undoes: None };
        journal.begin_run("old", old, false).unwrap();
        let done = journal.record_intent(&intent, old).unwrap();
        journal.settle(done, ActionState::Done, "deleted", old).unwrap();
        let open = journal.record_intent(&Intent { saving: None, ..intent }, old).unwrap();
        journal.begin_run("new", now, false).unwrap();
        journal
            .record_intent(&Intent { run_id: "new", saving: None, ..intent }, now)
            .map(|id| journal.settle(id, ActionState::Done, "x", now))
            .unwrap()
            .unwrap();
        journal.with(|c| c.execute("INSERT INTO ai_spend_alerts (key, value, told_at) VALUES ('k', 1.0, ?1)", params![old.to_rfc3339()])).unwrap();
        journal.put_cached("ce", old, "{}").unwrap();

        let pruned = journal.prune(now - chrono::Duration::days(400)).unwrap();
        assert_eq!(pruned, 4, "the old run, its done action, the alert and the cached answer");
        let runs: i64 = journal.with(|c| c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))).unwrap();
        assert_eq!(runs, 1);
        assert_eq!(journal.unsettled(now).unwrap().0.iter().map(|e| e.id).collect::<Vec<_>>(), [open], "an open change is never pruned");
        assert_eq!(journal.savings(None).unwrap().len(), 1, "the ledger keeps every saving");
        assert_eq!(journal.prune(now - chrono::Duration::days(400)).unwrap(), 0, "nothing more to prune");
        let mode: i64 = journal.with(|c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))).unwrap();
        assert_eq!(mode, AUTO_VACUUM_INCREMENTAL);
    }

    #[test]
    fn a_journal_written_before_savings_rode_on_actions_gains_the_columns_and_is_pruned_with_a_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        {
            // The tables as costguard wrote them before (no auto-vacuum).
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, policy TEXT NOT NULL, action TEXT NOT NULL,
                   resource_type TEXT NOT NULL, region TEXT NOT NULL, resource_id TEXT NOT NULL, resource TEXT NOT NULL, state TEXT NOT NULL,
                   detail TEXT, started_at TEXT NOT NULL, finished_at TEXT);
                 CREATE TABLE savings (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, policy TEXT NOT NULL, resource_type TEXT NOT NULL,
                   region TEXT NOT NULL, resource_id TEXT NOT NULL, action TEXT NOT NULL, monthly_usd REAL NOT NULL, done_at TEXT NOT NULL,
                   state TEXT NOT NULL, changed_at TEXT);
                 CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, dry_run INTEGER NOT NULL, summary TEXT);
                 INSERT INTO runs VALUES ('r', '2020-01-01T00:00:00+00:00', NULL, 0, NULL);",
            )
            .unwrap();
        }
        let journal = Journal::open(&path).unwrap();
        let now = crate::clock::test_now();
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let pending = saving(5.0);
        let id = journal
            .record_intent(&Intent { run_id: "r2", policy: "p", action: "delete", resource: &endpoint, saving: Some(&pending), undoes: None }, now)
            .unwrap();
        journal.settle(id, ActionState::Done, "deleted", now).unwrap();
        assert_eq!(journal.savings(None).unwrap().len(), 1);
        assert_eq!(journal.prune(now - chrono::Duration::days(400)).unwrap(), 1);
        let mode: i64 = journal.with(|c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))).unwrap();
        assert_eq!(mode, AUTO_VACUUM_INCREMENTAL, "converted by its first prune");
    }
}
