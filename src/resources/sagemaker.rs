//! What SageMaker's resource types share (not a type of its own): the
//! prices of its `ml.` instances, by use.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::sizes::{self, InstanceSize};
use super::Resource;
use crate::pricing::{Builtin, Price, PriceBook, PriceKey};

/// What an `ml.` instance is billed for (the Price List's `component`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Real-time inference endpoints.
    Hosting,
    /// Notebook instances.
    Notebook,
    /// Training jobs.
    Training,
}

impl Use {
    fn component(self) -> &'static str {
        match self {
            Use::Hosting => "Hosting",
            Use::Notebook => "Notebook",
            Use::Training => "Training",
        }
    }
}

/// When the built-in table was compiled.
pub const BUILTIN_TAKEN: &str = "2026-11-25";

/// SageMaker on-demand USD per hour in us-east-1 (inference, notebook and
/// training instances are billed alike for these types). Compiled on
/// [`BUILTIN_TAKEN`] from public price tables, keeping only figures that
/// independent sources agreed on; the Price List API overrides it.
const US_EAST_1: &[(&str, f64)] = &[
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
    ("ml.g5.2xlarge", 1.515),
    ("ml.g5.4xlarge", 2.03),
    ("ml.g5.8xlarge", 3.06),
    ("ml.g5.12xlarge", 7.09),
    ("ml.g5.16xlarge", 5.12),
    ("ml.g5.24xlarge", 10.18),
    ("ml.g5.48xlarge", 20.36),
    ("ml.g6.xlarge", 0.9765),
    ("ml.g6e.xlarge", 1.861),
    ("ml.p4d.24xlarge", 37.688),
    ("ml.inf2.xlarge", 0.758),
    ("ml.p3.2xlarge", 3.825),
    ("ml.p3.8xlarge", 14.688),
    ("ml.p3.16xlarge", 28.152),
];

/// The on-demand hourly price of `instance_type` for `usage` in `region`.
pub async fn hourly(prices: &PriceBook, usage: Use, region: &str, instance_type: &str, now: DateTime<Utc>) -> Option<Price> {
    let key = PriceKey {
        service_code: "AmazonSageMaker",
        filters: vec![("instanceName", instance_type.to_string()), ("component", usage.component().to_string())],
        unit: "Hrs",
        label: instance_type.to_string(),
    };
    let builtin = US_EAST_1.iter().find(|(t, _)| *t == instance_type).map(|&(_, usd)| Builtin { usd, taken: BUILTIN_TAKEN, region: "us-east-1" });
    prices.price(region, &key, builtin, now).await
}

/// Sets each resource's sizes: every size of its `ml.` types' families no
/// larger than them (for accelerated families, with no more accelerators),
/// priced for `usage`; a size with no price is left out (not offered, or
/// not known), the current one never. One list per set of types, shared
/// by the resources that have it.
pub async fn prepare_family_sizes(
    resources: Vec<&mut Resource>,
    types_of: impl Fn(&Resource) -> Vec<String>,
    usage: Use,
    region: &str,
    prices: &PriceBook,
    now: DateTime<Utc>,
) {
    let mut by_types: HashMap<Vec<String>, Arc<[InstanceSize]>> = HashMap::new();
    for r in resources {
        let types = types_of(r);
        if let Some(found) = by_types.get(&types) {
            r.sizes = Arc::clone(found);
            continue;
        }
        let mut found: Vec<InstanceSize> = Vec::new();
        for t in &types {
            for mut size in sizes::sagemaker_family(t) {
                if found.iter().any(|s| s.instance_type == size.instance_type) {
                    continue;
                }
                if let Some(price) = hourly(prices, usage, region, &size.instance_type, now).await {
                    size.hourly_usd = Some(price.usd);
                    size.price_basis = Some(price.describe());
                }
                if size.hourly_usd.is_some() || size.instance_type == *t {
                    found.push(size);
                }
            }
        }
        let found: Arc<[InstanceSize]> = found.into();
        r.sizes = Arc::clone(&found);
        by_types.insert(types, found);
    }
}

/// Reads `resource`'s tags (ListTags) and marks it described; `false`
/// when it is gone (it then stays undescribed, never acted on).
pub async fn read_tags(aws: &crate::aws::Aws, resource: &mut Resource) -> Result<bool, crate::aws::AwsError> {
    let Some(tags) = aws.sagemaker_tags(&resource.region).list_unless_gone(&resource.arn).await? else { return Ok(false) };
    resource.tags = tags;
    resource.described = true;
    Ok(true)
}

/// `resource` as a re-read returns it: with its tags; `None` when gone.
pub async fn with_tags(aws: &crate::aws::Aws, mut resource: Resource) -> Result<Option<Resource>, crate::aws::AwsError> {
    Ok(read_tags(aws, &mut resource).await?.then_some(resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_types_are_unknown_not_free() {
        let book = PriceBook::builtin();
        let now = crate::clock::test_now();
        assert_eq!(hourly(&book, Use::Hosting, "us-east-1", "ml.m5.xlarge", now).await.map(|p| p.usd), Some(0.23));
        assert_eq!(hourly(&book, Use::Hosting, "us-east-1", "ml.zz9.huge", now).await, None);
    }
}
