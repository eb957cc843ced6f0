//! `sagemaker-hyperpod-cluster`: SageMaker HyperPod clusters, which bill
//! every instance of every instance group around the clock, running jobs
//! or not.
//!
//! Listing costs one ListClusters per 100 clusters and one DescribeCluster
//! per cluster (the listing lacks the instance groups, which the price
//! needs); tags come in bulk from the Tagging API.
//!
//! # Cost
//! Each instance group's current count x its instance type's SageMaker
//! on-demand rate (the training rates of the built-in table, or the Price
//! List's with `--prices api`) x 730 h. HyperPod's own rates are not in
//! the built-in table: the basis says which rate was used, and an instance
//! type with none leaves the cluster unpriced, never $0.
//!
//! # Actions
//! None: deleting a cluster (its nodes, their local storage, its
//! scheduler's state) is a person's decision. Policies notify its owner
//! with the monthly cost.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sagemaker::{self as sm_prices, Use};
use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{DecodeError, Node};

pub struct Clusters;

/// The largest page ListClusters serves.
const PAGE_SIZE: i32 = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceGroup {
    pub name: String,
    pub instance_type: String,
    pub current: i32,
    pub target: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub instance_groups: Vec<InstanceGroup>,
    /// `Eks` when EKS orchestrates it; absent for Slurm.
    pub orchestrator: Option<String>,
}

impl Cluster {
    fn instances(&self) -> i32 {
        self.instance_groups.iter().map(|g| g.current).sum()
    }
}

impl Kind for Clusters {
    type Details = Cluster;
    type Action = super::no_action::NoAction;

    const NOUN: &'static str = "SageMaker HyperPod cluster";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-cluster", "hyperpod-cluster"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("ClusterName", AttrKind::String),
        Attribute::listed("ClusterArn", AttrKind::String),
        Attribute::listed("ClusterStatus", AttrKind::String),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("InstanceCount", AttrKind::Number),
        Attribute::listed("InstanceGroupCount", AttrKind::Number),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("Accelerated", AttrKind::Bool),
        Attribute::listed("Orchestrator", AttrKind::String),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] = &["sagemaker:ListClusters", "sagemaker:DescribeCluster", "tag:GetResources", "sagemaker:ListTags"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeCluster", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:cluster/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateCluster", "clusterName"),
    ];

    fn attribute<'a>(_: &'a Resource, c: &'a Cluster, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "ClusterName" => Some(AttrValue::Str(&c.name)),
            "ClusterArn" => Some(AttrValue::Str(&c.arn)),
            "ClusterStatus" => Some(AttrValue::Str(&c.status)),
            "CreationTime" => c.created_at.map(AttrValue::Time),
            "InstanceCount" => Some(AttrValue::Num(f64::from(c.instances()))),
            "InstanceGroupCount" => Some(AttrValue::Num(c.instance_groups.len() as f64)),
            "InstanceType" => c.instance_groups.first().map(|g| AttrValue::Str(&g.instance_type)),
            "Accelerated" => Some(AttrValue::Bool(c.instance_groups.iter().any(|g| super::sizes::is_accelerated(&g.instance_type)))),
            "Orchestrator" => c.orchestrator.as_deref().map(AttrValue::Str),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &Cluster) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &Cluster) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let names = api.list().await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut tags = aws.tagging(region).bulk("sagemaker:cluster", true, false).await;
        let mut clusters = Vec::with_capacity(names.len());
        for name in names {
            // Deleted between the two calls: not listed.
            let Some(cluster) = api.describe(&name).await? else { continue };
            let mut resource = to_resource(cluster, region);
            resource.take_listed_tags(&mut tags, true);
            clusters.push(resource);
            on_progress(clusters.len());
        }
        Ok(clusters)
    }

    /// Adds the tags, when the listing could not bring them in bulk.
    async fn describe(aws: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // Deleted since the listing: stays undescribed, never acted on.
        super::sagemaker::read_tags(aws, resource).await.map(|_| ())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(cluster) = Api::new(aws, region).describe(name).await? else { return Ok(None) };
        super::sagemaker::with_tags(aws, to_resource(cluster, region)).await
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(c) = Self::details_of(resource).cloned() else { return };
        let mut total = 0.0;
        let mut parts = Vec::new();
        for g in c.instance_groups.iter().filter(|g| g.current > 0) {
            let Some(price) = sm_prices::hourly(prices, Use::Training, &resource.region, &g.instance_type, now).await else {
                let why = format!("unpriced: no price known for {} (instance group {})", g.instance_type, g.name);
                return resource.set_cost(None, CostKind::InstanceHours, why);
            };
            total += price.usd * f64::from(g.current) * HOURS_PER_MONTH;
            parts.push(format!("{} x {} at the SageMaker training rate", g.current, price.describe()));
        }
        if parts.is_empty() {
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, "no instances running");
        }
        resource.set_cost(Some(total), CostKind::InstanceHours, format!("{} x {HOURS_PER_MONTH} h", parts.join(" + ")));
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

pub fn to_resource(cluster: Cluster, region: &str) -> Resource {
    let (id, arn, created_at) = (cluster.name.clone(), cluster.arn.clone(), cluster.created_at);
    Resource::new(id, arn, region, created_at, Clusters::wrap(cluster))
}

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region) }
    }

    async fn list(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self.client.list_clusters().max_results(PAGE_SIZE).into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListClusters", e))?;
            names.extend(page.cluster_summaries().iter().filter_map(|c| c.cluster_name()).map(str::to_string));
        }
        Ok(names)
    }

    async fn describe(&self, name: &str) -> Result<Option<Cluster>, AwsError> {
        match self.client.describe_cluster().cluster_name(name).send().await.map_err(|e| sagemaker_error("DescribeCluster", e)) {
            Ok(c) => Ok(Some(Cluster {
                name: c.cluster_name().unwrap_or(name).to_string(),
                arn: c.cluster_arn().unwrap_or_default().to_string(),
                status: c.cluster_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                created_at: time(c.creation_time()),
                instance_groups: c
                    .instance_groups()
                    .iter()
                    .map(|g| InstanceGroup {
                        name: g.instance_group_name().unwrap_or_default().to_string(),
                        instance_type: g.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                        current: g.current_count().unwrap_or(0),
                        target: g.target_count().unwrap_or(0),
                    })
                    .collect(),
                orchestrator: c.orchestrator().and_then(|o| o.eks()).map(|_| "Eks".to_string()),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
