//! `sagemaker-training-job` against the moto server: runs that ended on
//! demand found and priced with what spot would have saved, spot runs and
//! old runs left out, runaways found; the opt-in `stop` stops only an
//! unprotected runaway, after re-reading it. moto finishes every job the
//! moment it is created; `shape_training_job` (moto_server.py) gives each
//! the times AWS would report.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_sagemaker::types::TrainingInstanceType;
use costguard::config::{compile_text, Policy};
use costguard::engine::journal::Journal;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::resources::{CostKind, ResourceType};
use costguard::sweep::{self, SweepResult};
use support::fake_aws::{Answer, FakeAws};
use tokio_util::sync::CancellationToken;

/// The shipped policies, with `runaway_actions` in place of the runaway
/// policy's notify.
fn shipped(runaway_actions: Option<&str>) -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/training.yaml");
    let mut text = std::fs::read_to_string(&path).expect("shipped training.yaml");
    if let Some(actions) = runaway_actions {
        let runaway = text.find("name: runaway-training-jobs").expect("the runaway policy");
        let start = runaway + text[runaway..].find("    actions:").expect("its actions");
        let end = runaway + text[runaway..].find("    max-resources").expect("its breaker");
        text = format!("{}    actions:\n{actions}{}", &text[..start], &text[end..]);
    }
    compile_text(&path, &text).expect("valid")
}

/// A job: name, instance type, count, spot, tags, and its shape for
/// moto_server.py (status, started hours ago, seconds run, billable seconds).
struct Job {
    name: &'static str,
    instance_type: TrainingInstanceType,
    count: i32,
    spot: bool,
    tags: &'static [(&'static str, &'static str)],
    shape: serde_json::Value,
}

fn fleet() -> Vec<Job> {
    use serde_json::json;
    use TrainingInstanceType::{MlG4Dn12Xlarge, MlG4DnXlarge, MlP32Xlarge};
    let job = |name, instance_type, count, spot, tags, shape| Job { name, instance_type, count, spot, tags, shape };
    vec![
        job(
            "nightly-on-demand",
            MlP32Xlarge,
            2,
            false,
            &[("owner", "ana@example.com")],
            json!({"status": "Completed", "started_hours_ago": 30, "ran_seconds": 7200}),
        ),
        job("failed-on-demand", MlG4DnXlarge, 1, false, &[], json!({"status": "Failed", "started_hours_ago": 5, "ran_seconds": 600})),
        job("spot-run", MlP32Xlarge, 1, true, &[], json!({"status": "Completed", "started_hours_ago": 20, "ran_seconds": 4000, "billable_seconds": 1000})),
        job("last-quarter", MlP32Xlarge, 1, false, &[], json!({"status": "Completed", "started_hours_ago": 40 * 24, "ran_seconds": 3600})),
        job("beyond-the-horizon", MlP32Xlarge, 1, false, &[], json!({"status": "Completed", "started_hours_ago": 100 * 24, "ran_seconds": 3600})),
        job("runaway", MlG4Dn12Xlarge, 4, false, &[], json!({"status": "InProgress", "started_hours_ago": 100})),
        job(
            "guarded-runaway",
            MlG4Dn12Xlarge,
            1,
            false,
            &[("costguard:protect", "thesis deadline")],
            json!({"status": "InProgress", "started_hours_ago": 100}),
        ),
        job("fresh", MlG4DnXlarge, 1, false, &[], json!({"status": "InProgress", "started_hours_ago": 2})),
    ]
}

async fn seed(moto: &support::Moto) {
    for job in fleet() {
        support::create_training_job(moto, job.name, job.instance_type.as_str(), job.count, job.spot, job.tags).await;
        let mut shape = job.shape;
        shape["op"] = "shape_training_job".into();
        shape["region"] = support::REGION.into();
        shape["name"] = job.name.into();
        moto.command(&shape.to_string());
    }
}

async fn sweep_with(aws: &costguard::aws::Aws, dir: &Path, policies: &[Policy], dry_run: bool) -> SweepResult {
    let options = support::sweep_options(dir, dry_run);
    sweep::run(aws, policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

/// policy -> job -> (status, cost, saving, cost kind).
type Found = BTreeMap<String, BTreeMap<String, (Status, Option<f64>, Option<f64>, Option<CostKind>)>>;

fn found(result: &SweepResult) -> Found {
    let mut found = Found::new();
    for f in &result.report.findings {
        found.entry(f.policy.to_string()).or_default().insert(f.resource_id.clone(), (f.status, f.monthly_cost_usd, f.monthly_saving_usd, f.cost_kind));
    }
    found
}

fn close(value: Option<f64>, expected: f64) -> bool {
    value.is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[tokio::test]
async fn a_dry_run_finds_the_runs_without_spot_priced_with_the_spot_saving_and_the_runaways() {
    let moto = support::moto().await;
    seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep_with(&moto.aws().await, dir.path(), &shipped(None), true).await;
    let found = found(&result);

    let without_spot = &found["training-without-spot"];
    assert_eq!(without_spot.keys().collect::<Vec<_>>(), ["failed-on-demand", "nightly-on-demand"], "{found:?}");
    // Two hours of two ml.p3.2xlarge at $3.825; spot typically saves 70% of it.
    let nightly = without_spot["nightly-on-demand"];
    assert!(close(nightly.1, 15.3) && close(nightly.2, 15.3 * 0.7), "{nightly:?}");
    assert_eq!(nightly.3, Some(CostKind::Usage));
    // Ten minutes of one ml.g4dn.xlarge at $0.736.
    let failed = without_spot["failed-on-demand"];
    assert!(close(failed.1, 0.736 / 6.0) && close(failed.2, 0.736 / 6.0 * 0.7), "{failed:?}");

    let runaways = &found["runaway-training-jobs"];
    assert_eq!(runaways.keys().collect::<Vec<_>>(), ["guarded-runaway", "runaway"], "{found:?}");
    // Four ml.g4dn.12xlarge at $5.48 an hour, 730 hours a month.
    assert!(close(runaways["runaway"].1, 4.0 * 5.48 * 730.0), "{runaways:?}");
    assert_eq!(runaways["runaway"].3, Some(CostKind::InstanceHours));
    // Notify only: a protected job is reported too (protection guards changes).
    assert_eq!(runaways["guarded-runaway"].0, runaways["runaway"].0);

    let nightly = result.report.findings.iter().find(|f| f.resource_id == "nightly-on-demand").expect("finding");
    let basis = nightly.cost_basis.as_deref().unwrap_or("");
    assert!(basis.starts_with("one run of 7200 billable s, ended ") && basis.contains("2 x ml.p3.2xlarge"), "{basis}");
    // One Search carries every job, described and tagged: nothing per job.
    assert_eq!(result.report.api_calls.get("sagemaker:Search"), Some(&1), "{:?}", result.report.api_calls);
    assert!(result.report.api_calls.keys().all(|k| !k.starts_with("sagemaker:Describe") && k != "sagemaker:ListTags"), "{:?}", result.report.api_calls);
}

#[tokio::test]
async fn a_spot_run_shows_what_it_saved_and_no_job_past_the_horizon_is_read() {
    let moto = support::moto().await;
    seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "policies:\n  - name: every-job\n    resource: aws.sagemaker-job\n";
    let policies = compile_text(Path::new("every.yaml"), text).expect("valid");
    let result = sweep_with(&moto.aws().await, dir.path(), &policies, true).await;
    let names: Vec<&str> = result.report.findings.iter().map(|f| f.resource_id.as_str()).collect();
    assert!(!names.contains(&"beyond-the-horizon") && names.contains(&"last-quarter"), "{names:?}");
    let spot = result.report.findings.iter().find(|f| f.resource_id == "spot-run").expect("the spot run");
    // Billed 1,000 of 4,000 seconds: 75% saved, nothing left to save.
    assert!(close(spot.monthly_cost_usd, 3.825 * 1000.0 / 3600.0), "{spot:?}");
    assert!(spot.cost_basis.as_deref().unwrap_or("").contains("spot saved 75% of 4000 training s"), "{spot:?}");
    assert_eq!(spot.monthly_saving_usd, None);
}

#[tokio::test]
async fn the_opt_in_stop_stops_only_the_unprotected_runaway_after_reading_it_again() {
    let moto = support::moto().await;
    seed(&moto).await;
    // moto has no StopTrainingJob: the fake answers it, as AWS does, and
    // passes every other call (Search, DescribeTrainingJob, ListTags) to moto.
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    fake.on("StopTrainingJob", |_| Answer::Ok(serde_json::json!({})));
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep_with(&aws, dir.path(), &shipped(Some("      - stop\n")), false).await;

    let stopped: Vec<String> = fake.calls("StopTrainingJob").iter().map(|body| body["TrainingJobName"].as_str().unwrap_or("?").to_string()).collect();
    assert_eq!(stopped, ["runaway"]);
    let found = found(&result);
    assert_eq!(found["runaway-training-jobs"]["runaway"].0, Status::Done, "{found:?}");
    assert_eq!(found["runaway-training-jobs"]["guarded-runaway"].0, Status::Skipped, "{found:?}");
    // Re-read before acting: DescribeTrainingJob (consistent), not the Search index.
    assert_eq!(fake.calls("DescribeTrainingJob").len(), 1);
    assert_eq!(fake.calls("DescribeTrainingJob")[0]["TrainingJobName"], "runaway");

    let journal = Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    let error = costguard::engine::restore::restore(&aws, &journal, ResourceType::SagemakerTrainingJob, "runaway", &support::wall_clock())
        .await
        .expect_err("a stopped job cannot be started again");
    assert!(error.to_string().contains("checkpoints"), "{error}");
}
