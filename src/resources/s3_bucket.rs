//! `s3-bucket`: S3 buckets, their size by storage class, and their
//! lifecycle rules: where model artifacts, checkpoints and datasets pile up.
//!
//! Listing costs one ListBuckets per region (buckets of that region only),
//! two ListMetrics and one GetMetricData for every bucket's daily storage
//! metrics (`AWS/S3` `BucketSizeBytes` per storage class, `NumberOfObjects`),
//! and one GetResources per 100 tagged buckets when a policy needs tags.
//! Describing a bucket (its lifecycle rules, and its versioning when a
//! policy reads `Versioning`) costs GetBucketLifecycleConfiguration and
//! GetBucketVersioning: only for buckets
//! a policy could still match after the cheap filters.
//!
//! Its cost is GB-months by storage class, at first-tier us-east-1 prices
//! (S3 bills larger volumes less; the figure is an upper bound there).
//!
//! # Actions
//! `set-lifecycle`: add costguard's own lifecycle rule (id `costguard`),
//! keeping every other rule as it is.
//!
//! ```yaml
//! actions:
//!   - type: set-lifecycle
//!     abort-incomplete-uploads-days: 7      # default 7
//!     noncurrent-expiration-days: 90        # optional: old versions expire
//!     transition-days: 30                   # optional, with:
//!     transition-storage-class: STANDARD_IA # STANDARD_IA ONEZONE_IA INTELLIGENT_TIERING GLACIER_IR GLACIER DEEP_ARCHIVE
//! ```
//!
//! ## Guarantees
//! - Runs only after the bucket is re-read (rules, versioning, tags,
//!   size), still matches and is not protected.
//! - Never changes or removes anyone else's rule; a bucket that already has
//!   costguard's rule is left alone.
//! - `costguard restore s3-bucket NAME` removes costguard's rule again
//!   (and nothing else).
//!
//! ## Caveats
//! - A transition or an expiration acts on objects S3 then moves or deletes:
//!   objects expired by a rule cannot be brought back by a restore.
//! - S3 applies lifecycle rules asynchronously, within about a day.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
    Tagging, Transition, TransitionStorageClass,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::{Assessment, Sizing};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::cloudwatch::SeriesQuery;
use crate::aws::tags::time;
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::PriceBook;
use crate::yaml::{self, DecodeError, Located, Node};

pub struct Buckets;

/// The attribute only GetBucketVersioning answers.
const VERSIONING: &str = "Versioning";

/// The id of costguard's own lifecycle rule.
pub const RULE_ID: &str = "costguard";
const NOT_FOUND: &[&str] = &["NoSuchBucket"];
/// First-tier us-east-1 S3 storage, USD per GB-month, by CloudWatch
/// `StorageType` (AWS list prices, compiled 2026-11-30).
const USD_PER_GB_MONTH: &[(&str, f64)] = &[
    ("StandardStorage", 0.023),
    ("IntelligentTieringFAStorage", 0.023),
    ("IntelligentTieringIAStorage", 0.0125),
    ("IntelligentTieringAIAStorage", 0.004),
    ("IntelligentTieringAAStorage", 0.0036),
    ("IntelligentTieringDAAStorage", 0.00099),
    ("StandardIAStorage", 0.0125),
    ("StandardIASizeOverhead", 0.0125),
    ("OneZoneIAStorage", 0.01),
    ("OneZoneIASizeOverhead", 0.01),
    ("ReducedRedundancyStorage", 0.024),
    ("GlacierInstantRetrievalStorage", 0.004),
    ("GlacierInstantRetrievalSizeOverhead", 0.004),
    ("GlacierStorage", 0.0036),
    ("GlacierStagingStorage", 0.023),
    ("GlacierObjectOverhead", 0.0036),
    ("GlacierS3ObjectOverhead", 0.023),
    ("DeepArchiveStorage", 0.00099),
    ("DeepArchiveObjectOverhead", 0.00099),
    ("DeepArchiveS3ObjectOverhead", 0.023),
    ("DeepArchiveStagingStorage", 0.023),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub name: String,
    pub created_at: Option<DateTime<Utc>>,
    /// Bytes stored by CloudWatch `StorageType` (`StandardStorage`, ...),
    /// as the latest daily storage metrics say; empty when none is published.
    pub bytes_by_storage_type: BTreeMap<String, f64>,
    pub objects: Option<f64>,
    /// `None` until described.
    pub lifecycle: Option<Lifecycle>,
    /// `Enabled`, `Suspended`, or `Never` (never enabled); `None` until described.
    pub versioning: Option<String>,
}

/// What a bucket's lifecycle rules do, enabled rules only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub rules: usize,
    pub noncurrent_versions_expire: bool,
    pub aborts_incomplete_uploads: bool,
    pub transitions: bool,
    pub has_costguard_rule: bool,
}

impl Bucket {
    fn total_bytes(&self) -> f64 {
        crate::text::total(self.bytes_by_storage_type.values().copied())
    }
}

impl Kind for Buckets {
    type Details = Bucket;
    type Action = Action;

    const NOUN: &'static str = "S3 bucket";
    const ALIASES: &'static [&'static str] = &["aws.s3", "s3"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("Name", AttrKind::String),
        Attribute::listed("CreationDate", AttrKind::Time),
        Attribute::listed("SizeBytes", AttrKind::Number),
        Attribute::listed("StandardBytes", AttrKind::Number),
        Attribute::listed("ObjectCount", AttrKind::Number),
        Attribute::described("LifecycleRuleCount", AttrKind::Number),
        Attribute::described("NoncurrentVersionsExpire", AttrKind::Bool),
        Attribute::described("AbortsIncompleteUploads", AttrKind::Bool),
        Attribute::described("HasTransition", AttrKind::Bool),
        Attribute::described(VERSIONING, AttrKind::String),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/S3");
    const READ_PERMISSIONS: &'static [&'static str] = &[
        "s3:ListAllMyBuckets",
        "cloudwatch:ListMetrics",
        "cloudwatch:GetMetricData",
        "tag:GetResources",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketVersioning",
    ];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["s3:GetLifecycleConfiguration", "s3:GetBucketVersioning", "s3:GetBucketTagging"];
    const ARN_PATTERN: &'static str = "arn:aws:s3:::*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["s3:GetBucketTagging", "s3:PutBucketTagging"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "set-lifecycle",
        effect: Effect::Modifies,
        effort: Effort::Low,
        restart: false,
        restores: Some("the lifecycle rules as they were (objects already expired stay gone)"),
        reopens: None,
    }];
    const SIZABLE: bool = false;

    fn attribute<'a>(_: &'a Resource, b: &'a Bucket, name: &str) -> Option<AttrValue<'a>> {
        let lifecycle = b.lifecycle.as_ref();
        match name {
            "Name" => Some(AttrValue::Str(&b.name)),
            "CreationDate" => b.created_at.map(AttrValue::Time),
            "SizeBytes" => Some(AttrValue::Num(b.total_bytes())),
            "StandardBytes" => Some(AttrValue::Num(b.bytes_by_storage_type.get("StandardStorage").copied().unwrap_or(0.0))),
            "ObjectCount" => b.objects.map(AttrValue::Num),
            "LifecycleRuleCount" => lifecycle.map(|l| AttrValue::Num(l.rules as f64)),
            "NoncurrentVersionsExpire" => lifecycle.map(|l| AttrValue::Bool(l.noncurrent_versions_expire)),
            "AbortsIncompleteUploads" => lifecycle.map(|l| AttrValue::Bool(l.aborts_incomplete_uploads)),
            "HasTransition" => lifecycle.map(|l| AttrValue::Bool(l.transitions)),
            VERSIONING => b.versioning.as_deref().map(AttrValue::Str),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, b: &Bucket) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("BucketName".to_string(), b.name.clone()), ("StorageType".to_string(), "AllStorageTypes".to_string())]])
    }

    fn sizing(_: &Resource, _: &Bucket) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, with_tags: bool, now: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let buckets = Api::new(aws, region).list(region, on_progress).await?;
        if buckets.is_empty() {
            return Ok(Vec::new());
        }
        let mut sizes = storage(aws, region, None, now).await?;
        let mut tags = if with_tags { aws.tagging(region).tags_by_arn("s3").await? } else { Default::default() };
        Ok(buckets
            .into_iter()
            .map(|(name, created_at)| {
                let (bytes_by_storage_type, objects) = sizes.remove(&name).unwrap_or_default();
                let mut r = to_resource(Bucket { name, created_at, bytes_by_storage_type, objects, lifecycle: None, versioning: None }, region);
                r.tags = tags.remove(&r.arn).unwrap_or_default();
                r.tags_listed = with_tags;
                r
            })
            .collect())
    }

    /// Adds the lifecycle rules, and the versioning status when a policy
    /// reads `Versioning` (one GetBucketVersioning per bucket saved when
    /// none does; a re-read before a change always reads it).
    async fn describe(aws: &Aws, resource: &mut Resource, wanted: &super::Wanted) -> Result<(), AwsError> {
        let api = Api::new(aws, &resource.region);
        let versioning = async {
            if wanted.contains(VERSIONING) {
                api.versioning(&resource.id).await
            } else {
                Ok(None)
            }
        };
        let (lifecycle, versioning) = match tokio::join!(api.lifecycle(&resource.id), versioning) {
            (Ok(l), Ok(v)) => (l, v),
            // Deleted since the listing: stays undescribed, never acted on.
            (Err(e), _) | (_, Err(e)) if e.is_not_found() => return Ok(()),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        if let super::Details::S3Bucket(b) = &mut resource.details {
            b.lifecycle = Some(summarise(&lifecycle));
            b.versioning = versioning;
        }
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, now: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let tags = match api.tags(name).await {
            Ok(tags) => tags,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let (bytes_by_storage_type, objects) = storage(aws, region, Some(name), now).await?.remove(name).unwrap_or_default();
        let bucket = Bucket { name: name.to_string(), created_at: None, bytes_by_storage_type, objects, lifecycle: None, versioning: None };
        let mut resource = to_resource(bucket, region);
        resource.tags = tags;
        Self::describe(aws, &mut resource, &super::Wanted::from([VERSIONING])).await?;
        Ok(resource.described.then_some(resource))
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        let Some(b) = Self::details_of(resource).cloned() else { return };
        if b.bytes_by_storage_type.is_empty() {
            return resource.set_cost(None, CostKind::GbMonths, "no storage metrics published for it (AWS/S3, daily)");
        }
        let mut total = 0.0;
        let mut parts = Vec::new();
        for (storage_type, bytes) in &b.bytes_by_storage_type {
            let gb = bytes / 1e9;
            match USD_PER_GB_MONTH.iter().find(|(t, _)| t == storage_type) {
                Some((_, usd)) => {
                    total += gb * usd;
                    parts.push(format!("{gb:.1} GB {storage_type} x ${usd}"));
                }
                None => return resource.set_cost(None, CostKind::GbMonths, format!("no price known for storage type {storage_type}")),
            }
        }
        resource.set_cost(Some(total), CostKind::GbMonths, format!("{} per GB-month (first-tier us-east-1 prices of 2026-11-30)", parts.join(" + ")));
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    /// PutBucketTagging replaces every tag: the others are read and kept.
    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        let api = Api::new(aws, &resource.region);
        let mut all = api.tags(&resource.id).await?;
        all.extend(tags.clone());
        api.put_tags(&resource.id, &all).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        let api = Api::new(aws, region);
        let name = arn.rsplit(':').next().unwrap_or(arn);
        let mut all = api.tags(name).await?;
        all.retain(|k, _| !keys.contains(&k.as_str()));
        api.put_tags(name, &all).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
        match yaml::decode::<ActionSpec>(node, path) {
            Ok(ActionSpec::SetLifecycle(spec)) => spec.compile(path, errors).map(Action::SetLifecycle),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// Removes costguard's rule; every other rule stays.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        if action != "set-lifecycle" {
            return Err(RestoreError::NotRestorable(format!("{action} of a bucket cannot be undone")));
        }
        let api = Api::new(aws, &before.region);
        let rules = match api.lifecycle(&before.id).await {
            Ok(rules) => rules,
            Err(e) if e.is_not_found() => return Err(RestoreError::NotRestorable(format!("bucket {} no longer exists", before.id))),
            Err(e) => return Err(e.into()),
        };
        if !rules.iter().any(|r| r.id() == Some(RULE_ID)) {
            return Err(RestoreError::NotRestorable(format!("bucket {} has no rule `{RULE_ID}`; nothing to restore", before.id)));
        }
        let others: Vec<LifecycleRule> = rules.into_iter().filter(|r| r.id() != Some(RULE_ID)).collect();
        let left = others.len();
        api.put_lifecycle(&before.id, others).await?;
        Ok(format!("removed costguard's lifecycle rule from bucket {} ({left} other rule(s) kept; added by run {run_id})", before.id))
    }
}

fn to_resource(bucket: Bucket, region: &str) -> Resource {
    let arn = format!("arn:aws:s3:::{}", bucket.name);
    Resource::new(bucket.name.clone(), arn, region, bucket.created_at, Buckets::wrap(bucket))
}

/// Every bucket's (or one bucket's) bytes by storage type and object
/// count, from the daily `AWS/S3` metrics: two ListMetrics and one
/// GetMetricData for all of them (the largest value of the last two days).
async fn storage(aws: &Aws, region: &str, only: Option<&str>, now: DateTime<Utc>) -> Result<BTreeMap<String, (BTreeMap<String, f64>, Option<f64>)>, AwsError> {
    let cloudwatch = aws.cloudwatch(region);
    let of_bucket = |dims: &Dimensions| dims.iter().find(|(k, _)| k == "BucketName").map(|(_, v)| v.clone());
    let wanted = |dims: &Dimensions| only.is_none_or(|name| of_bucket(dims).as_deref() == Some(name));
    let sizes: Vec<Dimensions> = cloudwatch.list_series("AWS/S3", "BucketSizeBytes").await?.into_iter().filter(|d| wanted(d)).collect();
    let counts: Vec<Dimensions> = cloudwatch.list_series("AWS/S3", "NumberOfObjects").await?.into_iter().filter(|d| wanted(d)).collect();
    let query = |metric: &str, dims: &Dimensions| SeriesQuery {
        namespace: "AWS/S3".into(),
        metric: metric.into(),
        dimensions: dims.clone(),
        stat: "Maximum".into(),
        period_secs: 2 * 86_400,
    };
    let queries: Vec<SeriesQuery> = sizes.iter().map(|d| query("BucketSizeBytes", d)).chain(counts.iter().map(|d| query("NumberOfObjects", d))).collect();
    let mut out: BTreeMap<String, (BTreeMap<String, f64>, Option<f64>)> = BTreeMap::new();
    if queries.is_empty() {
        return Ok(out);
    }
    // The storage metrics are daily: two days back always holds the latest.
    let values = cloudwatch.get_metric_data(&queries, now - Duration::days(2), now).await?;
    for ((query, points), dims) in queries.iter().zip(values).zip(sizes.iter().chain(counts.iter())) {
        let (Some(bucket), Some(latest)) = (of_bucket(dims), points.iter().copied().reduce(f64::max)) else { continue };
        // A bucket and class published twice (moto adds its own series) count once, the largest.
        let entry = out.entry(bucket).or_default();
        if query.metric == "NumberOfObjects" {
            entry.1 = Some(entry.1.map_or(latest, |n: f64| n.max(latest)));
        } else if let Some((_, storage_type)) = dims.iter().find(|(k, _)| k == "StorageType") {
            let bytes = entry.0.entry(storage_type.clone()).or_insert(latest);
            *bytes = bytes.max(latest);
        }
    }
    Ok(out)
}

/// What the enabled rules do.
fn summarise(rules: &[LifecycleRule]) -> Lifecycle {
    let enabled: Vec<&LifecycleRule> = rules.iter().filter(|r| r.status() == &ExpirationStatus::Enabled).collect();
    Lifecycle {
        rules: enabled.len(),
        noncurrent_versions_expire: enabled.iter().any(|r| r.noncurrent_version_expiration().is_some()),
        aborts_incomplete_uploads: enabled.iter().any(|r| r.abort_incomplete_multipart_upload().is_some()),
        transitions: enabled.iter().any(|r| !r.transitions().is_empty()),
        has_costguard_rule: rules.iter().any(|r| r.id() == Some(RULE_ID)),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    SetLifecycle(SetLifecycleSpec),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SetLifecycleSpec {
    #[serde(default)]
    abort_incomplete_uploads_days: Option<Located<i64>>,
    #[serde(default)]
    noncurrent_expiration_days: Option<Located<i64>>,
    #[serde(default)]
    transition_days: Option<Located<i64>>,
    #[serde(default)]
    transition_storage_class: Option<Located<String>>,
}

const STORAGE_CLASSES: &[&str] = &["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"];

impl SetLifecycleSpec {
    fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<SetLifecycle> {
        let before = errors.len();
        let mut days = |v: &Option<Located<i64>>, field: &str, default: Option<i32>| -> Option<i32> {
            match v {
                None => default,
                Some(d) if (1..=36_500).contains(&d.value) => i32::try_from(d.value).ok(),
                Some(d) => {
                    errors.push(DecodeError::new(d.loc, format!("{path}.{field}"), format!("{field} must be from 1 to 36500, found {d}")));
                    None
                }
            }
        };
        let abort = days(&self.abort_incomplete_uploads_days, "abort-incomplete-uploads-days", Some(7));
        let noncurrent = days(&self.noncurrent_expiration_days, "noncurrent-expiration-days", None);
        let transition_days = days(&self.transition_days, "transition-days", None);
        let transition = match (transition_days, &self.transition_storage_class) {
            (None, None) => None,
            (_, Some(class)) if !STORAGE_CLASSES.contains(&class.value.as_str()) => {
                let hint = yaml::closest_name(&class.value, STORAGE_CLASSES.iter().copied()).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
                let message = format!("unknown storage class `{}`{hint} (expected one of: {})", class.value, STORAGE_CLASSES.join(", "));
                errors.push(DecodeError::new(class.loc, format!("{path}.transition-storage-class"), message));
                None
            }
            (Some(d), Some(class)) => Some((d, class.value.clone())),
            (Some(_), None) | (None, Some(_)) => {
                let at = self.transition_days.as_ref().map(|d| d.loc).or(self.transition_storage_class.as_ref().map(|c| c.loc)).unwrap_or_default();
                errors.push(DecodeError::new(at, format!("{path}.transition-days"), "transition-days and transition-storage-class go together"));
                None
            }
        };
        (errors.len() == before).then_some(SetLifecycle { abort_incomplete_uploads_days: abort, noncurrent_expiration_days: noncurrent, transition })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    SetLifecycle(SetLifecycle),
}

/// costguard's rule, applied to the whole bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct SetLifecycle {
    pub abort_incomplete_uploads_days: Option<i32>,
    pub noncurrent_expiration_days: Option<i32>,
    /// (days, storage class)
    pub transition: Option<(i32, String)>,
}

impl SetLifecycle {
    fn rule(&self) -> Result<LifecycleRule, AwsError> {
        let mut rule = LifecycleRule::builder().id(RULE_ID).status(ExpirationStatus::Enabled).filter(LifecycleRuleFilter::builder().prefix("").build());
        if let Some(days) = self.abort_incomplete_uploads_days {
            rule = rule.abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build());
        }
        if let Some(days) = self.noncurrent_expiration_days {
            rule = rule.noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build());
        }
        if let Some((days, class)) = &self.transition {
            rule = rule.transitions(Transition::builder().days(*days).storage_class(TransitionStorageClass::from(class.as_str())).build());
        }
        rule.build().map_err(|e| AwsError::invalid_request("s3", "PutBucketLifecycleConfiguration", e))
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.abort_incomplete_uploads_days {
            parts.push(format!("abort incomplete uploads after {d} days"));
        }
        if let Some(d) = self.noncurrent_expiration_days {
            parts.push(format!("expire old versions after {d} days"));
        }
        if let Some((d, class)) = &self.transition {
            parts.push(format!("move objects to {class} after {d} days"));
        }
        format!("add costguard's lifecycle rule ({}); other rules kept", parts.join(", "))
    }
}

fn has_costguard_rule(resource: &Resource) -> bool {
    Buckets::details_of(resource).and_then(|b| b.lifecycle.as_ref()).is_some_and(|l| l.has_costguard_rule)
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        "set-lifecycle"
    }

    fn describe(&self) -> String {
        let Action::SetLifecycle(a) = self;
        a.describe()
    }

    fn permissions(&self) -> Vec<Permission> {
        // DeleteBucketLifecycle and PutBucketLifecycleConfiguration are both this action.
        vec![Permission::on("s3:PutLifecycleConfiguration", &[Buckets::ARN_PATTERN])]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        has_costguard_rule(resource)
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        None
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_some_and(has_costguard_rule)
    }

    /// Not estimated: what a rule saves depends on objects' ages, which
    /// the storage metrics do not tell.
    fn monthly_saving(&self, _: &Resource, _: DateTime<Utc>) -> Option<f64> {
        None
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let Action::SetLifecycle(a) = self;
        let api = Api::new(aws, &resource.region);
        let rules = match api.lifecycle(&resource.id).await {
            Ok(rules) => rules,
            Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("bucket no longer exists".to_string())),
            Err(e) => return Err(e),
        };
        if rules.iter().any(|r| r.id() == Some(RULE_ID)) {
            return Ok(ActionResult::AlreadyDone(format!("bucket already has the rule `{RULE_ID}`")));
        }
        let others = rules.len();
        let mut all = rules;
        all.push(a.rule()?);
        api.put_lifecycle(&resource.id, all).await?;
        Ok(ActionResult::Done(format!("lifecycle rule `{RULE_ID}` added ({others} other rule(s) kept)")))
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// The S3 calls this type makes.
struct Api {
    client: aws_sdk_s3::Client,
    /// Whether an unreadable versioning answer was logged this sweep.
    versioning_unreadable: std::sync::Arc<VersioningUnreadable>,
}

/// Logged once a sweep, not once a bucket (moto answers every bucket so).
#[derive(Default)]
struct VersioningUnreadable(std::sync::atomic::AtomicBool);

fn sdk_err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(operation: &'static str) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("s3", operation, NOT_FOUND)
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_s3, region), versioning_unreadable: aws.memo() }
    }

    /// The buckets of `region`: (name, created).
    async fn list(&self, region: &str, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<(String, Option<DateTime<Utc>>)>, AwsError> {
        let mut pages = self.client.list_buckets().bucket_region(region).max_buckets(10_000).into_paginator().send();
        let mut buckets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err("ListBuckets"))?;
            buckets.extend(page.buckets().iter().filter_map(|b| Some((b.name()?.to_string(), time(b.creation_date())))));
            on_page(buckets.len());
        }
        Ok(buckets)
    }

    /// The bucket's lifecycle rules (none: an empty list).
    async fn lifecycle(&self, bucket: &str) -> Result<Vec<LifecycleRule>, AwsError> {
        match self.client.get_bucket_lifecycle_configuration().bucket(bucket).send().await.map_err(sdk_err("GetBucketLifecycleConfiguration")) {
            Ok(out) => Ok(out.rules().to_vec()),
            Err(e) if e.code == "NoSuchLifecycleConfiguration" => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the rules with `rules` (none: the configuration is deleted).
    async fn put_lifecycle(&self, bucket: &str, rules: Vec<LifecycleRule>) -> Result<(), AwsError> {
        if rules.is_empty() {
            self.client.delete_bucket_lifecycle().bucket(bucket).send().await.map_err(sdk_err("DeleteBucketLifecycle"))?;
            return Ok(());
        }
        let config = BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(|e| AwsError::invalid_request("s3", "PutBucketLifecycleConfiguration", e))?;
        self.client
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(config)
            .send()
            .await
            .map_err(sdk_err("PutBucketLifecycleConfiguration"))?;
        Ok(())
    }

    /// `None` when the answer cannot be read (moto's root element is not
    /// AWS's): the bucket's versioning is then unknown, never guessed.
    async fn versioning(&self, bucket: &str) -> Result<Option<String>, AwsError> {
        match self.client.get_bucket_versioning().bucket(bucket).send().await.map_err(sdk_err("GetBucketVersioning")) {
            Ok(out) => Ok(Some(out.status().map_or("Never", |s| s.as_str()).to_string())),
            Err(e) if e.is_unreadable_answer() => {
                if !self.versioning_unreadable.0.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(bucket, error = %e, "versioning status unknown (said once a sweep; further buckets alike are not logged)");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn tags(&self, bucket: &str) -> Result<Tags, AwsError> {
        match self.client.get_bucket_tagging().bucket(bucket).send().await.map_err(sdk_err("GetBucketTagging")) {
            Ok(out) => Ok(out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()),
            Err(e) if e.code == "NoSuchTagSet" => Ok(Tags::new()),
            Err(e) => Err(e),
        }
    }

    async fn put_tags(&self, bucket: &str, tags: &Tags) -> Result<(), AwsError> {
        if tags.is_empty() {
            self.client.delete_bucket_tagging().bucket(bucket).send().await.map_err(sdk_err("DeleteBucketTagging"))?;
            return Ok(());
        }
        let set: Vec<Tag> = tags.iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect();
        let tagging = Tagging::builder().set_tag_set(Some(set)).build().map_err(|e| AwsError::invalid_request("s3", "PutBucketTagging", e))?;
        self.client.put_bucket_tagging().bucket(bucket).tagging(tagging).send().await.map_err(sdk_err("PutBucketTagging"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(bytes: &[(&str, f64)]) -> Resource {
        let b = Bucket {
            name: "artifacts".into(),
            created_at: None,
            bytes_by_storage_type: bytes.iter().map(|(t, b)| (t.to_string(), *b)).collect(),
            objects: Some(10.0),
            lifecycle: None,
            versioning: None,
        };
        to_resource(b, "us-east-1")
    }

    #[tokio::test]
    async fn storage_is_priced_by_class() {
        let mut r = bucket(&[("StandardStorage", 2_000e9), ("GlacierStorage", 10_000e9)]);
        Buckets::price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert!((r.monthly_cost_usd.unwrap_or(f64::NAN) - (2_000.0 * 0.023 + 10_000.0 * 0.0036)).abs() < 1e-6, "{:?}", r.monthly_cost_usd);
        let mut unknown = bucket(&[("SomeNewStorage", 1e9)]);
        Buckets::price(&mut unknown, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert_eq!(unknown.monthly_cost_usd, None, "unknown, never $0");
    }

    #[test]
    fn a_transition_needs_both_its_fields() {
        let mut errors = Vec::new();
        let spec = SetLifecycleSpec { transition_days: Some(Located::new(30, Default::default())), ..Default::default() };
        assert!(spec.compile("a", &mut errors).is_none());
        assert!(errors[0].message.contains("go together"), "{errors:?}");
    }
}
