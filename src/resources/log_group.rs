//! `log-group`: CloudWatch Logs log groups.
//!
//! Listing costs one DescribeLogGroups per 50 groups, plus one GetResources
//! per 100 tagged resources when a policy needs tags; nothing per group.
//! Re-reading one before a change: one DescribeLogGroups and one
//! ListTagsForResource.
//!
//! Its cost is its stored bytes at the archived-storage price (GB-months).
//!
//! # Actions
//! `set-retention`: make the group expire its events after N days.
//!
//! ```yaml
//! actions:
//!   - type: set-retention
//!     days: 30
//! ```
//!
//! ## Guarantees
//! - Runs only after the group is re-read, still matches and is not
//!   protected; a group deleted since is "already done"; one that already
//!   keeps events exactly `days` is left alone.
//! - `costguard restore log-group NAME` puts the previous retention back.
//!
//! ## Caveats
//! - Shortening retention lets CloudWatch delete older events, which no
//!   restore brings back: protect groups that must keep history.

use std::borrow::Cow;

use aws_sdk_cloudwatchlogs::types::LogGroupClass;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::{Assessment, Sizing};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::PriceBook;
use crate::yaml::{self, DecodeError, Located, Node};

pub struct LogGroups;

/// A log group as costguard needs it. Its name is the resource's id, and
/// its ARN the resource's, without the `:*` suffix that DescribeLogGroups'
/// `arn` carries (so it joins with the Tagging API's ARNs): not kept twice,
/// on an estate of tens of thousands of groups. (Journals written before
/// carry `name` and `arn` here too; they are read as before, and ignored.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogGroup {
    pub created_at: Option<DateTime<Utc>>,
    /// `None` means the group never expires.
    pub retention_days: Option<i32>,
    pub stored_bytes: Option<i64>,
    /// The log class: one of a few names, not allocated per group.
    pub class: Option<Cow<'static, str>>,
    pub kms_key_id: Option<String>,
    pub metric_filter_count: Option<i32>,
    pub deletion_protection: Option<bool>,
}

/// CloudWatch Logs archived storage, USD per GB-month, us-east-1, both log
/// classes (AWS price list, taken 2026-11-25).
pub const STORAGE_USD_PER_GB_MONTH: f64 = 0.03;

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// The largest page DescribeLogGroups serves.
const PAGE_SIZE: i32 = 50;

impl Kind for LogGroups {
    type Details = LogGroup;
    type Action = Action;

    const NOUN: &'static str = "log group";
    const ALIASES: &'static [&'static str] = &["aws.log-group"];
    const ATTRIBUTES: &'static [Attribute] = &[
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
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/Logs");
    const READ_PERMISSIONS: &'static [&'static str] = &["logs:DescribeLogGroups", "tag:GetResources"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["logs:DescribeLogGroups", "logs:ListTagsForResource"];
    const ARN_PATTERN: &'static str = "arn:aws:logs:*:*:log-group:*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["logs:TagResource", "logs:UntagResource"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "set-retention",
        effect: Effect::Modifies,
        effort: Effort::Low,
        restart: false,
        restores: Some("the former retention (events already expired stay gone)"),
        reopens: None,
    }];
    const SIZABLE: bool = false;

    fn attribute<'a>(resource: &'a Resource, group: &'a LogGroup, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "logGroupName" => Some(AttrValue::Str(&resource.id)),
            "arn" => Some(AttrValue::Str(&resource.arn)),
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

    fn metric_series(resource: &Resource, _: &LogGroup) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("LogGroupName".to_string(), resource.id.clone())]])
    }

    fn sizing(_: &Resource, _: &LogGroup) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, with_tags: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let mut groups = Api::new(aws, region).list(None, region, on_progress).await?;
        // The Tagging API's `logs:log-group` filter returns nothing from moto;
        // the service-wide `logs` filter works on both and joins by ARN.
        let mut tags = if with_tags && !groups.is_empty() { aws.tagging(region).tags_by_arn("logs").await? } else { Default::default() };
        for r in &mut groups {
            r.tags = tags.remove(&r.arn).unwrap_or_default();
            r.tags_listed = with_tags;
        }
        Ok(groups)
    }

    async fn describe(_: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // The listing carries everything.
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let found = api.list(Some(name), region, &|_| {}).await?.into_iter().find(|g| g.id == name);
        let Some(mut resource) = found else { return Ok(None) };
        resource.tags = match api.tags(&resource.arn).await {
            Ok(tags) => tags,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(resource))
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        let Some(group) = Self::details_of(resource) else { return };
        match group.stored_bytes {
            Some(bytes) => {
                let gb = bytes.max(0) as f64 / 1e9;
                let basis = format!("{gb:.3} GB stored at ${STORAGE_USD_PER_GB_MONTH}/GB-month (built-in us-east-1 price of 2026-11-25)");
                resource.set_cost(Some(gb * STORAGE_USD_PER_GB_MONTH), CostKind::GbMonths, basis);
            }
            None => resource.set_cost(None, CostKind::GbMonths, "stored bytes unknown"),
        }
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).tag(&resource.arn, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        Api::new(aws, region).untag(arn, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
        match yaml::decode::<ActionSpec>(node, path) {
            Ok(ActionSpec::SetRetention(spec)) => spec.compile(path, errors).map(Action::SetRetention),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        let Some(group) = Self::details_of(before) else { return Err(RestoreError::Unsupported(Self::TYPE)) };
        if action != "set-retention" {
            return Err(RestoreError::NotRestorable(format!("{action} of a log group cannot be undone")));
        }
        let api = Api::new(aws, &before.region);
        let done = match group.retention_days {
            Some(days) => api.put_retention(&before.id, days).await.map(|()| format!("{days} days")),
            None => api.delete_retention(&before.id).await.map(|()| "never expire".to_string()),
        };
        match done {
            Ok(what) => Ok(format!(
                "log group {} in {} keeps events for {what} again (changed by run {run_id}); events that expired meanwhile are gone",
                before.id, before.region
            )),
            Err(e) if e.is_not_found() => Err(RestoreError::NotRestorable(format!("log group {} no longer exists in {}", before.id, before.region))),
            Err(e) => Err(e.into()),
        }
    }
}

fn to_resource(name: String, arn: String, group: LogGroup, region: &str) -> Resource {
    let mut r = Resource::new(name, arn, region, group.created_at, LogGroups::wrap(group));
    r.described = true;
    r
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    SetRetention(SetRetentionSpec),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    SetRetention(SetRetention),
}

/// The only values PutRetentionPolicy accepts.
pub const VALID_DAYS: &[i64] = &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRetentionSpec {
    pub days: Located<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SetRetention {
    pub days: i32,
}

impl SetRetentionSpec {
    pub fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<SetRetention> {
        let days = self.days.value;
        if !VALID_DAYS.contains(&days) {
            let nearest = VALID_DAYS.iter().min_by_key(|v| (*v - days).abs()).copied().unwrap_or(30);
            let list: Vec<String> = VALID_DAYS.iter().map(ToString::to_string).collect();
            errors.push(DecodeError::new(
                self.days.loc,
                format!("{path}.days"),
                format!("CloudWatch Logs accepts only {} days; found {} (nearest: {nearest})", list.join(", "), self.days),
            ));
            return None;
        }
        // VALID_DAYS holds only small values, so this cannot truncate.
        Some(SetRetention { days: days as i32 })
    }
}

impl SetRetention {
    /// What the shorter retention saves a month: the stored bytes older
    /// than `days`, at the storage price, assuming events arrived evenly
    /// over the group's life (all we know: its size and its age). `None`
    /// when the group's size or age is unknown.
    pub fn monthly_saving(&self, resource: &Resource, now: DateTime<Utc>) -> Option<f64> {
        let group = LogGroups::details_of(resource)?;
        let bytes = group.stored_bytes?.max(0) as f64;
        let age_days = (now - group.created_at?).num_seconds() as f64 / 86_400.0;
        // Data is kept for whichever is shorter: the group's life or its retention.
        let kept_now = group.retention_days.map_or(age_days, |r| age_days.min(f64::from(r)));
        let kept_after = f64::from(self.days).min(kept_now);
        if kept_now <= 0.0 {
            return Some(0.0);
        }
        let freed = bytes * (1.0 - kept_after / kept_now);
        Some(freed / 1e9 * STORAGE_USD_PER_GB_MONTH)
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        LogGroups::details_of(resource).is_some_and(|g| g.retention_days == Some(self.days))
    }
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        match self {
            Action::SetRetention(_) => "set-retention",
        }
    }

    fn describe(&self) -> String {
        match self {
            Action::SetRetention(a) => format!("set retention to {} days", a.days),
        }
    }

    fn permissions(&self) -> Vec<Permission> {
        match self {
            Action::SetRetention(_) => vec![Permission::on("logs:PutRetentionPolicy", &[LogGroups::ARN_PATTERN])],
        }
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        match self {
            Action::SetRetention(a) => a.already_satisfied(resource),
        }
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        None
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_some_and(|r| self.already_satisfied(r))
    }

    fn monthly_saving(&self, resource: &Resource, now: DateTime<Utc>) -> Option<f64> {
        match self {
            Action::SetRetention(a) => a.monthly_saving(resource, now),
        }
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let Action::SetRetention(a) = self;
        match Api::new(aws, &resource.region).put_retention(&resource.id, a.days).await {
            Ok(()) => Ok(ActionResult::Done(format!("retention set to {} days", a.days))),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("log group no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// The CloudWatch Logs calls this type makes.
struct Api {
    client: aws_sdk_cloudwatchlogs::Client,
}

fn sdk_err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(operation: &'static str) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("logs", operation, NOT_FOUND)
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_cloudwatchlogs, region) }
    }

    /// Every log group (or those whose name starts with `prefix`), one
    /// request per 50, each page made resources as it comes; `on_page`
    /// receives the running total.
    async fn list(&self, prefix: Option<&str>, region: &str, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let mut pages = self.client.describe_log_groups().set_log_group_name_prefix(prefix.map(str::to_string)).limit(PAGE_SIZE).into_paginator().send();
        let mut groups = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err("DescribeLogGroups"))?;
            groups.extend(page.log_groups().iter().filter_map(|g| resource_from_sdk(g, region)));
            on_page(groups.len());
        }
        Ok(groups)
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let out = self.client.list_tags_for_resource().resource_arn(arn).send().await.map_err(sdk_err("ListTagsForResource"))?;
        Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
            .send()
            .await
            .map_err(sdk_err("TagResource"))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .await
            .map_err(sdk_err("UntagResource"))?;
        Ok(())
    }

    async fn put_retention(&self, name: &str, days: i32) -> Result<(), AwsError> {
        self.client.put_retention_policy().log_group_name(name).retention_in_days(days).send().await.map_err(sdk_err("PutRetentionPolicy"))?;
        Ok(())
    }

    async fn delete_retention(&self, name: &str) -> Result<(), AwsError> {
        self.client.delete_retention_policy().log_group_name(name).send().await.map_err(sdk_err("DeleteRetentionPolicy"))?;
        Ok(())
    }
}

fn resource_from_sdk(g: &aws_sdk_cloudwatchlogs::types::LogGroup, region: &str) -> Option<Resource> {
    // A group without a name cannot be acted on or reported; AWS always sends one.
    let name = g.log_group_name()?.to_string();
    let arn = g.log_group_arn().map(str::to_string).or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string())).unwrap_or_default();
    let group = LogGroup {
        created_at: g.creation_time().and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        retention_days: g.retention_in_days(),
        stored_bytes: g.stored_bytes(),
        class: g.log_group_class().map(class_name),
        kms_key_id: g.kms_key_id().map(str::to_string),
        metric_filter_count: g.metric_filter_count(),
        deletion_protection: g.deletion_protection_enabled(),
    };
    Some(to_resource(name, arn, group, region))
}

fn class_name(class: &LogGroupClass) -> Cow<'static, str> {
    match class {
        LogGroupClass::Standard => Cow::Borrowed("STANDARD"),
        LogGroupClass::InfrequentAccess => Cow::Borrowed("INFREQUENT_ACCESS"),
        LogGroupClass::Delivery => Cow::Borrowed("DELIVERY"),
        other => Cow::Owned(other.as_str().to_string()),
    }
}

#[cfg(test)]
pub(crate) fn fixture(name: &str, retention_days: Option<i32>) -> Resource {
    let group = LogGroup {
        created_at: Some(chrono::DateTime::UNIX_EPOCH),
        retention_days,
        stored_bytes: Some(2_000_000_000),
        class: Some("STANDARD".into()),
        kms_key_id: None,
        metric_filter_count: Some(0),
        deletion_protection: None,
    };
    let mut r = to_resource(name.to_string(), format!("arn:aws:logs:us-east-1:123456789012:log-group:{name}"), group, "us-east-1");
    r.set_cost(Some(2.0 * STORAGE_USD_PER_GB_MONTH), CostKind::GbMonths, "2.000 GB stored");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_retention_is_an_absent_attribute() {
        let r = fixture("/a", None);
        assert_eq!(r.attribute("retentionInDays"), None);
        assert_eq!(fixture("/a", Some(7)).attribute("retentionInDays"), Some(AttrValue::Num(7.0)));
    }

    #[test]
    fn every_declared_attribute_is_readable() {
        let r = fixture("/a", Some(7));
        for a in LogGroups::ATTRIBUTES {
            if a.name != "kmsKeyId" && a.name != "deletionProtectionEnabled" {
                assert!(r.attribute(a.name).is_some(), "{}", a.name);
            }
        }
    }

    #[test]
    fn class_names_are_the_sdks() {
        for class in [LogGroupClass::Standard, LogGroupClass::InfrequentAccess, LogGroupClass::Delivery, LogGroupClass::from("NEW_CLASS")] {
            assert_eq!(class_name(&class), class.as_str());
        }
    }

    #[test]
    fn details_journaled_before_still_read() {
        // A journal's snapshot from before the name and ARN were the resource's only.
        let old = r#"{"name":"/a","arn":"arn:aws:logs:us-east-1:1:log-group:/a","created_at":null,"retention_days":7,
            "stored_bytes":5,"class":"STANDARD","kms_key_id":null,"metric_filter_count":0,"deletion_protection":null}"#;
        let group: LogGroup = serde_json::from_str(old).expect("an old snapshot reads");
        assert_eq!((group.retention_days, group.stored_bytes), (Some(7), Some(5)));
    }

    #[tokio::test]
    async fn storage_is_priced_per_gigabyte_month() {
        let mut r = fixture("/a", None);
        LogGroups::price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert_eq!((r.monthly_cost_usd, r.cost_kind), (Some(0.06), Some(CostKind::GbMonths)));
    }

    #[test]
    fn the_saving_is_the_data_older_than_the_retention() {
        let now = crate::clock::test_now();
        let mut group = fixture("/a", None);
        if let crate::resources::Details::LogGroup(g) = &mut group.details {
            g.stored_bytes = Some(300_000_000_000);
            g.created_at = Some(now - chrono::Duration::days(300));
        }
        // 300 GB over 300 days; 30 days kept -> 270 GB freed at $0.03.
        let saving = SetRetention { days: 30 }.monthly_saving(&group, now).unwrap_or(f64::NAN);
        assert!((saving - 270.0 * 0.03).abs() < 1e-9, "{saving}");
        if let crate::resources::Details::LogGroup(g) = &mut group.details {
            g.created_at = Some(now - chrono::Duration::days(10));
        }
        assert_eq!(SetRetention { days: 30 }.monthly_saving(&group, now), Some(0.0), "younger than the retention: nothing to free yet");
    }

    #[test]
    fn only_cloudwatch_retention_values_compile() {
        let spec = |days| SetRetentionSpec { days: Located::new(days, Default::default()) };
        let mut errors = Vec::new();
        assert_eq!(spec(30).compile("a", &mut errors), Some(SetRetention { days: 30 }));
        assert!(spec(31).compile("a", &mut errors).is_none());
        assert!(spec(-1).compile("a", &mut errors).is_none());
        assert!(errors[0].message.contains("nearest: 30"), "{}", errors[0].message);
        assert_eq!(errors.len(), 2);
    }
}
