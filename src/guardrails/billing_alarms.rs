//! Billing alarms: CloudWatch alarms on `AWS/Billing` `EstimatedCharges`
//! (`Currency=USD`), one per threshold, reconciled like the budgets.
//!
//! The metric exists only in us-east-1, and only after "Receive Billing
//! Alerts" is turned on in the account's billing preferences; AWS updates it
//! a few times a day, so the alarm looks at the maximum over 6 hours. An
//! alarm notifies only through an SNS topic (`sns-topic`); without one it
//! still shows its state in the console. Email alerts come from the budgets.
//!
//! Alarms are costguard's by name (`<prefix>billing-<amount>usd`); others
//! are never read beyond their name or changed.

use super::{Change, Fix, GuardrailChange, GuardrailKind, Planned};
use crate::aws::cloudwatch::{CloudWatchClient, MetricAlarm};
use crate::aws::AwsError;
use crate::config::Guardrails;
use crate::outcome::Status;

/// Where AWS publishes billing metrics.
pub const BILLING_REGION: &str = "us-east-1";
/// Six hours: AWS refreshes the estimate a few times a day.
const PERIOD_SECS: i32 = 21_600;

fn name_prefix(g: &Guardrails) -> String {
    format!("{}billing-", g.name_prefix)
}

/// The alarms the declaration asks for.
pub fn declared(g: &Guardrails) -> Vec<MetricAlarm> {
    g.billing_alarm_thresholds
        .iter()
        .map(|&usd| MetricAlarm {
            name: format!("{}{}usd", name_prefix(g), format_usd(usd)),
            description: format!("costguard: the account's estimated charges this month passed ${}", format_usd(usd)),
            namespace: "AWS/Billing".to_string(),
            metric: "EstimatedCharges".to_string(),
            dimensions: vec![("Currency".to_string(), "USD".to_string())],
            statistic: "Maximum".to_string(),
            period_secs: PERIOD_SECS,
            evaluation_periods: 1,
            threshold: usd,
            comparison: "GreaterThanThreshold".to_string(),
            treat_missing_data: "notBreaching".to_string(),
            alarm_actions: g.billing_alarm_topic.iter().cloned().collect(),
        })
        .collect()
}

/// `500` for whole dollars, `99.5` otherwise: readable alarm names.
fn format_usd(usd: f64) -> String {
    if usd.fract() == 0.0 {
        format!("{usd:.0}")
    } else {
        format!("{usd}")
    }
}

/// Field by field, what differs between the alarm AWS has and the declared one.
pub fn differences(now: &MetricAlarm, want: &MetricAlarm) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{name}: {a} -> {b}"));
        }
    };
    field("namespace", now.namespace.clone(), want.namespace.clone());
    field("metric", now.metric.clone(), want.metric.clone());
    field("dimensions", format!("{:?}", now.dimensions), format!("{:?}", want.dimensions));
    field("statistic", now.statistic.clone(), want.statistic.clone());
    field("period", now.period_secs.to_string(), want.period_secs.to_string());
    field("evaluation-periods", now.evaluation_periods.to_string(), want.evaluation_periods.to_string());
    field("threshold", now.threshold.to_string(), want.threshold.to_string());
    field("comparison", now.comparison.clone(), want.comparison.clone());
    field("treat-missing-data", now.treat_missing_data.clone(), want.treat_missing_data.clone());
    field("alarm-actions", now.alarm_actions.join(","), want.alarm_actions.join(","));
    field("description", now.description.clone(), want.description.clone());
    out
}

/// Reads costguard's billing alarms and diffs each declared one; changes nothing.
pub async fn plan(client: &CloudWatchClient, g: &Guardrails) -> Result<Vec<Planned>, AwsError> {
    let want = declared(g);
    if want.is_empty() {
        return Ok(Vec::new());
    }
    let existing = client.alarms(&name_prefix(g)).await?;
    let declared_names: Vec<String> = want.iter().map(|a| a.name.clone()).collect();
    let mut planned = Vec::new();
    for alarm in want {
        let (change, differences) = match existing.iter().find(|a| a.name == alarm.name) {
            None => (Change::Create, vec![format!("EstimatedCharges (USD) > {} over 6 h", alarm.threshold)]),
            Some(now) => {
                let d = differences(now, &alarm);
                (if d.is_empty() { Change::Unchanged } else { Change::Update }, d)
            }
        };
        let entry = GuardrailChange::new(GuardrailKind::BillingAlarm, alarm.name.clone(), change, differences, Status::Planned, None);
        let fix = if change == Change::Unchanged { Fix::Nothing } else { Fix::Alarm(alarm) };
        planned.push(Planned { change: entry, fix });
    }
    for stale in existing.iter().filter(|a| !declared_names.contains(&a.name)) {
        planned.push(Planned { change: GuardrailChange::not_declared(GuardrailKind::BillingAlarm, stale.name.clone()), fix: Fix::Nothing });
    }
    Ok(planned)
}
