//! `metrics`: compare a CloudWatch statistic over a window with a threshold.
//!
//! ```yaml
//! - type: metrics
//!   name: Invocations          # metric name
//!   namespace: AWS/SageMaker   # default: the resource type's namespace
//!   statistic: Sum             # Sum Average Maximum Minimum SampleCount p99 ...
//!   days: 14                   # the window, ending now
//!   period: 86400              # seconds; default: one period spanning the window
//!   op: eq                     # eq ne gt ge lt le
//!   value: 0
//!   missing-data: zero         # zero | no-match (default) | match
//! ```
//!
//! A resource with several series (an endpoint has one per production
//! variant) is judged on all of them together: sums add up, maxima and
//! percentiles take the highest, minima the lowest, averages the mean.
//! Series without datapoints are left out; when no series has any, the
//! `missing-data` rule decides (`zero` treats it as a value of 0).
//!
//! A resource younger than the window never matches: it has not been
//! measured over the time the policy asked about.
//!
//! The inventory fetches every series of every filter in one batch
//! (GetMetricData, 500 queries a request) before planning, so evaluation
//! here is pure.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Deserialize;

use super::value::Op;
use crate::aws::cloudwatch::SeriesQuery;
use crate::resources::{Resource, ResourceType};
use crate::yaml::{DecodeError, Located};

/// CloudWatch keeps hourly datapoints for 455 days.
pub const MAX_DAYS: f64 = 455.0;

/// One period spanning a window of `days`, on whole hours: one datapoint
/// per series, the cheapest question for AWS (and for the emulator).
pub fn whole_window_period(days: f64) -> i32 {
    let window_secs = (days.clamp(0.0, MAX_DAYS) * 86_400.0).ceil() as i64;
    i32::try_from(((window_secs + 3599) / 3600).max(1) * 3600).unwrap_or(i32::MAX)
}

/// The window of `days` ending at `now`, on whole minutes (CloudWatch's grain).
pub fn window_ending(now: DateTime<Utc>, days: f64) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    (end - Duration::seconds((days * 86_400.0).ceil() as i64), end)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricsSpec {
    pub name: Located<String>,
    #[serde(default)]
    pub namespace: Option<Located<String>>,
    #[serde(default, alias = "statistics")]
    pub statistic: Option<Located<String>>,
    pub days: Located<f64>,
    #[serde(default)]
    pub period: Option<Located<i64>>,
    #[serde(default)]
    pub op: Option<Located<Op>>,
    pub value: Located<f64>,
    #[serde(default)]
    pub missing_data: Option<Located<MissingData>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingData {
    /// No datapoints counts as a value of 0 (an endpoint nobody calls
    /// publishes no `Invocations` at all).
    Zero,
    /// No datapoints: the resource does not match (the safe default).
    NoMatch,
    /// No datapoints: the resource matches.
    Match,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    Sum,
    Average,
    Maximum,
    Minimum,
    SampleCount,
    Percentile(f64),
}

impl Stat {
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "Sum" => Stat::Sum,
            "Average" => Stat::Average,
            "Maximum" => Stat::Maximum,
            "Minimum" => Stat::Minimum,
            "SampleCount" => Stat::SampleCount,
            p => {
                let n: f64 = p.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&n) {
                    return None;
                }
                Stat::Percentile(n)
            }
        })
    }

    /// The name GetMetricData takes.
    pub fn cloudwatch_name(self) -> String {
        match self {
            Stat::Sum => "Sum".into(),
            Stat::Average => "Average".into(),
            Stat::Maximum => "Maximum".into(),
            Stat::Minimum => "Minimum".into(),
            Stat::SampleCount => "SampleCount".into(),
            Stat::Percentile(p) => format!("p{p}"),
        }
    }

    /// Folds several values (periods of one series, or series of one
    /// resource) into one. Percentiles of parts cannot be merged exactly;
    /// the highest is the conservative answer.
    pub fn fold(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Stat::Sum | Stat::SampleCount => values.iter().sum(),
            Stat::Maximum | Stat::Percentile(_) => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Stat::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Stat::Average => values.iter().sum::<f64>() / values.len() as f64,
        })
    }
}

#[derive(Clone, Debug)]
pub struct MetricsFilter {
    pub namespace: String,
    pub metric: String,
    pub stat: Stat,
    pub days: f64,
    pub period_secs: i32,
    pub op: Op,
    pub value: f64,
    pub missing: MissingData,
}

impl MetricsSpec {
    pub fn compile(&self, resource_type: ResourceType, path: &str, errors: &mut Vec<DecodeError>) -> Option<MetricsFilter> {
        let before = errors.len();
        let mut error = |loc, field: &str, message: String| errors.push(DecodeError::new(loc, format!("{path}.{field}"), message));
        let namespace = match (&self.namespace, resource_type.metric_namespace()) {
            (Some(ns), _) => ns.value.clone(),
            (None, Some(ns)) => ns.to_string(),
            (None, None) => {
                error(self.name.loc, "type", format!("{resource_type} publishes no CloudWatch metrics costguard can attribute to it"));
                String::new()
            }
        };
        let stat = match &self.statistic {
            None => Stat::Sum,
            Some(s) => Stat::parse(&s.value).unwrap_or_else(|| {
                error(s.loc, "statistic", format!("expected Sum, Average, Maximum, Minimum, SampleCount or a percentile like p99; found {:?}", s.value));
                Stat::Sum
            }),
        };
        let days = self.days.value;
        if !(days > 0.0 && days <= MAX_DAYS) {
            error(self.days.loc, "days", format!("days must be more than 0 and at most {MAX_DAYS} (CloudWatch's retention), found {}", self.days));
        }
        let window_secs = (days.clamp(0.0, MAX_DAYS) * 86_400.0).ceil() as i64;
        let period_secs = match &self.period {
            None => i64::from(whole_window_period(days)),
            Some(p) => {
                let required = if days > 63.0 {
                    3600
                } else if days > 15.0 {
                    300
                } else {
                    60
                };
                if p.value < 60 || p.value % required != 0 || p.value > window_secs.max(60) {
                    error(
                        p.loc,
                        "period",
                        format!(
                        "period must be a multiple of {required} seconds (CloudWatch's rule for a {days}-day window) and no longer than the window; found {}",
                        p.value
                    ),
                    );
                }
                p.value
            }
        };
        let op = self.op.as_ref().map_or(Op::Eq, |o| o.value);
        if matches!(op, Op::In | Op::NotIn | Op::Regex) {
            if let Some(o) = &self.op {
                error(o.loc, "op", "a metric compares numbers: use eq, ne, gt, ge, lt or le".to_string());
            }
        }
        if errors.len() > before {
            return None;
        }
        Some(MetricsFilter {
            namespace,
            metric: self.name.value.clone(),
            stat,
            days,
            period_secs: i32::try_from(period_secs).unwrap_or(i32::MAX),
            op,
            value: self.value.value,
            missing: self.missing_data.as_ref().map_or(MissingData::NoMatch, |m| m.value),
        })
    }
}

/// How far back ListMetrics sees: series with datapoints in the last two weeks.
pub const LISTED_DAYS: f64 = 14.0;

impl MetricsFilter {
    /// Names this filter's datapoints in `Resource::metrics`; filters asking
    /// the same question share one fetch.
    pub fn key(&self) -> String {
        format!("{}/{}/{}/{}s/{}d", self.namespace, self.metric, self.stat.cloudwatch_name(), self.period_secs, self.days)
    }

    /// The window ending at `now`, on whole minutes (CloudWatch's grain).
    pub fn window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        window_ending(now, self.days)
    }

    fn window_length(&self) -> Duration {
        Duration::seconds((self.days * 86_400.0).ceil() as i64)
    }

    pub fn queries(&self, series: &[Vec<(String, String)>]) -> Vec<SeriesQuery> {
        series
            .iter()
            .map(|dimensions| SeriesQuery {
                namespace: self.namespace.clone(),
                metric: self.metric.clone(),
                dimensions: dimensions.clone(),
                stat: self.stat.cloudwatch_name(),
                period_secs: self.period_secs,
            })
            .collect()
    }

    /// The series this filter reads for `resource`: (key, days, queries).
    pub fn metric_needs(&self, resource: &Resource) -> Vec<(String, f64, Vec<SeriesQuery>)> {
        // Before any describe, the series ListMetrics found: exact for a
        // window within its two weeks (a series with no datapoint there
        // adds nothing to any statistic).
        let listed = || resource.listed(&self.namespace, &self.metric).filter(|_| self.days <= LISTED_DAYS).map(<[_]>::to_vec);
        resource.metric_series().or_else(listed).map(|series| vec![(self.key(), self.days, self.queries(&series))]).unwrap_or_default()
    }

    pub fn is_fetched(&self, resource: &Resource) -> bool {
        resource.metrics.contains_key(&self.key())
    }

    pub fn evaluate(&self, resource: &Resource, now: DateTime<Utc>) -> Option<String> {
        let created = resource.created_at?;
        if now - created < self.window_length() {
            return None;
        }
        let series = resource.metrics.get(&self.key())?;
        let per_series: Vec<f64> = series.iter().filter_map(|points| self.stat.fold(points)).collect();
        let (observed, note) = match self.stat.fold(&per_series) {
            Some(v) => (v, String::new()),
            None => match self.missing {
                MissingData::Zero => (0.0, ", no datapoints: counted as 0".to_string()),
                MissingData::NoMatch => return None,
                MissingData::Match => return Some(format!("{} has no datapoints in {} days", self.metric, self.days)),
            },
        };
        let matched = match self.op {
            Op::Eq => observed == self.value,
            Op::Ne => observed != self.value,
            Op::Gt => observed > self.value,
            Op::Ge => observed >= self.value,
            Op::Lt => observed < self.value,
            Op::Le => observed <= self.value,
            Op::In | Op::NotIn | Op::Regex => false,
        };
        let series_note = if series.len() == 1 { String::new() } else { format!(" across {} series", series.len()) };
        matched
            .then(|| format!("{} {} over {} days = {observed}{series_note}{note} ({})", self.metric, self.stat.cloudwatch_name(), self.days, self.describe()))
    }

    pub fn describe(&self) -> String {
        format!("{} {} over {} days {} {}", self.metric, self.stat.cloudwatch_name(), self.days, self.op.symbol(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::sagemaker_endpoint::fixture;

    fn idle() -> MetricsFilter {
        MetricsFilter {
            namespace: "AWS/SageMaker".into(),
            metric: "Invocations".into(),
            stat: Stat::Sum,
            days: 7.0,
            period_secs: 604_800,
            op: Op::Eq,
            value: 0.0,
            missing: MissingData::Zero,
        }
    }

    fn endpoint_with(series: Vec<Vec<f64>>) -> Resource {
        let mut r = fixture("e", "InService", &[("a", "ml.m5.large", 1), ("b", "ml.m5.large", 1)]);
        r.metrics.insert(idle().key(), series);
        r
    }

    #[test]
    fn invocations_are_summed_over_every_variant() {
        let now = crate::clock::test_now();
        assert!(idle().evaluate(&endpoint_with(vec![vec![0.0], vec![]]), now).is_some());
        assert!(idle().evaluate(&endpoint_with(vec![vec![0.0], vec![3.0]]), now).is_none(), "one busy variant makes the endpoint busy");
    }

    #[test]
    fn missing_data_follows_the_rule() {
        let now = crate::clock::test_now();
        let silent = endpoint_with(vec![vec![], vec![]]);
        assert!(idle().evaluate(&silent, now).unwrap_or_default().contains("counted as 0"));
        let strict = MetricsFilter { missing: MissingData::NoMatch, ..idle() };
        assert!(strict.evaluate(&silent, now).is_none());
    }

    #[test]
    fn a_resource_younger_than_the_window_never_matches() {
        let r = endpoint_with(vec![vec![0.0], vec![0.0]]);
        let created = r.created_at.unwrap_or_default();
        assert!(idle().evaluate(&r, created + Duration::days(6)).is_none());
        assert!(idle().evaluate(&r, created + Duration::days(8)).is_some());
    }

    #[test]
    fn statistics_parse_like_cloudwatch() {
        assert_eq!(Stat::parse("p99"), Some(Stat::Percentile(99.0)));
        assert_eq!(Stat::parse("p99.9").map(Stat::cloudwatch_name).as_deref(), Some("p99.9"));
        assert_eq!(Stat::parse("avg"), None);
        assert_eq!(Stat::parse("p101"), None);
        assert_eq!(Stat::Maximum.fold(&[1.0, 5.0, 2.0]), Some(5.0));
    }
}
