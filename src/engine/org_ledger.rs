//! An organization's savings ledger: the ledgers of its accounts (each
//! in its own state folder, `accounts/<id>/journal.sqlite`, under the run's
//! state folder; one per shard) read as one, for `costguard savings
//! --organization`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::db::JournalError;
use super::journal::Journal;
use super::ledger::LedgerRow;
use super::sleeps::ScheduledSaving;

/// The ledgers of an organization's accounts, as one: every
/// `accounts/<id>/journal.sqlite` under each state folder (a sharded run
/// has one per shard), read in order; a row twice (the same change in two
/// copies of a folder) counts once.
pub fn organization_rows(state_dirs: &[PathBuf], since: Option<DateTime<Utc>>) -> Result<OrgLedger, OrgLedgerError> {
    let mut journals = Vec::new();
    for dir in state_dirs {
        let accounts = dir.join("accounts");
        let listed = std::fs::read_dir(&accounts).map_err(|source| OrgLedgerError::Folder { path: accounts.clone(), source })?;
        let mut found: Vec<PathBuf> =
            listed.filter_map(Result::ok).map(|e| e.path().join(crate::config::daemon::JOURNAL_FILE)).filter(|p| p.is_file()).collect();
        found.sort();
        journals.extend(found);
    }
    let (mut rows, mut scheduled) = (Vec::new(), Vec::new());
    for path in &journals {
        let journal = Journal::open(path)?;
        rows.extend(journal.savings().rows(since)?);
        scheduled.extend(journal.sleeps().scheduled(since)?);
    }
    let mut seen = std::collections::HashSet::new();
    rows.retain(|r| {
        seen.insert((r.saving.account_id.clone(), r.run_id.clone(), r.saving.resource_type, r.saving.region.clone(), r.saving.resource_id.clone(), r.done_at))
    });
    rows.sort_by(|a, b| a.done_at.cmp(&b.done_at).then_with(|| a.saving.account_id.cmp(&b.saving.account_id)));
    Ok(OrgLedger { rows, scheduled, journals })
}

/// An organization's ledgers read as one.
pub struct OrgLedger {
    pub rows: Vec<LedgerRow>,
    pub scheduled: Vec<ScheduledSaving>,
    /// The journals read, one per account (and shard).
    pub journals: Vec<PathBuf>,
}

/// Why an organization's ledgers cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OrgLedgerError {
    #[error("{}: cannot read the accounts' state folders ({source}); is this an organization sweep's state folder?", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Journal(#[from] JournalError),
}
