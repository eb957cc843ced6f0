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
    pub async fn get_metric_data(
        &self,
        queries: &[SeriesQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Vec<f64>>, AwsError> {
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
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
                    if let Some(slot) = index.and_then(|i| values.get_mut(i)) {
                        slot.extend_from_slice(result.values());
                    }
                }
            }
        }
        Ok(values)
    }

    /// The dimension sets under which `namespace`/`metric` has datapoints in
    /// the last two weeks: one ListMetrics per 500 series.
    pub async fn list_series(&self, namespace: &str, metric: &str) -> Result<Vec<Vec<(String, String)>>, AwsError> {
        let mut pages = self
            .client
            .list_metrics()
            .namespace(namespace)
            .metric_name(metric)
            .into_paginator()
            .send();
        let mut series = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListMetrics", &[], e))?;
            for m in page.metrics() {
                let dims = m.dimensions().iter().map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string())).collect();
                series.push(dims);
            }
        }
        Ok(series)
    }
}

fn to_sdk(id: &str, q: &SeriesQuery) -> MetricDataQuery {
    let dimensions = q.dimensions.iter().map(|(name, value)| Dimension::builder().name(name).value(value).build()).collect();
    let metric = Metric::builder().namespace(&q.namespace).metric_name(&q.metric).set_dimensions(Some(dimensions)).build();
    let stat = MetricStat::builder().metric(metric).period(q.period_secs).stat(&q.stat).build();
    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
}
