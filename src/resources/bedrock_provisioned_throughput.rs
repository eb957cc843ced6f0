//! `bedrock-provisioned-throughput`: Amazon Bedrock Provisioned
//! Throughput, billed per model unit and hour whether it serves a request
//! or not.
//!
//! Listing costs one ListProvisionedModelThroughputs per 1,000 and carries
//! every field; tags (ListTagsForResource, Bedrock has no bulk form) are read
//! only for throughputs some policy could still match. Its use is the
//! `AWS/Bedrock` `Invocations` metric under `ModelId` = its ARN.
//!
//! # Actions
//! `delete`: deletes the provisioned throughput. Opt-in, and refused while
//! the throughput is inside a commitment term: the commitment is billed to
//! its end whatever is deleted, so deleting would only lose the capacity.
//!
//! ```yaml
//! actions:
//!   - type: mark
//!     days: 7
//!   - delete
//! ```
//!
//! ## Guarantees
//! - Runs only after the throughput is re-read, still matches, is not
//!   protected, is past any commitment, and is journaled.
//!
//! ## Caveats
//! - Cannot be undone by costguard: capacity is bought again with
//!   CreateProvisionedModelThroughput (the journal keeps what it was).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::{Assessment, Sizing};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::time;
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{self, DecodeError, Node};

pub struct ProvisionedThroughputs;

const SERVICE: &str = "bedrock";
/// The largest page ListProvisionedModelThroughputs serves.
const PAGE_SIZE: i32 = 1000;
/// What Bedrock answers for a throughput that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvisionedThroughput {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub model_arn: String,
    pub foundation_model_arn: String,
    pub model_units: i32,
    pub desired_model_units: i32,
    /// `OneMonth`, `SixMonths`; `None`: no commitment (billed by the hour).
    pub commitment: Option<String>,
    pub commitment_expires_at: Option<DateTime<Utc>>,
    /// Inside its commitment term at the sweep's time.
    pub in_commitment: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// USD per model unit and hour, by base model and term, us-east-1. Only
/// the figures of Bedrock's pricing page costguard carries; others are
/// unknown (reported, never $0).
const RATES: &[(&str, [f64; 3])] = &[
    // [no commitment, one month, six months]
    ("anthropic.claude-instant-v1", [44.0, 39.60, 22.0]),
    ("anthropic.claude-v2", [70.0, 63.0, 35.0]),
    ("amazon.titan-text-express-v1", [20.50, 18.40, 14.80]),
];
const RATES_TAKEN: &str = "Amazon Bedrock pricing page, 2024, us-east-1";

/// The hourly rate of one model unit of `foundation_model_arn` on `commitment`.
pub fn hourly_rate(foundation_model_arn: &str, commitment: Option<&str>) -> Option<f64> {
    let model = foundation_model_arn.rsplit('/').next().unwrap_or(foundation_model_arn);
    let base = model.split(':').next().unwrap_or(model);
    let term = match commitment {
        None => 0,
        Some("OneMonth") => 1,
        Some("SixMonths") => 2,
        Some(_) => return None,
    };
    RATES.iter().find(|(id, _)| *id == base).map(|(_, r)| r[term])
}

impl Kind for ProvisionedThroughputs {
    type Details = ProvisionedThroughput;
    type Action = Action;

    const NOUN: &'static str = "Bedrock provisioned throughput";
    const ALIASES: &'static [&'static str] = &["aws.bedrock-provisioned-throughput"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("ProvisionedModelName", AttrKind::String),
        Attribute::listed("ProvisionedModelArn", AttrKind::String),
        Attribute::listed("Status", AttrKind::String),
        Attribute::listed("ModelArn", AttrKind::String),
        Attribute::listed("FoundationModelArn", AttrKind::String),
        Attribute::listed("ModelUnits", AttrKind::Number),
        Attribute::listed("DesiredModelUnits", AttrKind::Number),
        Attribute::listed("CommitmentDuration", AttrKind::String),
        Attribute::listed("CommitmentExpirationTime", AttrKind::Time),
        Attribute::listed("InCommitment", AttrKind::Bool),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/Bedrock");
    const READ_PERMISSIONS: &'static [&'static str] = &["bedrock:ListProvisionedModelThroughputs", "bedrock:ListTagsForResource"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["bedrock:GetProvisionedModelThroughput", "bedrock:ListTagsForResource"];
    const ARN_PATTERN: &'static str = "arn:aws:bedrock:*:*:provisioned-model/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["bedrock:TagResource", "bedrock:UntagResource"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "delete",
        effect: Effect::Removes,
        effort: Effort::High,
        restart: true,
        restores: None,
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("bedrock.amazonaws.com", "CreateProvisionedModelThroughput", "provisionedModelName"),
    ];

    fn attribute<'a>(_: &'a Resource, p: &'a ProvisionedThroughput, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "ProvisionedModelName" => Some(AttrValue::Str(&p.name)),
            "ProvisionedModelArn" => Some(AttrValue::Str(&p.arn)),
            "Status" => Some(AttrValue::Str(&p.status)),
            "ModelArn" => Some(AttrValue::Str(&p.model_arn)),
            "FoundationModelArn" => Some(AttrValue::Str(&p.foundation_model_arn)),
            "ModelUnits" => Some(AttrValue::Num(f64::from(p.model_units))),
            "DesiredModelUnits" => Some(AttrValue::Num(f64::from(p.desired_model_units))),
            "CommitmentDuration" => p.commitment.as_deref().map(AttrValue::Str),
            "CommitmentExpirationTime" => p.commitment_expires_at.map(AttrValue::Time),
            "InCommitment" => Some(AttrValue::Bool(p.in_commitment)),
            "CreationTime" => p.created_at.map(AttrValue::Time),
            "LastModifiedTime" => p.modified_at.map(AttrValue::Time),
            _ => None,
        }
    }

    /// Bedrock publishes a provisioned model's use under its ARN.
    fn metric_series(_: &Resource, p: &ProvisionedThroughput) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("ModelId".to_string(), p.arn.clone())]])
    }

    fn sizing(_: &Resource, _: &ProvisionedThroughput) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, now: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let listed = Api::new(aws, region).list(now, on_progress).await?;
        Ok(listed.into_iter().map(|p| to_resource(p, region)).collect())
    }

    /// Adds the tags.
    async fn describe(aws: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // Deleted since the listing: stays undescribed, never acted on.
        let Some(tags) = Api::new(aws, &resource.region).tags(&resource.arn).await? else { return Ok(()) };
        resource.tags = tags;
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, now: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let Some(p) = api.get(name, now).await? else { return Ok(None) };
        let mut resource = to_resource(p, region);
        let Some(tags) = api.tags(&resource.arn).await? else { return Ok(None) };
        resource.tags = tags;
        resource.described = true;
        Ok(Some(resource))
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        let Some(p) = Self::details_of(resource).cloned() else { return };
        let term = p.commitment.as_deref().unwrap_or("no commitment");
        match hourly_rate(&p.foundation_model_arn, p.commitment.as_deref()) {
            Some(rate) => resource.set_cost(
                Some(f64::from(p.model_units) * rate * HOURS_PER_MONTH),
                CostKind::InstanceHours,
                format!("{} model unit(s) x ${rate:.2}/hour ({term}; built-in, {RATES_TAKEN}) x {HOURS_PER_MONTH} h", p.model_units),
            ),
            None => resource.set_cost(None, CostKind::InstanceHours, format!("no built-in rate for {} ({term}): see its purchase terms", p.foundation_model_arn)),
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
            Ok(ActionSpec::Delete(_)) => Some(Action::Delete),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    async fn restore(_: &Aws, action: &str, before: &Resource, _: &str) -> Result<String, RestoreError> {
        Err(RestoreError::NotRestorable(format!(
            "{action} of provisioned throughput {} cannot be undone: capacity is bought again (CreateProvisionedModelThroughput, a new term)",
            before.id
        )))
    }
}

pub fn to_resource(p: ProvisionedThroughput, region: &str) -> Resource {
    let (id, arn, created_at) = (p.name.clone(), p.arn.clone(), p.created_at);
    Resource::new(id, arn, region, created_at, ProvisionedThroughputs::wrap(p))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Delete(DeleteSpec),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteSpec {}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Delete,
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        "delete"
    }

    fn describe(&self) -> String {
        "delete the provisioned throughput (cannot be undone)".to_string()
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission::on("bedrock:DeleteProvisionedModelThroughput", &[ProvisionedThroughputs::ARN_PATTERN])]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, _: &Resource) -> bool {
        false
    }

    /// Inside a commitment term the bill runs to its end whatever happens.
    fn refusal(&self, resource: &Resource) -> Option<String> {
        let p = ProvisionedThroughputs::details_of(resource)?;
        p.in_commitment.then(|| {
            let until = p.commitment_expires_at.map_or("its end".to_string(), crate::text::utc);
            format!("inside its {} commitment until {until}: deleting would not stop the bill", p.commitment.as_deref().unwrap_or("committed"))
        })
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_none()
    }

    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        resource.monthly_cost_usd
    }

    fn undoable(&self) -> bool {
        false
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        match Api::new(aws, &resource.region).delete(&resource.id).await {
            Ok(()) => Ok(ActionResult::Done("provisioned throughput deleted".to_string())),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("provisioned throughput no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// The Bedrock control-plane calls this type makes.
struct Api {
    client: aws_sdk_bedrock::Client,
}

/// ListProvisionedModelThroughputs' summaries and GetProvisionedModelThroughput's
/// answer carry the same fields under the same names.
macro_rules! throughput_from {
    ($p:expr, $now:expr) => {{
        let p = $p;
        let expires = time(p.commitment_expiration_time());
        ProvisionedThroughput {
            name: p.provisioned_model_name().to_string(),
            arn: p.provisioned_model_arn().to_string(),
            status: p.status().as_str().to_string(),
            model_arn: p.model_arn().to_string(),
            foundation_model_arn: p.foundation_model_arn().to_string(),
            model_units: p.model_units(),
            desired_model_units: p.desired_model_units(),
            commitment: p.commitment_duration().map(|c| c.as_str().to_string()),
            commitment_expires_at: expires,
            in_commitment: p.commitment_duration().is_some() && expires.is_none_or(|t| t > $now),
            created_at: time(Some(p.creation_time())),
            modified_at: time(Some(p.last_modified_time())),
        }
    }};
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_bedrock, region) }
    }

    async fn list(&self, now: DateTime<Utc>, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<ProvisionedThroughput>, AwsError> {
        let mut pages = self.client.list_provisioned_model_throughputs().max_results(PAGE_SIZE).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListProvisionedModelThroughputs", NOT_FOUND, e))?;
            found.extend(page.provisioned_model_summaries().iter().map(|p| throughput_from!(p, now)));
            on_page(found.len());
        }
        Ok(found)
    }

    async fn get(&self, id: &str, now: DateTime<Utc>) -> Result<Option<ProvisionedThroughput>, AwsError> {
        match self.client.get_provisioned_model_throughput().provisioned_model_id(id).send().await {
            Ok(p) => Ok(Some(throughput_from!(&p, now))),
            Err(e) => match AwsError::from_sdk(SERVICE, "GetProvisionedModelThroughput", NOT_FOUND, e) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// `None` when the throughput is gone.
    async fn tags(&self, arn: &str) -> Result<Option<Tags>, AwsError> {
        match self.client.list_tags_for_resource().resource_arn(arn).send().await {
            Ok(out) => Ok(Some(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())),
            Err(e) => match AwsError::from_sdk(SERVICE, "ListTagsForResource", NOT_FOUND, e) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags = tags.iter().filter_map(|(k, v)| aws_sdk_bedrock::types::Tag::builder().key(k).value(v).build().ok()).collect();
        self.client.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(|e| AwsError::from_sdk(SERVICE, "TagResource", NOT_FOUND, e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        let keys = keys.iter().map(|k| k.to_string()).collect();
        self.client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "UntagResource", NOT_FOUND, e))?;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), AwsError> {
        self.client
            .delete_provisioned_model_throughput()
            .provisioned_model_id(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "DeleteProvisionedModelThroughput", NOT_FOUND, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_term_and_unknown_models_have_none() {
        let arn = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-instant-v1:2:100k";
        assert_eq!(hourly_rate(arn, None), Some(44.0));
        assert_eq!(hourly_rate(arn, Some("SixMonths")), Some(22.0));
        assert_eq!(hourly_rate("arn:aws:bedrock:us-east-1::foundation-model/acme.model-v1", None), None);
        assert_eq!(hourly_rate(arn, Some("TenYears")), None);
    }
}
