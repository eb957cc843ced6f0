//! `sagemaker-space`: SageMaker Studio spaces, where a user's or a team's
//! apps run and their files live. A space bills its storage; what it costs
//! to run is decided by the instance its apps start on by default and how
//! long they are left idle, which is what this type reports.
//!
//! Listing costs one ListSpaces per 100 spaces (with its app type, owner,
//! sharing and storage size); tags come in bulk from the Tagging API. Its
//! default instance type and its own idle timeout are read (one
//! DescribeSpace each) only when a policy reads them, and only for the
//! spaces it could still match. Its id is `DOMAIN/SPACE`.
//!
//! # Cost
//! Not priced: its storage rate is not built in, and its apps are priced
//! as `sagemaker-app` resources while they run.
//!
//! # Actions
//! None: a space holds a person's files. Policies notify its owner.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::PriceBook;
use crate::yaml::{DecodeError, Node};

pub struct Spaces;

/// The largest page ListSpaces serves.
const PAGE_SIZE: i32 = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub domain: String,
    pub name: String,
    pub status: String,
    /// `JupyterLab` or `CodeEditor`: the app the space runs.
    pub app_type: Option<String>,
    pub owner: Option<String>,
    /// `Private` or `Shared`.
    pub sharing: Option<String>,
    pub storage_gb: Option<i32>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
    /// From DescribeSpace: the instance its app starts on by default.
    #[serde(default)]
    pub default_instance_type: Option<String>,
    /// From DescribeSpace: its own idle timeout; absent, its domain's default applies.
    #[serde(default)]
    pub idle_timeout_minutes: Option<i32>,
}

impl Space {
    pub fn id(&self) -> String {
        format!("{}/{}", self.domain, self.name)
    }

    fn arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:sagemaker:{region}:{account}:space/{}/{}", self.domain, self.name)
    }
}

impl Kind for Spaces {
    type Details = Space;
    type Action = super::no_action::NoAction;

    const NOUN: &'static str = "SageMaker Studio space";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-space", "studio-space"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("DomainId", AttrKind::String),
        Attribute::listed("SpaceName", AttrKind::String),
        Attribute::listed("Status", AttrKind::String),
        Attribute::listed("AppType", AttrKind::String),
        Attribute::listed("OwnerUserProfileName", AttrKind::String),
        Attribute::listed("SharingType", AttrKind::String),
        Attribute::listed("StorageGb", AttrKind::Number),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
        Attribute::described("DefaultInstanceType", AttrKind::String),
        Attribute::described("Accelerated", AttrKind::Bool),
        Attribute::described("IdleTimeoutMinutes", AttrKind::Number),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] = &["sagemaker:ListSpaces", "sagemaker:DescribeSpace", "tag:GetResources", "sagemaker:ListTags"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeSpace", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:space/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[];
    const SIZABLE: bool = false;

    fn attribute<'a>(_: &'a Resource, s: &'a Space, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "DomainId" => Some(AttrValue::Str(&s.domain)),
            "SpaceName" => Some(AttrValue::Str(&s.name)),
            "Status" => Some(AttrValue::Str(&s.status)),
            "AppType" => s.app_type.as_deref().map(AttrValue::Str),
            "OwnerUserProfileName" => s.owner.as_deref().map(AttrValue::Str),
            "SharingType" => s.sharing.as_deref().map(AttrValue::Str),
            "StorageGb" => s.storage_gb.map(|g| AttrValue::Num(f64::from(g))),
            "CreationTime" => s.created_at.map(AttrValue::Time),
            "LastModifiedTime" => s.modified_at.map(AttrValue::Time),
            "DefaultInstanceType" => s.default_instance_type.as_deref().map(AttrValue::Str),
            "Accelerated" => s.default_instance_type.as_deref().map(|t| AttrValue::Bool(super::sizes::is_accelerated(t))),
            "IdleTimeoutMinutes" => s.idle_timeout_minutes.map(|m| AttrValue::Num(f64::from(m))),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &Space) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &Space) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let spaces = Api::new(aws, region).list(on_progress).await?;
        if spaces.is_empty() {
            return Ok(Vec::new());
        }
        let account = aws.account_id().await?;
        let mut tags = aws.tagging(region).bulk("sagemaker:space", true, true).await;
        Ok(spaces
            .into_iter()
            .map(|s| {
                let arn = s.arn(region, &account);
                let mut resource = to_resource(s, arn, region);
                resource.take_listed_tags(&mut tags, false);
                resource
            })
            .collect())
    }

    /// Reads its default instance and idle timeout when a policy reads
    /// them, and its tags when the listing could not bring them in bulk.
    async fn describe(aws: &Aws, resource: &mut Resource, wanted: &super::Wanted) -> Result<(), AwsError> {
        let Some(space) = Self::details_of(resource).cloned() else { return Ok(()) };
        if ["DefaultInstanceType", "Accelerated", "IdleTimeoutMinutes"].iter().any(|a| wanted.contains(a)) {
            // Deleted since the listing: stays undescribed.
            let Some((described, arn)) = Api::new(aws, &resource.region).describe(&space).await? else { return Ok(()) };
            if let Some(arn) = arn {
                resource.arn = arn;
            }
            resource.details = Self::wrap(described);
        }
        if resource.tags_listed {
            resource.described = true;
            return Ok(());
        }
        super::sagemaker::read_tags(aws, resource).await.map(|_| ())
    }

    async fn reread(aws: &Aws, region: &str, id: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some((domain, name)) = id.split_once('/') else { return Ok(None) };
        let listed = Space {
            domain: domain.to_string(),
            name: name.to_string(),
            status: String::new(),
            app_type: None,
            owner: None,
            sharing: None,
            storage_gb: None,
            created_at: None,
            modified_at: None,
            default_instance_type: None,
            idle_timeout_minutes: None,
        };
        let Some((space, arn)) = Api::new(aws, region).describe(&listed).await? else { return Ok(None) };
        let arn = match arn {
            Some(arn) => arn,
            None => space.arn(region, &aws.account_id().await?),
        };
        super::sagemaker::with_tags(aws, to_resource(space, arn, region)).await
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        resource.set_cost(None, CostKind::GbMonths, "unpriced: a space's storage rate is not built in; its running apps are priced as sagemaker-app");
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        aws.sagemaker_tags(&resource.region).add(&resource.arn, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        aws.sagemaker_tags(region).delete(arn, keys).await
    }

    /// It has no changes of its own: any name is refused, as `validate` says.
    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Self::Action> {
        super::no_action::compile(node, path, errors)
    }

    async fn restore(_: &Aws, _: &str, _: &Resource, _: &str) -> Result<String, RestoreError> {
        Err(RestoreError::Unsupported(Self::TYPE))
    }
}

pub fn to_resource(space: Space, arn: String, region: &str) -> Resource {
    let (id, created_at) = (space.id(), space.created_at);
    Resource::new(id, arn, region, created_at, Spaces::wrap(space))
}

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region) }
    }

    async fn list(&self, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Space>, AwsError> {
        let mut pages = self.client.list_spaces().max_results(PAGE_SIZE).into_paginator().send();
        let mut spaces = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListSpaces", e))?;
            spaces.extend(page.spaces().iter().map(|s| {
                let settings = s.space_settings_summary();
                Space {
                    domain: s.domain_id().unwrap_or_default().to_string(),
                    name: s.space_name().unwrap_or_default().to_string(),
                    status: s.status().map(|v| v.as_str().to_string()).unwrap_or_default(),
                    app_type: settings.and_then(|v| v.app_type()).map(|t| t.as_str().to_string()),
                    owner: s.ownership_settings_summary().and_then(|o| o.owner_user_profile_name()).map(str::to_string),
                    sharing: s.space_sharing_settings_summary().and_then(|v| v.sharing_type()).map(|t| t.as_str().to_string()),
                    storage_gb: settings.and_then(|v| v.space_storage_settings()).and_then(|v| v.ebs_storage_settings()).and_then(|e| e.ebs_volume_size_in_gb()),
                    created_at: time(s.creation_time()),
                    modified_at: time(s.last_modified_time()),
                    default_instance_type: None,
                    idle_timeout_minutes: None,
                }
            }));
            on_page(spaces.len());
        }
        Ok(spaces)
    }

    /// The space as DescribeSpace has it now, with its ARN; `None` when gone.
    async fn describe(&self, space: &Space) -> Result<Option<(Space, Option<String>)>, AwsError> {
        let out = match self.client.describe_space().domain_id(&space.domain).space_name(&space.name).send().await.map_err(|e| sagemaker_error("DescribeSpace", e)) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let settings = out.space_settings();
        // The SDK's enum decides which app's settings to read; the listing's spelling stands in when the description has none.
        let kind = settings.and_then(|s| s.app_type()).cloned().or_else(|| space.app_type.as_deref().map(aws_sdk_sagemaker::types::AppType::from));
        let (instance, idle) = match settings {
            Some(s) if kind == Some(aws_sdk_sagemaker::types::AppType::CodeEditor) => {
                let c = s.code_editor_app_settings();
                (
                    c.and_then(|c| c.default_resource_spec()).and_then(|r| r.instance_type()).map(|t| t.as_str().to_string()),
                    c.and_then(|c| c.app_lifecycle_management()).and_then(|m| m.idle_settings()).and_then(|i| i.idle_timeout_in_minutes()),
                )
            }
            Some(s) => {
                let j = s.jupyter_lab_app_settings();
                (
                    j.and_then(|j| j.default_resource_spec()).and_then(|r| r.instance_type()).map(|t| t.as_str().to_string()),
                    j.and_then(|j| j.app_lifecycle_management()).and_then(|m| m.idle_settings()).and_then(|i| i.idle_timeout_in_minutes()),
                )
            }
            None => (None, None),
        };
        let described = Space {
            status: out.status().map(|v| v.as_str().to_string()).unwrap_or_else(|| space.status.clone()),
            app_type: kind.map(|k| k.as_str().to_string()),
            owner: out.ownership_settings().and_then(|o| o.owner_user_profile_name()).map(str::to_string).or_else(|| space.owner.clone()),
            sharing: out.space_sharing_settings().and_then(|v| v.sharing_type()).map(|t| t.as_str().to_string()).or_else(|| space.sharing.clone()),
            storage_gb: settings.and_then(|v| v.space_storage_settings()).and_then(|v| v.ebs_storage_settings()).and_then(|e| e.ebs_volume_size_in_gb()).or(space.storage_gb),
            created_at: time(out.creation_time()).or(space.created_at),
            modified_at: time(out.last_modified_time()).or(space.modified_at),
            default_instance_type: instance,
            idle_timeout_minutes: idle,
            ..space.clone()
        };
        Ok(Some((described, out.space_arn().map(str::to_string))))
    }
}
