//! Over-provisioned and idle EC2 instances, end to end against the moto
//! server: verdicts and recommended types from seeded CPU and memory load,
//! the figures and dollars in the report, resize and stop after a grace
//! period, restore, Auto Scaling group members left alone, and call counts.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::engine::apply::Status;
use costguard::engine::journal::Journal;
use costguard::filters::rightsizing::Verdict;
use costguard::progress::Progress;
use costguard::report::Finding;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use serde_json::json;
use support::Moto;
use tokio_util::sync::CancellationToken;

const ACTING: &str = "policies:
  - name: resize-over-provisioned
    resource: ec2-instance
    filters:
      - type: rightsizing
        verdict: over-provisioned
    actions:
      - type: mark
        days: 7
      - resize
  - name: stop-idle
    resource: ec2-instance
    filters:
      - type: rightsizing
        verdict: idle
    actions:
      - type: mark
        days: 3
      - stop
";

fn shipped() -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/ec2.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped ec2 policies");
    compile_text(&path, &text).expect("shipped policies are valid")
}

async fn sweep_at(moto: &Moto, state: &Path, policies: &[Policy], dry_run: bool, now: chrono::DateTime<Utc>) -> SweepResult {
    let options = support::sweep_options(state, dry_run);
    let aws = moto.aws().await;
    sweep::run(&aws, policies, &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

fn findings<'a>(result: &'a SweepResult, policy: &str) -> Vec<&'a Finding> {
    result.report.findings.iter().filter(|f| *f.policy == *policy).collect()
}

fn calls(result: &SweepResult, op: &str) -> u64 {
    result.report.api_calls.get(op).copied().unwrap_or(0)
}

/// Two weeks of five-minute samples.
const TWO_WEEKS: f64 = 4032.0;

/// quiet (fits m5.large), memory-bound (fits m5.xlarge), busy, idle, new
/// (eight hours of data), and a quiet member of an Auto Scaling group.
fn fleet(moto: &Moto) -> BTreeMap<String, String> {
    moto.seed_instances(json!([
        {"name": "quiet", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": TWO_WEEKS, "memory": 20.0},
        {"name": "memory-bound", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": TWO_WEEKS, "memory": 30.0},
        {"name": "busy", "type": "m5.2xlarge", "cpu_max": 70.0, "samples": TWO_WEEKS},
        {"name": "idle", "type": "m5.xlarge", "cpu_max": 2.0, "samples": TWO_WEEKS},
        {"name": "new", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": 100.0},
        {"name": "in-asg", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": TWO_WEEKS, "asg": "web"},
    ]))
}

fn ids_of(found: &[&Finding], ids: &BTreeMap<String, String>) -> Vec<String> {
    let names: BTreeMap<&String, &String> = ids.iter().map(|(name, id)| (id, name)).collect();
    let mut out: Vec<String> = found.iter().map(|f| names.get(&f.resource_id).map_or(f.resource_id.clone(), |n| n.to_string())).collect();
    out.sort();
    out
}

async fn instance_state(moto: &Moto, id: &str) -> (String, String) {
    let out = moto.ec2().await.describe_instances().instance_ids(id).send().await.expect("describe");
    let i = &out.reservations()[0].instances()[0];
    let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
    (i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(), state)
}

#[tokio::test]
async fn each_instance_gets_its_verdict_and_recommended_type() {
    let moto = support::moto().await;
    let ids = fleet(&moto);
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(), true, Utc::now()).await;

    let over = findings(&result, "ec2-over-provisioned");
    assert_eq!(ids_of(&over, &ids), ["in-asg", "memory-bound", "quiet"]);
    assert_eq!(ids_of(&findings(&result, "ec2-idle"), &ids), ["idle"]);
    assert_eq!(ids_of(&findings(&result, "ec2-too-little-data"), &ids), ["new"]);
    assert!(result.report.findings.iter().all(|f| f.resource_id != ids["busy"]), "busy is right-sized: no finding");

    let quiet = over.iter().find(|f| f.resource_id == ids["quiet"]).expect("quiet");
    let a = quiet.recommendation.as_ref().expect("an assessment");
    let part = &a.parts[0];
    assert_eq!(a.verdict, Verdict::OverProvisioned);
    assert_eq!((part.current_type.as_str(), part.recommended_type.as_deref()), ("m5.2xlarge", Some("m5.large")));
    assert_eq!((part.cpu_peak_pct, part.memory_peak_pct), (Some(15.0), Some(20.0)));
    assert_eq!((part.projected_cpu_pct, part.projected_memory_pct), (Some(60.0), Some(80.0)));
    assert_eq!(part.hours_of_data, Some(336.0));
    let expected = (0.384 - 0.096) * 730.0;
    assert!((quiet.monthly_saving_usd.unwrap_or_default() - expected).abs() < 1e-6, "{:?}", quiet.monthly_saving_usd);
    assert!((quiet.monthly_cost_usd.unwrap_or_default() - 0.384 * 730.0).abs() < 1e-6);

    let memory_bound = over.iter().find(|f| f.resource_id == ids["memory-bound"]).and_then(|f| f.recommendation.as_ref()).expect("assessed");
    assert_eq!(memory_bound.parts[0].recommended_type.as_deref(), Some("m5.xlarge"), "30% memory would be 120% on m5.large");
    let idle = findings(&result, "ec2-idle")[0].recommendation.as_ref().expect("assessed");
    assert!(idle.summary.contains("suggest stop"), "{}", idle.summary);
    assert!((idle.monthly_saving_usd.unwrap_or_default() - 0.192 * 730.0).abs() < 1e-6, "stopping saves the whole cost");

    let md = std::fs::read_to_string(state.path().join("report/report.md")).expect("report.md");
    assert!(md.contains("m5.2xlarge") && md.contains("m5.large") && md.contains("$210.24"), "the markdown shows the recommendation and saving");

    // Three policies, one fleet: each list, catalog and metric query asked once.
    assert_eq!(calls(&result, "ec2:DescribeInstances"), 1);
    assert_eq!(calls(&result, "ec2:DescribeInstanceTypes"), 1, "one catalog call for every family in use");
    assert_eq!(calls(&result, "cloudwatch:ListMetrics"), 1, "where the agent publishes memory, once per region");
    assert_eq!(calls(&result, "cloudwatch:GetMetricData"), 1, "14 series in one request");
}

#[tokio::test]
async fn resize_and_stop_wait_for_the_grace_period_and_restore_undoes_them() {
    let moto = support::moto().await;
    let ids = fleet(&moto);
    let state = tempfile::tempdir().expect("temp dir");
    let policies = compile_text(Path::new("acting.yaml"), ACTING).expect("valid");
    let now = Utc::now();

    let first = sweep_at(&moto, state.path(), &policies, false, now).await;
    let marked: Vec<&Finding> = first.report.findings.iter().filter(|f| f.status == Status::Done).collect();
    assert_eq!(ids_of(&marked, &ids), ["idle", "memory-bound", "quiet"]);
    let asg = first.report.findings.iter().find(|f| f.resource_id == ids["in-asg"]).expect("reported");
    assert_eq!(asg.status, Status::Skipped);
    assert!(asg.detail.as_deref().unwrap_or("").contains("Auto Scaling group web"), "{:?}", asg.detail);
    assert_eq!(instance_state(&moto, &ids["quiet"]).await, ("m5.2xlarge".to_string(), "running".to_string()), "marking changes nothing");

    let second = sweep_at(&moto, state.path(), &policies, false, now + Duration::days(8)).await;
    assert_eq!(second.report.totals.failed, 0, "{:?}", second.report.findings);
    assert_eq!(instance_state(&moto, &ids["quiet"]).await, ("m5.large".to_string(), "running".to_string()));
    assert_eq!(instance_state(&moto, &ids["memory-bound"]).await, ("m5.xlarge".to_string(), "running".to_string()));
    assert_eq!(instance_state(&moto, &ids["idle"]).await.1, "stopped");
    assert_eq!(instance_state(&moto, &ids["in-asg"]).await, ("m5.2xlarge".to_string(), "running".to_string()));
    assert_eq!(instance_state(&moto, &ids["busy"]).await, ("m5.2xlarge".to_string(), "running".to_string()));

    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    let resized = journal.actions().last_done(ResourceType::Ec2Instance, &ids["quiet"], &["resize"]).expect("read").expect("journaled");
    assert!(serde_json::to_string(&resized.resource).unwrap_or_default().contains("m5.2xlarge"), "the old type is journaled");

    let aws = moto.aws().await;
    let back = costguard::engine::restore::restore(&aws, &journal, ResourceType::Ec2Instance, &ids["quiet"], &support::wall_clock()).await.expect("restore");
    assert!(back.contains("m5.2xlarge again"), "{back}");
    assert_eq!(instance_state(&moto, &ids["quiet"]).await, ("m5.2xlarge".to_string(), "running".to_string()));
    let started = costguard::engine::restore::restore(&aws, &journal, ResourceType::Ec2Instance, &ids["idle"], &support::wall_clock()).await.expect("restore");
    assert!(started.contains("started"), "{started}");
    assert_eq!(instance_state(&moto, &ids["idle"]).await.1, "running");
    assert!(
        costguard::engine::restore::restore(&aws, &journal, ResourceType::Ec2Instance, &ids["idle"], &support::wall_clock()).await.is_err(),
        "nothing left to undo"
    );
}

#[tokio::test]
async fn a_large_fleet_is_judged_in_few_requests() {
    let moto = support::moto().await;
    moto.command_with_answer(&json!({"op": "create_instances", "region": support::REGION, "prefix": "fleet-", "count": 300, "busy_every": 2}).to_string());
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &shipped(), true, Utc::now()).await;
    assert_eq!(findings(&result, "ec2-over-provisioned").len(), 150, "the quiet half (10% of an m5.2xlarge fits an m5.large)");
    assert_eq!(calls(&result, "ec2:DescribeInstances"), 1, "1,000 instances a page");
    assert_eq!(calls(&result, "ec2:DescribeInstanceTypes"), 1);
    // Two series per instance (peak and sample count; no memory agent): 600 queries.
    assert_eq!(calls(&result, "cloudwatch:GetMetricData"), 2, "ceil(600 / 500)");
}

#[tokio::test]
async fn a_resize_whose_start_fails_never_leaves_the_instance_down() {
    use support::fake_aws::{Answer, FakeAws};
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([{"name": "quiet", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": TWO_WEEKS, "memory": 20.0}]));
    let resize_now = "policies:\n  - name: resize\n    resource: ec2-instance\n    filters:\n      - type: rightsizing\n        verdict: over-provisioned\n    actions:\n      - resize\n";
    let policies = compile_text(Path::new("resize.yaml"), resize_now).expect("valid");
    // The resize's own start and the repair's both meet no capacity; the
    // next run's start goes through to moto.
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    let starts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = starts.clone();
    fake.on("StartInstances", move |_| match seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
        0 | 1 => Answer::Error(500, "InsufficientInstanceCapacity", "no m5.large capacity in this zone now"),
        _ => Answer::Forward,
    });
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(false).await, costguard::aws::ApiCallCounter::new());
    let state = tempfile::tempdir().expect("temp dir");
    let run = |at| {
        let options = support::sweep_options(state.path(), false);
        let (aws, policies) = (&aws, &policies);
        async move { sweep::run(aws, policies, &options, &Clock::fixed(at), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs") }
    };

    let first = run(Utc::now()).await;
    let quiet = first.report.findings.iter().find(|f| f.resource_id == ids["quiet"]).expect("found");
    assert_eq!(quiet.status, Status::Failed, "{:?}", quiet.detail);
    assert!(quiet.detail.as_deref().unwrap_or("").contains("could not be started again"), "{:?}", quiet.detail);
    assert_eq!(instance_state(&moto, &ids["quiet"]).await, ("m5.large".to_string(), "stopped".to_string()));
    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    assert_eq!(journal.actions().count(costguard::engine::actions::ActionState::Incomplete).expect("count"), 1, "kept open for the next run");

    let second = run(Utc::now() + Duration::hours(1)).await;
    assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(instance_state(&moto, &ids["quiet"]).await, ("m5.large".to_string(), "running".to_string()), "started again by the next run");
    assert_eq!(journal.actions().count(costguard::engine::actions::ActionState::Incomplete).expect("count"), 0);
    assert!(
        journal.actions().last_done(ResourceType::Ec2Instance, &ids["quiet"], &["resize"]).expect("read").is_some(),
        "settled as done, so restore can undo it"
    );
    assert!(second.report.findings.iter().all(|f| f.resource_id != ids["quiet"]), "now right-sized: {:?}", second.report.findings);
}

/// A plan file is a file: whoever can edit it can edit the instance
/// catalogue it holds. `apply` reads sizes again, so an edited catalogue
/// (m5.large removed, to steer the resize to m5.xlarge, with the change
/// text and fingerprint made to agree) cannot pick the type.
#[tokio::test]
async fn apply_reads_the_sizes_again_and_never_takes_them_from_the_plan_file() {
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([{"name": "quiet", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": TWO_WEEKS, "memory": 20.0}]));
    let policies = compile_text(
        Path::new("resize.yaml"),
        "policies:\n  - name: resize-now\n    resource: ec2-instance\n    filters:\n      - type: rightsizing\n        verdict: over-provisioned\n    actions:\n      - resize\n",
    )
    .expect("valid");
    let state = tempfile::tempdir().expect("temp dir");
    let plan_path = state.path().join("plan.json");
    let aws = moto.aws().await;
    let now = Utc::now();
    let mut saving = support::sweep_options(state.path(), true);
    saving.paths.save_plan = Some(plan_path.clone());
    sweep::run(&aws, &policies, &saving, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("dry run");
    let mut file = sweep::read_plan(&plan_path).expect("the plan reads back");
    let change = &mut file.changes[0];
    assert!(change.change.contains("-> m5.large"), "{}", change.change);
    change.resource.sizes = change.resource.sizes.iter().filter(|s| s.instance_type != "m5.large").cloned().collect::<Vec<_>>().into();
    change.change = change.change.replace("m5.large", "m5.xlarge");
    change.evidence.change = change.evidence.change.replace("m5.large", "m5.xlarge");
    change.fingerprint = change.evidence.fingerprint();
    std::fs::write(&plan_path, serde_json::to_vec(&file).expect("JSON")).expect("write the edited plan");

    let real = support::sweep_options(state.path(), false);
    let (clock, progress, cancel) = (Clock::fixed(now), Progress::hidden(), CancellationToken::new());
    let ctx = sweep::Context { aws: &aws, clock: &clock, progress: &progress, cancel: &cancel };
    let reviewed = sweep::Reviewed { path: &plan_path, file: &file, max_age: Duration::hours(24) };
    let applied = sweep::apply_plan(&ctx, &policies, &reviewed, &real).await.expect("applies");
    let finding = &applied.report.findings[0];
    assert_eq!(finding.status, Status::Skipped, "{:?}", finding.detail);
    assert!(finding.detail.as_deref().unwrap_or("").contains("changed since the plan was reviewed"), "{:?}", finding.detail);
    assert_eq!(instance_state(&moto, &ids["quiet"]).await.0, "m5.2xlarge", "not resized to the edited file's choice");
}
