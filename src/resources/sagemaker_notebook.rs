//! `sagemaker-notebook`: SageMaker notebook instances.
//!
//! Listing costs one ListNotebookInstances per 100 notebooks and carries
//! everything but tags; tags (ListTags) are read only for notebooks some
//! policy could still match. A notebook bills its instance hourly while
//! `InService`; stopped, it bills only its storage volume.
//!
//! # Actions
//! `stop`: stop the notebook instance; its storage volume and everything
//! on it are kept, and `costguard restore sagemaker-notebook NAME` starts it.
//!
//! ```yaml
//! actions:
//!   - type: mark
//!     days: 3
//!   - stop
//! ```
//!
//! ## Guarantees
//! - Runs only after the notebook is re-read, still matches, is not
//!   protected, and is journaled; one already stopped or gone is "already done".
//!
//! ## Caveats
//! - Unsaved state in the notebook's memory (running kernels) is lost.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sagemaker::{self as sm_prices, Use};
use super::stopping::{self, Stop, Stoppable};
use super::sizes::Sizing;
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{DecodeError, Node};

pub struct Notebooks;

/// The largest page ListNotebookInstances serves.
const PAGE_SIZE: i32 = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notebook {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub instance_type: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
}

impl Kind for Notebooks {
    type Details = Notebook;
    type Action = Stop<Self>;

    const NOUN: &'static str = "SageMaker notebook";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-notebook"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("NotebookInstanceName", AttrKind::String),
        Attribute::listed("NotebookInstanceArn", AttrKind::String),
        Attribute::listed("NotebookInstanceStatus", AttrKind::String),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
    ];
    /// Notebooks publish no usage metrics.
    const METRIC_NAMESPACE: Option<&'static str> = None;
    /// The listing and the tags in bulk have everything (ListTags one by one
    /// only when the Tagging API cannot be read).
    const READ_PERMISSIONS: &'static [&'static str] = &["sagemaker:ListNotebookInstances", "tag:GetResources", "sagemaker:ListTags"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeNotebookInstance", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:notebook-instance/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "stop",
        effect: Effect::Stops,
        effort: Effort::Medium,
        restart: true,
        restores: Some("the notebook started again, with its ML storage volume"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateNotebookInstance", "notebookInstanceName"),
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "StartNotebookInstance", "notebookInstanceName").starting(),
    ];

    fn attribute<'a>(_: &'a Resource, n: &'a Notebook, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "NotebookInstanceName" => Some(AttrValue::Str(&n.name)),
            "NotebookInstanceArn" => Some(AttrValue::Str(&n.arn)),
            "NotebookInstanceStatus" => Some(AttrValue::Str(&n.status)),
            "InstanceType" => n.instance_type.as_deref().map(AttrValue::Str),
            "CreationTime" => n.created_at.map(AttrValue::Time),
            "LastModifiedTime" => n.modified_at.map(AttrValue::Time),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &Notebook) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    fn sizing(_: &Resource, _: &Notebook) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let notebooks = Api::new(aws, region).list(on_progress).await?;
        // Tags in bulk make the listing complete: no call per notebook.
        let mut tags = aws.tagging(region).bulk("sagemaker:notebook-instance", !notebooks.is_empty(), false).await;
        Ok(notebooks
            .into_iter()
            .map(|n| {
                let mut resource = to_resource(n, region);
                resource.take_listed_tags(&mut tags, true);
                resource
            })
            .collect())
    }

    /// Adds the tags, when the listing could not bring them in bulk.
    async fn describe(aws: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // Deleted since the listing: stays undescribed, never acted on.
        super::sagemaker::read_tags(aws, resource).await.map(|_| ())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(notebook) = Api::new(aws, region).describe(name).await? else { return Ok(None) };
        super::sagemaker::with_tags(aws, to_resource(notebook, region)).await
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(n) = Self::details_of(resource).cloned() else { return };
        if n.status != "InService" && n.status != "Pending" {
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, format!("status {}: no instance hours billed", n.status));
        }
        let Some(instance_type) = n.instance_type else {
            return resource.set_cost(None, CostKind::InstanceHours, "instance type unknown");
        };
        match sm_prices::hourly(prices, Use::Notebook, &resource.region, &instance_type, now).await {
            Some(price) => resource.set_cost(Some(price.usd * HOURS_PER_MONTH), CostKind::InstanceHours, format!("{} x {HOURS_PER_MONTH} h", price.describe())),
            None => resource.set_cost(None, CostKind::InstanceHours, format!("unpriced: no price known for {instance_type}")),
        }
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

    /// Starts a notebook costguard stopped.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        stopping::restore::<Self>(aws, action, before, run_id).await
    }
}

impl Stoppable for Notebooks {
    const STOP_PERMISSION: &'static str = "sagemaker:StopNotebookInstance";
    const START_PERMISSION: &'static str = "sagemaker:StartNotebookInstance";
    const KEEPS: &'static str = "its storage is kept";

    fn stopped(n: &Notebook) -> bool {
        n.status == "Stopped" || n.status == "Stopping"
    }

    async fn stop(aws: &Aws, resource: &Resource) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).stop(&resource.id).await
    }

    async fn start(aws: &Aws, resource: &Resource) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).start(&resource.id).await
    }
}

pub fn to_resource(notebook: Notebook, region: &str) -> Resource {
    let (id, arn, created_at) = (notebook.name.clone(), notebook.arn.clone(), notebook.created_at);
    Resource::new(id, arn, region, created_at, Notebooks::wrap(notebook))
}

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region) }
    }

    async fn list(&self, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Notebook>, AwsError> {
        let mut pages = self.client.list_notebook_instances().max_results(PAGE_SIZE).into_paginator().send();
        let mut notebooks = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListNotebookInstances", e))?;
            notebooks.extend(page.notebook_instances().iter().map(|n| Notebook {
                name: n.notebook_instance_name().unwrap_or_default().to_string(),
                arn: n.notebook_instance_arn().unwrap_or_default().to_string(),
                status: n.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                instance_type: n.instance_type().map(|t| t.as_str().to_string()),
                created_at: time(n.creation_time()),
                modified_at: time(n.last_modified_time()),
            }));
            on_page(notebooks.len());
        }
        Ok(notebooks)
    }

    async fn describe(&self, name: &str) -> Result<Option<Notebook>, AwsError> {
        match self.client.describe_notebook_instance().notebook_instance_name(name).send().await.map_err(|e| sagemaker_error("DescribeNotebookInstance", e)) {
            Ok(n) => Ok(Some(Notebook {
                name: n.notebook_instance_name().unwrap_or(name).to_string(),
                arn: n.notebook_instance_arn().unwrap_or_default().to_string(),
                status: n.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                instance_type: n.instance_type().map(|t| t.as_str().to_string()),
                created_at: time(n.creation_time()),
                modified_at: time(n.last_modified_time()),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn stop(&self, name: &str) -> Result<(), AwsError> {
        self.client.stop_notebook_instance().notebook_instance_name(name).send().await.map_err(|e| sagemaker_error("StopNotebookInstance", e))?;
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), AwsError> {
        self.client.start_notebook_instance().notebook_instance_name(name).send().await.map_err(|e| sagemaker_error("StartNotebookInstance", e))?;
        Ok(())
    }
}
