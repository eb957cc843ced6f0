//! `ec2-instance`: running (and pending) EC2 instances.
//!
//! Listing is one DescribeInstances per 1,000 instances and carries type,
//! state, launch time and tags: nothing to describe afterwards. Rightsizing
//! adds one DescribeInstanceTypes for every family in use and one
//! ListMetrics per region (where the CloudWatch agent publishes memory).
//!
//! Its cost is the on-demand Linux rate of its type times 730 hours (other
//! platforms add a licence the rate leaves out; spot instances cost less:
//! both are said in the cost basis).
//!
//! # Actions
//! `stop`: stop the instance; its EBS volumes are kept, and `costguard
//! restore ec2-instance ID` starts it again. `resize` (opt-in): move it to
//! the size its `rightsizing` filter recommends: stop, change the type, start.
//!
//! ```yaml
//! filters:
//!   - type: rightsizing
//!     verdict: over-provisioned
//! actions:
//!   - type: mark
//!     days: 7
//!   - resize
//! ```
//!
//! ## Guarantees
//! - Both run only after the instance is re-read (and, for a resize, its
//!   metrics re-assessed: the type moved to is the one recommended then).
//! - Never on an instance in an Auto Scaling group (the group would replace
//!   it) or a spot instance: the plan skips them and says why.
//! - A resize journals the old type first; if the type cannot be changed
//!   the instance is started on its old type; one interrupted between stop
//!   and start is started by the next run.
//!
//! ## Caveats
//! - The instance is down for the stop-change-start (a minute or two);
//!   instance-store data is lost; without an Elastic IP its public IP changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use aws_sdk_ec2::types::{AttributeValue, Filter, Instance as SdkInstance, InstanceTypeInfo};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::accelerators::{self, AcceleratorKind, Accelerators, GpuScale, GpuSource, ListedGpu};
use super::sizes::{self, Assessment, InstanceSize, Sizing, SizingPart};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::{ec2_error as sdk_err, ec2_tags, time};
use crate::aws::{sdk_client, Aws, AwsError, ErrorKind};
use crate::outcome::Repair;
use crate::outcome::ActionResult;
use crate::pricing::{Builtin, Price, PriceBook, PriceKey, HOURS_PER_MONTH};
use crate::yaml::{self, DecodeError, Node};

pub struct Instances;

/// DescribeInstances' largest page.
const PAGE_SIZE: i32 = 1000;
/// The tag AWS puts on every instance an Auto Scaling group launched.
pub const ASG_TAG: &str = "aws:autoscaling:groupName";
/// States in which an instance can still be billed or be running soon.
const LISTED_STATES: &[&str] = &["pending", "running"];
/// How long an instance may take to stop before a resize gives up.
const STOP_TIMEOUT: StdDuration = StdDuration::from_secs(600);

/// What DescribeInstances says about an instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub instance_type: String,
    pub state: String,
    pub launched_at: Option<DateTime<Utc>>,
    /// `spot`, `scheduled`, `capacity-block`; `None` for on-demand.
    pub lifecycle: Option<String>,
    /// `Linux/UNIX`, `Windows`, ... (prices differ).
    pub platform: Option<String>,
    /// One-minute CloudWatch metrics ("detailed monitoring") rather than five.
    pub detailed_monitoring: bool,
    pub availability_zone: Option<String>,
    pub owner_account: Option<String>,
    /// From the tag AWS puts on every instance a group launched.
    #[serde(default)]
    pub auto_scaling_group: Option<String>,
}

impl Kind for Instances {
    type Details = Instance;
    type Action = Action;

    const NOUN: &'static str = "EC2 instance";
    const ALIASES: &'static [&'static str] = &["aws.ec2", "ec2"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("InstanceId", AttrKind::String),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("State.Name", AttrKind::String),
        Attribute::listed("LaunchTime", AttrKind::Time),
        Attribute::listed("InstanceLifecycle", AttrKind::String),
        Attribute::listed("PlatformDetails", AttrKind::String),
        Attribute::listed("Placement.AvailabilityZone", AttrKind::String),
        Attribute::listed("Monitoring.State", AttrKind::String),
        Attribute::listed("AutoScalingGroupName", AttrKind::String),
        Attribute::listed("Accelerated", AttrKind::Bool),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/EC2");
    const READ_PERMISSIONS: &'static [&'static str] = &["ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "cloudwatch:ListMetrics"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["ec2:DescribeInstances"];
    const ARN_PATTERN: &'static str = "arn:aws:ec2:*:*:instance/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["ec2:CreateTags", "ec2:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[
        ActionInfo {
            name: "stop",
            effect: Effect::Stops,
            effort: Effort::Medium,
            restart: true,
            restores: Some("the same instance started again, with its EBS volumes, network interfaces and tags (instance-store data is lost)"),
            reopens: None,
        },
        ActionInfo {
            name: "resize",
            effect: Effect::Modifies,
            effort: Effort::High,
            restart: true,
            restores: Some("the instance stopped and started again at its former type"),
            reopens: None,
        },
    ];
    const SIZABLE: bool = true;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::response("ec2.amazonaws.com", "RunInstances", "instancesSet/items/*/instanceId"),
        super::created::CreatedBy::request("ec2.amazonaws.com", "StartInstances", "instancesSet/items/*/instanceId").starting(),
    ];

    fn attribute<'a>(_: &'a Resource, i: &'a Instance, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "InstanceId" => Some(AttrValue::Str(&i.id)),
            "InstanceType" => Some(AttrValue::Str(&i.instance_type)),
            "State.Name" => Some(AttrValue::Str(&i.state)),
            "LaunchTime" => i.launched_at.map(AttrValue::Time),
            "InstanceLifecycle" => i.lifecycle.as_deref().map(AttrValue::Str),
            "PlatformDetails" => i.platform.as_deref().map(AttrValue::Str),
            "Placement.AvailabilityZone" => i.availability_zone.as_deref().map(AttrValue::Str),
            "Monitoring.State" => Some(AttrValue::Str(if i.detailed_monitoring { "enabled" } else { "disabled" })),
            "AutoScalingGroupName" => i.auto_scaling_group.as_deref().map(AttrValue::Str),
            "Accelerated" => Some(AttrValue::Bool(sizes::is_accelerated(&i.instance_type))),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, i: &Instance) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("InstanceId".to_string(), i.id.clone())]])
    }

    /// One part: the instance; memory where the CloudWatch agent publishes
    /// it; its GPUs where the agent's `nvidia_gpu` plugin or Container
    /// Insights publish them.
    fn sizing(resource: &Resource, i: &Instance) -> Option<Sizing> {
        let gpu = resource.gpu_series.as_deref();
        Some(Sizing {
            cpu_namespace: "AWS/EC2",
            cpu_series: Self::metric_series(resource, i)?,
            memory_namespace: "CWAgent",
            memory_metric: "mem_used_percent",
            memory_series: resource.memory_series.as_deref().cloned().into_iter().collect(),
            parts: vec![SizingPart {
                name: i.id.clone(),
                instance_type: i.instance_type.clone(),
                count: 1,
                series: 0,
                // Basic monitoring publishes one sample per 5 minutes, detailed one per minute.
                sample_secs: if i.detailed_monitoring { 60.0 } else { 300.0 },
                cpu_full_scale: 100.0,
                min_count: 1,
                gpu_series: gpu.map(|g| g.series.clone()).unwrap_or_default(),
                // The agent's default interval.
                gpu_sample_secs: 60.0,
                billed_hours: None,
            }],
            gpu: gpu.map(|g| g.source.clone()),
        })
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        Api::new(aws, region).list(region, on_progress).await
    }

    async fn describe(_: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // The listing carries everything, tags included.
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, id: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        Api::new(aws, region).get(region, id).await
    }

    /// The type's on-demand Linux rate times 730 hours.
    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(i) = Self::details_of(resource).cloned() else { return };
        if i.state != "running" && i.state != "pending" {
            return resource.set_cost(Some(0.0), CostKind::InstanceHours, format!("state {}: no instance hours billed", i.state));
        }
        let Some(price) = hourly(prices, &resource.region, &i.instance_type, now).await else {
            return resource.set_cost(None, CostKind::InstanceHours, format!("unpriced: no price known for {}", i.instance_type));
        };
        let mut basis = format!("{} x {HOURS_PER_MONTH} h", price.describe());
        if let Some(platform) = i.platform.as_deref().filter(|p| *p != "Linux/UNIX") {
            basis.push_str(&format!("; Linux rate, the {platform} licence is extra"));
        }
        if i.lifecycle.as_deref() == Some("spot") {
            basis.push_str("; spot instance: the on-demand rate is an upper bound");
        }
        resource.set_cost(Some(price.usd * HOURS_PER_MONTH), CostKind::InstanceHours, basis);
    }

    /// One DescribeInstanceTypes for every family in use, prices for each
    /// size no larger than an instance of it, and (with `memory`) one
    /// ListMetrics for the CloudWatch agent's `mem_used_percent`.
    async fn prepare_sizes(ctx: &sizes::SizeContext<'_>, mut resources: Vec<&mut Resource>) -> Result<(), AwsError> {
        let sizes::SizeContext { aws, region, options, prices, now } = *ctx;
        let type_of = |r: &Resource| Self::details_of(r).map(|i| i.instance_type.clone());
        if resources.is_empty() {
            return Ok(());
        }
        let families: BTreeSet<String> = resources.iter().filter_map(|r| type_of(r)).filter_map(|t| sizes::split(&t).map(|(f, _)| f.to_string())).collect();
        let catalog = Api::new(aws, region).instance_types(&families.into_iter().collect::<Vec<_>>()).await?;
        // Price only what could be recommended: sizes up to the largest in use.
        let largest = |family: &str| {
            resources
                .iter()
                .filter_map(|r| type_of(r))
                .filter(|t| sizes::split(t).is_some_and(|(f, _)| f == family))
                .filter_map(|t| catalog.iter().find(|s| s.instance_type == t).map(|s| s.vcpus))
                .fold(0.0, f64::max)
        };
        // Accelerated families are judged by their GPUs: a size with fewer
        // GPUs may have more vCPUs (g5.16xlarge: 1 GPU, 64 vCPUs).
        let mut wanted: Vec<InstanceSize> =
            catalog.iter().filter(|s| s.accelerated || sizes::split(&s.instance_type).is_some_and(|(f, _)| s.vcpus <= largest(f))).cloned().collect();
        for size in &mut wanted {
            if let Some(price) = hourly(prices, region, &size.instance_type, now).await {
                size.hourly_usd = Some(price.usd);
                size.price_basis = Some(price.describe());
            }
        }
        // Without ListMetrics the sizes still stand; memory is then "not measured".
        let (memory_series, mut list_error) = match options.memory {
            false => (Vec::new(), None),
            true => match aws.cloudwatch(region).list_series("CWAgent", "mem_used_percent").await {
                Ok(series) => (series, None),
                Err(e) => (Vec::new(), Some(e)),
            },
        };
        // GPU series, in bulk (one ListMetrics per namespace and metric),
        // only where an accelerated instance is judged.
        let kinds: BTreeSet<AcceleratorKind> = resources.iter().filter_map(|r| type_of(r).and_then(|t| sizes::accelerator_kind(&t))).collect();
        let cloudwatch = aws.cloudwatch(region);
        let gpus = kinds.contains(&AcceleratorKind::Gpu);
        let mut by_source = Vec::new();
        for (source, wanted) in [
            (GpuSource::NvidiaAgent { namespace: options.gpu_namespace.clone() }, gpus),
            (GpuSource::ContainerInsights, gpus),
            (GpuSource::NeuronInsights, kinds.contains(&AcceleratorKind::Neuron)),
        ] {
            if !wanted {
                continue;
            }
            match cloudwatch.list_series(source.namespace(), source.utilization_metric()).await {
                Ok(series) => by_source.push((source, by_instance(series))),
                Err(e) => list_error = list_error.or(Some(e)),
            }
        }
        // One list per instance type, shared by its instances.
        let mut by_type: HashMap<String, Arc<[InstanceSize]>> = HashMap::new();
        for r in resources.iter_mut() {
            let Some(current) = type_of(r) else { continue };
            let Some((family, _)) = sizes::split(&current) else { continue };
            let vcpus = wanted.iter().find(|s| s.instance_type == current).map_or(0.0, |s| s.vcpus);
            let of_type = by_type.entry(current.clone()).or_insert_with(|| {
                wanted.iter().filter(|s| sizes::split(&s.instance_type).is_some_and(|(f, _)| f == family) && (s.accelerated || s.vcpus <= vcpus)).cloned().collect()
            });
            r.sizes = Arc::clone(of_type);
            // The agent's series for this instance, fewest extra dimensions first.
            let id = r.id.clone();
            r.memory_series =
                memory_series.iter().filter(|dims| dims.iter().any(|(k, v)| k == "InstanceId" && *v == id)).min_by_key(|dims| dims.len()).cloned().map(Box::new);
            // The agent's per-GPU series first; else the node's, where
            // Container Insights averages them (the fewest dimensions).
            r.gpu_series = by_source.iter().find_map(|(source, by_instance)| {
                let series = by_instance.get(&id)?;
                let series = match source.scale() {
                    GpuScale::PerGpu => per_gpu(series),
                    GpuScale::Averaged | GpuScale::Summed => vec![series.iter().min_by_key(|d| d.len())?.clone()],
                };
                Some(Box::new(ListedGpu { source: source.clone(), series }))
            });
        }
        list_error.map_or(Ok(()), Err)
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        aws.ec2_tags(&resource.region).create(&resource.id, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        aws.ec2_tags(region).delete(arn, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
        match yaml::decode::<ActionSpec>(node, path) {
            Ok(ActionSpec::Stop(_)) => Some(Action::Stop),
            Ok(ActionSpec::Resize(_)) => Some(Action::Resize),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// Starts an instance costguard stopped, or gives a resized one its old
    /// type back (stop, change the type, start).
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        let Some(old) = Self::details_of(before) else { return Err(RestoreError::Unsupported(Self::TYPE)) };
        let (region, id) = (&before.region, &before.id);
        let api = Api::new(aws, region);
        let Some(now) = api.get(region, id).await?.and_then(|r| Self::details_of(&r).cloned()) else {
            return Err(RestoreError::NotRestorable(format!("instance {id} no longer exists in {region}")));
        };
        if action == "stop" {
            if now.state == "running" || now.state == "pending" {
                return Err(RestoreError::AlreadyExists { resource_type: Self::TYPE, name: format!("{id} (already {})", now.state), region: region.to_string() });
            }
            api.start(id).await?;
            return Ok(format!("started instance {id} in {region} (stopped by run {run_id})"));
        }
        if now.instance_type == old.instance_type {
            // A restore that failed after the type change left it stopped:
            // finishing it is starting it.
            if old.state == "running" && now.state == "stopped" {
                api.start(id).await?;
                return Ok(format!("started instance {id} in {region} on {} again (a restore had left it stopped)", old.instance_type));
            }
            return Err(RestoreError::AlreadyExists { resource_type: Self::TYPE, name: format!("{id} (already {})", old.instance_type), region: region.to_string() });
        }
        let was_running = now.state == "running" || now.state == "pending";
        if was_running {
            api.stop(id).await?;
            let state = api.wait_for_state(region, id, "stopped", STOP_TIMEOUT).await;
            if !matches!(state.as_deref(), Ok("stopped")) {
                // Never leave it down: start it again on its current type.
                let seen = state.unwrap_or_else(|e| format!("unreadable: {e}"));
                return Err(match api.start(id).await {
                    Ok(()) => RestoreError::NotRestorable(format!("instance {id} did not stop (it is {seen}); its type is still {}; started it again", now.instance_type)),
                    // Left part way: the journal keeps the restore open.
                    Err(e) => RestoreError::Aws(AwsError {
                        message: format!("instance {id} did not stop (it is {seen}) and could not be started again ({}); once it has stopped, start it or run restore again", e.message),
                        ..e
                    }),
                });
            }
        }
        if let Err(e) = api.set_instance_type(id, &old.instance_type).await {
            if was_running {
                let again = match api.start(id).await {
                    Ok(()) => format!("started again on {}", now.instance_type),
                    Err(start) => format!("and could not start it again: {start}"),
                };
                return Err(RestoreError::Aws(AwsError { message: format!("{} ({again})", e.message), ..e }));
            }
            return Err(e.into());
        }
        if was_running {
            api.start(id).await?;
        }
        Ok(format!("instance {id} in {region} is {} again (was {}; resized by run {run_id})", old.instance_type, now.instance_type))
    }
}

/// EC2 families whose on-demand Linux price in us-east-1 is a fixed rate per
/// vCPU (each size doubles vCPUs and price): (family, USD per vCPU-hour,
/// sizes offered). Compiled on 2026-11-25 from public price tables, keeping
/// only figures that independent sources agreed on.
const PER_VCPU_US_EAST_1: &[(&str, f64, &[&str])] = &[
    ("m5", 0.048, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"]),
    ("r5", 0.063, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"]),
    ("c5", 0.0425, &["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"]),
    ("m6i", 0.048, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("r6i", 0.063, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("c6i", 0.0425, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("m6g", 0.0385, &["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
    ("m7g", 0.0408, &["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
];

/// EC2 types priced one by one (burstable families do not follow a
/// per-vCPU rate). Same date and sources. Accelerated types are priced
/// from the accelerator table ([`accelerators`]).
const US_EAST_1: &[(&str, f64)] = &[
    ("t3.nano", 0.0052),
    ("t3.micro", 0.0104),
    ("t3.small", 0.0208),
    ("t3.medium", 0.0416),
    ("t3.large", 0.0832),
    ("t3.xlarge", 0.1664),
    ("t3.2xlarge", 0.3328),
];

fn builtin_hourly(instance_type: &str) -> Option<(f64, &'static str)> {
    if instance_type.starts_with("ml.") {
        return None;
    }
    if let Some(t) = accelerators::accelerated_type(instance_type) {
        return t.ec2_hourly_usd.map(|usd| (usd, accelerators::TAKEN));
    }
    let taken = "2026-11-25";
    US_EAST_1.iter().find(|(t, _)| *t == instance_type).map(|&(_, p)| (p, taken)).or_else(|| {
        let (family, size) = sizes::split(instance_type)?;
        let (_, per_vcpu, offered) = PER_VCPU_US_EAST_1.iter().find(|(f, _, _)| *f == family)?;
        offered.contains(&size).then_some(())?;
        Some((per_vcpu * sizes::ladder_vcpus(size)?, taken))
    })
}

/// The on-demand Linux hourly price of `instance_type` in `region`.
/// What a fleet of instances (its instance types, one entry per
/// instance) costs a month at on-demand Linux rates, and how that was
/// worked out: an Auto Scaling group's or a node group's instances.
pub(crate) async fn price_fleet(resource: &mut Resource, prices: &PriceBook, instance_types: &[String], now: DateTime<Utc>, note: &str) {
    if instance_types.is_empty() {
        return resource.set_cost(Some(0.0), CostKind::InstanceHours, "no instances running");
    }
    let mut types: Vec<&String> = instance_types.iter().collect();
    types.sort();
    types.dedup();
    let (mut hourly_usd, mut parts) = (0.0, Vec::new());
    for t in types {
        let n = instance_types.iter().filter(|x| *x == t).count();
        let Some(price) = hourly(prices, &resource.region, t, now).await else {
            return resource.set_cost(None, CostKind::InstanceHours, format!("unpriced: no price known for {t}"));
        };
        hourly_usd += price.usd * n as f64;
        parts.push(format!("{n} x {}", price.describe()));
    }
    resource.set_cost(Some(hourly_usd * HOURS_PER_MONTH), CostKind::InstanceHours, format!("({}) x {HOURS_PER_MONTH} h{note}", parts.join(" + ")));
}

/// An instance type's on-demand Linux rate.
async fn hourly(prices: &PriceBook, region: &str, instance_type: &str, now: DateTime<Utc>) -> Option<Price> {
    let key = PriceKey {
        service_code: "AmazonEC2",
        filters: vec![
            ("instanceType", instance_type.to_string()),
            ("operatingSystem", "Linux".to_string()),
            ("tenancy", "Shared".to_string()),
            ("preInstalledSw", "NA".to_string()),
            ("capacitystatus", "Used".to_string()),
        ],
        unit: "Hrs",
        label: instance_type.to_string(),
    };
    let builtin = builtin_hourly(instance_type).map(|(usd, taken)| Builtin { usd, taken, region: "us-east-1" });
    prices.price(region, &key, builtin, now).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Stop(NoFields),
    Resize(NoFields),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Stop,
    Resize,
}

fn instance(resource: &Resource) -> Option<&Instance> {
    Instances::details_of(resource)
}

fn is_stopped(resource: &Resource) -> bool {
    instance(resource).is_some_and(|i| matches!(i.state.as_str(), "stopped" | "stopping" | "shutting-down" | "terminated"))
}

fn timeout(operation: &'static str, message: String) -> AwsError {
    AwsError::new("ec2", operation, "Timeout", message, ErrorKind::Transient)
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Resize => "resize",
        }
    }

    fn describe(&self) -> String {
        match self {
            Action::Stop => "stop the instance (its EBS volumes are kept)".to_string(),
            Action::Resize => "resize to the recommended type (stop, change type, start)".to_string(),
        }
    }

    fn permissions(&self) -> Vec<Permission> {
        let on = |action| Permission::on(action, &[Instances::ARN_PATTERN]);
        match self {
            Action::Stop => vec![on("ec2:StopInstances")],
            Action::Resize => vec![on("ec2:StopInstances"), on("ec2:ModifyInstanceAttribute"), on("ec2:StartInstances")],
        }
    }

    fn restore_permissions(&self) -> Vec<Permission> {
        self.permissions().into_iter().chain([Permission::on("ec2:StartInstances", &[Instances::ARN_PATTERN])]).collect()
    }

    fn needs_rightsizing(&self) -> bool {
        matches!(self, Action::Resize)
    }

    fn already_satisfied(&self, resource: &Resource) -> bool {
        matches!(self, Action::Stop) && is_stopped(resource)
    }

    /// Never on an Auto Scaling group's instance (the group would replace
    /// it) or a spot instance (most cannot be stopped).
    fn refusal(&self, resource: &Resource) -> Option<String> {
        let i = instance(resource)?;
        if let Some(group) = &i.auto_scaling_group {
            return Some(format!("member of Auto Scaling group {group}: the group would replace it; change the group's launch template instead"));
        }
        if i.lifecycle.as_deref() == Some("spot") {
            return Some("spot instance: costguard does not stop or resize spot instances".to_string());
        }
        None
    }

    fn took_effect(&self, before: &Resource, now: Option<&Resource>) -> bool {
        match self {
            Action::Stop => now.is_none_or(is_stopped),
            // The type differs from the one journaled.
            Action::Resize => now.and_then(instance).is_some_and(|i| Some(&i.instance_type) != instance(before).map(|b| &b.instance_type)),
        }
    }

    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        match self {
            Action::Stop => resource.monthly_cost_usd,
            // The rightsizing assessment says what a resize saves.
            Action::Resize => None,
        }
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, assessment: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let api = Api::new(aws, &resource.region);
        let id = &resource.id;
        match self {
            Action::Stop => match api.stop(id).await {
                Ok(()) => Ok(ActionResult::Done("instance stopping".to_string())),
                Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone("instance no longer exists".to_string())),
                Err(e) => Err(e),
            },
            Action::Resize => {
                let Some(target) = assessment.and_then(|a| a.parts.first()).and_then(|p| p.recommended_type.clone()) else {
                    return Ok(ActionResult::AlreadyDone("no smaller type recommended when re-read".to_string()));
                };
                let Some(current) = instance(resource).map(|i| i.instance_type.clone()) else {
                    return Ok(ActionResult::AlreadyDone("not an EC2 instance".to_string()));
                };
                if current == target {
                    return Ok(ActionResult::AlreadyDone(format!("already {target}")));
                }
                match api.stop(id).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("instance no longer exists".to_string())),
                    Err(e) => return Err(e),
                }
                let state = api.wait_for_state(&resource.region, id, "stopped", STOP_TIMEOUT).await?;
                if state != "stopped" {
                    return Err(timeout("StopInstances", format!("{id} was {state}, not stopped, after {} s; type left at {current}", STOP_TIMEOUT.as_secs())));
                }
                if let Err(e) = api.set_instance_type(id, &target).await {
                    let note = match api.start(id).await {
                        Ok(()) => format!("started again on {current}"),
                        Err(start) => format!("and could not start it again: {start}"),
                    };
                    return Err(AwsError { message: format!("{} ({note})", e.message), ..e });
                }
                api.start(id).await?;
                Ok(ActionResult::Done(format!("resized {current} -> {target} (stopped, changed, started)")))
            }
        }
    }

    /// A resize that failed or was interrupted between stop and start
    /// leaves the instance down: start it again, on whichever type it has,
    /// if it was running before.
    async fn recover(&self, aws: &Aws, before: &Resource, now: Option<&Resource>) -> Option<Repair> {
        let (Action::Resize, Some(i)) = (self, now.and_then(instance)) else { return None };
        if !instance(before).is_some_and(|b| b.state == "running" || b.state == "pending") {
            return None;
        }
        match i.state.as_str() {
            "stopped" => Some(match Api::new(aws, &before.region).start(&before.id).await {
                Ok(()) => Repair::Repaired(format!("started {} again ({})", before.id, i.instance_type)),
                Err(e) => Repair::StillHalfDone(format!("{} is stopped and could not be started again: {e}", before.id)),
            }),
            "stopping" => Some(Repair::StillHalfDone(format!("{} is still stopping; the next run starts it again", before.id))),
            _ => None,
        }
    }
}

/// Listed series by the instance they name.
fn by_instance(series: Vec<Dimensions>) -> HashMap<String, Vec<Dimensions>> {
    let mut out: HashMap<String, Vec<Dimensions>> = HashMap::new();
    for dims in series {
        if let Some(id) = dims.iter().find(|(k, _)| k == "InstanceId").map(|(_, v)| v.clone()) {
            out.entry(id).or_default().push(dims);
        }
    }
    out
}

/// One series per GPU of one instance, whatever else the agent's config
/// appends (`name`, `arch`, `InstanceType`, ...): grouped by the GPU's
/// `index`, each GPU's series with the fewest dimensions (the same
/// datapoints under more dimensions would count twice).
fn per_gpu(series: &[Dimensions]) -> Vec<Dimensions> {
    let mut by_index: std::collections::BTreeMap<String, &Dimensions> = std::collections::BTreeMap::new();
    for dims in series {
        let index = dims.iter().find(|(k, _)| k == "index").map_or_else(String::new, |(_, v)| v.clone());
        let slot = by_index.entry(index).or_insert(dims);
        if dims.len() < slot.len() {
            *slot = dims;
        }
    }
    let mut out: Vec<(String, Dimensions)> = by_index.into_iter().map(|(i, d)| (i, d.clone())).collect();
    // GPU 2 before GPU 10.
    out.sort_by_key(|(i, _)| (i.parse::<u32>().unwrap_or(u32::MAX), i.clone()));
    out.into_iter().map(|(_, d)| d).collect()
}

/// The EC2 calls this type makes.
struct Api {
    client: aws_sdk_ec2::Client,
}


fn to_resource(i: &SdkInstance, owner: Option<&str>, region: &str) -> Option<Resource> {
    let tags = ec2_tags(i.tags());
    let instance = Instance {
        id: i.instance_id()?.to_string(),
        instance_type: i.instance_type()?.as_str().to_string(),
        state: i.state().and_then(|s| s.name()).map_or("unknown", |n| n.as_str()).to_string(),
        launched_at: time(i.launch_time()),
        lifecycle: i.instance_lifecycle().map(|l| l.as_str().to_string()),
        platform: i.platform_details().map(str::to_string),
        detailed_monitoring: i.monitoring().and_then(|m| m.state()).is_some_and(|s| s.as_str() == "enabled"),
        availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
        owner_account: owner.map(str::to_string),
        auto_scaling_group: tags.get(ASG_TAG).cloned(),
    };
    let arn = format!("arn:aws:ec2:{region}:{}:instance/{}", owner.unwrap_or_default(), instance.id);
    let mut r = Resource::new(instance.id.clone(), arn, region, instance.launched_at, Instances::wrap(instance));
    r.tags = tags;
    r.described = true;
    Some(r)
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_ec2, region) }
    }

    /// Every pending or running instance.
    async fn list(&self, region: &str, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let state = Filter::builder().name("instance-state-name").set_values(Some(LISTED_STATES.iter().map(|s| s.to_string()).collect())).build();
        let mut pages = self.client.describe_instances().filters(state).max_results(PAGE_SIZE).into_paginator().send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err("DescribeInstances"))?;
            for reservation in page.reservations() {
                instances.extend(reservation.instances().iter().filter_map(|i| to_resource(i, reservation.owner_id(), region)));
            }
            on_page(instances.len());
        }
        Ok(instances)
    }

    /// One instance as it is now, in any state but terminated; `None` when gone.
    async fn get(&self, region: &str, id: &str) -> Result<Option<Resource>, AwsError> {
        let out = match self.client.describe_instances().instance_ids(id).send().await.map_err(sdk_err("DescribeInstances")) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().filter_map(move |i| to_resource(i, r.owner_id(), region)))
            .find(|r| r.id == id && instance(r).is_some_and(|i| i.state != "terminated")))
    }

    /// The types of the given families (`m5`, `c6i`) offered in this region.
    async fn instance_types(&self, families: &[String]) -> Result<Vec<InstanceSize>, AwsError> {
        if families.is_empty() {
            return Ok(Vec::new());
        }
        let patterns = families.iter().map(|f| format!("{f}.*")).collect();
        let filter = Filter::builder().name("instance-type").set_values(Some(patterns)).build();
        let mut pages = self.client.describe_instance_types().filters(filter).max_results(100).into_paginator().send();
        let mut types = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err("DescribeInstanceTypes"))?;
            types.extend(page.instance_types().iter().filter_map(to_type_info));
        }
        Ok(types)
    }

    async fn stop(&self, id: &str) -> Result<(), AwsError> {
        self.client.stop_instances().instance_ids(id).send().await.map_err(sdk_err("StopInstances"))?;
        Ok(())
    }

    async fn start(&self, id: &str) -> Result<(), AwsError> {
        self.client.start_instances().instance_ids(id).send().await.map_err(sdk_err("StartInstances"))?;
        Ok(())
    }

    /// Changes a stopped instance's type.
    async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), AwsError> {
        self.client
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(instance_type).build())
            .send()
            .await
            .map_err(sdk_err("ModifyInstanceAttribute"))?;
        Ok(())
    }

    /// Polls until the instance is in `state` (or gone), at most `timeout`.
    /// Returns the state it ended in.
    async fn wait_for_state(&self, region: &str, id: &str, state: &str, timeout: StdDuration) -> Result<String, AwsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = StdDuration::from_secs(1);
        loop {
            let now = self.get(region, id).await?.and_then(|r| instance(&r).map(|i| i.state.clone())).unwrap_or_else(|| "terminated".to_string());
            if now == state || now == "terminated" || tokio::time::Instant::now() >= deadline {
                return Ok(now);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(StdDuration::from_secs(15));
        }
    }
}

/// Its GPUs or Neuron devices, as DescribeInstanceTypes says; the
/// accelerator table where it says nothing.
fn accelerators_of(t: &InstanceTypeInfo, name: &str) -> Option<Accelerators> {
    if let Some(gpus) = t.gpu_info().filter(|g| !g.gpus().is_empty()) {
        let first = gpus.gpus().first()?;
        return Some(Accelerators {
            kind: AcceleratorKind::Gpu,
            count: gpus.gpus().iter().filter_map(|g| g.count()).map(|c| c.max(0) as u32).sum(),
            model: first.name().unwrap_or("GPU").to_string(),
            memory_mib_each: first.memory_info().and_then(|m| m.size_in_mib()).map(i64::from),
        });
    }
    if let Some(neuron) = t.neuron_info().filter(|n| !n.neuron_devices().is_empty()) {
        let first = neuron.neuron_devices().first()?;
        return Some(Accelerators {
            kind: AcceleratorKind::Neuron,
            count: neuron.neuron_devices().iter().filter_map(|d| d.count()).map(|c| c.max(0) as u32).sum(),
            model: first.name().unwrap_or("Neuron").to_string(),
            memory_mib_each: first.memory_info().and_then(|m| m.size_in_mib()).map(i64::from),
        });
    }
    accelerators::accelerated_type(name).map(|a| a.accelerators)
}

fn to_type_info(t: &InstanceTypeInfo) -> Option<InstanceSize> {
    let name = t.instance_type()?.as_str();
    let accelerators = accelerators_of(t, name);
    Some(InstanceSize {
        instance_type: name.to_string(),
        vcpus: f64::from(t.v_cpu_info()?.default_v_cpus()?),
        memory_mib: t.memory_info()?.size_in_mib(),
        burstable: t.burstable_performance_supported().unwrap_or(false),
        accelerated: accelerators.is_some() || t.gpu_info().is_some() || t.inference_accelerator_info().is_some() || t.neuron_info().is_some(),
        accelerators,
        bare_metal: t.bare_metal().unwrap_or(false),
        hourly_usd: None,
        price_basis: None,
    })
}

#[cfg(test)]
pub(crate) fn fixture(id: &str, instance_type: &str) -> Resource {
    let instance = Instance {
        id: id.to_string(),
        instance_type: instance_type.to_string(),
        state: "running".to_string(),
        launched_at: Some(DateTime::UNIX_EPOCH),
        lifecycle: None,
        platform: Some("Linux/UNIX".to_string()),
        detailed_monitoring: false,
        availability_zone: Some("us-east-1a".to_string()),
        owner_account: Some("123456789012".to_string()),
        auto_scaling_group: None,
    };
    let arn = format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}");
    let mut r = Resource::new(id.to_string(), arn, "us-east-1", instance.launched_at, Instances::wrap(instance));
    r.described = true;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cost_is_the_on_demand_rate_times_730_hours() {
        let mut r = fixture("i-1", "m5.2xlarge");
        Instances::price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        assert!((r.monthly_cost_usd.unwrap_or(0.0) - 0.384 * 730.0).abs() < 1e-9, "{:?}", r.monthly_cost_usd);
        assert_eq!(r.arn, "arn:aws:ec2:us-east-1:123456789012:instance/i-1");
    }

    #[test]
    fn builtin_prices_follow_the_families() {
        let usd = |t| builtin_hourly(t).map(|(usd, _)| usd);
        assert_eq!(usd("m5.large"), Some(0.096));
        assert_eq!(usd("c5.9xlarge"), Some(0.0425 * 36.0));
        assert_eq!(usd("c5.8xlarge"), None, "c5 has no 8xlarge");
        assert_eq!(usd("ml.m5.large"), None, "EC2 prices are not SageMaker's");
        assert_eq!(usd("ml.g5.xlarge"), None, "EC2 prices are not SageMaker's");
        for (t, price) in [("g5.12xlarge", 5.672), ("p4d.24xlarge", 21.957642), ("p5.48xlarge", 55.04), ("g4dn.xlarge", 0.526), ("inf2.xlarge", 0.7582)] {
            assert_eq!(usd(t), Some(price), "{t}");
        }
        assert_eq!(usd("p5e.48xlarge"), None, "no on-demand rate: unpriced");
    }

    #[test]
    fn gpus_are_found_per_index_whatever_else_the_agent_appends() {
        let dims = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Dimensions>();
        let series = vec![
            dims(&[("InstanceId", "i-1"), ("index", "10"), ("name", "A10G")]),
            dims(&[("InstanceId", "i-1"), ("index", "2"), ("name", "A10G"), ("arch", "Ampere")]),
            dims(&[("InstanceId", "i-1"), ("index", "2"), ("name", "A10G")]),
        ];
        let gpus = per_gpu(&series);
        assert_eq!(gpus.len(), 2, "one series per GPU: {gpus:?}");
        assert_eq!(gpus[0], dims(&[("InstanceId", "i-1"), ("index", "2"), ("name", "A10G")]), "fewest dimensions, GPU 2 before GPU 10");
        assert!(sizes::is_accelerated("p5.48xlarge") && sizes::is_accelerated("g4ad.xlarge") && !sizes::is_accelerated("m5.large"));
    }

    #[test]
    fn auto_scaling_members_and_spot_instances_are_refused() {
        let mut r = fixture("i-1", "m5.large");
        assert_eq!(Action::Stop.refusal(&r), None);
        if let crate::resources::Details::Ec2Instance(i) = &mut r.details {
            i.auto_scaling_group = Some("web".to_string());
        }
        assert!(Action::Resize.refusal(&r).is_some_and(|why| why.contains("Auto Scaling group web")));
    }
}
