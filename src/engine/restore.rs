//! Undo: bring back what costguard deleted or stopped, from the journal.
//!
//! `costguard restore sagemaker-endpoint NAME` re-creates the endpoint with
//! the same name, endpoint config and tags (minus costguard's mark), as the
//! journal recorded them right before the deletion. `costguard restore
//! sagemaker-notebook NAME` starts a notebook costguard stopped. `costguard
//! restore ec2-instance ID` starts an instance costguard stopped, or puts
//! back the type a resize changed (stop, change type, start). Each restore
//! is journaled too.

use super::journal::{Journal, JournalError};
use crate::actions::mark;
use crate::aws::{Aws, AwsError};
use crate::clock::Clock;
use crate::resources::{Details, ResourceType};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("the journal {journal} records no {action} of {resource_type} {name}")]
    NothingToRestore { journal: String, action: String, resource_type: ResourceType, name: String },
    #[error("{0}")]
    NotRestorable(String),
    #[error("{resource_type} {name} already exists in {region}; nothing to restore")]
    AlreadyExists { resource_type: ResourceType, name: String, region: String },
    #[error("endpoint config {config} no longer exists (deleted with `delete-config: true`, or by hand); re-create it, then run restore again")]
    ConfigGone { config: String },
    #[error("{0} cannot be restored by costguard")]
    Unsupported(ResourceType),
}

/// Restores one resource; returns a sentence saying what was done.
pub async fn restore(aws: &Aws, journal: &Journal, resource_type: ResourceType, name: &str, clock: &Clock) -> Result<String, RestoreError> {
    let actions: &[&str] = match resource_type {
        ResourceType::SagemakerEndpoint => &["delete"],
        ResourceType::SagemakerNotebook => &["stop"],
        ResourceType::Ec2Instance => &["stop", "resize"],
        other => return Err(RestoreError::Unsupported(other)),
    };
    let Some(entry) = journal.last_done(resource_type, name, actions)? else {
        return Err(RestoreError::NothingToRestore {
            journal: journal.path().display().to_string(),
            action: actions.join(" or "),
            resource_type,
            name: name.to_string(),
        });
    };
    let recorded = entry.resource;
    let client = aws.sagemaker(&recorded.region);
    let run_id = format!("restore-{}", uuid::Uuid::new_v4());
    let done = match &recorded.details {
        Details::SagemakerEndpoint(endpoint) => {
            if client.describe_endpoint(name).await?.is_some() {
                return Err(RestoreError::AlreadyExists { resource_type, name: name.to_string(), region: recorded.region.clone() });
            }
            let config = endpoint.description.as_ref().map(|d| d.config_name.clone()).unwrap_or_default();
            if config.is_empty() || !client.endpoint_config_exists(&config).await? {
                return Err(RestoreError::ConfigGone { config });
            }
            let mut tags = recorded.tags.clone();
            tags.remove(mark::TAG);
            client.create_endpoint(name, &config, &tags).await?;
            format!("re-created endpoint {name} in {} from endpoint config {config} with {} tags (deleted by run {})", recorded.region, tags.len(), entry.run_id)
        }
        Details::SagemakerNotebook(_) => {
            client.start_notebook(name).await?;
            format!("started notebook instance {name} in {} (stopped by run {})", recorded.region, entry.run_id)
        }
        Details::Ec2Instance(before) => restore_instance(aws, &recorded.region, name, &entry.action, &before.instance.instance_type, &entry.run_id).await?,
        Details::LogGroup(_) => return Err(RestoreError::Unsupported(resource_type)),
    };
    journal.record_done(&run_id, "restore", &recorded, &done, clock.now())?;
    Ok(done)
}

/// Starts a stopped instance, or gives a resized one its old type back.
async fn restore_instance(aws: &Aws, region: &str, id: &str, action: &str, old_type: &str, run_id: &str) -> Result<String, RestoreError> {
    let ec2 = aws.ec2(region);
    let Some(now) = ec2.get_instance(id).await? else {
        return Err(RestoreError::NotRestorable(format!("instance {id} no longer exists in {region}")));
    };
    if action == "stop" {
        if now.state == "running" || now.state == "pending" {
            return Err(RestoreError::AlreadyExists { resource_type: ResourceType::Ec2Instance, name: format!("{id} (already {})", now.state), region: region.to_string() });
        }
        ec2.start(id).await?;
        return Ok(format!("started instance {id} in {region} (stopped by run {run_id})"));
    }
    if now.instance_type == old_type {
        return Err(RestoreError::NotRestorable(format!("instance {id} is already {old_type}; nothing to restore")));
    }
    let was_running = now.state == "running" || now.state == "pending";
    if was_running {
        ec2.stop(id).await?;
        let state = ec2.wait_for_state(id, "stopped", std::time::Duration::from_secs(600)).await?;
        if state != "stopped" {
            return Err(RestoreError::NotRestorable(format!("instance {id} did not stop (it is {state}); its type is still {}", now.instance_type)));
        }
    }
    ec2.set_instance_type(id, old_type).await?;
    if was_running {
        ec2.start(id).await?;
    }
    Ok(format!("instance {id} in {region} is {old_type} again (was {}; resized by run {run_id})", now.instance_type))
}
