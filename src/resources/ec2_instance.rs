//! `ec2-instance`: running (and pending) EC2 instances.
//!
//! Listing is one DescribeInstances per 1,000 instances and carries type,
//! state, launch time and tags: nothing to describe afterwards. Its cost is
//! the on-demand Linux rate of its type times 730 hours (other platforms add
//! a licence the rate leaves out; spot instances cost less: both are said in
//! the cost basis).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::{self, InstanceSize};
use super::{AttrKind, AttrValue, Attribute, Details, Resource};
use crate::aws::ec2::Instance;
use crate::aws::pricing::Product;
use crate::aws::{Aws, AwsError};
use crate::pricing::{PriceBook, HOURS_PER_MONTH};

pub const ATTRIBUTES: &[Attribute] = &[
    Attribute::listed("InstanceId", AttrKind::String),
    Attribute::listed("InstanceType", AttrKind::String),
    Attribute::listed("State.Name", AttrKind::String),
    Attribute::listed("LaunchTime", AttrKind::Time),
    Attribute::listed("InstanceLifecycle", AttrKind::String),
    Attribute::listed("PlatformDetails", AttrKind::String),
    Attribute::listed("Placement.AvailabilityZone", AttrKind::String),
    Attribute::listed("Monitoring.State", AttrKind::String),
    Attribute::listed("AutoScalingGroupName", AttrKind::String),
];

pub const READ_PERMISSIONS: &[&str] = &["ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "cloudwatch:ListMetrics"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ec2Instance {
    #[serde(flatten)]
    pub instance: Instance,
    /// The dimensions under which the CloudWatch agent publishes this
    /// instance's `mem_used_percent`, found by ListMetrics; `None` when the
    /// agent publishes nothing for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_dimensions: Option<Vec<(String, String)>>,
}

pub fn attribute<'a>(e: &'a Ec2Instance, name: &str) -> Option<AttrValue<'a>> {
    let i = &e.instance;
    match name {
        "InstanceId" => Some(AttrValue::Str(&i.id)),
        "InstanceType" => Some(AttrValue::Str(&i.instance_type)),
        "State.Name" => Some(AttrValue::Str(&i.state)),
        "LaunchTime" => i.launched_at.map(AttrValue::Time),
        "InstanceLifecycle" => i.lifecycle.as_deref().map(AttrValue::Str),
        "PlatformDetails" => i.platform.as_deref().map(AttrValue::Str),
        "Placement.AvailabilityZone" => i.availability_zone.as_deref().map(AttrValue::Str),
        "Monitoring.State" => Some(AttrValue::Str(if i.detailed_monitoring { "enabled" } else { "disabled" })),
        "AutoScalingGroupName" => i.auto_scaling_group().map(AttrValue::Str),
        _ => None,
    }
}

pub fn metric_series(e: &Ec2Instance) -> Vec<Vec<(String, String)>> {
    vec![vec![("InstanceId".to_string(), e.instance.id.clone())]]
}

pub async fn collect(aws: &Aws, region: &str, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
    let instances = aws.ec2(region).list_instances(on_progress).await?;
    Ok(instances.into_iter().map(|i| to_resource(i, region)).collect())
}

pub fn to_resource(instance: Instance, region: &str) -> Resource {
    let account = instance.owner_account.clone().unwrap_or_default();
    let arn = format!("arn:aws:ec2:{region}:{account}:instance/{}", instance.id);
    let (id, launched, tags) = (instance.id.clone(), instance.launched_at, instance.tags.clone());
    let mut r = Resource::new(id, arn, region, launched, Details::Ec2Instance(Ec2Instance { instance, memory_dimensions: None }));
    r.tags = tags;
    r.described = true;
    r
}

pub async fn reread(aws: &Aws, region: &str, id: &str) -> Result<Option<Resource>, AwsError> {
    Ok(aws.ec2(region).get_instance(id).await?.map(|i| to_resource(i, region)))
}

/// One DescribeInstanceTypes for every family in use, prices for each size
/// no larger than an instance of it, and (with `memory`) one ListMetrics for
/// the CloudWatch agent's `mem_used_percent`.
pub async fn prepare_sizes(
    aws: &Aws,
    region: &str,
    mut resources: Vec<&mut Resource>,
    memory: bool,
    prices: &PriceBook,
    now: DateTime<Utc>,
) -> Result<(), AwsError> {
    let instance = |r: &Resource| match &r.details {
        Details::Ec2Instance(e) => Some(e.instance.instance_type.clone()),
        _ => None,
    };
    if resources.is_empty() {
        return Ok(());
    }
    let families: BTreeSet<String> =
        resources.iter().filter_map(|r| instance(r)).filter_map(|t| sizes::split(&t).map(|(f, _)| f.to_string())).collect();
    let mut catalog = aws.ec2(region).instance_types(&families.into_iter().collect::<Vec<_>>()).await?;
    // Price only what could be recommended: sizes up to the largest in use.
    let largest = |family: &str| {
        resources
            .iter()
            .filter_map(|r| instance(r))
            .filter(|t| sizes::split(t).is_some_and(|(f, _)| f == family))
            .filter_map(|t| catalog.iter().find(|s| s.instance_type == t).map(|s| s.vcpus))
            .fold(0.0, f64::max)
    };
    let limits: Vec<f64> = catalog.iter().map(|s| sizes::split(&s.instance_type).map_or(0.0, |(f, _)| largest(f))).collect();
    let mut wanted: Vec<InstanceSize> = catalog.iter().zip(&limits).filter(|(s, limit)| s.vcpus <= **limit).map(|(s, _)| s.clone()).collect();
    sizes::price_all(&mut wanted, Product::Ec2Linux, region, prices, now).await;
    catalog = wanted;
    // Without ListMetrics the sizes still stand; memory is then "not measured".
    let (memory_series, memory_error) = match memory {
        false => (Vec::new(), None),
        true => match aws.cloudwatch(region).list_series("CWAgent", "mem_used_percent").await {
            Ok(series) => (series, None),
            Err(e) => (Vec::new(), Some(e)),
        },
    };
    for r in resources.iter_mut() {
        let Some(current) = instance(r) else { continue };
        let Some((family, _)) = sizes::split(&current) else { continue };
        let vcpus = catalog.iter().find(|s| s.instance_type == current).map_or(0.0, |s| s.vcpus);
        r.sizes = catalog.iter().filter(|s| sizes::split(&s.instance_type).is_some_and(|(f, _)| f == family) && s.vcpus <= vcpus).cloned().collect();
        if let Details::Ec2Instance(e) = &mut r.details {
            // The agent's series for this instance, fewest extra dimensions first.
            e.memory_dimensions = memory_series
                .iter()
                .filter(|dims| dims.iter().any(|(k, v)| k == "InstanceId" && *v == e.instance.id))
                .min_by_key(|dims| dims.len())
                .cloned();
        }
    }
    memory_error.map_or(Ok(()), Err)
}

/// Sets `monthly_cost_usd` and `cost_basis` from the type's on-demand rate.
pub async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
    let Details::Ec2Instance(e) = &resource.details else { return };
    let i = &e.instance;
    if i.state != "running" && i.state != "pending" {
        resource.monthly_cost_usd = Some(0.0);
        resource.cost_basis = Some(format!("state {}: no instance hours billed", i.state));
        return;
    }
    let Some(price) = prices.hourly(Product::Ec2Linux, &resource.region, &i.instance_type, now).await else {
        resource.cost_basis = Some(format!("no price known for {}", i.instance_type));
        return;
    };
    let mut basis = format!("{} x {HOURS_PER_MONTH} h", price.describe(&i.instance_type));
    if let Some(platform) = i.platform.as_deref().filter(|p| *p != "Linux/UNIX") {
        basis.push_str(&format!("; Linux rate, the {platform} licence is extra"));
    }
    if i.lifecycle.as_deref() == Some("spot") {
        basis.push_str("; spot instance: the on-demand rate is an upper bound");
    }
    resource.monthly_cost_usd = Some(price.hourly_usd * HOURS_PER_MONTH);
    resource.cost_basis = Some(basis);
}

#[cfg(test)]
pub(crate) fn fixture(id: &str, instance_type: &str) -> Resource {
    let instance = Instance {
        id: id.to_string(),
        instance_type: instance_type.to_string(),
        state: "running".to_string(),
        launched_at: Some(DateTime::UNIX_EPOCH),
        lifecycle: None,
        platform: Some("Linux/UNIX".to_string()),
        detailed_monitoring: false,
        availability_zone: Some("us-east-1a".to_string()),
        owner_account: Some("123456789012".to_string()),
        tags: Default::default(),
    };
    to_resource(instance, "us-east-1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cost_is_the_on_demand_rate_times_730_hours() {
        let mut r = fixture("i-1", "m5.2xlarge");
        price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert!((r.monthly_cost_usd.unwrap_or(0.0) - 0.384 * 730.0).abs() < 1e-9, "{:?}", r.monthly_cost_usd);
        assert_eq!(r.arn, "arn:aws:ec2:us-east-1:123456789012:instance/i-1");
    }
}
