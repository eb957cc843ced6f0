//! `guardrails:`: the spend guardrails costguard declares and keeps true,
//! beside the policies (in any policies file, once).
//!
//! ```yaml
//! guardrails:
//!   name-prefix: costguard-          # budgets costguard owns; others are never touched
//!   email: [finops@example.com]      # default subscribers of every notification
//!   budgets:
//!     - name: costguard-monthly-500
//!       amount: 500                  # USD
//!       time-unit: MONTHLY           # DAILY MONTHLY QUARTERLY ANNUALLY
//!       cost-filters: {Service: [Amazon SageMaker]}   # optional
//!       notifications:
//!         - {type: ACTUAL, threshold: 100}             # percent of the amount
//!         - {type: FORECASTED, threshold: 100, email: [lead@example.com], sns-topic: arn:aws:sns:...}
//!         - {type: ACTUAL, threshold: 450, threshold-type: ABSOLUTE_VALUE}
//!   scope: account                   # account (default): in every swept account; payer: see below
//!   # member-budgets: [costguard-monthly-500]   # scope payer: which budgets each member gets (default: all)
//! ```
//!
//! In an organization's sweep, `scope: account` reconciles the guardrails
//! in each swept account. `scope: payer` reconciles them once, in the
//! management account: each declared budget for the whole organization,
//! plus one per member account (named `NAME-ACCOUNTID`, filtered by
//! `LinkedAccount`), the billing alarms and anomaly detection; the member
//! accounts then get none.
//!
//! AWS's limits are checked here, so `validate` catches them: at most 10
//! notifications per budget, 10 email subscribers and one SNS topic per
//! notification; names unique, and starting with the prefix (that is how
//! costguard knows its own budgets).

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::aws::budgets::{Budget, Notification, NotificationKind, ThresholdType, TimeUnit};

use super::check_emails;
use crate::yaml::{DecodeError, Located};

pub const DEFAULT_PREFIX: &str = "costguard-";
/// AWS Budgets' limits.
pub const MAX_NOTIFICATIONS: usize = 10;
pub const MAX_EMAIL_SUBSCRIBERS: usize = 10;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GuardrailsSpec {
    #[serde(default)]
    pub name_prefix: Option<Located<String>>,
    #[serde(default)]
    pub email: Vec<Located<String>>,
    #[serde(default)]
    pub budgets: Vec<Located<BudgetSpec>>,
    #[serde(default)]
    pub billing_alarms: Option<Located<BillingAlarmsSpec>>,
    #[serde(default)]
    pub spend: Option<Located<SpendSpec>>,
    #[serde(default)]
    pub spend_velocity: Option<Located<super::velocity::SpendVelocitySpec>>,
    #[serde(default)]
    pub anomaly_detection: Option<Located<AnomalySpec>>,
    #[serde(default)]
    pub scope: Option<Located<Scope>>,
    #[serde(default)]
    pub member_budgets: Option<Vec<Located<String>>>,
    #[serde(default)]
    pub studio_idle_shutdown: Option<Located<StudioIdleSpec>>,
}

/// SageMaker Studio domains' default idle shutdown for JupyterLab and
/// Code Editor apps, set where missing or looser.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StudioIdleSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Minutes idle before an app shuts down (default 60).
    #[serde(default)]
    pub minutes: Option<Located<i64>>,
    /// The most a user may choose instead (default 240).
    #[serde(default)]
    pub max_minutes: Option<Located<i64>>,
}

/// The declared Studio idle shutdown, in minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StudioIdleShutdown {
    pub minutes: i32,
    pub max_minutes: i32,
}

/// What SageMaker accepts for an idle timeout, in minutes.
const IDLE_MINUTES: std::ops::RangeInclusive<i64> = 60..=525_600;

/// Where an organization's guardrails live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// In every swept account, each its own.
    #[default]
    Account,
    /// Once, in the management (payer) account, with a budget per member.
    Payer,
}

/// A member's budget's name: the declared one's, and the account.
pub fn member_budget_name(declared: &str, account_id: &str) -> String {
    format!("{declared}-{account_id}")
}

/// Cost Anomaly Detection: a per-service monitor and an alert subscription.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnomalySpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Alert when an anomaly's total impact reaches this many USD (default 100).
    #[serde(default)]
    pub threshold_usd: Option<Located<f64>>,
    /// DAILY (default) or WEEKLY digests by email; IMMEDIATE needs an SNS topic.
    #[serde(default)]
    pub frequency: Option<Located<AnomalyFrequency>>,
    #[serde(default)]
    pub email: Option<Vec<Located<String>>>,
    #[serde(default)]
    pub sns_topic: Option<Located<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AnomalyFrequency {
    Daily,
    Weekly,
    Immediate,
}

impl AnomalyFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyFrequency::Daily => "DAILY",
            AnomalyFrequency::Weekly => "WEEKLY",
            AnomalyFrequency::Immediate => "IMMEDIATE",
        }
    }
}

/// The declared anomaly alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyDetection {
    pub threshold_usd: f64,
    pub frequency: AnomalyFrequency,
    pub emails: Vec<String>,
    pub sns_topic: Option<String>,
}

/// The spend summary every report opens with (Cost Explorer).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpendSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// How long Cost Explorer answers are reused (each request costs $0.01).
    #[serde(default)]
    pub cache_hours: Option<Located<f64>>,
    /// How many services the summary lists.
    #[serde(default)]
    pub top_services: Option<Located<i64>>,
}

/// CloudWatch alarms on the account's estimated charges (AWS/Billing, only
/// published in us-east-1, and only once "Receive Billing Alerts" is on).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BillingAlarmsSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// USD; default: the budgets' amounts.
    #[serde(default)]
    pub thresholds: Option<Vec<Located<f64>>>,
    #[serde(default)]
    pub sns_topic: Option<Located<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BudgetSpec {
    pub name: Located<String>,
    pub amount: Located<f64>,
    #[serde(default)]
    pub time_unit: Option<Located<TimeUnit>>,
    #[serde(default)]
    pub cost_filters: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub notifications: Vec<Located<NotificationSpec>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotificationSpec {
    #[serde(rename = "type")]
    pub kind: Located<NotificationKind>,
    pub threshold: Located<f64>,
    #[serde(default)]
    pub threshold_type: Option<Located<ThresholdType>>,
    #[serde(default)]
    pub email: Option<Vec<Located<String>>>,
    #[serde(default)]
    pub sns_topic: Option<Located<String>>,
}

/// The compiled guardrails.
#[derive(Clone, Debug, PartialEq)]
pub struct Guardrails {
    pub name_prefix: String,
    pub budgets: Vec<Budget>,
    /// Thresholds (USD, ascending) of billing alarms; empty when disabled.
    pub billing_alarm_thresholds: Vec<f64>,
    pub billing_alarm_topic: Option<String>,
    /// `None` when the spend summary is turned off.
    pub spend: Option<SpendSettings>,
    /// `None` when anomaly detection is turned off.
    pub anomaly_detection: Option<AnomalyDetection>,
    /// `None` unless `spend-velocity:` is declared (and not turned off).
    pub spend_velocity: Option<super::velocity::SpendVelocity>,
    pub scope: Scope,
    /// With `scope: payer`: the declared budgets each member account gets
    /// its own of.
    pub member_budgets: Vec<String>,
    /// `false`: budgets, alarms and anomaly alerts are reconciled elsewhere
    /// (a member account under `scope: payer`); spend is still read.
    pub reconcile: bool,
    /// `None` unless `studio-idle-shutdown:` is declared (and not turned off).
    pub studio_idle_shutdown: Option<StudioIdleShutdown>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpendSettings {
    pub cache_hours: f64,
    pub top_services: usize,
}

impl Default for SpendSettings {
    fn default() -> Self {
        Self { cache_hours: 6.0, top_services: 10 }
    }
}

impl Guardrails {
    /// Addresses in domains reserved for examples (RFC 2606): alerts sent
    /// there reach nobody. The shipped file has one until someone edits it.
    pub fn placeholder_addresses(&self) -> Vec<String> {
        let reserved = |a: &str| super::is_placeholder_domain(a.rsplit_once('@').map_or("", |(_, d)| d));
        let mut found: Vec<String> = self
            .budgets
            .iter()
            .flat_map(|b| b.notifications.iter().flat_map(|n| n.emails.iter()))
            .chain(self.anomaly_detection.iter().flat_map(|a| a.emails.iter()))
            .chain(self.spend_velocity.iter().flat_map(|v| v.emails.iter()))
            .filter(|a| reserved(a))
            .cloned()
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

impl GuardrailsSpec {
    pub fn compile(&self, errors: &mut Vec<DecodeError>) -> Option<Guardrails> {
        let before = errors.len();
        let prefix = self.name_prefix.as_ref().map_or(DEFAULT_PREFIX.to_string(), |p| p.value.clone());
        if let Some(p) = self.name_prefix.as_ref().filter(|p| p.value.trim().is_empty()) {
            errors.push(DecodeError::new(p.loc, "guardrails.name-prefix", "the prefix marks costguard's own budgets; it cannot be empty"));
        }
        let default_emails = check_emails(&self.email, "guardrails.email", errors);
        let mut budgets: Vec<Budget> = Vec::new();
        for (i, b) in self.budgets.iter().enumerate() {
            let path = format!("guardrails.budgets[{i}]");
            if let Some(budget) = b.value.compile(&path, &prefix, &default_emails, errors) {
                if budgets.iter().any(|seen| seen.name == budget.name) {
                    errors.push(DecodeError::new(b.value.name.loc, format!("{path}.name"), format!("budget `{}` is declared twice", budget.name)));
                }
                budgets.push(budget);
            }
        }
        let (billing_alarm_thresholds, billing_alarm_topic) = self.billing_alarms(&budgets, errors);
        let spend = self.spend(errors);
        let anomaly_detection = self.anomaly_detection(&default_emails, errors);
        let spend_velocity = self.spend_velocity.as_ref().and_then(|v| v.value.compile(&default_emails, errors));
        let scope = self.scope.as_ref().map_or(Scope::Account, |s| s.value);
        let member_budgets = self.member_budgets(&budgets, scope, errors);
        let studio_idle_shutdown = self.studio_idle_shutdown(errors);
        (errors.len() == before).then_some(Guardrails {
            name_prefix: prefix,
            budgets,
            billing_alarm_thresholds,
            billing_alarm_topic,
            spend,
            anomaly_detection,
            spend_velocity,
            scope,
            member_budgets,
            reconcile: true,
            studio_idle_shutdown,
        })
    }

    /// Off unless declared; `minutes` and `max-minutes` within what
    /// SageMaker accepts, the default no longer than the most.
    fn studio_idle_shutdown(&self, errors: &mut Vec<DecodeError>) -> Option<StudioIdleShutdown> {
        let spec = &self.studio_idle_shutdown.as_ref()?.value;
        if spec.enabled == Some(false) {
            return None;
        }
        let path = "guardrails.studio-idle-shutdown";
        let mut minutes_of = |value: &Option<Located<i64>>, key: &str, default: i64| -> Option<i32> {
            let Some(v) = value else { return i32::try_from(default).ok() };
            if !IDLE_MINUTES.contains(&v.value) {
                let why = format!("{key} is from {} to {} (what SageMaker accepts), found {}", IDLE_MINUTES.start(), IDLE_MINUTES.end(), v.value);
                errors.push(DecodeError::new(v.loc, format!("{path}.{key}"), why));
                return None;
            }
            i32::try_from(v.value).ok()
        };
        let minutes = minutes_of(&spec.minutes, "minutes", 60);
        let max_minutes = minutes_of(&spec.max_minutes, "max-minutes", 240);
        let (minutes, max_minutes) = (minutes?, max_minutes?);
        if minutes > max_minutes {
            let at = spec.max_minutes.as_ref().or(spec.minutes.as_ref()).map(|l| l.loc).unwrap_or_default();
            errors.push(DecodeError::new(at, format!("{path}.max-minutes"), format!("max-minutes ({max_minutes}) is less than minutes ({minutes})")));
            return None;
        }
        Some(StudioIdleShutdown { minutes, max_minutes })
    }

    /// Declared budgets, by name; all of them by default. A member's budget
    /// name (`NAME-ACCOUNTID`) must still fit AWS's 100 characters.
    fn member_budgets(&self, budgets: &[Budget], scope: Scope, errors: &mut Vec<DecodeError>) -> Vec<String> {
        let path = "guardrails.member-budgets";
        if let (Some(list), Scope::Account) = (&self.member_budgets, scope) {
            if let Some(first) = list.first() {
                errors.push(DecodeError::new(first.loc, path, "member-budgets needs `scope: payer` (with scope: account every account gets every budget)"));
            }
        }
        let names: Vec<String> = match &self.member_budgets {
            None => budgets.iter().map(|b| b.name.clone()).collect(),
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    let name = n.value.trim();
                    let declared = budgets.iter().any(|b| b.name == name);
                    if !declared {
                        errors.push(DecodeError::new(n.loc, format!("{path}[{i}]"), format!("no budget named {name:?} is declared in guardrails.budgets")));
                    }
                    declared.then(|| name.to_string())
                })
                .collect(),
        };
        if scope == Scope::Payer {
            for (i, b) in self.budgets.iter().enumerate() {
                let too_long = member_budget_name(b.value.name.value.trim(), "000000000000").len() > 100;
                if too_long && names.iter().any(|n| n == b.value.name.value.trim()) {
                    errors.push(DecodeError::new(
                        b.value.name.loc,
                        format!("guardrails.budgets[{i}].name"),
                        "with scope: payer, each member's budget is named NAME-ACCOUNTID: keep the name to 87 characters",
                    ));
                }
            }
        }
        names
    }

    /// On unless `enabled: false`; needs a subscriber AWS accepts for the frequency.
    fn anomaly_detection(&self, default_emails: &[String], errors: &mut Vec<DecodeError>) -> Option<AnomalyDetection> {
        let spec = self.anomaly_detection.as_ref();
        if spec.and_then(|s| s.value.enabled) == Some(false) {
            return None;
        }
        let path = "guardrails.anomaly-detection";
        let threshold_usd = match spec.and_then(|s| s.value.threshold_usd.as_ref()) {
            None => 100.0,
            Some(t) if t.value.is_finite() && t.value >= 0.0 => t.value,
            Some(t) => {
                errors.push(DecodeError::new(t.loc, format!("{path}.threshold-usd"), format!("threshold-usd is 0 or more, found {t}")));
                100.0
            }
        };
        let frequency = spec.and_then(|s| s.value.frequency.as_ref()).map_or(AnomalyFrequency::Daily, |f| f.value);
        let emails = match spec.and_then(|s| s.value.email.as_ref()) {
            Some(list) => check_emails(list, &format!("{path}.email"), errors),
            None => default_emails.to_vec(),
        };
        let sns_topic = spec.and_then(|s| s.value.sns_topic.as_ref());
        if let Some(t) = sns_topic.filter(|t| !is_sns_arn(&t.value)) {
            errors.push(DecodeError::new(t.loc, format!("{path}.sns-topic"), format!("expected one SNS topic ARN (arn:aws:sns:...), found {:?}", t.value)));
        }
        let loc = spec.map_or_else(crate::yaml::Loc::default, |s| s.loc);
        if emails.len() > MAX_EMAIL_SUBSCRIBERS {
            errors.push(DecodeError::new(loc, format!("{path}.email"), format!("at most {MAX_EMAIL_SUBSCRIBERS} email subscribers, found {}", emails.len())));
        }
        match frequency {
            // AWS sends immediate alerts only to SNS.
            AnomalyFrequency::Immediate if sns_topic.is_none() => {
                let at = spec.and_then(|s| s.value.frequency.as_ref()).map_or(loc, |f| f.loc);
                errors.push(DecodeError::new(
                    at,
                    format!("{path}.frequency"),
                    "IMMEDIATE alerts go only to an SNS topic: set `sns-topic`, or use DAILY or WEEKLY for email",
                ));
            }
            _ if emails.is_empty() && sns_topic.is_none() => {
                errors.push(DecodeError::new(
                    loc,
                    path.to_string(),
                    "anomaly alerts need a subscriber: `email:` here or in `guardrails.email`, or `sns-topic:`",
                ));
            }
            _ => {}
        }
        let emails = if frequency == AnomalyFrequency::Immediate { Vec::new() } else { emails };
        Some(AnomalyDetection { threshold_usd, frequency, emails, sns_topic: sns_topic.map(|t| t.value.clone()) })
    }

    fn spend(&self, errors: &mut Vec<DecodeError>) -> Option<SpendSettings> {
        let spec = self.spend.as_ref().map(|s| &s.value);
        if spec.and_then(|s| s.enabled) == Some(false) {
            return None;
        }
        let mut settings = SpendSettings::default();
        if let Some(h) = spec.and_then(|s| s.cache_hours.as_ref()) {
            if h.value.is_finite() && (0.0..=24.0 * 31.0).contains(&h.value) {
                settings.cache_hours = h.value;
            } else {
                errors.push(DecodeError::new(h.loc, "guardrails.spend.cache-hours", format!("cache-hours must be from 0 to 744, found {h}")));
            }
        }
        if let Some(n) = spec.and_then(|s| s.top_services.as_ref()) {
            match usize::try_from(n.value) {
                Ok(v) if (1..=100).contains(&v) => settings.top_services = v,
                _ => errors.push(DecodeError::new(n.loc, "guardrails.spend.top-services", format!("top-services must be from 1 to 100, found {n}"))),
            }
        }
        Some(settings)
    }

    /// On unless `enabled: false`; thresholds default to the budgets' amounts.
    fn billing_alarms(&self, budgets: &[Budget], errors: &mut Vec<DecodeError>) -> (Vec<f64>, Option<String>) {
        let spec = self.billing_alarms.as_ref().map(|s| &s.value);
        if spec.and_then(|s| s.enabled) == Some(false) {
            return (Vec::new(), None);
        }
        let mut thresholds: Vec<f64> = match spec.and_then(|s| s.thresholds.as_ref()) {
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    if t.value.is_finite() && t.value > 0.0 {
                        Some(t.value)
                    } else {
                        errors.push(DecodeError::new(
                            t.loc,
                            format!("guardrails.billing-alarms.thresholds[{i}]"),
                            format!("a threshold is in USD and more than 0, found {t}"),
                        ));
                        None
                    }
                })
                .collect(),
            None => budgets.iter().filter(|b| b.time_unit == TimeUnit::Monthly).map(|b| b.amount_usd).collect(),
        };
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        let topic = spec.and_then(|s| s.sns_topic.as_ref());
        if let Some(t) = topic.filter(|t| !is_sns_arn(&t.value)) {
            errors.push(DecodeError::new(
                t.loc,
                "guardrails.billing-alarms.sns-topic",
                format!("expected one SNS topic ARN (arn:aws:sns:...), found {:?}", t.value),
            ));
        }
        (thresholds, topic.map(|t| t.value.clone()))
    }
}

fn is_sns_arn(v: &str) -> bool {
    v.starts_with("arn:") && v.contains(":sns:")
}

impl BudgetSpec {
    fn compile(&self, path: &str, prefix: &str, default_emails: &[String], errors: &mut Vec<DecodeError>) -> Option<Budget> {
        let before = errors.len();
        let name = self.name.value.trim();
        // AWS: 1-100 characters, no `:` or `\`.
        if name.is_empty() || name.len() > 100 || name.contains([':', '\\']) {
            errors.push(DecodeError::new(self.name.loc, format!("{path}.name"), "a budget name has 1 to 100 characters and no `:` or `\\`"));
        } else if !name.starts_with(prefix) {
            errors.push(DecodeError::new(
                self.name.loc,
                format!("{path}.name"),
                format!("budget names start with the prefix `{prefix}` (guardrails.name-prefix): that is how costguard knows its own budgets and leaves the others alone"),
            ));
        }
        if !(self.amount.value.is_finite() && self.amount.value > 0.0) {
            errors.push(DecodeError::new(self.amount.loc, format!("{path}.amount"), format!("amount is in USD and more than 0, found {}", self.amount)));
        }
        if self.notifications.len() > MAX_NOTIFICATIONS {
            let loc = self.notifications[MAX_NOTIFICATIONS].loc;
            errors.push(DecodeError::new(
                loc,
                format!("{path}.notifications"),
                format!("AWS allows at most {MAX_NOTIFICATIONS} notifications per budget, found {}", self.notifications.len()),
            ));
        }
        let mut notifications: Vec<Notification> = Vec::new();
        for (i, n) in self.notifications.iter().enumerate() {
            let npath = format!("{path}.notifications[{i}]");
            let Some(notification) = n.value.compile(&npath, default_emails, errors) else { continue };
            if notifications.iter().any(|seen| seen.same_alert(&notification)) {
                errors.push(DecodeError::new(n.loc, npath, "the same alert (type, threshold, threshold-type) is declared twice"));
            }
            notifications.push(notification);
        }
        (errors.len() == before).then(|| Budget {
            name: name.to_string(),
            amount_usd: self.amount.value,
            time_unit: self.time_unit.as_ref().map_or(TimeUnit::Monthly, |t| t.value),
            cost_filters: self.cost_filters.clone(),
            notifications,
        })
    }
}

impl NotificationSpec {
    fn compile(&self, path: &str, default_emails: &[String], errors: &mut Vec<DecodeError>) -> Option<Notification> {
        let before = errors.len();
        let threshold_type = self.threshold_type.as_ref().map_or(ThresholdType::Percentage, |t| t.value);
        let t = self.threshold.value;
        let ok = match threshold_type {
            ThresholdType::Percentage => t > 0.0 && t <= 1000.0,
            ThresholdType::AbsoluteValue => t > 0.0 && t.is_finite(),
        };
        if !ok {
            errors.push(DecodeError::new(
                self.threshold.loc,
                format!("{path}.threshold"),
                format!("threshold must be more than 0 (a percentage at most 1000, or an amount in USD), found {}", self.threshold),
            ));
        }
        let emails = match &self.email {
            Some(list) => check_emails(list, &format!("{path}.email"), errors),
            None => default_emails.to_vec(),
        };
        if emails.len() > MAX_EMAIL_SUBSCRIBERS {
            errors.push(DecodeError::new(
                self.kind.loc,
                format!("{path}.email"),
                format!("AWS allows at most {MAX_EMAIL_SUBSCRIBERS} email subscribers per notification, found {}", emails.len()),
            ));
        }
        if let Some(topic) = self.sns_topic.as_ref().filter(|t| !is_sns_arn(&t.value)) {
            errors.push(DecodeError::new(
                topic.loc,
                format!("{path}.sns-topic"),
                format!("expected one SNS topic ARN (arn:aws:sns:...), found {:?}", topic.value),
            ));
        }
        if emails.is_empty() && self.sns_topic.is_none() {
            errors.push(DecodeError::new(
                self.kind.loc,
                path.to_string(),
                "a notification needs a subscriber: `email:` here or in `guardrails.email`, or `sns-topic:`",
            ));
        }
        (errors.len() == before).then(|| Notification {
            kind: self.kind.value,
            threshold: t,
            threshold_type,
            emails,
            sns_topic: self.sns_topic.as_ref().map(|s| s.value.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::compile_guardrails_text;

    fn errors(text: &str) -> Vec<String> {
        match compile_guardrails_text(std::path::Path::new("g.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn aws_limits_are_checked_with_locations() {
        let eleven: String = (0..11).map(|i| format!("        - {{type: ACTUAL, threshold: {}}}\n", 10 + i)).collect();
        let text = format!("guardrails:\n  email: [a@example.com]\n  budgets:\n    - name: costguard-x\n      amount: 5\n      notifications:\n{eleven}");
        let found = errors(&text);
        assert!(found.iter().any(|e| e.starts_with("g.yaml:17:") && e.contains("at most 10 notifications")), "{found:?}");

        let many: Vec<String> = (0..11).map(|i| format!("u{i}@example.com")).collect();
        let text = format!(
            "guardrails:\n  budgets:\n    - name: costguard-x\n      amount: 5\n      notifications:\n        - {{type: ACTUAL, threshold: 100, email: [{}], sns-topic: not-an-arn}}\n",
            many.join(", ")
        );
        let found = errors(&text);
        assert!(found.iter().any(|e| e.contains("at most 10 email subscribers")), "{found:?}");
        assert!(found.iter().any(|e| e.contains("notifications[0].sns-topic") && e.contains("SNS topic ARN")), "{found:?}");
    }

    #[test]
    fn foreign_names_duplicates_and_bad_values_are_rejected() {
        let text = "guardrails:\n  email: [not an address]\n  budgets:\n    - name: team-budget\n      amount: -1\n    - name: costguard-a\n      amount: 10\n    - name: costguard-a\n      amount: 20\n";
        let found = errors(text);
        assert!(found.iter().any(|e| e.contains("guardrails.email[0]")), "{found:?}");
        assert!(found.iter().any(|e| e.starts_with("g.yaml:4:13:") && e.contains("start with the prefix `costguard-`")), "{found:?}");
        assert!(found.iter().any(|e| e.contains("budgets[0].amount")), "{found:?}");
        assert!(found.iter().any(|e| e.contains("budgets[2].name") && e.contains("declared twice")), "{found:?}");
        let weekly = errors("guardrails:\n  email: [a@example.com]\n  budgets:\n    - name: costguard-a\n      amount: 20\n      time-unit: WEEKLY\n");
        assert!(weekly.iter().any(|e| e.starts_with("g.yaml:6:18:") && e.contains("MONTHLY")), "{weekly:?}");
    }

    #[test]
    fn a_notification_needs_a_subscriber() {
        let text = "guardrails:\n  budgets:\n    - name: costguard-a\n      amount: 10\n      notifications:\n        - {type: ACTUAL, threshold: 100}\n";
        assert!(errors(text).iter().any(|e| e.contains("needs a subscriber")));
    }

    #[test]
    fn the_shipped_guardrails_declare_the_four_budgets() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/guardrails.yaml");
        let text = std::fs::read_to_string(&path).expect("shipped");
        let g = compile_guardrails_text(&path, &text).ok().flatten().expect("valid");
        let amounts: Vec<f64> = g.budgets.iter().map(|b| b.amount_usd).collect();
        assert_eq!(amounts, [500.0, 1000.0, 2500.0, 5000.0]);
        assert!(g.budgets.iter().all(|b| b.notifications.len() == 2 && b.time_unit == super::TimeUnit::Monthly));
        assert_eq!(g.placeholder_addresses(), ["finops@example.com"], "the shipped address is a placeholder, and is flagged as one");
        let v = g.spend_velocity.expect("spend-velocity is on");
        // The hourly and daily rates that reach the top budget within a month.
        let top = amounts[3];
        assert!((v.total.usd_per_hour.unwrap_or(0.0) - top / 730.0).abs() < 0.01);
        assert!((v.total.usd_per_day.unwrap_or(0.0) - top / 30.4).abs() < 1.0);
        assert_eq!(v.total.projected_month_usd, Some(top));
        assert_eq!(v.schedule.as_deref(), Some("0 */5 * * * *"));
    }
}
