//! `off-hours`: resources whose schedule says they should sleep now.
//!
//! ```yaml
//! schedules:
//!   berlin-office:
//!     tz: Europe/Berlin
//!     on: Mon-Fri 07:30
//!     off: Mon-Fri 19:00
//!     holidays: [2026-12-24, 2026-12-25]
//!     warm-up-minutes: 15      # woken this early, to be ready at 07:30
//! policies:
//!   - name: dev-boxes-sleep
//!     resource: ec2-instance
//!     filters:
//!       - type: off-hours
//!         default: berlin-office   # optional: who has no schedule tag
//!     actions:
//!       - type: stop
//! ```
//!
//! A resource's schedule is, first to last:
//! - its `costguard:schedule` tag: a schedule's name, or `none` to opt out;
//! - its Cloud Custodian offhours tag (`maid_offhours`, `custodian_downtime`),
//!   read as Custodian reads it (`off` opts out);
//! - the filter's `default`, when it has one.
//!
//! `costguard:awake-until=2026-12-10T23:00` (local time in the schedule's
//! zone, or with an offset, or a date: that whole day) keeps it awake until
//! then. A resource is woken in the morning by the sweep that put it to
//! sleep, from the journal (see `engine::sleep`).
//!
//! # Caveats
//! A tag that cannot be read (an unknown schedule name, a Custodian value
//! Custodian refuses, an awake-until that is not a time) matches, so the
//! resource is listed with what is wrong, and the plan holds it: it is
//! never guessed at and never acted on.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::resources::Resource;
use crate::schedule::{self, Book, CustodianDefaults, CustodianTag, Named, Power};
use crate::yaml::{DecodeError, Located};

/// The tag naming a resource's schedule (`none`: it never sleeps).
pub const SCHEDULE_TAG: &str = "costguard:schedule";
/// The tag that keeps a resource awake until a time.
pub const AWAKE_UNTIL_TAG: &str = "costguard:awake-until";
/// The schedule tag's value that opts out.
const OPT_OUT: &str = "none";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffHoursSpec {
    /// The schedule of resources that carry no schedule tag.
    #[serde(default)]
    pub default: Option<Located<String>>,
}

#[derive(Clone, Debug)]
pub struct OffHours {
    /// The default schedule's name, where it was written.
    pub default: Option<Located<String>>,
    /// The policy files' schedules (bound once every file is read).
    book: Arc<Book>,
    custodian: CustodianDefaults,
}

impl OffHoursSpec {
    pub fn compile(&self) -> OffHours {
        OffHours { default: self.default.clone(), book: Arc::default(), custodian: CustodianDefaults::default() }
    }
}

/// Where a resource stands with its schedule at one moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// No schedule applies to it.
    Unscheduled,
    /// Its tag says it never sleeps.
    OptedOut { tag: &'static str },
    /// A person keeps it awake until then.
    Awake { until: DateTime<Utc>, schedule: Arc<Named> },
    /// Its schedule, and what it wants now.
    Scheduled { schedule: Arc<Named>, wants: Power },
    /// Its tags name a schedule that cannot be read.
    Invalid(String),
}

impl OffHours {
    /// Gives it the policy files' schedules; a default that names none of
    /// them is an error at its place.
    pub fn bind(&mut self, book: &Arc<Book>, path: &str, errors: &mut Vec<DecodeError>) {
        if let Some(name) = &self.default {
            if book.get(name.value.trim()).is_none() {
                let known: Vec<&str> = book.names().collect();
                let known = if known.is_empty() {
                    "no schedules are declared (a `schedules:` section in a policy file)".to_string()
                } else {
                    format!("declared: {}", known.join(", "))
                };
                errors.push(DecodeError::new(name.loc, format!("{path}.default"), format!("no schedule named {:?}; {known}", name.value)));
            }
        }
        self.book = Arc::clone(book);
    }

    /// The schedule named `name`, as a resource's tag or the default names it.
    fn named(&self, name: &str) -> Option<Arc<Named>> {
        self.book.get(name.trim()).cloned()
    }

    /// The resource's schedule and what it wants at `now`.
    pub fn status(&self, resource: &Resource, now: DateTime<Utc>) -> Status {
        let schedule = match self.schedule_of(resource) {
            Ok(Some(s)) => s,
            Ok(None) => return Status::Unscheduled,
            Err(status) => return status,
        };
        if let Some(value) = resource.tags.get(AWAKE_UNTIL_TAG) {
            match awake_until(value, &schedule) {
                Ok(until) if until > now => return Status::Awake { until, schedule },
                Ok(_) => {}
                Err(why) => return Status::Invalid(format!("{AWAKE_UNTIL_TAG}={value:?} {why}")),
            }
        }
        match schedule.wants(now) {
            Some(wants) => Status::Scheduled { schedule, wants },
            None => Status::Unscheduled,
        }
    }

    fn schedule_of(&self, resource: &Resource) -> Result<Option<Arc<Named>>, Status> {
        if let Some(value) = resource.tags.get(SCHEDULE_TAG) {
            if value.trim().eq_ignore_ascii_case(OPT_OUT) {
                return Err(Status::OptedOut { tag: SCHEDULE_TAG });
            }
            return match self.named(value) {
                Some(s) => Ok(Some(s)),
                None => Err(Status::Invalid(format!("{SCHEDULE_TAG}={value:?} names no schedule the policy files declare"))),
            };
        }
        let custodian = resource.tags.iter().find(|(k, _)| schedule::CUSTODIAN_TAGS.contains(&k.to_ascii_lowercase().as_str()));
        if let Some((key, value)) = custodian {
            return match schedule::parse_custodian(value, &self.custodian) {
                Ok(CustodianTag::OptedOut) => Err(Status::OptedOut { tag: "maid_offhours" }),
                Ok(CustodianTag::Schedule(s)) => Ok(Some(Arc::new(Named { name: format!("{key} tag"), schedule: s, warm_up: chrono::Duration::zero() }))),
                Err(e) => Err(Status::Invalid(format!("{key}={value:?}: {e}"))),
            };
        }
        Ok(self.default.as_ref().and_then(|d| self.named(&d.value)))
    }

    /// `Some(reason)` when the resource should sleep now, or when its
    /// schedule cannot be read (the plan then holds it).
    pub fn evaluate(&self, resource: &Resource, now: DateTime<Utc>) -> Option<String> {
        match self.status(resource, now) {
            Status::Scheduled { schedule, wants: Power::Off } => {
                let since = schedule.schedule.in_force(now).map(|t| local(&schedule, t.at)).unwrap_or_default();
                let wakes =
                    schedule.next(now, Power::On).map_or_else(|| "no wake-up within two weeks".to_string(), |t| format!("wakes {}", local(&schedule, t)));
                Some(format!("off hours of schedule {} since {since}; {wakes}", schedule.name))
            }
            Status::Invalid(why) => Some(format!("its schedule cannot be read: {why}")),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.default {
            Some(d) => format!("in its off hours (schedule tag, else {})", d.value),
            None => "in its off hours (by its schedule tag)".to_string(),
        }
    }
}

/// Where a resource stands with its schedule now, as `costguard schedule
/// show` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    On,
    Off,
    Awake,
    OptedOut,
    Invalid,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::On => "on",
            Phase::Off => "off",
            Phase::Awake => "awake",
            Phase::OptedOut => "opted-out",
            Phase::Invalid => "invalid",
        }
    }
}

/// A resource's schedule over the next hours.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Upcoming {
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub now: Phase,
    /// What is wrong, who keeps it awake, which tag opts it out.
    pub detail: Option<String>,
    /// Each switch to come: when costguard acts (a wake-up early by the
    /// warm-up), in UTC and in the schedule's own time.
    pub switches: Vec<UpcomingSwitch>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UpcomingSwitch {
    pub at: DateTime<Utc>,
    pub local: String,
    pub to: Power,
}

impl OffHours {
    /// The resource's switches from `now` to `until`; `None` when no
    /// schedule applies to it.
    pub fn upcoming(&self, resource: &Resource, now: DateTime<Utc>, until: DateTime<Utc>) -> Option<Upcoming> {
        let switches = |schedule: &Named, from: DateTime<Utc>| -> Vec<UpcomingSwitch> {
            let early = schedule.warm_up;
            let mut out: Vec<UpcomingSwitch> = schedule
                .schedule
                .transitions(from, until + early)
                .into_iter()
                .map(|t| if t.to == Power::On { (t.at - early, t.to) } else { (t.at, t.to) })
                .filter(|(at, _)| *at > from && *at <= until)
                .map(|(at, to)| UpcomingSwitch { at, local: local(schedule, at), to })
                .collect();
            out.sort_by_key(|s| s.at);
            out
        };
        let zone = |s: &Named| s.schedule.time_zone().map(|tz| tz.name().to_string());
        Some(match self.status(resource, now) {
            Status::Unscheduled => return None,
            Status::OptedOut { tag } => {
                Upcoming { schedule: None, time_zone: None, now: Phase::OptedOut, detail: Some(format!("opted out by its {tag} tag")), switches: Vec::new() }
            }
            Status::Invalid(why) => Upcoming { schedule: None, time_zone: None, now: Phase::Invalid, detail: Some(why), switches: Vec::new() },
            Status::Awake { until: awake, schedule } => {
                let mut list = Vec::new();
                if awake <= until && schedule.wants(awake) == Some(Power::Off) {
                    list.push(UpcomingSwitch { at: awake, local: local(&schedule, awake), to: Power::Off });
                }
                list.extend(switches(&schedule, awake));
                let detail = Some(format!("{AWAKE_UNTIL_TAG} {}", local(&schedule, awake)));
                Upcoming { schedule: Some(schedule.name.clone()), time_zone: zone(&schedule), now: Phase::Awake, detail, switches: list }
            }
            Status::Scheduled { schedule, wants } => Upcoming {
                schedule: Some(schedule.name.clone()),
                time_zone: zone(&schedule),
                now: if wants == Power::Off { Phase::Off } else { Phase::On },
                detail: None,
                switches: switches(&schedule, now),
            },
        })
    }
}

/// A time as the schedule's people read it: `Mon 19:00 CET`.
pub fn local(schedule: &Named, at: DateTime<Utc>) -> String {
    match schedule.schedule.time_zone() {
        Some(tz) => at.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z").to_string(),
        None => at.format("%a %Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// An awake-until value: a time with an offset, a local time in the
/// schedule's zone (`2026-12-10T23:00`), or a date (that whole local day).
fn awake_until(value: &str, schedule: &Named) -> Result<DateTime<Utc>, &'static str> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let tz = schedule.schedule.time_zone().unwrap_or(chrono_tz::UTC);
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"].iter().find_map(|f| NaiveDateTime::parse_from_str(value, f).ok());
    let local = match local {
        Some(t) => t,
        None => NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| NOT_A_TIME)?.succ_opt().ok_or(NOT_A_TIME)?.and_time(chrono::NaiveTime::MIN),
    };
    tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).ok_or(NOT_A_TIME)
}

const NOT_A_TIME: &str = "is not a time (expected 2026-12-10T23:00 in the schedule's time zone, a time with an offset, or a date)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::log_group::fixture;

    fn book() -> Arc<Book> {
        let mut book = Book::default();
        let s = schedule::schedule("Europe/Berlin", &["Mon-Fri 07:30".into()], &["Mon-Fri 19:00".into()], Default::default()).unwrap();
        book.insert(Named { name: "berlin-office".into(), schedule: s, warm_up: chrono::Duration::minutes(15) });
        Arc::new(book)
    }

    fn filter(default: Option<&str>) -> OffHours {
        let mut f = OffHoursSpec { default: default.map(|d| Located::new(d.to_string(), Default::default())) }.compile();
        let mut errors = Vec::new();
        f.bind(&book(), "policies[0].filters[0]", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        f
    }

    fn tagged(tags: &[(&str, &str)]) -> Resource {
        let mut r = fixture("/r", None);
        for (k, v) in tags {
            r.tags.insert(k.to_string(), v.to_string());
        }
        r
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_tagged_resource_sleeps_in_its_off_hours_and_wakes_early_enough() {
        let f = filter(None);
        let r = tagged(&[(SCHEDULE_TAG, "berlin-office")]);
        // Monday 2026-12-07, Berlin is UTC+1.
        assert!(f.evaluate(&r, at("2026-12-07T12:00:00Z")).is_none(), "working hours");
        let why = f.evaluate(&r, at("2026-12-07T18:05:00Z")).expect("19:05 in Berlin is off hours");
        assert!(why.contains("wakes Tue 2026-12-08 07:15 CET"), "{why}");
        assert!(f.evaluate(&r, at("2026-12-08T06:20:00Z")).is_none(), "07:20 is within the warm-up before 07:30");
        assert!(f.evaluate(&r, at("2026-12-12T10:00:00Z")).is_some(), "Saturday sleeps");
        assert!(f.evaluate(&tagged(&[]), at("2026-12-07T18:05:00Z")).is_none(), "no tag, no default: not scheduled");
        assert!(filter(Some("berlin-office")).evaluate(&tagged(&[]), at("2026-12-07T18:05:00Z")).is_some(), "the default applies");
    }

    #[test]
    fn people_opt_out_or_stay_awake_and_custodian_tags_count() {
        let f = filter(Some("berlin-office"));
        let night = at("2026-12-07T18:05:00Z");
        assert_eq!(f.status(&tagged(&[(SCHEDULE_TAG, "None")]), night), Status::OptedOut { tag: SCHEDULE_TAG });
        assert_eq!(f.status(&tagged(&[("Maid_Offhours", "off")]), night), Status::OptedOut { tag: "maid_offhours" });
        let awake = tagged(&[(AWAKE_UNTIL_TAG, "2026-12-07T23:00")]);
        assert!(matches!(f.status(&awake, night), Status::Awake { until, .. } if until == at("2026-12-07T22:00:00Z")));
        assert!(f.evaluate(&awake, at("2026-12-07T22:05:00Z")).is_some(), "past the awake-until it sleeps");
        assert!(matches!(f.status(&tagged(&[(AWAKE_UNTIL_TAG, "2026-12-07")]), night), Status::Awake { .. }), "a date keeps the whole day");
        // Custodian: off at 19 and on at 7 on weekdays, Pacific time; 19:05 Berlin is 10:05 Pacific.
        let c7n = tagged(&[("maid_offhours", "off=(M-F,19);on=(M-F,7);tz=pt")]);
        assert!(f.evaluate(&c7n, night).is_none());
        assert!(f.evaluate(&c7n, at("2026-12-08T04:00:00Z")).is_some(), "20:00 Pacific");
    }

    #[test]
    fn upcoming_switches_are_listed_in_local_time_with_the_warm_up() {
        let f = filter(None);
        let r = tagged(&[(SCHEDULE_TAG, "berlin-office")]);
        let from = at("2026-12-07T12:00:00Z");
        let up = f.upcoming(&r, from, from + chrono::Duration::hours(48)).expect("scheduled");
        assert_eq!(up.now, Phase::On);
        let shown: Vec<(&str, Power)> = up.switches.iter().map(|s| (s.local.as_str(), s.to)).collect();
        assert_eq!(
            shown,
            [
                ("Mon 2026-12-07 19:00 CET", Power::Off),
                ("Tue 2026-12-08 07:15 CET", Power::On),
                ("Tue 2026-12-08 19:00 CET", Power::Off),
                ("Wed 2026-12-09 07:15 CET", Power::On)
            ]
        );
        let awake = tagged(&[(SCHEDULE_TAG, "berlin-office"), (AWAKE_UNTIL_TAG, "2026-12-07T23:00")]);
        let up = f.upcoming(&awake, at("2026-12-07T19:00:00Z"), at("2026-12-08T12:00:00Z")).expect("scheduled");
        assert_eq!((up.now, up.switches[0].local.as_str(), up.switches[0].to), (Phase::Awake, "Mon 2026-12-07 23:00 CET", Power::Off));
        assert!(f.upcoming(&tagged(&[]), from, from + chrono::Duration::hours(48)).is_none());
    }

    #[test]
    fn a_tag_that_cannot_be_read_matches_with_what_is_wrong() {
        let f = filter(None);
        let night = at("2026-12-07T18:05:00Z");
        for (key, value, expect) in [
            (SCHEDULE_TAG, "paris-office", "names no schedule"),
            ("maid_offhours", "off=(M-X,19)", "Custodian"),
            (AWAKE_UNTIL_TAG, "tomorrow", "is not a time"),
        ] {
            let mut r = tagged(&[(key, value)]);
            if key == AWAKE_UNTIL_TAG {
                r.tags.insert(SCHEDULE_TAG.into(), "berlin-office".into());
            }
            assert!(matches!(f.status(&r, night), Status::Invalid(_)), "{key}={value}");
            let why = f.evaluate(&r, night).expect("matches");
            assert!(why.contains(expect), "{why}");
        }
        let mut errors = Vec::new();
        let mut unbound = OffHoursSpec { default: Some(Located::new("nowhere".into(), Default::default())) }.compile();
        unbound.bind(&book(), "policies[0].filters[0]", &mut errors);
        assert!(errors[0].to_string().contains("declared: berlin-office"), "{}", errors[0]);
    }
}
