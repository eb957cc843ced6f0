//! `rightsizing`: instances whose measured peak load would fit a smaller
//! size (or, for endpoints, fewer instances), and instances that are idle.
//!
//! ```yaml
//! - type: rightsizing
//!   verdict: over-provisioned  # idle | too-little-data | right-sized | not-judged
//!   days: 14                   # the look-back window
//!   statistic: Maximum         # or a percentile such as p99
//!   target: 80                 # % of the smaller size the peak may reach
//!   idle-below: 5              # peak CPU % under which the instance is idle
//!   min-hours: 30              # hours of CPU data required to judge at all
//!   memory: true               # use memory where it is published
//! ```
//!
//! Each instance (each production variant, for an endpoint) is judged on
//! the peak of CPU over the window, not its average, and on memory where it
//! is measured (`CWAgent` `mem_used_percent` for EC2, `MemoryUtilization`
//! for endpoints). In order:
//! 1. fewer than `min-hours` of CPU data: **too-little-data**;
//! 2. peak CPU under `idle-below`: **idle** (suggested action: stop);
//! 3. GPU/accelerator or burstable (T) types: **not-judged** (CPU and memory
//!    do not measure their load, or CPU credits limit them);
//! 4. the cheapest size of the same family (and, for endpoints, instance
//!    count) on which CPU and memory peaks would stay under `target`:
//!    **over-provisioned** with that recommendation, else **right-sized**.
//!
//! CPU scales with capacity: a peak of 30% on 8 vCPUs is 60% on 4. Memory
//! scales with the instance's memory, not with the count (every endpoint
//! instance holds the whole model).
//!
//! The filter matches resources whose verdict is `verdict`; the finding
//! carries the whole assessment (figures, types, costs, saving).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::metrics::{self, Stat};
use crate::aws::cloudwatch::SeriesQuery;
use crate::resources::accelerators::{no_metrics_reason, GpuScale, MemoryUnit};
use crate::resources::sizes::{self, accelerated_type, Accelerators, GpuSource, InstanceSize, JudgedBy, SizingPart};
pub use crate::resources::sizes::{Assessment, PartAssessment, Verdict};
use crate::resources::{Resource, ResourceType};
use crate::yaml::{DecodeError, Located};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RightsizingSpec {
    #[serde(default)]
    pub verdict: Option<Located<Verdict>>,
    #[serde(default)]
    pub days: Option<Located<f64>>,
    #[serde(default, alias = "statistics")]
    pub statistic: Option<Located<String>>,
    #[serde(default)]
    pub target: Option<Located<f64>>,
    #[serde(default)]
    pub idle_below: Option<Located<f64>>,
    #[serde(default)]
    pub min_hours: Option<Located<f64>>,
    #[serde(default)]
    pub memory: Option<Located<bool>>,
    #[serde(default)]
    pub gpu_memory_idle_below: Option<Located<f64>>,
    #[serde(default)]
    pub gpu_namespace: Option<Located<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rightsizing {
    pub resource_type: ResourceType,
    pub verdict: Verdict,
    pub days: f64,
    pub stat: Stat,
    pub target_pct: f64,
    pub idle_below_pct: f64,
    pub min_hours: f64,
    pub memory: bool,
    /// Peak GPU memory in use (% of the GPUs' memory) under which an
    /// accelerated instance whose GPUs are idle counts as idle.
    pub gpu_memory_idle_below_pct: f64,
    /// Where the CloudWatch agent publishes `nvidia_gpu` metrics.
    pub gpu_namespace: String,
}

impl Default for Rightsizing {
    fn default() -> Self {
        Self {
            resource_type: ResourceType::Ec2Instance,
            verdict: Verdict::OverProvisioned,
            days: 14.0,
            stat: Stat::Maximum,
            target_pct: 80.0,
            idle_below_pct: 5.0,
            min_hours: 30.0,
            memory: true,
            gpu_memory_idle_below_pct: 10.0,
            gpu_namespace: crate::resources::sizes::DEFAULT_GPU_NAMESPACE.to_string(),
        }
    }
}

impl RightsizingSpec {
    pub fn compile(&self, resource_type: ResourceType, path: &str, loc: crate::yaml::Loc, errors: &mut Vec<DecodeError>) -> Option<Rightsizing> {
        let before = errors.len();
        let mut error = |loc, field: &str, message: String| errors.push(DecodeError::new(loc, format!("{path}.{field}"), message));
        if !resource_type.sizable() {
            let sizable: Vec<&str> = ResourceType::ALL.iter().filter(|t| t.sizable()).map(|t| t.name()).collect();
            error(loc, "type", format!("rightsizing judges {}, not {resource_type}", sizable.join(" and ")));
        }
        let d = Rightsizing { resource_type, ..Rightsizing::default() };
        let days = self.days.as_ref().map_or(d.days, |v| v.value);
        if let Some(v) = self.days.as_ref().filter(|v| !(v.value >= 1.0 && v.value <= metrics::MAX_DAYS)) {
            error(v.loc, "days", format!("days must be from 1 to {} (CloudWatch's retention), found {v}", metrics::MAX_DAYS));
        }
        let stat = match &self.statistic {
            None => d.stat,
            Some(s) => match Stat::parse(&s.value) {
                Some(stat @ (Stat::Maximum | Stat::Percentile(_))) => stat,
                _ => {
                    error(s.loc, "statistic", format!("rightsizing looks at peaks: use Maximum or a percentile like p99, found {:?}", s.value));
                    d.stat
                }
            },
        };
        let pct = |v: &Option<Located<f64>>, default: f64, field: &str, lo: f64, error: &mut dyn FnMut(crate::yaml::Loc, &str, String)| match v {
            None => default,
            Some(v) if v.value > lo && v.value <= 100.0 => v.value,
            Some(v) => {
                error(v.loc, field, format!("{field} is a percentage above {lo} and at most 100, found {v}"));
                default
            }
        };
        let target_pct = pct(&self.target, d.target_pct, "target", 0.0, &mut error);
        let idle_below_pct = pct(&self.idle_below, d.idle_below_pct, "idle-below", -1.0, &mut error);
        let gpu_memory_idle_below_pct = pct(&self.gpu_memory_idle_below, d.gpu_memory_idle_below_pct, "gpu-memory-idle-below", -1.0, &mut error);
        if let Some(ns) = self.gpu_namespace.as_ref().filter(|ns| ns.value.is_empty() || ns.value.len() > 255) {
            error(ns.loc, "gpu-namespace", format!("gpu-namespace is a CloudWatch namespace of 1 to 255 characters, found {:?}", ns.value));
        }
        let min_hours = self.min_hours.as_ref().map_or(d.min_hours, |v| v.value);
        if let Some(v) = self.min_hours.as_ref().filter(|v| !(v.value >= 0.0 && v.value <= days * 24.0)) {
            error(v.loc, "min-hours", format!("min-hours must be from 0 to the window's {} hours, found {v}", days * 24.0));
        }
        if idle_below_pct >= target_pct {
            let at = self.idle_below.as_ref().map_or(loc, |v| v.loc);
            error(at, "idle-below", format!("idle-below ({idle_below_pct}) must be lower than target ({target_pct})"));
        }
        if errors.len() > before {
            return None;
        }
        Some(Rightsizing {
            resource_type,
            verdict: self.verdict.as_ref().map_or(d.verdict, |v| v.value),
            days,
            stat,
            target_pct,
            idle_below_pct,
            min_hours,
            memory: self.memory.as_ref().map_or(d.memory, |v| v.value),
            gpu_memory_idle_below_pct,
            gpu_namespace: self.gpu_namespace.as_ref().map_or(d.gpu_namespace, |v| v.value.clone()),
        })
    }
}

const KEY_CPU: &str = "cpu";
const KEY_SAMPLES: &str = "cpu-samples";
const KEY_MEMORY: &str = "memory";
const KEY_GPU: &str = "gpu";
const KEY_GPU_MEMORY: &str = "gpu-memory";
const KEY_GPU_SAMPLES: &str = "gpu-samples";
const KEYS: [&str; 6] = [KEY_CPU, KEY_SAMPLES, KEY_MEMORY, KEY_GPU, KEY_GPU_MEMORY, KEY_GPU_SAMPLES];

impl Rightsizing {
    fn key(&self, what: &str) -> String {
        format!("rightsizing/{what}/{}/{}d", self.stat.cloudwatch_name(), self.days)
    }

    fn period_secs(&self) -> i32 {
        metrics::whole_window_period(self.days)
    }

    pub fn window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        metrics::window_ending(now, self.days)
    }

    /// The series this filter reads for `resource`: (key, days, queries).
    /// Empty until the resource is described (an endpoint's variants).
    pub fn metric_needs(&self, resource: &Resource) -> Vec<(String, f64, Vec<SeriesQuery>)> {
        let Some(sizing) = resource.sizing() else { return Vec::new() };
        let (namespace, cpu_series) = (sizing.cpu_namespace, &sizing.cpu_series);
        let (memory_ns, memory_metric, memory_series) = (sizing.memory_namespace, sizing.memory_metric, &sizing.memory_series);
        let query = |ns: &str, metric: &str, dims: &[Vec<(String, String)>], stat: String| -> Vec<SeriesQuery> {
            dims.iter()
                .map(|d| SeriesQuery {
                    namespace: ns.into(),
                    metric: metric.into(),
                    dimensions: d.clone(),
                    stat: stat.clone(),
                    period_secs: self.period_secs(),
                })
                .collect()
        };
        let stat = self.stat.cloudwatch_name();
        let mut needs = vec![
            (self.key(KEY_CPU), self.days, query(namespace, "CPUUtilization", cpu_series, stat.clone())),
            (self.key(KEY_SAMPLES), self.days, query(namespace, "CPUUtilization", cpu_series, "SampleCount".into())),
        ];
        let memory = if self.memory { query(memory_ns, memory_metric, memory_series, stat.clone()) } else { Vec::new() };
        needs.push((self.key(KEY_MEMORY), self.days, memory));
        // GPUs: every GPU series of every part, in part order; the sample
        // count of each part's first series (how long they were measured).
        let (mut gpu, mut gpu_memory, mut gpu_samples) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(source) = &sizing.gpu {
            let all: Vec<Vec<(String, String)>> = sizing.parts.iter().flat_map(|p| p.gpu_series.iter().cloned()).collect();
            let first: Vec<Vec<(String, String)>> = sizing.parts.iter().filter_map(|p| p.gpu_series.first().cloned()).collect();
            gpu = query(source.namespace(), source.utilization_metric(), &all, stat.clone());
            gpu_memory = query(source.namespace(), source.memory_metric(), &all, "Maximum".into());
            gpu_samples = query(source.namespace(), source.utilization_metric(), &first, "SampleCount".into());
        }
        needs.push((self.key(KEY_GPU), self.days, gpu));
        needs.push((self.key(KEY_GPU_MEMORY), self.days, gpu_memory));
        needs.push((self.key(KEY_GPU_SAMPLES), self.days, gpu_samples));
        needs
    }

    pub fn is_fetched(&self, resource: &Resource) -> bool {
        KEYS.iter().all(|k| resource.metrics.contains_key(&self.key(k)))
    }

    pub fn evaluate(&self, resource: &Resource) -> Option<String> {
        let a = self.assess(resource)?;
        (a.verdict == self.verdict).then_some(a.summary)
    }

    pub fn describe(&self) -> String {
        format!(
            "rightsizing verdict is {} (CPU, or GPUs on accelerated types, {} over {} days, target {}%, idle below {}%)",
            self.verdict.name(),
            self.stat.cloudwatch_name(),
            self.days,
            self.target_pct,
            self.idle_below_pct
        )
    }

    fn value(&self, resource: &Resource, what: &str, series: usize, stat: Stat) -> Option<f64> {
        let points = resource.metrics.get(&self.key(what))?.get(series)?;
        stat.fold(points)
    }

    /// The full judgement, or `None` until the metrics are fetched.
    pub fn assess(&self, resource: &Resource) -> Option<Assessment> {
        if !self.is_fetched(resource) {
            return None;
        }
        let sizing = resource.sizing();
        let gpu = sizing.as_ref().and_then(|s| s.gpu.clone());
        let mut offsets = GpuOffsets::default();
        let parts: Vec<PartAssessment> = sizing
            .map(|s| s.parts)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let at = offsets.next(p);
                self.assess_part(resource, p, gpu.as_ref(), at)
            })
            .collect();
        if parts.is_empty() {
            return Some(Assessment {
                verdict: Verdict::NotJudged,
                summary: "not judged: no instance-backed capacity to size (serverless or undescribed)".to_string(),
                parts,
                current_monthly_usd: resource.monthly_cost_usd,
                recommended_monthly_usd: None,
                monthly_saving_usd: None,
            });
        }
        let all = |v: Verdict| parts.iter().all(|p| p.verdict == v);
        let any = |v: Verdict| parts.iter().any(|p| p.verdict == v);
        let verdict = if any(Verdict::OverProvisioned) {
            Verdict::OverProvisioned
        } else if all(Verdict::Idle) {
            Verdict::Idle
        } else if any(Verdict::TooLittleData) {
            Verdict::TooLittleData
        } else if all(Verdict::NotJudged) {
            Verdict::NotJudged
        } else {
            Verdict::RightSized
        };
        let mut current: Option<f64> = parts.iter().map(|p| p.current_monthly_usd).sum();
        if parts.len() == 1 {
            current = current.or(resource.monthly_cost_usd);
        }
        let recommended: Option<f64> = match verdict {
            Verdict::OverProvisioned => parts.iter().map(|p| p.recommended_monthly_usd.or(p.current_monthly_usd)).sum(),
            Verdict::Idle => Some(0.0),
            _ => None,
        };
        let saving = current.zip(recommended).map(|(c, r)| c - r).filter(|s| *s > 0.0);
        // A part named like the resource (an EC2 instance) is not named again.
        let said = |p: &PartAssessment| if p.name == resource.id { p.why.clone() } else { format!("{}: {}", p.name, p.why) };
        let mut summary = match verdict {
            Verdict::OverProvisioned => parts.iter().filter(|p| p.verdict == Verdict::OverProvisioned).map(said).collect::<Vec<_>>().join("; "),
            _ => parts.iter().map(said).collect::<Vec<_>>().join("; "),
        };
        summary = format!("{}: {summary}", verdict.name());
        if let Some(s) = saving {
            let per = if parts.iter().any(|p| p.billed_hours.is_some()) { " on this run" } else { "/month" };
            summary.push_str(&format!("; saves {}{per}", crate::text::usd(Some(s))));
        }
        Some(Assessment { verdict, summary, parts, current_monthly_usd: current, recommended_monthly_usd: recommended, monthly_saving_usd: saving })
    }

    fn assess_part(&self, resource: &Resource, part: &SizingPart, gpu: Option<&GpuSource>, at: GpuAt) -> PartAssessment {
        let current = resource.size(&part.instance_type);
        let monthly = |size: Option<&InstanceSize>, count: i32| size.and_then(|s| s.hourly_usd).map(|h| h * f64::from(count) * part.hours());
        let samples = self.value(resource, KEY_SAMPLES, part.series, Stat::Sum);
        let hours = samples.map(|n| n * part.sample_secs / 3600.0);
        let cpu = self.value(resource, KEY_CPU, part.series, self.stat).map(|v| v * 100.0 / part.cpu_full_scale);
        let memory = if self.memory { self.value(resource, KEY_MEMORY, part.series, self.stat) } else { None };
        let mut a = PartAssessment {
            name: part.name.clone(),
            verdict: Verdict::NotJudged,
            why: String::new(),
            current_type: part.instance_type.clone(),
            current_count: part.count,
            recommended_type: None,
            recommended_count: None,
            statistic: self.stat.cloudwatch_name(),
            days: self.days,
            hours_of_data: hours,
            cpu_peak_pct: cpu,
            memory_peak_pct: memory,
            projected_cpu_pct: None,
            projected_memory_pct: None,
            current_monthly_usd: monthly(current, part.count),
            recommended_monthly_usd: None,
            judged_by: JudgedBy::Cpu,
            gpus: None,
            gpu_peak_pct: None,
            gpu_summed_pct: None,
            gpu_memory_used_mib: None,
            gpu_memory_peak_pct: None,
            projected_gpu_pct: None,
            projected_gpu_memory_pct: None,
            billed_hours: part.billed_hours,
        };
        // Never by CPU: an accelerated type is judged by its accelerators,
        // or not at all. Known from the catalog, the accelerator table, or
        // failing both the family's name.
        let accelerators = current.and_then(|s| s.accelerators.clone()).or_else(|| accelerated_type(&part.instance_type).map(|t| t.accelerators));
        if accelerators.is_some() || current.is_some_and(|s| s.accelerated) || sizes::is_accelerated(&part.instance_type) {
            let input = Accelerated { part, current, accelerators, source: gpu, at, cpu, memory };
            return self.assess_accelerated(resource, input, a);
        }
        let stat = self.stat.cloudwatch_name();
        let measured = |cpu: f64| {
            let mem = memory.map_or_else(|| "memory not measured".to_string(), |m| format!("memory {stat} {m:.1}%"));
            format!("CPU {stat} {cpu:.1}%, {mem} over {} days ({:.0} h of data)", self.days, hours.unwrap_or(0.0))
        };
        let (Some(cpu), Some(_)) = (cpu, hours.filter(|h| *h >= self.min_hours)) else {
            a.verdict = Verdict::TooLittleData;
            a.why = format!("{:.0} h of CPU data in {} days, fewer than the {} h needed to judge", hours.unwrap_or(0.0), self.days, self.min_hours);
            return a;
        };
        if cpu < self.idle_below_pct {
            a.verdict = Verdict::Idle;
            a.recommended_count = Some(0);
            a.recommended_monthly_usd = Some(0.0);
            a.why = format!("{}; peak under {}%: suggest stop", measured(cpu), self.idle_below_pct);
            return a;
        }
        let Some(current) = current else {
            a.why = format!("{} not found in the instance catalog", part.instance_type);
            return a;
        };
        if current.burstable {
            a.why = format!("{} is burstable: CPU credits, not vCPUs, limit it", part.instance_type);
            return a;
        }
        let family = sizes::split(&part.instance_type).map(|(f, _)| f);
        let current_capacity = current.vcpus * f64::from(part.count);
        let current_cost = monthly(Some(current), part.count);
        let mut best: Option<(f64, &InstanceSize, i32, f64, Option<f64>)> = None;
        for size in resource.sizes.iter().filter(|s| sizes::split(&s.instance_type).map(|(f, _)| f) == family && s.vcpus <= current.vcpus && !s.bare_metal) {
            for count in part.min_count..=part.count {
                if size.instance_type == current.instance_type && count == part.count {
                    continue;
                }
                let projected_cpu = cpu * current_capacity / (size.vcpus * f64::from(count));
                let projected_memory = memory.map(|m| m * current.memory_ratio(size));
                if projected_cpu > self.target_pct || projected_memory.is_some_and(|m| m > self.target_pct) {
                    continue;
                }
                // Cheapest first; where a price is unknown, least capacity.
                let rank = monthly(Some(size), count).unwrap_or(f64::INFINITY);
                let capacity = size.vcpus * f64::from(count);
                let better = match &best {
                    None => true,
                    Some((r, b, c, _, _)) => rank < *r || (rank == *r && capacity < b.vcpus * f64::from(*c)),
                };
                if better {
                    best = Some((rank, size, count, projected_cpu, projected_memory));
                }
            }
        }
        let cheaper = best.filter(|(rank, size, count, _, _)| match current_cost {
            Some(cost) if rank.is_finite() => *rank < cost,
            _ => size.vcpus * f64::from(*count) < current_capacity,
        });
        let Some((_, size, count, projected_cpu, projected_memory)) = cheaper else {
            a.verdict = Verdict::RightSized;
            a.why = format!("{}; no smaller size keeps the peak under {}%", measured(cpu), self.target_pct);
            return a;
        };
        a.verdict = Verdict::OverProvisioned;
        a.recommended_type = Some(size.instance_type.clone());
        a.recommended_count = Some(count);
        a.projected_cpu_pct = Some(projected_cpu);
        a.projected_memory_pct = projected_memory;
        a.recommended_monthly_usd = monthly(Some(size), count);
        let from = if part.count > 1 || count != part.count { format!("{} x {}", part.count, part.instance_type) } else { part.instance_type.clone() };
        let to = if part.count > 1 || count != part.count { format!("{count} x {}", size.instance_type) } else { size.instance_type.clone() };
        let projected_mem = projected_memory.map_or_else(String::new, |m| format!(", memory {m:.1}%"));
        a.why = format!("{from} -> {to}: {}; would peak at CPU {projected_cpu:.1}%{projected_mem} (target {}%)", measured(cpu), self.target_pct);
        if a.recommended_monthly_usd.is_none() {
            a.why.push_str(&format!("; no price known for {}", size.instance_type));
        }
        a
    }
}

/// Where one part's GPU series sit in the GPU metric keys.
#[derive(Clone, Copy, Debug, Default)]
struct GpuAt {
    /// Index of its first series in `gpu` and `gpu-memory`, and how many.
    first: usize,
    count: usize,
    /// Index of its sample count in `gpu-samples`, if it has series.
    samples: Option<usize>,
}

/// Walks the parts in order, as `metric_needs` laid out their GPU queries.
#[derive(Default)]
struct GpuOffsets {
    series: usize,
    samples: usize,
}

impl GpuOffsets {
    fn next(&mut self, part: &SizingPart) -> GpuAt {
        let at = GpuAt { first: self.series, count: part.gpu_series.len(), samples: (!part.gpu_series.is_empty()).then_some(self.samples) };
        self.series += part.gpu_series.len();
        self.samples += usize::from(!part.gpu_series.is_empty());
        at
    }
}

/// What judging one accelerated part needs.
struct Accelerated<'a> {
    part: &'a SizingPart,
    current: Option<&'a InstanceSize>,
    accelerators: Option<Accelerators>,
    source: Option<&'a GpuSource>,
    at: GpuAt,
    /// Peak CPU (% of the instance) and host memory (%), where measured.
    cpu: Option<f64>,
    memory: Option<f64>,
}

/// One instance's GPUs as measured: the busiest GPU's peak, every GPU's
/// peak summed (in % of one GPU), and GPU memory in use (MiB), all GPUs
/// of one instance together.
struct GpuLoad {
    busiest_pct: f64,
    summed_pct: f64,
    memory_used_mib: Option<f64>,
    /// The busiest GPU's memory in use (% of its memory).
    memory_busiest_pct: Option<f64>,
    /// GPUs without a series of their own, counted as fully busy.
    unmeasured: u32,
}

impl Rightsizing {
    /// The values of `what` for one part's GPU series (`None`: no datapoints).
    fn gpu_values(&self, resource: &Resource, what: &str, at: GpuAt, stat: Stat) -> Vec<Option<f64>> {
        let Some(series) = resource.metrics.get(&self.key(what)) else { return Vec::new() };
        series.iter().skip(at.first).take(at.count).map(|points| stat.fold(points)).collect()
    }

    /// Reads one instance's GPU load from its series, by how the source
    /// scales them; `None` when no series has a datapoint.
    fn gpu_load(&self, resource: &Resource, source: &GpuSource, at: GpuAt, gpus: &Accelerators) -> Option<GpuLoad> {
        let utilization = self.gpu_values(resource, KEY_GPU, at, self.stat);
        let memory = self.gpu_values(resource, KEY_GPU_MEMORY, at, Stat::Maximum);
        if utilization.iter().all(Option::is_none) {
            return None;
        }
        let count = f64::from(gpus.count);
        let each_mib = gpus.memory_mib_each.map(|m| m as f64);
        let measured: Vec<f64> = utilization.iter().flatten().copied().collect();
        Some(match source.scale() {
            GpuScale::PerGpu => {
                // A GPU without a series of its own could be the busiest:
                // it counts as fully used, in load and in memory.
                let unmeasured = gpus.count.saturating_sub(measured.len() as u32);
                let memory_measured: Vec<f64> = memory.iter().flatten().copied().collect();
                let memory_used_mib = (!memory_measured.is_empty() && memory_measured.len() == measured.len())
                    .then(|| memory_measured.iter().sum::<f64>())
                    .and_then(|used| Some(used + f64::from(unmeasured) * each_mib?));
                GpuLoad {
                    busiest_pct: if unmeasured > 0 { 100.0 } else { measured.iter().copied().fold(0.0, f64::max) },
                    summed_pct: measured.iter().sum::<f64>() + 100.0 * f64::from(unmeasured),
                    memory_busiest_pct: each_mib.filter(|_| memory_used_mib.is_some()).map(|each| {
                        if unmeasured > 0 {
                            100.0
                        } else {
                            memory_measured.iter().copied().fold(0.0, f64::max) * 100.0 / each
                        }
                    }),
                    memory_used_mib,
                    unmeasured,
                }
            }
            GpuScale::Averaged => {
                // An average of 10% over 8 GPUs may be one GPU at 80%.
                let average = measured.iter().copied().fold(0.0, f64::max);
                let peak = memory.iter().flatten().copied().reduce(f64::max);
                let (memory_used_mib, memory_pct) = match source.memory_unit() {
                    MemoryUnit::TotalBytes => {
                        let used = peak.map(|bytes| bytes / 1_048_576.0);
                        (used, used.zip(each_mib).map(|(used, each)| used * 100.0 / (each * count)))
                    }
                    MemoryUnit::Percent | MemoryUnit::Mib => (peak.zip(each_mib).map(|(pct, each)| pct / 100.0 * each * count), peak),
                };
                GpuLoad {
                    busiest_pct: (average * count).min(100.0),
                    summed_pct: average * count,
                    memory_used_mib,
                    memory_busiest_pct: memory_pct.map(|pct| (pct * count).min(100.0)),
                    unmeasured: 0,
                }
            }
            GpuScale::Summed => {
                let summed = measured.iter().copied().fold(0.0, f64::max);
                let memory_pct = memory.iter().flatten().copied().reduce(f64::max);
                GpuLoad {
                    busiest_pct: summed.min(100.0),
                    summed_pct: summed,
                    memory_used_mib: memory_pct.zip(each_mib).map(|(pct, each)| pct / 100.0 * each),
                    memory_busiest_pct: memory_pct.map(|pct| pct.min(100.0)),
                    unmeasured: 0,
                }
            }
        })
    }

    /// An accelerated part: judged by its GPUs, or not at all. CPU and
    /// host memory only check that a smaller type would still fit them.
    fn assess_accelerated(&self, resource: &Resource, input: Accelerated<'_>, mut a: PartAssessment) -> PartAssessment {
        let Accelerated { part, current, accelerators, source, at, cpu, memory } = input;
        a.verdict = Verdict::NotJudged;
        a.judged_by = JudgedBy::Nothing;
        a.hours_of_data = None;
        let sagemaker = resource.resource_type() != ResourceType::Ec2Instance;
        let Some(gpus) = accelerators else {
            a.why = format!("{} is accelerated, but how many accelerators it has is unknown: not judged (never by CPU)", part.instance_type);
            return a;
        };
        a.gpus = Some(gpus.count);
        let load = source.filter(|_| at.count > 0).and_then(|s| Some((s, self.gpu_load(resource, s, at, &gpus)?)));
        let Some((source, load)) = load else {
            a.why = format!("{} ({}): {}", part.instance_type, gpus.describe(), no_metrics_reason(gpus.kind, sagemaker));
            return a;
        };
        let samples = at.samples.and_then(|i| resource.metrics.get(&self.key(KEY_GPU_SAMPLES))?.get(i).and_then(|p| Stat::Sum.fold(p)));
        // Never more hours than the window has (an agent sampling every
        // 10 s publishes six samples a minute).
        let hours = samples.map(|n| (n * part.gpu_sample_secs / 3600.0).min(self.days * 24.0));
        a.hours_of_data = hours;
        a.judged_by = JudgedBy::Gpu;
        a.gpu_peak_pct = Some(load.busiest_pct);
        a.gpu_summed_pct = Some(load.summed_pct);
        a.gpu_memory_used_mib = load.memory_used_mib;
        a.gpu_memory_peak_pct = load.memory_used_mib.zip(gpus.memory_mib_each).map(|(used, each)| used * 100.0 / (each as f64 * f64::from(gpus.count)));
        if hours.is_none_or(|h| h < self.min_hours) {
            a.verdict = Verdict::TooLittleData;
            a.why = format!("{:.0} h of GPU data in {} days, fewer than the {} h needed to judge", hours.unwrap_or(0.0), self.days, self.min_hours);
            return a;
        }
        let stat = self.stat.cloudwatch_name();
        let gib = |mib: f64| mib / 1024.0;
        let memory_text = match (load.memory_used_mib, gpus.memory_mib_each) {
            (Some(used), Some(each)) => format!("GPU memory peak {:.1} GiB of {:.0} GiB", gib(used), gib(each as f64 * f64::from(gpus.count))),
            _ => "GPU memory not measured".to_string(),
        };
        let unmeasured =
            if load.unmeasured > 0 { format!(" ({} of {} GPUs publish no series: counted as busy)", load.unmeasured, gpus.count) } else { String::new() };
        let measured = format!(
            "{} x {}: busiest GPU {stat} {:.1}%, all GPUs together {:.0}% of one GPU; {memory_text}{unmeasured} over {} days ({:.0} h of GPU data, {})",
            gpus.count,
            gpus.model,
            load.busiest_pct,
            load.summed_pct,
            self.days,
            hours.unwrap_or(0.0),
            source.describe()
        );
        let memory_idle = load.memory_busiest_pct.is_none_or(|m| m < self.gpu_memory_idle_below_pct);
        // A run that has ended cannot be stopped: what a smaller type
        // would have cost is its finding.
        let idle = load.unmeasured == 0 && load.busiest_pct < self.idle_below_pct && memory_idle;
        if idle && part.billed_hours.is_none() {
            a.verdict = Verdict::Idle;
            a.recommended_count = Some(0);
            a.recommended_monthly_usd = Some(0.0);
            a.why = format!("{measured}; every GPU under {}% (memory under {}%): suggest stop", self.idle_below_pct, self.gpu_memory_idle_below_pct);
            return a;
        }
        let monthly = |size: Option<&InstanceSize>, count: i32| size.and_then(|s| s.hourly_usd).map(|h| h * f64::from(count) * part.hours());
        let family = sizes::split(&part.instance_type).map(|(f, _)| f);
        let current_vcpus = current.map_or(0.0, |c| c.vcpus) * f64::from(part.count);
        let current_cost = monthly(current, part.count);
        let load_total = load.summed_pct * f64::from(part.count);
        // (rank, size, count, GPU %, GPU memory %, CPU %, memory %)
        type Candidate<'s> = (f64, &'s InstanceSize, i32, f64, Option<f64>, Option<f64>, Option<f64>);
        let mut best: Option<Candidate<'_>> = None;
        let same_family = resource.sizes.iter().filter(|s| sizes::split(&s.instance_type).map(|(f, _)| f) == family && !s.bare_metal);
        for size in same_family {
            let Some(new) = size.accelerators.as_ref().filter(|n| n.kind == gpus.kind && n.count <= gpus.count) else { continue };
            // Fewer GPUs per instance only where GPU memory is known to fit.
            if new.count < gpus.count && (load.memory_used_mib.is_none() || new.memory_mib_each.is_none()) {
                continue;
            }
            for count in part.min_count..=part.count {
                if size.instance_type == part.instance_type && count == part.count {
                    continue;
                }
                let projected_gpu = load_total / (f64::from(new.count) * f64::from(count));
                // Every instance holds the whole model: memory follows the
                // size, not the count.
                let projected_gpu_memory =
                    load.memory_used_mib.zip(new.memory_mib_each).map(|(used, each)| used * 100.0 / (each as f64 * f64::from(new.count)));
                let projected_cpu = match (cpu, current) {
                    (Some(cpu), Some(_)) => Some(cpu * current_vcpus / (size.vcpus * f64::from(count))),
                    _ => None,
                };
                let projected_memory = memory.zip(current).map(|(m, c)| m * c.memory_ratio(size));
                let cpu_fits = match projected_cpu {
                    Some(p) => p <= self.target_pct,
                    // CPU not measured: only where it has as many vCPUs.
                    None => size.vcpus * f64::from(count) >= current_vcpus,
                };
                if projected_gpu > self.target_pct
                    || projected_gpu_memory.is_some_and(|m| m > self.target_pct)
                    || !cpu_fits
                    || projected_memory.is_some_and(|m| m > self.target_pct)
                {
                    continue;
                }
                let rank = monthly(Some(size), count).unwrap_or(f64::INFINITY);
                if best.as_ref().is_none_or(|b| rank < b.0) {
                    best = Some((rank, size, count, projected_gpu, projected_gpu_memory, projected_cpu, projected_memory));
                }
            }
        }
        let cheaper = best.filter(|b| matches!(current_cost, Some(cost) if b.0.is_finite() && b.0 < cost));
        let Some((_, size, count, projected_gpu, projected_gpu_memory, projected_cpu, projected_memory)) = cheaper else {
            a.verdict = Verdict::RightSized;
            let unpriced = if current_cost.is_none() { " (its price is unknown)" } else { "" };
            a.why = format!("{measured}; no cheaper size of the family keeps GPUs, GPU memory, CPU and memory under {}%{unpriced}", self.target_pct);
            return a;
        };
        a.verdict = Verdict::OverProvisioned;
        a.recommended_type = Some(size.instance_type.clone());
        a.recommended_count = Some(count);
        a.projected_gpu_pct = Some(projected_gpu);
        a.projected_gpu_memory_pct = projected_gpu_memory;
        a.projected_cpu_pct = projected_cpu;
        a.projected_memory_pct = projected_memory;
        a.recommended_monthly_usd = monthly(Some(size), count);
        let new_gpus = size.accelerators.as_ref().map_or(0, |n| n.count);
        let plural = |n: i32, t: &str| if part.count > 1 || count != part.count { format!("{n} x {t}") } else { t.to_string() };
        let gpu_memory = projected_gpu_memory.map_or_else(String::new, |m| format!(", GPU memory {m:.1}%"));
        a.why = format!(
            "{} -> {} ({} GPU{} each): {measured}; would peak at GPU {projected_gpu:.1}%{gpu_memory} (target {}%), CPU and memory checked",
            plural(part.count, &part.instance_type),
            plural(count, &size.instance_type),
            new_gpus,
            if new_gpus == 1 { "" } else { "s" },
            self.target_pct
        );
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::sizes::JudgedBy;
    use crate::resources::{ec2_instance, sagemaker_endpoint};

    fn size(t: &str, vcpus: f64, memory_gib: Option<i64>, hourly: f64) -> InstanceSize {
        InstanceSize {
            instance_type: t.to_string(),
            vcpus,
            memory_mib: memory_gib.map(|g| g * 1024),
            burstable: t.starts_with('t'),
            accelerated: t.starts_with('g'),
            accelerators: None,
            bare_metal: false,
            hourly_usd: Some(hourly),
            price_basis: None,
        }
    }

    fn m5_family() -> Vec<InstanceSize> {
        vec![size("m5.large", 2.0, Some(8), 0.096), size("m5.xlarge", 4.0, Some(16), 0.192), size("m5.2xlarge", 8.0, Some(32), 0.384)]
    }

    /// An m5.2xlarge measured at `cpu`% peak, `memory`% peak, over `samples`
    /// five-minute samples.
    fn instance(cpu: Option<f64>, memory: Option<f64>, samples: f64) -> Resource {
        let f = Rightsizing::default();
        let mut r = ec2_instance::fixture("i-1", "m5.2xlarge");
        r.sizes = m5_family().into();
        r.metrics.insert(f.key(KEY_CPU), vec![cpu.into_iter().collect()]);
        r.metrics.insert(f.key(KEY_SAMPLES), vec![vec![samples]]);
        r.metrics.insert(f.key(KEY_MEMORY), memory.map(|m| vec![vec![m]]).unwrap_or_default());
        no_gpus(&f, &mut r);
        r
    }

    /// The GPU keys, fetched and empty (a CPU instance publishes none).
    fn no_gpus(f: &Rightsizing, r: &mut Resource) {
        for key in [KEY_GPU, KEY_GPU_MEMORY, KEY_GPU_SAMPLES] {
            r.metrics.insert(f.key(key), Vec::new());
        }
    }

    const TWO_WEEKS: f64 = 14.0 * 288.0;

    #[test]
    fn a_quiet_instance_gets_the_smallest_size_that_keeps_headroom() {
        let a = Rightsizing::default().assess(&instance(Some(15.0), Some(20.0), TWO_WEEKS)).expect("assessed");
        assert_eq!(a.verdict, Verdict::OverProvisioned, "{}", a.summary);
        let part = &a.parts[0];
        assert_eq!(part.recommended_type.as_deref(), Some("m5.large"));
        assert_eq!(part.projected_cpu_pct, Some(60.0));
        assert_eq!(part.projected_memory_pct, Some(80.0));
        assert_eq!(part.hours_of_data, Some(336.0));
        let saving = a.monthly_saving_usd.unwrap_or_default();
        assert!((saving - (0.384 - 0.096) * 730.0).abs() < 1e-6, "{saving}");
    }

    #[test]
    fn memory_holds_a_size_up() {
        let a = Rightsizing::default().assess(&instance(Some(15.0), Some(30.0), TWO_WEEKS)).expect("assessed");
        assert_eq!(a.parts[0].recommended_type.as_deref(), Some("m5.xlarge"), "{}", a.summary);
        let unmeasured = Rightsizing::default().assess(&instance(Some(15.0), None, TWO_WEEKS)).expect("assessed");
        assert_eq!(unmeasured.parts[0].recommended_type.as_deref(), Some("m5.large"));
        assert!(unmeasured.summary.contains("memory not measured"), "{}", unmeasured.summary);
    }

    #[test]
    fn busy_idle_and_unmeasured_instances_get_their_own_verdicts() {
        let judge = |cpu, samples| Rightsizing::default().assess(&instance(cpu, None, samples)).map(|a| a.verdict);
        assert_eq!(judge(Some(45.0), TWO_WEEKS), Some(Verdict::RightSized), "45% of 8 vCPUs is 90% of 4");
        assert_eq!(judge(Some(3.0), TWO_WEEKS), Some(Verdict::Idle));
        assert_eq!(judge(Some(15.0), 100.0), Some(Verdict::TooLittleData), "100 samples of 5 min are 8 h");
        assert_eq!(judge(None, 0.0), Some(Verdict::TooLittleData));
        let unfetched = ec2_instance::fixture("i-2", "m5.2xlarge");
        assert_eq!(Rightsizing::default().assess(&unfetched), None, "no verdict before the metrics are read");
    }

    #[test]
    fn burstable_and_gpu_types_are_not_sized_by_cpu() {
        let mut r = instance(Some(15.0), None, TWO_WEEKS);
        r.sizes = [InstanceSize { accelerated: true, ..size("m5.2xlarge", 8.0, Some(32), 0.384) }].into();
        assert_eq!(Rightsizing::default().assess(&r).map(|a| a.verdict), Some(Verdict::NotJudged));
        r.sizes = [InstanceSize { burstable: true, ..size("m5.2xlarge", 8.0, Some(32), 0.384) }].into();
        assert_eq!(Rightsizing::default().assess(&r).map(|a| a.verdict), Some(Verdict::NotJudged));
    }

    #[test]
    fn an_endpoint_can_shed_instances_but_keeps_two() {
        let f = Rightsizing { resource_type: ResourceType::SagemakerEndpoint, ..Rightsizing::default() };
        let mut r = sagemaker_endpoint::fixture("e", "InService", &[("AllTraffic", "ml.m5.xlarge", 4)]);
        r.sizes = [size("ml.m5.large", 2.0, None, 0.115), size("ml.m5.xlarge", 4.0, None, 0.23)].into();
        // SageMaker sums cores: 40% of 400% is 10% of the instance.
        r.metrics.insert(f.key(KEY_CPU), vec![vec![40.0]]);
        r.metrics.insert(f.key(KEY_SAMPLES), vec![vec![14.0 * 1440.0 * 4.0]]);
        r.metrics.insert(f.key(KEY_MEMORY), vec![vec![30.0]]);
        no_gpus(&f, &mut r);
        let a = f.assess(&r).expect("assessed");
        let part = &a.parts[0];
        assert_eq!((part.recommended_type.as_deref(), part.recommended_count), (Some("ml.m5.large"), Some(2)), "{}", a.summary);
        assert_eq!(part.cpu_peak_pct, Some(10.0));
        assert_eq!(part.projected_cpu_pct, Some(40.0));
        assert_eq!(part.projected_memory_pct, Some(60.0), "memory follows the size, not the count");
        assert_eq!(part.hours_of_data, Some(336.0));
    }

    /// A g5.12xlarge (4 x A10G) whose agent publishes `series` GPU series
    /// peaking at `util` (%) and holding `memory` (MiB), CPU at 5%, with
    /// `samples` one-minute GPU samples.
    fn gpu_box(util: &[f64], memory: Option<&[f64]>, samples: f64) -> Resource {
        use crate::resources::accelerators::{family_of, GpuSource, ListedGpu};
        let f = Rightsizing::default();
        let mut r = ec2_instance::fixture("i-g", "g5.12xlarge");
        r.sizes = family_of("g5")
            .map(|t| InstanceSize { hourly_usd: t.ec2_hourly_usd, ..sizes::accelerated_size(&t, t.name.to_string()) })
            .collect::<Vec<_>>()
            .into();
        let series: Vec<Vec<(String, String)>> = (0..util.len()).map(|i| vec![("InstanceId".into(), "i-g".into()), ("index".into(), i.to_string())]).collect();
        r.gpu_series = Some(Box::new(ListedGpu { source: GpuSource::NvidiaAgent { namespace: "CWAgent".into() }, series }));
        r.metrics.insert(f.key(KEY_CPU), vec![vec![5.0]]);
        r.metrics.insert(f.key(KEY_SAMPLES), vec![vec![TWO_WEEKS]]);
        r.metrics.insert(f.key(KEY_MEMORY), Vec::new());
        r.metrics.insert(f.key(KEY_GPU), util.iter().map(|u| vec![*u]).collect());
        r.metrics.insert(f.key(KEY_GPU_MEMORY), memory.map(|m| m.iter().map(|v| vec![*v]).collect()).unwrap_or_else(|| vec![Vec::new(); util.len()]));
        r.metrics.insert(f.key(KEY_GPU_SAMPLES), vec![vec![samples]]);
        r
    }

    const GPU_WEEKS: f64 = 14.0 * 1440.0;

    #[test]
    fn busy_gpus_at_low_cpu_are_never_idle() {
        let a = Rightsizing::default().assess(&gpu_box(&[95.0, 92.0, 97.0, 90.0], Some(&[20000.0; 4]), GPU_WEEKS)).expect("assessed");
        assert_eq!(a.verdict, Verdict::RightSized, "{}", a.summary);
        assert_eq!(a.parts[0].judged_by, JudgedBy::Gpu);
        assert_eq!(a.parts[0].cpu_peak_pct, Some(5.0), "CPU is shown, never judged");
    }

    #[test]
    fn a_gpu_without_a_series_counts_as_busy() {
        let f = Rightsizing::default();
        let three_of_four = f.assess(&gpu_box(&[0.0, 0.0, 0.0], Some(&[100.0; 3]), GPU_WEEKS)).expect("assessed");
        assert_ne!(three_of_four.verdict, Verdict::Idle, "{}", three_of_four.summary);
        assert!(three_of_four.summary.contains("1 of 4 GPUs publish no series"), "{}", three_of_four.summary);
        let all_four = f.assess(&gpu_box(&[0.0, 1.0, 0.0, 0.0], Some(&[100.0; 4]), GPU_WEEKS)).expect("assessed");
        assert_eq!(all_four.verdict, Verdict::Idle, "{}", all_four.summary);
    }

    #[test]
    fn fewer_gpus_only_where_gpu_memory_is_known_to_fit() {
        let f = Rightsizing::default();
        let unmeasured = f.assess(&gpu_box(&[70.0, 0.0, 0.0, 0.0], None, GPU_WEEKS)).expect("assessed");
        assert_eq!(unmeasured.verdict, Verdict::RightSized, "{}", unmeasured.summary);
        assert!(unmeasured.summary.contains("GPU memory not measured"), "{}", unmeasured.summary);
        let fits = f.assess(&gpu_box(&[70.0, 0.0, 0.0, 0.0], Some(&[12000.0, 300.0, 300.0, 300.0]), GPU_WEEKS)).expect("assessed");
        assert_eq!(fits.parts[0].recommended_type.as_deref(), Some("g5.xlarge"), "{}", fits.summary);
        let little = f.assess(&gpu_box(&[70.0, 0.0, 0.0, 0.0], Some(&[12000.0, 300.0, 300.0, 300.0]), 600.0)).expect("assessed");
        assert_eq!(little.verdict, Verdict::TooLittleData, "ten hours of GPU data: {}", little.summary);
    }

    #[test]
    fn an_unmeasured_gpu_box_is_not_judged_whatever_its_cpu() {
        let mut r = gpu_box(&[], None, 0.0);
        r.gpu_series = None;
        r.metrics.insert(Rightsizing::default().key(KEY_CPU), vec![vec![1.0]]);
        let a = Rightsizing::default().assess(&r).expect("assessed");
        assert_eq!((a.verdict, a.parts[0].judged_by), (Verdict::NotJudged, JudgedBy::Nothing), "{}", a.summary);
        assert!(a.summary.contains("no GPU metrics"), "{}", a.summary);
    }

    #[test]
    fn the_verdict_filter_matches_only_its_verdict() {
        let idle = Rightsizing { verdict: Verdict::Idle, ..Rightsizing::default() };
        assert!(idle.evaluate(&instance(Some(2.0), None, TWO_WEEKS)).is_some_and(|why| why.contains("suggest stop")));
        assert!(idle.evaluate(&instance(Some(15.0), None, TWO_WEEKS)).is_none());
    }
}
