//! What email remembers between sweeps, in the state database (the
//! journal): who was told what about which finding (the quiet period), and
//! the messages that could not be delivered yet (the outbox).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::digest::{NoticeKey, NoticeState, PreviousNotice};
use super::message::OutgoingMessage;
use crate::engine::db::{parse_time, Db, History, JournalError, Table};
use crate::engine::journal::Journal;

/// What each person was last told about each finding; older than
/// `state-keep-days`, forgotten.
pub static NOTICES: Table = Table {
    name: "notices",
    schema: "
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
",
    added: &[],
    then: "",
    history: History::Dated("sent_at"),
};

/// Email not delivered yet; older than `state-keep-days`, given up.
pub static OUTBOX: Table = Table {
    name: "outbox",
    schema: "
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
",
    added: &[],
    then: "",
    history: History::Dated("created_at"),
};

/// The notices told, over the state database.
#[derive(Clone, Copy)]
pub struct Notices<'a>(pub &'a Db);

/// The outbox, over the state database.
#[derive(Clone, Copy)]
pub struct Outbox<'a>(pub &'a Db);

impl<'a> Notices<'a> {
    pub fn of(journal: &'a Journal) -> Self {
        Notices(journal.db())
    }
}

impl<'a> Outbox<'a> {
    pub fn of(journal: &'a Journal) -> Self {
        Outbox(journal.db())
    }
}

/// A message waiting in the outbox.
#[derive(Clone, Debug)]
pub struct Queued {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub message: OutgoingMessage,
    pub attempts: u32,
}

impl Notices<'_> {
    /// The last notice each of `recipients` got about each finding.
    pub fn last(&self, recipients: &[String]) -> Result<HashMap<NoticeKey, PreviousNotice>, JournalError> {
        let mut found = HashMap::new();
        for recipient in recipients {
            let rows: Vec<(String, String, String, String, String, String)> = self.0.with(&NOTICES, |c| {
                let mut stmt = c.prepare("SELECT policy, resource_type, region, resource_id, state, sent_at FROM notices WHERE recipient = ?1")?;
                let rows = stmt.query_map(params![recipient], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?;
                rows.collect()
            })?;
            for (policy, resource_type, region, resource_id, state, sent_at) in rows {
                let Some(sent_at) = parse_time(&sent_at) else { continue };
                let key = NoticeKey { recipient: recipient.clone(), policy, resource_type, region, resource_id };
                found.insert(key, PreviousNotice { state, sent_at });
            }
        }
        Ok(found)
    }

    /// Records that these findings were told (or queued to be told) in these states.
    pub fn record<'a>(&self, told: impl IntoIterator<Item = (&'a NoticeKey, &'a NoticeState)>, at: DateTime<Utc>) -> Result<(), JournalError> {
        let told: Vec<(&NoticeKey, String)> = told.into_iter().map(|(k, state)| (k, state.to_string())).collect();
        self.0.with(&NOTICES, |c| {
            let tx = c.unchecked_transaction()?;
            {
                let mut stmt = tx.prepare(
                    "INSERT INTO notices (recipient, policy, resource_type, region, resource_id, state, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (recipient, policy, resource_type, region, resource_id) DO UPDATE SET state = ?6, sent_at = ?7",
                )?;
                for (k, state) in &told {
                    stmt.execute(params![k.recipient, k.policy, k.resource_type, k.region, k.resource_id, state, at.to_rfc3339()])?;
                }
            }
            tx.commit()
        })
    }
}

impl Outbox<'_> {
    pub fn enqueue(&self, message: &OutgoingMessage, attempts: u32, error: &str, at: DateTime<Utc>) -> Result<i64, JournalError> {
        let OutgoingMessage { sender, recipients, subject, raw } = message;
        let recipients = recipients.join(",");
        self.0.with(&OUTBOX, |c| {
            c.execute(
                "INSERT INTO outbox (created_at, sender, recipients, subject, raw, attempts, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![at.to_rfc3339(), sender, recipients, subject, raw, attempts, error],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The outbox, oldest first; a row whose time cannot be read counts as
    /// created `now` (kept, not dropped).
    pub fn queued(&self, now: DateTime<Utc>) -> Result<Vec<Queued>, JournalError> {
        self.0.with(&OUTBOX, |c| {
            let mut stmt = c.prepare("SELECT id, created_at, sender, recipients, subject, raw, attempts FROM outbox ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                let created_at: String = r.get(1)?;
                let recipients: String = r.get(3)?;
                let attempts: i64 = r.get(6)?;
                Ok(Queued {
                    id: r.get(0)?,
                    created_at: parse_time(&created_at).unwrap_or(now),
                    message: OutgoingMessage {
                        sender: r.get(2)?,
                        recipients: recipients.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect(),
                        subject: r.get(4)?,
                        raw: r.get(5)?,
                    },
                    attempts: attempts.clamp(0, u32::MAX as i64) as u32,
                })
            })?;
            rows.collect()
        })
    }

    /// How many messages wait, without reading them.
    pub fn waiting(&self) -> Result<usize, JournalError> {
        self.0.with(&OUTBOX, |c| c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))).map(|n| n.max(0) as usize)
    }

    pub fn retry_failed(&self, id: i64, attempts: u32, error: &str) -> Result<(), JournalError> {
        self.0.with(&OUTBOX, |c| c.execute("UPDATE outbox SET attempts = ?2, last_error = ?3 WHERE id = ?1", params![id, attempts, error]).map(drop))
    }

    pub fn dequeue(&self, id: i64) -> Result<(), JournalError> {
        self.0.with(&OUTBOX, |c| c.execute("DELETE FROM outbox WHERE id = ?1", params![id]).map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_and_the_outbox_survive_a_reopen() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("journal.sqlite");
        let now = crate::clock::test_now();
        let key = NoticeKey {
            recipient: "a@example.com".into(),
            policy: "idle".into(),
            resource_type: "sagemaker-endpoint".into(),
            region: "us-east-1".into(),
            resource_id: "e1".into(),
        };
        {
            let journal = Journal::open(&path)?;
            Notices::of(&journal).record([(&key, &NoticeState::Marked)], now)?;
            Notices::of(&journal).record([(&key, &NoticeState::DueSoon)], now)?;
            let message =
                OutgoingMessage { sender: "cg@example.com".into(), recipients: vec!["a@example.com".into()], subject: "s".into(), raw: b"raw\r\n".to_vec() };
            Outbox::of(&journal).enqueue(&message, 3, "refused", now)?;
        }
        let journal = Journal::open(&path)?;
        let notices = Notices::of(&journal).last(&["a@example.com".into(), "b@example.com".into()])?;
        assert_eq!(notices.len(), 1);
        assert_eq!(notices.get(&key).map(|n| n.state.as_str()), Some("due-soon"), "the latest state wins");
        let queued = Outbox::of(&journal).queued(now)?;
        assert_eq!(Outbox::of(&journal).waiting()?, 1);
        assert_eq!((queued.len(), queued[0].message.raw.as_slice(), queued[0].attempts), (1, b"raw\r\n".as_slice(), 3));
        Outbox::of(&journal).dequeue(queued[0].id)?;
        assert!(Outbox::of(&journal).queued(now)?.is_empty());
        Ok(())
    }
}
