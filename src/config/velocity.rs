//! `guardrails.spend-velocity`: what the models' token use costs per hour,
//! read from CloudWatch every few minutes, and the limits that wake people.
//!
//! ```yaml
//! guardrails:
//!   spend-velocity:
//!     schedule: "0 */5 * * * *"        # the daemon's own schedule (default: with every sweep)
//!     period-minutes: 5                # 1 or 5: the resolution of the figures
//!     rate-window-minutes: 15          # "per hour now" = the last 15 minutes x 4
//!     total: {max-usd-per-hour: 6.85, max-usd-per-day: 164, max-projected-month-usd: 5000}
//!     models:                          # per model (id, profile id or id without `:N`)
//!       anthropic.claude-opus-4-1-20250805-v1: {max-usd-per-hour: 2}
//!     spike: {factor: 5, min-usd-per-hour: 1}   # the last hour at 5x the same hour's 7-day average
//!     prices:                          # per 1,000 tokens (or -per-1m), per image; wins over the built-in table
//!       my-custom-model: {input-per-1k: 0.001, output-per-1k: 0.002}
//!     email: [oncall@example.com]      # default: guardrails.email
//!     sns-topic: arn:aws:sns:us-east-1:123456789012:ai-spend
//!     worse-step: 1.5                  # told again when 1.5 x what was last told ...
//!     repeat-hours: 6                  # ... or after this long while still over
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::check_emails;
use crate::pricing::tokens::TokenPrice;
use crate::yaml::{DecodeError, Loc, Located};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpendVelocitySpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub schedule: Option<Located<String>>,
    #[serde(default)]
    pub period_minutes: Option<Located<i64>>,
    #[serde(default)]
    pub rate_window_minutes: Option<Located<i64>>,
    #[serde(default)]
    pub namespaces: Option<Vec<Located<String>>>,
    #[serde(default)]
    pub total: Option<Located<LimitsSpec>>,
    #[serde(default)]
    pub models: BTreeMap<String, Located<LimitsSpec>>,
    #[serde(default)]
    pub spike: Option<Located<SpikeSpec>>,
    #[serde(default)]
    pub prices: BTreeMap<String, Located<PriceSpec>>,
    #[serde(default)]
    pub email: Option<Vec<Located<String>>>,
    #[serde(default)]
    pub sns_topic: Option<Located<String>>,
    #[serde(default)]
    pub worse_step: Option<Located<f64>>,
    #[serde(default)]
    pub repeat_hours: Option<Located<f64>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSpec {
    #[serde(default)]
    pub max_usd_per_hour: Option<Located<f64>>,
    #[serde(default)]
    pub max_usd_per_day: Option<Located<f64>>,
    #[serde(default)]
    pub max_projected_month_usd: Option<Located<f64>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpikeSpec {
    pub factor: Located<f64>,
    #[serde(default)]
    pub min_usd_per_hour: Option<Located<f64>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PriceSpec {
    #[serde(default)]
    pub input_per_1k: Option<Located<f64>>,
    #[serde(default)]
    pub output_per_1k: Option<Located<f64>>,
    #[serde(default)]
    pub cache_read_per_1k: Option<Located<f64>>,
    #[serde(default)]
    pub cache_write_per_1k: Option<Located<f64>>,
    #[serde(default)]
    pub input_per_1m: Option<Located<f64>>,
    #[serde(default)]
    pub output_per_1m: Option<Located<f64>>,
    #[serde(default)]
    pub cache_read_per_1m: Option<Located<f64>>,
    #[serde(default)]
    pub cache_write_per_1m: Option<Located<f64>>,
    #[serde(default)]
    pub per_image: Option<Located<f64>>,
}

/// Limits in USD; `None`: not watched.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub usd_per_hour: Option<f64>,
    pub usd_per_day: Option<f64>,
    pub projected_month_usd: Option<f64>,
}

/// The last hour against the same hour of the past 7 days.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spike {
    pub factor: f64,
    /// Below this the last hour is noise, whatever the factor.
    pub min_usd_per_hour: f64,
}

/// The compiled settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SpendVelocity {
    /// The daemon's own schedule; `None`: with every guardrails sweep only.
    pub schedule: Option<String>,
    pub period_secs: i64,
    pub rate_window_secs: i64,
    pub namespaces: Vec<String>,
    pub total: Limits,
    /// Per model id (as CloudWatch names it, or without its `:N` suffix).
    pub models: BTreeMap<String, Limits>,
    pub spike: Option<Spike>,
    pub prices: BTreeMap<String, TokenPrice>,
    pub emails: Vec<String>,
    pub sns_topic: Option<String>,
    pub worse_step: f64,
    pub repeat_hours: f64,
}

/// Where Bedrock publishes per-model use: the runtime API, and the
/// OpenAI-compatible endpoint.
pub const DEFAULT_NAMESPACES: [&str; 2] = ["AWS/Bedrock", "AWS/BedrockMantle"];

fn positive(v: &Located<f64>, path: String, errors: &mut Vec<DecodeError>) -> Option<f64> {
    if v.value.is_finite() && v.value > 0.0 {
        Some(v.value)
    } else {
        errors.push(DecodeError::new(v.loc, path, format!("expected a number more than 0, found {v}")));
        None
    }
}

impl LimitsSpec {
    fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Limits {
        let field =
            |v: &Option<Located<f64>>, name: &str, errors: &mut Vec<DecodeError>| v.as_ref().and_then(|v| positive(v, format!("{path}.{name}"), errors));
        Limits {
            usd_per_hour: field(&self.max_usd_per_hour, "max-usd-per-hour", errors),
            usd_per_day: field(&self.max_usd_per_day, "max-usd-per-day", errors),
            projected_month_usd: field(&self.max_projected_month_usd, "max-projected-month-usd", errors),
        }
    }
}

impl PriceSpec {
    fn compile(&self, path: &str, loc: Loc, errors: &mut Vec<DecodeError>) -> TokenPrice {
        let check = |v: &Located<f64>, field: String, errors: &mut Vec<DecodeError>| {
            if v.value.is_finite() && v.value >= 0.0 {
                Some(v.value)
            } else {
                errors.push(DecodeError::new(v.loc, format!("{path}.{field}"), format!("a price is 0 or more, found {v}")));
                None
            }
        };
        let mut one = |per_1k: &Option<Located<f64>>, per_1m: &Option<Located<f64>>, name: &str| -> Option<f64> {
            match (per_1k, per_1m) {
                (Some(a), Some(_)) => {
                    errors.push(DecodeError::new(a.loc, format!("{path}.{name}"), format!("give {name}-per-1k or {name}-per-1m, not both")));
                    None
                }
                (Some(a), None) => check(a, format!("{name}-per-1k"), errors),
                (None, Some(m)) => check(m, format!("{name}-per-1m"), errors).map(|v| v / 1000.0),
                (None, None) => None,
            }
        };
        let price = TokenPrice {
            input_per_1k: one(&self.input_per_1k, &self.input_per_1m, "input"),
            output_per_1k: one(&self.output_per_1k, &self.output_per_1m, "output"),
            cache_read_per_1k: one(&self.cache_read_per_1k, &self.cache_read_per_1m, "cache-read"),
            cache_write_per_1k: one(&self.cache_write_per_1k, &self.cache_write_per_1m, "cache-write"),
            per_image: None,
        };
        let price = TokenPrice { per_image: self.per_image.as_ref().and_then(|v| check(v, "per-image".to_string(), errors)), ..price };
        if price == TokenPrice::default() {
            errors.push(DecodeError::new(
                loc,
                path.to_string(),
                "a price names at least one of input-, output-, cache-read-, cache-write- (per-1k or per-1m) or per-image",
            ));
        }
        price
    }
}

impl SpendVelocitySpec {
    /// `None` when turned off (`enabled: false`).
    pub fn compile(&self, default_emails: &[String], errors: &mut Vec<DecodeError>) -> Option<SpendVelocity> {
        if self.enabled == Some(false) {
            return None;
        }
        let path = "guardrails.spend-velocity";
        let schedule = self.schedule.as_ref().and_then(|s| match super::schedule::normalize_schedule(&s.value) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(DecodeError::new(s.loc, format!("{path}.schedule"), e));
                None
            }
        });
        let period_secs = match &self.period_minutes {
            None => 300,
            Some(p) if p.value == 1 || p.value == 5 => p.value * 60,
            Some(p) => {
                errors.push(DecodeError::new(
                    p.loc,
                    format!("{path}.period-minutes"),
                    format!("period-minutes is 1 or 5 (CloudWatch's resolutions), found {p}"),
                ));
                300
            }
        };
        let rate_window_secs = match &self.rate_window_minutes {
            None => 900.max(period_secs),
            Some(w) if w.value > 0 && w.value <= 60 && (w.value * 60) % period_secs == 0 => w.value * 60,
            Some(w) => {
                errors.push(DecodeError::new(
                    w.loc,
                    format!("{path}.rate-window-minutes"),
                    format!("rate-window-minutes is a multiple of period-minutes ({}) up to 60, found {w}", period_secs / 60),
                ));
                900
            }
        };
        let namespaces = match &self.namespaces {
            None => DEFAULT_NAMESPACES.iter().map(|n| n.to_string()).collect(),
            Some(list) => list.iter().map(|n| n.value.trim().to_string()).filter(|n| !n.is_empty()).collect(),
        };
        let total = self.total.as_ref().map_or_else(Limits::default, |t| t.value.compile(&format!("{path}.total"), errors));
        let models = self.models.iter().map(|(id, l)| (id.trim().to_string(), l.value.compile(&format!("{path}.models.{id}"), errors))).collect();
        let spike = self.spike.as_ref().and_then(|s| {
            let factor = &s.value.factor;
            let factor = if factor.value.is_finite() && factor.value > 1.0 {
                Some(factor.value)
            } else {
                errors.push(DecodeError::new(factor.loc, format!("{path}.spike.factor"), format!("factor is more than 1, found {factor}")));
                None
            };
            let min = match &s.value.min_usd_per_hour {
                None => Some(1.0),
                Some(m) => positive(m, format!("{path}.spike.min-usd-per-hour"), errors),
            };
            Some(Spike { factor: factor?, min_usd_per_hour: min? })
        });
        let prices = self.prices.iter().map(|(id, p)| (id.trim().to_string(), p.value.compile(&format!("{path}.prices.{id}"), p.loc, errors))).collect();
        let emails = match &self.email {
            Some(list) => check_emails(list, &format!("{path}.email"), errors),
            None => default_emails.to_vec(),
        };
        let sns_topic = self.sns_topic.as_ref().and_then(|t| {
            if t.value.starts_with("arn:") && t.value.contains(":sns:") {
                Some(t.value.clone())
            } else {
                errors.push(DecodeError::new(t.loc, format!("{path}.sns-topic"), format!("expected one SNS topic ARN (arn:aws:sns:...), found {:?}", t.value)));
                None
            }
        });
        let worse_step = match &self.worse_step {
            None => 1.5,
            Some(w) if w.value.is_finite() && w.value > 1.0 => w.value,
            Some(w) => {
                errors.push(DecodeError::new(
                    w.loc,
                    format!("{path}.worse-step"),
                    format!("worse-step is more than 1 (1.5: told again at 150% of what was told), found {w}"),
                ));
                1.5
            }
        };
        let repeat_hours = match &self.repeat_hours {
            None => 6.0,
            Some(h) => positive(h, format!("{path}.repeat-hours"), errors).unwrap_or(6.0),
        };
        Some(SpendVelocity { schedule, period_secs, rate_window_secs, namespaces, total, models, spike, prices, emails, sns_topic, worse_step, repeat_hours })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::compile_guardrails_text;

    fn compiled(text: &str) -> Result<Option<super::SpendVelocity>, Vec<String>> {
        match compile_guardrails_text(std::path::Path::new("g.yaml"), text) {
            Ok(g) => Ok(g.and_then(|g| g.spend_velocity)),
            Err(e) => Err(e.0.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn limits_prices_and_windows_compile() {
        let text = "guardrails:\n  email: [a@example.com]\n  spend-velocity:\n    period-minutes: 1\n    rate-window-minutes: 10\n    total: {max-usd-per-hour: 6.85}\n    models:\n      acme.model-v1: {max-usd-per-day: 50}\n    spike: {factor: 5}\n    prices:\n      acme.model-v1: {input-per-1m: 3, output-per-1k: 0.015}\n";
        let v = compiled(text).expect("valid").expect("on");
        assert_eq!((v.period_secs, v.rate_window_secs), (60, 600));
        assert_eq!(v.total.usd_per_hour, Some(6.85));
        assert_eq!(v.models["acme.model-v1"].usd_per_day, Some(50.0));
        assert_eq!(v.spike.map(|s| (s.factor, s.min_usd_per_hour)), Some((5.0, 1.0)));
        assert_eq!(v.prices["acme.model-v1"].input_per_1k, Some(0.003));
        assert_eq!(v.emails, ["a@example.com"]);
        assert_eq!(v.namespaces, ["AWS/Bedrock", "AWS/BedrockMantle"]);
    }

    #[test]
    fn bad_settings_are_errors_at_their_place() {
        let text = "guardrails:\n  spend-velocity:\n    period-minutes: 3\n    total: {max-usd-per-hour: -1}\n    spike: {factor: 0.5}\n    prices:\n      x.y: {}\n    sns-topic: topic\n";
        let found = compiled(text).expect_err("invalid");
        for want in ["g.yaml:3:21: guardrails.spend-velocity.period-minutes", "total.max-usd-per-hour", "spike.factor", "prices.x.y", "sns-topic"] {
            assert!(found.iter().any(|e| e.contains(want)), "{want} in {found:?}");
        }
        assert_eq!(compiled("guardrails:\n  email: [a@example.com]\n  spend-velocity: {enabled: false}\n").expect("valid"), None);
    }
}
