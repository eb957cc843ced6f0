//! SageMaker: endpoints (list, describe, delete, re-create), notebook
//! instances (list, describe, stop), and their tags.
//!
//! Listing is one ListEndpoints per 100 endpoints. Describing one endpoint
//! takes DescribeEndpoint (variants and counts), DescribeEndpointConfig
//! (instance types; cached per config within a client) and ListTags, so the
//! inventory describes only the endpoints a policy could still match.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_sagemaker::types::Tag;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AwsError;
use crate::resources::Tags;

const SERVICE: &str = "sagemaker";
/// The largest page ListEndpoints, ListNotebookInstances and ListTags serve.
const PAGE_SIZE: i32 = 100;

/// What ListEndpoints says about an endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointSummary {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// What DescribeEndpoint and DescribeEndpointConfig add.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointDescription {
    pub config_name: String,
    pub variants: Vec<Variant>,
}

/// One production variant: its metrics are published per variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    /// From the endpoint config; `None` for serverless variants.
    pub instance_type: Option<String>,
    pub current_instance_count: Option<i32>,
    pub desired_instance_count: Option<i32>,
    pub serverless: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notebook {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub instance_type: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// Endpoint config (by ARN-like `region/name`) -> variant instance types.
/// Configs are immutable in SageMaker, so a cached answer never goes stale;
/// the cache lives as long as the [`super::Aws`] handle (one sweep).
pub type ConfigCache = Arc<Mutex<HashMap<String, HashMap<String, Option<String>>>>>;

#[derive(Clone, Debug)]
pub struct SageMakerClient {
    client: aws_sdk_sagemaker::Client,
    region: String,
    configs: ConfigCache,
}

/// SageMaker answers "no such thing" with a ValidationException whose
/// message says so; make it `NotFound` so deletes of what is gone are
/// "already done".
fn classify(mut e: AwsError) -> AwsError {
    if e.code == "ValidationException" && (e.message.contains("Could not find") || e.message.contains("RecordNotFound")) {
        e.kind = super::ErrorKind::NotFound;
    }
    e
}

macro_rules! sdk_err {
    ($op:literal) => {
        |e| classify(AwsError::from_sdk(SERVICE, $op, &[], e))
    };
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl SageMakerClient {
    pub fn new(client: aws_sdk_sagemaker::Client, region: &str, configs: ConfigCache) -> Self {
        Self { client, region: region.to_string(), configs }
    }

    pub async fn list_endpoints(&self, mut on_page: impl FnMut(usize)) -> Result<Vec<EndpointSummary>, AwsError> {
        let mut pages = self.client.list_endpoints().max_results(PAGE_SIZE).into_paginator().send();
        let mut endpoints = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err!("ListEndpoints"))?;
            endpoints.extend(page.endpoints().iter().map(|e| EndpointSummary {
                name: e.endpoint_name().unwrap_or_default().to_string(),
                arn: e.endpoint_arn().unwrap_or_default().to_string(),
                status: e.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                created_at: time(e.creation_time()),
                modified_at: time(e.last_modified_time()),
            }));
            on_page(endpoints.len());
        }
        Ok(endpoints)
    }

    /// The endpoint as it is now, or `None` when it no longer exists.
    pub async fn describe_endpoint(&self, name: &str) -> Result<Option<(EndpointSummary, EndpointDescription)>, AwsError> {
        let out = match self.client.describe_endpoint().endpoint_name(name).send().await.map_err(sdk_err!("DescribeEndpoint")) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let summary = EndpointSummary {
            name: out.endpoint_name().unwrap_or(name).to_string(),
            arn: out.endpoint_arn().unwrap_or_default().to_string(),
            status: out.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            created_at: time(out.creation_time()),
            modified_at: time(out.last_modified_time()),
        };
        let config_name = out.endpoint_config_name().unwrap_or_default().to_string();
        let types = self.variant_types(&config_name).await?;
        let variants = out
            .production_variants()
            .iter()
            .map(|v| Variant {
                name: v.variant_name().unwrap_or_default().to_string(),
                instance_type: types.get(v.variant_name().unwrap_or_default()).cloned().flatten(),
                current_instance_count: v.current_instance_count(),
                desired_instance_count: v.desired_instance_count(),
                serverless: v.current_serverless_config().is_some(),
            })
            .collect();
        Ok(Some((summary, EndpointDescription { config_name, variants })))
    }

    /// Variant name -> instance type of an endpoint config (empty when the
    /// config is gone: the endpoint keeps running on what it was given).
    async fn variant_types(&self, config_name: &str) -> Result<HashMap<String, Option<String>>, AwsError> {
        let key = format!("{}/{config_name}", self.region);
        if let Some(cached) = self.configs.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(cached.clone());
        }
        let types: HashMap<String, Option<String>> =
            match self.client.describe_endpoint_config().endpoint_config_name(config_name).send().await.map_err(sdk_err!("DescribeEndpointConfig")) {
                Ok(out) => out
                    .production_variants()
                    .iter()
                    .map(|v| (v.variant_name().unwrap_or_default().to_string(), v.instance_type().map(|t| t.as_str().to_string())))
                    .collect(),
                Err(e) if e.is_not_found() => HashMap::new(),
                Err(e) => return Err(e),
            };
        self.configs.lock().unwrap_or_else(PoisonError::into_inner).insert(key, types.clone());
        Ok(types)
    }

    pub async fn delete_endpoint(&self, name: &str) -> Result<(), AwsError> {
        self.client.delete_endpoint().endpoint_name(name).send().await.map_err(sdk_err!("DeleteEndpoint"))?;
        Ok(())
    }

    pub async fn delete_endpoint_config(&self, name: &str) -> Result<(), AwsError> {
        self.client.delete_endpoint_config().endpoint_config_name(name).send().await.map_err(sdk_err!("DeleteEndpointConfig"))?;
        Ok(())
    }

    pub async fn endpoint_config_exists(&self, name: &str) -> Result<bool, AwsError> {
        match self.client.describe_endpoint_config().endpoint_config_name(name).send().await.map_err(sdk_err!("DescribeEndpointConfig")) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Re-creates an endpoint from its config; returns the new ARN.
    pub async fn create_endpoint(&self, name: &str, config_name: &str, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .create_endpoint()
            .endpoint_name(name)
            .endpoint_config_name(config_name)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(sdk_err!("CreateEndpoint"))?;
        Ok(out.endpoint_arn().unwrap_or_default().to_string())
    }

    pub async fn list_notebooks(&self, mut on_page: impl FnMut(usize)) -> Result<Vec<Notebook>, AwsError> {
        let mut pages = self.client.list_notebook_instances().max_results(PAGE_SIZE).into_paginator().send();
        let mut notebooks = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err!("ListNotebookInstances"))?;
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

    pub async fn describe_notebook(&self, name: &str) -> Result<Option<Notebook>, AwsError> {
        match self.client.describe_notebook_instance().notebook_instance_name(name).send().await.map_err(sdk_err!("DescribeNotebookInstance")) {
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

    pub async fn stop_notebook(&self, name: &str) -> Result<(), AwsError> {
        self.client.stop_notebook_instance().notebook_instance_name(name).send().await.map_err(sdk_err!("StopNotebookInstance"))?;
        Ok(())
    }

    pub async fn start_notebook(&self, name: &str) -> Result<(), AwsError> {
        self.client.start_notebook_instance().notebook_instance_name(name).send().await.map_err(sdk_err!("StartNotebookInstance"))?;
        Ok(())
    }

    pub async fn list_tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let mut pages = self.client.list_tags().resource_arn(arn).max_results(PAGE_SIZE).into_paginator().send();
        let mut tags = Tags::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err!("ListTags"))?;
            tags.extend(page.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())));
        }
        Ok(tags)
    }

    pub async fn add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client.add_tags().resource_arn(arn).set_tags(Some(sdk_tags(tags))).send().await.map_err(sdk_err!("AddTags"))?;
        Ok(())
    }

    pub async fn delete_tags(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client
            .delete_tags()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
            .send()
            .await
            .map_err(sdk_err!("DeleteTags"))?;
        Ok(())
    }
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}
