//! CloudWatch metrics: many series in few requests.
//!
//! GetMetricData takes up to 500 queries per request; costguard sends every
//! series a sweep needs for one time window in ceil(n/500) requests (plus
//! continuation pages when AWS splits a large answer), never one per resource.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};

use super::AwsError;

const SERVICE: &str = "cloudwatch";
/// GetMetricData's limit on queries per request.
pub const MAX_QUERIES: usize = 500;

/// One time series and how to reduce it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesQuery {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `Maximum`, `Minimum`, `SampleCount` or `p99`-style.
    pub stat: String,
    pub period_secs: i32,
}

#[derive(Clone, Debug)]
pub struct CloudWatchClient {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchClient {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }

    /// The datapoints of each query over `[start, end)`, in query order.
    /// A series without datapoints gives an empty list.
    pub async fn get_metric_data(&self, queries: &[SeriesQuery], start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<Vec<f64>>, AwsError> {
        let points = self.get_metric_points(queries, start, end).await?;
        Ok(points.into_iter().map(|series| series.into_iter().map(|(_, v)| v).collect()).collect())
    }

    /// Like [`Self::get_metric_data`], each value with the start of its
    /// period (seconds since the epoch).
    pub async fn get_metric_points(&self, queries: &[SeriesQuery], start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<Vec<(i64, f64)>>, AwsError> {
        let mut points: Vec<Vec<(i64, f64)>> = vec![Vec::new(); queries.len()];
        for (chunk_index, chunk) in queries.chunks(MAX_QUERIES).enumerate() {
            let offset = chunk_index * MAX_QUERIES;
            let sdk_queries = chunk.iter().enumerate().map(|(i, q)| to_sdk(&format!("q{}", offset + i), q)).collect();
            let mut pages = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(sdk_queries))
                .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
                .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "GetMetricData", &[], e))?;
                for result in page.metric_data_results() {
                    let index = result.id().and_then(|id| id.strip_prefix('q')).and_then(|n| n.parse::<usize>().ok());
                    if let Some(slot) = index.and_then(|i| points.get_mut(i)) {
                        slot.extend(result.timestamps().iter().map(|t| t.secs()).zip(result.values().iter().copied()));
                    }
                }
            }
        }
        Ok(points)
    }

    /// Every series of `namespace` with datapoints in the last two weeks,
    /// as (metric name, dimensions): one ListMetrics per 500 series.
    pub async fn list_namespace(&self, namespace: &str) -> Result<Vec<(String, Vec<(String, String)>)>, AwsError> {
        let mut pages = self.client.list_metrics().namespace(namespace).into_paginator().send();
        let mut series = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListMetrics", &[], e))?;
            for m in page.metrics() {
                series.push((m.metric_name().unwrap_or_default().to_string(), dimensions_of(m.dimensions())));
            }
        }
        Ok(series)
    }

    /// The dimension sets under which `namespace`/`metric` has datapoints in
    /// the last two weeks: one ListMetrics per 500 series.
    pub async fn list_series(&self, namespace: &str, metric: &str) -> Result<Vec<Vec<(String, String)>>, AwsError> {
        let mut pages = self.client.list_metrics().namespace(namespace).metric_name(metric).into_paginator().send();
        let mut series = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListMetrics", &[], e))?;
            series.extend(page.metrics().iter().map(|m| dimensions_of(m.dimensions())));
        }
        Ok(series)
    }
}

/// A metric alarm on one series, the fields costguard declares.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricAlarm {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    /// `Maximum`, `Sum`, ...
    pub statistic: String,
    pub period_secs: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    /// `GreaterThanThreshold`, ...
    pub comparison: String,
    pub treat_missing_data: String,
    pub alarm_actions: Vec<String>,
}

impl CloudWatchClient {
    /// Every metric alarm whose name starts with `prefix`.
    pub async fn alarms(&self, prefix: &str) -> Result<Vec<MetricAlarm>, AwsError> {
        let mut pages = self.client.describe_alarms().alarm_name_prefix(prefix).max_records(100).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "DescribeAlarms", &[], e))?;
            for a in page.metric_alarms() {
                let mut actions = a.alarm_actions().to_vec();
                actions.sort();
                out.push(MetricAlarm {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    description: a.alarm_description().unwrap_or_default().to_string(),
                    namespace: a.namespace().unwrap_or_default().to_string(),
                    metric: a.metric_name().unwrap_or_default().to_string(),
                    dimensions: dimensions_of(a.dimensions()),
                    statistic: a.statistic().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    period_secs: a.period().unwrap_or_default(),
                    evaluation_periods: a.evaluation_periods().unwrap_or_default(),
                    threshold: a.threshold().unwrap_or_default(),
                    comparison: a.comparison_operator().map(|c| c.as_str().to_string()).unwrap_or_default(),
                    treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_string(),
                    alarm_actions: actions,
                });
            }
        }
        Ok(out)
    }

    /// Creates the alarm, or replaces it with these settings (PutMetricAlarm
    /// is an upsert).
    pub async fn put_alarm(&self, a: &MetricAlarm) -> Result<(), AwsError> {
        let dimensions = a.dimensions.iter().map(|(name, value)| Dimension::builder().name(name).value(value).build()).collect();
        self.client
            .put_metric_alarm()
            .alarm_name(&a.name)
            .alarm_description(&a.description)
            .namespace(&a.namespace)
            .metric_name(&a.metric)
            .set_dimensions(Some(dimensions))
            .statistic(aws_sdk_cloudwatch::types::Statistic::from(a.statistic.as_str()))
            .period(a.period_secs)
            .evaluation_periods(a.evaluation_periods)
            .threshold(a.threshold)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::from(a.comparison.as_str()))
            .treat_missing_data(&a.treat_missing_data)
            .set_alarm_actions(Some(a.alarm_actions.clone()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "PutMetricAlarm", &[], e))?;
        Ok(())
    }
}

fn to_sdk(id: &str, q: &SeriesQuery) -> MetricDataQuery {
    let dimensions = q.dimensions.iter().map(|(name, value)| Dimension::builder().name(name).value(value).build()).collect();
    let metric = Metric::builder().namespace(&q.namespace).metric_name(&q.metric).set_dimensions(Some(dimensions)).build();
    let stat = MetricStat::builder().metric(metric).period(q.period_secs).stat(&q.stat).build();
    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
}

fn dimensions_of(dimensions: &[Dimension]) -> Vec<(String, String)> {
    dimensions.iter().map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string())).collect()
}
