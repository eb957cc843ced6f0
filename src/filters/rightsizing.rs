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
use crate::pricing::HOURS_PER_MONTH;
use crate::resources::sizes::{self, InstanceSize, SizingPart};
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
        })
    }
}

const KEY_CPU: &str = "cpu";
const KEY_SAMPLES: &str = "cpu-samples";
const KEY_MEMORY: &str = "memory";

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
        let memory = if self.memory { query(memory_ns, memory_metric, memory_series, stat) } else { Vec::new() };
        needs.push((self.key(KEY_MEMORY), self.days, memory));
        needs
    }

    pub fn is_fetched(&self, resource: &Resource) -> bool {
        [KEY_CPU, KEY_SAMPLES, KEY_MEMORY].iter().all(|k| resource.metrics.contains_key(&self.key(k)))
    }

    pub fn evaluate(&self, resource: &Resource) -> Option<String> {
        let a = self.assess(resource)?;
        (a.verdict == self.verdict).then_some(a.summary)
    }

    pub fn describe(&self) -> String {
        format!(
            "rightsizing verdict is {} (CPU {} over {} days, target {}%, idle below {}%)",
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
        let parts: Vec<PartAssessment> = resource.sizing().map(|s| s.parts).unwrap_or_default().iter().map(|p| self.assess_part(resource, p)).collect();
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
            summary.push_str(&format!("; saves {}/month", crate::text::usd(Some(s))));
        }
        Some(Assessment { verdict, summary, parts, current_monthly_usd: current, recommended_monthly_usd: recommended, monthly_saving_usd: saving })
    }

    fn assess_part(&self, resource: &Resource, part: &SizingPart) -> PartAssessment {
        let current = resource.size(&part.instance_type);
        let monthly = |size: Option<&InstanceSize>, count: i32| size.and_then(|s| s.hourly_usd).map(|h| h * f64::from(count) * HOURS_PER_MONTH);
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
        };
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
        if current.accelerated {
            a.why = format!("{} is accelerated (GPU/Inferentia/Trainium): CPU and memory do not measure its load", part.instance_type);
            return a;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{ec2_instance, sagemaker_endpoint};

    fn size(t: &str, vcpus: f64, memory_gib: Option<i64>, hourly: f64) -> InstanceSize {
        InstanceSize {
            instance_type: t.to_string(),
            vcpus,
            memory_mib: memory_gib.map(|g| g * 1024),
            burstable: t.starts_with('t'),
            accelerated: t.starts_with('g'),
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
        r
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
        let a = f.assess(&r).expect("assessed");
        let part = &a.parts[0];
        assert_eq!((part.recommended_type.as_deref(), part.recommended_count), (Some("ml.m5.large"), Some(2)), "{}", a.summary);
        assert_eq!(part.cpu_peak_pct, Some(10.0));
        assert_eq!(part.projected_cpu_pct, Some(40.0));
        assert_eq!(part.projected_memory_pct, Some(60.0), "memory follows the size, not the count");
        assert_eq!(part.hours_of_data, Some(336.0));
    }

    #[test]
    fn the_verdict_filter_matches_only_its_verdict() {
        let idle = Rightsizing { verdict: Verdict::Idle, ..Rightsizing::default() };
        assert!(idle.evaluate(&instance(Some(2.0), None, TWO_WEEKS)).is_some_and(|why| why.contains("suggest stop")));
        assert!(idle.evaluate(&instance(Some(15.0), None, TWO_WEEKS)).is_none());
    }
}
