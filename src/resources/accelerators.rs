//! What the resource types share about accelerated instances (not a type
//! of its own): how many GPUs (or Neuron devices) each accelerated type
//! has, their memory, the host's vCPUs and memory, the us-east-1 on-demand
//! EC2 price, and where their utilization is published.
//!
//! An accelerated instance is judged by its accelerators, never by its
//! CPU: a training box at 3% CPU can have eight saturated GPUs.

use serde::{Deserialize, Serialize};

use super::Dimensions;

/// GPUs, or AWS's own Inferentia and Trainium devices (the Neuron SDK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcceleratorKind {
    Gpu,
    Neuron,
}

/// An instance type's accelerators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accelerators {
    pub kind: AcceleratorKind,
    pub count: u32,
    /// `A10G`, `H100`, `Inferentia2`.
    pub model: String,
    /// Memory of each device, where known.
    pub memory_mib_each: Option<i64>,
}

impl Accelerators {
    /// "4 x A10G 24 GiB".
    pub fn describe(&self) -> String {
        let memory = self.memory_mib_each.map(|m| format!(" {} GiB", m / 1024)).unwrap_or_default();
        format!("{} x {}{memory}", self.count, self.model)
    }
}

/// One accelerated EC2 type, as the table knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceleratedType {
    /// The EC2 name (`g5.12xlarge`); SageMaker's `ml.g5.12xlarge` is the same machine.
    pub name: &'static str,
    pub accelerators: Accelerators,
    pub vcpus: f64,
    pub memory_gib: i64,
    /// On-demand Linux USD per hour in us-east-1 on [`TAKEN`]; `None`
    /// where AWS lists no on-demand rate there (sold as Capacity Blocks).
    pub ec2_hourly_usd: Option<f64>,
}

impl AcceleratedType {
    /// `12xlarge` of `g5.12xlarge`.
    pub fn size(&self) -> &'static str {
        self.name.rsplit_once('.').map_or(self.name, |(_, s)| s)
    }

    fn family(&self) -> &'static str {
        self.name.rsplit_once('.').map_or(self.name, |(f, _)| f)
    }
}

/// When the table's prices were taken (public us-east-1 price lists).
pub const TAKEN: &str = "2026-12-03";

/// (type, kind, devices, model, MiB per device as DescribeInstanceTypes
/// gives it, vCPUs, memory GiB, USD/h).
type Row = (&'static str, AcceleratorKind, u32, &'static str, i64, f64, i64, Option<f64>);

use AcceleratorKind::{Gpu, Neuron};

/// The accelerated families costguard knows. Prices: us-east-1 on-demand
/// Linux, after AWS's June 2025 cut on P4d/P4de/P5 (the Price List API,
/// `--prices api`, overrides them; a type without a figure is unpriced,
/// never $0).
const TABLE: &[Row] = &[
    ("g4dn.xlarge", Gpu, 1, "T4", 16384, 4.0, 16, Some(0.526)),
    ("g4dn.2xlarge", Gpu, 1, "T4", 16384, 8.0, 32, Some(0.752)),
    ("g4dn.4xlarge", Gpu, 1, "T4", 16384, 16.0, 64, Some(1.204)),
    ("g4dn.8xlarge", Gpu, 1, "T4", 16384, 32.0, 128, Some(2.176)),
    ("g4dn.12xlarge", Gpu, 4, "T4", 16384, 48.0, 192, Some(3.912)),
    ("g4dn.16xlarge", Gpu, 1, "T4", 16384, 64.0, 256, Some(4.352)),
    ("g5.xlarge", Gpu, 1, "A10G", 22888, 4.0, 16, Some(1.006)),
    ("g5.2xlarge", Gpu, 1, "A10G", 22888, 8.0, 32, Some(1.212)),
    ("g5.4xlarge", Gpu, 1, "A10G", 22888, 16.0, 64, Some(1.624)),
    ("g5.8xlarge", Gpu, 1, "A10G", 22888, 32.0, 128, Some(2.448)),
    ("g5.12xlarge", Gpu, 4, "A10G", 22888, 48.0, 192, Some(5.672)),
    ("g5.16xlarge", Gpu, 1, "A10G", 22888, 64.0, 256, Some(4.096)),
    ("g5.24xlarge", Gpu, 4, "A10G", 22888, 96.0, 384, Some(8.144)),
    ("g5.48xlarge", Gpu, 8, "A10G", 22888, 192.0, 768, Some(16.288)),
    ("g6.xlarge", Gpu, 1, "L4", 22888, 4.0, 16, Some(0.8048)),
    ("g6.2xlarge", Gpu, 1, "L4", 22888, 8.0, 32, Some(0.9776)),
    ("g6.4xlarge", Gpu, 1, "L4", 22888, 16.0, 64, Some(1.3232)),
    ("g6.8xlarge", Gpu, 1, "L4", 22888, 32.0, 128, Some(2.0144)),
    ("g6.12xlarge", Gpu, 4, "L4", 22888, 48.0, 192, Some(4.6016)),
    ("g6.16xlarge", Gpu, 1, "L4", 22888, 64.0, 256, Some(3.3968)),
    ("g6.24xlarge", Gpu, 4, "L4", 22888, 96.0, 384, Some(6.6752)),
    ("g6.48xlarge", Gpu, 8, "L4", 22888, 192.0, 768, Some(13.3504)),
    ("g6e.xlarge", Gpu, 1, "L40S", 45776, 4.0, 32, Some(1.861)),
    ("g6e.2xlarge", Gpu, 1, "L40S", 45776, 8.0, 64, Some(2.24208)),
    ("g6e.4xlarge", Gpu, 1, "L40S", 45776, 16.0, 128, Some(3.00424)),
    ("g6e.8xlarge", Gpu, 1, "L40S", 45776, 32.0, 256, Some(4.52856)),
    ("g6e.12xlarge", Gpu, 4, "L40S", 45776, 48.0, 384, Some(10.49264)),
    ("g6e.16xlarge", Gpu, 1, "L40S", 45776, 64.0, 512, Some(7.57719)),
    ("g6e.24xlarge", Gpu, 4, "L40S", 45776, 96.0, 768, Some(15.06559)),
    ("g6e.48xlarge", Gpu, 8, "L40S", 45776, 192.0, 1536, Some(30.13118)),
    ("p3.2xlarge", Gpu, 1, "V100", 16384, 8.0, 61, Some(3.06)),
    ("p3.8xlarge", Gpu, 4, "V100", 16384, 32.0, 244, Some(12.24)),
    ("p3.16xlarge", Gpu, 8, "V100", 16384, 64.0, 488, Some(24.48)),
    ("p3dn.24xlarge", Gpu, 8, "V100", 32768, 96.0, 768, Some(31.212)),
    ("p4d.24xlarge", Gpu, 8, "A100", 40960, 96.0, 1152, Some(21.957642)),
    ("p4de.24xlarge", Gpu, 8, "A100", 81920, 96.0, 1152, Some(27.44705)),
    ("p5.4xlarge", Gpu, 1, "H100", 81920, 16.0, 256, Some(6.88)),
    ("p5.48xlarge", Gpu, 8, "H100", 81920, 192.0, 2048, Some(55.04)),
    ("p5e.48xlarge", Gpu, 8, "H200", 144384, 192.0, 2048, None),
    ("p5en.48xlarge", Gpu, 8, "H200", 144384, 192.0, 2048, Some(63.296)),
    ("inf1.xlarge", Neuron, 1, "Inferentia", 8192, 4.0, 8, Some(0.228)),
    ("inf1.2xlarge", Neuron, 1, "Inferentia", 8192, 8.0, 16, Some(0.362)),
    ("inf1.6xlarge", Neuron, 4, "Inferentia", 8192, 24.0, 48, Some(1.18)),
    ("inf1.24xlarge", Neuron, 16, "Inferentia", 8192, 96.0, 192, Some(4.721)),
    ("inf2.xlarge", Neuron, 1, "Inferentia2", 32768, 4.0, 16, Some(0.7582)),
    ("inf2.8xlarge", Neuron, 1, "Inferentia2", 32768, 32.0, 128, Some(1.96786)),
    ("inf2.24xlarge", Neuron, 6, "Inferentia2", 32768, 96.0, 384, Some(6.49063)),
    ("inf2.48xlarge", Neuron, 12, "Inferentia2", 32768, 192.0, 768, Some(12.98127)),
    ("trn1.2xlarge", Neuron, 1, "Trainium", 32768, 8.0, 32, Some(1.34375)),
    ("trn1.32xlarge", Neuron, 16, "Trainium", 32768, 128.0, 512, Some(21.5)),
    ("trn1n.32xlarge", Neuron, 16, "Trainium", 32768, 128.0, 512, Some(24.78)),
    ("trn2.48xlarge", Neuron, 16, "Trainium2", 98304, 192.0, 2048, None),
];

fn to_type(row: &Row) -> AcceleratedType {
    let &(name, kind, count, model, mib, vcpus, memory_gib, usd) = row;
    AcceleratedType {
        name,
        accelerators: Accelerators { kind, count, model: model.to_string(), memory_mib_each: Some(mib) },
        vcpus,
        memory_gib,
        ec2_hourly_usd: usd,
    }
}

/// The table's entry for an EC2 type or its SageMaker twin (`ml.` prefix).
pub fn accelerated_type(instance_type: &str) -> Option<AcceleratedType> {
    let bare = instance_type.strip_prefix("ml.").unwrap_or(instance_type);
    TABLE.iter().find(|row| row.0 == bare).map(to_type)
}

/// Every size the table knows of `family` (`g5` or `ml.g5`).
pub fn family_of(family: &str) -> impl Iterator<Item = AcceleratedType> + '_ {
    let bare = family.strip_prefix("ml.").unwrap_or(family);
    TABLE.iter().map(to_type).filter(move |t| t.family() == bare)
}

/// Where a resource's GPU utilization and GPU memory are published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum GpuSource {
    /// The CloudWatch agent's `nvidia_gpu` plugin on an EC2 instance: one
    /// series per GPU (`nvidia_smi_utilization_gpu`, 0-100), memory in use
    /// per GPU in MiB (`nvidia_smi_memory_used`).
    NvidiaAgent { namespace: String },
    /// Container Insights on an EKS GPU node (`node_gpu_utilization`,
    /// `node_gpu_memory_utilization`): the node's GPUs averaged, 0-100.
    ContainerInsights,
    /// Container Insights on an EKS node with Inferentia or Trainium
    /// (`node_neuroncore_utilization`, 0-100, the node's NeuronCores
    /// averaged; `node_neuroncore_memory_usage_total` in bytes).
    NeuronInsights,
    /// SageMaker (`GPUUtilization`, `GPUMemoryUtilization` per variant or
    /// host): 0-100 per GPU, summed over the instance's GPUs.
    SageMaker { namespace: String },
}

/// An instance's GPU series as ListMetrics found them, and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListedGpu {
    pub source: GpuSource,
    /// One per GPU ([`GpuScale::PerGpu`]) or one for the instance.
    pub series: Vec<Dimensions>,
}

/// How a source gives accelerator memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryUnit {
    /// MiB in use, per series.
    Mib,
    /// Bytes in use, all the instance's devices together.
    TotalBytes,
    /// Percent, scaled as the series' utilization is.
    Percent,
}

/// How one series' value relates to the GPUs it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuScale {
    /// One GPU, 0-100.
    PerGpu,
    /// All of the instance's GPUs, averaged (0-100).
    Averaged,
    /// All of the instance's GPUs, summed (0-100 x GPUs).
    Summed,
}

/// The Container Insights namespace.
pub const CONTAINER_INSIGHTS: &str = "ContainerInsights";

impl GpuSource {
    pub fn namespace(&self) -> &str {
        match self {
            GpuSource::NvidiaAgent { namespace } | GpuSource::SageMaker { namespace } => namespace,
            GpuSource::ContainerInsights | GpuSource::NeuronInsights => CONTAINER_INSIGHTS,
        }
    }

    pub fn utilization_metric(&self) -> &'static str {
        match self {
            GpuSource::NvidiaAgent { .. } => "nvidia_smi_utilization_gpu",
            GpuSource::ContainerInsights => "node_gpu_utilization",
            GpuSource::NeuronInsights => "node_neuroncore_utilization",
            GpuSource::SageMaker { .. } => "GPUUtilization",
        }
    }

    pub fn memory_metric(&self) -> &'static str {
        match self {
            GpuSource::NvidiaAgent { .. } => "nvidia_smi_memory_used",
            GpuSource::ContainerInsights => "node_gpu_memory_utilization",
            GpuSource::NeuronInsights => "node_neuroncore_memory_usage_total",
            GpuSource::SageMaker { .. } => "GPUMemoryUtilization",
        }
    }

    pub fn scale(&self) -> GpuScale {
        match self {
            GpuSource::NvidiaAgent { .. } => GpuScale::PerGpu,
            GpuSource::ContainerInsights | GpuSource::NeuronInsights => GpuScale::Averaged,
            GpuSource::SageMaker { .. } => GpuScale::Summed,
        }
    }

    pub fn memory_unit(&self) -> MemoryUnit {
        match self {
            GpuSource::NvidiaAgent { .. } => MemoryUnit::Mib,
            GpuSource::NeuronInsights => MemoryUnit::TotalBytes,
            GpuSource::ContainerInsights | GpuSource::SageMaker { .. } => MemoryUnit::Percent,
        }
    }

    /// For people: where the figures come from.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace(), self.utilization_metric())
    }
}

/// Why an accelerated resource without accelerator metrics is not judged.
pub fn no_metrics_reason(kind: AcceleratorKind, sagemaker: bool) -> &'static str {
    match (kind, sagemaker) {
        (AcceleratorKind::Gpu, false) => "no GPU metrics: install the CloudWatch agent with the nvidia_gpu plugin (or Container Insights on EKS)",
        (AcceleratorKind::Gpu, true) => "no GPU metrics: SageMaker published no GPUUtilization in the window",
        (AcceleratorKind::Neuron, _) => {
            "no Neuron metrics: costguard does not read Neuron core utilization yet, and never judges Inferentia or Trainium by CPU"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_knows_gpus_memory_and_prices() {
        let g5 = accelerated_type("g5.12xlarge").expect("known");
        assert_eq!((g5.accelerators.count, g5.accelerators.model.as_str(), g5.accelerators.memory_mib_each), (4, "A10G", Some(22_888)), "as EC2 says");
        assert_eq!(g5.ec2_hourly_usd, Some(5.672));
        assert_eq!(accelerated_type("ml.p4d.24xlarge").map(|t| t.accelerators.count), Some(8), "SageMaker's twin");
        assert_eq!(accelerated_type("p5e.48xlarge").and_then(|t| t.ec2_hourly_usd), None, "no on-demand rate: unpriced, not $0");
        assert_eq!(accelerated_type("m5.large"), None);
        let sizes: Vec<&str> = family_of("ml.g5").map(|t| t.size()).collect();
        assert_eq!(sizes.len(), 8, "{sizes:?}");
    }

    #[test]
    fn every_row_is_consistent() {
        for row in TABLE {
            let t = to_type(row);
            assert!(t.accelerators.count > 0 && t.vcpus > 0.0 && t.memory_gib > 0, "{}", t.name);
            assert!(t.ec2_hourly_usd.is_none_or(|p| p > 0.0), "{}", t.name);
            assert_eq!(TABLE.iter().filter(|r| r.0 == t.name).count(), 1, "{} once", t.name);
        }
    }
}
