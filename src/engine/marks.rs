//! The marks: resources marked for a destructive action after a grace
//! period, as the plan reads them (`plan::Mark`).

use rusqlite::params;

use super::db::{parse_time, parse_type, Db, History, JournalError, Table};
use super::plan::Mark;
use crate::resources::ResourceKey;

/// The marks' table: open by nature, never pruned (a mark leaves when its
/// resource no longer matches or is acted on).
pub static TABLE: Table = Table {
    name: "marks",
    schema: "
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
",
    added: &[],
    then: "",
    history: History::Kept,
};

/// The marks, over the state database.
#[derive(Clone, Copy)]
pub struct Marks<'a>(pub &'a Db);

impl Marks<'_> {
    pub fn all(&self) -> Result<Vec<Mark>, JournalError> {
        self.0.with(&TABLE, |c| {
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
                marks.push(Mark { policy, key: ResourceKey { resource_type, region, id: resource_id }, action, marked_at, due_at });
            }
            Ok(marks)
        })
    }

    pub fn put(&self, mark: &Mark, run_id: &str) -> Result<(), JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "INSERT OR REPLACE INTO marks (policy, resource_type, region, resource_id, action, marked_at, due_at, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    mark.policy,
                    mark.key.resource_type.name(),
                    mark.key.region,
                    mark.key.id,
                    mark.action,
                    mark.marked_at.to_rfc3339(),
                    mark.due_at.to_rfc3339(),
                    run_id
                ],
            )
            .map(drop)
        })
    }

    pub fn remove(&self, policy: &str, key: &ResourceKey) -> Result<(), JournalError> {
        self.0.with(&TABLE, |c| {
            c.execute(
                "DELETE FROM marks WHERE policy = ?1 AND resource_type = ?2 AND region = ?3 AND resource_id = ?4",
                params![policy, key.resource_type.name(), key.region, key.id],
            )
            .map(drop)
        })
    }
}
