//! The journal: an embedded SQLite database that remembers every run, every
//! mark, and every action, so changes can be audited and undone.
//!
//! # Guarantees
//! - An action is recorded (`intent`, with the full description of the
//!   resource as it was) *before* AWS is called, and its outcome after. A
//!   crash in between leaves an `intent` row; the next real run looks at the
//!   resource and settles the row as `done` or `abandoned`, so nothing is
//!   lost and nothing is done twice.
//! - Writes are transactions with SQLite's rollback journal, which works
//!   wherever file locks do, EFS included (WAL needs memory shared by every
//!   process on one host, which a network file system cannot give). A
//!   second connection waits (busy timeout) instead of failing; whole
//!   sweeps are kept apart by the state folder's lock (`state_lock`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use super::ledger::{LedgerRow, Saving, SavingState};
use crate::resources::{Resource, ResourceType};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("journal {path}: cannot create its folder: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("journal {path}: a recorded resource is unreadable: {source}")]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error("journal {path}: row {id} {problem}")]
    Row { path: PathBuf, id: i64, problem: String },
}

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
    finished_at   TEXT
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
-- The savings ledger (engine::ledger): each change done, with what it took
-- off the monthly bill; `state` says whether it still counts.
CREATE TABLE IF NOT EXISTS savings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL,
    policy        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    action        TEXT NOT NULL,
    monthly_usd   REAL NOT NULL,
    done_at       TEXT NOT NULL,
    state         TEXT NOT NULL,
    changed_at    TEXT,
    account_id    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS savings_by_resource ON savings (resource_type, region, resource_id, state);
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
}

pub struct Journal {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let folder = |source| JournalError::Folder { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            crate::files::create_private_dir(dir).map_err(folder)?;
        }
        // Created 0600 before SQLite opens it (its rollback journal takes
        // the database's mode), never through a symlink.
        crate::files::open_private(path).map_err(folder)?;
        let err = |source| JournalError::Sqlite { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "DELETE").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        add_missing_columns(&conn).map_err(err)?;
        Ok(Self { path: path.to_path_buf(), conn: Mutex::new(conn) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the database; other state tables (`notify::state`) use it.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn).map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
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
    pub fn record_intent(&self, run_id: &str, policy: &str, action: &str, resource: &Resource, at: DateTime<Utc>) -> Result<i64, JournalError> {
        let json = serde_json::to_string(resource).map_err(|source| JournalError::Corrupt { path: self.path.clone(), source })?;
        self.with(|c| {
            c.execute(
                "INSERT INTO actions (run_id, policy, action, resource_type, region, resource_id, resource, state, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    run_id,
                    policy,
                    action,
                    resource.resource_type().name(),
                    resource.region,
                    resource.id,
                    json,
                    ActionState::Intent.as_str(),
                    at.to_rfc3339()
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn settle(&self, id: i64, state: ActionState, detail: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute("UPDATE actions SET state = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1", params![id, state.as_str(), detail, at.to_rfc3339()])
                .map(drop)
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
                        self.path.display()
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

    /// A journaled action for a resource, done by this program (e.g. a restore).
    pub fn record_done(&self, run_id: &str, action: &str, resource: &Resource, detail: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        let id = self.record_intent(run_id, "", action, resource, at)?;
        self.settle(id, ActionState::Done, detail, at)
    }

    fn entries(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<JournalEntry>, JournalError> {
        self.rows(clause, args)?
            .into_iter()
            .map(|(id, row)| row.map_err(|p| JournalError::Row { path: self.path.clone(), id, problem: p.to_string() }))
            .collect()
    }

    /// Rows, each read on its own: one bad row is that row's problem.
    fn rows(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Row>, JournalError> {
        let sql = format!("SELECT id, run_id, policy, action, resource_type, resource, state, started_at FROM actions {clause}");
        // Values are read as whatever SQLite holds: a hand-edited row of the
        // wrong type is that row's problem, not the query's.
        let rows: Vec<(i64, Vec<Value>)> = self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(args, |r| Ok((r.get(0)?, (1..8).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<Value>>>()?)))?;
            rows.collect()
        })?;
        Ok(rows.into_iter().map(|(id, values)| (id, entry(id, values))).collect())
    }

    /// Records a guardrail change before it is made; returns its id for
    /// [`Journal::settle_guardrail`].
    pub fn record_guardrail_intent(
        &self,
        run_id: &str,
        kind: &str,
        name: &str,
        change: &str,
        differences: &[String],
        at: DateTime<Utc>,
    ) -> Result<i64, JournalError> {
        let differences = serde_json::to_string(differences).map_err(|source| JournalError::Corrupt { path: self.path.clone(), source })?;
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

    pub fn add_saving(&self, run_id: &str, s: &Saving, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO savings (run_id, policy, resource_type, region, resource_id, action, monthly_usd, done_at, state, account_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    run_id,
                    s.policy,
                    s.resource_type.name(),
                    s.region,
                    s.resource_id,
                    s.action,
                    s.monthly_usd,
                    at.to_rfc3339(),
                    SavingState::Saved.as_str(),
                    s.account_id
                ],
            )
            .map(drop)
        })
    }

    /// Moves the resource's savings that still count to `state` (a restore,
    /// a recreation). Returns how many rows moved.
    pub fn set_saving_state(
        &self,
        resource_type: ResourceType,
        region: &str,
        resource_id: &str,
        state: SavingState,
        at: DateTime<Utc>,
    ) -> Result<usize, JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE savings SET state = ?4, changed_at = ?5 WHERE resource_type = ?1 AND region = ?2 AND resource_id = ?3 AND state = 'saved'",
                params![resource_type.name(), region, resource_id, state.as_str(), at.to_rfc3339()],
            )
        })
    }

    /// Ledger rows done at or after `since` (all when `None`), oldest first.
    /// Rows this version cannot read (a newer type) are left out.
    pub fn savings(&self, since: Option<DateTime<Utc>>) -> Result<Vec<LedgerRow>, JournalError> {
        type Raw = (String, String, String, String, String, String, f64, String, String, String);
        let rows: Vec<Raw> = self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT run_id, policy, resource_type, region, resource_id, action, monthly_usd, done_at, state, account_id FROM savings ORDER BY id",
            )?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?)))?;
            rows.collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(run_id, policy, rt, region, resource_id, action, monthly_usd, done_at, state, account_id)| {
                let row = LedgerRow {
                    saving: Saving { account_id, policy, resource_type: parse_type(&rt)?, region, resource_id, action, monthly_usd },
                    run_id,
                    done_at: parse_time(&done_at)?,
                    state: SavingState::parse(&state)?,
                };
                since.is_none_or(|s| row.done_at >= s).then_some(row)
            })
            .collect())
    }

    /// How many actions are in each state (for tests and the report).
    pub fn count(&self, state: ActionState) -> Result<u64, JournalError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM actions WHERE state = ?1", params![state.as_str()], |r| r.get(0)).optional())
            .map(|n: Option<i64>| n.unwrap_or(0).max(0) as u64)
    }
}

/// Columns added since a table was first made: a journal written by an
/// older costguard gains them (with their defaults) when opened.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    let added: &[(&str, &str, &str)] = &[("savings", "account_id", "TEXT NOT NULL DEFAULT ''")];
    for (table, column, decl) in added {
        let mut stmt = conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?;
        if !stmt.exists(params![column])? {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// One `actions` row from its columns after the id (run_id, policy,
/// action, resource_type, resource, state, started_at).
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
    let resource = serde_json::from_str(&resource).map_err(|e| RowProblem::Unreadable(format!("resource: {e}")))?;
    Ok(JournalEntry { id, run_id, policy, action, resource, state, started_at })
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

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_type(s: &str) -> Option<ResourceType> {
    ResourceType::ALL.iter().copied().find(|t| t.name() == s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::sagemaker_endpoint::fixture;

    #[test]
    fn an_action_is_recorded_before_it_runs_and_settled_after() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("state/journal.sqlite")).unwrap();
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let now = crate::clock::test_now();
        let id = journal.record_intent("run", "p", "delete", &endpoint, now).unwrap();
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
        let done = journal.record_guardrail_intent("r1", "budget", "costguard-monthly-500", "update", &["limit: 400 -> 500".into()], now).unwrap();
        journal.settle_guardrail(done, ActionState::Done, "1 call(s)", now).unwrap();
        journal.record_guardrail_intent("r1", "billing-alarm", "costguard-billing-1000", "create", &[], now).unwrap();
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
}
