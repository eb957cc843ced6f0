//! `resize`: move an EC2 instance to the size its `rightsizing` filter
//! recommends: stop, change the type, start.
//!
//! ```yaml
//! filters:
//!   - type: rightsizing
//!     verdict: over-provisioned
//! actions:
//!   - type: mark
//!     days: 7
//!   - resize
//! ```
//!
//! # Guarantees
//! - Runs only after apply has re-read the instance and its metrics and the
//!   re-read assessment still recommends a smaller type; the recommended type
//!   is the one re-assessed, not the one planned.
//! - The old type is journaled before anything changes, so `costguard
//!   restore ec2-instance ID` puts it back.
//! - If the type cannot be changed, the instance is started again on its
//!   old type.
//! - Never touches an instance in an Auto Scaling group or a spot instance.
//!
//! # Caveats
//! - The instance is down for the stop-change-start (typically a minute or
//!   two); instance-store data is lost; without an Elastic IP its public IP
//!   changes.

use std::time::Duration;

use serde::Deserialize;

use super::ActionResult;
use crate::aws::{Aws, AwsError, ErrorKind};
use crate::filters::rightsizing::Assessment;
use crate::resources::{Details, Resource, ResourceType};

pub const NAME: &str = "resize";
pub const RESOURCE_TYPES: &[ResourceType] = &[ResourceType::Ec2Instance];
pub const PERMISSIONS: &[&str] = &["ec2:StopInstances", "ec2:ModifyInstanceAttribute", "ec2:StartInstances"];

/// How long an instance may take to stop before the resize gives up.
const STOP_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeSpec {}

#[derive(Clone, Debug, PartialEq)]
pub struct Resize;

pub fn instance_type(resource: &Resource) -> Option<&str> {
    match &resource.details {
        Details::Ec2Instance(e) => Some(&e.instance.instance_type),
        _ => None,
    }
}

fn timeout(operation: &'static str, message: String) -> AwsError {
    AwsError::new("ec2", operation, "Timeout", message, ErrorKind::Transient)
}

impl Resize {
    pub fn describe(&self) -> String {
        "resize to the recommended type (stop, change type, start)".to_string()
    }

    /// After an interruption: the type differs from the one journaled.
    pub fn took_effect(before: &Resource, now: Option<&Resource>) -> bool {
        now.and_then(instance_type).is_some_and(|t| Some(t) != instance_type(before))
    }

    pub async fn apply(&self, aws: &Aws, resource: &Resource, assessment: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let Some(target) = assessment.and_then(|a| a.parts.first()).and_then(|p| p.recommended_type.clone()) else {
            return Ok(ActionResult::AlreadyDone("no smaller type recommended when re-read".to_string()));
        };
        let Some(current) = instance_type(resource).map(str::to_string) else {
            return Ok(ActionResult::AlreadyDone("not an EC2 instance".to_string()));
        };
        if current == target {
            return Ok(ActionResult::AlreadyDone(format!("already {target}")));
        }
        let ec2 = aws.ec2(&resource.region);
        let id = &resource.id;
        match ec2.stop(id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("instance no longer exists".to_string())),
            Err(e) => return Err(e),
        }
        let state = ec2.wait_for_state(id, "stopped", STOP_TIMEOUT).await?;
        if state != "stopped" {
            return Err(timeout("StopInstances", format!("{id} was {state}, not stopped, after {} s; type left at {current}", STOP_TIMEOUT.as_secs())));
        }
        if let Err(e) = ec2.set_instance_type(id, &target).await {
            let restarted = ec2.start(id).await;
            let note = match restarted {
                Ok(()) => format!("started again on {current}"),
                Err(start) => format!("and could not start it again: {start}"),
            };
            return Err(AwsError { message: format!("{} ({note})", e.message), ..e });
        }
        ec2.start(id).await?;
        Ok(ActionResult::Done(format!("resized {current} -> {target} (stopped, changed, started)")))
    }
}
