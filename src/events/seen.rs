//! The events handled, in the state database: a CloudTrail `eventID`
//! delivered again (SQS delivers at least once; a restart re-reads what
//! it had not deleted) is told once.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use crate::engine::db::{Db, History, JournalError, Table};
use crate::engine::journal::Journal;

pub static EVENTS: Table = Table {
    name: "events",
    schema: "
-- CloudTrail events handled by `costguard events`: each told once.
CREATE TABLE IF NOT EXISTS events (
    event_id    TEXT PRIMARY KEY,
    event_name  TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    handled_at  TEXT NOT NULL
);
",
    added: &[],
    then: "",
    history: History::Dated("handled_at"),
};

/// How an event was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Its resources were read, tagged and told of.
    Told,
    /// What it created is gone already, or it created nothing costguard
    /// knows (a failed call, a type without creation events).
    Nothing,
}

impl Settled {
    pub fn as_str(self) -> &'static str {
        match self {
            Settled::Told => "told",
            Settled::Nothing => "nothing",
        }
    }
}

/// The events handled, over the state database.
#[derive(Clone, Copy)]
pub struct Seen<'a>(pub &'a Db);

impl<'a> Seen<'a> {
    pub fn of(journal: &'a Journal) -> Self {
        Seen(journal.db())
    }

    /// Whether `event_id` was settled before.
    pub fn settled(&self, event_id: &str) -> Result<bool, JournalError> {
        self.0.with(&EVENTS, |c| c.query_row("SELECT 1 FROM events WHERE event_id = ?1", params![event_id], |_| Ok(())).optional().map(|found| found.is_some()))
    }

    /// Records `event_id` settled; a second record of it changes nothing.
    pub fn record(&self, event_id: &str, event_name: &str, settled: Settled, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.0.with(&EVENTS, |c| {
            c.execute(
                "INSERT OR IGNORE INTO events (event_id, event_name, outcome, handled_at) VALUES (?1, ?2, ?3, ?4)",
                params![event_id, event_name, settled.as_str(), at.to_rfc3339()],
            )
            .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_settled_once_and_stays_settled_across_openings() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite");
        let now = crate::clock::test_now();
        {
            let journal = Journal::open(&path).expect("journal");
            let seen = Seen::of(&journal);
            assert!(!seen.settled("e-1").expect("reads"));
            seen.record("e-1", "CreateEndpoint", Settled::Told, now).expect("records");
            seen.record("e-1", "CreateEndpoint", Settled::Nothing, now).expect("a second record is ignored");
        }
        let journal = Journal::open(&path).expect("opens again");
        assert!(Seen::of(&journal).settled("e-1").expect("reads"), "across a restart");
        assert!(!Seen::of(&journal).settled("e-2").expect("reads"));
    }
}
