//! `expires`: the resource's expiry tag says it is past its time (or will
//! be within `notice-days`): what its creator wrote when they started it,
//! as aws-nuke's and cloud-nuke's users ask for.
//!
//! ```yaml
//! - type: expires
//!   tag: costguard:expires   # the default
//!   notice-days: 1           # matches from a day before the expiry (default 0: once expired)
//! ```
//!
//! The tag's value is a date (`2026-12-10`: the start of that day, UTC), a
//! time (`2026-12-10T18:00:00Z`, RFC 3339), or a span from the resource's
//! creation (`7d`, `36h`, `2w`). A value costguard cannot read, or a span
//! on a resource whose creation time AWS does not give, never matches.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use crate::resources::Resource;
use crate::yaml::{DecodeError, Located};

/// The tag the shipped policies read.
pub const EXPIRES_TAG: &str = "costguard:expires";
/// A year: a longer notice is a typo.
const MAX_NOTICE_DAYS: f64 = 366.0;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpiresSpec {
    #[serde(default)]
    pub tag: Option<Located<String>>,
    #[serde(default)]
    pub notice_days: Option<Located<f64>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expires {
    pub tag: String,
    pub notice: Duration,
}

impl ExpiresSpec {
    pub fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<Expires> {
        let tag = match &self.tag {
            Some(t) if t.value.trim().is_empty() || t.value.len() > 128 => {
                errors.push(DecodeError::new(t.loc, format!("{path}.tag"), "a tag key is 1 to 128 characters"));
                return None;
            }
            Some(t) => t.value.trim().to_string(),
            None => EXPIRES_TAG.to_string(),
        };
        let notice = match &self.notice_days {
            Some(d) if !(0.0..=MAX_NOTICE_DAYS).contains(&d.value) => {
                errors.push(DecodeError::new(d.loc, format!("{path}.notice-days"), format!("notice-days must be from 0 to {MAX_NOTICE_DAYS}, found {d}")));
                return None;
            }
            Some(d) => Duration::milliseconds((d.value * 86_400_000.0) as i64),
            None => Duration::zero(),
        };
        Some(Expires { tag, notice })
    }
}

/// When a tag value says a resource created at `created` expires.
pub fn expiry(value: &str, created: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Some(time.with_timezone(&Utc));
    }
    let unit = value.chars().last()?;
    let count: i64 = value[..value.len() - unit.len_utf8()].trim().parse().ok().filter(|n| (0..=100_000).contains(n))?;
    let span = match unit {
        'h' => Duration::hours(count),
        'd' => Duration::days(count),
        'w' => Duration::weeks(count),
        _ => return None,
    };
    created.map(|c| c + span)
}

impl Expires {
    pub fn evaluate(&self, resource: &Resource, now: DateTime<Utc>) -> Option<String> {
        let value = resource.tags.get(&self.tag)?;
        let at = expiry(value, resource.created_at)?;
        if now + self.notice < at {
            return None;
        }
        let shown = crate::text::clean(value, 64);
        let when = crate::text::utc(at);
        Some(match at <= now {
            true => format!("tag:{}={shown}: expired {when} ({:.1} days ago)", self.tag, (now - at).num_seconds() as f64 / 86_400.0),
            false => format!("tag:{}={shown}: expires {when}, in {:.1} hours ({})", self.tag, (at - now).num_seconds() as f64 / 3_600.0, self.describe()),
        })
    }

    pub fn describe(&self) -> String {
        match self.notice.is_zero() {
            true => format!("tag:{} is past", self.tag),
            false => format!("tag:{} is past or within {} days", self.tag, self.notice.num_seconds() as f64 / 86_400.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::log_group::fixture;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("a time").with_timezone(&Utc)
    }

    #[test]
    fn dates_times_and_spans_from_creation_are_read() {
        let created = Some(at("2026-12-01T09:00:00Z"));
        assert_eq!(expiry("2026-12-10", created), Some(at("2026-12-10T00:00:00Z")));
        assert_eq!(expiry("2026-12-10T18:00:00+01:00", None), Some(at("2026-12-10T17:00:00Z")));
        assert_eq!(expiry("7d", created), Some(at("2026-12-08T09:00:00Z")));
        assert_eq!(expiry("36h", created), Some(at("2026-12-02T21:00:00Z")));
        assert_eq!(expiry("2w", created), Some(at("2026-12-15T09:00:00Z")));
        assert_eq!(expiry("7d", None), None, "a span needs the creation time");
        for bad in ["soon", "", "7x", "-3d", "2026-13-40", "d"] {
            assert_eq!(expiry(bad, created), None, "{bad}");
        }
    }

    #[test]
    fn it_matches_from_the_notice_before_the_expiry() {
        let mut r = fixture("/a", None);
        r.tags.insert(EXPIRES_TAG.into(), "2026-12-10".into());
        let f = Expires { tag: EXPIRES_TAG.into(), notice: Duration::days(1) };
        assert!(f.evaluate(&r, at("2026-12-08T23:00:00Z")).is_none(), "more than a day before");
        let soon = f.evaluate(&r, at("2026-12-09T06:00:00Z")).expect("within the notice");
        assert!(soon.contains("expires 2026-12-10") && soon.contains("in 18.0 hours"), "{soon}");
        let past = f.evaluate(&r, at("2026-12-12T00:00:00Z")).expect("expired");
        assert!(past.contains("expired") && past.contains("2.0 days ago"), "{past}");
        r.tags.insert(EXPIRES_TAG.into(), "whenever".into());
        assert!(f.evaluate(&r, at("2030-01-01T00:00:00Z")).is_none(), "unreadable: never");
    }

    #[test]
    fn a_bad_notice_is_refused_at_its_place() {
        let spec = ExpiresSpec { tag: None, notice_days: Some(Located::new(-1.0, Default::default())) };
        let mut errors = Vec::new();
        assert!(spec.compile("p", &mut errors).is_none());
        assert_eq!(errors[0].path, "p.notice-days");
    }
}
