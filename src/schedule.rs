//! Off-hours schedules: when a resource should run and when it should
//! sleep, in its own time zone. Two spellings of one [`Schedule`]:
//! costguard's named schedules (`tz`, `on` and `off` as `Mon-Fri 07:30`,
//! holidays) and Cloud Custodian's offhours tags
//! (`off=(M-F,19);on=(M-F,7);tz=pt`), read as Custodian reads them, so a
//! team moving from Custodian keeps its tags.
//!
//! A leaf: it knows dates, times and time zones, nothing of AWS.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Days of the week, Monday first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    pub const WEEKDAYS: Days = Days(0b001_1111);
    pub const EVERY_DAY: Days = Days(0b111_1111);

    pub fn one(day: Weekday) -> Days {
        Days(1 << day.num_days_from_monday())
    }

    /// `from` to `to`, both included, wrapping past Sunday: Fri-Mon is
    /// Friday, Saturday, Sunday and Monday.
    pub fn range(from: Weekday, to: Weekday) -> Days {
        let mut days = Days::one(from);
        let mut day = from;
        while day != to {
            day = day.succ();
            days.0 |= Days::one(day).0;
        }
        days
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Days::one(day).0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn and(self, other: Days) -> Days {
        Days(self.0 | other.0)
    }
}

/// Running, or asleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Power {
    On,
    Off,
}

impl Power {
    pub fn as_str(self) -> &'static str {
        match self {
            Power::On => "on",
            Power::Off => "off",
        }
    }
}

/// One of a schedule's switches: on these days, at this local time in
/// this time zone, turn the resource on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    pub days: Days,
    pub at: NaiveTime,
    pub to: Power,
    /// Each switch carries its zone: a Custodian tag's halves are read
    /// separately, as Custodian's two filters read them.
    pub tz: Tz,
}

/// When a resource runs and sleeps.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub switches: Vec<Switch>,
    /// Local dates on which nothing is switched on: a holiday sleeps
    /// through (a Friday evening's stop lasts to the next working morning).
    pub holidays: BTreeSet<NaiveDate>,
}

/// When a switch happens, and to what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub at: DateTime<Utc>,
    pub to: Power,
}

/// How far back a schedule is read to find the switch in force: a week
/// and a day covers any weekly schedule.
const LOOK_BACK_DAYS: i64 = 8;

impl Schedule {
    /// The switch in force at `now`: the last one at or before it, within
    /// a week; `None` for a schedule that never switches.
    pub fn in_force(&self, now: DateTime<Utc>) -> Option<Transition> {
        self.between(now - Duration::days(LOOK_BACK_DAYS), now).pop()
    }

    /// Every switch after `from`, up to and including `to`, in order.
    pub fn transitions(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
        self.between(from, to)
    }

    /// The zone its switches share, if they share one.
    pub fn time_zone(&self) -> Option<Tz> {
        let first = self.switches.first()?.tz;
        self.switches.iter().all(|s| s.tz == first).then_some(first)
    }

    fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
        let mut all: Vec<Transition> = Vec::new();
        for s in &self.switches {
            let (first, last) = (from.with_timezone(&s.tz).date_naive(), to.with_timezone(&s.tz).date_naive());
            let dates = first.iter_days().take_while(|d| *d <= last);
            // A holiday (a local date) is never switched on.
            let days = dates.filter(|d| s.days.contains(d.weekday()) && !(s.to == Power::On && self.holidays.contains(d)));
            all.extend(days.filter_map(|d| local_instant(s.tz, d, s.at)).filter(|at| *at > from && *at <= to).map(|at| Transition { at, to: s.to }));
        }
        all.sort_by_key(|t| t.at);
        all
    }
}

fn local_instant(tz: Tz, date: NaiveDate, at: NaiveTime) -> Option<DateTime<Utc>> {
    let local = date.and_time(at);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        // In the gap: the first minute that exists after it.
        LocalResult::None => (1..=180).find_map(|m| tz.from_local_datetime(&(local + Duration::minutes(m))).earliest()).map(|t| t.with_timezone(&Utc)),
    }
}

/// A schedule with a name, as the policy files declare it.
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    pub name: String,
    pub schedule: Schedule,
    /// How long before its on time a resource is woken, so that it is
    /// ready then (an endpoint takes minutes to be InService).
    pub warm_up: Duration,
}

impl Named {
    /// What it wants at `now`: off only when it is off now and still off
    /// once a wake-up started now would be done (`None`: it never switches).
    pub fn wants(&self, now: DateTime<Utc>) -> Option<Power> {
        let now_to = self.schedule.in_force(now)?.to;
        let then_to = self.schedule.in_force(now + self.warm_up).map_or(now_to, |t| t.to);
        Some(if now_to == Power::Off && then_to == Power::Off { Power::Off } else { Power::On })
    }

    /// The next switch to `to` after `now`, within two weeks.
    pub fn next(&self, now: DateTime<Utc>, to: Power) -> Option<DateTime<Utc>> {
        let wake_early = if to == Power::On { self.warm_up } else { Duration::zero() };
        self.schedule.transitions(now + wake_early, now + Duration::days(2 * LOOK_BACK_DAYS)).into_iter().find(|t| t.to == to).map(|t| t.at - wake_early)
    }
}

/// The named schedules of the policy files, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Book {
    schedules: std::collections::BTreeMap<String, std::sync::Arc<Named>>,
}

impl Book {
    pub fn insert(&mut self, named: Named) {
        self.schedules.insert(named.name.clone(), std::sync::Arc::new(named));
    }

    pub fn get(&self, name: &str) -> Option<&std::sync::Arc<Named>> {
        self.schedules.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.schedules.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.schedules.is_empty()
    }
}

/// Why a schedule (a config entry or a tag) cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone `{0}` (an IANA name such as Europe/Berlin, or one of Custodian's aliases such as pt, et, cet)")]
    TimeZone(String),
    #[error("`{0}` is not a time of day (expected HH:MM, 00:00 to 23:59)")]
    Time(String),
    #[error("`{0}` names no day (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, or a list such as Mon,Wed)")]
    Days(String),
    #[error("`{0}` is not a switch (expected days then a time, such as `Mon-Fri 07:30`)")]
    Switch(String),
    #[error("it switches on and off at the same moment ({0})")]
    OnIsOff(String),
    #[error("not a Cloud Custodian offhours schedule: {0}")]
    Custodian(String),
}

/// A time zone by Custodian's alias or its IANA name, in any case.
pub fn time_zone(name: &str) -> Result<Tz, ScheduleError> {
    let wanted = name.trim().to_ascii_lowercase();
    if let Some((_, zone)) = CUSTODIAN_TZ_ALIASES.iter().find(|(alias, _)| *alias == wanted) {
        return zone.parse::<Tz>().map_err(|_| ScheduleError::TimeZone(name.to_string()));
    }
    chrono_tz::TZ_VARIANTS.iter().find(|tz| tz.name().to_ascii_lowercase() == wanted).copied().ok_or_else(|| ScheduleError::TimeZone(name.to_string()))
}

/// One costguard switch: `Mon-Fri 07:30`, `Sat,Sun 10:00`, `Fri-Mon 22:15`.
pub fn parse_switch(text: &str, to: Power, tz: Tz) -> Result<Switch, ScheduleError> {
    let (days, time) = text.trim().rsplit_once(char::is_whitespace).ok_or_else(|| ScheduleError::Switch(text.trim().to_string()))?;
    let at = NaiveTime::parse_from_str(time.trim(), "%H:%M").map_err(|_| ScheduleError::Time(time.trim().to_string()))?;
    Ok(Switch { days: parse_days(days.trim())?, at, to, tz })
}

/// `Mon-Fri`, `Mon,Wed,Fri`, `Fri-Mon`, `Sat` (names in any case, short or whole).
fn parse_days(text: &str) -> Result<Days, ScheduleError> {
    let day = |name: &str| name.trim().parse::<Weekday>().map_err(|_| ScheduleError::Days(text.to_string()));
    let mut days = Days::default();
    for part in text.split(',') {
        days = days.and(match part.split_once('-') {
            Some((from, to)) => Days::range(day(from)?, day(to)?),
            None => Days::one(day(part)?),
        });
    }
    Ok(days)
}

/// A schedule from its parts, as a config entry gives them; checked.
pub fn schedule(tz: &str, on: &[String], off: &[String], holidays: BTreeSet<NaiveDate>) -> Result<Schedule, ScheduleError> {
    let tz = time_zone(tz)?;
    let mut switches = Vec::new();
    for text in on {
        switches.push(parse_switch(text, Power::On, tz)?);
    }
    for text in off {
        switches.push(parse_switch(text, Power::Off, tz)?);
    }
    for a in switches.iter().filter(|s| s.to == Power::On) {
        for b in switches.iter().filter(|s| s.to == Power::Off) {
            if a.at == b.at && a.days.0 & b.days.0 != 0 {
                return Err(ScheduleError::OnIsOff(format!("{} on some of the same days", a.at.format("%H:%M"))));
            }
        }
    }
    Ok(Schedule { switches, holidays })
}

/// Custodian's time zone aliases (`c7n/filters/offhours.py`, `TZ_ALIASES`).
const CUSTODIAN_TZ_ALIASES: &[(&str, &str)] = &[
    ("pdt", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("pst", "America/Los_Angeles"),
    ("ast", "America/Phoenix"),
    ("at", "America/Phoenix"),
    ("est", "America/New_York"),
    ("edt", "America/New_York"),
    ("et", "America/New_York"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("mst", "America/Denver"),
    ("mdt", "America/Denver"),
    ("mt", "America/Denver"),
    ("gmt", "Etc/GMT"),
    ("gt", "Etc/GMT"),
    ("bst", "Europe/London"),
    ("ist", "Europe/Dublin"),
    ("cet", "Europe/Berlin"),
    ("it", "Asia/Kolkata"),
    ("jst", "Asia/Tokyo"),
    ("kst", "Asia/Seoul"),
    ("sgt", "Asia/Singapore"),
    ("aet", "Australia/Sydney"),
    ("brt", "America/Sao_Paulo"),
    ("utc", "Etc/UTC"),
];

/// The tag keys Custodian reads a schedule from (`maid_offhours` by
/// default; `custodian_downtime` in its examples), compared in lower case.
pub const CUSTODIAN_TAGS: &[&str] = &["maid_offhours", "custodian_downtime"];

/// What a Custodian policy supplies where a tag is silent: its `offhour`
/// and `onhour` (19 and 7 on weekdays) and its `default_tz` (`et`).
#[derive(Clone, Debug, PartialEq)]
pub struct CustodianDefaults {
    pub off: Vec<(Days, u32)>,
    pub on: Vec<(Days, u32)>,
    pub tz: String,
}

impl Default for CustodianDefaults {
    fn default() -> Self {
        CustodianDefaults { off: vec![(Days::WEEKDAYS, 19)], on: vec![(Days::WEEKDAYS, 7)], tz: "et".to_string() }
    }
}

/// What a Custodian schedule tag says.
#[derive(Clone, Debug, PartialEq)]
pub enum CustodianTag {
    /// The value `off`: the resource opts out.
    OptedOut,
    Schedule(Schedule),
}

/// Characters AWS tag values cannot hold, as Custodian users escape them
/// (`u28` for `(`), undone before reading.
const CUSTODIAN_ESCAPES: &[(&str, &str)] =
    &[("u28", "("), ("u29", ")"), ("u5b", "["), ("u5d", "]"), ("u2c", ","), ("u3b", ";"), ("u3d", "="), ("u2f", "/"), ("u2d", "-")];

/// Reads a Custodian offhours tag value as Custodian does
/// (`c7n/filters/offhours.py`, its `offhour` and `onhour` filters): lower
/// case, its escapes undone, surrounding quotes dropped, empty clauses
/// ignored; `off=` and `on=` each a switch or a bracketed list of
/// `(days,hour)` (`disabled`: never), days one of `m t w h f s u` or a
/// range of two (wrapping past Sunday), hours 0 to 23; `tz=` an alias or a
/// zone name. Each half (off, on) is read the way Custodian's filter for
/// it reads the tag, quirks included: a tag that does not name a half
/// takes it from `defaults`, with the tag's time zone (an empty `tz=` is UTC,
/// the zone Custodian itself runs in on Lambda). `off` opts out.
pub fn parse_custodian(value: &str, defaults: &CustodianDefaults) -> Result<CustodianTag, ScheduleError> {
    let mut value = value.to_lowercase();
    for (escaped, plain) in CUSTODIAN_ESCAPES {
        value = value.replace(escaped, plain);
    }
    let value = value.trim_matches('\'').trim_matches('"');
    if value == "off" {
        return Ok(CustodianTag::OptedOut);
    }
    let value = value.split(';').filter(|p| !p.is_empty()).collect::<Vec<_>>().join(";");
    let bad = |why: String| ScheduleError::Custodian(format!("{why} in `{value}`"));
    // Custodian's `raw_data`: pieces split at spaces and semicolons, those
    // that are exactly `key=value`; a later key wins.
    let raw: Vec<(&str, &str)> = value.split([' ', ';']).filter_map(|p| two(p.split('='))).collect();
    let raw_get = |key: &str| raw.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let unknown = raw.iter().find(|(k, _)| !["on", "off", "tz"].contains(k)).map(|(k, _)| *k);
    let mut switches = Vec::new();
    for to in [Power::Off, Power::On] {
        let (list, tz) = if raw_get(to.as_str()).is_some() {
            if let Some(key) = unknown {
                return Err(bad(format!("unknown key `{key}`")));
            }
            let parsed = custodian_parse(&value).map_err(|e| bad(e.to_string()))?;
            (parsed.switches(to), parsed.tz.unwrap_or(&defaults.tz).to_string())
        } else if let Some(key) = unknown {
            return Err(bad(format!("unknown key `{key}`")));
        } else {
            // An empty `tz=` reaches the time zone lookup as the empty
            // name, which is the local zone of the machine Custodian runs
            // on: UTC on Lambda and in containers.
            let tz = match raw_get("tz") {
                Some("") => "utc",
                Some(tz) => tz,
                None => &defaults.tz,
            };
            (if to == Power::Off { defaults.off.clone() } else { defaults.on.clone() }, tz.to_string())
        };
        let tz = time_zone(&tz)?;
        let at = |hour: u32| NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or_default();
        switches.extend(list.into_iter().map(|(days, hour)| Switch { days, at: at(hour), to, tz }));
    }
    Ok(CustodianTag::Schedule(Schedule { switches, holidays: BTreeSet::new() }))
}

/// The two items of an iterator of exactly two.
fn two<'a>(mut parts: impl Iterator<Item = &'a str>) -> Option<(&'a str, &'a str)> {
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => Some((a, b)),
        _ => None,
    }
}

/// A tag value as Custodian's `ScheduleParser.parse` reads it: every
/// `;` clause `key=value`, each value of a key but `tz` a valid schedule
/// (or `disabled`, which sets nothing); a later key wins; a key with a
/// space before it is checked but never used.
struct CustodianParsed<'a> {
    keys: Vec<(&'a str, Vec<(Days, u32)>)>,
    tz: Option<&'a str>,
}

impl CustodianParsed<'_> {
    fn switches(&self, to: Power) -> Vec<(Days, u32)> {
        self.keys.iter().rev().find(|(k, _)| *k == to.as_str()).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

/// Why Custodian's parser refuses a tag value.
#[derive(Debug, thiserror::Error)]
enum CustodianRefusal {
    #[error("`{0}` is not key=value")]
    NotKeyValue(String),
    #[error("`{0}` is not a schedule")]
    NotSchedule(String),
}

fn custodian_parse(value: &str) -> Result<CustodianParsed<'_>, CustodianRefusal> {
    let mut parsed = CustodianParsed { keys: Vec::new(), tz: None };
    for piece in value.split(';') {
        let (key, text) = two(piece.split('=')).ok_or_else(|| CustodianRefusal::NotKeyValue(piece.to_string()))?;
        match (key, text) {
            (_, "disabled") => {}
            ("tz", tz) => parsed.tz = Some(tz).filter(|t| !t.is_empty()),
            (key, text) => parsed.keys.push((key, custodian_switches(text).ok_or_else(|| CustodianRefusal::NotSchedule(text.to_string()))?)),
        }
    }
    Ok(parsed)
}

/// `(m-f,19)` or `[(m-f,21),(u,18)]`.
fn custodian_switches(text: &str) -> Option<Vec<(Days, u32)>> {
    let unbracketed: String = text.chars().filter(|c| *c != '[' && *c != ']').collect();
    unbracketed
        .split(",(")
        .map(|e| {
            let plain: String = e.chars().filter(|c| *c != '(' && *c != ')').collect();
            let [days, hour] = plain.split(',').collect::<Vec<_>>()[..] else { return None };
            let hour: u32 = hour.chars().all(|c| c.is_ascii_digit()).then(|| hour.parse().ok()).flatten().filter(|h| *h < 24)?;
            Some((custodian_days(days)?, hour))
        })
        .collect()
}

/// One of `m t w h f s u`, or two joined by `-` (unknown parts between
/// are skipped, as Custodian skips them).
fn custodian_days(text: &str) -> Option<Days> {
    let day = |c: &str| match c {
        "m" => Some(Weekday::Mon),
        "t" => Some(Weekday::Tue),
        "w" => Some(Weekday::Wed),
        "h" => Some(Weekday::Thu),
        "f" => Some(Weekday::Fri),
        "s" => Some(Weekday::Sat),
        "u" => Some(Weekday::Sun),
        _ => None,
    };
    if let Some(one) = day(text) {
        return Some(Days::one(one));
    }
    match text.split('-').filter_map(day).collect::<Vec<_>>()[..] {
        [from, to] => Some(Days::range(from, to)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    fn custodian(value: &str) -> Schedule {
        match parse_custodian(value, &CustodianDefaults::default()) {
            Ok(CustodianTag::Schedule(s)) => s,
            other => panic!("{value}: {other:?}"),
        }
    }

    fn hours(s: &Schedule, to: Power) -> Vec<(Days, u32)> {
        use chrono::Timelike;
        s.switches.iter().filter(|w| w.to == to).map(|w| (w.days, w.at.hour())).collect()
    }

    #[test]
    fn a_named_schedule_switches_in_its_own_time_zone_across_summer_time() {
        let berlin = schedule("Europe/Berlin", &["Mon-Fri 07:30".into()], &["Mon-Fri 19:00".into()], BTreeSet::new()).expect("valid");
        // Friday 27 March 2026, 19:00 in Berlin is 18:00 UTC (winter time);
        // Monday 30 March, 07:30 is 05:30 UTC (summer time since Sunday).
        let week = berlin.transitions(utc("2026-03-27T12:00:00Z"), utc("2026-03-31T00:00:00Z"));
        let want = [("2026-03-27T18:00:00Z", Power::Off), ("2026-03-30T05:30:00Z", Power::On), ("2026-03-30T17:00:00Z", Power::Off)];
        assert_eq!(week, want.map(|(at, to)| Transition { at: utc(at), to }));
        // Over the weekend it stays off; in force is Friday's stop.
        assert_eq!(berlin.in_force(utc("2026-03-29T12:00:00Z")).map(|t| (t.to, t.at)), Some((Power::Off, utc("2026-03-27T18:00:00Z"))));
        assert_eq!(berlin.in_force(utc("2026-03-30T06:00:00Z")).map(|t| t.to), Some(Power::On));
    }

    #[test]
    fn a_holiday_is_slept_through_and_a_time_skipped_by_summer_time_happens_when_clocks_go_on() {
        let holidays: BTreeSet<NaiveDate> = [NaiveDate::from_ymd_opt(2026, 12, 25).unwrap_or_default()].into();
        let s = schedule("Europe/Berlin", &["Mon-Fri 07:30".into()], &["Mon-Fri 19:00".into()], holidays).expect("valid");
        // Thursday 24th off at 19:00; Christmas Day (a Friday) never switched on.
        assert_eq!(s.in_force(utc("2026-12-25T12:00:00Z")).map(|t| (t.to, t.at)), Some((Power::Off, utc("2026-12-24T18:00:00Z"))));
        let early = schedule("Europe/Berlin", &["Sun 02:30".into()], &["Sun 05:00".into()], BTreeSet::new()).expect("valid");
        // 29 March 2026: 02:00 to 03:00 does not exist in Berlin.
        let on = early.transitions(utc("2026-03-28T00:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(on[0], Transition { at: utc("2026-03-29T01:00:00Z"), to: Power::On });
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        let bad = |tz: &str, on: &str, off: &str| schedule(tz, &[on.into()], &[off.into()], BTreeSet::new()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(bad("Mars/Olympus", "Mon-Fri 07:00", "Mon-Fri 19:00").contains("unknown time zone"));
        assert!(bad("UTC", "Mon-Fri 25:00", "Mon-Fri 19:00").contains("not a time"));
        assert!(bad("UTC", "Mon-Fry 07:00", "Mon-Fri 19:00").contains("names no day"));
        assert!(bad("UTC", "07:00", "Mon-Fri 19:00").contains("not a switch"));
        assert!(bad("UTC", "Mon-Fri 19:00", "Fri 19:00").contains("same moment"));
        assert!(schedule("utc", &["Mon-Fri 07:00".into()], &["Sat-Sun 19:00".into()], BTreeSet::new()).is_ok(), "any case");
    }

    #[test]
    fn custodian_tags_read_as_custodian_reads_them() {
        let pt = custodian("off=(M-F,19);on=(M-F,7);tz=pt");
        assert_eq!(pt.time_zone(), Some(chrono_tz::America::Los_Angeles));
        assert_eq!((hours(&pt, Power::Off), hours(&pt, Power::On)), (vec![(Days::WEEKDAYS, 19)], vec![(Days::WEEKDAYS, 7)]));
        // Upper case, escapes, quotes, trailing and doubled semicolons.
        assert_eq!(custodian("\"OFF=u28M-Fu2c19u29;;ON=(M-F,7);TZ=PT;\""), pt);
        // Several clauses, a range wrapping past Sunday, a zone name.
        let many = custodian("off=[(M-F,21),(U,18)];on=[(M-F,6),(U,10)];tz=Europe/Berlin");
        assert_eq!(hours(&many, Power::Off), vec![(Days::WEEKDAYS, 21), (Days::one(Weekday::Sun), 18)]);
        assert_eq!(many.time_zone(), Some(chrono_tz::Europe::Berlin));
        let wrap = custodian("off=(F-M,20)");
        assert_eq!(hours(&wrap, Power::Off), vec![(Days::range(Weekday::Fri, Weekday::Mon), 20)]);
        assert!(wrap.switches.iter().any(|s| s.to == Power::On), "on from the defaults");
        // What the tag leaves out: the defaults (weekdays 19 and 7, Eastern).
        let empty = custodian("");
        assert_eq!((empty.time_zone(), hours(&empty, Power::Off)), (Some(chrono_tz::America::New_York), vec![(Days::WEEKDAYS, 19)]));
        assert_eq!(custodian("tz=cet").time_zone(), Some(chrono_tz::Europe::Berlin));
        // A value with no key=value at all is the defaults too, as for Custodian.
        assert_eq!(custodian("on"), empty);
        // `disabled`: never switched that way.
        assert!(hours(&custodian("off=(M-F,19);on=disabled"), Power::On).is_empty());
        // Opted out.
        assert_eq!(parse_custodian("Off", &CustodianDefaults::default()), Ok(CustodianTag::OptedOut));
    }

    #[test]
    fn custodian_quirks_are_kept_so_a_tag_means_the_same() {
        // A space after the semicolon: Custodian's on-hour filter sees an
        // `on` key, parses the value, stores it as " on" and never matches.
        let spaced = custodian("off=(M-F,18); on=(M-F,9)");
        assert_eq!((hours(&spaced, Power::Off), hours(&spaced, Power::On)), (vec![(Days::WEEKDAYS, 18)], vec![]));
        // A clause that is not exactly key=value hides nothing from the
        // key check, and is the defaults when it is the only one.
        assert_eq!(custodian("off=(M-F,19)=x"), custodian(""));
        // An unknown part inside a range is skipped: m-x-f is m-f.
        assert_eq!(hours(&custodian("off=(m-x-f,19)"), Power::Off), vec![(Days::WEEKDAYS, 19)]);
    }

    #[test]
    fn custodian_tags_it_refuses_are_refused() {
        for bad in [
            "off=(M-F,24)",
            "off=(Mon-Fri,19)",
            "off=(M-F)",
            "off=(M-F,7pm)",
            "of=(M-F,19)",
            "off=(M-F,19);tz=mars",
            "off=(M-F,19);on=bogus",
            "tz=mars",
            // A spaced tz: Custodian's off-hour filter parses " tz" as a schedule, and fails.
            "off=(M-F,18); tz=pt",
        ] {
            assert!(parse_custodian(bad, &CustodianDefaults::default()).is_err(), "{bad}");
        }
    }
}
