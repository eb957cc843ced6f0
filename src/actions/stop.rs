//! `stop`: stop a SageMaker notebook instance. Its storage volume and
//! everything on it are kept; starting it again gives it back as it was.
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
//! - A notebook already stopped or gone is "already done".
//!
//! # Caveats
//! - Unsaved kernel state in the notebook is lost, as with any stop.

use super::ActionResult;
use crate::aws::{Aws, AwsError};
use crate::resources::{Details, Resource, ResourceType};

pub const NAME: &str = "stop";
pub const RESOURCE_TYPES: &[ResourceType] = &[ResourceType::SagemakerNotebook];
pub const PERMISSIONS: &[&str] = &["sagemaker:StopNotebookInstance"];

#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopSpec {}

#[derive(Clone, Debug, PartialEq)]
pub struct Stop;

fn is_stopped(resource: &Resource) -> bool {
    matches!(&resource.details, Details::SagemakerNotebook(n) if n.status == "Stopped" || n.status == "Stopping")
}

impl Stop {
    pub fn describe(&self) -> String {
        "stop the notebook instance (its storage is kept)".to_string()
    }

    pub fn already_satisfied(&self, resource: &Resource) -> bool {
        is_stopped(resource)
    }

    pub fn took_effect(now: Option<&Resource>) -> bool {
        now.is_none_or(is_stopped)
    }

    pub async fn apply(&self, aws: &Aws, resource: &Resource) -> Result<ActionResult, AwsError> {
        match aws.sagemaker(&resource.region).stop_notebook(&resource.id).await {
            Ok(()) => Ok(ActionResult::Done("notebook instance stopping".to_string())),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("notebook instance no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }
}
