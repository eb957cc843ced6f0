//! What a report remembers of the last one, in the state database: the
//! findings open at each report, with when each was first seen, so the
//! next report can say what is new, what was resolved and what is still
//! open. Dry runs that have a state folder keep it too: the weekly audit
//! report is usually one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::Finding;
use crate::engine::db::{parse_time, parse_type, Db, History, JournalError, Table};
use crate::engine::journal::Journal;
use crate::engine::ledger::{self, SavingState};
use crate::outcome::Status;
use crate::resources::ResourceType;

/// The findings open at the last report; forgotten `state-keep-days`
/// after they were last seen (a policy taken out of the configuration).
pub static SEEN: Table = Table {
    name: "findings_seen",
    schema: "
-- The findings open at the last report: what the next one compares with.
CREATE TABLE IF NOT EXISTS findings_seen (
    policy             TEXT NOT NULL,
    resource_type      TEXT NOT NULL,
    region             TEXT NOT NULL,
    resource_id        TEXT NOT NULL,
    first_seen         TEXT NOT NULL,
    last_seen          TEXT NOT NULL,
    monthly_saving_usd REAL,
    PRIMARY KEY (policy, resource_type, region, resource_id)
);
",
    added: &[],
    then: "",
    history: History::Dated("last_seen"),
};

/// When each report was written: where "since the last report" starts.
pub static REPORTS: Table = Table {
    name: "reports",
    schema: "
-- Each report written, for the next one's \"since the last report\".
CREATE TABLE IF NOT EXISTS reports (
    run_id     TEXT PRIMARY KEY,
    written_at TEXT NOT NULL,
    open       INTEGER NOT NULL
);
",
    added: &[],
    then: "",
    history: History::Dated("written_at"),
};

/// What changed since the last report, as `report.json` has it.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct SinceLastRun {
    /// When the last report was written; `None`: this is the first one
    /// with this state folder (every open finding is new).
    pub previous_report_at: Option<DateTime<Utc>>,
    /// Open now, not at the last report.
    pub new: Vec<Seen>,
    /// Open at the last report, not now: fixed (by costguard or a person),
    /// gone, or no longer matching.
    pub resolved: Vec<Resolved>,
    /// Open at the last report and now, oldest first.
    pub still_open: Vec<Seen>,
    /// Savings the ledger recorded since the last report.
    pub saved_usd_monthly: f64,
    pub saved_changes: usize,
}

/// A finding as the comparison sees it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Seen {
    pub policy: String,
    pub resource_type: ResourceType,
    pub region: String,
    pub resource_id: String,
    pub monthly_saving_usd: Option<f64>,
    pub first_seen: DateTime<Utc>,
    /// Whole days since it was first seen.
    pub days_open: i64,
}

/// A finding open at the last report and not now: what was at stake
/// then, how long it was open, and how it went.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Resolved {
    #[serde(flatten)]
    pub finding: Seen,
    pub how: HowResolved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HowResolved {
    /// This run changed it.
    DoneByCostguard,
    /// Fixed by a person, gone, or no longer matching.
    NoLongerFound,
}

impl HowResolved {
    pub fn as_str(self) -> &'static str {
        match self {
            HowResolved::DoneByCostguard => "done by costguard",
            HowResolved::NoLongerFound => "no longer found",
        }
    }
}

/// What was swept: only findings of these policies, in these regions and
/// with complete listings, can be resolved by not being seen.
pub struct Scope<'a> {
    /// (policy, its regions whose listing failed).
    pub policies: Vec<(&'a str, &'a [String])>,
    pub regions: &'a [String],
}

impl Scope<'_> {
    fn covers(&self, policy: &str, region: &str) -> bool {
        self.regions.iter().any(|r| r == region) && self.policies.iter().any(|(p, failed)| *p == policy && !failed.iter().any(|f| f == region))
    }
}

/// The report history, over the state database.
#[derive(Clone, Copy)]
pub struct Reports<'a>(&'a Db);

type Key = (String, ResourceType, String, String);

fn key_of(f: &Finding) -> Key {
    (f.policy.to_string(), f.resource_type, f.region.to_string(), f.resource_id.clone())
}

impl<'a> Reports<'a> {
    pub fn of(journal: &'a Journal) -> Self {
        Reports(journal.db())
    }

    /// Compares `findings` with the last report's open findings, then
    /// records them as this report's, in one transaction. A finding is
    /// open unless this run changed it (done).
    pub fn compare_and_record(&self, findings: &[Finding], scope: &Scope<'_>, run_id: &str, now: DateTime<Utc>) -> Result<SinceLastRun, JournalError> {
        let previous_report_at: Option<DateTime<Utc>> =
            self.0.with(&REPORTS, |c| c.query_row("SELECT MAX(written_at) FROM reports", [], |r| r.get::<_, Option<String>>(0)))?.and_then(|t| parse_time(&t));
        type Raw = (String, String, String, String, String, Option<f64>);
        let before: Vec<Raw> = self.0.with(&SEEN, |c| {
            let mut stmt = c.prepare("SELECT policy, resource_type, region, resource_id, first_seen, monthly_saving_usd FROM findings_seen")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?;
            rows.collect()
        })?;
        let before: HashMap<Key, (DateTime<Utc>, Option<f64>)> = before
            .into_iter()
            .filter_map(|(policy, rt, region, id, first, saving)| Some(((policy, parse_type(&rt)?, region, id), (parse_time(&first)?, saving))))
            .collect();
        let done: HashSet<Key> = findings.iter().filter(|f| f.status == Status::Done).map(key_of).collect();
        let mut open: HashMap<Key, Option<f64>> = HashMap::new();
        for f in findings.iter().filter(|f| f.status != Status::Done) {
            open.insert(key_of(f), f.monthly_saving_usd);
        }
        let days = |first: DateTime<Utc>| (now - first).num_days().max(0);
        let seen = |k: &Key, saving: Option<f64>, first: DateTime<Utc>| Seen {
            policy: k.0.clone(),
            resource_type: k.1,
            region: k.2.clone(),
            resource_id: k.3.clone(),
            monthly_saving_usd: saving,
            first_seen: first,
            days_open: days(first),
        };
        let mut since = SinceLastRun { previous_report_at, ..SinceLastRun::default() };
        for (k, saving) in &open {
            match before.get(k) {
                Some((first, _)) => since.still_open.push(seen(k, *saving, *first)),
                None => since.new.push(seen(k, *saving, now)),
            }
        }
        let mut gone: Vec<&Key> = Vec::new();
        for (k, (first, saving)) in &before {
            if open.contains_key(k) || !scope.covers(&k.0, &k.2) {
                continue;
            }
            gone.push(k);
            since.resolved.push(Resolved {
                finding: seen(k, *saving, *first),
                how: if done.contains(k) { HowResolved::DoneByCostguard } else { HowResolved::NoLongerFound },
            });
        }
        let by_saving = |a: &Option<f64>, b: &Option<f64>| b.unwrap_or(-1.0).total_cmp(&a.unwrap_or(-1.0));
        since.new.sort_by(|a, b| by_saving(&a.monthly_saving_usd, &b.monthly_saving_usd).then_with(|| a.resource_id.cmp(&b.resource_id)));
        since.resolved.sort_by(|a, b| {
            let (a, b) = (&a.finding, &b.finding);
            by_saving(&a.monthly_saving_usd, &b.monthly_saving_usd).then_with(|| a.resource_id.cmp(&b.resource_id))
        });
        since.still_open.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then_with(|| by_saving(&a.monthly_saving_usd, &b.monthly_saving_usd)));
        if let Some(at) = previous_report_at {
            let saved: Vec<_> = ledger::Savings(self.0).rows(Some(at))?.into_iter().filter(|r| r.state == SavingState::Saved).collect();
            let total = ledger::total(&saved);
            (since.saved_usd_monthly, since.saved_changes) = (total.monthly_usd, total.changes);
        }
        let stamp = now.to_rfc3339();
        self.0.with(&SEEN, |c| {
            let tx = c.unchecked_transaction()?;
            for k in gone {
                tx.execute(
                    "DELETE FROM findings_seen WHERE policy = ?1 AND resource_type = ?2 AND region = ?3 AND resource_id = ?4",
                    params![k.0, k.1.name(), k.2, k.3],
                )?;
            }
            {
                let mut upsert = tx.prepare(
                    "INSERT INTO findings_seen (policy, resource_type, region, resource_id, first_seen, last_seen, monthly_saving_usd)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
                     ON CONFLICT (policy, resource_type, region, resource_id) DO UPDATE SET last_seen = ?5, monthly_saving_usd = ?6",
                )?;
                for (k, saving) in &open {
                    upsert.execute(params![k.0, k.1.name(), k.2, k.3, stamp, saving])?;
                }
            }
            tx.execute("INSERT OR REPLACE INTO reports (run_id, written_at, open) VALUES (?1, ?2, ?3)", params![run_id, stamp, open.len() as i64])?;
            tx.commit()
        })?;
        Ok(since)
    }
}
