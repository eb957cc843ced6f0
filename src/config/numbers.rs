//! Numbers a config section bounds: each out of range is an error at its
//! place, and the default stands in so that every error is found in one go.

use crate::yaml::{DecodeError, Located};

/// A number above 0 and at most `max`.
pub fn positive(v: &Option<Located<f64>>, path: &str, default: f64, max: f64, errors: &mut Vec<DecodeError>) -> f64 {
    match v {
        Some(l) if !(l.value > 0.0 && l.value <= max) => {
            errors.push(DecodeError::new(l.loc, path, format!("expected a number above 0 and at most {max}, found {l}")));
            default
        }
        Some(l) => l.value,
        None => default,
    }
}

/// A whole number in `range`.
pub fn count(v: &Option<Located<i64>>, path: &str, default: i64, range: std::ops::RangeInclusive<i64>, errors: &mut Vec<DecodeError>) -> i64 {
    match v {
        Some(l) if !range.contains(&l.value) => {
            errors.push(DecodeError::new(l.loc, path, format!("expected a whole number from {} to {}, found {}", range.start(), range.end(), l.value)));
            default
        }
        Some(l) => l.value,
        None => default,
    }
}
