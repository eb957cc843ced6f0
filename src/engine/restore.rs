//! Undo: bring back what costguard changed, from the journal.
//!
//! `costguard restore TYPE NAME` finds the latest change costguard made to
//! the resource and asks the resource's type to undo it (re-create a
//! deleted endpoint from its config, start what was stopped, put a type or
//! a retention back), from the resource as journaled right before the
//! change. Each type's module says what it can undo and how.
//!
//! # Guarantees
//! - A restore is journaled before AWS is called (`intent`, naming the
//!   change it undoes) and settled after; the savings of what it brings
//!   back stop counting in the same transaction that records it done.
//! - A restore that fails part way (an AWS error after a first call, or a
//!   crash) stays open (`incomplete` or `intent`): the next sweep finishes
//!   it ([`finish`]) or reports why it cannot, and a new `restore` of the
//!   same change takes its place.

use super::actions::{ActionState, Intent, JournalEntry};
use super::journal::{Journal, JournalError};
use crate::aws::Aws;
use crate::clock::Clock;
use crate::resources::{self, ResourceType};

/// The journal's name for a restore.
pub const RESTORE: &str = "restore";

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Resource(#[from] resources::RestoreError),
    #[error("the journal {journal} records no {action} of {resource_type} {name}")]
    NothingToRestore { journal: String, action: String, resource_type: ResourceType, name: String },
}

/// Restores one resource; returns a sentence saying what was done.
pub async fn restore(aws: &Aws, journal: &Journal, resource_type: ResourceType, name: &str, clock: &Clock) -> Result<String, RestoreError> {
    let actions = resource_type.action_names();
    let Some(entry) = journal.actions().last_done(resource_type, name, &actions)? else {
        return Err(RestoreError::NothingToRestore {
            journal: journal.path().display().to_string(),
            action: actions.join(" or "),
            resource_type,
            name: name.to_string(),
        });
    };
    restore_entry(aws, journal, &entry, clock).await
}

/// Undoes one journaled change (`entry`, done): a restore, or the wake-up
/// of what an off-hours policy put to sleep.
pub async fn restore_entry(aws: &Aws, journal: &Journal, entry: &JournalEntry, clock: &Clock) -> Result<String, RestoreError> {
    let (resource_type, name) = (entry.resource.resource_type(), &entry.resource.id);
    let run_id = format!("restore-{}", uuid::Uuid::new_v4());
    let interrupted = journal.actions().supersede_restores(entry.id, &run_id, clock.now())?;
    let intent = Intent { run_id: &run_id, policy: "", action: RESTORE, resource: &entry.resource, saving: None, undoes: Some(entry.id) };
    let id = journal.actions().record_intent(&intent, clock.now())?;
    match resource_type.restore(aws, &entry.action, &entry.resource, &entry.run_id).await {
        Ok(done) => {
            journal.actions().settle(id, ActionState::Done, &done, clock.now())?;
            Ok(done)
        }
        // A restore of it was interrupted after AWS had taken it (and no
        // other restore of it is recorded done).
        Err(resources::RestoreError::AlreadyExists { .. }) if interrupted > 0 && !journal.actions().restored(entry.id)? => {
            let done = format!("{resource_type} {name} was already restored by an interrupted restore; the journal now says so");
            journal.actions().settle(id, ActionState::Done, &done, clock.now())?;
            Ok(done)
        }
        Err(e) => {
            let state = if e.changed_nothing() { ActionState::Failed } else { ActionState::Incomplete };
            journal.actions().settle(id, state, &e.to_string(), clock.now())?;
            Err(e.into())
        }
    }
}

/// How finishing an open restore went.
pub enum Finished {
    /// Done now (or found done): a line for the log.
    Done(String),
    /// Cannot be finished by running it again: a problem for the report.
    Refused(String),
    /// Still open: the next run tries again.
    Pending(String),
}

/// Finishes a restore a crash or a failure left open (`row`), by running
/// it again: each type's restore brings the resource back to the journaled
/// state from wherever it is, and says when it already is there.
pub async fn finish(aws: &Aws, journal: &Journal, row: &JournalEntry, undoes: i64, clock: &Clock) -> Result<Finished, JournalError> {
    let what = format!("restore of {} {}", row.resource.resource_type(), row.resource.id);
    let Some(undone) = journal.actions().entry(undoes)? else {
        let why = format!("the change it undoes (journal row {undoes}) is no longer in the journal");
        journal.actions().settle(row.id, ActionState::Failed, &why, clock.now())?;
        return Ok(Finished::Refused(format!("{what} left unfinished: {why}; check it by hand")));
    };
    let rt = undone.resource.resource_type();
    let (state, detail, finished) = match rt.restore(aws, &undone.action, &undone.resource, &undone.run_id).await {
        Ok(done) => {
            let detail = format!("finished after an interruption: {done}");
            (ActionState::Done, detail.clone(), Finished::Done(format!("{what}: {detail}")))
        }
        // Restored by another restore of the same change, recorded done: this one did nothing.
        Err(resources::RestoreError::AlreadyExists { .. }) if journal.actions().restored(undoes)? => {
            let detail = "settled after an interruption: another restore had brought it back".to_string();
            (ActionState::AlreadyDone, detail.clone(), Finished::Done(format!("{what}: {detail}")))
        }
        Err(resources::RestoreError::AlreadyExists { .. }) => {
            let detail = "settled after an interruption: it had been restored".to_string();
            (ActionState::Done, detail.clone(), Finished::Done(format!("{what}: {detail}")))
        }
        Err(e) if e.changed_nothing() => {
            let detail = format!("could not be finished: {e}");
            (ActionState::Failed, detail.clone(), Finished::Refused(format!("{what} {detail}; run `costguard restore` again once that is put right")))
        }
        Err(e) => {
            let detail = format!("still unfinished: {e}");
            (ActionState::Incomplete, detail.clone(), Finished::Pending(format!("{what} {detail}; the next run tries again")))
        }
    };
    journal.actions().settle(row.id, state, &detail, clock.now())?;
    Ok(finished)
}
