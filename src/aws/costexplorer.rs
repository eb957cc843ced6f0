//! Cost Explorer: the account's spend by month and service, and AWS's
//! forecast. Each request is billed ($0.01), so callers cache the answers
//! (see `guardrails::spend`). Cost Explorer is global; its endpoint is in
//! us-east-1.

use std::collections::BTreeMap;

use aws_sdk_costexplorer::types::{DateInterval, Granularity, GroupDefinition, GroupDefinitionType, Metric};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{AwsError, ErrorKind};

const SERVICE: &str = "ce";
/// What the bill shows before credits and discounts are shared out.
const METRIC: &str = "UnblendedCost";

/// One month (or part of one) of spend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostPeriod {
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
    pub total_usd: f64,
    pub by_service: BTreeMap<String, f64>,
    /// AWS has not finalised these figures yet.
    pub estimated: bool,
}

#[derive(Clone, Debug)]
pub struct CostExplorerClient {
    client: aws_sdk_costexplorer::Client,
}

fn interval(operation: &'static str, start: NaiveDate, end: NaiveDate) -> Result<DateInterval, AwsError> {
    DateInterval::builder()
        .start(start.format("%Y-%m-%d").to_string())
        .end(end.format("%Y-%m-%d").to_string())
        .build()
        .map_err(|e| AwsError { service: SERVICE, operation, code: "InvalidRequest".into(), message: e.to_string(), kind: ErrorKind::Final })
}

fn amount(v: Option<&aws_sdk_costexplorer::types::MetricValue>) -> f64 {
    v.and_then(|m| m.amount()).and_then(|a| a.parse().ok()).unwrap_or(0.0)
}

impl CostExplorerClient {
    pub fn new(client: aws_sdk_costexplorer::Client) -> Self {
        Self { client }
    }

    /// Monthly spend from `start` to `end` (exclusive), by service: one
    /// request (plus continuation pages for accounts with many services).
    pub async fn monthly_by_service(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CostPeriod>, AwsError> {
        let mut periods: Vec<CostPeriod> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_cost_and_usage()
                .time_period(interval("GetCostAndUsage", start, end)?)
                .granularity(Granularity::Monthly)
                .metrics(METRIC)
                .group_by(GroupDefinition::builder().r#type(GroupDefinitionType::Dimension).key("SERVICE").build())
                .set_next_page_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SERVICE, "GetCostAndUsage", &[], e))?;
            for r in out.results_by_time() {
                let Some(tp) = r.time_period() else { continue };
                let (Ok(s), Ok(e)) = (NaiveDate::parse_from_str(tp.start(), "%Y-%m-%d"), NaiveDate::parse_from_str(tp.end(), "%Y-%m-%d")) else { continue };
                let idx = match periods.iter().position(|p| p.start == s) {
                    Some(i) => i,
                    None => {
                        periods.push(CostPeriod { start: s, end: e, total_usd: 0.0, by_service: BTreeMap::new(), estimated: r.estimated() });
                        periods.len() - 1
                    }
                };
                let period = &mut periods[idx];
                for g in r.groups() {
                    let service = g.keys().first().cloned().unwrap_or_else(|| "(unknown)".to_string());
                    let usd = amount(g.metrics().and_then(|m| m.get(METRIC)));
                    *period.by_service.entry(service).or_default() += usd;
                }
                // Grouped answers leave Total empty; the groups sum to it.
                let total = amount(r.total().and_then(|t| t.get(METRIC)));
                period.total_usd = if total > 0.0 { total } else { period.by_service.values().sum() };
            }
            token = out.next_page_token().map(str::to_string).filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        periods.sort_by_key(|p| p.start);
        Ok(periods)
    }

    /// AWS's forecast of spend from `start` to `end` (exclusive).
    pub async fn forecast(&self, start: NaiveDate, end: NaiveDate) -> Result<f64, AwsError> {
        let out = self
            .client
            .get_cost_forecast()
            .time_period(interval("GetCostForecast", start, end)?)
            .metric(Metric::UnblendedCost)
            .granularity(Granularity::Monthly)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetCostForecast", &[], e))?;
        Ok(amount(out.total()))
    }
}
