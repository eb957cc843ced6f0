//! `log-group`: CloudWatch Logs log groups.
//!
//! Listing costs one DescribeLogGroups per 50 groups, plus one GetResources
//! per 100 tagged resources when a policy needs tags. Nothing per group.

use std::collections::HashMap;

use super::{AttrKind, AttrValue, Attribute, Details, Resource, Tags};
use crate::aws::logs::LogGroup;
use crate::aws::{Aws, AwsError};

pub const ATTRIBUTES: &[Attribute] = &[
    Attribute::listed("logGroupName", AttrKind::String),
    Attribute::listed("arn", AttrKind::String),
    Attribute::listed("creationTime", AttrKind::Time),
    Attribute::listed("retentionInDays", AttrKind::Number),
    Attribute::listed("storedBytes", AttrKind::Number),
    Attribute::listed("logGroupClass", AttrKind::String),
    Attribute::listed("kmsKeyId", AttrKind::String),
    Attribute::listed("metricFilterCount", AttrKind::Number),
    Attribute::listed("deletionProtectionEnabled", AttrKind::Bool),
];

pub const READ_PERMISSIONS: &[&str] = &["logs:DescribeLogGroups", "tag:GetResources"];

/// CloudWatch Logs archived storage, USD per GB-month, us-east-1, both log
/// classes (AWS price list, taken 2026-11-25).
pub const STORAGE_USD_PER_GB_MONTH: f64 = 0.03;

pub fn attribute<'a>(group: &'a LogGroup, name: &str) -> Option<AttrValue<'a>> {
    match name {
        "logGroupName" => Some(AttrValue::Str(&group.name)),
        "arn" => Some(AttrValue::Str(&group.arn)),
        "creationTime" => group.created_at.map(AttrValue::Time),
        "retentionInDays" => group.retention_days.map(|d| AttrValue::Num(f64::from(d))),
        "storedBytes" => group.stored_bytes.map(|b| AttrValue::Num(b as f64)),
        "logGroupClass" => group.class.as_deref().map(AttrValue::Str),
        "kmsKeyId" => group.kms_key_id.as_deref().map(AttrValue::Str),
        "metricFilterCount" => group.metric_filter_count.map(|n| AttrValue::Num(f64::from(n))),
        "deletionProtectionEnabled" => group.deletion_protection.map(AttrValue::Bool),
        _ => None,
    }
}

pub fn monthly_storage_cost(stored_bytes: Option<i64>) -> Option<f64> {
    stored_bytes.map(|b| b.max(0) as f64 / 1e9 * STORAGE_USD_PER_GB_MONTH)
}

pub async fn collect(
    aws: &Aws,
    region: &str,
    with_tags: bool,
    on_progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Resource>, AwsError> {
    let groups = aws.logs(region).list_log_groups(on_progress).await?;
    // The Tagging API's `logs:log-group` filter returns nothing from moto;
    // the service-wide `logs` filter works on both and joins by ARN.
    let mut tags = if with_tags && !groups.is_empty() {
        aws.tagging(region).tags_by_arn("logs").await?
    } else {
        HashMap::new()
    };
    Ok(groups.into_iter().map(|group| to_resource(group, region, &mut tags)).collect())
}

fn to_resource(group: LogGroup, region: &str, tags: &mut HashMap<String, Tags>) -> Resource {
    let tags = tags.remove(&group.arn).unwrap_or_default();
    let cost = monthly_storage_cost(group.stored_bytes);
    let basis = group.stored_bytes.map(|b| format!("{:.3} GB stored at ${STORAGE_USD_PER_GB_MONTH}/GB-month", b.max(0) as f64 / 1e9));
    let mut r = Resource::new(group.name.clone(), group.arn.clone(), region, group.created_at, Details::LogGroup(group));
    (r.tags, r.monthly_cost_usd, r.cost_basis, r.described) = (tags, cost, basis, true);
    r
}

#[cfg(test)]
pub(crate) fn fixture(name: &str, retention_days: Option<i32>) -> Resource {
    let group = LogGroup {
        name: name.to_string(),
        arn: format!("arn:aws:logs:us-east-1:123456789012:log-group:{name}"),
        created_at: Some(chrono::DateTime::UNIX_EPOCH),
        retention_days,
        stored_bytes: Some(2_000_000_000),
        class: Some("STANDARD".to_string()),
        kms_key_id: None,
        metric_filter_count: Some(0),
        deletion_protection: None,
    };
    to_resource(group, "us-east-1", &mut HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_priced_per_gigabyte() {
        assert_eq!(monthly_storage_cost(Some(2_000_000_000)), Some(0.06));
        assert_eq!(monthly_storage_cost(None), None);
    }

    #[test]
    fn absent_retention_is_an_absent_attribute() {
        let r = fixture("/a", None);
        assert_eq!(r.attribute("retentionInDays"), None);
        assert_eq!(fixture("/a", Some(7)).attribute("retentionInDays"), Some(AttrValue::Num(7.0)));
    }

    #[test]
    fn every_declared_attribute_is_readable() {
        let r = fixture("/a", Some(7));
        for a in ATTRIBUTES {
            if a.name != "kmsKeyId" && a.name != "deletionProtectionEnabled" {
                assert!(r.attribute(a.name).is_some(), "{}", a.name);
            }
        }
    }
}
