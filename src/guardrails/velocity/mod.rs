//! AI spend velocity: what the models' token use costs per hour, within
//! minutes, from the per-minute usage Bedrock publishes to CloudWatch
//! (budgets, Cost Explorer and the billing metric lag by hours).
//!
//! Per region: one ListMetrics per namespace finds the models in use (the
//! `ModelId` dimension: a model id, an inference profile id or a
//! provisioned model's ARN), then one GetMetricData reads every token
//! series of the last 24 hours at the configured period (1 or 5 minutes),
//! as sums. Only when the spike rule is set and something spent at least
//! its minimum in the last hour, a second GetMetricData reads the same
//! hour of the past 7 days for those models.
//!
//! - [`figures`]: tokens into dollars (pure).
//! - [`alerts`]: thresholds, and what to tell whom (pure), and its state.

pub mod alerts;
pub mod figures;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::aws::cloudwatch::SeriesQuery;
use crate::aws::{Aws, AwsError};
use crate::config::velocity::SpendVelocity;
use crate::pricing::tokens::TokenPrice;
use alerts::Evaluation;
use figures::AiSpend;

/// Days of history the spike rule compares the last hour with.
pub const BASELINE_DAYS: usize = 7;
/// What the figures cover.
const WINDOW_HOURS: i64 = 24;
/// Per-model series have one dimension naming the model: `ModelId` in
/// `AWS/Bedrock`; the OpenAI-compatible endpoint's model level is matched
/// by name too (its other levels, account, project and project+model, are
/// left out so nothing counts twice).
fn is_model_dimension(name: &str) -> bool {
    name.to_ascii_lowercase().contains("model")
}

/// What Bedrock meters per model, by CloudWatch metric name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Meter {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    Images,
}

/// Metric names by meter: `AWS/Bedrock`'s runtime metrics, and the
/// aggregate token metrics of `AWS/BedrockMantle` (Bedrock user guide,
/// "Monitor bedrock-runtime inference" and "Monitor bedrock-mantle
/// inference using CloudWatch metrics").
const METERS: [(Meter, &str); 9] = [
    (Meter::Input, "InputTokenCount"),
    (Meter::Input, "TotalInputTokens"),
    (Meter::Output, "OutputTokenCount"),
    (Meter::Output, "TotalOutputTokens"),
    (Meter::CacheRead, "CacheReadInputTokens"),
    (Meter::CacheRead, "CacheReadInputTokenCount"),
    (Meter::CacheWrite, "CacheWriteInputTokens"),
    (Meter::CacheWrite, "CacheWriteInputTokenCount"),
    (Meter::Images, "OutputImageCount"),
];

impl Meter {
    fn of(metric: &str) -> Option<Self> {
        METERS.iter().find(|(_, name)| *name == metric).map(|(m, _)| *m)
    }

    /// For people: what a price is missing for.
    pub fn label(self) -> &'static str {
        match self {
            Meter::Input => "input tokens",
            Meter::Output => "output tokens",
            Meter::CacheRead => "cache-read tokens",
            Meter::CacheWrite => "cache-write tokens",
            Meter::Images => "images",
        }
    }

    /// USD per token (or per image).
    pub fn usd_per_unit(self, p: &TokenPrice) -> Option<f64> {
        match self {
            Meter::Input => p.input_per_1k.map(|v| v / 1000.0),
            Meter::Output => p.output_per_1k.map(|v| v / 1000.0),
            Meter::CacheRead => p.cache_read_per_1k.map(|v| v / 1000.0),
            Meter::CacheWrite => p.cache_write_per_1k.map(|v| v / 1000.0),
            Meter::Images => p.per_image,
        }
    }
}

/// One model's use in one region (both namespaces together).
#[derive(Clone, Debug, Default)]
pub struct ModelUsage {
    pub region: String,
    pub model_id: String,
    /// Per meter, the sum of each period of the window, oldest first.
    pub recent: BTreeMap<Meter, Vec<f64>>,
    /// Per meter, the same hour of each of the past 7 days, oldest first;
    /// empty unless read.
    pub baseline: BTreeMap<Meter, Vec<f64>>,
}

/// The models' use over the 24 hours before `end`.
#[derive(Clone, Debug)]
pub struct Usage {
    /// The end of the last whole period.
    pub end: DateTime<Utc>,
    pub period_secs: i64,
    pub models: Vec<ModelUsage>,
}

impl Usage {
    pub fn start(&self) -> DateTime<Utc> {
        self.end - Duration::hours(WINDOW_HOURS)
    }

    pub fn periods(&self) -> usize {
        (WINDOW_HOURS * 3600 / self.period_secs) as usize
    }

    /// Periods in one hour (at least one).
    pub fn periods_per_hour(&self) -> usize {
        (3600 / self.period_secs).max(1) as usize
    }
}

/// The figures, and every rule watched with whether it is crossed.
#[derive(Clone, Debug)]
pub struct Checked {
    pub spend: AiSpend,
    pub evaluations: Vec<Evaluation>,
}

/// One series ListMetrics found for a model.
#[derive(Clone, Debug)]
struct Series {
    namespace: String,
    metric: String,
    dimension: String,
    meter: Meter,
}

/// The series found, per (region, model).
type Found = BTreeMap<(String, String), Vec<Series>>;

/// Reads the use, prices it, and evaluates the thresholds. A region that
/// cannot be read fails the check: figures that leave a region out would
/// say "under" when they do not know.
pub async fn check(aws: &Aws, regions: &[String], settings: &SpendVelocity, now: DateTime<Utc>) -> Result<Checked, AwsError> {
    let end = floor(now, settings.period_secs);
    let mut found = Found::new();
    for region in regions {
        let cw = aws.cloudwatch(region);
        for namespace in &settings.namespaces {
            for (metric, dimensions) in cw.list_namespace(namespace).await? {
                let (Some(meter), [(name, model)]) = (Meter::of(&metric), dimensions.as_slice()) else { continue };
                if is_model_dimension(name) {
                    let series = Series { namespace: namespace.clone(), metric, dimension: name.clone(), meter };
                    found.entry((region.clone(), model.clone())).or_default().push(series);
                }
            }
        }
    }
    let mut usage = Usage { end, period_secs: settings.period_secs, models: Vec::new() };
    for region in regions {
        let mine: Vec<(&String, &Vec<Series>)> = found.iter().filter(|((r, _), _)| r == region).map(|((_, m), s)| (m, s)).collect();
        if mine.is_empty() {
            continue;
        }
        let (queries, owners) = queries(&mine, settings.period_secs);
        let points = aws.cloudwatch(region).get_metric_points(&queries, usage.start(), end).await?;
        let mut models: BTreeMap<&String, ModelUsage> = BTreeMap::new();
        for ((model, meter), series) in owners.iter().zip(points) {
            let m = models.entry(model).or_insert_with(|| ModelUsage { region: region.clone(), model_id: (*model).clone(), ..Default::default() });
            let slots = m.recent.entry(*meter).or_insert_with(|| vec![0.0; usage.periods()]);
            for (at, value) in series {
                let i = (at - usage.start().timestamp()).div_euclid(settings.period_secs);
                if let Some(slot) = usize::try_from(i).ok().and_then(|i| slots.get_mut(i)) {
                    *slot += value;
                }
            }
        }
        usage.models.extend(models.into_values());
    }
    let mut spend = figures::summarise(&usage, settings);
    if let Some(spike) = settings.spike {
        // The total's baseline needs every priced model's; a model's, its own.
        let everyone = spend.total.usd_last_hour >= spike.min_usd_per_hour;
        let wanted: Vec<(String, String)> = spend
            .models
            .iter()
            .filter(|m| m.usd_last_hour.is_some_and(|v| everyone || v >= spike.min_usd_per_hour))
            .map(|m| (m.region.clone(), m.model_id.clone()))
            .collect();
        if !wanted.is_empty() {
            read_baseline(aws, &mut usage, &found, &wanted).await?;
            spend = figures::summarise(&usage, settings);
        }
    }
    let evaluations = alerts::evaluate(&mut spend, settings);
    Ok(Checked { spend, evaluations })
}

/// One Sum query per series, and which (model, meter) each is.
fn queries<'a>(models: &[(&'a String, &Vec<Series>)], period_secs: i64) -> (Vec<SeriesQuery>, Vec<(&'a String, Meter)>) {
    let mut queries = Vec::new();
    let mut owners = Vec::new();
    for (model, series) in models {
        for s in series.iter() {
            queries.push(SeriesQuery {
                namespace: s.namespace.clone(),
                metric: s.metric.clone(),
                dimensions: vec![(s.dimension.clone(), (*model).clone())],
                stat: "Sum".to_string(),
                period_secs: period_secs as i32,
            });
            owners.push((*model, s.meter));
        }
    }
    (queries, owners)
}

/// The same hour of each of the past 7 days for these models: hourly sums
/// from the first day's hour to yesterday's, of which every 24th is one.
async fn read_baseline(aws: &Aws, usage: &mut Usage, found: &Found, wanted: &[(String, String)]) -> Result<(), AwsError> {
    let last_hour = usage.end - Duration::hours(1);
    let start = last_hour - Duration::days(BASELINE_DAYS as i64);
    let end = usage.end - Duration::days(1);
    // `wanted` is in spending order, not by region: each region once.
    let regions: std::collections::BTreeSet<&String> = wanted.iter().map(|(r, _)| r).collect();
    for region in regions {
        let mine: Vec<(&String, &Vec<Series>)> =
            wanted.iter().filter(|(r, _)| r == region).filter_map(|(r, m)| found.get(&(r.clone(), m.clone())).map(|s| (m, s))).collect();
        let (queries, owners) = queries(&mine, 3600);
        let points = aws.cloudwatch(region).get_metric_points(&queries, start, end).await?;
        for ((model, meter), series) in owners.iter().zip(points) {
            let Some(m) = usage.models.iter_mut().find(|m| &m.region == region && &m.model_id == *model) else { continue };
            let days = m.baseline.entry(*meter).or_insert_with(|| vec![0.0; BASELINE_DAYS]);
            for (at, value) in series {
                let hour = (at - start.timestamp()).div_euclid(3600);
                if hour % 24 == 0 {
                    if let Some(day) = usize::try_from(hour / 24).ok().and_then(|d| days.get_mut(d)) {
                        *day += value;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `at` rounded down to a whole period (UTC).
fn floor(at: DateTime<Utc>, period_secs: i64) -> DateTime<Utc> {
    let secs = at.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(period_secs), 0).unwrap_or(at)
}
