//! `age`: how long ago the resource was created.
//!
//! ```yaml
//! - type: age
//!   days: 30          # older than 30 days
//! - type: age
//!   days: 2
//!   op: lt            # younger than 2 days
//! - type: age
//!   key: LastModifiedTime   # any time attribute of the resource type
//!   days: 7
//! ```
//!
//! A resource whose time AWS does not give never matches.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::resources::{AttrKind, AttrValue, ResourceType};
use crate::yaml::{DecodeError, Located};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgeSpec {
    pub days: Located<f64>,
    /// A time attribute to measure from instead of the creation time, e.g.
    /// `LastModifiedTime`.
    #[serde(default)]
    pub key: Option<Located<String>>,
    #[serde(default)]
    pub op: Option<Located<AgeOp>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgeOp {
    /// Older than `days` (the default).
    #[serde(alias = "older-than")]
    Gt,
    #[serde(alias = "gte")]
    Ge,
    /// Younger than `days`.
    #[serde(alias = "younger-than")]
    Lt,
    #[serde(alias = "lte")]
    Le,
}

#[derive(Clone, Debug)]
pub struct AgeFilter {
    pub days: f64,
    pub op: AgeOp,
    /// `None`: the creation time.
    pub key: Option<&'static str>,
}

/// Ten years: anything longer is a typo, not a policy.
const MAX_DAYS: f64 = 3653.0;

impl AgeSpec {
    pub fn compile(&self, resource_type: ResourceType, path: &str, errors: &mut Vec<DecodeError>) -> Option<AgeFilter> {
        let key = match &self.key {
            None => None,
            Some(k) => match resource_type.attribute(&k.value) {
                Some(a) if a.kind == AttrKind::Time => Some(a.name),
                _ => {
                    let times = resource_type.attributes().iter().filter(|a| a.kind == AttrKind::Time);
                    let names: Vec<&str> = times.map(|a| a.name).collect();
                    errors.push(DecodeError::new(
                        k.loc,
                        format!("{path}.key"),
                        format!("{resource_type} has no time attribute {:?}; expected one of: {}", k.value, names.join(", ")),
                    ));
                    return None;
                }
            },
        };
        let days = self.days.value;
        if !(0.0..=MAX_DAYS).contains(&days) {
            errors.push(DecodeError::new(self.days.loc, format!("{path}.days"), format!("days must be a number from 0 to {MAX_DAYS}, found {}", self.days)));
            return None;
        }
        Some(AgeFilter { days, op: self.op.as_ref().map_or(AgeOp::Gt, |o| o.value), key })
    }
}

impl AgeFilter {
    pub fn evaluate(&self, resource: &crate::resources::Resource, now: DateTime<Utc>) -> Option<String> {
        let since = match self.key {
            None => resource.created_at?,
            Some(key) => match resource.attribute(key)? {
                AttrValue::Time(t) => t,
                _ => return None,
            },
        };
        let age = now - since;
        let limit = Duration::milliseconds((self.days * 86_400_000.0) as i64);
        let matched = match self.op {
            AgeOp::Gt => age > limit,
            AgeOp::Ge => age >= limit,
            AgeOp::Lt => age < limit,
            AgeOp::Le => age <= limit,
        };
        let age_days = age.num_seconds() as f64 / 86_400.0;
        let what = self.key.unwrap_or("created");
        matched.then(|| format!("{what} {age_days:.1} days ago ({})", self.describe()))
    }

    pub fn describe(&self) -> String {
        let word = match self.op {
            AgeOp::Gt => "older than",
            AgeOp::Ge => "at least",
            AgeOp::Lt => "younger than",
            AgeOp::Le => "at most",
        };
        match self.key {
            None => format!("{word} {} days", self.days),
            Some(key) => format!("{key} {word} {} days", self.days),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::log_group::fixture;

    #[test]
    fn age_compares_creation_time_with_now() {
        let r = fixture("/a", None); // created at the epoch
        let created = r.created_at.unwrap();
        let older = AgeFilter { days: 30.0, op: AgeOp::Gt, key: None };
        assert!(older.evaluate(&r, created + Duration::days(31)).is_some());
        assert!(older.evaluate(&r, created + Duration::days(29)).is_none());
        let younger = AgeFilter { days: 30.0, op: AgeOp::Lt, key: None };
        assert!(younger.evaluate(&r, created + Duration::days(29)).is_some());
    }

    #[test]
    fn negative_days_are_rejected() {
        let spec = AgeSpec { days: Located::new(-3.0, Default::default()), op: None, key: None };
        let mut errors = Vec::new();
        assert!(spec.compile(ResourceType::LogGroup, "p", &mut errors).is_none());
        assert_eq!(errors[0].path, "p.days");
    }
}
