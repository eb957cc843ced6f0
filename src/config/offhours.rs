//! `schedules:`: the named off-hours schedules of the policy files.
//!
//! ```yaml
//! schedules:
//!   berlin-office:
//!     tz: Europe/Berlin
//!     on: Mon-Fri 07:30            # or a list: [Mon-Thu 07:30, Fri 09:00]
//!     off: Mon-Fri 19:00
//!     holidays: [2026-12-24, 2026-12-25, 2026-12-31]
//!     holidays-file: berlin.ics    # an iCalendar file's all-day events, beside this file
//!     warm-up-minutes: 15
//! ```
//!
//! Every problem is an error at its line: an unknown time zone, `25:00`,
//! a day range that names no day, off at the same time as on.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Duration, NaiveDate};

use crate::schedule::{self, Book, Named};
use crate::yaml::{DecodeError, Loc, Node, Value};

/// The longest warm-up: a day (anything longer is a typo).
const MAX_WARM_UP_MINUTES: f64 = 1440.0;

/// Adds the schedules of one file's `schedules:` section to `book`.
pub fn compile(file: &Path, node: &Node, book: &mut Book, errors: &mut Vec<DecodeError>) -> usize {
    let entries = match &node.value {
        Value::Map(entries) => entries,
        Value::Null => return 0,
        other => {
            errors.push(DecodeError::new(node.loc, "schedules", format!("expected a map of named schedules, found {}", other.kind())));
            return 0;
        }
    };
    let mut declared = 0;
    for (key, value) in entries {
        let Some(name) = key.as_str().map(str::trim).filter(|n| valid_name(n)) else {
            errors.push(DecodeError::new(
                key.loc,
                "schedules",
                "a schedule's name is letters, digits, `-`, `_` or `.` (it goes in a tag: costguard:schedule=NAME)",
            ));
            continue;
        };
        if book.get(name).is_some() {
            errors.push(DecodeError::new(key.loc, format!("schedules.{name}"), format!("schedule `{name}` is declared twice")));
            continue;
        }
        if name.eq_ignore_ascii_case("none") {
            errors.push(DecodeError::new(key.loc, format!("schedules.{name}"), "`none` is the tag value that opts out: choose another name"));
            continue;
        }
        if let Some(named) = compile_one(file, name, value, errors) {
            book.insert(named);
            declared += 1;
        }
    }
    declared
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn compile_one(file: &Path, name: &str, node: &Node, errors: &mut Vec<DecodeError>) -> Option<Named> {
    let path = format!("schedules.{name}");
    let Value::Map(entries) = &node.value else {
        errors.push(DecodeError::new(node.loc, path, format!("expected tz, on and off, found {}", node.value.kind())));
        return None;
    };
    let before = errors.len();
    let (mut tz, mut on, mut off, mut holidays, mut warm_up) = (None, Vec::new(), Vec::new(), BTreeSet::new(), Duration::zero());
    for (key, value) in entries {
        let key_name = key.as_str().unwrap_or("?");
        let here = format!("{path}.{key_name}");
        match key_name {
            "tz" => match value.as_str().map(schedule::time_zone) {
                Some(Ok(zone)) => tz = Some(zone),
                Some(Err(e)) => errors.push(DecodeError::new(value.loc, here, e.to_string())),
                None => {
                    errors.push(DecodeError::new(value.loc, here, format!("expected a time zone name such as Europe/Berlin, found {}", value.value.kind())))
                }
            },
            "on" => on = texts(value, &here, errors),
            "off" => off = texts(value, &here, errors),
            "holidays" => {
                for (text, loc) in texts(value, &here, errors) {
                    match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                        Ok(d) => {
                            holidays.insert(d);
                        }
                        Err(_) => errors.push(DecodeError::new(loc, here.clone(), format!("expected a date such as 2026-12-24, found {text:?}"))),
                    }
                }
            }
            "holidays-file" => match value.as_str() {
                Some(f) => {
                    let at = file.parent().unwrap_or(Path::new(".")).join(f.trim());
                    match ical_dates(&at) {
                        Ok(dates) => holidays.extend(dates),
                        Err(why) => errors.push(DecodeError::new(value.loc, here, format!("{}: {why}", at.display()))),
                    }
                }
                None => errors.push(DecodeError::new(value.loc, here, "expected the path of an iCalendar (.ics) file")),
            },
            "warm-up-minutes" => match value.value {
                Value::Int(m) if (0.0..=MAX_WARM_UP_MINUTES).contains(&(m as f64)) => warm_up = Duration::minutes(m),
                _ => errors.push(DecodeError::new(value.loc, here, format!("expected whole minutes from 0 to {MAX_WARM_UP_MINUTES}"))),
            },
            other => {
                let hint = crate::yaml::closest_name(other, ["tz", "on", "off", "holidays", "holidays-file", "warm-up-minutes"])
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                errors.push(DecodeError::new(
                    key.loc,
                    here,
                    format!("unknown key `{other}`, expected tz, on, off, holidays, holidays-file or warm-up-minutes{hint}"),
                ));
            }
        }
    }
    let Some(tz) = tz else {
        if errors.len() == before {
            errors.push(DecodeError::new(node.loc, path, "a schedule needs `tz` (a time zone such as Europe/Berlin)"));
        }
        return None;
    };
    let mut switches = Vec::new();
    for (list, to) in [(&on, schedule::Power::On), (&off, schedule::Power::Off)] {
        if list.is_empty() && errors.len() == before {
            errors.push(DecodeError::new(node.loc, path.clone(), format!("a schedule needs `{}` (days and a time, such as Mon-Fri 19:00)", to.as_str())));
        }
        for (text, loc) in list {
            match schedule::parse_switch(text, to, tz) {
                Ok(s) => switches.push(s),
                Err(e) => errors.push(DecodeError::new(*loc, format!("{path}.{}", to.as_str()), e.to_string())),
            }
        }
    }
    if errors.len() != before {
        return None;
    }
    let texts = |l: &[(String, Loc)]| l.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    match schedule::schedule(tz.name(), &texts(&on), &texts(&off), holidays) {
        Ok(schedule) => Some(Named { name: name.to_string(), schedule, warm_up }),
        Err(e) => {
            errors.push(DecodeError::new(node.loc, path, e.to_string()));
            None
        }
    }
}

/// One text or a list of texts, each with its place.
fn texts(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Vec<(String, Loc)> {
    let one = |n: &Node, errors: &mut Vec<DecodeError>| match n.as_str() {
        Some(s) => Some((s.to_string(), n.loc)),
        None => {
            errors.push(DecodeError::new(n.loc, path, format!("expected text such as `Mon-Fri 07:30`, found {}", n.value.kind())));
            None
        }
    };
    match &node.value {
        Value::Seq(items) => items.iter().filter_map(|n| one(n, errors)).collect(),
        _ => one(node, errors).into_iter().collect(),
    }
}

/// The dates of an iCalendar file's events (`DTSTART;VALUE=DATE:20261224`,
/// or a date-time's date), as public holiday calendars publish them.
fn ical_dates(path: &Path) -> Result<Vec<NaiveDate>, String> {
    let text = crate::files::read_text_bounded(path, super::MAX_FILE_BYTES).map_err(|e| format!("cannot read: {e}"))?;
    if !text.contains("BEGIN:VCALENDAR") {
        return Err("not an iCalendar file (no BEGIN:VCALENDAR)".to_string());
    }
    let mut dates = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("DTSTART") else { continue };
        let value = rest.rsplit(':').next().unwrap_or_default().trim();
        let day = value.get(..8).and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
        match day {
            Some(d) => dates.push(d),
            None => return Err(format!("line {}: DTSTART {value:?} is not a date", i + 1)),
        }
    }
    Ok(dates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book_of(text: &str) -> Result<Book, Vec<String>> {
        let root = crate::yaml::parse(text).unwrap();
        let mut book = Book::default();
        let mut errors = Vec::new();
        compile(Path::new("p.yaml"), root.get("schedules").unwrap(), &mut book, &mut errors);
        if errors.is_empty() {
            Ok(book)
        } else {
            Err(errors.iter().map(|e| format!("{} {}", e.loc.map(|l| l.to_string()).unwrap_or_default(), e.message)).collect())
        }
    }

    #[test]
    fn a_schedule_compiles_with_its_holidays_and_warm_up() {
        let book = book_of("schedules:\n  berlin-office:\n    tz: Europe/Berlin\n    on: [Mon-Thu 07:30, Fri 09:00]\n    off: Mon-Fri 19:00\n    holidays: [2026-12-24]\n    warm-up-minutes: 15\n").unwrap();
        let named = book.get("berlin-office").unwrap();
        assert_eq!(named.schedule.switches.len(), 3);
        assert_eq!(named.warm_up, Duration::minutes(15));
        assert!(named.schedule.holidays.contains(&NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()));
    }

    #[test]
    fn each_bad_schedule_is_an_error_at_its_line() {
        let errors = book_of(
            "schedules:\n  a:\n    tz: Mars/Olympus\n    on: Mon-Fri 07:30\n    off: Mon-Fri 19:00\n  b:\n    tz: UTC\n    on: Mon-Fri 25:00\n    off: Mon-Fri 19:00\n  c:\n    tz: UTC\n    on: Mon-Fri 19:00\n    off: Mon-Fri 19:00\n  d:\n    tz: UTC\n    on: Mox-Fri 07:00\n    off: Mon-Fri 19:00\n    warm-up: 5\n",
        )
        .unwrap_err();
        let joined = errors.join("\n");
        assert!(joined.contains("3:9") && joined.contains("unknown time zone"), "{joined}");
        assert!(joined.contains("8:9") && joined.contains("`25:00` is not a time"), "{joined}");
        assert!(joined.contains("same moment"), "{joined}");
        assert!(joined.contains("16:9") && joined.contains("names no day"), "{joined}");
        assert!(joined.contains("18:5") && joined.contains("did you mean `warm-up-minutes`"), "{joined}");
    }
}
