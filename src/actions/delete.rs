//! `delete`: delete a SageMaker endpoint, keeping what it needs to come back.
//!
//! ```yaml
//! actions:
//!   - type: mark
//!     days: 7
//!   - type: delete
//!     delete-config: false   # the default: keep the endpoint config and model
//! ```
//!
//! # Guarantees
//! - Runs only after apply has re-read the endpoint, found it still
//!   matching and unprotected, and journaled its full description.
//! - The endpoint config and model are kept by default, so
//!   `costguard restore sagemaker-endpoint NAME` can bring it back.
//! - An endpoint already gone is "already done", not a failure.
//!
//! # Caveats
//! - `delete-config: true` also deletes the endpoint config; a restore then
//!   needs the config re-created first.
//! - Whoever calls the endpoint gets errors until it is restored.

use serde::Deserialize;

use super::ActionResult;
use crate::aws::{Aws, AwsError};
use crate::resources::{Details, Resource, ResourceType};

pub const NAME: &str = "delete";
pub const RESOURCE_TYPES: &[ResourceType] = &[ResourceType::SagemakerEndpoint];
pub const PERMISSIONS: &[&str] = &["sagemaker:DeleteEndpoint"];
pub const CONFIG_PERMISSIONS: &[&str] = &["sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig"];

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeleteSpec {
    #[serde(default)]
    pub delete_config: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Delete {
    pub delete_config: bool,
}

impl Delete {
    pub fn describe(&self) -> String {
        if self.delete_config {
            "delete the endpoint and its endpoint config".to_string()
        } else {
            "delete the endpoint (config and model kept for restore)".to_string()
        }
    }

    /// Whether the resource as read now shows the deletion happened.
    pub fn took_effect(now: Option<&Resource>) -> bool {
        match now.map(|r| &r.details) {
            None => true,
            Some(Details::SagemakerEndpoint(e)) => e.summary.status == "Deleting",
            Some(_) => false,
        }
    }

    pub async fn apply(&self, aws: &Aws, resource: &Resource) -> Result<ActionResult, AwsError> {
        let client = aws.sagemaker(&resource.region);
        match client.delete_endpoint(&resource.id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("endpoint no longer exists".to_string())),
            Err(e) => return Err(e),
        }
        let config = match &resource.details {
            Details::SagemakerEndpoint(e) => e.description.as_ref().map(|d| d.config_name.clone()),
            _ => None,
        };
        match (self.delete_config, config) {
            (true, Some(config)) => match client.delete_endpoint_config(&config).await {
                Ok(()) => Ok(ActionResult::Done(format!("endpoint deleted; endpoint config {config} deleted"))),
                Err(e) if e.is_not_found() => Ok(ActionResult::Done(format!("endpoint deleted; endpoint config {config} was already gone"))),
                Err(e) => Err(e),
            },
            (_, Some(config)) => Ok(ActionResult::Done(format!("endpoint deleted; endpoint config {config} kept for restore"))),
            (_, None) => Ok(ActionResult::Done("endpoint deleted".to_string())),
        }
    }
}
