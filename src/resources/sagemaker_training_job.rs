//! `sagemaker-training-job`: SageMaker training jobs, what each run cost,
//! and what managed spot training would have saved on it.
//!
//! Listing is SageMaker's Search over training jobs, newest change first:
//! one call per 100 jobs carries each job's whole description and tags, so
//! nothing is described one by one. Only jobs changed in the last
//! [`HORIZON_DAYS`] days are read (a finished job's last change is its end;
//! older runs are history, not something to act on); the listing stops at
//! the first older one.
//!
//! Its cost:
//! - a run that has ended (`Completed`, `Failed`, `Stopped`) cost its
//!   billable seconds × the on-demand hourly price of its instance type ×
//!   its instance count, once ([`CostKind::Usage`]; a policy's window of
//!   runs, e.g. the last 30 days, makes the sums a month of training).
//!   `BillableTimeInSeconds` where AWS gives it; else `TrainingTimeInSeconds`,
//!   else the time from start to end (an upper bound for spot runs);
//! - a job still running costs its instances' hours ([`CostKind::InstanceHours`],
//!   at on-demand prices: a spot job bills less).
//!
//! What spot would have saved ([`Kind::avoidable_cost`]): on a run that
//! ended on demand, [`TYPICAL_SPOT_SAVING`] of its cost. A run that used
//! spot shows what it saved (`SpotSavingsPercent`, from its own billable
//! against training seconds). Runs on a training plan (capacity paid in
//! advance) have no on-demand hours to save.
//!
//! # Actions
//! `stop` (opt-in): stop a job that is still running: a runaway. SageMaker
//! keeps its model artifacts and checkpoints written so far; the job itself
//! cannot be started again (`restore` says so: a new job can resume from
//! its checkpoints).
//!
//! ```yaml
//! filters:
//!   - type: value
//!     key: TrainingJobStatus
//!     value: InProgress
//!   - type: age
//!     key: TrainingStartTime
//!     days: 3
//! actions:
//!   - stop
//! ```
//!
//! ## Guarantees
//! - Runs only after the job is re-read (DescribeTrainingJob and ListTags,
//!   not the eventually consistent Search), still matches, is not protected,
//!   and is journaled; a job that has ended or is gone is "already done".

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::sagemaker::{self as sm_prices, Use};
use super::accelerators::GpuSource;
use super::sizes::{self, Assessment, Sizing, SizingPart};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::{sagemaker_error, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::{PriceBook, HOURS_PER_MONTH};
use crate::yaml::{self, DecodeError, Node};

pub struct TrainingJobs;

/// How far back the listing reads: jobs changed in the last 90 days.
pub const HORIZON_DAYS: i64 = 90;

/// What managed spot training typically saves on a run, when the run gives
/// no figure of its own: the share costguard states (AWS says "up to 90%").
pub const TYPICAL_SPOT_SAVING: f64 = 0.70;

/// The largest page Search serves.
const PAGE_SIZE: i32 = 100;
/// Where a training job's hosts publish CPU, memory and GPU utilization.
const NAMESPACE: &str = "/aws/sagemaker/TrainingJobs";

/// One group of a job's instances (a job without heterogeneous groups has one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instances {
    pub instance_type: String,
    pub count: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingJob {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub secondary_status: Option<String>,
    /// Empty when AWS gave none.
    pub instances: Vec<Instances>,
    pub spot: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub modified_at: Option<DateTime<Utc>>,
    pub training_seconds: Option<i64>,
    pub billable_seconds: Option<i64>,
    pub max_runtime_seconds: Option<i64>,
    pub max_wait_seconds: Option<i64>,
    pub tuning_job_arn: Option<String>,
    pub training_plan_arn: Option<String>,
}

impl TrainingJob {
    fn has_ended(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed" | "Stopped")
    }

    fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "InProgress" | "Stopping")
    }

    fn instance_count(&self) -> i32 {
        self.instances.iter().map(|g| g.count).sum()
    }

    /// What a spot run saved of its on-demand cost, in percent.
    fn spot_savings_percent(&self) -> Option<f64> {
        match (self.spot, self.billable_seconds, self.training_seconds) {
            (true, Some(billable), Some(training)) if training > 0 => Some(100.0 * (1.0 - billable as f64 / training as f64)),
            _ => None,
        }
    }

    /// The seconds a run that ended was billed for, and what they are.
    fn billed_seconds(&self) -> Option<(i64, &'static str)> {
        if let Some(s) = self.billable_seconds {
            return Some((s, "billable"));
        }
        if let Some(s) = self.training_seconds {
            return Some((s, "training (AWS gave no billable time)"));
        }
        let ran = (self.ended_at? - self.started_at?).num_seconds().max(0);
        Some((ran, "from start to end (AWS gave no billable time)"))
    }
}

impl Kind for TrainingJobs {
    type Details = TrainingJob;
    type Action = Action;

    const NOUN: &'static str = "SageMaker training job";
    const ALIASES: &'static [&'static str] = &["aws.sagemaker-job"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("TrainingJobName", AttrKind::String),
        Attribute::listed("TrainingJobArn", AttrKind::String),
        Attribute::listed("TrainingJobStatus", AttrKind::String),
        Attribute::listed("SecondaryStatus", AttrKind::String),
        Attribute::listed("InstanceType", AttrKind::String),
        Attribute::listed("InstanceCount", AttrKind::Number),
        Attribute::listed("EnableManagedSpotTraining", AttrKind::Bool),
        Attribute::listed("CreationTime", AttrKind::Time),
        Attribute::listed("TrainingStartTime", AttrKind::Time),
        Attribute::listed("TrainingEndTime", AttrKind::Time),
        Attribute::listed("LastModifiedTime", AttrKind::Time),
        Attribute::listed("TrainingTimeInSeconds", AttrKind::Number),
        Attribute::listed("BillableTimeInSeconds", AttrKind::Number),
        Attribute::listed("SpotSavingsPercent", AttrKind::Number),
        Attribute::listed("MaxRuntimeInSeconds", AttrKind::Number),
        Attribute::listed("MaxWaitTimeInSeconds", AttrKind::Number),
        Attribute::listed("TuningJobArn", AttrKind::String),
        Attribute::listed("TrainingPlanArn", AttrKind::String),
        Attribute::listed("Accelerated", AttrKind::Bool),
    ];
    /// Training jobs' own metrics (`/aws/sagemaker/TrainingJobs`) are per
    /// host: a `rightsizing` filter reads them, a `metrics` filter cannot
    /// name one series for the job.
    const METRIC_NAMESPACE: Option<&'static str> = None;
    const READ_PERMISSIONS: &'static [&'static str] = &["sagemaker:Search"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["sagemaker:DescribeTrainingJob", "sagemaker:ListTags"];
    const ARN_PATTERN: &'static str = "arn:aws:sagemaker:*:*:training-job/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["sagemaker:AddTags", "sagemaker:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "stop",
        effect: Effect::Stops,
        effort: Effort::High,
        restart: true,
        restores: None,
        reopens: None,
    }];
    /// A run's GPUs, CPU and memory per host: what a smaller type would
    /// have cost it.
    const SIZABLE: bool = true;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::request("sagemaker.amazonaws.com", "CreateTrainingJob", "trainingJobName"),
    ];

    fn attribute<'a>(_: &'a Resource, j: &'a TrainingJob, name: &str) -> Option<AttrValue<'a>> {
        let seconds = |s: Option<i64>| s.map(|s| AttrValue::Num(s as f64));
        match name {
            "TrainingJobName" => Some(AttrValue::Str(&j.name)),
            "TrainingJobArn" => Some(AttrValue::Str(&j.arn)),
            "TrainingJobStatus" => Some(AttrValue::Str(&j.status)),
            "SecondaryStatus" => j.secondary_status.as_deref().map(AttrValue::Str),
            "InstanceType" => j.instances.first().map(|g| AttrValue::Str(&g.instance_type)),
            "InstanceCount" => (!j.instances.is_empty()).then(|| AttrValue::Num(j.instance_count().into())),
            "EnableManagedSpotTraining" => Some(AttrValue::Bool(j.spot)),
            "CreationTime" => j.created_at.map(AttrValue::Time),
            "TrainingStartTime" => j.started_at.map(AttrValue::Time),
            "TrainingEndTime" => j.ended_at.map(AttrValue::Time),
            "LastModifiedTime" => j.modified_at.map(AttrValue::Time),
            "TrainingTimeInSeconds" => seconds(j.training_seconds),
            "BillableTimeInSeconds" => seconds(j.billable_seconds),
            "SpotSavingsPercent" => j.spot_savings_percent().map(AttrValue::Num),
            "MaxRuntimeInSeconds" => seconds(j.max_runtime_seconds),
            "MaxWaitTimeInSeconds" => seconds(j.max_wait_seconds),
            "TuningJobArn" => j.tuning_job_arn.as_deref().map(AttrValue::Str),
            "TrainingPlanArn" => j.training_plan_arn.as_deref().map(AttrValue::Str),
            "Accelerated" => Some(AttrValue::Bool(j.instances.iter().any(|g| sizes::is_accelerated(&g.instance_type)))),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, _: &TrainingJob) -> Option<Vec<Dimensions>> {
        Some(Vec::new())
    }

    /// One part per instance group; its hosts (`<job>/algo-N`, numbered
    /// across the groups) publish CPU, memory and GPUs in
    /// `/aws/sagemaker/TrainingJobs`, GPUs summed per host as on
    /// endpoints. A run that ended is billed once, for its billed hours;
    /// one still running, by the month.
    fn sizing(_: &Resource, j: &TrainingJob) -> Option<Sizing> {
        if j.instances.is_empty() || j.training_plan_arn.is_some() {
            return None;
        }
        let host = |n: i32| vec![("Host".to_string(), format!("{}/algo-{n}", j.name))];
        let billed_hours = if j.has_ended() { Some(j.billed_seconds().map_or(0.0, |(s, _)| s as f64 / 3600.0)) } else { None };
        let mut first_host = 1;
        let mut parts = Vec::new();
        let mut cpu_series = Vec::new();
        for (i, group) in j.instances.iter().enumerate() {
            let count = group.count.max(1);
            let vcpus = sizes::named_vcpus(&group.instance_type).unwrap_or(1.0);
            let hosts: Vec<_> = (first_host..first_host + count).map(host).collect();
            cpu_series.push(hosts[0].clone());
            parts.push(SizingPart {
                name: if j.instances.len() > 1 { format!("group {}", i + 1) } else { j.name.clone() },
                instance_type: group.instance_type.clone(),
                count,
                series: i,
                // One sample a minute from its first host.
                sample_secs: 60.0,
                cpu_full_scale: 100.0 * vcpus,
                // A job's instance count is the job's own design: only the type moves.
                min_count: count,
                gpu_series: if sizes::accelerated_type(&group.instance_type).is_some() { hosts } else { Vec::new() },
                gpu_sample_secs: 60.0,
                billed_hours,
            });
            first_host += count;
        }
        let any_gpu = parts.iter().any(|p| !p.gpu_series.is_empty());
        Some(Sizing {
            cpu_namespace: NAMESPACE,
            cpu_series: cpu_series.clone(),
            memory_namespace: NAMESPACE,
            memory_metric: "MemoryUtilization",
            memory_series: cpu_series,
            parts,
            gpu: any_gpu.then(|| GpuSource::SageMaker { namespace: NAMESPACE.to_string() }),
        })
    }

    /// Jobs changed since the horizon, fully described, with their tags.
    async fn list(aws: &Aws, region: &str, _: bool, now: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let since = now - Duration::days(HORIZON_DAYS);
        let jobs = Api::new(aws, region).search(since, on_progress).await?;
        Ok(jobs.into_iter().map(|(job, tags)| to_resource(job, tags, region)).collect())
    }

    /// The listing describes every job.
    async fn describe(_: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, name: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(job) = Api::new(aws, region).describe(name).await? else { return Ok(None) };
        let tags = match aws.sagemaker_tags(region).list(&job.arn).await {
            Ok(tags) => tags,
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(to_resource(job, tags, region)))
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(job) = Self::details_of(resource).cloned() else { return };
        let kind = if job.is_running() { CostKind::InstanceHours } else { CostKind::Usage };
        if job.instances.is_empty() {
            return resource.set_cost(None, kind, "instance type unknown");
        }
        if job.training_plan_arn.is_some() {
            return resource.set_cost(Some(0.0), kind, "runs on a training plan (capacity paid in advance): no on-demand hours");
        }
        let mut hourly = 0.0;
        let mut parts = Vec::new();
        for group in &job.instances {
            let Some(price) = sm_prices::hourly(prices, Use::Training, &resource.region, &group.instance_type, now).await else {
                return resource.set_cost(None, kind, format!("unpriced: no price known for {}", group.instance_type));
            };
            hourly += price.usd * f64::from(group.count);
            parts.push(format!("{} x {}", group.count, price.describe()));
        }
        let instances = parts.join(" + ");
        if job.is_running() {
            let so_far = job.started_at.map(|t| (now - t).num_seconds().max(0) as f64 / 3600.0);
            let running = so_far.map(|h| format!("running {h:.1} h, ${:.2} so far; ", h * hourly)).unwrap_or_default();
            let spot = if job.spot { " (on-demand prices: spot bills less)" } else { "" };
            return resource.set_cost(Some(hourly * HOURS_PER_MONTH), kind, format!("{running}{instances} x {HOURS_PER_MONTH} h{spot}"));
        }
        if !job.has_ended() {
            return resource.set_cost(Some(0.0), kind, format!("status {}: no instance hours billed yet", job.status));
        }
        let Some((seconds, what)) = job.billed_seconds() else {
            return resource.set_cost(None, kind, "run time unknown");
        };
        let ended = job.ended_at.map(|t| format!(", ended {}", crate::text::utc(t))).unwrap_or_default();
        let spot = match job.spot_savings_percent() {
            Some(p) => format!("; spot saved {p:.0}% of {} training s", job.training_seconds.unwrap_or(0)),
            None if job.spot => "; spot".to_string(),
            None => format!("; on demand: spot would typically have saved {:.0}%", TYPICAL_SPOT_SAVING * 100.0),
        };
        let basis = format!("one run of {seconds} {what} s{ended}: {instances}{spot}");
        resource.set_cost(Some(hourly * seconds as f64 / 3600.0), kind, basis);
    }

    /// A run that ended on demand: what spot would typically have saved.
    fn avoidable_cost(resource: &Resource, job: &TrainingJob) -> Option<f64> {
        if !job.has_ended() || job.spot || job.training_plan_arn.is_some() {
            return None;
        }
        resource.monthly_cost_usd.map(|cost| cost * TYPICAL_SPOT_SAVING)
    }

    /// Every size of each group's family, priced for training.
    async fn prepare_sizes(ctx: &sizes::SizeContext<'_>, resources: Vec<&mut Resource>) -> Result<(), AwsError> {
        let sizes::SizeContext { region, prices, now, .. } = *ctx;
        let types = |r: &Resource| -> Vec<String> { Self::details_of(r).map(|j| j.instances.iter().map(|g| g.instance_type.clone()).collect()).unwrap_or_default() };
        sm_prices::prepare_family_sizes(resources, types, Use::Training, region, prices, now).await;
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
            Ok(ActionSpec::Stop(_)) => Some(Action::Stop),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    async fn restore(_: &Aws, action: &str, before: &Resource, _: &str) -> Result<String, RestoreError> {
        let Some(job) = Self::details_of(before) else { return Err(RestoreError::Unsupported(Self::TYPE)) };
        Err(RestoreError::NotRestorable(format!(
            "a training job cannot be started again after a {action}: start a new job for {} (it can resume from the checkpoints it wrote)",
            job.name
        )))
    }
}

/// SageMaker answers a Describe of a missing training job with a
/// ValidationException saying "Requested resource not found".
fn is_gone(e: &AwsError) -> bool {
    e.is_not_found() || (e.code == "ValidationException" && e.message.contains("not found"))
}

pub fn to_resource(job: TrainingJob, tags: Tags, region: &str) -> Resource {
    let (id, arn, created_at) = (job.name.clone(), job.arn.clone(), job.created_at);
    let mut resource = Resource::new(id, arn, region, created_at, TrainingJobs::wrap(job));
    resource.tags = tags;
    resource.described = true;
    resource
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Stop(StopSpec),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopSpec {}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Stop,
}

fn is_running(resource: &Resource) -> bool {
    TrainingJobs::details_of(resource).is_some_and(|j| j.status == "InProgress")
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        "stop"
    }

    fn describe(&self) -> String {
        "stop the training job (its artifacts and checkpoints so far are kept)".to_string()
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission::on("sagemaker:StopTrainingJob", &[TrainingJobs::ARN_PATTERN])]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    /// Stopping, stopped, or ended anyway.
    fn already_satisfied(&self, resource: &Resource) -> bool {
        !is_running(resource)
    }

    fn refusal(&self, _: &Resource) -> Option<String> {
        None
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_none_or(|r| !is_running(r))
    }

    /// A running job's hours, at on-demand prices.
    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        is_running(resource).then_some(resource.monthly_cost_usd).flatten()
    }

    fn undoable(&self) -> bool {
        false
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        match Api::new(aws, &resource.region).stop(&resource.id).await {
            Ok(()) => Ok(ActionResult::Done("training job stopping".to_string())),
            Err(e) if is_gone(&e) => Ok(ActionResult::AlreadyDone("training job no longer exists".to_string())),
            Err(e) => Err(e),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// A [`TrainingJob`] from Search's `TrainingJob` or DescribeTrainingJob's
/// answer, which spell the same fields on two types.
macro_rules! training_job {
    ($j:expr, $name:expr) => {{
        let j = $j;
        let config = j.resource_config();
        let groups = config.map(|c| c.instance_groups()).unwrap_or_default();
        let instances: Vec<Instances> = if groups.is_empty() {
            // With instance preferences, the type SageMaker chose.
            let instance_type = config.and_then(|c| c.selected_instance_type().or(c.instance_type()));
            let count = config.and_then(|c| c.selected_instance_count().or(c.instance_count()));
            instance_type.map(|t| Instances { instance_type: t.as_str().to_string(), count: count.unwrap_or(1) }).into_iter().collect()
        } else {
            groups
                .iter()
                .filter_map(|g| Some(Instances { instance_type: g.instance_type()?.as_str().to_string(), count: g.instance_count().unwrap_or(1) }))
                .collect()
        };
        let stopping = j.stopping_condition();
        TrainingJob {
            name: j.training_job_name().unwrap_or($name).to_string(),
            arn: j.training_job_arn().unwrap_or_default().to_string(),
            status: j.training_job_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            secondary_status: j.secondary_status().map(|s| s.as_str().to_string()),
            instances,
            spot: j.enable_managed_spot_training().unwrap_or(false),
            created_at: time(j.creation_time()),
            started_at: time(j.training_start_time()),
            ended_at: time(j.training_end_time()),
            modified_at: time(j.last_modified_time()),
            training_seconds: j.training_time_in_seconds().map(i64::from),
            billable_seconds: j.billable_time_in_seconds().map(i64::from),
            max_runtime_seconds: stopping.and_then(|s| s.max_runtime_in_seconds()).map(i64::from),
            max_wait_seconds: stopping.and_then(|s| s.max_wait_time_in_seconds()).map(i64::from),
            tuning_job_arn: j.tuning_job_arn().map(str::to_string),
            training_plan_arn: config.and_then(|c| c.training_plan_arn()).map(str::to_string),
        }
    }};
}

/// The SageMaker calls this type makes.
struct Api {
    client: aws_sdk_sagemaker::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_sagemaker, region) }
    }

    /// Jobs last changed at or after `since`, newest first, with their tags.
    async fn search(&self, since: DateTime<Utc>, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<(TrainingJob, Tags)>, AwsError> {
        use aws_sdk_sagemaker::types::{ResourceType, SearchSortOrder};
        let mut pages = self
            .client
            .search()
            .resource(ResourceType::TrainingJob)
            .sort_by("LastModifiedTime")
            .sort_order(SearchSortOrder::Descending)
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut jobs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sagemaker_error("Search", e))?;
            let mut past_horizon = false;
            for j in page.results().iter().filter_map(|r| r.training_job()) {
                let job = training_job!(j, "");
                // Sorted newest first: the rest of the pages are older still.
                // (moto neither sorts nor pages: every job is checked.)
                if job.modified_at.is_some_and(|t| t < since) {
                    past_horizon = true;
                    continue;
                }
                if job.name.is_empty() || job.arn.is_empty() {
                    continue;
                }
                let tags = j.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect();
                jobs.push((job, tags));
            }
            on_page(jobs.len());
            if past_horizon {
                break;
            }
        }
        Ok(jobs)
    }

    async fn describe(&self, name: &str) -> Result<Option<TrainingJob>, AwsError> {
        match self.client.describe_training_job().training_job_name(name).send().await.map_err(|e| sagemaker_error("DescribeTrainingJob", e)) {
            Ok(j) => Ok(Some(training_job!(&j, name))),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn stop(&self, name: &str) -> Result<(), AwsError> {
        self.client.stop_training_job().training_job_name(name).send().await.map_err(|e| sagemaker_error("StopTrainingJob", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::test_now;

    fn job(status: &str, spot: bool, seconds: (Option<i64>, Option<i64>)) -> TrainingJob {
        let end = test_now() - Duration::days(2);
        TrainingJob {
            name: "train-1".into(),
            arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/train-1".into(),
            status: status.into(),
            secondary_status: None,
            instances: vec![Instances { instance_type: "ml.p3.2xlarge".into(), count: 2 }],
            spot,
            created_at: Some(end - Duration::hours(3)),
            started_at: Some(end - Duration::hours(2)),
            ended_at: (status != "InProgress").then_some(end),
            modified_at: Some(end),
            training_seconds: seconds.0,
            billable_seconds: seconds.1,
            max_runtime_seconds: Some(86_400),
            max_wait_seconds: None,
            tuning_job_arn: None,
            training_plan_arn: None,
        }
    }

    async fn priced(job: TrainingJob) -> Resource {
        let mut r = to_resource(job, Tags::new(), "us-east-1");
        TrainingJobs::price(&mut r, &PriceBook::builtin(), test_now()).await;
        r
    }

    #[tokio::test]
    async fn an_on_demand_run_costs_its_billable_seconds_and_spot_would_save_the_stated_share() {
        let r = priced(job("Completed", false, (Some(3600), Some(3600)))).await;
        // One hour of two ml.p3.2xlarge at $3.825.
        assert_eq!(r.monthly_cost_usd, Some(7.65));
        assert_eq!(r.cost_kind, Some(CostKind::Usage));
        let saving = r.avoidable_cost().unwrap_or(f64::NAN);
        assert!((saving - 7.65 * TYPICAL_SPOT_SAVING).abs() < 1e-9, "{saving}");
        assert!(r.cost_basis.as_deref().unwrap_or("").starts_with("one run of 3600 billable s"), "{:?}", r.cost_basis);
    }

    #[tokio::test]
    async fn a_spot_run_says_what_it_saved_and_has_nothing_left_to_save() {
        let r = priced(job("Completed", true, (Some(4000), Some(1000)))).await;
        assert!((r.monthly_cost_usd.unwrap_or(f64::NAN) - 7.65 * 1000.0 / 3600.0).abs() < 1e-9);
        assert_eq!(r.attribute("SpotSavingsPercent"), Some(AttrValue::Num(75.0)));
        assert_eq!(r.avoidable_cost(), None);
    }

    #[tokio::test]
    async fn without_billable_time_the_run_is_priced_from_start_to_end_and_says_so() {
        let r = priced(job("Failed", false, (None, None))).await;
        assert!((r.monthly_cost_usd.unwrap_or(f64::NAN) - 2.0 * 7.65).abs() < 1e-9, "{:?}", r.monthly_cost_usd);
        assert!(r.cost_basis.as_deref().unwrap_or("").contains("from start to end (AWS gave no billable time)"), "{:?}", r.cost_basis);
    }

    #[tokio::test]
    async fn a_running_job_costs_its_instance_hours_and_stopping_it_saves_them() {
        let mut running = job("InProgress", false, (None, None));
        running.started_at = Some(test_now() - Duration::hours(50));
        let r = priced(running).await;
        assert_eq!(r.cost_kind, Some(CostKind::InstanceHours));
        assert!((r.monthly_cost_usd.unwrap_or(f64::NAN) - 7.65 * HOURS_PER_MONTH).abs() < 1e-9);
        assert!(r.cost_basis.as_deref().unwrap_or("").starts_with("running 50.0 h, $382.50 so far"), "{:?}", r.cost_basis);
        assert_eq!(Action::Stop.monthly_saving(&r, test_now()), r.monthly_cost_usd);
        assert!(!Action::Stop.already_satisfied(&r));
        assert_eq!(r.avoidable_cost(), None, "a running job's saving is the stop's");
    }

    #[tokio::test]
    async fn unknown_instance_types_and_training_plans_are_not_priced_as_on_demand() {
        let mut unknown = job("Completed", false, (Some(60), Some(60)));
        unknown.instances = vec![Instances { instance_type: "ml.zz9.huge".into(), count: 1 }];
        let r = priced(unknown).await;
        assert_eq!(r.monthly_cost_usd, None);
        assert_eq!(r.avoidable_cost(), None);
        let mut planned = job("Completed", false, (Some(60), Some(60)));
        planned.training_plan_arn = Some("arn:aws:sagemaker:us-east-1:123456789012:training-plan/p".into());
        let r = priced(planned).await;
        assert_eq!((r.monthly_cost_usd, r.avoidable_cost()), (Some(0.0), None));
    }

    #[test]
    fn an_ended_job_is_already_stopped() {
        let r = to_resource(job("Completed", false, (None, None)), Tags::new(), "us-east-1");
        assert!(Action::Stop.already_satisfied(&r));
        assert!(Action::Stop.took_effect(&r, None));
    }
}
