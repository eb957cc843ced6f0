//! The sleeps' store: what `off-hours` policies put to sleep (one row per
//! sleeping change, keyed by its journal row), and how each sleep ended,
//! with the hours asleep at its hourly price: the scheduled savings.
//! Waking is `engine::wake`'s.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::db::{parse_time, parse_type, Db, History, JournalError, Table};
use super::plan::Slept;
use crate::pricing::HOURS_PER_MONTH;
use crate::resources::{Resource, ResourceKey};

pub static TABLE: Table = Table {
    name: "sleeps",
    schema: "
-- What off-hours policies put to sleep (engine::sleep): one row per
-- sleeping change (actions.id), its schedule, and how the sleep ended.
CREATE TABLE IF NOT EXISTS sleeps (
    action_id     INTEGER PRIMARY KEY,
    policy        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    region        TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    schedule      TEXT NOT NULL,
    slept_at      TEXT NOT NULL,
    hourly_usd    REAL,
    state         TEXT NOT NULL,
    ended_at      TEXT,
    saved_usd     REAL,
    detail        TEXT
);
CREATE INDEX IF NOT EXISTS sleeps_by_state ON sleeps (state);
",
    added: &[],
    then: "",
    // The scheduled savings: kept whole, as the ledger is.
    history: History::Kept,
};

/// Where a sleep stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SleepState {
    /// Put to sleep (once its change is done), not yet woken.
    Asleep,
    /// Woken by costguard on its schedule.
    Woken,
    /// Found running (or re-created) before costguard woke it.
    StartedBySomeone,
    /// Gone (terminated, deleted) before costguard woke it.
    Gone,
    /// Its schedule wanted it on, and there is nothing to wake: its user
    /// brings it back by using it (a Studio app opened again).
    LeftToItsUser,
    /// Its change never took place (failed, or it was already stopped).
    NotSlept,
}

impl SleepState {
    pub fn as_str(self) -> &'static str {
        match self {
            SleepState::Asleep => "asleep",
            SleepState::Woken => "woken",
            SleepState::StartedBySomeone => "started-by-someone",
            SleepState::Gone => "gone",
            SleepState::LeftToItsUser => "left-to-its-user",
            SleepState::NotSlept => "not-slept",
        }
    }

    fn parse(s: &str) -> Option<SleepState> {
        [SleepState::Asleep, SleepState::Woken, SleepState::StartedBySomeone, SleepState::Gone, SleepState::LeftToItsUser, SleepState::NotSlept]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One ended sleep's saving: what `costguard savings` adds up as scheduled.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledSaving {
    pub account_id: String,
    pub policy: String,
    pub resource_type: crate::resources::ResourceType,
    pub region: String,
    pub resource_id: String,
    pub slept_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub hours: f64,
    /// `None`: it was unpriced.
    pub usd: Option<f64>,
    pub state: SleepState,
}

/// A sleep as recorded when its change is about to run.
#[derive(Clone, Debug)]
pub struct NewSleep<'a> {
    pub action_id: i64,
    pub policy: &'a str,
    pub resource: &'a Resource,
    pub account_id: &'a str,
    pub schedule: &'a str,
    pub at: DateTime<Utc>,
}

/// One recorded sleep.
#[derive(Clone, Debug)]
pub struct SleepRow {
    pub action_id: i64,
    pub policy: String,
    pub key: ResourceKey,
    pub account_id: String,
    pub schedule: String,
    pub slept_at: DateTime<Utc>,
    pub hourly_usd: Option<f64>,
    pub state: SleepState,
    /// The change that put it to sleep (`stop`, `delete`), as journaled.
    pub action: String,
    /// The resource as journaled right before it was put to sleep.
    pub resource: Option<Arc<Resource>>,
}

/// The sleeps, over the state database.
#[derive(Clone, Copy)]
pub struct Sleeps<'a>(pub &'a Db);

impl Sleeps<'_> {
    /// Records a sleep right after its change's intent (and before AWS is
    /// called): it counts once the change is done.
    pub fn put(&self, sleep: &NewSleep<'_>) -> Result<(), JournalError> {
        let r = sleep.resource;
        let hourly = r.monthly_cost_usd.map(|m| m / HOURS_PER_MONTH);
        self.0.with(&TABLE, |c| {
            c.execute(
                "INSERT OR REPLACE INTO sleeps (action_id, policy, resource_type, region, resource_id, account_id, schedule, slept_at, hourly_usd, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    sleep.action_id,
                    sleep.policy,
                    r.resource_type().name(),
                    r.region,
                    r.id,
                    sleep.account_id,
                    sleep.schedule,
                    sleep.at.to_rfc3339(),
                    hourly,
                    SleepState::Asleep.as_str()
                ],
            )
        })?;
        Ok(())
    }

    /// Ends a sleep; the saving is the hours asleep times its hourly price.
    pub fn end(&self, row: &SleepRow, state: SleepState, detail: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        let saved = (state != SleepState::NotSlept).then(|| row.hourly_usd.map(|h| h * hours_between(row.slept_at, at))).flatten();
        self.0.with(&TABLE, |c| {
            c.execute(
                "UPDATE sleeps SET state = ?2, ended_at = ?3, saved_usd = ?4, detail = ?5 WHERE action_id = ?1",
                params![row.action_id, state.as_str(), at.to_rfc3339(), saved, detail],
            )
        })?;
        Ok(())
    }

    /// Each resource's last sleep by each policy since `since` whose change
    /// was done: what the plan reads (`plan::Slept`).
    pub fn slept(&self, since: DateTime<Utc>) -> Result<Vec<Slept>, JournalError> {
        let raw: Vec<(String, String, String, String, String)> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare(
                "SELECT s.policy, s.resource_type, s.region, s.resource_id, MAX(s.slept_at) FROM sleeps s JOIN actions a ON a.id = s.action_id
                 WHERE s.slept_at >= ?1 AND s.state != 'not-slept' AND a.state = 'done' GROUP BY s.policy, s.resource_type, s.region, s.resource_id",
            )?;
            let rows = stmt.query_map(params![since.to_rfc3339()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
            rows.collect()
        })?;
        Ok(raw
            .into_iter()
            .filter_map(|(policy, rt, region, id, at)| {
                Some(Slept { policy, key: ResourceKey { resource_type: parse_type(&rt)?, region, id }, at: parse_time(&at)? })
            })
            .collect())
    }

    /// Sleeps not yet ended, each with the resource as journaled when it
    /// was put to sleep; those whose change did not happen are settled here.
    pub fn open(&self, at: DateTime<Utc>) -> Result<Vec<SleepRow>, JournalError> {
        let mut asleep = Vec::new();
        for (row, action_state) in self.rows("WHERE s.state = 'asleep'")? {
            match action_state.as_str() {
                "done" => asleep.push(row),
                // The change is still open (a crash): the next run settles it first.
                "intent" | "incomplete" => {}
                other => self.end(&row, SleepState::NotSlept, &format!("its change is {other}"), at)?,
            }
        }
        Ok(asleep)
    }

    /// Sleeps not yet ended whose change was done, changing nothing (a dry run).
    pub fn asleep(&self) -> Result<Vec<SleepRow>, JournalError> {
        Ok(self.rows("WHERE s.state = 'asleep' AND a.state = 'done'")?.into_iter().map(|(r, _)| r).collect())
    }

    /// Sleeps that ended on or after `since` (all when `None`): the
    /// scheduled savings, hours asleep at the hourly price.
    pub fn scheduled(&self, since: Option<DateTime<Utc>>) -> Result<Vec<ScheduledSaving>, JournalError> {
        type Raw = (String, String, String, String, String, String, String, Option<f64>, String);
        let raw: Vec<Raw> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare(
                "SELECT account_id, policy, resource_type, region, resource_id, slept_at, ended_at, saved_usd, state FROM sleeps
                 WHERE ended_at IS NOT NULL AND state IN ('woken', 'started-by-someone', 'gone') ORDER BY ended_at",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?)))?;
            rows.collect()
        })?;
        Ok(raw
            .into_iter()
            .filter_map(|(account_id, policy, rt, region, resource_id, slept_at, ended_at, saved_usd, state)| {
                let (slept_at, ended_at) = (parse_time(&slept_at)?, parse_time(&ended_at)?);
                Some(ScheduledSaving {
                    account_id,
                    policy,
                    resource_type: parse_type(&rt)?,
                    region,
                    resource_id,
                    slept_at,
                    ended_at,
                    hours: hours_between(slept_at, ended_at),
                    usd: saved_usd,
                    state: SleepState::parse(&state)?,
                })
            })
            .filter(|s| since.is_none_or(|since| s.ended_at >= since))
            .collect())
    }

    /// Rows with their change's journal state.
    fn rows(&self, clause: &str) -> Result<Vec<(SleepRow, String)>, JournalError> {
        type Raw = (i64, String, String, String, String, String, String, String, Option<f64>, String, Option<String>, Option<String>, Option<String>);
        let sql = format!(
            "SELECT s.action_id, s.policy, s.resource_type, s.region, s.resource_id, s.account_id, s.schedule, s.slept_at, s.hourly_usd, s.state,
                    a.state, a.resource, a.action
             FROM sleeps s LEFT JOIN actions a ON a.id = s.action_id {clause} ORDER BY s.action_id"
        );
        let raw: Vec<Raw> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                ))
            })?;
            rows.collect()
        })?;
        // Rows this version cannot read (a newer type) are left for it.
        Ok(raw
            .into_iter()
            .filter_map(|(action_id, policy, rt, region, id, account_id, schedule, slept_at, hourly_usd, state, action_state, resource, action)| {
                let row = SleepRow {
                    action_id,
                    policy,
                    key: ResourceKey { resource_type: parse_type(&rt)?, region, id },
                    account_id,
                    schedule,
                    slept_at: parse_time(&slept_at)?,
                    hourly_usd,
                    state: SleepState::parse(&state)?,
                    action: action.unwrap_or_default(),
                    resource: resource.and_then(|json| serde_json::from_str(&json).ok()).map(Arc::new),
                };
                Some((row, action_state.unwrap_or_else(|| "gone from the journal".to_string())))
            })
            .collect())
    }
}

/// Hours from `from` to `to` (none when `to` is earlier).
pub fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_seconds().max(0) as f64) / 3600.0
}
