//! `sagemaker-mlflow-tracking-server`: SageMaker managed MLflow tracking
//! servers, billed by the hour by their size while active, used or not.
//!
//! Listing costs one ListMlflowTrackingServers per 100 servers (with their
//! status and whether they are active); tags come in bulk from the Tagging
//! API. Its size is read (one DescribeMlflowTrackingServer each) only when
//! a policy reads it.
//!
//! # Cost
//! Not priced: the hourly rate of each size is not built in yet (the
//! report says so; an unknown is never $0).
//!
//! # Actions
//! `stop`: stop the tracking server; its experiments, runs, models and
//! artifacts (in its S3 artifact store) stay, and `costguard restore
//! sagemaker-mlflow-tracking-server NAME` starts it again, as an
//! `off-hours` policy's sweeps do in the morning.
//!
//! ## Guarantees
//! - Runs only after the server is re-read, still matches, is not
//!   protected, and is journaled; one already stopped is "already done".
//!
//! ## Caveats
//! - Clients logging to it fail while it is stopped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stopping::{self, Stop, Stoppable};
use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Effect, Effort, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::PriceBook;
use crate::yaml::{DecodeError, Node};

pub struct TrackingServers;

/// The largest page ListMlflowTrackingServers serves.
const PAGE_SIZE: i32 = 100;

/// Whether a tracking server runs (and bills), as AWS says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activity {
    Active,
    Inactive,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackingServer {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub activity: Option<Activity>,
    pub mlflow_version: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
    /// From DescribeMlflowTrackingServer: `Small`, `Medium` or `Large`.
    #[serde(default)]
    pub size: Option<String>,
}

impl TrackingServer {
    fn stopped(&self) -> bool {
        self.activity == Some(Activity::Inactive)
    }
}

impl Kind for TrackingServers {
    type Details = TrackingServer;
    type Action = Stop<Self>;

    const NOUN: &'static str = "SageMaker MLflow tracking server";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-mlflow-tracking-server", "mlflow-tracking-server"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("TrackingServerName", AttrKind::String),
        Attribute::listed("TrackingServerArn", AttrKind::String),
        Attribute::listed("TrackingServerStatus", AttrKind::String),
        Attribute::listed("IsActive", AttrKind::String),
        Attribute::listed("MlflowVersion", AttrKind::String),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
        Attribute::described("TrackingServerSize", AttrKind::String),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] =
        &["sagemaker:ListMlflowTrackingServers", "sagemaker:DescribeMlflowTrackingServer", "tag:GetResources", "sagemaker:ListTags"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeMlflowTrackingServer", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:mlflow-tracking-server/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "stop",
        effect: Effect::Stops,
        effort: Effort::Medium,
        restart: true,
        restores: Some("the tracking server started again, with its experiments, runs and artifacts"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateMlflowTrackingServer", "trackingServerName"),
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "StartMlflowTrackingServer", "trackingServerName").starting(),
    ];

    fn attribute<'a>(_: &'a Resource, t: &'a TrackingServer, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "TrackingServerName" => Some(AttrValue::Str(&t.name)),
            "TrackingServerArn" => Some(AttrValue::Str(&t.arn)),
            "TrackingServerStatus" => Some(AttrValue::Str(&t.status)),
            "IsActive" => t.activity.map(|a| {
                AttrValue::Str(match a {
                    Activity::Active => "Active",
                    Activity::Inactive => "Inactive",
                })
            }),
            "MlflowVersion" => t.mlflow_version.as_deref().map(AttrValue::Str),
            "CreationTime" => t.created_at.map(AttrValue::Time),
            "LastModifiedTime" => t.modified_at.map(AttrValue::Time),
            "TrackingServerSize" => t.size.as_deref().map(AttrValue::Str),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &TrackingServer) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &TrackingServer) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let servers = Api::new(aws, region).list(on_progress).await?;
        let mut tags = aws.tagging(region).bulk("sagemaker:mlflow-tracking-server", !servers.is_empty(), false).await;
        Ok(servers
            .into_iter()
            .map(|t| {
                let mut resource = to_resource(t, region);
                resource.take_listed_tags(&mut tags, false);
                resource
            })
            .collect())
    }

    /// Reads its size when a policy reads it, and its tags when the
    /// listing could not bring them in bulk.
    async fn describe(aws: &Aws, resource: &mut Resource, wanted: &super::Wanted) -> Result<(), AwsError> {
        if wanted.contains("TrackingServerSize") {
            // Deleted since the listing: stays undescribed.
            let Some(described) = Api::new(aws, &resource.region).describe(&resource.id).await? else { return Ok(()) };
            resource.details = Self::wrap(described);
        }
        if resource.tags_listed {
            resource.described = true;
            return Ok(());
        }
        super::sagemaker::read_tags(aws, resource).await.map(|_| ())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(server) = Api::new(aws, region).describe(name).await? else { return Ok(None) };
        super::sagemaker::with_tags(aws, to_resource(server, region)).await
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        let stopped = Self::details_of(resource).is_some_and(TrackingServer::stopped);
        if stopped {
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, "stopped: no hours billed");
        }
        resource.set_cost(None, CostKind::InstanceHours, "unpriced: the hourly rates of MLflow tracking server sizes are not built in");
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

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Self::Action> {
        stopping::compile(node, path, errors)
    }

    /// Starts a tracking server costguard stopped.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        stopping::restore::<Self>(aws, action, before, run_id).await
    }
}

impl Stoppable for TrackingServers {
    const STOP_PERMISSION: &'static str = "sagemaker:StopMlflowTrackingServer";
    const START_PERMISSION: &'static str = "sagemaker:StartMlflowTrackingServer";
    const KEEPS: &'static str = "its runs and artifacts stay";

    fn stopped(t: &TrackingServer) -> bool {
        t.stopped()
    }

    async fn stop(aws: &Aws, resource: &Resource) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).stop(&resource.id).await
    }

    async fn start(aws: &Aws, resource: &Resource) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).start(&resource.id).await
    }
}

pub fn to_resource(server: TrackingServer, region: &str) -> Resource {
    let (id, arn, created_at) = (server.name.clone(), server.arn.clone(), server.created_at);
    Resource::new(id, arn, region, created_at, TrackingServers::wrap(server))
}

fn activity(a: Option<&aws_sdk_sagemaker::types::IsTrackingServerActive>) -> Option<Activity> {
    match a? {
        aws_sdk_sagemaker::types::IsTrackingServerActive::Active => Some(Activity::Active),
        aws_sdk_sagemaker::types::IsTrackingServerActive::Inactive => Some(Activity::Inactive),
        _ => None,
    }
}

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region) }
    }

    async fn list(&self, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<TrackingServer>, AwsError> {
        let mut pages = self.client.list_mlflow_tracking_servers().max_results(PAGE_SIZE).into_paginator().send();
        let mut servers = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListMlflowTrackingServers", e))?;
            servers.extend(page.tracking_server_summaries().iter().map(|t| TrackingServer {
                name: t.tracking_server_name().unwrap_or_default().to_string(),
                arn: t.tracking_server_arn().unwrap_or_default().to_string(),
                status: t.tracking_server_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                activity: activity(t.is_active()),
                mlflow_version: t.mlflow_version().map(str::to_string),
                created_at: time(t.creation_time()),
                modified_at: time(t.last_modified_time()),
                size: None,
            }));
            on_page(servers.len());
        }
        Ok(servers)
    }

    async fn describe(&self, name: &str) -> Result<Option<TrackingServer>, AwsError> {
        match self.client.describe_mlflow_tracking_server().tracking_server_name(name).send().await.map_err(|e| sagemaker_error("DescribeMlflowTrackingServer", e)) {
            Ok(t) => Ok(Some(TrackingServer {
                name: t.tracking_server_name().unwrap_or(name).to_string(),
                arn: t.tracking_server_arn().unwrap_or_default().to_string(),
                status: t.tracking_server_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                activity: activity(t.is_active()),
                mlflow_version: t.mlflow_version().map(str::to_string),
                created_at: time(t.creation_time()),
                modified_at: time(t.last_modified_time()),
                size: t.tracking_server_size().map(|s| s.as_str().to_string()),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn stop(&self, name: &str) -> Result<(), AwsError> {
        self.client.stop_mlflow_tracking_server().tracking_server_name(name).send().await.map_err(|e| sagemaker_error("StopMlflowTrackingServer", e))?;
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), AwsError> {
        self.client.start_mlflow_tracking_server().tracking_server_name(name).send().await.map_err(|e| sagemaker_error("StartMlflowTrackingServer", e))?;
        Ok(())
    }
}
