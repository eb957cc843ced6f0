//! Prices, so every finding carries dollars: what a product costs per unit
//! (an instance-hour, a GB-month, a provisioned IOPS-month).
//!
//! A resource module asks with a [`PriceKey`] (the Price List product and
//! unit) and its own built-in figure. Looked up in order: the on-disk cache
//! (answers younger than [`CACHE_TTL_DAYS`]), the AWS Price List API, then
//! the built-in figure. A product priced nowhere is *unknown*: reported as
//! such, never priced at $0. This module knows no resource type.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::pricing::PricingClient;

pub mod tokens;

/// Hours in an average month, as AWS's own calculators use.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// List prices change rarely; a month-old answer is still right.
pub const CACHE_TTL_DAYS: i64 = 30;

/// One product's price in the Price List: its service, the attributes that
/// select it, and the unit its rate is in.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceKey {
    /// `AmazonEC2`, `AmazonSageMaker`, `AmazonS3`, ...
    pub service_code: &'static str,
    /// Term-match filters, e.g. (`instanceType`, `m5.large`).
    pub filters: Vec<(&'static str, String)>,
    /// The Price List's unit: `Hrs`, `GB-Mo`, `IOPS-Mo`, `GiBps-mo`.
    pub unit: &'static str,
    /// What the figure is, for people: `ml.m5.xlarge`, `gp3 storage`.
    pub label: String,
}

impl PriceKey {
    fn cache_key(&self) -> String {
        let mut filters: Vec<String> = self.filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        filters.sort();
        format!("{}:{}:{}", self.service_code, self.unit, filters.join(","))
    }
}

/// A built-in figure a resource module knows: the rate, and when (and for
/// which region) it was taken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Builtin {
    pub usd: f64,
    /// `2026-11-25`.
    pub taken: &'static str,
    pub region: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceSource {
    PriceList,
    Cache,
    /// The resource module's built-in table (an approximation elsewhere).
    BuiltIn,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Price {
    /// USD per `unit`.
    pub usd: f64,
    pub unit: &'static str,
    pub source: PriceSource,
    /// Where the figure came from, for the cost basis.
    pub label: String,
}

impl Price {
    /// "ml.m5.xlarge at $0.23/hour (Price List API)": how a figure was made.
    pub fn describe(&self) -> String {
        format!("{} at ${}/{}{}", self.label, unit_price(self.usd), unit_name(self.unit), self.source_text())
    }

    fn source_text(&self) -> String {
        match self.source {
            PriceSource::PriceList => " (Price List API)".to_string(),
            PriceSource::Cache => " (cached Price List answer)".to_string(),
            PriceSource::BuiltIn => String::new(),
        }
    }
}

/// A unit price to four decimals, trailing zeros dropped down to cents:
/// `0.23`, `0.0464`, `1.212`.
fn unit_price(usd: f64) -> String {
    let text = format!("{usd:.4}");
    let trimmed = text.trim_end_matches('0');
    match trimmed.split_once('.') {
        Some((_, cents)) if cents.len() >= 2 => trimmed.to_string(),
        _ => format!("{usd:.2}"),
    }
}

/// The Price List's unit in words.
fn unit_name(unit: &str) -> &str {
    match unit {
        "Hrs" => "hour",
        "GB-Mo" => "GB-month",
        "IOPS-Mo" => "IOPS-month",
        "GiBps-mo" => "GiB/s-month",
        other => other,
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Cache {
    entries: BTreeMap<String, CachedPrice>,
}

#[derive(Clone, Serialize, Deserialize)]
struct CachedPrice {
    /// `None`: the Price List API has no such product.
    #[serde(alias = "hourly_usd")]
    usd: Option<f64>,
    fetched_at: DateTime<Utc>,
}

pub struct PriceBook {
    client: Option<PricingClient>,
    cache_path: Option<PathBuf>,
    cache: Mutex<Cache>,
    /// After one failed API call the sweep stops asking (no access, no
    /// network): one warning, not one per product.
    api_down: AtomicBool,
}

const MAX_CACHE_BYTES: u64 = 16 * 1024 * 1024;

impl PriceBook {
    /// `client: None` prices from the cache and built-in figures only.
    pub fn new(client: Option<PricingClient>, cache_path: Option<PathBuf>) -> Self {
        // A cache is a convenience: unreadable, or larger than any real one
        // (a few hundred prices), it is ignored and rebuilt.
        let cache = cache_path
            .as_ref()
            .and_then(|p| crate::files::read_bounded(p, MAX_CACHE_BYTES).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { client, cache_path, cache: Mutex::new(cache), api_down: AtomicBool::new(false) }
    }

    /// The built-in figures alone: for tests and offline runs.
    pub fn builtin() -> Self {
        Self::new(None, None)
    }

    /// The price of `key` in `region`; `builtin` when the Price List has
    /// none (or cannot be asked).
    pub async fn price(&self, region: &str, key: &PriceKey, builtin: Option<Builtin>, now: DateTime<Utc>) -> Option<Price> {
        let mut filters = key.filters.clone();
        filters.push(("regionCode", region.to_string()));
        let asked = PriceKey { filters, ..key.clone() };
        let cache_key = asked.cache_key();
        let found = |usd: f64, source: PriceSource| Some(Price { usd, unit: key.unit, source, label: key.label.clone() });
        let fallback = || {
            builtin.and_then(|b| {
                let mut price = found(b.usd, PriceSource::BuiltIn)?;
                price.label = format!("{} (built-in {} price of {})", key.label, b.region, b.taken);
                Some(price)
            })
        };
        let cached = self.lock().entries.get(&cache_key).cloned();
        if let Some(hit) = cached.filter(|c| now - c.fetched_at < Duration::days(CACHE_TTL_DAYS) && c.fetched_at <= now) {
            return match hit.usd {
                Some(usd) => found(usd, PriceSource::Cache),
                None => fallback(),
            };
        }
        if let Some(client) = self.client.as_ref().filter(|_| !self.api_down.load(Ordering::Relaxed)) {
            match client.price_usd(asked.service_code, &asked.filters, asked.unit).await {
                Ok(usd) => {
                    self.lock().entries.insert(cache_key, CachedPrice { usd, fetched_at: now });
                    if let Some(usd) = usd {
                        return found(usd, PriceSource::PriceList);
                    }
                }
                Err(e) => {
                    self.api_down.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e, "Price List API unavailable; using the built-in prices for this sweep");
                }
            }
        }
        fallback()
    }

    /// Writes the cache back (atomically), if it has a path.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.cache_path else { return Ok(()) };
        let json = serde_json::to_vec_pretty(&*self.lock()).map_err(std::io::Error::other)?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("prices.json");
        crate::files::write_atomic(dir, name, |w| std::io::Write::write_all(w, &json)).map(|_| ())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(label: &str) -> PriceKey {
        PriceKey { service_code: "AmazonSageMaker", filters: vec![("instanceName", label.to_string())], unit: "Hrs", label: label.to_string() }
    }

    #[test]
    fn a_price_reads_in_words_with_the_cents_it_needs() {
        let price = |usd: f64, unit: &'static str| Price { usd, unit, source: PriceSource::BuiltIn, label: "x".into() }.describe();
        assert_eq!(price(0.2, "Hrs"), "x at $0.20/hour");
        assert_eq!(price(0.0464, "Hrs"), "x at $0.0464/hour");
        assert_eq!(price(1.212, "Hrs"), "x at $1.212/hour");
        assert_eq!(price(0.08, "GB-Mo"), "x at $0.08/GB-month");
    }

    #[tokio::test]
    async fn unknown_products_are_unknown_not_free() {
        let book = PriceBook::builtin();
        let now = crate::clock::test_now();
        let builtin = Builtin { usd: 0.23, taken: "2026-11-25", region: "us-east-1" };
        let known = book.price("us-east-1", &key("ml.m5.xlarge"), Some(builtin), now).await;
        assert_eq!(known.as_ref().map(|p| (p.usd, p.source)), Some((0.23, PriceSource::BuiltIn)));
        assert!(known.map(|p| p.describe()).unwrap_or_default().contains("built-in us-east-1 price of 2026-11-25"));
        assert_eq!(book.price("us-east-1", &key("ml.zz9.huge"), None, now).await, None);
    }
}
