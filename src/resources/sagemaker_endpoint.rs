//! `sagemaker-endpoint`: SageMaker real-time inference endpoints.
//!
//! Listing costs one ListEndpoints per 100 endpoints. An endpoint is
//! described (DescribeEndpoint, DescribeEndpointConfig once per config,
//! ListTags) only when some policy could still match it from its listing,
//! because variants, instance types and tags are not in the listing.
//!
//! Its cost is the sum over variants of the instance's hourly price times the
//! current instance count times 730 hours; serverless variants bill per
//! request and count as $0 while idle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::{self, InstanceSize};
use super::{AttrKind, AttrValue, Attribute, Details, Resource};
use crate::aws::pricing::Product;
use crate::aws::sagemaker::{EndpointDescription, EndpointSummary};
use crate::aws::{Aws, AwsError};
use crate::pricing::{PriceBook, HOURS_PER_MONTH};

pub const ATTRIBUTES: &[Attribute] = &[
    Attribute::listed("EndpointName", AttrKind::String),
    Attribute::listed("EndpointArn", AttrKind::String),
    Attribute::listed("EndpointStatus", AttrKind::String),
    Attribute::listed("CreationTime", AttrKind::Time),
    Attribute::listed("LastModifiedTime", AttrKind::Time),
    Attribute::described("EndpointConfigName", AttrKind::String),
    Attribute::described("VariantCount", AttrKind::Number),
    Attribute::described("InstanceCount", AttrKind::Number),
    Attribute::described("InstanceType", AttrKind::String),
];

pub const READ_PERMISSIONS: &[&str] = &[
    "sagemaker:ListEndpoints",
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:ListTags",
];

/// Statuses in which an endpoint's instances are running and billed.
const BILLED: &[&str] = &["InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    #[serde(flatten)]
    pub summary: EndpointSummary,
    /// `None` until described.
    pub description: Option<EndpointDescription>,
}

pub fn attribute<'a>(e: &'a Endpoint, name: &str) -> Option<AttrValue<'a>> {
    let described = e.description.as_ref();
    match name {
        "EndpointName" => Some(AttrValue::Str(&e.summary.name)),
        "EndpointArn" => Some(AttrValue::Str(&e.summary.arn)),
        "EndpointStatus" => Some(AttrValue::Str(&e.summary.status)),
        "CreationTime" => e.summary.created_at.map(AttrValue::Time),
        "LastModifiedTime" => e.summary.modified_at.map(AttrValue::Time),
        "EndpointConfigName" => described.map(|d| AttrValue::Str(&d.config_name)),
        "VariantCount" => described.map(|d| AttrValue::Num(d.variants.len() as f64)),
        "InstanceCount" => {
            described.map(|d| AttrValue::Num(d.variants.iter().filter_map(|v| v.current_instance_count).map(f64::from).sum()))
        }
        "InstanceType" => described.and_then(|d| d.variants.iter().find_map(|v| v.instance_type.as_deref())).map(AttrValue::Str),
        _ => None,
    }
}

/// One series per variant: SageMaker publishes endpoint metrics per
/// `EndpointName` *and* `VariantName`; the endpoint name alone matches nothing.
pub fn metric_series(e: &Endpoint) -> Option<Vec<Vec<(String, String)>>> {
    let description = e.description.as_ref()?;
    Some(
        description
            .variants
            .iter()
            .map(|v| vec![("EndpointName".to_string(), e.summary.name.clone()), ("VariantName".to_string(), v.name.clone())])
            .collect(),
    )
}

pub async fn collect(aws: &Aws, region: &str, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
    let endpoints = aws.sagemaker(region).list_endpoints(on_progress).await?;
    Ok(endpoints.into_iter().map(|summary| to_resource(summary, None, region)).collect())
}

pub fn to_resource(summary: EndpointSummary, description: Option<EndpointDescription>, region: &str) -> Resource {
    let (id, arn, created_at) = (summary.name.clone(), summary.arn.clone(), summary.created_at);
    Resource::new(id, arn, region, created_at, Details::SagemakerEndpoint(Endpoint { summary, description }))
}

/// Adds variants, instance types and tags to a listed endpoint. An endpoint
/// deleted since the listing stays undescribed (and so never acted on).
pub async fn describe(aws: &Aws, resource: &mut Resource) -> Result<(), AwsError> {
    let client = aws.sagemaker(&resource.region);
    let Some((summary, description)) = client.describe_endpoint(&resource.id).await? else { return Ok(()) };
    resource.tags = client.list_tags(&resource.arn).await?;
    if let Details::SagemakerEndpoint(e) = &mut resource.details {
        e.summary.status = summary.status;
        e.description = Some(description);
    }
    resource.described = true;
    Ok(())
}

pub async fn reread(aws: &Aws, region: &str, name: &str) -> Result<Option<Resource>, AwsError> {
    let client = aws.sagemaker(region);
    let Some((summary, description)) = client.describe_endpoint(name).await? else { return Ok(None) };
    let mut resource = to_resource(summary, Some(description), region);
    resource.tags = client.list_tags(&resource.arn).await?;
    resource.described = true;
    Ok(Some(resource))
}

/// Sets `monthly_cost_usd` and `cost_basis` from the variants.
pub async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
    let Details::SagemakerEndpoint(e) = &resource.details else { return };
    let Some(description) = &e.description else { return };
    if !BILLED.contains(&e.summary.status.as_str()) {
        resource.monthly_cost_usd = Some(0.0);
        resource.cost_basis = Some(format!("status {}: no instance hours billed", e.summary.status));
        return;
    }
    let mut total = 0.0;
    let mut parts = Vec::new();
    for v in &description.variants {
        if v.serverless {
            parts.push(format!("{}: serverless, billed per request", v.name));
            continue;
        }
        let count = v.current_instance_count.unwrap_or(0);
        let Some(instance_type) = &v.instance_type else {
            resource.cost_basis = Some(format!("variant {}: instance type unknown", v.name));
            return;
        };
        let Some(price) = prices.hourly(Product::SageMakerHosting, &resource.region, instance_type, now).await else {
            resource.cost_basis = Some(format!("no price known for {instance_type}"));
            return;
        };
        total += price.hourly_usd * f64::from(count) * HOURS_PER_MONTH;
        parts.push(format!("{}: {count} x {} x {HOURS_PER_MONTH} h", v.name, price.describe(instance_type)));
    }
    resource.monthly_cost_usd = Some(total);
    resource.cost_basis = Some(parts.join("; "));
}

/// The sizes of each variant's family no larger than it, where the price
/// book knows a price (a size with no price is not offered, or not known).
pub async fn prepare_sizes(resources: Vec<&mut Resource>, prices: &PriceBook, now: DateTime<Utc>) {
    for r in resources {
        let Details::SagemakerEndpoint(e) = &r.details else { continue };
        let types: Vec<String> = e.description.iter().flat_map(|d| d.variants.iter().filter_map(|v| v.instance_type.clone())).collect();
        let mut found: Vec<InstanceSize> = Vec::new();
        for t in &types {
            let mut family = sizes::sagemaker_family(t);
            sizes::price_all(&mut family, Product::SageMakerHosting, &r.region, prices, now).await;
            for size in family {
                let keep = size.hourly_usd.is_some() || size.instance_type == *t;
                if keep && !found.iter().any(|s| s.instance_type == size.instance_type) {
                    found.push(size);
                }
            }
        }
        r.sizes = found;
    }
}

#[cfg(test)]
pub(crate) fn fixture(name: &str, status: &str, variants: &[(&str, &str, i32)]) -> Resource {
    use crate::aws::sagemaker::Variant;
    let summary = EndpointSummary {
        name: name.to_string(),
        arn: format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"),
        status: status.to_string(),
        created_at: Some(DateTime::UNIX_EPOCH),
        modified_at: Some(DateTime::UNIX_EPOCH),
    };
    let description = EndpointDescription {
        config_name: format!("{name}-config"),
        variants: variants
            .iter()
            .map(|&(v, t, n)| Variant {
                name: v.to_string(),
                instance_type: Some(t.to_string()),
                current_instance_count: Some(n),
                desired_instance_count: Some(n),
                serverless: false,
            })
            .collect(),
    };
    let mut r = to_resource(summary, Some(description), "us-east-1");
    r.described = true;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cost_is_price_times_count_times_730_hours() {
        let mut r = fixture("e", "InService", &[("a", "ml.m5.xlarge", 2), ("b", "ml.c5.large", 1)]);
        price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        let expected = (0.23 * 2.0 + 0.102) * 730.0;
        assert!((r.monthly_cost_usd.unwrap_or(0.0) - expected).abs() < 1e-9, "{:?}", r.monthly_cost_usd);
        assert!(r.cost_basis.as_deref().unwrap_or("").contains("ml.m5.xlarge"));
    }

    #[tokio::test]
    async fn an_unpriced_type_leaves_the_cost_unknown() {
        let mut r = fixture("e", "InService", &[("a", "ml.m5.xlarge", 1), ("b", "ml.zz.huge", 1)]);
        price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert_eq!(r.monthly_cost_usd, None);
        assert!(r.cost_basis.as_deref().unwrap_or("").contains("ml.zz.huge"));
    }

    #[test]
    fn one_metric_series_per_variant() {
        let r = fixture("e", "InService", &[("a", "ml.m5.xlarge", 1), ("b", "ml.m5.xlarge", 1)]);
        let series = r.metric_series().unwrap_or_default();
        assert_eq!(series.len(), 2);
        assert_eq!(series[1][1], ("VariantName".to_string(), "b".to_string()));
    }
}
