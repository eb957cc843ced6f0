//! `mark`: a grace period before the policy's changes. The first sweep that
//! matches a resource marks it (in the journal, and as the tag
//! `costguard:marked-for` = `<action>@<due time>` on the resource, so owners
//! see it in the console); the policy's other changes run only on a sweep at
//! or after the due time, if the resource still matches. A resource that
//! stops matching is unmarked.
//!
//! ```yaml
//! actions:
//!   - notify
//!   - type: mark
//!     days: 7
//!   - delete
//! ```
//!
//! # Guarantees
//! - Protected resources are never marked.
//! - Only costguard's journal starts the clock: the grace period runs from
//!   the sweep that first found the resource matching. A mark tag the
//!   journal does not hold (forged, or left from a lost state volume) is
//!   replaced by a new mark from now, so no tag can shorten a grace period.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::yaml::{DecodeError, Located};

pub const NAME: &str = "mark";
/// The visible mark on the resource (each type says how it is written:
/// its `set_tags`, its `TAG_PERMISSIONS`).
pub const TAG: &str = crate::resources::MARK_TAG;
/// A year: longer is a typo.
const MAX_DAYS: f64 = 365.0;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkSpec {
    pub days: Located<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub days: f64,
}

impl MarkSpec {
    pub fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<Mark> {
        let days = self.days.value;
        if !(0.0..=MAX_DAYS).contains(&days) {
            errors.push(DecodeError::new(self.days.loc, format!("{path}.days"), format!("days must be from 0 to {MAX_DAYS}, found {}", self.days)));
            return None;
        }
        Some(Mark { days })
    }
}

impl Mark {
    pub fn grace(&self) -> Duration {
        Duration::seconds((self.days * 86_400.0).round() as i64)
    }

    pub fn describe(&self) -> String {
        format!("mark, then wait {} days", self.days)
    }
}

/// The tag value: `delete@2026-12-02T10:00:00Z`.
pub fn tag_value(action: &str, due: DateTime<Utc>) -> String {
    format!("{action}@{}", due.format("%Y-%m-%dT%H:%M:%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_names_the_action_and_its_date() {
        let due = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(tag_value("delete", due), "delete@2026-12-02T10:00:00Z");
    }
}
