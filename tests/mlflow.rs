//! `sagemaker-mlflow-tracking-server`: moto has no managed MLflow, so
//! ListMlflowTrackingServers, DescribeMlflowTrackingServer, Stop/Start,
//! ListTags and the Tagging API's GetResources for
//! `sagemaker:mlflow-tracking-server` are answered by the fake under the
//! real SDK clients, from one table that Stop and Start change; the access
//! check is moto's. A tagged server sleeps at night and is started before
//! the working day.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::progress::Progress;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use serde_json::{json, Value};
use support::fake_aws::{Answer, FakeAws};
use tokio_util::sync::CancellationToken;

const ARN: &str = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server";

/// name -> (active, tags)
type Servers = Arc<Mutex<BTreeMap<String, (bool, Vec<(&'static str, &'static str)>)>>>;

fn shown(name: &str, active: bool) -> Value {
    json!({
        "TrackingServerName": name,
        "TrackingServerArn": format!("{ARN}/{name}"),
        "TrackingServerStatus": if active { "Started" } else { "Stopped" },
        "IsActive": if active { "Active" } else { "Inactive" },
        "TrackingServerSize": "Small",
        "MlflowVersion": "2.16.2",
        "CreationTime": 1_700_000_000,
        "LastModifiedTime": 1_700_000_000,
    })
}

fn tag_list(tags: &[(&str, &str)]) -> Vec<Value> {
    tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect()
}

fn serve(moto: &support::Moto, servers: &Servers) -> FakeAws {
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    let s = Arc::clone(servers);
    fake.on("ListMlflowTrackingServers", move |_| {
        let all = s.lock().unwrap_or_else(|e| e.into_inner());
        Answer::Ok(json!({"TrackingServerSummaries": all.iter().map(|(n, (a, _))| shown(n, *a)).collect::<Vec<_>>()}))
    });
    let s = Arc::clone(servers);
    fake.on("DescribeMlflowTrackingServer", move |request| {
        let all = s.lock().unwrap_or_else(|e| e.into_inner());
        match request["TrackingServerName"].as_str().and_then(|n| all.get(n).map(|(a, _)| shown(n, *a))) {
            Some(found) => Answer::Ok(found),
            None => Answer::Error(400, "ResourceNotFound", "Tracking server does not exist"),
        }
    });
    for (op, to) in [("StopMlflowTrackingServer", false), ("StartMlflowTrackingServer", true)] {
        let s = Arc::clone(servers);
        fake.on(op, move |request| {
            let mut all = s.lock().unwrap_or_else(|e| e.into_inner());
            let name = request["TrackingServerName"].as_str().unwrap_or_default().to_string();
            match all.get_mut(&name) {
                Some(entry) => {
                    entry.0 = to;
                    Answer::Ok(json!({"TrackingServerArn": format!("{ARN}/{name}")}))
                }
                None => Answer::Error(400, "ResourceNotFound", "Tracking server does not exist"),
            }
        });
    }
    let s = Arc::clone(servers);
    fake.on("GetResources", move |request| {
        if request["ResourceTypeFilters"] != json!(["sagemaker:mlflow-tracking-server"]) {
            return Answer::Forward;
        }
        let all = s.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<Value> = all.iter().map(|(n, (_, tags))| json!({"ResourceARN": format!("{ARN}/{n}"), "Tags": tag_list(tags)})).collect();
        Answer::Ok(json!({"ResourceTagMappingList": list}))
    });
    let s = Arc::clone(servers);
    fake.on("ListTags", move |request| {
        let all = s.lock().unwrap_or_else(|e| e.into_inner());
        match request["ResourceArn"].as_str().and_then(|a| a.strip_prefix(&format!("{ARN}/"))).and_then(|n| all.get(n)) {
            Some((_, tags)) => Answer::Ok(json!({"Tags": tag_list(tags)})),
            None => Answer::Forward,
        }
    });
    fake
}

fn shipped() -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/offhours.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped policies");
    compile_text(&path, &text).expect("valid").into_iter().filter(|p| p.resource_type == ResourceType::SagemakerMlflowTrackingServer).collect()
}

async fn sweep_at(fake: &FakeAws, state: &Path, at: &str) -> SweepResult {
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
    let options = support::sweep_options(state, false);
    sweep::run(&aws, &shipped(), &options, &Clock::fixed(support::at(at)), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

#[tokio::test]
async fn a_tagged_tracking_server_is_stopped_for_the_night_and_started_before_the_working_day() {
    let moto = support::moto().await;
    let servers: Servers = Arc::new(Mutex::new(BTreeMap::from([
        ("team-mlflow".to_string(), (true, vec![("costguard:schedule", "berlin-office"), ("owner", "ana@example.com")])),
        ("prod-mlflow".to_string(), (true, vec![("owner", "ops@example.com")])),
    ])));
    let fake = serve(&moto, &servers);
    let dir = tempfile::tempdir().expect("temp dir");
    let active = |name: &str| servers.lock().unwrap_or_else(|e| e.into_inner())[name].0;

    // Monday 19:05 in Berlin (UTC+1 in December).
    let evening = sweep_at(&fake, dir.path(), "2026-12-07T18:05:00Z").await;
    assert!(!active("team-mlflow"), "stopped for the night");
    assert!(active("prod-mlflow"), "no schedule tag: never stopped");
    let line = evening.report.sleeping.iter().find(|s| s.resource_id == "team-mlflow").expect("its sleep");
    assert_eq!(line.status.as_str(), "put-to-sleep");
    let finding = evening.report.findings.iter().find(|f| f.resource_id == "team-mlflow").expect("found");
    assert_eq!(finding.monthly_cost_usd, None, "no built-in rate: unknown, never $0");

    // Tuesday 07:20: the warm-up (15 minutes) before 07:30.
    let morning = sweep_at(&fake, dir.path(), "2026-12-08T06:20:00Z").await;
    assert!(active("team-mlflow"), "started again from the journal");
    let line = morning.report.sleeping.iter().find(|s| s.resource_id == "team-mlflow").expect("its wake");
    assert_eq!(line.status.as_str(), "woken", "{line:?}");
    assert_eq!(fake.calls("StopMlflowTrackingServer").len(), 1);
    assert_eq!(fake.calls("StartMlflowTrackingServer").len(), 1);
    // The generated IAM policy allows exactly what the two sweeps called.
    let called: std::collections::BTreeSet<String> =
        evening.report.api_calls.keys().chain(morning.report.api_calls.keys()).map(|k| costguard::iam::iam_action(k)).collect();
    let granted = costguard::iam::actions(&shipped(), &costguard::iam::Needs::default());
    assert_eq!(called.difference(&granted).collect::<Vec<_>>(), Vec::<&String>::new(), "called but not allowed");
    assert_eq!(granted.difference(&called).collect::<Vec<_>>(), Vec::<&String>::new(), "allowed but never called");
    // Read again once, right before the stop; the listing has the rest.
    assert_eq!(fake.calls("DescribeMlflowTrackingServer").len(), 1);
}
