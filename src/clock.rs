//! The wall clock, handed in from the edge.
//!
//! Only `main` reads the system clock: everything else is given a [`Clock`],
//! so that tests choose the time (a fixed instant on any date, or one that
//! moves) and calendar logic can be checked on the last day of a month as
//! on any other. `tests/layout.rs` fails the build if library code reads
//! the system clock itself.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// A clock that asks `now` each time (main passes the system clock).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// A clock that always says `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock::from_fn(move || at)
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }

    /// This clock, `by` later (a sweep "a week from now" in tests).
    pub fn shifted(&self, by: Duration) -> Self {
        let inner = self.0.clone();
        Clock::from_fn(move || inner() + by)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now().to_rfc3339())
    }
}

/// The instant unit tests share: mid-month, mid-day, so that no test of
/// the library depends on the date it runs.
#[cfg(test)]
pub(crate) fn test_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-15T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_and_a_shifted_one_moves_with_it() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T23:59:59Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        let clock = Clock::fixed(at);
        assert_eq!(clock.now(), at);
        assert_eq!(clock.shifted(Duration::seconds(1)).now().to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }
}
