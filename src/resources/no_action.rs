//! What the types that only report share (not a type of its own): a
//! change that cannot exist. A HyperPod cluster or a Studio space holds
//! what a person decides about; policies on them notify, and any change a
//! policy names is a `validate` error at its line.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::sizes::Assessment;
use super::{Permission, Resource, ResourceAction};
use crate::aws::{Aws, AwsError};
use crate::outcome::ActionResult;
use crate::yaml::{self, DecodeError, Node};

/// No change: no value of it exists.
#[derive(Clone, Debug, PartialEq)]
pub enum NoAction {}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum NoSpec {}

/// Refuses any change a policy names, saying which ones the type has (none).
pub fn compile(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<NoAction> {
    match yaml::decode::<NoSpec>(node, path) {
        Ok(spec) => match spec {},
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

impl ResourceAction for NoAction {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn describe(&self) -> String {
        match *self {}
    }

    fn permissions(&self) -> Vec<Permission> {
        match *self {}
    }

    fn needs_rightsizing(&self) -> bool {
        match *self {}
    }

    fn already_satisfied(&self, _: &Resource) -> bool {
        match *self {}
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        match *self {}
    }

    fn took_effect(&self, _: &Resource, _: Option<&Resource>) -> bool {
        match *self {}
    }

    fn monthly_saving(&self, _: &Resource, _: DateTime<Utc>) -> Option<f64> {
        match *self {}
    }

    fn undoable(&self) -> bool {
        match *self {}
    }

    async fn apply(&self, _: &Aws, _: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        match *self {}
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        match *self {}
    }
}
