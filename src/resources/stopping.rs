//! What the types that stop share (a notebook instance, an MLflow tracking
//! server): their `stop` change, undone by starting them again.
//!
//! ```yaml
//! actions:
//!   - stop
//! ```

use std::future::Future;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::sizes::Assessment;
use super::{Kind, Permission, Registered, Resource, ResourceAction};
use crate::aws::{Aws, AwsError};
use crate::outcome::ActionResult;
use crate::yaml::{self, DecodeError, Node};

/// The change's name, as policies and the journal write it.
pub const STOP: &str = "stop";

/// A type a change can stop and a restore start again.
pub trait Stoppable: Registered {
    /// The IAM actions that stop and start it.
    const STOP_PERMISSION: &'static str;
    const START_PERMISSION: &'static str;
    /// What stopping it keeps, as the plan says it: "its storage is kept".
    const KEEPS: &'static str;

    /// Whether it is stopped (or stopping) as described.
    fn stopped(details: &Self::Details) -> bool;

    fn stop(aws: &Aws, resource: &Resource) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn start(aws: &Aws, resource: &Resource) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// `stop` on a `K`.
pub struct Stop<K>(PhantomData<fn() -> K>);

impl<K> Clone for Stop<K> {
    fn clone(&self) -> Self {
        Stop(PhantomData)
    }
}

impl<K> std::fmt::Debug for Stop<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stop")
    }
}

impl<K> PartialEq for Stop<K> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Stop(NoFields),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// Compiles the change from its YAML node.
pub fn compile<K>(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Stop<K>> {
    match yaml::decode::<ActionSpec>(node, path) {
        Ok(ActionSpec::Stop(_)) => Some(Stop(PhantomData)),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn is_stopped<K: Stoppable>(resource: &Resource) -> bool {
    K::details_of(resource).is_some_and(K::stopped)
}

impl<K: Stoppable> ResourceAction for Stop<K> {
    fn name(&self) -> &'static str {
        STOP
    }

    fn describe(&self) -> String {
        format!("stop the {} ({})", <K as Kind>::NOUN, K::KEEPS)
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission::on(K::STOP_PERMISSION, &[<K as Kind>::ARN_PATTERN])]
    }

    fn restore_permissions(&self) -> Vec<Permission> {
        vec![Permission::on(K::START_PERMISSION, &[<K as Kind>::ARN_PATTERN])]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        is_stopped::<K>(resource)
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        None
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_none_or(is_stopped::<K>)
    }

    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        resource.monthly_cost_usd
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        match K::stop(aws, resource).await {
            Ok(()) => Ok(ActionResult::Done(format!("{} stopping", <K as Kind>::NOUN))),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone(format!("the {} no longer exists", <K as Kind>::NOUN))),
            Err(e) => Err(e),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// Starts `before` again: what the type's `restore` does for `stop`.
pub async fn restore<K: Stoppable>(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, super::RestoreError> {
    if action != STOP {
        return Err(super::RestoreError::NotRestorable(format!("{action} of a {} cannot be undone", <K as Kind>::NOUN)));
    }
    K::start(aws, before).await?;
    Ok(format!("started {} {} in {} (stopped by run {run_id})", <K as Kind>::NOUN, before.id, before.region))
}
