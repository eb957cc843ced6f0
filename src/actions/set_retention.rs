//! `set-retention`: make a log group expire its events after N days.
//!
//! ```yaml
//! actions:
//!   - type: set-retention
//!     days: 30
//! ```
//!
//! # Guarantees
//! - Calls PutRetentionPolicy once per matched group; a group deleted since
//!   the plan is reported as already done, not as a failure.
//! - A group that already keeps events exactly `days` is left alone.
//!
//! # Caveats
//! - Shortening retention lets CloudWatch delete older events, which cannot
//!   be undone: protect groups that must keep history with the protection tag.

use serde::Deserialize;

use super::ActionResult;
use crate::aws::{Aws, AwsError};
use crate::config::yaml::{DecodeError, Located};
use crate::resources::{Details, Resource, ResourceType};

pub const NAME: &str = "set-retention";
pub const RESOURCE_TYPES: &[ResourceType] = &[ResourceType::LogGroup];
pub const PERMISSIONS: &[&str] = &["logs:PutRetentionPolicy"];

/// The only values PutRetentionPolicy accepts.
pub const VALID_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRetentionSpec {
    pub days: Located<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SetRetention {
    pub days: i32,
}

impl SetRetentionSpec {
    pub fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<SetRetention> {
        let days = self.days.value;
        if !VALID_DAYS.contains(&days) {
            let nearest = VALID_DAYS.iter().min_by_key(|v| (*v - days).abs()).copied().unwrap_or(30);
            let list: Vec<String> = VALID_DAYS.iter().map(ToString::to_string).collect();
            errors.push(DecodeError::new(
                self.days.loc,
                format!("{path}.days"),
                format!("CloudWatch Logs accepts only {} days; found {} (nearest: {nearest})", list.join(", "), self.days),
            ));
            return None;
        }
        // VALID_DAYS holds only small values, so this cannot truncate.
        Some(SetRetention { days: days as i32 })
    }
}

impl SetRetention {
    pub fn describe(&self) -> String {
        format!("set retention to {} days", self.days)
    }

    pub fn already_satisfied(&self, resource: &Resource) -> bool {
        match &resource.details {
            Details::LogGroup(group) => group.retention_days == Some(self.days),
            _ => false,
        }
    }

    pub async fn apply(&self, aws: &Aws, resource: &Resource) -> Result<ActionResult, AwsError> {
        match aws.logs(&resource.region).put_retention(&resource.id, self.days).await {
            Ok(()) => Ok(ActionResult::Done(format!("retention set to {} days", self.days))),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("log group no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cloudwatch_retention_values_compile() {
        let spec = |days| SetRetentionSpec { days: Located::new(days, Default::default()) };
        let mut errors = Vec::new();
        assert_eq!(spec(30).compile("a", &mut errors), Some(SetRetention { days: 30 }));
        assert!(spec(31).compile("a", &mut errors).is_none());
        assert!(spec(-1).compile("a", &mut errors).is_none());
        assert!(errors[0].message.contains("nearest: 30"), "{}", errors[0].message);
        assert_eq!(errors.len(), 2);
    }
}
