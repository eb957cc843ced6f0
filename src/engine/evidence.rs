//! What made a plan entry match, as a reviewed plan file records it and
//! apply checks it again: the policy's fingerprint, the resource's
//! identity, the values its filters read, and the change.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::actions::Action;
use crate::config::Policy;
use crate::resources::Resource;

/// What made an entry match. Everything but `metrics` is fingerprinted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub policy_fingerprint: String,
    pub arn: String,
    pub created_at: Option<DateTime<Utc>>,
    /// Attribute or `tag "key"` -> its value as read (`absent` when not set).
    pub read: BTreeMap<String, String>,
    /// The change with its parameters (`resize: i-1 m5.2xlarge x 1 -> m5.xlarge x 1`).
    pub change: String,
    /// The metric values the filters judged (not fingerprinted).
    #[serde(default)]
    pub metrics: BTreeMap<String, Vec<Vec<f64>>>,
}

impl Evidence {
    /// The evidence of `resource` matching `policy` now, whose
    /// [`policy_fingerprint`] the caller computed once; `assessment` is
    /// the rightsizing judgement, whose target is part of the change.
    pub fn of(policy: &Policy, policy_fingerprint: &str, resource: &Resource, assessment: Option<&crate::resources::sizes::Assessment>) -> Evidence {
        let mut read = BTreeMap::new();
        for filter in &policy.filters {
            filter.evidence(resource, &mut read);
        }
        let mut needs = Vec::new();
        for filter in &policy.filters {
            filter.metric_needs(resource, &mut needs);
        }
        let metrics = needs.iter().filter_map(|(key, _, _)| resource.metrics.get(key).map(|v| (key.clone(), v.clone()))).collect();
        Evidence {
            policy_fingerprint: policy_fingerprint.to_string(),
            arn: resource.arn.clone(),
            created_at: resource.created_at,
            read,
            change: change_text(policy, assessment),
            metrics,
        }
    }

    pub fn fingerprint(&self) -> String {
        let held = (&self.policy_fingerprint, &self.arn, self.created_at, &self.read, &self.change);
        // Serializing a tuple of these cannot fail (strings, maps of strings, a time).
        let bytes = serde_json::to_vec(&held).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    /// What differs from `planned`, for a person: empty when it still holds.
    pub fn differences(&self, planned: &Evidence) -> Vec<String> {
        let mut out = Vec::new();
        if self.policy_fingerprint != planned.policy_fingerprint {
            out.push("the policy changed".to_string());
        }
        if self.arn != planned.arn || self.created_at != planned.created_at {
            out.push("it is another resource under the same name (created again since the plan)".to_string());
        }
        let keys: std::collections::BTreeSet<&String> = self.read.keys().chain(planned.read.keys()).collect();
        for key in keys {
            let (was, now) = (planned.read.get(key), self.read.get(key));
            if was != now {
                let show = |v: Option<&String>| v.map_or("not read", |s| s.as_str()).to_string();
                out.push(format!("{key} was {} and is {}", show(was), show(now)));
            }
        }
        if self.change != planned.change {
            out.push(format!("the change would now be `{}`, not the reviewed `{}`", self.change, planned.change));
        }
        out
    }
}

/// SHA-256 of what a policy decides with: its resource type, filters,
/// actions, limits and scope (the accounts it applies to; not its
/// description, schedule or file).
pub fn policy_fingerprint(policy: &Policy) -> String {
    // The compiled forms hold no hash maps, so their Debug text is stable.
    let text = format!("{}|{:?}|{:?}|{:?}|{:?}|{:?}", policy.name, policy.resource_type, policy.filters, policy.actions, policy.limits, policy.accounts);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The policy's changes in words, with the rightsizing target per part.
fn change_text(policy: &Policy, assessment: Option<&crate::resources::sizes::Assessment>) -> String {
    let mut text = policy.actions.iter().filter(|a| a.is_gated()).map(Action::describe).collect::<Vec<_>>().join(", then ");
    if let Some(a) = assessment {
        let parts: Vec<String> = a
            .parts
            .iter()
            .map(|p| match (&p.recommended_type, p.recommended_count) {
                (Some(t), Some(n)) => format!("{} {} x {} -> {t} x {n}", p.name, p.current_type, p.current_count),
                (Some(t), None) => format!("{} {} x {} -> {t}", p.name, p.current_type, p.current_count),
                _ => format!("{} {} x {} unchanged", p.name, p.current_type, p.current_count),
            })
            .collect();
        text.push_str(&format!(" ({})", parts.join("; ")));
    }
    text
}
