//! `sagemaker-endpoint`: SageMaker real-time inference endpoints.
//!
//! Listing costs one ListEndpoints per 100 endpoints and one
//! `tag:GetResources` per 100 tagged endpoints (tags in bulk). An endpoint
//! is described (DescribeEndpoint, DescribeEndpointConfig once per config
//! and sweep) only when some policy could still match it from its listing
//! and tags, because variants and instance types are not in them. Re-reads
//! before a change read tags with ListTags, which is never stale.
//!
//! Its cost is the sum over variants of the instance's hourly price times
//! the current instance count times 730 hours; serverless variants bill
//! per request and count as $0 while idle.
//!
//! # Actions
//! `delete`: delete the endpoint, keeping what it needs to come back.
//!
//! ```yaml
//! actions:
//!   - type: mark
//!     days: 7
//!   - type: delete
//!     delete-config: false   # the default: keep the endpoint config and model
//! ```
//!
//! ## Guarantees
//! - Runs only after the endpoint is re-read, still matches, is not
//!   protected, and its full description is journaled.
//! - The endpoint config and model are kept by default, so
//!   `costguard restore sagemaker-endpoint NAME` can bring it back (same
//!   name, config and tags).
//! - An endpoint already gone is "already done", not a failure.
//!
//! ## Caveats
//! - `delete-config: true` also deletes the endpoint config; a restore then
//!   needs the config re-created first.
//! - Whoever calls the endpoint gets errors until it is restored.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sagemaker::{self as sm_prices, Use};
use super::accelerators::GpuSource;
use super::sizes::{self, Assessment, Sizing, SizingPart};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, sagemaker_tags, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{self, DecodeError, Node};

pub struct Endpoints;

/// The largest page ListEndpoints serves.
const PAGE_SIZE: i32 = 100;
/// Statuses in which an endpoint's instances are running and billed.
const BILLED: &[&str] = &["InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    #[serde(flatten)]
    pub summary: EndpointSummary,
    /// `None` until described.
    pub description: Option<EndpointDescription>,
}

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

impl Kind for Endpoints {
    type Details = Endpoint;
    type Action = Action;

    const NOUN: &'static str = "SageMaker endpoint";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-endpoint"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("EndpointName", AttrKind::String),
        Attribute::listed("EndpointArn", AttrKind::String),
        Attribute::listed("EndpointStatus", AttrKind::String),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
        Attribute::described("EndpointConfigName", AttrKind::String),
        Attribute::described("VariantCount", AttrKind::Number),
        Attribute::described("InstanceCount", AttrKind::Number),
        Attribute::described("InstanceType", AttrKind::String),
        Attribute::described("Accelerated", AttrKind::Bool),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/SageMaker");
    const READ_PERMISSIONS: &'static [&'static str] =
        &["sagemaker:ListEndpoints", "tag:GetResources", "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:ListTags"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:endpoint/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "delete",
        effect: Effect::Removes,
        effort: Effort::Medium,
        restart: true,
        restores: Some("the endpoint re-created under its name from its endpoint config (kept), model and tags"),
        reopens: None,
    }];
    const SIZABLE: bool = true;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateEndpoint", "endpointName"),
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "UpdateEndpoint", "endpointName"),
    ];
    const SERVES_MODELS: bool = true;
    const SERIES_BY: Option<&'static [&'static str]> = Some(&["EndpointName", "VariantName"]);
    const SIZING_CPU: Option<(&'static str, &'static str)> = Some(("/aws/sagemaker/Endpoints", "CPUUtilization"));

    fn attribute<'a>(_: &'a Resource, e: &'a Endpoint, name: &str) -> Option<AttrValue<'a>> {
        let described = e.description.as_ref();
        match name {
            "EndpointName" => Some(AttrValue::Str(&e.summary.name)),
            "EndpointArn" => Some(AttrValue::Str(&e.summary.arn)),
            "EndpointStatus" => Some(AttrValue::Str(&e.summary.status)),
            "CreationTime" => e.summary.created_at.map(AttrValue::Time),
            "LastModifiedTime" => e.summary.modified_at.map(AttrValue::Time),
            "EndpointConfigName" => described.map(|d| AttrValue::Str(&d.config_name)),
            "VariantCount" => described.map(|d| AttrValue::Num(d.variants.len() as f64)),
            "InstanceCount" => described.map(|d| AttrValue::Num(d.variants.iter().filter_map(|v| v.current_instance_count).map(f64::from).sum())),
            "InstanceType" => described.and_then(|d| d.variants.iter().find_map(|v| v.instance_type.as_deref())).map(AttrValue::Str),
            // Any variant on GPUs, Inferentia or Trainium.
            "Accelerated" => described.map(|d| {
                AttrValue::Bool(d.variants.iter().filter_map(|v| v.instance_type.as_deref()).any(sizes::is_accelerated))
            }),
            _ => None,
        }
    }

    /// One series per variant: SageMaker publishes endpoint metrics per
    /// `EndpointName` *and* `VariantName`; the endpoint name alone matches nothing.
    fn metric_series(_: &Resource, e: &Endpoint) -> Option<Vec<Dimensions>> {
        let description = e.description.as_ref()?;
        Some(
            description
                .variants
                .iter()
                .map(|v| vec![("EndpointName".to_string(), e.summary.name.clone()), ("VariantName".to_string(), v.name.clone())])
                .collect(),
        )
    }

    /// Each instance-backed variant; its load is per instance in
    /// `/aws/sagemaker/Endpoints`, where CPU sums the cores and
    /// `GPUUtilization` sums the GPUs (0-100 each).
    fn sizing(resource: &Resource, e: &Endpoint) -> Option<Sizing> {
        let series = Self::metric_series(resource, e)?;
        let mut any_gpu = false;
        let parts = e
            .description
            .iter()
            .flat_map(|d| d.variants.iter().enumerate())
            .filter(|(_, v)| !v.serverless)
            .filter_map(|(i, v)| {
                let instance_type = v.instance_type.clone()?;
                let count = v.current_instance_count.unwrap_or(0).max(1);
                let vcpus = sizes::named_vcpus(&instance_type).unwrap_or(1.0);
                let gpu_series = if sizes::accelerated_type(&instance_type).is_some() { vec![series[i].clone()] } else { Vec::new() };
                any_gpu |= !gpu_series.is_empty();
                Some(SizingPart {
                    name: v.name.clone(),
                    instance_type,
                    count,
                    series: i,
                    // One sample a minute from each instance.
                    sample_secs: 60.0 / f64::from(count),
                    cpu_full_scale: 100.0 * vcpus,
                    min_count: count.min(2),
                    gpu_series,
                    gpu_sample_secs: 60.0 / f64::from(count),
                    billed_hours: None,
                })
            })
            .collect();
        Some(Sizing {
            cpu_namespace: "/aws/sagemaker/Endpoints",
            cpu_series: series.clone(),
            memory_namespace: "/aws/sagemaker/Endpoints",
            memory_metric: "MemoryUtilization",
            memory_series: series,
            parts,
            gpu: any_gpu.then(|| GpuSource::SageMaker { namespace: "/aws/sagemaker/Endpoints".to_string() }),
        })
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let endpoints = Api::new(aws, region).list(on_progress).await?;
        // Tags in bulk: the protection tag, tag filters and owners decide
        // before any describe. Untagged endpoints are not in the answer.
        let mut tags = aws.tagging(region).bulk("sagemaker:endpoint", !endpoints.is_empty(), false).await;
        Ok(endpoints
            .into_iter()
            .map(|summary| {
                let mut resource = to_resource(summary, None, region);
                resource.take_listed_tags(&mut tags, false);
                resource
            })
            .collect())
    }

    /// Adds variants and instance types (and tags, when the listing could
    /// not bring them). An endpoint deleted since the listing stays
    /// undescribed (and so is never acted on).
    async fn describe(aws: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        if !resource.tags_listed {
            let Some(fresh) = read(aws, &resource.region, &resource.id).await? else { return Ok(()) };
            resource.tags = fresh.tags;
            resource.details = fresh.details;
            resource.described = true;
            return Ok(());
        }
        let Some((summary, description)) = Api::new(aws, &resource.region).describe(&resource.id).await? else { return Ok(()) };
        resource.details = Self::wrap(Endpoint { summary, description: Some(description) });
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        read(aws, region, name).await
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(e) = Self::details_of(resource) else { return };
        let Some(description) = e.description.clone() else { return };
        if !BILLED.contains(&e.summary.status.as_str()) {
            let basis = format!("status {}: no instance hours billed", e.summary.status);
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, basis);
        }
        let mut total = 0.0;
        let mut parts = Vec::new();
        for v in &description.variants {
            if v.serverless {
                parts.push(format!("{}: serverless, billed per request", v.name));
                continue;
            }
            let count = v.current_instance_count.unwrap_or(0);
            let Some(instance_type) = &v.instance_type else {
                return resource.set_cost(None, CostKind::InstanceHours, format!("variant {}: instance type unknown", v.name));
            };
            let Some(price) = sm_prices::hourly(prices, Use::Hosting, &resource.region, instance_type, now).await else {
                return resource.set_cost(None, CostKind::InstanceHours, format!("unpriced: no price known for {instance_type}"));
            };
            total += price.usd * f64::from(count) * HOURS_PER_MONTH;
            parts.push(format!("{}: {count} x {} x {HOURS_PER_MONTH} h", v.name, price.describe()));
        }
        resource.set_cost(Some(total), CostKind::InstanceHours, parts.join("; "));
    }

    /// The sizes of each variant's family no larger than it, where the price
    /// book knows a price (a size with no price is not offered, or not known).
    async fn prepare_sizes(ctx: &sizes::SizeContext<'_>, resources: Vec<&mut Resource>) -> Result<(), AwsError> {
        let sizes::SizeContext { region, prices, now, .. } = *ctx;
        let types = |r: &Resource| -> Vec<String> {
            Self::details_of(r).map(|e| e.description.iter().flat_map(|d| d.variants.iter().filter_map(|v| v.instance_type.clone())).collect()).unwrap_or_default()
        };
        sm_prices::prepare_family_sizes(resources, types, Use::Hosting, region, prices, now).await;
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        aws.sagemaker_tags(&resource.region).add(&resource.arn, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        aws.sagemaker_tags(region).delete(arn, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
        match yaml::decode::<ActionSpec>(node, path) {
            Ok(ActionSpec::Delete(spec)) => Some(Action::Delete(Delete { delete_config: spec.delete_config })),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// Re-creates a deleted endpoint: same name, endpoint config and tags
    /// (without costguard's mark), as journaled right before the deletion.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        let Some(endpoint) = Self::details_of(before) else { return Err(RestoreError::Unsupported(Self::TYPE)) };
        if action != "delete" {
            return Err(RestoreError::NotRestorable(format!("{action} of an endpoint cannot be undone")));
        }
        let api = Api::new(aws, &before.region);
        let name = &endpoint.summary.name;
        if api.describe(name).await?.is_some() {
            return Err(RestoreError::AlreadyExists { resource_type: Self::TYPE, name: name.clone(), region: before.region.to_string() });
        }
        let config = endpoint.description.as_ref().map(|d| d.config_name.clone()).unwrap_or_default();
        if config.is_empty() || !api.config_exists(&config).await? {
            return Err(RestoreError::NotRestorable(format!(
                "endpoint config {config} no longer exists (deleted with `delete-config: true`, or by hand); re-create it, then run restore again"
            )));
        }
        let mut tags = before.tags.clone();
        tags.remove(super::MARK_TAG);
        api.create(name, &config, &tags).await?;
        Ok(format!("re-created endpoint {name} in {} from endpoint config {config} with {} tags (deleted by run {run_id})", before.region, tags.len()))
    }
}

/// The endpoint as it is now, described, with its tags; `None` when gone.
async fn read(aws: &Aws, region: &str, name: &str) -> Result<Option<Resource>, AwsError> {
    let api = Api::new(aws, region);
    let Some((summary, description)) = api.describe(name).await? else { return Ok(None) };
    let mut resource = to_resource(summary, Some(description), region);
    let Some(tags) = aws.sagemaker_tags(region).list_unless_gone(&resource.arn).await? else { return Ok(None) };
    resource.tags = tags;
    resource.described = true;
    Ok(Some(resource))
}

pub fn to_resource(summary: EndpointSummary, description: Option<EndpointDescription>, region: &str) -> Resource {
    let (id, arn, created_at) = (summary.name.clone(), summary.arn.clone(), summary.created_at);
    Resource::new(id, arn, region, created_at, Endpoints::wrap(Endpoint { summary, description }))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Delete(DeleteSpec),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DeleteSpec {
    #[serde(default)]
    delete_config: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Delete(Delete),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Delete {
    pub delete_config: bool,
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        "delete"
    }

    fn describe(&self) -> String {
        let Action::Delete(d) = self;
        if d.delete_config {
            "delete the endpoint and its endpoint config".to_string()
        } else {
            "delete the endpoint (config and model kept for restore)".to_string()
        }
    }

    fn permissions(&self) -> Vec<Permission> {
        let Action::Delete(d) = self;
        let mut all = vec![Permission::on("sagemaker:DeleteEndpoint", &[Endpoints::ARN_PATTERN])];
        if d.delete_config {
            all.push(Permission::on("sagemaker:DeleteEndpointConfig", &["arn:aws:sagemaker:*:*:endpoint-config/*"]));
        }
        all
    }

    /// Re-created from its config, with its tags.
    fn restore_permissions(&self) -> Vec<Permission> {
        vec![
            Permission::on("sagemaker:CreateEndpoint", &[Endpoints::ARN_PATTERN, "arn:aws:sagemaker:*:*:endpoint-config/*"]),
            Permission::on("sagemaker:AddTags", &[Endpoints::ARN_PATTERN]),
        ]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, _: &Resource) -> bool {
        false
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        None
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        match now {
            None => true,
            Some(r) => Endpoints::details_of(r).is_some_and(|e| e.summary.status == "Deleting"),
        }
    }

    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        resource.monthly_cost_usd
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let Action::Delete(d) = self;
        let api = Api::new(aws, &resource.region);
        match api.delete(&resource.id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("endpoint no longer exists".to_string())),
            Err(e) => return Err(e),
        }
        let config = Endpoints::details_of(resource).and_then(|e| e.description.as_ref()).map(|d| d.config_name.clone());
        match (d.delete_config, config) {
            (true, Some(config)) => match api.delete_config(&config).await {
                Ok(()) => Ok(ActionResult::Done(format!("endpoint deleted; endpoint config {config} deleted"))),
                Err(e) if e.is_not_found() => Ok(ActionResult::Done(format!("endpoint deleted; endpoint config {config} was already gone"))),
                Err(e) => Err(e),
            },
            (_, Some(config)) => Ok(ActionResult::Done(format!("endpoint deleted; endpoint config {config} kept for restore"))),
            (_, None) => Ok(ActionResult::Done("endpoint deleted".to_string())),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// Endpoint configs are immutable in SageMaker, so an answer never goes
/// stale: each is described once per sweep (`Aws::memo`), however many
/// endpoints share it. Key: `region/name`; value: variant -> instance type.
#[derive(Default)]
struct ConfigCache(Mutex<HashMap<String, std::sync::Arc<tokio::sync::OnceCell<VariantTypes>>>>);

/// Variant name -> instance type, of one endpoint config.
type VariantTypes = HashMap<String, Option<String>>;

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
    region: String,
    configs: std::sync::Arc<ConfigCache>,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region), region: region.to_string(), configs: aws.memo::<ConfigCache>() }
    }

    async fn list(&self, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<EndpointSummary>, AwsError> {
        let mut pages = self.client.list_endpoints().max_results(PAGE_SIZE).into_paginator().send();
        let mut endpoints = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListEndpoints", e))?;
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
    async fn describe(&self, name: &str) -> Result<Option<(EndpointSummary, EndpointDescription)>, AwsError> {
        let out = match self.client.describe_endpoint().endpoint_name(name).send().await.map_err(|e| sagemaker_error("DescribeEndpoint", e)) {
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
    async fn variant_types(&self, config_name: &str) -> Result<VariantTypes, AwsError> {
        // One cell per config: endpoints described at once that share a
        // config wait for one answer instead of each asking.
        let cell = self.configs.0.lock().unwrap_or_else(PoisonError::into_inner).entry(format!("{}/{config_name}", self.region)).or_default().clone();
        let types = cell
            .get_or_try_init(|| async {
                match self.client.describe_endpoint_config().endpoint_config_name(config_name).send().await.map_err(|e| sagemaker_error("DescribeEndpointConfig", e)) {
                    Ok(out) => Ok(out
                        .production_variants()
                        .iter()
                        .map(|v| (v.variant_name().unwrap_or_default().to_string(), v.instance_type().map(|t| t.as_str().to_string())))
                        .collect()),
                    Err(e) if e.is_not_found() => Ok(HashMap::new()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(types.clone())
    }

    async fn delete(&self, name: &str) -> Result<(), AwsError> {
        self.client.delete_endpoint().endpoint_name(name).send().await.map_err(|e| sagemaker_error("DeleteEndpoint", e))?;
        Ok(())
    }

    async fn delete_config(&self, name: &str) -> Result<(), AwsError> {
        self.client.delete_endpoint_config().endpoint_config_name(name).send().await.map_err(|e| sagemaker_error("DeleteEndpointConfig", e))?;
        Ok(())
    }

    async fn config_exists(&self, name: &str) -> Result<bool, AwsError> {
        match self.client.describe_endpoint_config().endpoint_config_name(name).send().await.map_err(|e| sagemaker_error("DescribeEndpointConfig", e)) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create(&self, name: &str, config_name: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .create_endpoint()
            .endpoint_name(name)
            .endpoint_config_name(config_name)
            .set_tags(Some(sagemaker_tags(tags)))
            .send()
            .await
            .map_err(|e| sagemaker_error("CreateEndpoint", e))?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn fixture(name: &str, status: &str, variants: &[(&str, &str, i32)]) -> Resource {
    let summary = EndpointSummary {
        name: name.to_string(),
        arn: format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"),
        status: status.to_string(),
        created_at: Some(DateTime::UNIX_EPOCH),
        modified_at: Some(DateTime::UNIX_EPOCH),
    };
    let description = EndpointDescription {
        config_name: format!("{name}-config"),
        variants: variants
            .iter()
            .map(|&(v, t, n)| Variant {
                name: v.to_string(),
                instance_type: Some(t.to_string()),
                current_instance_count: Some(n),
                desired_instance_count: Some(n),
                serverless: false,
            })
            .collect(),
    };
    let mut r = to_resource(summary, Some(description), "us-east-1");
    r.described = true;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cost_is_price_times_count_times_730_hours() {
        let mut r = fixture("e", "InService", &[("a", "ml.m5.xlarge", 2), ("b", "ml.c5.large", 1)]);
        Endpoints::price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        let expected = (0.23 * 2.0 + 0.102) * 730.0;
        assert!((r.monthly_cost_usd.unwrap_or(0.0) - expected).abs() < 1e-9, "{:?}", r.monthly_cost_usd);
        assert!(r.cost_basis.as_deref().unwrap_or("").contains("ml.m5.xlarge"));
        assert_eq!(r.cost_kind, Some(CostKind::InstanceHours));
    }

    #[tokio::test]
    async fn an_unpriced_type_leaves_the_cost_unknown() {
        let mut r = fixture("e", "InService", &[("a", "ml.m5.xlarge", 1), ("b", "ml.zz.huge", 1)]);
        Endpoints::price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert_eq!(r.monthly_cost_usd, None);
        assert!(r.cost_basis.as_deref().unwrap_or("").contains("ml.zz.huge"));
    }

    #[test]
    fn one_metric_series_per_variant() {
        let r = fixture("e", "InService", &[("a", "ml.m5.xlarge", 1), ("b", "ml.m5.xlarge", 1)]);
        let series = r.metric_series().unwrap_or_default();
        assert_eq!(series.len(), 2);
        assert_eq!(series[1][1], ("VariantName".to_string(), "b".to_string()));
    }
}
