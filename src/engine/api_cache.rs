//! Answers of billed APIs (Cost Explorer), kept for a while to save money.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::db::{Db, History, JournalError, Table};

/// The cache's table; answers older than `state-keep-days` leave it.
pub static TABLE: Table = Table {
    name: "api_cache",
    schema: "
-- Answers of billed APIs (Cost Explorer), kept for a while to save money.
CREATE TABLE IF NOT EXISTS api_cache (
    key        TEXT PRIMARY KEY,
    fetched_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
",
    added: &[],
    then: "",
    history: History::Dated("fetched_at"),
};

/// The cached answers, over the state database.
#[derive(Clone, Copy)]
pub struct ApiCache<'a>(pub &'a Db);

impl ApiCache<'_> {
    /// A cached API answer no older than `max_age`.
    pub fn get(&self, key: &str, now: DateTime<Utc>, max_age: chrono::Duration) -> Result<Option<(DateTime<Utc>, String)>, JournalError> {
        let row: Option<(String, String)> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare("SELECT fetched_at, body FROM api_cache WHERE key = ?1")?;
            let mut rows = stmt.query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.next().transpose()
        })?;
        Ok(row.and_then(|(at, body)| {
            let at = DateTime::parse_from_rfc3339(&at).ok()?.with_timezone(&Utc);
            (now - at < max_age && at <= now).then_some((at, body))
        }))
    }

    pub fn put(&self, key: &str, now: DateTime<Utc>, body: &str) -> Result<(), JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "INSERT INTO api_cache (key, fetched_at, body) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET fetched_at = ?2, body = ?3",
                params![key, now.to_rfc3339(), body],
            )
        })?;
        Ok(())
    }
}
