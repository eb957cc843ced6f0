//! `eks-node-group`: EKS managed node groups (a dev cluster's GPU nodes).
//!
//! Listing costs one ListClusters, one ListNodegroups per cluster and one
//! DescribeNodegroup per node group (EKS lists names only); the
//! description carries the sizes, instance types and tags. A node group
//! bills its nodes: priced as its desired size at its first instance
//! type's on-demand Linux rate (an upper bound for Spot capacity).
//! Its id is `cluster/nodegroup`.
//!
//! # Actions
//! `scale-to-zero`: minimum and desired size to 0 (the maximum stays, as
//! EKS requires at least 1), so its nodes are drained and terminated; the
//! node group, its launch template and labels stay. `costguard restore
//! eks-node-group CLUSTER/NODEGROUP` puts back the sizes it had, and an
//! `off-hours` policy's sweeps do so in the morning.
//!
//! ## Caveats
//! - Pods on those nodes are evicted; what they need to run again (a
//!   PodDisruptionBudget that blocks the drain) is the cluster's business:
//!   EKS reports a failed update, and the report shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::scaling::{self, Scalable, ScaleToZero, SCALE_TO_ZERO};
use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, Dimensions, Effect, Effort, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::PriceBook;
use crate::yaml::{DecodeError, Node};

pub struct NodeGroups;

/// What EKS answers for a cluster or node group that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeGroup {
    pub cluster: String,
    pub name: String,
    pub arn: String,
    pub status: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub instance_types: Vec<String>,
    /// `ON_DEMAND` or `SPOT`.
    pub capacity_type: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl Kind for NodeGroups {
    type Details = NodeGroup;
    type Action = ScaleToZero<Self>;

    const NOUN: &'static str = "EKS node group";
    const ALIASES: &'static [&'static str] = &["aws.eks-nodegroup", "eks-nodegroup"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("ClusterName", AttrKind::String),
        Attribute::listed("NodegroupName", AttrKind::String),
        Attribute::listed("NodegroupArn", AttrKind::String),
        Attribute::listed("Status", AttrKind::String),
        Attribute::listed("MinSize", AttrKind::Number),
        Attribute::listed("MaxSize", AttrKind::Number),
        Attribute::listed("DesiredSize", AttrKind::Number),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("CapacityType", AttrKind::String),
        Attribute::listed("CreatedAt", AttrKind::Time),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] = &["eks:ListClusters", "eks:ListNodegroups", "eks:DescribeNodegroup"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["eks:DescribeNodegroup"];
    const ARN_PATTERN: &'static str = "arn:aws:eks:*:*:nodegroup/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["eks:TagResource", "eks:UntagResource"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: SCALE_TO_ZERO,
        effect: Effect::Stops,
        effort: Effort::Medium,
        restart: true,
        restores: Some("the node group's minimum and desired size as they were (new nodes join)"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("eks.amazonaws.com", "CreateNodegroup", "nodegroupName"),
    ];

    /// A node group's id is `cluster/nodegroup`.
    fn created_ids(by: &super::created::CreatedBy, record: &serde_json::Value) -> Vec<String> {
        let cluster = super::created::field(record, super::created::Part::Request, "clusterName");
        cluster.map(|cluster| by.ids(record).into_iter().map(|name| format!("{cluster}/{name}")).collect()).unwrap_or_default()
    }

    fn attribute<'a>(_: &'a Resource, g: &'a NodeGroup, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "ClusterName" => Some(AttrValue::Str(&g.cluster)),
            "NodegroupName" => Some(AttrValue::Str(&g.name)),
            "NodegroupArn" => Some(AttrValue::Str(&g.arn)),
            "Status" => Some(AttrValue::Str(&g.status)),
            "MinSize" => Some(AttrValue::Num(f64::from(g.min))),
            "MaxSize" => Some(AttrValue::Num(f64::from(g.max))),
            "DesiredSize" => Some(AttrValue::Num(f64::from(g.desired))),
            "InstanceType" => g.instance_types.first().map(|t| AttrValue::Str(t)),
            "CapacityType" => g.capacity_type.as_deref().map(AttrValue::Str),
            "CreatedAt" => g.created_at.map(AttrValue::Time),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &NodeGroup) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &NodeGroup) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let mut groups = Vec::new();
        for cluster in api.clusters().await? {
            for name in api.node_groups(&cluster).await? {
                // Deleted between the two calls: not listed.
                if let Some(g) = api.describe(&cluster, &name, region).await? {
                    groups.push(g);
                }
                on_progress(groups.len());
            }
        }
        Ok(groups)
    }

    async fn describe(_: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // The listing described every node group, tags included.
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, id: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some((cluster, name)) = id.split_once('/') else { return Ok(None) };
        Api::new(aws, region).describe(cluster, name, region).await
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(g) = Self::details_of(resource).cloned() else { return };
        let Some(instance_type) = g.instance_types.first() else {
            return resource.set_cost(None, super::CostKind::InstanceHours, "unpriced: its launch template names the instance type");
        };
        let nodes = vec![instance_type.clone(); usize::try_from(g.desired).unwrap_or(0)];
        let note = if g.capacity_type.as_deref() == Some("SPOT") { "; Spot capacity: the on-demand rate is an upper bound" } else { "" };
        super::ec2_instance::price_fleet(resource, prices, &nodes, now, note).await;
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

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<ScaleToZero<Self>> {
        scaling::compile(node, path, errors)
    }

    /// Puts back the minimum and desired size it had.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        let Some(old) = Self::details_of(before) else { return Err(RestoreError::Unsupported(Self::TYPE)) };
        if action != SCALE_TO_ZERO {
            return Err(RestoreError::NotRestorable(format!("{action} of an EKS node group cannot be undone")));
        }
        let now = Api::new(aws, &before.region).describe(&old.cluster, &old.name, &before.region).await?;
        scaling::restore::<Self>(aws, before, now, run_id).await
    }
}

impl Scalable for NodeGroups {
    const RESIZE_PERMISSION: &'static str = "eks:UpdateNodegroupConfig";
    const MEMBERS: &'static str = "nodes";

    fn sizes(g: &NodeGroup) -> (i32, i32) {
        (g.min, g.desired)
    }

    /// EKS wants a maximum of at least 1 and at least the desired size.
    async fn resize(aws: &Aws, resource: &Resource, min: i32, desired: i32) -> Result<(), AwsError> {
        let Some(g) = Self::details_of(resource) else { return Ok(()) };
        Api::new(aws, &resource.region).resize(&g.cluster, &g.name, min, desired, g.max.max(desired).max(1)).await
    }
}

fn err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(operation: &'static str) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("eks", operation, NOT_FOUND)
}

/// The EKS calls this type makes.
struct Api {
    client: aws_sdk_eks::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_eks, region) }
    }

    async fn clusters(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self.client.list_clusters().max_results(100).into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            names.extend(page.map_err(err("ListClusters"))?.clusters().iter().cloned());
        }
        Ok(names)
    }

    async fn node_groups(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self.client.list_nodegroups().cluster_name(cluster).max_results(100).into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            match page.map_err(err("ListNodegroups")) {
                Ok(page) => names.extend(page.nodegroups().iter().cloned()),
                // The cluster went away since it was listed.
                Err(e) if e.is_not_found() => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        }
        Ok(names)
    }

    async fn describe(&self, cluster: &str, name: &str, region: &str) -> Result<Option<Resource>, AwsError> {
        let out = match self.client.describe_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await.map_err(err("DescribeNodegroup")) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(g) = out.nodegroup() else { return Ok(None) };
        let scaling = g.scaling_config();
        let group = NodeGroup {
            cluster: cluster.to_string(),
            name: name.to_string(),
            arn: g.nodegroup_arn().unwrap_or_default().to_string(),
            status: g.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            min: scaling.and_then(|s| s.min_size()).unwrap_or_default(),
            max: scaling.and_then(|s| s.max_size()).unwrap_or_default(),
            desired: scaling.and_then(|s| s.desired_size()).unwrap_or_default(),
            instance_types: g.instance_types().to_vec(),
            capacity_type: g.capacity_type().map(|c| c.as_str().to_string()),
            created_at: g.created_at().and_then(|t| DateTime::from_timestamp(t.secs(), 0)),
        };
        let mut tags = Tags::new();
        for (k, v) in g.tags().into_iter().flatten() {
            tags.insert(k.clone(), v.clone());
        }
        let mut resource = Resource::new(format!("{cluster}/{name}"), group.arn.clone(), region, group.created_at, NodeGroups::wrap(group));
        resource.tags = tags;
        resource.tags_listed = true;
        resource.described = true;
        Ok(Some(resource))
    }

    async fn resize(&self, cluster: &str, name: &str, min: i32, desired: i32, max: i32) -> Result<(), AwsError> {
        let scaling = aws_sdk_eks::types::NodegroupScalingConfig::builder().min_size(min).desired_size(desired).max_size(max).build();
        self.client
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .scaling_config(scaling)
            .send()
            .await
            .map_err(err("UpdateNodegroupConfig"))?;
        Ok(())
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self.client.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(err("TagResource"))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect())).send().await.map_err(err("UntagResource"))?;
        Ok(())
    }
}
