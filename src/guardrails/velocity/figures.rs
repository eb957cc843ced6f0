//! Token counts into dollars (pure): per model and in total, the last
//! hour, today so far, the rate now, the month at the last day's rate, and
//! the last 24 hours hour by hour for the report's chart.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde::Serialize;

use super::{Meter, ModelUsage, Usage};
use crate::config::velocity::{Limits, SpendVelocity};
use crate::pricing::tokens::{self, ModelRef, TokenPrice};

/// The `ai_spend` section of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AiSpend {
    /// The end of the last whole period read.
    pub as_of: DateTime<Utc>,
    /// The window "per hour now" is measured over.
    pub window_minutes: i64,
    pub period_minutes: i64,
    pub total: Figures,
    /// Most spent per hour first; unpriced models last.
    pub models: Vec<ModelSpend>,
    /// Models whose use could not be priced (never counted as $0).
    pub unpriced_models: usize,
    /// The priced models' same hour, averaged over the past 7 days, when
    /// the spike rule read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_usd_per_hour: Option<f64>,
    /// SageMaker endpoints in service, priced per instance-hour, when a
    /// sweep listed them: the other half of "AI spend now".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sagemaker_endpoints: Option<EndpointsNow>,
    /// Every threshold crossed now, scope and rule.
    pub alerts: Vec<AlertLine>,
    /// What this check told (crossed, worse, still over, back under).
    pub told: Vec<Notice>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub usd_last_hour: f64,
    pub usd_today: f64,
    pub usd_per_hour: f64,
    pub projected_month_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelSpend {
    pub model_id: String,
    pub region: String,
    /// `None` when the model's use cannot be priced.
    pub usd_last_hour: Option<f64>,
    pub usd_today: Option<f64>,
    pub usd_per_hour: Option<f64>,
    pub projected_month_usd: Option<f64>,
    pub input_tokens_last_hour: f64,
    pub output_tokens_last_hour: f64,
    /// Where the price came from, or why there is none.
    pub price_basis: String,
    /// The thresholds this model crosses now.
    pub alerts: Vec<String>,
    /// The last 24 hours, hour by hour, oldest first (USD; empty when unpriced).
    pub hourly_usd: Vec<f64>,
    /// The same hour's average over the past 7 days, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_usd_per_hour: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointsNow {
    pub endpoints: usize,
    pub usd_per_hour: f64,
    pub unpriced: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// Over a limit, newly.
    Crossed,
    /// Still over, and worse by a step than when last told.
    Worse,
    /// Still over since the last notice, `repeat-hours` ago.
    StillOver,
    /// Back under a limit that was told.
    BackUnder,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Crossed => "crossed",
            NoticeKind::Worse => "worse",
            NoticeKind::StillOver => "still-over",
            NoticeKind::BackUnder => "back-under",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub line: AlertLine,
    /// The value last told, for `worse` and `back-under`.
    pub told: Option<f64>,
}

/// One threshold crossed, or watched: what it measures and its limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertLine {
    /// `total`, or the model id.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub rule: AlertRule,
    pub value: f64,
    pub limit: f64,
}

impl AlertLine {
    /// Stable across sweeps: what the alert state is kept under.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.region.as_deref().unwrap_or("*"), self.scope, self.rule.as_str())
    }
}

/// What an alert line measures; stored and shown by its config name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertRule {
    MaxUsdPerHour,
    MaxUsdPerDay,
    MaxProjectedMonthUsd,
    /// The last hour against the same hour of the past 7 days.
    Spike,
}

impl AlertRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::MaxUsdPerHour => "max-usd-per-hour",
            AlertRule::MaxUsdPerDay => "max-usd-per-day",
            AlertRule::MaxProjectedMonthUsd => "max-projected-month-usd",
            AlertRule::Spike => "spike",
        }
    }
}

/// A model's price, and where it came from (or why there is none).
pub fn price_of(model_id: &str, settings: &SpendVelocity) -> (Option<TokenPrice>, String) {
    let reference = tokens::model_ref(model_id);
    let base = match &reference {
        ModelRef::Foundation { base, .. } => Some(base.as_str()),
        _ => None,
    };
    if let Some(p) = settings.prices.get(model_id).or_else(|| base.and_then(|b| settings.prices.get(b))) {
        return (Some(*p), "guardrails.spend-velocity.prices".to_string());
    }
    match reference {
        ModelRef::Provisioned => (None, "provisioned throughput: billed per model unit and hour, not per token".to_string()),
        ModelRef::Opaque => (None, "unknown price: not a model id costguard can read; add it under guardrails.spend-velocity.prices".to_string()),
        ModelRef::Foundation { base, profile } => match tokens::built_in(&base) {
            Some(p) => {
                let via = profile.map_or(String::new(), |g| format!("; cross-region profile `{g}.` priced as {base}"));
                (Some(p), format!("built-in table, {}{via}", tokens::TABLE_TAKEN))
            }
            None => (None, format!("unknown price for {base}: add it under guardrails.spend-velocity.prices")),
        },
    }
}

/// The limits that apply to a model: its own id, or its id without the
/// version suffix or profile prefix.
pub fn limits_of<'a>(model_id: &str, settings: &'a SpendVelocity) -> Option<&'a Limits> {
    settings.models.get(model_id).or_else(|| match tokens::model_ref(model_id) {
        ModelRef::Foundation { base, .. } => settings.models.get(&base),
        _ => None,
    })
}

/// USD per period (oldest first), and the meters used but not priced.
fn dollars(usage: &BTreeMap<Meter, Vec<f64>>, price: &TokenPrice, periods: usize) -> (Vec<f64>, Vec<&'static str>) {
    let mut usd = vec![0.0; periods];
    let mut unpriced = Vec::new();
    for (meter, values) in usage {
        match meter.usd_per_unit(price) {
            Some(rate) => values.iter().zip(usd.iter_mut()).for_each(|(v, d)| *d += v * rate),
            None if values.iter().any(|v| *v > 0.0) => unpriced.push(meter.label()),
            None => {}
        }
    }
    (usd, unpriced)
}

fn days_in_month(at: DateTime<Utc>) -> f64 {
    let d = at.date_naive();
    let first = d.with_day(1).unwrap_or(d);
    let next = (first + Duration::days(32)).with_day(1).unwrap_or(first);
    (next - first).num_days() as f64
}

/// The figures of one series of per-period dollars over the last 24 hours.
fn figures_of(usd: &[f64], usage: &Usage, settings: &SpendVelocity) -> Figures {
    let per_hour = usage.periods_per_hour();
    let in_window = (settings.rate_window_secs / usage.period_secs).max(1) as usize;
    let tail = |n: usize| usd.iter().rev().take(n).sum::<f64>();
    let midnight = usage.end.date_naive().and_time(NaiveTime::MIN).and_utc();
    let first_start = usage.start();
    let usd_today = usd.iter().enumerate().filter(|(i, _)| first_start + Duration::seconds(*i as i64 * usage.period_secs) >= midnight).map(|(_, v)| v).sum();
    Figures {
        usd_last_hour: tail(per_hour),
        usd_today,
        usd_per_hour: tail(in_window) * 3600.0 / settings.rate_window_secs as f64,
        projected_month_usd: usd.iter().sum::<f64>() * days_in_month(usage.end),
    }
}

fn hourly(usd: &[f64], periods_per_hour: usize) -> Vec<f64> {
    usd.chunks(periods_per_hour).map(|c| c.iter().sum()).collect()
}

/// Every model's figures and the total; `alerts` left for [`super::alerts`].
pub fn summarise(usage: &Usage, settings: &SpendVelocity) -> AiSpend {
    let periods = usage.periods();
    let mut total_usd = vec![0.0; periods];
    let mut total_baseline: Option<f64> = None;
    let mut models: Vec<ModelSpend> = usage
        .models
        .iter()
        .map(|m| {
            let (price, mut basis) = price_of(&m.model_id, settings);
            let tokens_last_hour = |meter: Meter| m.recent.get(&meter).map_or(0.0, |v| v.iter().rev().take(usage.periods_per_hour()).sum());
            let mut spend = ModelSpend {
                model_id: m.model_id.clone(),
                region: m.region.clone(),
                usd_last_hour: None,
                usd_today: None,
                usd_per_hour: None,
                projected_month_usd: None,
                input_tokens_last_hour: tokens_last_hour(Meter::Input),
                output_tokens_last_hour: tokens_last_hour(Meter::Output),
                price_basis: String::new(),
                alerts: Vec::new(),
                hourly_usd: Vec::new(),
                baseline_usd_per_hour: None,
            };
            if let Some(price) = price {
                let (usd, unpriced) = dollars(&m.recent, &price, periods);
                if !unpriced.is_empty() {
                    basis.push_str(&format!("; {} not priced, left out", unpriced.join(", ")));
                }
                let f = figures_of(&usd, usage, settings);
                (spend.usd_last_hour, spend.usd_today, spend.usd_per_hour, spend.projected_month_usd) =
                    (Some(f.usd_last_hour), Some(f.usd_today), Some(f.usd_per_hour), Some(f.projected_month_usd));
                spend.hourly_usd = hourly(&usd, usage.periods_per_hour());
                total_usd.iter_mut().zip(&usd).for_each(|(t, v)| *t += v);
                spend.baseline_usd_per_hour = baseline(m, &price);
                if let Some(b) = spend.baseline_usd_per_hour {
                    *total_baseline.get_or_insert(0.0) += b;
                }
            }
            spend.price_basis = basis;
            spend
        })
        .collect();
    models.sort_by(|a, b| match (a.usd_per_hour, b.usd_per_hour) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| b.usd_today.unwrap_or(0.0).total_cmp(&a.usd_today.unwrap_or(0.0))),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.model_id.cmp(&b.model_id),
    });
    let unpriced_models = models.iter().filter(|m| m.usd_per_hour.is_none()).count();
    AiSpend {
        as_of: usage.end,
        window_minutes: settings.rate_window_secs / 60,
        period_minutes: usage.period_secs / 60,
        total: figures_of(&total_usd, usage, settings),
        models,
        unpriced_models,
        baseline_usd_per_hour: total_baseline,
        sagemaker_endpoints: None,
        alerts: Vec::new(),
        told: Vec::new(),
    }
}

/// The same hour's average over the past 7 days, priced; `None` unless read.
fn baseline(m: &ModelUsage, price: &TokenPrice) -> Option<f64> {
    if m.baseline.is_empty() {
        return None;
    }
    let (usd, _) = dollars(&m.baseline, price, super::BASELINE_DAYS);
    Some(usd.iter().sum::<f64>() / super::BASELINE_DAYS as f64)
}

/// Settings with no limits, for tests.
#[cfg(test)]
pub(crate) fn tests_settings() -> SpendVelocity {
    SpendVelocity {
        schedule: None,
        period_secs: 300,
        rate_window_secs: 900,
        namespaces: crate::config::velocity::DEFAULT_NAMESPACES.iter().map(|s| s.to_string()).collect(),
        total: Limits::default(),
        models: BTreeMap::new(),
        spike: None,
        prices: BTreeMap::new(),
        emails: Vec::new(),
        sns_topic: None,
        worse_step: 1.5,
        repeat_hours: 6.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SpendVelocity {
        tests_settings()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
    }

    /// 288 five-minute periods; `per_period(i)` tokens in period i.
    fn model(id: &str, input: impl Fn(usize) -> f64, output: impl Fn(usize) -> f64) -> ModelUsage {
        let mut recent = BTreeMap::new();
        recent.insert(Meter::Input, (0..288).map(&input).collect());
        recent.insert(Meter::Output, (0..288).map(&output).collect());
        ModelUsage { region: "us-east-1".into(), model_id: id.into(), recent, baseline: BTreeMap::new() }
    }

    #[test]
    fn dollars_per_model_and_in_total_by_hand() {
        // 10:00 UTC on a 30-day month: 24 h window from 10:00 yesterday.
        let usage = Usage {
            end: at("2026-11-20T10:00:00Z"),
            period_secs: 300,
            models: vec![
                // Claude 3.5 Sonnet v2 through the US profile: 1,000 input and 100 output tokens per period.
                model("us.anthropic.claude-3-5-sonnet-20241022-v2:0", |_| 1000.0, |_| 100.0),
                // Unpriced: never $0.
                model("acme.secret-model-v1:0", |_| 5000.0, |_| 0.0),
            ],
        };
        let s = summarise(&usage, &settings());
        let sonnet = &s.models[0];
        // Per period: 1 x $0.003 + 0.1 x $0.015 = $0.0045.
        let per_period = 0.0045;
        let close = |a: Option<f64>, b: f64| assert!(a.is_some_and(|a| (a - b).abs() < 1e-9), "{a:?} != {b}");
        close(sonnet.usd_last_hour, 12.0 * per_period);
        close(sonnet.usd_per_hour, 12.0 * per_period);
        close(sonnet.usd_today, 120.0 * per_period); // 00:00-10:00
        close(sonnet.projected_month_usd, 288.0 * per_period * 30.0);
        assert_eq!(sonnet.input_tokens_last_hour, 12_000.0);
        assert!(sonnet.price_basis.contains("cross-region profile `us.`"), "{}", sonnet.price_basis);
        assert_eq!(sonnet.hourly_usd.len(), 24);
        let secret = &s.models[1];
        assert_eq!((secret.usd_per_hour, secret.usd_today), (None, None));
        assert!(secret.price_basis.contains("unknown price"), "{}", secret.price_basis);
        assert_eq!(s.unpriced_models, 1);
        assert!((s.total.usd_last_hour - 12.0 * per_period).abs() < 1e-9);
    }

    #[test]
    fn the_rate_now_sees_a_burst_the_hour_smooths() {
        let usage = Usage {
            end: at("2026-11-20T10:00:00Z"),
            period_secs: 300,
            models: vec![model("anthropic.claude-3-haiku-20240307-v1:0", |i| if i >= 285 { 1_000_000.0 } else { 0.0 }, |_| 0.0)],
        };
        let s = summarise(&usage, &settings());
        // 3 periods x 1,000 x $0.00025 = $0.75 in the last 15 minutes: $3/hour.
        assert!((s.total.usd_per_hour - 3.0).abs() < 1e-9, "{:?}", s.total);
        assert!((s.total.usd_last_hour - 0.75).abs() < 1e-9);
    }

    #[test]
    fn overrides_win_and_provisioned_models_are_not_token_priced() {
        let mut s = settings();
        s.prices.insert("anthropic.claude-3-haiku-20240307-v1".into(), TokenPrice { input_per_1k: Some(1.0), ..Default::default() });
        assert_eq!(price_of("anthropic.claude-3-haiku-20240307-v1:0", &s).0.and_then(|p| p.input_per_1k), Some(1.0));
        let (none, why) = price_of("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc", &s);
        assert!(none.is_none() && why.contains("provisioned"), "{why}");
    }
}
