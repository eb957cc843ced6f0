//! `stop`: stop a SageMaker notebook instance or an EC2 instance. Storage
//! volumes and everything on them are kept; starting it again (`costguard
//! restore`) gives it back as it was.
//!
//! ```yaml
//! actions:
//!   - type: mark
//!     days: 3
//!   - stop
//! ```
//!
//! # Guarantees
//! - Runs only after apply has re-read the notebook, found it still
//!   matching and unprotected, and journaled it.
//! - A notebook or instance already stopped or gone is "already done".
//! - Never stops an EC2 instance in an Auto Scaling group (the group would
//!   replace it) or a spot instance (most cannot be stopped): the plan skips
//!   them and says why.
//!
//! # Caveats
//! - Unsaved state in memory is lost, as with any stop; instance-store
//!   volumes of an EC2 instance are wiped.
//! - An EC2 instance without an Elastic IP gets a new public IP when started.

use super::ActionResult;
use crate::aws::{Aws, AwsError};
use crate::resources::{Details, Resource, ResourceType};

pub const NAME: &str = "stop";
pub const RESOURCE_TYPES: &[ResourceType] = &[ResourceType::SagemakerNotebook, ResourceType::Ec2Instance];
/// Re-reads the notebook right before stopping it.
pub const PERMISSIONS: &[&str] = &["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"];
pub const EC2_PERMISSIONS: &[&str] = &["ec2:StopInstances"];

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopSpec {}

#[derive(Clone, Debug, PartialEq)]
pub struct Stop;

fn is_stopped(resource: &Resource) -> bool {
    match &resource.details {
        Details::SagemakerNotebook(n) => n.status == "Stopped" || n.status == "Stopping",
        Details::Ec2Instance(e) => matches!(e.instance.state.as_str(), "stopped" | "stopping" | "shutting-down" | "terminated"),
        _ => false,
    }
}

/// Why an EC2 instance must not be stopped or resized by costguard, if so.
pub fn ec2_refusal(resource: &Resource) -> Option<String> {
    let Details::Ec2Instance(e) = &resource.details else { return None };
    if let Some(group) = e.instance.auto_scaling_group() {
        return Some(format!("member of Auto Scaling group {group}: the group would replace it; change the group's launch template instead"));
    }
    if e.instance.lifecycle.as_deref() == Some("spot") {
        return Some("spot instance: costguard does not stop or resize spot instances".to_string());
    }
    None
}

impl Stop {
    pub fn describe(&self) -> String {
        "stop the instance (its storage is kept)".to_string()
    }

    pub fn already_satisfied(&self, resource: &Resource) -> bool {
        is_stopped(resource)
    }

    pub fn took_effect(now: Option<&Resource>) -> bool {
        now.is_none_or(is_stopped)
    }

    pub async fn apply(&self, aws: &Aws, resource: &Resource) -> Result<ActionResult, AwsError> {
        let result = match resource.resource_type() {
            ResourceType::Ec2Instance => aws.ec2(&resource.region).stop(&resource.id).await,
            _ => aws.sagemaker(&resource.region).stop_notebook(&resource.id).await,
        };
        match result {
            Ok(()) => Ok(ActionResult::Done("instance stopping".to_string())),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("instance no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }
}
