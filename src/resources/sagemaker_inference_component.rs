//! `sagemaker-inference-component`: SageMaker inference components, the
//! models an endpoint hosts as copies, each copy holding a share of the
//! endpoint's instances (its GPUs, else its CPU cores).
//!
//! Listing costs one ListInferenceComponents per 100 components, one
//! DescribeInferenceComponent per component (copies and compute needs are
//! not in the listing), and one DescribeEndpoint and DescribeEndpointConfig
//! per endpoint that hosts some (its variants' instance types); tags come
//! in bulk from the Tagging API. Metrics: `AWS/SageMaker` by
//! `InferenceComponentName` (its `Invocations`).
//!
//! # Cost
//! Its current copies x the share of an instance each copy holds (the
//! accelerators it needs over the instance's, else its CPU cores over the
//! instance's vCPUs) x the instance type's SageMaker hosting rate x 730 h.
//! That is what the copies occupy; the endpoint bills its instances
//! whether or not copies fill them, so scaling copies to zero saves money
//! only where the endpoint's managed instance scaling then removes
//! instances (a minimum instance count of 0).
//!
//! # Actions
//! `scale-to-zero`: its desired copy count to 0 (UpdateInferenceComponentRuntimeConfig);
//! the component, its model and its specification stay. The count is
//! journaled first; `costguard restore sagemaker-inference-component NAME`
//! puts it back, and an `off-hours` policy's sweeps do so in the morning.
//!
//! ## Caveats
//! - Requests to a component with no copies fail until it has one again.
//! - An Application Auto Scaling policy on its copy count with a minimum
//!   above 0 scales it back up: set that minimum to 0 first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sagemaker::{self as sm_prices, Use};
use super::scaling::{self, Scalable, ScaleToZero, SCALE_TO_ZERO};
use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Effect, Effort, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{DecodeError, Node};

pub struct InferenceComponents;

/// The largest page ListInferenceComponents serves.
const PAGE_SIZE: i32 = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceComponent {
    pub name: String,
    pub arn: String,
    pub endpoint_name: String,
    pub variant_name: Option<String>,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
    pub model_name: Option<String>,
    /// What one copy needs.
    pub accelerators: Option<f64>,
    pub cpu_cores: Option<f64>,
    pub desired_copies: i32,
    pub current_copies: i32,
    /// The instance type of the endpoint variant it runs on.
    pub instance_type: Option<String>,
}

impl InferenceComponent {
    /// The share of one instance a copy holds, and what it is counted in.
    fn share(&self) -> Option<(f64, String)> {
        let instance_type = self.instance_type.as_deref()?;
        let accelerated = super::accelerators::accelerated_type(instance_type);
        match (self.accelerators.filter(|&a| a > 0.0), &accelerated) {
            (Some(needed), Some(t)) if t.accelerators.count > 0 => {
                let of = f64::from(t.accelerators.count);
                Some(((needed / of).min(1.0), format!("{needed} of {of} accelerators")))
            }
            _ => {
                let cores = self.cpu_cores.filter(|&c| c > 0.0)?;
                let vcpus = match accelerated {
                    Some(t) => t.vcpus,
                    None => super::sizes::sagemaker_family(instance_type).into_iter().find(|s| s.instance_type == instance_type)?.vcpus,
                };
                Some(((cores / vcpus).min(1.0), format!("{cores} of {vcpus} vCPUs")))
            }
        }
    }
}

impl Kind for InferenceComponents {
    type Details = InferenceComponent;
    type Action = ScaleToZero<Self>;

    const NOUN: &'static str = "SageMaker inference component";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-inference-component", "inference-component"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("InferenceComponentName", AttrKind::String),
        Attribute::listed("InferenceComponentArn", AttrKind::String),
        Attribute::listed("EndpointName", AttrKind::String),
        Attribute::listed("VariantName", AttrKind::String),
        Attribute::listed("InferenceComponentStatus", AttrKind::String),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
        Attribute::listed("ModelName", AttrKind::String),
        Attribute::listed("DesiredCopyCount", AttrKind::Number),
        Attribute::listed("CurrentCopyCount", AttrKind::Number),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("Accelerated", AttrKind::Bool),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/SageMaker");
    const READ_PERMISSIONS: &'static [&'static str] = &[
        "sagemaker:ListInferenceComponents",
        "sagemaker:DescribeInferenceComponent",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "tag:GetResources",
        "sagemaker:ListTags",
    ];
    const REREAD_PERMISSIONS: &'static [&'static str] =
        &["sagemaker:DescribeInferenceComponent", "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:inference-component/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: SCALE_TO_ZERO,
        effect: Effect::Stops,
        effort: Effort::Medium,
        restart: true,
        restores: Some("the component's copy count as it was (its copies start again)"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateInferenceComponent", "inferenceComponentName"),
    ];

    fn attribute<'a>(_: &'a Resource, c: &'a InferenceComponent, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "InferenceComponentName" => Some(AttrValue::Str(&c.name)),
            "InferenceComponentArn" => Some(AttrValue::Str(&c.arn)),
            "EndpointName" => Some(AttrValue::Str(&c.endpoint_name)),
            "VariantName" => c.variant_name.as_deref().map(AttrValue::Str),
            "InferenceComponentStatus" => Some(AttrValue::Str(&c.status)),
            "CreationTime" => c.created_at.map(AttrValue::Time),
            "LastModifiedTime" => c.modified_at.map(AttrValue::Time),
            "ModelName" => c.model_name.as_deref().map(AttrValue::Str),
            "DesiredCopyCount" => Some(AttrValue::Num(f64::from(c.desired_copies))),
            "CurrentCopyCount" => Some(AttrValue::Num(f64::from(c.current_copies))),
            "InstanceType" => c.instance_type.as_deref().map(AttrValue::Str),
            "Accelerated" => c.instance_type.as_deref().map(|t| AttrValue::Bool(super::sizes::is_accelerated(t))),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, c: &InferenceComponent) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("InferenceComponentName".to_string(), c.name.clone())]])
    }

    fn sizing(_: &Resource, _: &InferenceComponent) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let names = api.list().await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut tags = aws.tagging(region).bulk("sagemaker:inference-component", true, false).await;
        let mut instance_types: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // Deleted between the two calls: not listed.
            let Some(component) = api.describe(&name, &mut instance_types).await? else { continue };
            let mut resource = to_resource(component, region);
            resource.take_listed_tags(&mut tags, true);
            out.push(resource);
            on_progress(out.len());
        }
        Ok(out)
    }

    /// Adds the tags, when the listing could not bring them in bulk.
    async fn describe(aws: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // Deleted since the listing: stays undescribed, never acted on.
        super::sagemaker::read_tags(aws, resource).await.map(|_| ())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(component) = Api::new(aws, region).describe(name, &mut HashMap::new()).await? else { return Ok(None) };
        super::sagemaker::with_tags(aws, to_resource(component, region)).await
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(c) = Self::details_of(resource).cloned() else { return };
        if c.current_copies == 0 {
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, "no copies running");
        }
        let (Some(instance_type), Some((share, of))) = (c.instance_type.as_deref(), c.share()) else {
            return resource.set_cost(None, CostKind::InstanceHours, "unpriced: its endpoint's instance type or its copies' compute needs are unknown");
        };
        match sm_prices::hourly(prices, Use::Hosting, &resource.region, instance_type, now).await {
            Some(price) => {
                let monthly = f64::from(c.current_copies) * share * price.usd * HOURS_PER_MONTH;
                let basis = format!("{} copies x {of} of {} x {HOURS_PER_MONTH} h", c.current_copies, price.describe());
                resource.set_cost(Some(monthly), CostKind::InstanceHours, basis);
            }
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
        scaling::compile(node, path, errors)
    }

    /// Puts back the copy count it had.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        if action != SCALE_TO_ZERO {
            return Err(RestoreError::NotRestorable(format!("{action} of an inference component cannot be undone")));
        }
        let now = Api::new(aws, &before.region).describe(&before.id, &mut HashMap::new()).await?.map(|c| to_resource(c, &before.region));
        scaling::restore::<Self>(aws, before, now, run_id).await
    }
}

impl Scalable for InferenceComponents {
    const RESIZE_PERMISSION: &'static str = "sagemaker:UpdateInferenceComponentRuntimeConfig";
    const MEMBERS: &'static str = "copies";
    const COUNTS: &'static str = "desired copy count";

    /// A component has one count: its desired copies stand for both.
    fn sizes(c: &InferenceComponent) -> (i32, i32) {
        (c.desired_copies, c.desired_copies)
    }

    async fn resize(aws: &Aws, resource: &Resource, _: i32, desired: i32) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).set_copies(&resource.id, desired).await
    }
}

pub fn to_resource(component: InferenceComponent, region: &str) -> Resource {
    let (id, arn, created_at) = (component.name.clone(), component.arn.clone(), component.created_at);
    Resource::new(id, arn, region, created_at, InferenceComponents::wrap(component))
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
        let mut pages = self.client.list_inference_components().max_results(PAGE_SIZE).into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("ListInferenceComponents", e))?;
            names.extend(page.inference_components().iter().filter_map(|c| c.inference_component_name()).map(str::to_string));
        }
        Ok(names)
    }

    /// The component as it is now, with its variant's instance type
    /// (each endpoint's variants read once, into `instance_types`).
    async fn describe(&self, name: &str, instance_types: &mut HashMap<String, HashMap<String, String>>) -> Result<Option<InferenceComponent>, AwsError> {
        let c = match self.client.describe_inference_component().inference_component_name(name).send().await.map_err(|e| sagemaker_error("DescribeInferenceComponent", e)) {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let endpoint = c.endpoint_name().unwrap_or_default().to_string();
        if !instance_types.contains_key(&endpoint) {
            let variants = self.variant_types(&endpoint).await?;
            instance_types.insert(endpoint.clone(), variants);
        }
        let variants = instance_types.get(&endpoint);
        let variant = c.variant_name().map(str::to_string);
        // A component names its variant; an endpoint with one variant has no doubt.
        let instance_type = variants.and_then(|v| match &variant {
            Some(name) => v.get(name).cloned(),
            None if v.len() == 1 => v.values().next().cloned(),
            None => None,
        });
        let needs = c.specification().and_then(|s| s.compute_resource_requirements());
        let runtime = c.runtime_config();
        Ok(Some(InferenceComponent {
            name: c.inference_component_name().unwrap_or(name).to_string(),
            arn: c.inference_component_arn().unwrap_or_default().to_string(),
            endpoint_name: endpoint,
            variant_name: variant,
            status: c.inference_component_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            created_at: time(c.creation_time()),
            modified_at: time(c.last_modified_time()),
            model_name: c.specification().and_then(|s| s.model_name()).map(str::to_string),
            accelerators: needs.and_then(|n| n.number_of_accelerator_devices_required()).map(f64::from),
            cpu_cores: needs.and_then(|n| n.number_of_cpu_cores_required()).map(f64::from),
            desired_copies: runtime.and_then(|r| r.desired_copy_count()).unwrap_or(0),
            current_copies: runtime.and_then(|r| r.current_copy_count()).unwrap_or(0),
            instance_type,
        }))
    }

    /// Variant name -> instance type of `endpoint`; empty when it is gone.
    async fn variant_types(&self, endpoint: &str) -> Result<HashMap<String, String>, AwsError> {
        let described = match self.client.describe_endpoint().endpoint_name(endpoint).send().await.map_err(|e| sagemaker_error("DescribeEndpoint", e)) {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(HashMap::new()),
            Err(e) => return Err(e),
        };
        let Some(config) = described.endpoint_config_name() else { return Ok(HashMap::new()) };
        let config = match self.client.describe_endpoint_config().endpoint_config_name(config).send().await.map_err(|e| sagemaker_error("DescribeEndpointConfig", e)) {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(HashMap::new()),
            Err(e) => return Err(e),
        };
        Ok(config
            .production_variants()
            .iter()
            .filter_map(|v| Some((v.variant_name()?.to_string(), v.instance_type()?.as_str().to_string())))
            .collect())
    }

    async fn set_copies(&self, name: &str, copies: i32) -> Result<(), AwsError> {
        let config = aws_sdk_sagemaker::types::InferenceComponentRuntimeConfig::builder().copy_count(copies).build();
        self.client
            .update_inference_component_runtime_config()
            .inference_component_name(name)
            .desired_runtime_config(config)
            .send()
            .await
            .map_err(|e| sagemaker_error("UpdateInferenceComponentRuntimeConfig", e))?;
        Ok(())
    }
}
