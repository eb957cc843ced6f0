//! Prices: what an instance costs an hour, so every finding carries dollars.
//!
//! Looked up in order: the on-disk cache (answers younger than
//! [`CACHE_TTL_DAYS`]), the AWS Price List API, then a built-in table of
//! common types. A type found nowhere is *unknown*: reported as such, never
//! priced at $0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::pricing::{PricingClient, Product};

/// Hours in an average month, as AWS's own calculators use.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// List prices change rarely; a month-old answer is still right.
pub const CACHE_TTL_DAYS: i64 = 30;
/// When the built-in table's prices were compiled.
pub const BUILTIN_TAKEN: &str = "2026-11-25";

/// SageMaker on-demand USD per hour in us-east-1 (real-time inference and
/// notebook instances are billed alike for these types). Compiled on
/// [`BUILTIN_TAKEN`] from public price tables, keeping only figures that
/// independent sources agreed on; the Price List API overrides it.
const SAGEMAKER_US_EAST_1: &[(&str, f64)] = &[
    ("ml.t3.medium", 0.05),
    ("ml.t3.large", 0.10),
    ("ml.t3.xlarge", 0.20),
    ("ml.m5.large", 0.115),
    ("ml.m5.xlarge", 0.23),
    ("ml.m5.2xlarge", 0.461),
    ("ml.m5.4xlarge", 0.922),
    ("ml.m5.12xlarge", 2.765),
    ("ml.m5.24xlarge", 5.53),
    ("ml.c5.large", 0.102),
    ("ml.c5.xlarge", 0.204),
    ("ml.c5.2xlarge", 0.408),
    ("ml.c5.4xlarge", 0.816),
    ("ml.c5.9xlarge", 1.836),
    ("ml.g4dn.xlarge", 0.736),
    ("ml.g4dn.2xlarge", 1.0528),
    ("ml.g4dn.4xlarge", 1.685),
    ("ml.g4dn.8xlarge", 3.046),
    ("ml.g4dn.12xlarge", 5.48),
    ("ml.g5.xlarge", 1.408),
    ("ml.g5.12xlarge", 7.09),
    ("ml.p3.2xlarge", 3.825),
    ("ml.p3.8xlarge", 14.688),
    ("ml.p3.16xlarge", 28.152),
];

/// EC2 families whose on-demand Linux price in us-east-1 is a fixed rate per
/// vCPU (each size doubles vCPUs and price): (family, USD per vCPU-hour,
/// sizes offered). Same date and sources as the SageMaker table.
const EC2_PER_VCPU_US_EAST_1: &[(&str, f64, &[&str])] = &[
    ("m5", 0.048, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"]),
    ("r5", 0.063, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"]),
    ("c5", 0.0425, &["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"]),
    ("m6i", 0.048, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("r6i", 0.063, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("c6i", 0.0425, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("m6g", 0.0385, &["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
    ("m7g", 0.0408, &["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
];

/// EC2 types priced one by one (burstable and GPU families do not follow a
/// per-vCPU rate).
const EC2_US_EAST_1: &[(&str, f64)] = &[
    ("t3.nano", 0.0052),
    ("t3.micro", 0.0104),
    ("t3.small", 0.0208),
    ("t3.medium", 0.0416),
    ("t3.large", 0.0832),
    ("t3.xlarge", 0.1664),
    ("t3.2xlarge", 0.3328),
    ("g4dn.xlarge", 0.526),
    ("g4dn.2xlarge", 0.752),
    ("g4dn.4xlarge", 1.204),
    ("g4dn.8xlarge", 2.176),
    ("g4dn.12xlarge", 3.912),
    ("g4dn.16xlarge", 4.352),
    ("p3.2xlarge", 3.06),
    ("p3.8xlarge", 12.24),
    ("p3.16xlarge", 24.48),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceSource {
    PriceList,
    Cache,
    /// The built-in us-east-1 table (an approximation in other regions).
    BuiltIn,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    pub hourly_usd: f64,
    pub source: PriceSource,
}

impl Price {
    /// "ml.m5.xlarge at $0.230/h (Price List API)": how a figure was made.
    pub fn describe(&self, instance_type: &str) -> String {
        let source = match self.source {
            PriceSource::PriceList => "Price List API".to_string(),
            PriceSource::Cache => "cached Price List answer".to_string(),
            PriceSource::BuiltIn => format!("built-in us-east-1 price of {BUILTIN_TAKEN}"),
        };
        format!("{instance_type} at ${:.3}/h ({source})", self.hourly_usd)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Cache {
    entries: BTreeMap<String, CachedPrice>,
}

#[derive(Clone, Serialize, Deserialize)]
struct CachedPrice {
    /// `None`: the Price List API has no such product.
    hourly_usd: Option<f64>,
    fetched_at: DateTime<Utc>,
}

pub struct PriceBook {
    client: Option<PricingClient>,
    cache_path: Option<PathBuf>,
    cache: Mutex<Cache>,
    /// After one failed API call the sweep stops asking (no access, no
    /// network): one warning, not one per type.
    api_down: AtomicBool,
}

impl PriceBook {
    /// `client: None` prices from the cache and built-in table only.
    pub fn new(client: Option<PricingClient>, cache_path: Option<PathBuf>) -> Self {
        let cache = cache_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { client, cache_path, cache: Mutex::new(cache), api_down: AtomicBool::new(false) }
    }

    /// The built-in table alone: for tests and offline runs.
    pub fn builtin() -> Self {
        Self::new(None, None)
    }

    pub async fn hourly(&self, product: Product, region: &str, instance_type: &str, now: DateTime<Utc>) -> Option<Price> {
        let key = format!("{}:{region}:{instance_type}", product.key());
        let cached = self.lock().entries.get(&key).cloned();
        if let Some(hit) = cached.filter(|c| now - c.fetched_at < Duration::days(CACHE_TTL_DAYS)) {
            if let Some(hourly_usd) = hit.hourly_usd {
                return Some(Price { hourly_usd, source: PriceSource::Cache });
            }
            return builtin(product, instance_type);
        }
        if let Some(client) = self.client.as_ref().filter(|_| !self.api_down.load(Ordering::Relaxed)) {
            match client.hourly_usd(product, region, instance_type).await {
                Ok(found) => {
                    self.lock().entries.insert(key, CachedPrice { hourly_usd: found, fetched_at: now });
                    if let Some(hourly_usd) = found {
                        return Some(Price { hourly_usd, source: PriceSource::PriceList });
                    }
                }
                Err(e) => {
                    self.api_down.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e, "Price List API unavailable; using the built-in price table for this sweep");
                }
            }
        }
        builtin(product, instance_type)
    }

    /// Writes the cache back (atomically), if it has a path.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.cache_path else { return Ok(()) };
        let json = serde_json::to_vec_pretty(&*self.lock()).map_err(std::io::Error::other)?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("prices.json");
        std::fs::create_dir_all(dir)?;
        crate::report::write_atomic(dir, name, |w| std::io::Write::write_all(w, &json)).map(|_| ())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn builtin(product: Product, instance_type: &str) -> Option<Price> {
    let hourly_usd = match product {
        Product::SageMakerHosting | Product::SageMakerNotebook => SAGEMAKER_US_EAST_1.iter().find(|(t, _)| *t == instance_type).map(|&(_, p)| p),
        Product::Ec2Linux => EC2_US_EAST_1.iter().find(|(t, _)| *t == instance_type).map(|&(_, p)| p).or_else(|| {
            let (family, size) = crate::resources::sizes::split(instance_type)?;
            let (_, per_vcpu, sizes) = EC2_PER_VCPU_US_EAST_1.iter().find(|(f, _, _)| *f == family)?;
            sizes.contains(&size).then_some(())?;
            Some(per_vcpu * crate::resources::sizes::ladder_vcpus(size)?)
        }),
    }?;
    Some(Price { hourly_usd, source: PriceSource::BuiltIn })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_types_are_unknown_not_free() {
        let book = PriceBook::builtin();
        let now = crate::clock::test_now();
        assert_eq!(book.hourly(Product::SageMakerHosting, "us-east-1", "ml.m5.xlarge", now).await.map(|p| p.hourly_usd), Some(0.23));
        assert_eq!(book.hourly(Product::SageMakerHosting, "us-east-1", "ml.zz9.huge", now).await, None);
        let ec2 = |t: &'static str| async move { PriceBook::builtin().hourly(Product::Ec2Linux, "us-east-1", t, crate::clock::test_now()).await.map(|p| p.hourly_usd) };
        assert_eq!(ec2("m5.large").await, Some(0.096));
        assert_eq!(ec2("c5.9xlarge").await, Some(0.0425 * 36.0));
        assert_eq!(ec2("c5.8xlarge").await, None, "c5 has no 8xlarge");
        assert_eq!(ec2("ml.m5.large").await, None, "EC2 prices are not SageMaker's");
    }
}
