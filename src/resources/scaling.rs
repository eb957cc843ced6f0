//! What the types that scale share (an Auto Scaling group, an EKS node
//! group, an inference component's copies): their `scale-to-zero` change,
//! minimum and desired size to 0 with the maximum kept, undone by putting
//! the journaled sizes back.
//!
//! ```yaml
//! actions:
//!   - scale-to-zero
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
pub const SCALE_TO_ZERO: &str = "scale-to-zero";

/// A type whose size a change can set.
pub trait Scalable: Registered {
    /// The IAM action that sets its sizes.
    const RESIZE_PERMISSION: &'static str;
    /// What its members are called: "instances", "nodes".
    const MEMBERS: &'static str;
    /// The counts the change sets to zero, as people call them.
    const COUNTS: &'static str = "minimum and desired";

    /// Its minimum and desired size.
    fn sizes(details: &Self::Details) -> (i32, i32);

    /// Sets its minimum and desired size, keeping its maximum (at least 1).
    fn resize(aws: &Aws, resource: &Resource, min: i32, desired: i32) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// `scale-to-zero` on a `K`.
pub struct ScaleToZero<K>(PhantomData<fn() -> K>);

impl<K> Clone for ScaleToZero<K> {
    fn clone(&self) -> Self {
        ScaleToZero(PhantomData)
    }
}

impl<K> std::fmt::Debug for ScaleToZero<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScaleToZero")
    }
}

impl<K> PartialEq for ScaleToZero<K> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    ScaleToZero(NoFields),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// Compiles the change from its YAML node.
pub fn compile<K>(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<ScaleToZero<K>> {
    match yaml::decode::<ActionSpec>(node, path) {
        Ok(ActionSpec::ScaleToZero(_)) => Some(ScaleToZero(PhantomData)),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn at_zero<K: Scalable>(resource: &Resource) -> bool {
    K::details_of(resource).map(K::sizes) == Some((0, 0))
}

impl<K: Scalable> ResourceAction for ScaleToZero<K> {
    fn name(&self) -> &'static str {
        SCALE_TO_ZERO
    }

    fn describe(&self) -> String {
        format!("scale the {} to zero {} ({} 0; restore puts them back)", <K as Kind>::NOUN, K::MEMBERS, K::COUNTS)
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission::on(K::RESIZE_PERMISSION, &[<K as Kind>::ARN_PATTERN])]
    }

    fn restore_permissions(&self) -> Vec<Permission> {
        self.permissions()
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        at_zero::<K>(resource)
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        None
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_none_or(at_zero::<K>)
    }

    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        resource.monthly_cost_usd
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        match K::resize(aws, resource, 0, 0).await {
            Ok(()) => Ok(ActionResult::Done("scaled to zero".to_string())),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone(format!("the {} no longer exists", <K as Kind>::NOUN))),
            Err(e) => Err(e),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// Puts back the sizes `before` had, unless it runs again already: what
/// the type's `restore` does for `scale-to-zero`.
pub async fn restore<K: Scalable>(aws: &Aws, before: &Resource, now: Option<Resource>, run_id: &str) -> Result<String, super::RestoreError> {
    let Some((min, desired)) = K::details_of(before).map(K::sizes) else { return Err(super::RestoreError::Unsupported(K::TYPE)) };
    let Some(now) = now else {
        return Err(super::RestoreError::NotRestorable(format!("{} {} no longer exists in {}", <K as Kind>::NOUN, before.id, before.region)));
    };
    if K::details_of(&now).map(K::sizes).is_some_and(|(_, d)| d > 0) {
        return Err(super::RestoreError::AlreadyExists { resource_type: K::TYPE, name: before.id.clone(), region: before.region.to_string() });
    }
    K::resize(aws, &now, min, desired).await?;
    Ok(format!("{} {} in {} back to minimum {min} and desired {desired} (scaled to zero by run {run_id})", <K as Kind>::NOUN, before.id, before.region))
}
