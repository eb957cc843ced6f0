//! Cost Anomaly Detection: a per-service monitor and an alert subscription
//! with an absolute impact threshold, reconciled like the budgets.
//!
//! AWS allows one per-service (DIMENSIONAL / SERVICE) monitor per account,
//! and new accounts get one by default: costguard reuses whichever exists
//! (its own, `<prefix>services`, or the account's) and creates one only
//! when there is none. Its subscription is `<prefix>anomalies`; other
//! subscriptions and monitors are never changed.

use super::{Change, Fix, GuardrailChange, GuardrailKind, Planned};
use crate::aws::costexplorer::{AnomalyAlerts, CostExplorerClient, ObservedMonitor};
use crate::aws::AwsError;
use crate::config::guardrails::AnomalyDetection;
use crate::config::Guardrails;
use crate::outcome::Status;

/// The subscription the declaration asks for, on `monitor`.
pub fn declared(prefix: &str, a: &AnomalyDetection, monitor: &str) -> AnomalyAlerts {
    AnomalyAlerts {
        name: format!("{prefix}anomalies"),
        monitors: vec![monitor.to_string()],
        frequency: a.frequency.as_str().to_string(),
        threshold_usd: Some(a.threshold_usd),
        emails: a.emails.clone(),
        sns_topic: a.sns_topic.clone(),
    }
}

/// Field by field, what differs.
pub fn differences(now: &AnomalyAlerts, want: &AnomalyAlerts) -> Vec<String> {
    let mut out = Vec::new();
    if now.monitors != want.monitors {
        out.push(format!("monitors: {} -> {}", now.monitors.join(","), want.monitors.join(",")));
    }
    if now.frequency != want.frequency {
        out.push(format!("frequency: {} -> {}", now.frequency, want.frequency));
    }
    if now.threshold_usd != want.threshold_usd {
        let show = |t: Option<f64>| t.map_or("none".to_string(), |t| format!("{t} USD"));
        out.push(format!("threshold: {} -> {}", show(now.threshold_usd), show(want.threshold_usd)));
    }
    if now.emails != want.emails || now.sns_topic != want.sns_topic {
        let show = |a: &AnomalyAlerts| a.emails.iter().cloned().chain(a.sns_topic.clone()).collect::<Vec<_>>().join(", ");
        out.push(format!("subscribers: {} -> {}", show(now), show(want)));
    }
    out
}

fn is_service_monitor(m: &ObservedMonitor) -> bool {
    m.monitor_type == "DIMENSIONAL" && m.dimension.as_deref() == Some("SERVICE")
}

/// Reads the monitors and subscriptions and diffs costguard's; changes nothing.
pub async fn plan(ce: &CostExplorerClient, g: &Guardrails) -> Result<Vec<Planned>, AwsError> {
    let Some(wanted) = &g.anomaly_detection else { return Ok(Vec::new()) };
    let monitor_name = format!("{}services", g.name_prefix);
    let monitors = ce.monitors().await?;
    let existing = monitors.iter().find(|m| m.name == monitor_name).or_else(|| monitors.iter().find(|m| is_service_monitor(m)));
    let mut planned = Vec::new();
    let monitor_arn = match existing {
        Some(m) => {
            let detail = (m.name != monitor_name).then(|| format!("uses the account's per-service monitor {} (AWS allows one)", m.name));
            let entry = GuardrailChange::new(GuardrailKind::AnomalyMonitor, m.name.clone(), Change::Unchanged, Vec::new(), Status::Planned, detail);
            planned.push(Planned { change: entry, fix: Fix::Nothing });
            Some(m.arn.clone())
        }
        None => {
            let entry = GuardrailChange::new(
                GuardrailKind::AnomalyMonitor,
                monitor_name.clone(),
                Change::Create,
                vec!["per-service monitor".to_string()],
                Status::Planned,
                None,
            );
            planned.push(Planned { change: entry, fix: Fix::Monitor(monitor_name.clone()) });
            None
        }
    };
    let subscriptions = ce.subscriptions().await?;
    let want = declared(&g.name_prefix, wanted, monitor_arn.as_deref().unwrap_or("(the monitor to create)"));
    let (change, differences, arn) = match subscriptions.iter().find(|(_, s)| s.name == want.name) {
        None => (Change::Create, vec![format!("alert {} when an anomaly's impact reaches {} USD", want.frequency, wanted.threshold_usd)], None),
        Some((arn, now)) => {
            let d = differences(now, &want);
            (if d.is_empty() { Change::Unchanged } else { Change::Update }, d, Some(arn.clone()))
        }
    };
    let entry = GuardrailChange::new(GuardrailKind::AnomalySubscription, want.name.clone(), change, differences, Status::Planned, None);
    let fix = if change == Change::Unchanged { Fix::Nothing } else { Fix::Subscription { arn, alerts: want, monitor: monitor_arn } };
    planned.push(Planned { change: entry, fix });
    Ok(planned)
}
