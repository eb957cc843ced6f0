//! `ecr-repository`: ECR repositories, where model-serving images pile up
//! for ever unless a lifecycle policy expires them.
//!
//! Listing costs one DescribeRepositories per 1,000 repositories, and one
//! GetResources per 100 tagged repositories when a policy needs tags.
//! Describing a repository costs one GetLifecyclePolicy when a policy
//! reads its lifecycle, and one DescribeImages per 1,000 images when a
//! policy reads its images (their count, bytes or last push): only for
//! repositories a policy could still match after the cheap filters.
//!
//! # Cost
//! GB-months of stored images at ECR's $0.10 per GB-month (us-east-1 list
//! price, compiled 2026-12-04), from the images' sizes as DescribeImages
//! gives them. A layer shared by several images is counted in each, so the
//! figure is an upper bound where images share layers; unknown (never $0)
//! until the images are read.
//!
//! # Actions
//! `set-lifecycle`: give a repository that has no lifecycle policy
//! costguard's: untagged images expire `untagged-days` after their push, and
//! only the newest `keep-images` images are kept.
//!
//! ```yaml
//! actions:
//!   - type: set-lifecycle
//!     keep-images: 30      # default 30
//!     untagged-days: 14    # default 14
//! ```
//!
//! ## Guarantees
//! - Runs only after the repository is re-read (lifecycle, images, tags),
//!   still matches and is not protected.
//! - Never replaces anyone's lifecycle policy: a repository that has one is
//!   refused, and one that got one since the plan is left as it is.
//! - `costguard restore ecr-repository NAME` removes costguard's rules
//!   (those whose description starts `costguard:`) and nothing else: other
//!   rules added since stay.
//!
//! ## Caveats
//! - Images ECR expires under the rules are gone; a restore cannot bring
//!   them back. ECR applies the rules within about a day.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::sizes::{Assessment, Sizing};
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Effect, Effort, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::time;
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::PriceBook;
use crate::yaml::{self, DecodeError, Located, Node};

pub struct Repositories;

/// What ECR answers for a repository that does not exist.
const NOT_FOUND: &[&str] = &["RepositoryNotFoundException"];
/// The largest page DescribeRepositories and DescribeImages serve.
const PAGE_SIZE: i32 = 1000;
/// ECR storage, USD per GB-month (us-east-1 list price, compiled 2026-12-04).
const USD_PER_GB_MONTH: f64 = 0.10;
/// How costguard's own rules are told from anyone else's: their description.
pub const RULE_MARK: &str = "costguard:";
const SET_LIFECYCLE: &str = "set-lifecycle";

/// The attributes only GetLifecyclePolicy answers.
const LIFECYCLE_KEYS: &[&str] = &["HasLifecyclePolicy", "LifecycleRuleCount"];
/// The attributes only DescribeImages answers.
const IMAGE_KEYS: &[&str] = &["ImageCount", "UntaggedImageCount", "SizeBytes", "LastPushedAt"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub created_at: Option<DateTime<Utc>>,
    pub tag_mutability: Option<String>,
    /// `None` until described.
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// `None` until described.
    #[serde(default)]
    pub images: Option<Images>,
}

/// Its lifecycle policy's rules: none when it has no policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub rules: usize,
    /// Of them, costguard's own.
    pub ours: usize,
}

/// What its images hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Images {
    pub count: usize,
    pub untagged: usize,
    pub bytes: f64,
    pub last_pushed: Option<DateTime<Utc>>,
}

impl Kind for Repositories {
    type Details = Repository;
    type Action = Action;

    const NOUN: &'static str = "ECR repository";
    const ALIASES: &'static [&'static str] = &["aws.ecr", "ecr"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("RepositoryName", AttrKind::String),
        Attribute::listed("RepositoryArn", AttrKind::String),
        Attribute::listed("RepositoryUri", AttrKind::String),
        Attribute::listed("CreatedAt", AttrKind::Time),
        Attribute::listed("ImageTagMutability", AttrKind::String),
        Attribute::described("HasLifecyclePolicy", AttrKind::Bool),
        Attribute::described("LifecycleRuleCount", AttrKind::Number),
        Attribute::described("ImageCount", AttrKind::Number),
        Attribute::described("UntaggedImageCount", AttrKind::Number),
        Attribute::described("SizeBytes", AttrKind::Number),
        Attribute::described("LastPushedAt", AttrKind::Time),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] =
        &["ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:DescribeImages", "tag:GetResources", "ecr:ListTagsForResource"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:DescribeImages", "ecr:ListTagsForResource"];
    const ARN_PATTERN: &'static str = "arn:aws:ecr:*:*:repository/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["ecr:TagResource", "ecr:UntagResource"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: SET_LIFECYCLE,
        effect: Effect::Modifies,
        effort: Effort::Low,
        restart: false,
        restores: Some("the repository without costguard's lifecycle rules (images already expired stay gone)"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("ecr.amazonaws.com", "CreateRepository", "repositoryName"),
    ];

    fn attribute<'a>(_: &'a Resource, r: &'a Repository, name: &str) -> Option<AttrValue<'a>> {
        let lifecycle = r.lifecycle.as_ref();
        let images = r.images.as_ref();
        match name {
            "RepositoryName" => Some(AttrValue::Str(&r.name)),
            "RepositoryArn" => Some(AttrValue::Str(&r.arn)),
            "RepositoryUri" => Some(AttrValue::Str(&r.uri)),
            "CreatedAt" => r.created_at.map(AttrValue::Time),
            "ImageTagMutability" => r.tag_mutability.as_deref().map(AttrValue::Str),
            "HasLifecyclePolicy" => lifecycle.map(|l| AttrValue::Bool(l.rules > 0)),
            "LifecycleRuleCount" => lifecycle.map(|l| AttrValue::Num(l.rules as f64)),
            "ImageCount" => images.map(|i| AttrValue::Num(i.count as f64)),
            "UntaggedImageCount" => images.map(|i| AttrValue::Num(i.untagged as f64)),
            "SizeBytes" => images.map(|i| AttrValue::Num(i.bytes)),
            "LastPushedAt" => images.and_then(|i| i.last_pushed).map(AttrValue::Time),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &Repository) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &Repository) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let repositories = Api::new(aws, region).list(None, on_progress).await?;
        let mut tags = aws.tagging(region).bulk("ecr:repository", !repositories.is_empty(), false).await;
        Ok(repositories
            .into_iter()
            .map(|r| {
                let mut resource = to_resource(r, region);
                resource.take_listed_tags(&mut tags, false);
                resource
            })
            .collect())
    }

    /// Reads what the policies read of it: its lifecycle policy, its
    /// images, and its tags when the listing could not bring them.
    async fn describe(aws: &Aws, resource: &mut Resource, wanted: &super::Wanted) -> Result<(), AwsError> {
        let api = Api::new(aws, &resource.region);
        let name = resource.id.clone();
        let reads = |keys: &[&str]| keys.iter().any(|k| wanted.contains(k));
        let lifecycle = async {
            match reads(LIFECYCLE_KEYS) {
                true => api.lifecycle(&name).await.map(|(l, _)| Some(l)),
                false => Ok(None),
            }
        };
        let images = async {
            match reads(IMAGE_KEYS) {
                true => api.images(&name).await.map(Some),
                false => Ok(None),
            }
        };
        let tags = async {
            match resource.tags_listed {
                true => Ok(None),
                false => api.tags(&resource.arn).await.map(Some),
            }
        };
        let (lifecycle, images, tags) = match tokio::join!(lifecycle, images, tags) {
            (Ok(l), Ok(i), Ok(t)) => (l, i, t),
            // Deleted since the listing: stays undescribed, never acted on.
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) if e.is_not_found() => return Ok(()),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err(e),
        };
        if let super::Details::EcrRepository(r) = &mut resource.details {
            r.lifecycle = lifecycle.or(r.lifecycle.take());
            r.images = images.or(r.images.take());
        }
        if let Some(tags) = tags {
            resource.tags = tags;
        }
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(repository) = Api::new(aws, region).list(Some(name), &|_| ()).await?.into_iter().next() else { return Ok(None) };
        let mut resource = to_resource(repository, region);
        let everything: super::Wanted = LIFECYCLE_KEYS.iter().chain(IMAGE_KEYS).copied().collect();
        Self::describe(aws, &mut resource, &everything).await?;
        Ok(resource.described.then_some(resource))
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        let images = Self::details_of(resource).and_then(|r| r.images.clone());
        match images {
            Some(i) => {
                let gb = i.bytes / 1e9;
                let basis = format!(
                    "{gb:.2} GB in {} image(s) x ${USD_PER_GB_MONTH} per GB-month (us-east-1 list price of 2026-12-04; layers shared by images counted in each)",
                    i.count
                );
                resource.set_cost(Some(gb * USD_PER_GB_MONTH), CostKind::GbMonths, basis);
            }
            None => resource.set_cost(None, CostKind::GbMonths, "unpriced: its images were not read (no policy reads them)"),
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
            Ok(ActionSpec::SetLifecycle(spec)) => spec.compile(path, errors).map(Action::SetLifecycle),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// Removes costguard's rules; any other rule stays.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        if action != SET_LIFECYCLE {
            return Err(RestoreError::NotRestorable(format!("{action} of an ECR repository cannot be undone")));
        }
        let api = Api::new(aws, &before.region);
        let rules = match api.lifecycle(&before.id).await {
            Ok((_, rules)) => rules,
            Err(e) if e.is_not_found() => return Err(RestoreError::NotRestorable(format!("repository {} no longer exists", before.id))),
            Err(e) => return Err(e.into()),
        };
        let (ours, others): (Vec<serde_json::Value>, Vec<serde_json::Value>) = rules.into_iter().partition(is_ours);
        if ours.is_empty() {
            return Err(RestoreError::NotRestorable(format!("repository {} has no costguard lifecycle rule; nothing to restore", before.id)));
        }
        let left = others.len();
        match others.is_empty() {
            true => api.delete_lifecycle(&before.id).await?,
            false => api.put_lifecycle(&before.id, &json!({ "rules": others })).await?,
        }
        Ok(format!("removed costguard's lifecycle rules from repository {} ({left} other rule(s) kept; added by run {run_id})", before.id))
    }
}

fn to_resource(repository: Repository, region: &str) -> Resource {
    let (id, arn, created_at) = (repository.name.clone(), repository.arn.clone(), repository.created_at);
    Resource::new(id, arn, region, created_at, Repositories::wrap(repository))
}

/// Whether a lifecycle rule (as ECR's policy text holds it) is costguard's.
fn is_ours(rule: &serde_json::Value) -> bool {
    rule.get("description").and_then(serde_json::Value::as_str).is_some_and(|d| d.starts_with(RULE_MARK))
}

/// The rules of a lifecycle policy's text; `None` when it cannot be read.
fn rules_of(text: &str) -> Option<Vec<serde_json::Value>> {
    let policy: serde_json::Value = serde_json::from_str(text).ok()?;
    policy.get("rules")?.as_array().cloned()
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
    keep_images: Option<Located<i64>>,
    #[serde(default)]
    untagged_days: Option<Located<i64>>,
}

impl SetLifecycleSpec {
    fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<SetLifecycle> {
        let before = errors.len();
        let mut number = |v: &Option<Located<i64>>, field: &str, default: u32, max: i64| -> u32 {
            match v {
                None => default,
                Some(n) => match u32::try_from(n.value) {
                    Ok(value) if (1..=max).contains(&n.value) => value,
                    _ => {
                        errors.push(DecodeError::new(n.loc, format!("{path}.{field}"), format!("{field} must be from 1 to {max}, found {n}")));
                        default
                    }
                },
            }
        };
        let keep_images = number(&self.keep_images, "keep-images", 30, 10_000);
        let untagged_days = number(&self.untagged_days, "untagged-days", 14, 36_500);
        (errors.len() == before).then_some(SetLifecycle { keep_images, untagged_days })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    SetLifecycle(SetLifecycle),
}

/// costguard's lifecycle policy for a repository that has none.
#[derive(Clone, Debug, PartialEq)]
pub struct SetLifecycle {
    pub keep_images: u32,
    pub untagged_days: u32,
}

impl SetLifecycle {
    /// The policy text. ECR wants the rule on any tag status last (the
    /// highest priority number); both take high numbers, so rules a team
    /// adds later (1 to 899) go first and stay valid once a restore has
    /// removed costguard's.
    fn policy(&self) -> serde_json::Value {
        json!({ "rules": [
            {
                "rulePriority": 900,
                "description": format!("{RULE_MARK} untagged images expire {} days after their push", self.untagged_days),
                "selection": { "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": self.untagged_days },
                "action": { "type": "expire" }
            },
            {
                "rulePriority": 1000,
                "description": format!("{RULE_MARK} only the newest {} images are kept", self.keep_images),
                "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": self.keep_images },
                "action": { "type": "expire" }
            }
        ]})
    }
}

fn lifecycle_of(resource: &Resource) -> Option<&Lifecycle> {
    Repositories::details_of(resource).and_then(|r| r.lifecycle.as_ref())
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        SET_LIFECYCLE
    }

    fn describe(&self) -> String {
        let Action::SetLifecycle(a) = self;
        format!(
            "give the repository costguard's lifecycle policy: untagged images expire after {} days, only the newest {} images are kept",
            a.untagged_days, a.keep_images
        )
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission::on("ecr:PutLifecyclePolicy", &[Repositories::ARN_PATTERN])]
    }

    fn restore_permissions(&self) -> Vec<Permission> {
        vec![
            Permission::on("ecr:PutLifecyclePolicy", &[Repositories::ARN_PATTERN]),
            Permission::on("ecr:DeleteLifecyclePolicy", &[Repositories::ARN_PATTERN]),
        ]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        lifecycle_of(resource).is_some_and(|l| l.ours > 0)
    }

    fn refusal(&self, resource: &Resource) -> Option<String> {
        let l = lifecycle_of(resource)?;
        (l.ours == 0 && l.rules > 0).then(|| format!("it has its own lifecycle policy ({} rule(s)): costguard never replaces one", l.rules))
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.and_then(lifecycle_of).is_some_and(|l| l.ours > 0)
    }

    /// Not estimated: what the rules expire depends on the images' ages
    /// and tags, which the plan does not weigh.
    fn monthly_saving(&self, _: &Resource, _: DateTime<Utc>) -> Option<f64> {
        None
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let Action::SetLifecycle(a) = self;
        let api = Api::new(aws, &resource.region);
        let lifecycle = match api.lifecycle(&resource.id).await {
            Ok((lifecycle, _)) => lifecycle,
            Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("repository no longer exists".to_string())),
            Err(e) => return Err(e),
        };
        if lifecycle.ours > 0 {
            return Ok(ActionResult::AlreadyDone("repository already has costguard's lifecycle rules".to_string()));
        }
        if lifecycle.rules > 0 {
            return Ok(ActionResult::AlreadyDone(format!("repository got a lifecycle policy of its own ({} rule(s)); left as it is", lifecycle.rules)));
        }
        api.put_lifecycle(&resource.id, &a.policy()).await?;
        Ok(ActionResult::Done(format!("lifecycle policy set: untagged images expire after {} days, the newest {} images kept", a.untagged_days, a.keep_images)))
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

fn err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(operation: &'static str) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("ecr", operation, NOT_FOUND)
}

/// The ECR calls this type makes.
struct Api {
    client: aws_sdk_ecr::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_ecr, region) }
    }

    /// Every repository, or the one named (none when it does not exist).
    async fn list(&self, only: Option<&str>, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Repository>, AwsError> {
        let request = match only {
            Some(name) => self.client.describe_repositories().repository_names(name),
            None => self.client.describe_repositories().max_results(PAGE_SIZE),
        };
        let mut pages = request.into_paginator().send();
        let mut repositories = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page.map_err(err("DescribeRepositories")) {
                Ok(page) => page,
                Err(e) if e.is_not_found() && only.is_some() => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            repositories.extend(page.repositories().iter().filter_map(|r| {
                Some(Repository {
                    name: r.repository_name()?.to_string(),
                    arn: r.repository_arn()?.to_string(),
                    uri: r.repository_uri().unwrap_or_default().to_string(),
                    created_at: time(r.created_at()),
                    tag_mutability: r.image_tag_mutability().map(|m| m.as_str().to_string()),
                    lifecycle: None,
                    images: None,
                })
            }));
            on_page(repositories.len());
        }
        Ok(repositories)
    }

    /// Its lifecycle policy (no rules when it has none) and its rules as
    /// the policy text holds them. A policy whose text cannot be read
    /// counts as one rule of someone else's: never replaced.
    async fn lifecycle(&self, name: &str) -> Result<(Lifecycle, Vec<serde_json::Value>), AwsError> {
        let out = match self.client.get_lifecycle_policy().repository_name(name).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_lifecycle_policy_not_found_exception()) => return Ok((Lifecycle::default(), Vec::new())),
            Err(e) => return Err(err("GetLifecyclePolicy")(e)),
        };
        let Some(rules) = out.lifecycle_policy_text().and_then(rules_of) else { return Ok((Lifecycle { rules: 1, ours: 0 }, Vec::new())) };
        Ok((Lifecycle { rules: rules.len(), ours: rules.iter().filter(|r| is_ours(r)).count() }, rules))
    }

    async fn put_lifecycle(&self, name: &str, policy: &serde_json::Value) -> Result<(), AwsError> {
        self.client.put_lifecycle_policy().repository_name(name).lifecycle_policy_text(policy.to_string()).send().await.map_err(err("PutLifecyclePolicy"))?;
        Ok(())
    }

    async fn delete_lifecycle(&self, name: &str) -> Result<(), AwsError> {
        match self.client.delete_lifecycle_policy().repository_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_lifecycle_policy_not_found_exception()) => Ok(()),
            Err(e) => Err(err("DeleteLifecyclePolicy")(e)),
        }
    }

    async fn images(&self, name: &str) -> Result<Images, AwsError> {
        let mut pages = self.client.describe_images().repository_name(name).max_results(PAGE_SIZE).into_paginator().send();
        let mut images = Images::default();
        while let Some(page) = pages.next().await {
            for image in page.map_err(err("DescribeImages"))?.image_details() {
                images.count += 1;
                images.untagged += usize::from(image.image_tags().is_empty());
                images.bytes += image.image_size_in_bytes().unwrap_or(0).max(0) as f64;
                images.last_pushed = images.last_pushed.max(time(image.image_pushed_at()));
            }
        }
        Ok(images)
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let out = self.client.list_tags_for_resource().resource_arn(arn).send().await.map_err(err("ListTagsForResource"))?;
        Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags: Vec<aws_sdk_ecr::types::Tag> = tags.iter().filter_map(|(k, v)| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build().ok()).collect();
        self.client.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(err("TagResource"))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect())).send().await.map_err(err("UntagResource"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costguards_policy_keeps_the_any_rule_last_and_is_told_apart_by_its_description() {
        let policy = SetLifecycle { keep_images: 30, untagged_days: 14 }.policy();
        let rules = rules_of(&policy.to_string()).expect("readable");
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(is_ours));
        let any = rules.iter().find(|r| r["selection"]["tagStatus"] == "any").expect("an any rule");
        let highest = rules.iter().filter_map(|r| r["rulePriority"].as_u64()).max();
        assert_eq!(any["rulePriority"].as_u64(), highest, "ECR wants the `any` rule evaluated last");
        assert!(!is_ours(&json!({"description": "team rule", "rulePriority": 1})));
        assert!(rules_of("not json").is_none());
    }

    #[test]
    fn a_repository_with_its_own_policy_is_refused_and_one_with_ours_is_done() {
        let mut r = to_resource(
            Repository {
                name: "models".into(),
                arn: "arn:aws:ecr:us-east-1:123456789012:repository/models".into(),
                uri: String::new(),
                created_at: None,
                tag_mutability: None,
                lifecycle: Some(Lifecycle { rules: 1, ours: 0 }),
                images: None,
            },
            "us-east-1",
        );
        let action = Action::SetLifecycle(SetLifecycle { keep_images: 30, untagged_days: 14 });
        assert!(action.refusal(&r).is_some_and(|why| why.contains("never replaces")));
        assert!(!action.already_satisfied(&r));
        if let super::super::Details::EcrRepository(d) = &mut r.details {
            d.lifecycle = Some(Lifecycle { rules: 2, ours: 2 });
        }
        assert!(action.refusal(&r).is_none());
        assert!(action.already_satisfied(&r));
    }

    #[test]
    fn bad_counts_are_refused_with_their_location() {
        let mut errors = Vec::new();
        let spec = SetLifecycleSpec { keep_images: Some(Located::new(0, Default::default())), untagged_days: None };
        assert!(spec.compile("policies[0].actions[0]", &mut errors).is_none());
        assert!(errors[0].message.contains("keep-images must be from 1 to 10000"), "{errors:?}");
        assert_eq!(errors[0].path, "policies[0].actions[0].keep-images");
    }
}
