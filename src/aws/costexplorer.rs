//! Cost Explorer: the account's spend by month and service, and AWS's
//! forecast. Each request is billed ($0.01), so callers cache the answers
//! (see `guardrails::spend`). Cost Explorer is global; its endpoint is in
//! us-east-1.

use std::collections::BTreeMap;

use aws_sdk_costexplorer::types::{
    AnomalyMonitor, AnomalySubscription, AnomalySubscriptionFrequency, DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType, MatchOption, Metric, MonitorDimension, MonitorType, Subscriber, SubscriberType,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::AwsError;

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

/// A cost anomaly monitor, as AWS holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedMonitor {
    pub arn: String,
    pub name: String,
    /// `DIMENSIONAL` or `CUSTOM`.
    pub monitor_type: String,
    /// `SERVICE` for the per-service monitor.
    pub dimension: Option<String>,
}

/// An anomaly alert subscription, as AWS holds it (or as declared).
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyAlerts {
    pub name: String,
    pub monitors: Vec<String>,
    /// `DAILY`, `WEEKLY` or `IMMEDIATE`.
    pub frequency: String,
    /// Alert when an anomaly's total impact reaches this many USD.
    pub threshold_usd: Option<f64>,
    /// Sorted.
    pub emails: Vec<String>,
    pub sns_topic: Option<String>,
}

/// The dimension an anomaly's absolute impact is compared on.
const IMPACT: &str = "ANOMALY_TOTAL_IMPACT_ABSOLUTE";

fn threshold_of(s: &AnomalySubscription) -> Option<f64> {
    let from_expression = s
        .threshold_expression()
        .and_then(|e| e.dimensions())
        .filter(|d| d.key().is_some_and(|k| k.as_str() == IMPACT))
        .and_then(|d| d.values().first())
        .and_then(|v| v.parse().ok());
    #[allow(deprecated)] // older subscriptions carry only the plain threshold
    from_expression.or(s.threshold())
}

fn sdk_subscribers(a: &AnomalyAlerts) -> Vec<Subscriber> {
    let mut out: Vec<Subscriber> = a.emails.iter().map(|e| Subscriber::builder().address(e).r#type(SubscriberType::Email).build()).collect();
    out.extend(a.sns_topic.iter().map(|t| Subscriber::builder().address(t).r#type(SubscriberType::Sns).build()));
    out
}

fn threshold_expression(usd: f64) -> Expression {
    let values = DimensionValues::builder().key(Dimension::from(IMPACT)).values(format!("{usd}")).match_options(MatchOption::GreaterThanOrEqual).build();
    Expression::builder().dimensions(values).build()
}

fn interval(operation: &'static str, start: NaiveDate, end: NaiveDate) -> Result<DateInterval, AwsError> {
    DateInterval::builder()
        .start(start.format("%Y-%m-%d").to_string())
        .end(end.format("%Y-%m-%d").to_string())
        .build()
        .map_err(|e| AwsError::invalid_request(SERVICE, operation, e))
}

fn amount(v: Option<&aws_sdk_costexplorer::types::MetricValue>) -> f64 {
    v.and_then(|m| m.amount()).and_then(|a| a.parse().ok()).unwrap_or(0.0)
}

impl CostExplorerClient {
    pub fn new(client: aws_sdk_costexplorer::Client) -> Self {
        Self { client }
    }

    /// Daily spend from `start` to `end` (exclusive), by service: one
    /// request (plus continuation pages for accounts with many services),
    /// from which months are summed and the last days charted. Periods come
    /// back as AWS gives them (an answer of whole months is kept as such).
    pub async fn daily_by_service(&self, start: NaiveDate, end: NaiveDate) -> Result<Vec<CostPeriod>, AwsError> {
        let mut periods: Vec<CostPeriod> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_cost_and_usage()
                .time_period(interval("GetCostAndUsage", start, end)?)
                .granularity(Granularity::Daily)
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
                period.total_usd = if total > 0.0 { total } else { crate::text::total(period.by_service.values().copied()) };
            }
            token = out.next_page_token().map(str::to_string).filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        periods.sort_by_key(|p| p.start);
        Ok(periods)
    }

    pub async fn monitors(&self) -> Result<Vec<ObservedMonitor>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_anomaly_monitors()
                .set_next_page_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SERVICE, "GetAnomalyMonitors", &[], e))?;
            out.extend(page.anomaly_monitors().iter().map(|m| ObservedMonitor {
                arn: m.monitor_arn().unwrap_or_default().to_string(),
                name: m.monitor_name().to_string(),
                monitor_type: m.monitor_type().as_str().to_string(),
                dimension: m.monitor_dimension().map(|d| d.as_str().to_string()),
            }));
            token = page.next_page_token().map(str::to_string).filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Creates a per-service monitor, tagged as costguard's; returns its ARN.
    pub async fn create_service_monitor(&self, name: &str) -> Result<String, AwsError> {
        let monitor = AnomalyMonitor::builder()
            .monitor_name(name)
            .monitor_type(MonitorType::Dimensional)
            .monitor_dimension(MonitorDimension::Service)
            .build()
            .map_err(|e| AwsError::invalid_request(SERVICE, "CreateAnomalyMonitor", e))?;
        let out = self
            .client
            .create_anomaly_monitor()
            .anomaly_monitor(monitor)
            .resource_tags(managed_tag()?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "CreateAnomalyMonitor", &[], e))?;
        Ok(out.monitor_arn().to_string())
    }

    /// Every alert subscription, with the ARN to update it by.
    pub async fn subscriptions(&self) -> Result<Vec<(String, AnomalyAlerts)>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_anomaly_subscriptions()
                .set_next_page_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SERVICE, "GetAnomalySubscriptions", &[], e))?;
            for s in page.anomaly_subscriptions() {
                let mut emails: Vec<String> =
                    s.subscribers().iter().filter(|x| x.r#type() != Some(&SubscriberType::Sns)).filter_map(|x| x.address().map(str::to_string)).collect();
                emails.sort();
                let mut monitors = s.monitor_arn_list().to_vec();
                monitors.sort();
                out.push((
                    s.subscription_arn().unwrap_or_default().to_string(),
                    AnomalyAlerts {
                        name: s.subscription_name().to_string(),
                        monitors,
                        frequency: s.frequency().as_str().to_string(),
                        threshold_usd: threshold_of(s),
                        emails,
                        sns_topic: s.subscribers().iter().find(|x| x.r#type() == Some(&SubscriberType::Sns)).and_then(|x| x.address().map(str::to_string)),
                    },
                ));
            }
            token = page.next_page_token().map(str::to_string).filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    pub async fn create_subscription(&self, a: &AnomalyAlerts) -> Result<(), AwsError> {
        let subscription = AnomalySubscription::builder()
            .subscription_name(&a.name)
            .set_monitor_arn_list(Some(a.monitors.clone()))
            .set_subscribers(Some(sdk_subscribers(a)))
            .frequency(AnomalySubscriptionFrequency::from(a.frequency.as_str()))
            .threshold_expression(threshold_expression(a.threshold_usd.unwrap_or(0.0)))
            .build()
            .map_err(|e| AwsError::invalid_request(SERVICE, "CreateAnomalySubscription", e))?;
        self.client
            .create_anomaly_subscription()
            .anomaly_subscription(subscription)
            .resource_tags(managed_tag()?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "CreateAnomalySubscription", &[], e))?;
        Ok(())
    }

    pub async fn update_subscription(&self, arn: &str, a: &AnomalyAlerts) -> Result<(), AwsError> {
        self.client
            .update_anomaly_subscription()
            .subscription_arn(arn)
            .set_monitor_arn_list(Some(a.monitors.clone()))
            .set_subscribers(Some(sdk_subscribers(a)))
            .frequency(AnomalySubscriptionFrequency::from(a.frequency.as_str()))
            .threshold_expression(threshold_expression(a.threshold_usd.unwrap_or(0.0)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "UpdateAnomalySubscription", &[], e))?;
        Ok(())
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

/// The tag costguard puts on the anomaly monitors and subscriptions it
/// creates: the generated IAM policy allows those creates (and updates)
/// only with it.
pub const MANAGED_TAG: &str = "costguard:managed";

fn managed_tag() -> Result<aws_sdk_costexplorer::types::ResourceTag, AwsError> {
    aws_sdk_costexplorer::types::ResourceTag::builder().key(MANAGED_TAG).value("true").build().map_err(|e| AwsError::invalid_request(SERVICE, "TagResource", e))
}
