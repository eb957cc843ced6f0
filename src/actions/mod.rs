//! Actions: what a policy does to the resources it matches.
//!
//! Each action has one file: its YAML spec, its compiled form, the IAM
//! permissions it needs, and the one function that calls AWS. Actions run
//! only in `engine::apply`; planning never touches AWS.

pub mod delete;
pub mod mark;
pub mod notify;
pub mod resize;
pub mod set_retention;
pub mod stop;

use serde::Deserialize;

use crate::aws::{Aws, AwsError};
use crate::config::yaml::DecodeError;
use crate::filters::rightsizing::Assessment;
use crate::resources::{Resource, ResourceType};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionSpec {
    SetRetention(set_retention::SetRetentionSpec),
    Notify(notify::NotifySpec),
    #[serde(alias = "mark-for-op")]
    Mark(mark::MarkSpec),
    Delete(delete::DeleteSpec),
    Stop(stop::StopSpec),
    Resize(resize::ResizeSpec),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    SetRetention(set_retention::SetRetention),
    Notify(notify::Notify),
    Mark(mark::Mark),
    Delete(delete::Delete),
    Stop(stop::Stop),
    Resize(resize::Resize),
}

/// The names of the changes a grace period holds back, joined with `+`
/// (e.g. `delete`): the action named in a mark.
pub fn gated_names(actions: &[Action]) -> String {
    let names: Vec<&str> = actions.iter().filter(|a| a.is_gated()).map(Action::name).collect();
    names.join("+")
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
            ActionSpec::Notify(_) => notify::NAME,
            ActionSpec::Mark(_) => mark::NAME,
            ActionSpec::Delete(_) => delete::NAME,
            ActionSpec::Stop(_) => stop::NAME,
            ActionSpec::Resize(_) => resize::NAME,
        }
    }

    fn resource_types(&self) -> &'static [ResourceType] {
        match self {
            ActionSpec::SetRetention(_) => set_retention::RESOURCE_TYPES,
            ActionSpec::Notify(_) => notify::RESOURCE_TYPES,
            ActionSpec::Mark(_) => mark::RESOURCE_TYPES,
            ActionSpec::Delete(_) => delete::RESOURCE_TYPES,
            ActionSpec::Stop(_) => stop::RESOURCE_TYPES,
            ActionSpec::Resize(_) => resize::RESOURCE_TYPES,
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
            ActionSpec::Notify(spec) => spec.compile(path, errors).map(Action::Notify),
            ActionSpec::Mark(spec) => spec.compile(path, errors).map(Action::Mark),
            ActionSpec::Delete(spec) => Some(Action::Delete(delete::Delete { delete_config: spec.delete_config })),
            ActionSpec::Stop(_) => Some(Action::Stop(stop::Stop)),
            ActionSpec::Resize(_) => Some(Action::Resize(resize::Resize)),
        }
    }
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetRetention(_) => set_retention::NAME,
            Action::Notify(_) => notify::NAME,
            Action::Mark(_) => mark::NAME,
            Action::Delete(_) => delete::NAME,
            Action::Stop(_) => stop::NAME,
            Action::Resize(_) => resize::NAME,
        }
    }

    /// A sentence for the report: what the action would do.
    pub fn describe(&self) -> String {
        match self {
            Action::SetRetention(a) => a.describe(),
            Action::Notify(a) => a.describe(),
            Action::Mark(a) => a.describe(),
            Action::Delete(a) => a.describe(),
            Action::Stop(a) => a.describe(),
            Action::Resize(a) => a.describe(),
        }
    }

    /// Changes AWS, so protection tags and circuit breakers apply.
    pub fn is_mutating(&self) -> bool {
        match self {
            Action::SetRetention(_) | Action::Mark(_) | Action::Delete(_) | Action::Stop(_) | Action::Resize(_) => true,
            Action::Notify(_) => false,
        }
    }

    /// A change the policy's `mark` grace period holds back, and which apply
    /// performs only after re-reading the resource.
    pub fn is_gated(&self) -> bool {
        match self {
            Action::SetRetention(_) | Action::Delete(_) | Action::Stop(_) | Action::Resize(_) => true,
            Action::Notify(_) | Action::Mark(_) => false,
        }
    }

    /// Whether the resource, as read after a crash, shows this action
    /// happened; `before` is as journaled, `None` means it is gone now.
    pub fn took_effect(&self, before: &Resource, now: Option<&Resource>) -> bool {
        match self {
            Action::SetRetention(a) => now.is_some_and(|r| a.already_satisfied(r)),
            Action::Delete(_) => delete::Delete::took_effect(now),
            Action::Stop(_) => stop::Stop::took_effect(now),
            Action::Resize(_) => resize::Resize::took_effect(before, now),
            Action::Notify(_) | Action::Mark(_) => true,
        }
    }

    /// Why this action must never run on `resource`, whatever the policy
    /// says (reported as a skip).
    pub fn refusal(&self, resource: &Resource) -> Option<String> {
        match self {
            Action::Stop(_) | Action::Resize(_) => stop::ec2_refusal(resource),
            Action::SetRetention(_) | Action::Notify(_) | Action::Mark(_) | Action::Delete(_) => None,
        }
    }

    /// IAM actions this action calls on `resource_type`.
    pub fn permissions(&self, resource_type: ResourceType) -> &'static [&'static str] {
        match self {
            Action::SetRetention(_) => set_retention::PERMISSIONS,
            Action::Notify(_) => notify::PERMISSIONS,
            Action::Mark(_) if resource_type == ResourceType::Ec2Instance => mark::EC2_PERMISSIONS,
            Action::Mark(_) => mark::PERMISSIONS,
            Action::Delete(a) if a.delete_config => delete::CONFIG_PERMISSIONS,
            Action::Delete(_) => delete::PERMISSIONS,
            Action::Stop(_) if resource_type == ResourceType::Ec2Instance => stop::EC2_PERMISSIONS,
            Action::Stop(_) => stop::PERMISSIONS,
            Action::Resize(_) => resize::PERMISSIONS,
        }
    }

    /// What this action saves a month on `resource`, where it can say:
    /// the whole cost of what it deletes or stops, the storage a shorter
    /// retention frees. (A resize's saving is its rightsizing assessment's.)
    pub fn monthly_saving(&self, resource: &Resource, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
        match self {
            Action::Delete(_) | Action::Stop(_) => resource.monthly_cost_usd,
            Action::SetRetention(a) => a.monthly_saving(resource, now),
            Action::Notify(_) | Action::Mark(_) | Action::Resize(_) => None,
        }
    }

    /// Whether the resource already is as the action would leave it; such
    /// matches are reported, not acted on.
    pub fn already_satisfied(&self, resource: &Resource) -> bool {
        match self {
            Action::SetRetention(a) => a.already_satisfied(resource),
            Action::Stop(a) => a.already_satisfied(resource),
            Action::Notify(_) | Action::Mark(_) | Action::Delete(_) | Action::Resize(_) => false,
        }
    }

    /// Runs the action on `resource` as just re-read; `assessment` is its
    /// rightsizing assessment on that re-read, where the policy has one.
    pub async fn apply(&self, aws: &Aws, resource: &Resource, assessment: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        match self {
            Action::SetRetention(a) => a.apply(aws, resource).await,
            Action::Delete(a) => a.apply(aws, resource).await,
            Action::Stop(a) => a.apply(aws, resource).await,
            Action::Resize(a) => a.apply(aws, resource, assessment).await,
            // Marks are written by apply itself (tag + journal); notify by the mailer.
            Action::Notify(_) | Action::Mark(_) => Ok(ActionResult::AlreadyDone("nothing to change in AWS".to_string())),
        }
    }
}
