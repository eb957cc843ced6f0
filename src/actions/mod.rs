//! Actions: what a policy does to the resources it matches.
//!
//! Two are generic and live here: [`notify`] (tell people; changes
//! nothing) and [`mark`] (a grace period before the policy's changes). The
//! changes themselves (`delete`, `stop`, `resize`, `set-retention`, ...) are
//! each resource type's own, asked of its module (`crate::resources`), so
//! a policy's actions compile against its type: `validate` says which a
//! type takes. Actions run only in `engine::apply`; planning never touches AWS.

pub mod mark;
pub mod notify;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::resources::{Change, Permission, Resource, ResourceAction, ResourceType};
use crate::yaml::{self, DecodeError, Node, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Notify(notify::Notify),
    Mark(mark::Mark),
    /// One of the resource type's own changes.
    Change(Change),
}

/// The generic actions, as YAML spells them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum GenericSpec {
    Notify(notify::NotifySpec),
    #[serde(alias = "mark-for-op")]
    Mark(mark::MarkSpec),
}

const GENERIC: &[&str] = &[notify::NAME, mark::NAME, "mark-for-op"];

/// The action an `actions:` entry names: `- delete`, `- type: delete`, or
/// `- {delete: {...}}`.
fn action_name(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Str(name) => Some(name),
        Value::Map(entries) => match node.get("type") {
            Some(t) => t.as_str(),
            None if entries.len() == 1 => entries[0].0.as_str(),
            None => None,
        },
        _ => None,
    }
}

/// Compiles one `actions:` entry for a policy on `resource_type`.
pub fn compile(node: &Node, resource_type: ResourceType, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
    let Some(name) = action_name(node) else {
        errors.push(DecodeError::new(node.loc, path, "expected an action: a name such as `notify`, or a map with `type:`"));
        return None;
    };
    if GENERIC.contains(&name) {
        return match yaml::decode::<GenericSpec>(node, path) {
            Ok(GenericSpec::Notify(spec)) => spec.compile(path, errors).map(Action::Notify),
            Ok(GenericSpec::Mark(spec)) => spec.compile(path, errors).map(Action::Mark),
            Err(e) => {
                errors.push(e);
                None
            }
        };
    }
    if resource_type.action_names().contains(&name) {
        return resource_type.compile_action(node, path, errors).map(Action::Change);
    }
    let takes: Vec<&str> = [notify::NAME, mark::NAME].into_iter().chain(resource_type.action_names().iter().copied()).collect();
    let elsewhere: Vec<&str> = ResourceType::ALL.iter().filter(|t| t.action_names().contains(&name)).map(|t| t.name()).collect();
    let at = node.get("type").map_or(node.loc, |t| t.loc);
    let message = if elsewhere.is_empty() {
        let hint = yaml::closest_name(name, takes.iter().copied()).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
        format!("unknown action type `{name}`{hint} (expected one of: {})", takes.join(", "))
    } else {
        format!("action `{name}` does not apply to {resource_type} (it applies to {}); {resource_type} takes: {}", elsewhere.join(", "), takes.join(", "))
    };
    errors.push(DecodeError::new(at, format!("{path}.type"), message));
    None
}

/// Every action's name joined with `+` (`notify+delete`), `report` when
/// there is none: how findings and the savings ledger name what was done.
pub fn joined_names(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "report".to_string();
    }
    actions.iter().map(Action::name).collect::<Vec<_>>().join("+")
}

/// The names of the changes a grace period holds back, joined with `+`
/// (e.g. `delete`): the action named in a mark.
pub fn gated_names(actions: &[Action]) -> String {
    let names: Vec<&str> = actions.iter().filter(|a| a.is_gated()).map(Action::name).collect();
    names.join("+")
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Notify(_) => notify::NAME,
            Action::Mark(_) => mark::NAME,
            Action::Change(c) => c.name(),
        }
    }

    /// A sentence for the report: what the action would do.
    pub fn describe(&self) -> String {
        match self {
            Action::Notify(a) => a.describe(),
            Action::Mark(a) => a.describe(),
            Action::Change(c) => c.describe(),
        }
    }

    /// Changes AWS, so protection tags and circuit breakers apply.
    pub fn is_mutating(&self) -> bool {
        matches!(self, Action::Mark(_) | Action::Change(_))
    }

    /// A change the policy's `mark` grace period holds back, and which apply
    /// performs only after re-reading the resource.
    pub fn is_gated(&self) -> bool {
        matches!(self, Action::Change(_))
    }

    /// The type-specific change, if this is one.
    pub fn change(&self) -> Option<&Change> {
        match self {
            Action::Change(c) => Some(c),
            Action::Notify(_) | Action::Mark(_) => None,
        }
    }

    /// The IAM actions this action calls on `resource_type`, with their scope.
    pub fn permissions(&self, resource_type: ResourceType) -> Vec<Permission> {
        match self {
            Action::Notify(_) => Vec::new(),
            Action::Mark(_) => resource_type.tag_permissions().iter().map(|a| Permission::on(a, &[resource_type.arn_pattern()])).collect(),
            Action::Change(c) => c.permissions(),
        }
    }

    /// What this action saves a month on `resource`, where it can say.
    pub fn monthly_saving(&self, resource: &Resource, now: DateTime<Utc>) -> Option<f64> {
        self.change().and_then(|c| c.monthly_saving(resource, now))
    }
}
