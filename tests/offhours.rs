//! Off-hours schedules end to end against the moto server, with the
//! shipped `policies/offhours.yaml`: instances and endpoints tagged with a
//! schedule (costguard's or Cloud Custodian's) sleep at their off time and
//! wake before their on time; what a person starts in the evening is left
//! running; a tag that cannot be read is held, never guessed at; a dry
//! run at a chosen moment changes nothing.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::outcome::Standing;
use costguard::progress::Progress;
use costguard::sweep::{self, SweepResult};
use serde_json::json;
use support::Moto;
use tokio_util::sync::CancellationToken;

fn shipped() -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/offhours.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped offhours policies");
    compile_text(&path, &text).expect("shipped policies are valid")
}

async fn sweep_at(moto: &Moto, state: &Path, dry_run: bool, now: DateTime<Utc>) -> SweepResult {
    let options = support::sweep_options(state, dry_run);
    let aws = moto.aws().await;
    sweep::run(&aws, &shipped(), &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

async fn states(moto: &Moto, ids: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, id) in ids {
        let found = moto.ec2().await.describe_instances().instance_ids(id).send().await.expect("describe");
        let state = found.reservations()[0].instances()[0].state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
        out.insert(name.clone(), state);
    }
    out
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn sleeping<'a>(result: &'a SweepResult, id: &str) -> Vec<&'a str> {
    result.report.sleeping.iter().filter(|s| s.resource_id == id).map(|s| s.status.as_str()).collect()
}

// Monday 2026-12-07; Berlin is UTC+1 in December.
const MONDAY_1905_BERLIN: &str = "2026-12-07T18:05:00Z";
const MONDAY_2105_BERLIN: &str = "2026-12-07T20:05:00Z";
const TUESDAY_0720_BERLIN: &str = "2026-12-08T06:20:00Z";

#[tokio::test]
async fn tagged_instances_sleep_at_their_off_time_and_wake_before_their_on_time() {
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([
        {"name": "berlin", "type": "g5.xlarge", "tags": {"costguard:schedule": "berlin-office"}},
        {"name": "custodian", "type": "m5.large", "tags": {"maid_offhours": "off=(M-F,19);on=(M-F,7);tz=cet"}},
        {"name": "started-again", "type": "m5.large", "tags": {"costguard:schedule": "berlin-office"}},
        {"name": "opted-out", "type": "m5.large", "tags": {"costguard:schedule": "none", "maid_offhours": "off=(M-F,19);tz=cet"}},
        {"name": "awake-tonight", "type": "m5.large", "tags": {"costguard:schedule": "berlin-office", "costguard:awake-until": "2026-12-07T23:00"}},
        {"name": "protected", "type": "m5.large", "tags": {"costguard:schedule": "berlin-office", "costguard:protect": "true"}},
        {"name": "misspelt", "type": "m5.large", "tags": {"costguard:schedule": "berlin-ofice"}},
        {"name": "untagged", "type": "m5.large"},
    ]));
    let state = tempfile::tempdir().expect("temp dir");

    // A preview at the off time changes nothing and says what would sleep.
    let preview = sweep_at(&moto, state.path(), true, support::at(MONDAY_1905_BERLIN)).await;
    assert_eq!(sleeping(&preview, &ids["berlin"]), ["would-sleep"]);
    assert!(states(&moto, &ids).await.values().all(|s| s == "running"), "a dry run changes nothing");

    let evening = sweep_at(&moto, state.path(), false, support::at(MONDAY_1905_BERLIN)).await;
    let all_running: Vec<(&str, &str)> = ids.keys().map(|k| (k.as_str(), "running")).collect();
    let mut want = expect(&all_running);
    for name in ["berlin", "custodian", "started-again"] {
        want.insert(name.to_string(), "stopped".to_string());
    }
    assert_eq!(states(&moto, &ids).await, want, "only what a readable schedule puts in its off hours sleeps");
    assert_eq!(sleeping(&evening, &ids["berlin"]), ["put-to-sleep"]);
    let line = evening.report.sleeping.iter().find(|s| s.resource_id == ids["berlin"]).expect("a line");
    assert_eq!(line.wakes_at, Some(support::at("2026-12-08T06:15:00Z")), "woken 15 minutes before 07:30 in Berlin");
    let misspelt = evening.report.findings.iter().find(|f| f.resource_id == ids["misspelt"]).expect("the misspelt tag is reported");
    assert_eq!(misspelt.standing, Standing::NeedsDecision);
    assert!(misspelt.detail.as_deref().unwrap_or_default().contains("names no schedule"), "{:?}", misspelt.detail);
    let protected = evening.report.findings.iter().find(|f| f.resource_id == ids["protected"]).expect("the protected one is reported");
    assert_eq!(protected.standing, Standing::LeftAlone);

    // Someone starts one again at 21:00: the next sweep leaves it running.
    moto.ec2().await.start_instances().instance_ids(&ids["started-again"]).send().await.expect("start");
    let later = sweep_at(&moto, state.path(), false, support::at(MONDAY_2105_BERLIN)).await;
    assert_eq!(states(&moto, &ids).await["started-again"], "running", "never fought: it sleeps at the next off time");
    assert_eq!(sleeping(&later, &ids["started-again"]), ["started-by-someone"]);
    assert_eq!(sleeping(&later, &ids["berlin"]), ["asleep"]);
    // Every few minutes all night: a sweep with nothing to change costs the
    // access check and one listing per type (none per sleeping resource).
    let calls: Vec<(&str, u64)> = later.report.api_calls.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        calls,
        [
            ("autoscaling:DescribeAutoScalingGroups", 1),
            ("ec2:DescribeInstances", 1),
            ("eks:ListClusters", 1),
            ("sagemaker:ListApps", 1),
            ("sagemaker:ListEndpoints", 1),
            ("sagemaker:ListMlflowTrackingServers", 1),
            ("sagemaker:ListNotebookInstances", 1),
            ("sts:GetCallerIdentity", 1)
        ]
    );
    // ... and stops it at 22:00: costguard did not stop it, so it does not start it.
    moto.ec2().await.stop_instances().instance_ids(&ids["started-again"]).send().await.expect("stop");

    let morning = sweep_at(&moto, state.path(), false, support::at(TUESDAY_0720_BERLIN)).await;
    let states_now = states(&moto, &ids).await;
    assert_eq!((states_now["berlin"].as_str(), states_now["custodian"].as_str()), ("running", "running"), "woken from the journal");
    assert_eq!(states_now["started-again"], "stopped", "what a person stopped stays stopped");
    assert_eq!(sleeping(&morning, &ids["berlin"]), ["woken"]);
    let woken = morning.report.sleeping.iter().find(|s| s.resource_id == ids["berlin"]).expect("a line");
    // g5.xlarge at its built-in on-demand price, asleep from 18:05 to 06:20: 12.25 hours.
    assert!((woken.hours_asleep - 12.25).abs() < 1e-9, "{}", woken.hours_asleep);
    let hourly = woken.saved_usd.expect("priced") / woken.hours_asleep;
    assert!((hourly - 1.006).abs() < 0.01, "g5.xlarge is about $1.006 an hour, found {hourly}");

    // The sleeps are scheduled savings, never monthly ones.
    let journal = costguard::engine::journal::Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    assert!(journal.savings().rows(None).expect("ledger").is_empty(), "a night asleep takes nothing off the monthly bill");
    let scheduled = journal.sleeps().scheduled(None).expect("sleeps");
    let woken_berlin = scheduled.iter().find(|s| s.resource_id == ids["berlin"]).expect("berlin's sleep");
    assert_eq!(woken_berlin.usd, woken.saved_usd);
    let started = scheduled.iter().find(|s| s.resource_id == ids["started-again"]).expect("the one started again");
    assert!((started.hours - 2.0).abs() < 1e-9, "asleep from 19:05 until seen running at 21:05: {}", started.hours);
    let table = costguard::engine::ledger::render(&[], &scheduled, costguard::engine::ledger::Format::Table);
    assert!(table.contains("Scheduled (off hours asleep)") && table.contains("offhours-ec2") && table.contains("2026-12"), "{table}");

    // A second morning sweep has nothing left to wake.
    let again = sweep_at(&moto, state.path(), false, support::at("2026-12-08T06:25:00Z")).await;
    assert!(again.report.sleeping.is_empty(), "{:?}", again.report.sleeping);
}

#[tokio::test]
async fn a_sweep_missed_at_the_off_time_catches_up_but_never_outside_the_off_hours() {
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([{"name": "dev", "type": "m5.large", "tags": {"costguard:schedule": "berlin-office"}}]));
    let state = tempfile::tempdir().expect("temp dir");
    // Working hours: nothing sleeps.
    sweep_at(&moto, state.path(), false, support::at("2026-12-07T10:00:00Z")).await;
    assert_eq!(states(&moto, &ids).await["dev"], "running");
    // The daemon was down from 18:00 until 03:00: it catches up at once.
    sweep_at(&moto, state.path(), false, support::at("2026-12-08T02:00:00Z")).await;
    assert_eq!(states(&moto, &ids).await["dev"], "stopped");
    // Its wake-up at 07:15 was missed too: it happens as soon as a sweep runs in the on hours.
    let late = sweep_at(&moto, state.path(), false, support::at("2026-12-08T10:00:00Z")).await;
    assert_eq!(states(&moto, &ids).await["dev"], "running");
    assert_eq!(sleeping(&late, &ids["dev"]), ["woken"]);
    // Saturday is off hours all day (Friday 19:00 to Monday 07:30): the first sweep puts it to sleep,
    // and one in the off hours never wakes it.
    sweep_at(&moto, state.path(), false, support::at("2026-12-12T12:00:00Z")).await;
    let sunday = sweep_at(&moto, state.path(), false, support::at("2026-12-13T12:00:00Z")).await;
    assert_eq!(states(&moto, &ids).await["dev"], "stopped");
    assert_eq!(sleeping(&sunday, &ids["dev"]), ["asleep"]);
    let line = &sunday.report.sleeping[0];
    assert_eq!(line.wakes_at, Some(support::at("2026-12-14T06:15:00Z")), "Monday 07:15 in Berlin");
}

/// One Invocations datapoint of an endpoint's variant at `at`.
async fn invoked_at(moto: &Moto, endpoint: &str, variant: &str, at: DateTime<Utc>) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let datum = MetricDatum::builder()
        .metric_name("Invocations")
        .value(12.0)
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(at.timestamp()))
        .dimensions(Dimension::builder().name("EndpointName").value(endpoint).build())
        .dimensions(Dimension::builder().name("VariantName").value(variant).build())
        .build();
    moto.cloudwatch().await.put_metric_data().namespace("AWS/SageMaker").metric_data(datum).send().await.expect("put metric data");
}

async fn notebook_status(moto: &Moto, name: &str) -> String {
    let out = moto.sagemaker().await.describe_notebook_instance().notebook_instance_name(name).send().await.expect("describe notebook");
    out.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn test_endpoints_are_deleted_for_the_night_and_recreated_and_notebooks_stop_and_start() {
    let moto = support::moto().await;
    let schedule = [("costguard:schedule", "berlin-office"), ("team", "search")];
    support::seed_endpoint(&moto, "quiet-test", &[("main", "ml.g4dn.xlarge", 1)], &schedule, 3.0).await;
    support::seed_endpoint(&moto, "busy-test", &[("main", "ml.g4dn.xlarge", 1)], &schedule, 3.0).await;
    support::seed_endpoint(&moto, "production", &[("main", "ml.g4dn.xlarge", 1)], &[], 3.0).await;
    // A request ten minutes before the off-time sweep: in use, left up.
    invoked_at(&moto, "busy-test", "main", support::at("2026-12-07T17:55:00Z")).await;
    support::seed_notebook(&moto, "dev-notebook", 1.0).await;
    let arn = moto.sagemaker().await.describe_notebook_instance().notebook_instance_name("dev-notebook").send().await.expect("describe");
    let arn = arn.notebook_instance_arn().unwrap_or_default().to_string();
    let tag = aws_sdk_sagemaker::types::Tag::builder().key("costguard:schedule").value("berlin-office").build();
    moto.sagemaker().await.add_tags().resource_arn(&arn).tags(tag).send().await.expect("tag the notebook");
    let state = tempfile::tempdir().expect("temp dir");

    let evening = sweep_at(&moto, state.path(), false, support::at(MONDAY_1905_BERLIN)).await;
    assert_eq!(support::endpoint_names(&moto).await, ["busy-test", "production"], "the quiet test endpoint sleeps; the busy one is in use");
    assert_eq!(notebook_status(&moto, "dev-notebook").await, "Stopped");
    assert_eq!(sleeping(&evening, "quiet-test"), ["put-to-sleep"]);
    // The busy one is said to be kept up, and why, never counted as matched.
    assert_eq!(sleeping(&evening, "busy-test"), ["in-use"]);
    let busy = evening.report.findings.iter().find(|f| f.resource_id == "busy-test").expect("the busy endpoint is reported");
    assert_eq!(busy.standing, Standing::LeftAlone);
    assert!(
        busy.detail.as_deref().is_some_and(|d| d.starts_with("in use (not idle: Invocations Sum over 0.042 days == 0 does not hold)")),
        "{:?}",
        busy.detail
    );
    let summary = evening.report.policies.iter().find(|p| p.name == "offhours-sagemaker-endpoints").expect("its summary");
    assert_eq!(summary.matched, 1, "{summary:?}");

    let night = sweep_at(&moto, state.path(), false, support::at(MONDAY_2105_BERLIN)).await;
    assert_eq!(sleeping(&night, "quiet-test"), ["asleep"], "deleted to sleep is not gone: {:?}", night.report.sleeping);
    assert_eq!(support::endpoint_names(&moto).await, ["production"], "the busy one sleeps once its requests stop");

    let morning = sweep_at(&moto, state.path(), false, support::at(TUESDAY_0720_BERLIN)).await;
    assert_eq!(support::endpoint_names(&moto).await, ["busy-test", "production", "quiet-test"], "re-created from their configs");
    assert_eq!(notebook_status(&moto, "dev-notebook").await, "InService");
    assert_eq!(sleeping(&morning, "quiet-test"), ["woken"]);
    let sm = moto.sagemaker().await;
    let recreated = sm.describe_endpoint().endpoint_name("quiet-test").send().await.expect("describe");
    let tags = sm.list_tags().resource_arn(recreated.endpoint_arn().unwrap_or_default()).send().await.expect("tags");
    let team = tags.tags().iter().find(|t| t.key() == Some("team")).and_then(|t| t.value());
    assert_eq!(team, Some("search"), "its tags come back with it");
}

fn cli(args: &[&str], moto: &Moto, state: &Path) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"));
    cmd.args(args).env("COSTGUARD_LOG", "warn").env("COSTGUARD_STATE_DIR", state);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().expect("run costguard")
}

#[tokio::test]
async fn schedule_show_lists_each_scheduled_resource_and_a_dry_run_at_a_moment_previews_it() {
    let moto = support::moto().await;
    let ids = moto.seed_instances(json!([
        {"name": "berlin", "type": "m5.large", "tags": {"costguard:schedule": "berlin-office"}},
        {"name": "misspelt", "type": "m5.large", "tags": {"costguard:schedule": "berlin-ofice"}},
        {"name": "opted-out", "type": "m5.large", "tags": {"costguard:schedule": "none"}},
        {"name": "untagged", "type": "m5.large"},
    ]));
    let state = tempfile::tempdir().expect("temp dir");
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/offhours.yaml");
    // A week ahead: a weekday schedule always switches in it, whatever today is.
    let out = cli(&["schedule", "show", "--policies", policies, "--hours", "168", "--format", "json"], &moto, state.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let by_id = |name: &str| shown["resources"].as_array().into_iter().flatten().find(|r| r["resource_id"] == ids[name].as_str()).cloned();
    let berlin = by_id("berlin").expect("listed");
    assert_eq!((&berlin["schedule"], &berlin["time_zone"]), (&json!("berlin-office"), &json!("Europe/Berlin")));
    let switches = berlin["switches"].as_array().expect("switches");
    assert!(switches.len() >= 4, "{switches:?}");
    assert!(switches.windows(2).all(|w| w[0]["to"] != w[1]["to"] && w[0]["at"].as_str() < w[1]["at"].as_str()), "alternating, in order: {switches:?}");
    let wake = switches.iter().find(|s| s["to"] == "on").expect("a wake-up");
    assert!(wake["local"].as_str().is_some_and(|l| l.ends_with("07:15 CET") || l.ends_with("07:15 CEST")), "woken 15 minutes early: {wake}");
    assert_eq!(by_id("misspelt").expect("listed")["now"], "invalid");
    assert_eq!(by_id("opted-out").expect("listed")["now"], "opted-out");
    assert!(by_id("untagged").is_none(), "no schedule applies to it");

    let report_dir = state.path().join("report");
    let out = cli(
        &[
            "sweep",
            "--dry-run",
            "--at",
            "2026-12-07T19:05:00+01:00",
            "--policies",
            policies,
            "--report-dir",
            report_dir.to_str().expect("utf-8"),
            "--prices",
            "builtin",
        ],
        &moto,
        state.path(),
    );
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).expect("report.json")).expect("JSON");
    let would: Vec<&str> =
        report["sleeping"].as_array().into_iter().flatten().filter(|s| s["status"] == "would-sleep").filter_map(|s| s["resource_id"].as_str()).collect();
    assert_eq!(would, [ids["berlin"].as_str()]);
    assert!(report["started_at"].as_str().is_some_and(|t| t.starts_with("2026-12-07T18:05")), "{}", report["started_at"]);
    let out = cli(&["sweep", "--at", "2026-12-07T19:05:00+01:00", "--policies", policies], &moto, state.path());
    assert_eq!(out.status.code(), Some(2), "--at only previews: {}", String::from_utf8_lossy(&out.stderr));
}

async fn group_sizes(moto: &Moto, name: &str) -> (i32, i32, i32) {
    let asg = aws_sdk_autoscaling::Client::new(&moto.sdk_config().await);
    let out = asg.describe_auto_scaling_groups().auto_scaling_group_names(name).send().await.expect("describe groups");
    let g = &out.auto_scaling_groups()[0];
    (g.min_size().unwrap_or(-1), g.desired_capacity().unwrap_or(-1), g.max_size().unwrap_or(-1))
}

#[tokio::test]
async fn a_dev_gpu_node_group_scales_to_zero_for_the_night_and_back_in_the_morning() {
    use aws_sdk_autoscaling::types::Tag;
    let moto = support::moto().await;
    moto.seed_instances(json!([{"name": "worker", "type": "g5.xlarge", "asg": "dev-gpu"}]));
    let asg = aws_sdk_autoscaling::Client::new(&moto.sdk_config().await);
    let tag = Tag::builder()
        .resource_id("dev-gpu")
        .resource_type("auto-scaling-group")
        .key("costguard:schedule")
        .value("berlin-office")
        .propagate_at_launch(false)
        .build();
    asg.create_or_update_tags().tags(tag).send().await.expect("tag the group");
    assert_eq!(group_sizes(&moto, "dev-gpu").await, (1, 1, 1));
    let state = tempfile::tempdir().expect("temp dir");

    let evening = sweep_at(&moto, state.path(), false, support::at(MONDAY_1905_BERLIN)).await;
    assert_eq!(group_sizes(&moto, "dev-gpu").await, (0, 0, 1), "minimum and desired to zero; the maximum stays");
    assert_eq!(sleeping(&evening, "dev-gpu"), ["put-to-sleep"]);
    let line = evening.report.findings.iter().find(|f| f.resource_id == "dev-gpu").expect("a finding");
    assert!(line.monthly_cost_usd.is_some_and(|c| (c - 1.006 * 730.0).abs() < 1.0), "priced as its g5.xlarge: {:?}", line.monthly_cost_usd);
    // Its instance carries no schedule of its own, and an instance its group would replace is never stopped.
    assert!(evening.report.sleeping.iter().all(|s| s.resource_id == "dev-gpu"), "{:?}", evening.report.sleeping);

    let morning = sweep_at(&moto, state.path(), false, support::at(TUESDAY_0720_BERLIN)).await;
    assert_eq!(group_sizes(&moto, "dev-gpu").await, (1, 1, 1), "back to its sizes");
    assert_eq!(sleeping(&morning, "dev-gpu"), ["woken"]);
}

async fn node_group_sizes(eks: &aws_sdk_eks::Client) -> (i32, i32, i32) {
    let out = eks.describe_nodegroup().cluster_name("dev").nodegroup_name("gpu").send().await.expect("describe node group");
    let s = out.nodegroup().and_then(|g| g.scaling_config()).expect("scaling config");
    (s.min_size().unwrap_or(-1), s.desired_size().unwrap_or(-1), s.max_size().unwrap_or(-1))
}

#[tokio::test]
async fn a_dev_clusters_gpu_node_group_sleeps_at_zero_nodes() {
    use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
    let moto = support::moto().await;
    let eks = aws_sdk_eks::Client::new(&moto.sdk_config().await);
    let role = "arn:aws:iam::123456789012:role/eks";
    let vpc = VpcConfigRequest::builder().subnet_ids("subnet-1").build();
    eks.create_cluster().name("dev").role_arn(role).resources_vpc_config(vpc).send().await.expect("create cluster");
    eks.create_nodegroup()
        .cluster_name("dev")
        .nodegroup_name("gpu")
        .node_role(role)
        .subnets("subnet-1")
        .instance_types("g5.12xlarge")
        .scaling_config(NodegroupScalingConfig::builder().min_size(1).desired_size(2).max_size(4).build())
        .tags("costguard:schedule", "berlin-office")
        .send()
        .await
        .expect("create node group");
    let state = tempfile::tempdir().expect("temp dir");

    let evening = sweep_at(&moto, state.path(), false, support::at(MONDAY_1905_BERLIN)).await;
    assert_eq!(node_group_sizes(&eks).await, (0, 0, 4), "minimum and desired to zero; the maximum stays");
    assert_eq!(sleeping(&evening, "dev/gpu"), ["put-to-sleep"]);
    let found = evening.report.findings.iter().find(|f| f.resource_id == "dev/gpu").expect("a finding");
    // Two g5.12xlarge at their built-in rate.
    assert!(found.monthly_cost_usd.is_some_and(|c| c > 2.0 * 5.0 * 730.0), "priced as its two nodes: {:?} {:?}", found.monthly_cost_usd, found.cost_basis);

    let morning = sweep_at(&moto, state.path(), false, support::at(TUESDAY_0720_BERLIN)).await;
    assert_eq!(node_group_sizes(&eks).await, (1, 2, 4), "back to its sizes");
    assert_eq!(sleeping(&morning, "dev/gpu"), ["woken"]);
}

/// Custodian's offhours tags as they are written in the wild (its docs,
/// escapes, quotes, wrapping day ranges, lists, time zone aliases and
/// names) and as they go wrong.
const CUSTODIAN_TAGS: &[&str] = &[
    "off=(M-F,19);on=(M-F,7);tz=pt",
    "off=(m-f,19);on=(m-f,7);tz=et",
    "OFF=(M-F,19);ON=(M-F,7);TZ=PT",
    "off=[(M-F,21),(U,18)];on=[(M-F,6),(U,10)];tz=pt",
    "off=(F-M,22);on=(T-H,8);tz=cet",
    "off=(U-S,3);on=(U-S,4);tz=utc",
    "off=(S,10)",
    "on=(M,6)",
    "off=(h,19);on=(f,7);tz=gmt",
    "tz=pt",
    "tz=",
    "",
    "off",
    "OFF",
    "'off'",
    "\"off=(M-F,18);on=(M-F,8)\"",
    "offu3du28M-Fu2c19u29u3bonu3du28M-Fu2c7u29u3btzu3dpt",
    "off=u5bu28M-Fu2c21u29u2cu28Uu2c18u29u5d;on=(M-F,6)",
    "off=(M-F,19);on=(M-F,7);tz=Europe/Berlin",
    "off=(M-F,19);on=(M-F,7);tz=europe/berlin",
    "off=(M-F,19);on=(M-F,7);tz=america/new_york",
    "off=(M-F,19);on=(M-F,7);tz=asia/kolkata",
    "off=(M-F,19);on=(M-F,7);tz=it",
    "off=(M-F,19);on=(M-F,7);tz=aet",
    "tz=america/argentina/buenos_aires",
    "off=(M-F,19);;on=(M-F,7);",
    "off=(M-F,19); on=(M-F,7)",
    "off=(M-F,19);on=(M-F,7); tz=pt",
    "off=(M-F,19) tz=pt",
    "off=(M-F,24)",
    "off=(M-X,19)",
    "off=(M-F)",
    "off=M-F,19",
    "off=(M-F,7pm)",
    "off=(M-F,19);foo=1",
    "foo=1",
    "off=(M-F,19);tz=mars",
    "tz=utc",
    "tz=etc/utc",
    "on=(M-F,7);tz=gmt",
    "off=(T-H,19);on=(F,7)",
    "off=(M-F,19),(S,12)",
    "off=[(M-F,19)]",
    "off=(M-F,-1)",
    "off=(M-F,+7)",
    "off=(M-F, 19)",
];

/// Every UTC hour of three weeks: an ordinary one, and the weeks the US
/// and the EU move their clocks.
fn hours_of_three_weeks() -> Vec<DateTime<Utc>> {
    ["2026-12-07T00:00:00Z", "2027-03-08T00:00:00Z", "2027-03-22T00:00:00Z"]
        .iter()
        .flat_map(|start| (0..168).map(move |h| support::at(start) + chrono::Duration::hours(h)))
        .collect()
}

#[test]
fn custodian_tags_mean_what_custodians_own_filters_read_in_them() {
    use chrono::{Datelike, Timelike};
    use costguard::schedule::{parse_custodian, CustodianDefaults, CustodianTag, Power};
    let instants = hours_of_three_weeks();
    let request = json!({"values": CUSTODIAN_TAGS, "instants": instants.iter().map(|t| t.to_rfc3339()).collect::<Vec<_>>()});
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/custodian_offhours.py");
    let custodian = std::env::var("COSTGUARD_TEST_CUSTODIAN").unwrap_or_else(|_| format!("{}/.venv/custodian", env!("CARGO_MANIFEST_DIR")));
    let mut child = std::process::Command::new(support::python())
        .arg(&script)
        .env("PYTHONPATH", &custodian)
        // Custodian reads an empty `tz=` as the machine's own zone: UTC, as on Lambda.
        .env("TZ", "UTC")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run Custodian's parser (scripts/setup-python.sh installs it)");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), request.to_string().as_bytes()).expect("write the request");
    let out = child.wait_with_output().expect("Custodian answers");
    assert!(out.status.success(), "Custodian's parser failed: is it installed in {custodian}?");
    let answers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");

    let mut disagreements = Vec::new();
    for value in CUSTODIAN_TAGS {
        let theirs = &answers[*value];
        let ours = parse_custodian(value, &CustodianDefaults::default());
        let verdict = |invalid: bool, opted_out: bool| {
            if invalid {
                "invalid"
            } else if opted_out {
                "opted out"
            } else {
                "a schedule"
            }
        };
        let their_verdict = verdict(theirs["invalid"] == true, theirs["opted_out"] == true);
        let schedule = match &ours {
            Err(_) => None,
            Ok(CustodianTag::OptedOut) => None,
            Ok(CustodianTag::Schedule(s)) => Some(s),
        };
        let our_verdict = verdict(ours.is_err(), matches!(ours, Ok(CustodianTag::OptedOut)));
        if their_verdict != our_verdict {
            disagreements.push(format!("{value:?}: Custodian reads {their_verdict}, costguard {our_verdict} ({ours:?})"));
            continue;
        }
        let Some(schedule) = schedule else { continue };
        for (key, power) in [("off", Power::Off), ("on", Power::On)] {
            let theirs: Vec<usize> = theirs[key].as_array().into_iter().flatten().filter_map(|i| i.as_u64()).map(|i| i as usize).collect();
            let ours: Vec<usize> = (0..instants.len())
                .filter(|&i| {
                    schedule.switches.iter().filter(|s| s.to == power).any(|s| {
                        let local = instants[i].with_timezone(&s.tz);
                        s.days.contains(local.weekday()) && s.at.hour() == local.hour()
                    })
                })
                .collect();
            if theirs != ours {
                let shown = |list: &[usize]| list.iter().take(4).map(|&i| instants[i].format("%a %m-%d %H:00Z").to_string()).collect::<Vec<_>>().join(", ");
                disagreements.push(format!(
                    "{value:?} {key}: Custodian switches at {} hours ({}...), costguard at {} ({}...)",
                    theirs.len(),
                    shown(&theirs),
                    ours.len(),
                    shown(&ours)
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "costguard and Custodian disagree about these tags:\n{}", disagreements.join("\n"));
}
