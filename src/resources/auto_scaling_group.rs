//! `auto-scaling-group`: EC2 Auto Scaling groups (the GPU node groups of
//! dev clusters, build fleets, batch workers).
//!
//! Listing costs one DescribeAutoScalingGroups per 100 groups and carries
//! everything, tags and instances included. A group bills its instances:
//! priced as its in-service instances' on-demand Linux rates.
//!
//! # Actions
//! `scale-to-zero`: minimum and desired capacity to 0 (the maximum stays),
//! so the group terminates its instances and launches none; its launch
//! template, scaling policies and tags stay. `costguard restore
//! auto-scaling-group NAME` puts back the minimum and desired capacity it
//! had, and an `off-hours` policy's sweeps do so in the morning.
//!
//! ```yaml
//! actions:
//!   - scale-to-zero
//! ```
//!
//! ## Guarantees
//! - Runs only after the group is re-read, still matches, is not
//!   protected, and is journaled (with its sizes); one already at zero is
//!   "already done".
//!
//! ## Caveats
//! - The instances are terminated, not stopped: what is on their instance
//!   storage or root volumes (unless the launch template keeps them) is
//!   gone; the morning brings new instances.
//! - A group a scheduled action or another tool scales up again at night
//!   is found running and left alone until the next off time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::scaling::{self, Scalable, ScaleToZero, SCALE_TO_ZERO};
use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, Dimensions, Effect, Effort, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::PriceBook;
use crate::yaml::{DecodeError, Node};

pub struct Groups;

/// The largest page DescribeAutoScalingGroups serves.
const PAGE_SIZE: i32 = 100;
/// What Auto Scaling answers for a group that does not exist.
const NOT_FOUND: &[&str] = &["ValidationError", "ResourceNotFound"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    /// The instance type of each in-service or pending instance.
    pub instance_types: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl Kind for Groups {
    type Details = Group;
    type Action = ScaleToZero<Self>;

    const NOUN: &'static str = "Auto Scaling group";
    const ALIASES: &'static [&'static str] = &["aws.asg", "asg"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("AutoScalingGroupName", AttrKind::String),
        Attribute::listed("AutoScalingGroupARN", AttrKind::String),
        Attribute::listed("MinSize", AttrKind::Number),
        Attribute::listed("MaxSize", AttrKind::Number),
        Attribute::listed("DesiredCapacity", AttrKind::Number),
        Attribute::listed("InstanceCount", AttrKind::Number),
        Attribute::listed("CreatedTime", AttrKind::Time),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/AutoScaling");
    const READ_PERMISSIONS: &'static [&'static str] = &["autoscaling:DescribeAutoScalingGroups"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["autoscaling:DescribeAutoScalingGroups"];
    const ARN_PATTERN: &'static str = "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: SCALE_TO_ZERO,
        effect: Effect::Stops,
        effort: Effort::Medium,
        restart: true,
        restores: Some("the group's minimum and desired capacity as they were (new instances are launched)"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("autoscaling.amazonaws.com", "CreateAutoScalingGroup", "autoScalingGroupName"),
    ];

    fn attribute<'a>(_: &'a Resource, g: &'a Group, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "AutoScalingGroupName" => Some(AttrValue::Str(&g.name)),
            "AutoScalingGroupARN" => Some(AttrValue::Str(&g.arn)),
            "MinSize" => Some(AttrValue::Num(f64::from(g.min))),
            "MaxSize" => Some(AttrValue::Num(f64::from(g.max))),
            "DesiredCapacity" => Some(AttrValue::Num(f64::from(g.desired))),
            "InstanceCount" => Some(AttrValue::Num(g.instance_types.len() as f64)),
            "CreatedTime" => g.created_at.map(AttrValue::Time),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, g: &Group) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("AutoScalingGroupName".to_string(), g.name.clone())]])
    }

    fn sizing(_: &Resource, _: &Group) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        Api::new(aws, region).list(None, on_progress).await
    }

    async fn describe(_: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // The listing carries everything, tags included.
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        Ok(Api::new(aws, region).list(Some(name), &|_| {}).await?.into_iter().next())
    }

    /// Its instances' on-demand Linux rates times 730 hours.
    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(g) = Self::details_of(resource).cloned() else { return };
        super::ec2_instance::price_fleet(resource, prices, &g.instance_types, now, "").await;
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).set_tags(&resource.id, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        let name = arn.rsplit("autoScalingGroupName/").next().unwrap_or(arn);
        Api::new(aws, region).remove_tags(name, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<ScaleToZero<Self>> {
        scaling::compile(node, path, errors)
    }

    /// Puts back the minimum and desired capacity it had.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        if action != SCALE_TO_ZERO {
            return Err(RestoreError::NotRestorable(format!("{action} of an Auto Scaling group cannot be undone")));
        }
        let now = Api::new(aws, &before.region).list(Some(&before.id), &|_| {}).await?.into_iter().next();
        scaling::restore::<Self>(aws, before, now, run_id).await
    }
}

impl Scalable for Groups {
    const RESIZE_PERMISSION: &'static str = "autoscaling:UpdateAutoScalingGroup";
    const MEMBERS: &'static str = "instances";

    fn sizes(g: &Group) -> (i32, i32) {
        (g.min, g.desired)
    }

    async fn resize(aws: &Aws, resource: &Resource, min: i32, desired: i32) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).resize(&resource.id, min, desired).await
    }
}

fn err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(operation: &'static str) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("autoscaling", operation, NOT_FOUND)
}

/// The Auto Scaling calls this type makes.
struct Api {
    client: aws_sdk_autoscaling::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_autoscaling, region) }
    }

    /// Every group, or the one named `only`.
    async fn list(&self, only: Option<&str>, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let region = self.client.config().region().map(|r| r.to_string()).unwrap_or_default();
        let mut pages = self.client.describe_auto_scaling_groups().set_auto_scaling_group_names(only.map(|n| vec![n.to_string()])).max_records(PAGE_SIZE).into_paginator().send();
        let mut groups = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(err("DescribeAutoScalingGroups"))?;
            groups.extend(page.auto_scaling_groups().iter().filter_map(|g| to_resource(g, &region)));
            on_page(groups.len());
        }
        Ok(groups)
    }

    async fn resize(&self, name: &str, min: i32, desired: i32) -> Result<(), AwsError> {
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(min)
            .desired_capacity(desired)
            .send()
            .await
            .map_err(err("UpdateAutoScalingGroup"))?;
        Ok(())
    }

    async fn set_tags(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        use aws_sdk_autoscaling::types::Tag;
        let tags = tags.iter().map(|(k, v)| {
            Tag::builder().resource_id(name).resource_type("auto-scaling-group").key(k).value(v).propagate_at_launch(false).build()
        });
        self.client.create_or_update_tags().set_tags(Some(tags.collect())).send().await.map_err(err("CreateOrUpdateTags"))?;
        Ok(())
    }

    async fn remove_tags(&self, name: &str, keys: &[&str]) -> Result<(), AwsError> {
        use aws_sdk_autoscaling::types::Tag;
        let tags = keys.iter().map(|k| Tag::builder().resource_id(name).resource_type("auto-scaling-group").key(*k).build());
        self.client.delete_tags().set_tags(Some(tags.collect())).send().await.map_err(err("DeleteTags"))?;
        Ok(())
    }
}

fn to_resource(g: &aws_sdk_autoscaling::types::AutoScalingGroup, region: &str) -> Option<Resource> {
    let name = g.auto_scaling_group_name()?.to_string();
    let running = |i: &&aws_sdk_autoscaling::types::Instance| {
        i.lifecycle_state().is_some_and(|s| matches!(s.as_str(), "InService" | "Pending" | "Pending:Wait" | "Pending:Proceed"))
    };
    let group = Group {
        arn: g.auto_scaling_group_arn().unwrap_or_default().to_string(),
        min: g.min_size().unwrap_or_default(),
        max: g.max_size().unwrap_or_default(),
        desired: g.desired_capacity().unwrap_or_default(),
        instance_types: g.instances().iter().filter(running).filter_map(|i| i.instance_type().map(str::to_string)).collect(),
        created_at: crate::aws::tags::time(g.created_time()),
        name: name.clone(),
    };
    let mut tags = Tags::new();
    for t in g.tags() {
        if let (Some(k), Some(v)) = (t.key(), t.value()) {
            tags.insert(k.to_string(), v.to_string());
        }
    }
    let mut resource = Resource::new(name, group.arn.clone(), region, group.created_at, Groups::wrap(group));
    resource.tags = tags;
    resource.tags_listed = true;
    resource.described = true;
    Some(resource)
}
