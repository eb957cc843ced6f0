//! The events handled, in the state database: a CloudTrail `eventID`
//! delivered again (SQS delivers at least once; a restart re-reads what
//! it had not deleted) is told once.
//!
//! # Several readers
//! Before an event is handled it is claimed: a row saying who may tell it
//! until when (a lease, renewed while it is handled). A second reader of
//! the same state database (two daemons over one EFS folder, an ECS
//! deployment's old and new task) that gets a copy finds the claim and
//! leaves its copy to come back later, when the event is settled (and the
//! copy deleted without a word) or the lease of a reader that died has
//! run out (and the event is told then). The claim is one statement:
//! SQLite decides who wins.

use chrono::{DateTime, SecondsFormat, Utc};
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
    // Until when a `claimed` event is someone's to tell.
    added: &[("claimed_until", "TEXT")],
    then: "",
    history: History::Dated("handled_at"),
};

/// The outcome of a claim not yet settled.
const CLAIMED: &str = "claimed";

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

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This reader tells it (new, or another's lease ran out).
    Mine,
    /// Settled before: nothing to do.
    Settled,
    /// Another reader is telling it, until this time unless it renews.
    Held { until: String },
}

/// The events handled, over the state database.
#[derive(Clone, Copy)]
pub struct Seen<'a>(pub &'a Db);

/// Times in one format, so that SQLite compares them as text.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<'a> Seen<'a> {
    pub fn of(journal: &'a Journal) -> Self {
        Seen(journal.db())
    }

    /// Whether `event_id` was settled before.
    pub fn settled(&self, event_id: &str) -> Result<bool, JournalError> {
        self.0.with(&EVENTS, |c| {
            c.query_row("SELECT 1 FROM events WHERE event_id = ?1 AND outcome != ?2", params![event_id, CLAIMED], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
        })
    }

    /// Claims `event_id` to tell it, until `now + lease`: a new event, or
    /// one whose claim ran out, is this reader's.
    pub fn claim(&self, event_id: &str, event_name: &str, now: DateTime<Utc>, lease: chrono::Duration) -> Result<Claim, JournalError> {
        let (at, until) = (stamp(now), stamp(now + lease));
        self.0.with(&EVENTS, |c| {
            let won = c.execute(
                "INSERT INTO events (event_id, event_name, outcome, handled_at, claimed_until) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(event_id) DO UPDATE SET handled_at = excluded.handled_at, claimed_until = excluded.claimed_until
                 WHERE events.outcome = ?3 AND (events.claimed_until IS NULL OR events.claimed_until < ?4)",
                params![event_id, event_name, CLAIMED, at, until],
            )?;
            if won == 1 {
                return Ok(Claim::Mine);
            }
            let (outcome, held): (String, Option<String>) =
                c.query_row("SELECT outcome, claimed_until FROM events WHERE event_id = ?1", params![event_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(if outcome == CLAIMED { Claim::Held { until: held.unwrap_or_default() } } else { Claim::Settled })
        })
    }

    /// Keeps a claim while the event is handled.
    pub fn renew(&self, event_id: &str, now: DateTime<Utc>, lease: chrono::Duration) -> Result<(), JournalError> {
        self.0.with(&EVENTS, |c| {
            c.execute("UPDATE events SET claimed_until = ?2 WHERE event_id = ?1 AND outcome = ?3", params![event_id, stamp(now + lease), CLAIMED]).map(drop)
        })
    }

    /// Gives a claim up (the event failed and comes back): the next
    /// reader may tell it at once.
    pub fn release(&self, event_id: &str) -> Result<(), JournalError> {
        self.0.with(&EVENTS, |c| c.execute("DELETE FROM events WHERE event_id = ?1 AND outcome = ?2", params![event_id, CLAIMED]).map(drop))
    }

    /// Records `event_id` settled (over its claim); a settled event stays
    /// as it was first settled.
    pub fn record(&self, event_id: &str, event_name: &str, settled: Settled, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.0.with(&EVENTS, |c| {
            c.execute(
                "INSERT INTO events (event_id, event_name, outcome, handled_at, claimed_until) VALUES (?1, ?2, ?3, ?4, NULL)
                 ON CONFLICT(event_id) DO UPDATE SET outcome = excluded.outcome, handled_at = excluded.handled_at, claimed_until = NULL
                 WHERE events.outcome = ?5",
                params![event_id, event_name, settled.as_str(), at.to_rfc3339(), CLAIMED],
            )
            .map(drop)
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

    #[test]
    fn a_claim_is_one_readers_until_it_is_settled_released_or_its_lease_runs_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite");
        // Two readers of one state database: two connections.
        let (a, b) = (Journal::open(&path).expect("a"), Journal::open(&path).expect("b"));
        let (a, b) = (Seen::of(&a), Seen::of(&b));
        let now = crate::clock::test_now();
        let lease = chrono::Duration::seconds(60);
        assert_eq!(a.claim("e-1", "RunInstances", now, lease).expect("claims"), Claim::Mine);
        assert!(matches!(b.claim("e-1", "RunInstances", now, lease).expect("claims"), Claim::Held { .. }), "the other reader's");
        assert!(!b.settled("e-1").expect("reads"), "claimed is not settled");
        a.renew("e-1", now + chrono::Duration::seconds(50), lease).expect("renews");
        assert!(matches!(b.claim("e-1", "RunInstances", now + chrono::Duration::seconds(100), lease).expect("claims"), Claim::Held { .. }), "renewed");
        assert_eq!(b.claim("e-1", "RunInstances", now + chrono::Duration::seconds(111), lease).expect("claims"), Claim::Mine, "a dead reader's lease ran out");
        b.record("e-1", "RunInstances", Settled::Told, now).expect("records");
        assert_eq!(a.claim("e-1", "RunInstances", now + chrono::Duration::days(1), lease).expect("claims"), Claim::Settled);
        assert_eq!(a.claim("e-2", "RunInstances", now, lease).expect("claims"), Claim::Mine);
        a.release("e-2").expect("releases");
        assert_eq!(b.claim("e-2", "RunInstances", now, lease).expect("claims"), Claim::Mine, "released: at once");
    }
}
