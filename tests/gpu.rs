//! GPU instances and endpoints judged by their GPUs, end to end against the
//! moto server: the CloudWatch agent's per-GPU series found whatever else
//! its config appends, busy GPUs at 3% CPU left alone, one GPU busy of four
//! moved to a one-GPU size, GPU memory that does not fit a smaller size,
//! an unmeasured GPU box listed as not judged with its cost, endpoints
//! whose GPUUtilization sums their GPUs (above 100), Container Insights
//! on EKS nodes, and policies that would stop a GPU box on CPU refused.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::progress::Progress;
use costguard::report::Finding;
use costguard::resources::sizes::JudgedBy;
use costguard::sweep::{self, SweepResult};
use serde_json::json;
use support::{seed_endpoint, Moto};
use tokio_util::sync::CancellationToken;

fn shipped(files: &[&str]) -> Vec<Policy> {
    let mut all = Vec::new();
    for file in files {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(file);
        let text = std::fs::read_to_string(&path).expect("shipped policies");
        all.extend(compile_text(&path, &text).expect("shipped policies are valid"));
    }
    all
}

async fn sweep_at(moto: &Moto, state: &Path, policies: &[Policy], now: DateTime<Utc>) -> SweepResult {
    let options = support::sweep_options(state, true);
    let aws = moto.aws().await;
    sweep::run(&aws, policies, &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

fn calls(result: &SweepResult, op: &str) -> u64 {
    result.report.api_calls.get(op).copied().unwrap_or(0)
}

fn finding<'a>(result: &'a SweepResult, policy: &str, id: &str) -> Option<&'a Finding> {
    result.report.findings.iter().find(|f| &*f.policy == policy && f.resource_id == id)
}

const GIB: f64 = 1024.0;
const TWO_WEEKS: f64 = 4032.0;

/// `n` GPUs, each at `util`% peak holding `memory_gib` GiB.
fn gpus(spec: &[(f64, f64)]) -> serde_json::Value {
    json!(spec.iter().map(|(util, gib)| json!({"util": util, "memory_mib": gib * GIB})).collect::<Vec<_>>())
}

/// The fleet of the issue: a busy H100 box at 3% CPU, a p4d without GPU
/// metrics, a g5.12xlarge using one GPU of four, an idle one, one whose GPU
/// memory fills all four GPUs, and a CPU instance at 2% (idle by CPU).
fn fleet(moto: &Moto) -> BTreeMap<String, String> {
    // What the agent's config appends differs by fleet: the per-GPU series
    // must be found whatever the extra dimensions.
    let appended = json!({"name": "NVIDIA A10G", "arch": "Ampere", "InstanceType": "g5.12xlarge"});
    moto.seed_instances(json!([
        {"name": "h100-busy", "type": "p5.48xlarge", "cpu_max": 3.0, "samples": TWO_WEEKS,
         "gpus": gpus(&[(97.0, 70.0), (95.0, 70.0), (92.0, 70.0), (96.0, 70.0), (94.0, 70.0), (93.0, 70.0), (95.0, 70.0), (97.0, 70.0)]),
         "gpu_dims": {"name": "NVIDIA H100 80GB HBM3"}},
        {"name": "p4d-dark", "type": "p4d.24xlarge", "cpu_max": 2.0, "samples": TWO_WEEKS},
        {"name": "g5-one-of-four", "type": "g5.12xlarge", "cpu_max": 5.0, "samples": TWO_WEEKS,
         "gpus": gpus(&[(70.0, 12.0), (0.0, 0.3), (0.0, 0.3), (0.0, 0.3)]), "gpu_dims": appended},
        {"name": "g5-idle", "type": "g5.12xlarge", "cpu_max": 1.0, "samples": TWO_WEEKS,
         "gpus": gpus(&[(1.0, 0.3), (0.0, 0.3), (0.0, 0.3), (0.0, 0.3)])},
        {"name": "g5-memory-bound", "type": "g5.12xlarge", "cpu_max": 5.0, "samples": TWO_WEEKS,
         "gpus": gpus(&[(70.0, 20.0), (0.0, 20.0), (0.0, 20.0), (0.0, 20.0)])},
        {"name": "m5-idle", "type": "m5.xlarge", "cpu_max": 2.0, "samples": TWO_WEEKS},
    ]))
}

#[tokio::test]
async fn every_gpu_instance_is_judged_by_its_gpus_never_by_its_cpu() {
    let moto = support::moto().await;
    let ids = fleet(&moto);
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(&["ec2.yaml", "gpu.yaml"]), Utc::now()).await;
    let name_of: BTreeMap<&String, &String> = ids.iter().map(|(n, id)| (id, n)).collect();
    let matched = |policy: &str| -> Vec<&str> {
        let mut out: Vec<&str> = result.report.findings.iter().filter(|f| &*f.policy == policy).map(|f| name_of[&f.resource_id].as_str()).collect();
        out.sort();
        out
    };

    // Busy GPUs at 3% CPU: neither idle nor over-provisioned, by any policy.
    assert!(result.report.findings.iter().all(|f| f.resource_id != ids["h100-busy"]), "{:?}", result.report.findings);
    assert_eq!(matched("ec2-idle"), ["m5-idle"], "CPU instances are still judged by CPU; GPU ones never");
    assert_eq!(matched("ec2-gpu-idle"), ["g5-idle"]);
    assert_eq!(matched("ec2-gpu-over-provisioned"), ["g5-one-of-four"]);

    let idle = finding(&result, "ec2-gpu-idle", &ids["g5-idle"]).expect("idle");
    assert!(
        (idle.monthly_saving_usd.unwrap_or_default() - 5.672 * 730.0).abs() < 1e-6,
        "the idle g5.12xlarge costs about $4,140: {:?}",
        idle.monthly_saving_usd
    );
    let a = idle.recommendation.as_ref().expect("assessed");
    assert_eq!(a.parts[0].judged_by, JudgedBy::Gpu);
    assert!(a.summary.contains("suggest stop") && a.summary.contains("4 x A10G"), "{}", a.summary);

    let over = finding(&result, "ec2-gpu-over-provisioned", &ids["g5-one-of-four"]).expect("over-provisioned");
    let part = &over.recommendation.as_ref().expect("assessed").parts[0];
    assert_eq!((part.current_type.as_str(), part.recommended_type.as_deref()), ("g5.12xlarge", Some("g5.xlarge")), "{}", part.why);
    assert_eq!((part.gpus, part.gpu_peak_pct, part.gpu_summed_pct), (Some(4), Some(70.0), Some(70.0)));
    assert_eq!(part.projected_gpu_pct, Some(70.0), "one GPU's worth on one GPU");
    let memory = part.projected_gpu_memory_pct.expect("GPU memory measured");
    // Each GPU's memory as the EC2 catalog gives it.
    let types = moto.ec2().await.describe_instance_types().instance_types(aws_sdk_ec2::types::InstanceType::G5Xlarge).send().await.expect("catalog");
    let each = types.instance_types()[0].gpu_info().and_then(|g| g.gpus()[0].memory_info()).and_then(|m| m.size_in_mib()).expect("A10G memory");
    assert!((memory - 12.9 * GIB * 100.0 / f64::from(each)).abs() < 1e-6, "12.9 GiB on one GPU of {each} MiB: {memory}");
    assert_eq!(part.projected_cpu_pct, Some(60.0), "5% of 48 vCPUs is 60% of g5.xlarge's 4");
    let saving = (5.672 - 1.006) * 730.0;
    assert!((over.monthly_saving_usd.unwrap_or_default() - saving).abs() < 1e-6, "{:?}", over.monthly_saving_usd);
    assert_eq!(part.hours_of_data, Some(336.0), "two weeks of one sample a minute");

    // 80 GiB of GPU memory does not fit one 24 GiB GPU: right-sized.
    assert!(result.report.findings.iter().all(|f| f.resource_id != ids["g5-memory-bound"]));

    // No GPU metrics: not judged, with the reason and its dollars.
    let dark = result.report.not_judged.iter().find(|n| n.resource_id == ids["p4d-dark"]).expect("listed as not judged");
    assert!(dark.reason.contains("no GPU metrics: install the CloudWatch agent with the nvidia_gpu plugin"), "{}", dark.reason);
    assert!((dark.monthly_cost_usd.unwrap_or_default() - 21.957642 * 730.0).abs() < 1e-6, "{:?}", dark.monthly_cost_usd);
    assert_eq!(result.report.not_judged.len(), 1, "{:?}", result.report.not_judged);
    assert_eq!(result.report.totals.not_judged, 1);
    let md = std::fs::read_to_string(state.path().join("report/report.md")).expect("report.md");
    assert!(md.contains("## Not judged") && md.contains(&ids["p4d-dark"]) && md.contains("$16,029.08"), "{md}");
    let html = std::fs::read_to_string(state.path().join("report/report.html")).expect("report.html");
    assert!(html.contains("id=\"not-judged\"") && html.contains(&ids["p4d-dark"]) && html.contains("no GPU metrics"), "the page lists it too");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state.path().join("report/report.json")).expect("json")).expect("parses");
    assert_eq!(json["not_judged"][0]["resource_id"], json!(ids["p4d-dark"]));

    // Every GPU instance is priced.
    for name in ["g5-idle", "g5-one-of-four"] {
        let f = result.report.findings.iter().find(|f| f.resource_id == ids[name]).expect("found");
        assert!(f.monthly_cost_usd.is_some_and(|c| c > 0.0), "{name}: {:?}", f.cost_basis);
    }

    // In bulk: one ListMetrics per namespace and metric, never per instance.
    assert_eq!(calls(&result, "cloudwatch:ListMetrics"), 3, "mem_used_percent, nvidia_smi_utilization_gpu, node_gpu_utilization");
    assert_eq!(calls(&result, "cloudwatch:GetMetricData"), 2, "the 7- and the 14-day window, each in one request");
    assert_eq!(calls(&result, "ec2:DescribeInstanceTypes"), 1);
}

#[tokio::test]
async fn an_eks_gpu_node_is_judged_by_container_insights() {
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([
        {"name": "node-quiet", "type": "g5.12xlarge", "cpu_max": 4.0, "samples": TWO_WEEKS, "node_gpu": {"util": 10.0, "memory": 10.0}},
        {"name": "node-idle", "type": "g5.12xlarge", "cpu_max": 4.0, "samples": TWO_WEEKS, "node_gpu": {"util": 0.5, "memory": 1.0}},
    ]));
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(&["gpu.yaml"]), Utc::now()).await;
    // An average of 10% over four GPUs may be one GPU at 40%: not idle;
    // 40% of one GPU and 9.6 GiB fit one A10G.
    let quiet = finding(&result, "ec2-gpu-over-provisioned", &ids["node-quiet"]).expect("over-provisioned");
    let part = &quiet.recommendation.as_ref().expect("assessed").parts[0];
    assert_eq!(part.recommended_type.as_deref(), Some("g5.xlarge"), "{}", part.why);
    assert_eq!(part.gpu_peak_pct, Some(40.0));
    assert!(part.why.contains("ContainerInsights/node_gpu_utilization"), "{}", part.why);
    assert!(finding(&result, "ec2-gpu-idle", &ids["node-idle"]).is_some(), "{:?}", result.report.findings);
    assert!(result.report.not_judged.is_empty());
}

#[tokio::test]
async fn inferentia_and_trainium_are_judged_by_their_neuron_cores_or_not_at_all() {
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([
        {"name": "inf-idle", "type": "inf2.24xlarge", "cpu_max": 1.0, "samples": TWO_WEEKS, "node_neuron": {"util": 0.5, "memory_bytes": 1e9}},
        {"name": "inf-busy", "type": "inf2.24xlarge", "cpu_max": 1.0, "samples": TWO_WEEKS, "node_neuron": {"util": 60.0, "memory_bytes": 40e9}},
        {"name": "trn-dark", "type": "trn1.32xlarge", "cpu_max": 1.0, "samples": TWO_WEEKS},
    ]));
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(&["gpu.yaml"]), Utc::now()).await;
    let idle = finding(&result, "ec2-gpu-idle", &ids["inf-idle"]).expect("idle");
    assert!((idle.monthly_saving_usd.unwrap_or_default() - 6.49063 * 730.0).abs() < 1e-6, "{:?}", idle.monthly_saving_usd);
    assert!(result.report.findings.iter().all(|f| f.resource_id != ids["inf-busy"]), "busy cores at 1% CPU: {:?}", result.report.findings);
    let dark = result.report.not_judged.iter().find(|n| n.resource_id == ids["trn-dark"]).expect("not judged");
    assert!(dark.reason.contains("no Neuron metrics") && dark.monthly_cost_usd.is_some(), "{dark:?}");
    assert_eq!(calls(&result, "cloudwatch:ListMetrics"), 2, "mem_used_percent and node_neuroncore_utilization: no GPU series without a GPU instance");
}

#[tokio::test]
async fn gpu_endpoints_are_sized_by_gpu_utilization_summed_over_their_gpus() {
    let moto = support::moto().await;
    // moto takes ml.g4dn endpoints (not ml.g5): four T4s each.
    for name in ["gpu-light", "gpu-spread", "gpu-unmeasured"] {
        seed_endpoint(&moto, name, &[("AllTraffic", "ml.g4dn.12xlarge", 1)], &[], 30.0).await;
    }
    let samples = 14.0 * 1440.0;
    // 60 of 400: 15% per GPU, all of it fits one T4.
    support::put_variant_load(&moto, "gpu-light", "AllTraffic", "GPUUtilization", 60.0, samples).await;
    support::put_variant_load(&moto, "gpu-light", "AllTraffic", "GPUMemoryUtilization", 40.0, samples).await;
    // 200 of 4,800: 4% of 48 vCPUs, 2 vCPUs' worth; memory 10% of 192 GiB.
    support::put_variant_load(&moto, "gpu-light", "AllTraffic", "CPUUtilization", 200.0, samples).await;
    support::put_variant_load(&moto, "gpu-light", "AllTraffic", "MemoryUtilization", 10.0, samples).await;
    // 150 of 400: more than one GPU can hold, less than four; nothing between.
    support::put_variant_load(&moto, "gpu-spread", "AllTraffic", "GPUUtilization", 150.0, samples).await;
    support::put_variant_load(&moto, "gpu-spread", "AllTraffic", "GPUMemoryUtilization", 100.0, samples).await;
    support::put_variant_load(&moto, "gpu-spread", "AllTraffic", "CPUUtilization", 200.0, samples).await;
    // Low CPU, no GPU series: never judged by CPU.
    support::put_variant_load(&moto, "gpu-unmeasured", "AllTraffic", "CPUUtilization", 50.0, samples).await;
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(&["sagemaker.yaml", "gpu.yaml"]), Utc::now()).await;

    let light = finding(&result, "sagemaker-gpu-endpoints-over-provisioned", "gpu-light").expect("over-provisioned");
    let part = &light.recommendation.as_ref().expect("assessed").parts[0];
    // ml.g4dn.xlarge's 16 GiB would hold 120% of the memory in use: the
    // next one-GPU size.
    assert_eq!((part.recommended_type.as_deref(), part.recommended_count), (Some("ml.g4dn.2xlarge"), Some(1)), "{}", part.why);
    assert_eq!((part.gpu_summed_pct, part.projected_gpu_pct), (Some(60.0), Some(60.0)));
    assert_eq!(part.projected_memory_pct, Some(60.0), "10% of 192 GiB is 60% of 32 GiB");
    assert!((light.monthly_saving_usd.unwrap_or_default() - (5.48 - 1.0528) * 730.0).abs() < 1e-6, "{:?}", light.monthly_saving_usd);
    assert!(finding(&result, "sagemaker-gpu-endpoints-over-provisioned", "gpu-spread").is_none(), "150% needs two GPUs; g4dn has no two-GPU size");
    assert!(result.report.findings.iter().all(|f| f.resource_id != "gpu-unmeasured" || !f.policy.contains("over-provisioned")));
    let unmeasured = result.report.not_judged.iter().find(|n| n.resource_id == "gpu-unmeasured").expect("not judged");
    assert!(unmeasured.reason.contains("no GPU metrics") && unmeasured.monthly_cost_usd.is_some(), "{unmeasured:?}");
    // The CPU policy leaves GPU endpoints to the GPU one.
    assert!(result.report.findings.iter().all(|f| &*f.policy != "sagemaker-endpoints-over-provisioned"), "{:?}", result.report.findings);
}

#[test]
fn a_policy_that_would_stop_a_gpu_box_on_cpu_is_refused() {
    let on_cpu = "policies:
  - name: stop-cpu-idle
    resource: ec2-instance
    filters:
      - type: metrics
        name: CPUUtilization
        statistic: Maximum
        days: 7
        op: lt
        value: 3
    actions:
      - stop
";
    let refused = compile_text(Path::new("stop.yaml"), on_cpu).expect_err("refused");
    let text = refused.to_string();
    assert!(text.contains("stop.yaml") && text.contains("actions[0]") && text.contains("CPU evidence alone"), "{text}");
    let guarded = on_cpu.replace("    filters:\n", "    filters:\n      - type: value\n        key: Accelerated\n        value: false\n");
    compile_text(Path::new("stop.yaml"), &guarded).expect("keeping accelerated types out is allowed");
    let notify = on_cpu.replace("      - stop\n", "      - type: notify\n        to: [ops@example.com]\n");
    compile_text(Path::new("stop.yaml"), &notify).expect("a report changes nothing");
    let rightsized = "policies:
  - name: stop-idle
    resource: ec2-instance
    filters:
      - type: rightsizing
        verdict: idle
    actions:
      - stop
";
    compile_text(Path::new("stop.yaml"), rightsized).expect("rightsizing judges GPU types by their GPUs");
}

#[tokio::test]
async fn a_training_run_whose_gpus_were_mostly_idle_shows_what_a_smaller_type_would_have_cost() {
    let moto = support::moto().await;
    for name in ["light-run", "busy-run"] {
        support::create_training_job(&moto, name, "ml.g5.12xlarge", 1, false, &[]).await;
        // Ten hours, ended two days ago.
        moto.command(
            &json!({"op": "shape_training_job", "region": support::REGION, "name": name, "status": "Completed",
            "started_hours_ago": 58, "ran_seconds": 36_000})
            .to_string(),
        );
    }
    // 60 of 400 (four A10Gs summed), 30% of one GPU's memory, 1 of 48
    // vCPUs, 5% of 192 GiB: one A10G and 4 vCPUs would have done.
    for (metric, peak) in [("GPUUtilization", 60.0), ("GPUMemoryUtilization", 30.0), ("CPUUtilization", 100.0), ("MemoryUtilization", 5.0)] {
        support::put_load(&moto, "/aws/sagemaker/TrainingJobs", &[("Host", "light-run/algo-1")], metric, peak, 600.0, 2).await;
    }
    for (metric, peak) in [("GPUUtilization", 350.0), ("GPUMemoryUtilization", 300.0), ("CPUUtilization", 900.0)] {
        support::put_load(&moto, "/aws/sagemaker/TrainingJobs", &[("Host", "busy-run/algo-1")], metric, peak, 600.0, 2).await;
    }
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(&["gpu.yaml"]), Utc::now()).await;

    let light = finding(&result, "training-gpus-mostly-idle", "light-run").expect("found");
    let a = light.recommendation.as_ref().expect("assessed");
    let part = &a.parts[0];
    assert_eq!((part.current_type.as_str(), part.recommended_type.as_deref()), ("ml.g5.12xlarge", Some("ml.g5.xlarge")), "{}", part.why);
    assert_eq!((part.judged_by, part.hours_of_data, part.billed_hours), (JudgedBy::Gpu, Some(10.0), Some(10.0)));
    let saving = (7.09 - 1.408) * 10.0;
    assert!((light.monthly_saving_usd.unwrap_or_default() - saving).abs() < 1e-6, "{:?} {}", light.monthly_saving_usd, a.summary);
    assert!(a.summary.contains("on this run"), "a run's saving, not a month's: {}", a.summary);
    assert!(finding(&result, "training-gpus-mostly-idle", "busy-run").is_none(), "3.5 GPUs' worth needs all four");
}
