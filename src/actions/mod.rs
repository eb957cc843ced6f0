//! Actions: what a policy does to the resources it matches.
//!
//! Each action has one file: its YAML spec, its compiled form, the IAM
//! permissions it needs, and the one function that calls AWS. Actions run
//! only in `engine::apply`; planning never touches AWS.

pub mod set_retention;

use serde::Deserialize;

use crate::aws::{Aws, AwsError};
use crate::config::yaml::DecodeError;
use crate::resources::{Resource, ResourceType};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionSpec {
    SetRetention(set_retention::SetRetentionSpec),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    SetRetention(set_retention::SetRetention),
}

/// What happened when an action ran.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionResult {
    /// AWS changed; the message says how.
    Done(String),
    /// Nothing to change (the resource is gone, or already as wanted).
    AlreadyDone(String),
}

impl ActionSpec {
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::SetRetention(_) => set_retention::NAME,
        }
    }

    fn resource_types(&self) -> &'static [ResourceType] {
        match self {
            ActionSpec::SetRetention(_) => set_retention::RESOURCE_TYPES,
        }
    }

    pub fn compile(&self, resource_type: ResourceType, path: &str, loc: crate::config::yaml::Loc, errors: &mut Vec<DecodeError>) -> Option<Action> {
        if !self.resource_types().contains(&resource_type) {
            errors.push(DecodeError::new(
                loc,
                format!("{path}.type"),
                format!("action `{}` does not apply to {resource_type}", self.name()),
            ));
            return None;
        }
        match self {
            ActionSpec::SetRetention(spec) => spec.compile(path, errors).map(Action::SetRetention),
        }
    }
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetRetention(_) => set_retention::NAME,
        }
    }

    /// A sentence for the report: what the action would do.
    pub fn describe(&self) -> String {
        match self {
            Action::SetRetention(a) => a.describe(),
        }
    }

    /// Changes AWS, so protection tags and circuit breakers apply.
    pub fn is_mutating(&self) -> bool {
        match self {
            Action::SetRetention(_) => true,
        }
    }

    /// IAM actions this action calls.
    pub fn permissions(&self) -> &'static [&'static str] {
        match self {
            Action::SetRetention(_) => set_retention::PERMISSIONS,
        }
    }

    /// Whether the resource already is as the action would leave it; such
    /// matches are reported, not acted on.
    pub fn already_satisfied(&self, resource: &Resource) -> bool {
        match self {
            Action::SetRetention(a) => a.already_satisfied(resource),
        }
    }

    pub async fn apply(&self, aws: &Aws, resource: &Resource) -> Result<ActionResult, AwsError> {
        match self {
            Action::SetRetention(a) => a.apply(aws, resource).await,
        }
    }
}
