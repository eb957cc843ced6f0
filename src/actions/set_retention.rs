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

use chrono::{DateTime, Utc};
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

    /// What the shorter retention saves a month: the stored bytes older
    /// than `days`, at the storage price, assuming events arrived evenly
    /// over the group's life (all we know: its size and its age). `None`
    /// when the group's size or age is unknown.
    pub fn monthly_saving(&self, resource: &Resource, now: DateTime<Utc>) -> Option<f64> {
        let Details::LogGroup(group) = &resource.details else { return None };
        let bytes = group.stored_bytes?.max(0) as f64;
        let age_days = (now - group.created_at?).num_seconds() as f64 / 86_400.0;
        // Data is kept for whichever is shorter: the group's life or its retention.
        let kept_now = group.retention_days.map_or(age_days, |r| age_days.min(f64::from(r)));
        let kept_after = f64::from(self.days).min(kept_now);
        if kept_now <= 0.0 {
            return Some(0.0);
        }
        let freed = bytes * (1.0 - kept_after / kept_now);
        Some(freed / 1e9 * crate::resources::log_group::STORAGE_USD_PER_GB_MONTH)
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
    fn the_saving_is_the_data_older_than_the_retention() {
        let now = crate::clock::test_now();
        let mut group = crate::resources::log_group::fixture("/a", None);
        if let Details::LogGroup(g) = &mut group.details {
            g.stored_bytes = Some(300_000_000_000);
            g.created_at = Some(now - chrono::Duration::days(300));
        }
        // 300 GB over 300 days; 30 days kept -> 270 GB freed at $0.03.
        let saving = SetRetention { days: 30 }.monthly_saving(&group, now).unwrap_or(f64::NAN);
        assert!((saving - 270.0 * 0.03).abs() < 1e-9, "{saving}");
        // Younger than the retention: nothing to free yet.
        if let Details::LogGroup(g) = &mut group.details {
            g.created_at = Some(now - chrono::Duration::days(10));
        }
        assert_eq!(SetRetention { days: 30 }.monthly_saving(&group, now), Some(0.0));
    }

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
