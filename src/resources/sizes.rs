//! Instance sizes: what a smaller size of the same family offers, and costs.
//!
//! EC2 sizes come from DescribeInstanceTypes (vCPUs, memory, burstable,
//! accelerators). SageMaker has no such catalog: its `ml.` types follow the
//! EC2 naming, in which each size step doubles vCPUs and memory within a
//! family (`large` = 2 vCPUs, `xlarge` = 4, `Nxlarge` = 4N), and a size
//! exists when the price book knows its price.
//!
//! The judgement a `rightsizing` filter makes ([`Assessment`]) is data
//! here, so a resize action in a resource module can read it without
//! knowing the filter.

use serde::{Deserialize, Serialize};

use super::Dimensions;

pub use super::accelerators::{accelerated_type, AcceleratedType, AcceleratorKind, Accelerators, GpuSource};

/// What a `rightsizing` filter concludes about a resource or one part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    OverProvisioned,
    Idle,
    TooLittleData,
    RightSized,
    NotJudged,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::OverProvisioned => "over-provisioned",
            Verdict::Idle => "idle",
            Verdict::TooLittleData => "too-little-data",
            Verdict::RightSized => "right-sized",
            Verdict::NotJudged => "not-judged",
        }
    }
}

/// The judgement on one resource: what the finding shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub verdict: Verdict,
    /// One sentence: what, why, and what to do.
    pub summary: String,
    /// One per instance (EC2) or production variant (endpoint).
    pub parts: Vec<PartAssessment>,
    pub current_monthly_usd: Option<f64>,
    pub recommended_monthly_usd: Option<f64>,
    pub monthly_saving_usd: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartAssessment {
    /// The instance id or the variant name.
    pub name: String,
    pub verdict: Verdict,
    pub why: String,
    pub current_type: String,
    pub current_count: i32,
    pub recommended_type: Option<String>,
    pub recommended_count: Option<i32>,
    pub statistic: String,
    pub days: f64,
    pub hours_of_data: Option<f64>,
    pub cpu_peak_pct: Option<f64>,
    pub memory_peak_pct: Option<f64>,
    pub projected_cpu_pct: Option<f64>,
    pub projected_memory_pct: Option<f64>,
    pub current_monthly_usd: Option<f64>,
    pub recommended_monthly_usd: Option<f64>,
    /// What the verdict rests on: an accelerated instance is judged by its
    /// GPUs (or not at all), never by its CPU.
    #[serde(default)]
    pub judged_by: JudgedBy,
    /// GPUs (or Neuron devices) per instance, where accelerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// The busiest GPU's peak utilization (%), and the sum of every GPU's
    /// peak (in % of one GPU: 170 is 1.7 GPUs' worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_peak_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_summed_pct: Option<f64>,
    /// Peak GPU memory in use, all GPUs of one instance together (MiB),
    /// and as a share of their memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_used_mib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_peak_pct: Option<f64>,
    /// The GPU load and memory projected on the recommendation (% per GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_gpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_gpu_memory_pct: Option<f64>,
    /// A run billed this many hours once (a training job); its costs are
    /// the run's, not a month's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_hours: Option<f64>,
}

/// What a part's verdict rests on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgedBy {
    /// CPU (and host memory where published).
    #[default]
    Cpu,
    /// Its GPUs' utilization and memory (CPU and memory only check that a
    /// smaller type still fits).
    Gpu,
    /// Nothing: an accelerated instance without accelerator metrics.
    Nothing,
}

/// Where and how a type's `prepare_sizes` reads and prices sizes.
pub struct SizeContext<'a> {
    pub aws: &'a crate::aws::Aws,
    pub region: &'a str,
    pub options: &'a SizeOptions,
    pub prices: &'a crate::pricing::PriceBook,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// What the `rightsizing` filters of a sweep ask of a type's
/// `prepare_sizes`: whether memory is read, and where GPU metrics are.
#[derive(Clone, Debug, PartialEq)]
pub struct SizeOptions {
    pub memory: bool,
    /// The CloudWatch agent's namespace (`CWAgent` unless configured).
    pub gpu_namespace: String,
}

impl Default for SizeOptions {
    fn default() -> Self {
        Self { memory: true, gpu_namespace: DEFAULT_GPU_NAMESPACE.to_string() }
    }
}

/// Where the CloudWatch agent publishes, unless its config says otherwise.
pub const DEFAULT_GPU_NAMESPACE: &str = "CWAgent";

/// What a `rightsizing` filter judges on one resource, as its type
/// describes it: the instances, and where their load is published.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizing {
    /// Where `CPUUtilization` is, one series per part (by index).
    pub cpu_namespace: &'static str,
    pub cpu_series: Vec<Dimensions>,
    /// Where memory is: namespace, metric, and one series per part (empty
    /// where it is not published).
    pub memory_namespace: &'static str,
    pub memory_metric: &'static str,
    pub memory_series: Vec<Dimensions>,
    pub parts: Vec<SizingPart>,
    /// Where GPU utilization and GPU memory are published, for parts with
    /// GPU series; `None` when no part has any.
    pub gpu: Option<GpuSource>,
}

/// One part to judge: a type, a count, and where its series sit.
#[derive(Clone, Debug, PartialEq)]
pub struct SizingPart {
    pub name: String,
    pub instance_type: String,
    pub count: i32,
    /// Index of this part's series in each metric key.
    pub series: usize,
    /// Seconds each CPU sample stands for, divided among the instances.
    pub sample_secs: f64,
    /// What 100% CPU reads as (SageMaker sums its cores: 4 vCPUs read 400%).
    pub cpu_full_scale: f64,
    /// The smallest count worth recommending (endpoints keep two instances
    /// for availability when they have two or more).
    pub min_count: i32,
    /// Its GPU series (in [`Sizing::gpu`]'s namespace): one per GPU for the
    /// CloudWatch agent, one per part where the GPUs are summed or
    /// averaged, one per host of a training job; empty where none are
    /// published.
    pub gpu_series: Vec<Dimensions>,
    /// Seconds each GPU sample of its first series stands for (SageMaker
    /// endpoints: one a minute from each instance).
    pub gpu_sample_secs: f64,
    /// `None`: it runs all month (730 hours); `Some(h)`: a run billed `h`
    /// hours once (a training job), which nothing can stop any more: what
    /// a smaller type would have cost is the finding.
    pub billed_hours: Option<f64>,
}

impl SizingPart {
    /// The hours its prices are multiplied by.
    pub fn hours(&self) -> f64 {
        self.billed_hours.unwrap_or(crate::pricing::HOURS_PER_MONTH)
    }
}

/// One instance type, as rightsizing compares it with others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceSize {
    pub instance_type: String,
    pub vcpus: f64,
    /// `None` where only the family's proportions are known (SageMaker).
    pub memory_mib: Option<i64>,
    /// T-family: limited by CPU credits as much as by vCPUs.
    pub burstable: bool,
    /// GPUs, Inferentia or Trainium: CPU and memory do not measure its load.
    pub accelerated: bool,
    /// Its accelerators: kind, count, model and memory each, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerators: Option<Accelerators>,
    pub bare_metal: bool,
    /// On-demand price, where known.
    pub hourly_usd: Option<f64>,
    /// Where the price comes from, for the report.
    pub price_basis: Option<String>,
}

impl InstanceSize {
    /// How much more memory `self` has than `other`; the vCPU ratio where
    /// memory sizes are unknown (sizes of one family keep the proportion).
    pub fn memory_ratio(&self, other: &InstanceSize) -> f64 {
        match (self.memory_mib, other.memory_mib) {
            (Some(a), Some(b)) if b > 0 => a as f64 / b as f64,
            _ => self.vcpus / other.vcpus,
        }
    }
}

/// `m5.2xlarge` -> (`m5`, `2xlarge`); `ml.m5.2xlarge` -> (`ml.m5`, `2xlarge`).
pub fn split(instance_type: &str) -> Option<(&str, &str)> {
    instance_type.rsplit_once('.')
}

/// vCPUs of a size by its name, for families that follow the standard
/// ladder; `None` for `metal` and sizes off the ladder.
pub fn ladder_vcpus(size: &str) -> Option<f64> {
    match size {
        "medium" => Some(1.0),
        "large" => Some(2.0),
        "xlarge" => Some(4.0),
        _ => {
            let n: f64 = size.strip_suffix("xlarge")?.parse().ok()?;
            (n >= 2.0).then_some(4.0 * n)
        }
    }
}

/// The sizes SageMaker offers in some families; which exist in a family is
/// settled by the price book.
const SAGEMAKER_SIZES: &[&str] =
    &["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "9xlarge", "12xlarge", "16xlarge", "18xlarge", "24xlarge", "32xlarge", "48xlarge"];

/// An accelerated type of the table as rightsizing compares it, named
/// `instance_type` (its EC2 name, or SageMaker's `ml.` twin); unpriced.
pub fn accelerated_size(t: &AcceleratedType, instance_type: String) -> InstanceSize {
    InstanceSize {
        instance_type,
        vcpus: t.vcpus,
        memory_mib: Some(t.memory_gib * 1024),
        burstable: false,
        accelerated: true,
        accelerators: Some(t.accelerators.clone()),
        bare_metal: false,
        hourly_usd: None,
        price_basis: None,
    }
}

/// GPUs or Neuron devices (`inf`, `trn`), where the type has either: by
/// the accelerator table, or for a type it does not know by the family's
/// letter (`ml.` twins alike).
pub fn accelerator_kind(instance_type: &str) -> Option<AcceleratorKind> {
    if let Some(t) = accelerated_type(instance_type) {
        return Some(t.accelerators.kind);
    }
    let (family, _) = split(instance_type)?;
    let bare = family.strip_prefix("ml.").unwrap_or(family);
    family_accelerated(family).then_some(if bare.starts_with("inf") || bare.starts_with("trn") { AcceleratorKind::Neuron } else { AcceleratorKind::Gpu })
}

/// Whether a type has GPUs, Inferentia or Trainium ([`accelerator_kind`]).
pub fn is_accelerated(instance_type: &str) -> bool {
    accelerator_kind(instance_type).is_some()
}

/// vCPUs of a type by its name: the accelerator table's, else the size
/// ladder's (SageMaker's `ml.` types have no catalog).
pub fn named_vcpus(instance_type: &str) -> Option<f64> {
    accelerated_type(instance_type).map(|t| t.vcpus).or_else(|| split(instance_type).and_then(|(_, s)| ladder_vcpus(s)))
}

/// `ml.g4dn` -> true: the family letter after `ml.` names GPUs (g, p),
/// Inferentia (inf) or Trainium (trn).
pub fn family_accelerated(family: &str) -> bool {
    let bare = family.strip_prefix("ml.").unwrap_or(family);
    ["g", "p", "inf", "trn", "dl"].iter().any(|p| bare.strip_prefix(p).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
}

/// The SageMaker type and every size of its family no larger than it, by
/// name (unpriced); empty when the name is off the ladder. Accelerated
/// families do not follow the ladder (a g5.16xlarge has one GPU, a
/// g5.12xlarge four): their sizes come from the accelerator table, every
/// size of the family with no more accelerators than this one.
pub fn sagemaker_family(instance_type: &str) -> Vec<InstanceSize> {
    let Some((family, size)) = split(instance_type) else { return Vec::new() };
    if let Some(current) = accelerated_type(instance_type) {
        return super::accelerators::family_of(family)
            .filter(|t| t.accelerators.count <= current.accelerators.count)
            .map(|t| accelerated_size(&t, format!("{family}.{}", t.size())))
            .collect();
    }
    let Some(current) = ladder_vcpus(size) else { return Vec::new() };
    let burstable = family.strip_prefix("ml.").is_some_and(|f| f.starts_with('t'));
    SAGEMAKER_SIZES
        .iter()
        .filter_map(|s| Some((*s, ladder_vcpus(s)?)))
        .filter(|(_, vcpus)| *vcpus <= current)
        .map(|(s, vcpus)| InstanceSize {
            instance_type: format!("{family}.{s}"),
            vcpus,
            memory_mib: None,
            burstable,
            accelerated: family_accelerated(family),
            accelerators: None,
            bare_metal: false,
            hourly_usd: None,
            price_basis: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_double_along_the_ladder() {
        assert_eq!(ladder_vcpus("large"), Some(2.0));
        assert_eq!(ladder_vcpus("2xlarge"), Some(8.0));
        assert_eq!(ladder_vcpus("9xlarge"), Some(36.0));
        assert_eq!(ladder_vcpus("metal"), None);
        assert_eq!(split("ml.m5.2xlarge"), Some(("ml.m5", "2xlarge")));
    }

    #[test]
    fn a_sagemaker_family_lists_the_sizes_at_or_below_the_current_one() {
        let sizes: Vec<String> = sagemaker_family("ml.m5.2xlarge").into_iter().map(|s| s.instance_type).collect();
        assert_eq!(sizes, ["ml.m5.medium", "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge"]);
        assert!(sagemaker_family("ml.g4dn.xlarge").iter().all(|s| s.accelerated));
        let g5: Vec<(String, Option<u32>)> =
            sagemaker_family("ml.g5.12xlarge").into_iter().map(|s| (s.instance_type, s.accelerators.map(|a| a.count))).collect();
        assert!(g5.contains(&("ml.g5.xlarge".to_string(), Some(1))) && g5.contains(&("ml.g5.12xlarge".to_string(), Some(4))), "{g5:?}");
        assert!(!g5.iter().any(|(t, _)| t == "ml.g5.48xlarge"), "no size with more GPUs than the current one");
        assert!(!sagemaker_family("ml.m5.xlarge")[0].accelerated);
        assert!(sagemaker_family("ml.t3.large").iter().all(|s| s.burstable));
    }
}
