//! The journal: the state database's owner, and its runs. Each of its
//! other tables belongs to a store that owns its definition and queries
//! (`actions`, `marks`, `ledger`'s savings, `api_cache`; and above the
//! engine, notify's notices and outbox, the guardrails' changes and AI
//! spend alerts, which make their tables on first use).
//!
//! Writes are transactions on the state database (`db`); whole sweeps are
//! kept apart by the state folder's lock (`state_lock`).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::actions::{self, Actions};
use super::api_cache::{self, ApiCache};
pub use super::db::JournalError;
use super::db::{Db, History, Table};
use super::ledger::{self, Savings};
use super::marks::{self, Marks};

/// The runs' table: one row per sweep, pruned with `state-keep-days`.
pub static RUNS: Table = Table {
    name: "runs",
    schema: "
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    dry_run     INTEGER NOT NULL,
    summary     TEXT
);
",
    added: &[],
    then: "",
    history: History::Dated("started_at"),
};

/// The state database and the engine's stores over it.
pub struct Journal {
    db: Db,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Ok(Self { db: Db::open(path, &[&RUNS, &actions::TABLE, &marks::TABLE, &api_cache::TABLE, &ledger::TABLE, &super::sleeps::TABLE])? })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// The database the stores share.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn actions(&self) -> Actions<'_> {
        Actions(&self.db)
    }

    pub fn marks(&self) -> Marks<'_> {
        Marks(&self.db)
    }

    pub fn savings(&self) -> Savings<'_> {
        Savings(&self.db)
    }

    pub fn sleeps(&self) -> super::sleeps::Sleeps<'_> {
        super::sleeps::Sleeps(&self.db)
    }

    pub fn cache(&self) -> ApiCache<'_> {
        ApiCache(&self.db)
    }

    pub fn begin_run(&self, run_id: &str, started_at: DateTime<Utc>, dry_run: bool) -> Result<(), JournalError> {
        self.db.with(&RUNS, |c| {
            c.execute("INSERT INTO runs (run_id, started_at, dry_run) VALUES (?1, ?2, ?3)", params![run_id, started_at.to_rfc3339(), dry_run]).map(drop)
        })
    }

    pub fn finish_run(&self, run_id: &str, finished_at: DateTime<Utc>, summary: &str) -> Result<(), JournalError> {
        self.db.with(&RUNS, |c| {
            c.execute("UPDATE runs SET finished_at = ?2, summary = ?3 WHERE run_id = ?1", params![run_id, finished_at.to_rfc3339(), summary]).map(drop)
        })
    }

    /// Removes history older than `before` from every store, as each
    /// declared it: runs, settled changes, notices, alerts, cached answers,
    /// email that never went out. What is still open and the savings
    /// ledger stay. Returns how many rows went.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
        self.db.prune(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::actions::{ActionState, Intent, PendingSaving};
    use crate::engine::ledger::SavingState;
    use crate::engine::plan::Mark;
    use crate::resources::sagemaker_endpoint::fixture;
    use crate::resources::{ResourceKey, ResourceType};
    use rusqlite::Connection;

    #[test]
    fn an_action_is_recorded_before_it_runs_and_settled_after() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("state/journal.sqlite")).unwrap();
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let now = crate::clock::test_now();
        let intent = Intent { run_id: "run", policy: "p", action: "delete", resource: &endpoint, saving: None, undoes: None };
        let id = journal.actions().record_intent(&intent, now).unwrap();
        assert_eq!(journal.actions().unsettled(now).unwrap().0.len(), 1, "a crash here leaves the intent");
        journal.actions().settle(id, ActionState::Done, "deleted", now).unwrap();
        assert!(journal.actions().unsettled(now).unwrap().0.is_empty());
        let done = journal.actions().last_done(ResourceType::SagemakerEndpoint, "e1", &["delete"]).unwrap().unwrap();
        assert_eq!(done.resource.arn, endpoint.arn, "the resource comes back as it was");
    }

    #[test]
    fn marks_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap().with_timezone(&Utc);
        let mark = Mark {
            policy: "idle".into(),
            key: ResourceKey { resource_type: ResourceType::SagemakerEndpoint, region: "us-east-1".into(), id: "e1".into() },
            action: "delete".into(),
            marked_at: now,
            due_at: now + chrono::Duration::days(7),
        };
        Journal::open(&path).unwrap().marks().put(&mark, "run").unwrap();
        let reopened = Journal::open(&path).unwrap();
        assert_eq!(reopened.marks().all().unwrap(), vec![mark.clone()]);
        reopened.marks().remove("idle", &mark.key).unwrap();
        assert!(reopened.marks().all().unwrap().is_empty());
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
        let id = journal.actions().record_intent(&intent, now).unwrap();
        assert!(journal.savings().rows(None).unwrap().is_empty(), "not before the change is done");
        journal.actions().settle(id, ActionState::Failed, "throttled", now).unwrap();
        assert!(journal.savings().rows(None).unwrap().is_empty(), "a failed change saves nothing");
        journal.actions().settle(id, ActionState::Done, "deleted", now).unwrap();
        journal.actions().settle(id, ActionState::Done, "settled again", now).unwrap();
        let rows = journal.savings().rows(None).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].saving.monthly_usd, rows[0].saving.account_id.as_str(), rows[0].run_id.as_str()), (83.95, "123456789012", "run"));
        assert_eq!(rows[0].state, SavingState::Saved);

        // A restore of it, settled done, takes the saving back in the same write.
        let restore = Intent { run_id: "restore-1", policy: "", action: "restore", resource: &endpoint, saving: None, undoes: Some(id) };
        let rid = journal.actions().record_intent(&restore, now).unwrap();
        assert_eq!(journal.actions().unsettled(now).unwrap().0[0].undoes, Some(id));
        journal.actions().settle(rid, ActionState::Incomplete, "created the model, not the endpoint", now).unwrap();
        assert_eq!(journal.savings().rows(None).unwrap()[0].state, SavingState::Saved, "a restore left part way does not take it back");
        assert_eq!(journal.actions().supersede_restores(id, "restore-2", now).unwrap(), 1);
        assert!(journal.actions().unsettled(now).unwrap().0.is_empty());
        let rid = journal.actions().record_intent(&Intent { run_id: "restore-2", ..restore }, now).unwrap();
        assert!(!journal.actions().restored(id).unwrap());
        journal.actions().settle(rid, ActionState::Done, "re-created", now).unwrap();
        assert_eq!(journal.savings().rows(None).unwrap()[0].state, SavingState::Restored);
        assert!(journal.actions().restored(id).unwrap(), "a later restore of it that finds it back does not count it twice");
    }

    #[test]
    fn a_restore_takes_back_only_the_saving_of_the_change_it_undoes() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        let now = crate::clock::test_now();
        let endpoint = fixture("e1", "InService", &[("AllTraffic", "ml.m5.large", 1)]);
        let pending = saving(40.0);
        let resized = Intent { run_id: "run", policy: "smaller", action: "delete", resource: &endpoint, saving: Some(&pending), undoes: None };
        let first = journal.actions().record_intent(&resized, now).unwrap();
        journal.actions().settle(first, ActionState::Done, "done", now).unwrap();
        // Put to sleep for the night (no monthly saving), and woken.
        let slept = Intent { run_id: "night", policy: "offhours", saving: None, ..resized };
        let second = journal.actions().record_intent(&slept, now).unwrap();
        journal.actions().settle(second, ActionState::Done, "deleted for the night", now).unwrap();
        let wake = Intent { run_id: "morning", policy: "", action: "restore", resource: &endpoint, saving: None, undoes: Some(second) };
        let woken = journal.actions().record_intent(&wake, now).unwrap();
        journal.actions().settle(woken, ActionState::Done, "re-created", now).unwrap();
        let rows = journal.savings().rows(None).unwrap();
        assert_eq!((rows.len(), rows[0].state), (1, SavingState::Saved), "the morning's wake-up takes nothing back: {rows:?}");
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
        let done = journal.actions().record_intent(&intent, old).unwrap();
        journal.actions().settle(done, ActionState::Done, "deleted", old).unwrap();
        let open = journal.actions().record_intent(&Intent { saving: None, ..intent }, old).unwrap();
        journal.begin_run("new", now, false).unwrap();
        journal
            .actions()
            .record_intent(&Intent { run_id: "new", saving: None, ..intent }, now)
            .map(|id| journal.actions().settle(id, ActionState::Done, "x", now))
            .unwrap()
            .unwrap();
        // A store of a layer above the engine (the AI spend alerts), made on first use.
        static ALERTS: Table = Table {
            name: "ai_spend_alerts",
            schema: "CREATE TABLE IF NOT EXISTS ai_spend_alerts (key TEXT PRIMARY KEY, value REAL NOT NULL, told_at TEXT NOT NULL);",
            added: &[],
            then: "",
            history: History::Dated("told_at"),
        };
        journal
            .db()
            .with(&ALERTS, |c| c.execute("INSERT INTO ai_spend_alerts (key, value, told_at) VALUES ('k', 1.0, ?1)", params![old.to_rfc3339()]))
            .unwrap();
        journal.cache().put("ce", old, "{}").unwrap();

        let pruned = journal.prune(now - chrono::Duration::days(400)).unwrap();
        assert_eq!(pruned, 4, "the old run, its done action, the alert and the cached answer");
        let runs: i64 = journal.db().with(&RUNS, |c| c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))).unwrap();
        assert_eq!(runs, 1);
        assert_eq!(journal.actions().unsettled(now).unwrap().0.iter().map(|e| e.id).collect::<Vec<_>>(), [open], "an open change is never pruned");
        assert_eq!(journal.savings().rows(None).unwrap().len(), 1, "the ledger keeps every saving");
        assert_eq!(journal.prune(now - chrono::Duration::days(400)).unwrap(), 0, "nothing more to prune");
        let mode: i64 = journal.db().with(&RUNS, |c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))).unwrap();
        assert_eq!(mode, crate::engine::db::AUTO_VACUUM_INCREMENTAL);
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
            .actions()
            .record_intent(&Intent { run_id: "r2", policy: "p", action: "delete", resource: &endpoint, saving: Some(&pending), undoes: None }, now)
            .unwrap();
        journal.actions().settle(id, ActionState::Done, "deleted", now).unwrap();
        assert_eq!(journal.savings().rows(None).unwrap().len(), 1);
        assert_eq!(journal.prune(now - chrono::Duration::days(400)).unwrap(), 1);
        let mode: i64 = journal.db().with(&RUNS, |c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))).unwrap();
        assert_eq!(mode, crate::engine::db::AUTO_VACUUM_INCREMENTAL, "converted by its first prune");
    }
}
