//! Undo: bring back what costguard changed, from the journal.
//!
//! `costguard restore TYPE NAME` finds the latest change costguard made to
//! the resource and asks the resource's type to undo it (re-create a
//! deleted endpoint from its config, start what was stopped, put a type or
//! a retention back), from the resource as journaled right before the
//! change. The restore is journaled too. Each type's module says what it
//! can undo and how.

use super::journal::{Journal, JournalError};
use crate::aws::Aws;
use crate::clock::Clock;
use crate::resources::{self, ResourceType};

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
    let Some(entry) = journal.last_done(resource_type, name, actions)? else {
        return Err(RestoreError::NothingToRestore {
            journal: journal.path().display().to_string(),
            action: actions.join(" or "),
            resource_type,
            name: name.to_string(),
        });
    };
    let done = resource_type.restore(aws, &entry.action, &entry.resource, &entry.run_id).await?;
    let run_id = format!("restore-{}", uuid::Uuid::new_v4());
    journal.record_done(&run_id, "restore", &entry.resource, &done, clock.now())?;
    // The saving is taken back: the resource costs again.
    journal.set_saving_state(resource_type, &entry.resource.region, name, super::ledger::SavingState::Restored, clock.now())?;
    Ok(done)
}
