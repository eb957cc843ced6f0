//! `sagemaker-inference-component`: moto has endpoints but no inference
//! components, so ListInferenceComponents, DescribeInferenceComponent,
//! UpdateInferenceComponentRuntimeConfig, ListTags, AddTags and the Tagging
//! API's GetResources for `sagemaker:inference-component` are answered by
//! the fake under the real SDK clients, from one table that the update
//! changes; the hosting endpoint (DescribeEndpoint, DescribeEndpointConfig),
//! the metrics and the access check are moto's.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use serde_json::{json, Value};
use support::fake_aws::{Answer, FakeAws};
use tokio_util::sync::CancellationToken;

const ARN: &str = "arn:aws:sagemaker:us-east-1:123456789012:inference-component";

/// name -> (copies, days old, tags)
type Components = Arc<Mutex<BTreeMap<String, (i32, i64, Vec<(&'static str, &'static str)>)>>>;

fn described(name: &str, copies: i32, age_days: i64) -> Value {
    let created = (Utc::now() - Duration::days(age_days)).timestamp();
    json!({
        "InferenceComponentName": name,
        "InferenceComponentArn": format!("{ARN}/{name}"),
        "EndpointName": "llm-host",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/llm-host",
        "VariantName": "main",
        "InferenceComponentStatus": "InService",
        "CreationTime": created,
        "LastModifiedTime": created,
        "Specification": {
            "ModelName": format!("{name}-model"),
            "ComputeResourceRequirements": {"NumberOfAcceleratorDevicesRequired": 1.0, "NumberOfCpuCoresRequired": 4.0, "MinMemoryRequiredInMb": 16384}
        },
        "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
    })
}

fn serve(moto: &support::Moto, components: &Components) -> FakeAws {
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    let c = Arc::clone(components);
    fake.on("ListInferenceComponents", move |_| {
        let all = c.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<Value> = all.iter().map(|(name, (copies, age, _))| described(name, *copies, *age)).collect();
        Answer::Ok(json!({ "InferenceComponents": list }))
    });
    let c = Arc::clone(components);
    fake.on("DescribeInferenceComponent", move |request| {
        let all = c.lock().unwrap_or_else(|e| e.into_inner());
        match request["InferenceComponentName"].as_str().and_then(|n| all.get(n).map(|(copies, age, _)| described(n, *copies, *age))) {
            Some(found) => Answer::Ok(found),
            None => Answer::Error(400, "ValidationException", "Could not find inference component"),
        }
    });
    let c = Arc::clone(components);
    fake.on("UpdateInferenceComponentRuntimeConfig", move |request| {
        let mut all = c.lock().unwrap_or_else(|e| e.into_inner());
        let name = request["InferenceComponentName"].as_str().unwrap_or_default().to_string();
        let copies = request["DesiredRuntimeConfig"]["CopyCount"].as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(-1);
        match all.get_mut(&name) {
            Some(entry) => {
                entry.0 = copies;
                Answer::Ok(json!({ "InferenceComponentArn": format!("{ARN}/{name}") }))
            }
            None => Answer::Error(400, "ValidationException", "Could not find inference component"),
        }
    });
    let c = Arc::clone(components);
    fake.on("GetResources", move |request| {
        if request["ResourceTypeFilters"] != json!(["sagemaker:inference-component"]) {
            return Answer::Forward;
        }
        let all = c.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<Value> = all
            .iter()
            .map(|(name, (_, _, tags))| json!({"ResourceARN": format!("{ARN}/{name}"), "Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()}))
            .collect();
        Answer::Ok(json!({ "ResourceTagMappingList": list }))
    });
    let c = Arc::clone(components);
    fake.on("ListTags", move |request| {
        let all = c.lock().unwrap_or_else(|e| e.into_inner());
        let arn = request["ResourceArn"].as_str().unwrap_or_default();
        match arn.strip_prefix(&format!("{ARN}/")).and_then(|n| all.get(n)) {
            Some((_, _, tags)) => Answer::Ok(json!({"Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()})),
            None => Answer::Forward,
        }
    });
    for op in ["AddTags", "DeleteTags"] {
        fake.on(op, |request| match request["ResourceArn"].as_str().is_some_and(|a| a.starts_with(ARN)) {
            true => Answer::Ok(json!({})),
            false => Answer::Forward,
        });
    }
    fake
}

fn shipped() -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/sagemaker.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped policies");
    compile_text(&path, &text).expect("valid").into_iter().filter(|p| p.resource_type == ResourceType::SagemakerInferenceComponent).collect()
}

async fn sweep_at(fake: &FakeAws, state: &Path, now: chrono::DateTime<Utc>) -> SweepResult {
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
    let options = support::sweep_options(state, false);
    sweep::run(&aws, &shipped(), &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

#[tokio::test]
async fn idle_copies_are_priced_by_the_gpus_they_hold_scaled_to_zero_after_their_mark_and_restored() {
    let moto = support::moto().await;
    support::seed_endpoint(&moto, "llm-host", &[("main", "ml.g4dn.12xlarge", 1)], &[], 30.0).await;
    let owner = vec![("owner", "ana@example.com")];
    let components: Components = Arc::new(Mutex::new(BTreeMap::from([
        ("idle-llm".to_string(), (2, 30, owner.clone())),
        ("busy-llm".to_string(), (1, 30, owner.clone())),
        ("young-llm".to_string(), (1, 2, owner)),
    ])));
    let fake = serve(&moto, &components);
    let now = Utc::now();
    // busy-llm served requests yesterday, and again in the week before the second sweep.
    let busy = [("InferenceComponentName", "busy-llm")];
    support::put_load(&moto, "AWS/SageMaker", &busy, "Invocations", 40.0, 10.0, 1).await;
    let dir = tempfile::tempdir().expect("temp dir");

    let first = sweep_at(&fake, dir.path(), now).await;
    let found: BTreeMap<&str, &costguard::engine::findings::Finding> = first.report.findings.iter().map(|f| (f.resource_id.as_str(), f)).collect();
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), ["idle-llm"], "{found:#?}");
    let idle = found["idle-llm"];
    // 2 copies x 1 of 4 T4 GPUs of an ml.g4dn.12xlarge ($5.48 an hour) x 730 h.
    let expected = 2.0 * 0.25 * 5.48 * 730.0;
    assert!(idle.monthly_cost_usd.is_some_and(|c| (c - expected).abs() < 1e-6), "{idle:#?}");
    assert!(fake.calls("AddTags").iter().any(|t| t["ResourceArn"] == format!("{ARN}/idle-llm")), "marked first");
    assert!(fake.calls("UpdateInferenceComponentRuntimeConfig").is_empty(), "changed only after its mark's week");
    // The listing reads the endpoint and its config once for all three
    // components; the mark's re-read reads its component and them again.
    assert_eq!(first.report.api_calls.get("sagemaker:DescribeEndpointConfig"), Some(&2));
    assert_eq!(first.report.api_calls.get("sagemaker:DescribeInferenceComponent"), Some(&4));

    // Eight days on: the mark's week is over.
    let later = now + Duration::days(8);
    let second = sweep_at(&fake, dir.path(), later).await;
    // Someone scales busy-llm (marked by the second sweep) down by hand:
    // the third sweep finds it no longer matching and unmarks it.
    components.lock().unwrap_or_else(|e| e.into_inner()).entry("busy-llm".to_string()).and_modify(|c| c.0 = 0);
    let third = sweep_at(&fake, dir.path(), later + Duration::hours(1)).await;
    assert!(fake.calls("DeleteTags").iter().any(|t| t["ResourceArn"] == format!("{ARN}/busy-llm")), "unmarked");
    // The generated IAM policy allows exactly what these sweeps called.
    let called: std::collections::BTreeSet<String> =
        [&first, &second, &third].iter().flat_map(|r| r.report.api_calls.keys()).map(|k| costguard::iam::iam_action(k)).collect();
    let granted = costguard::iam::actions(&shipped(), &costguard::iam::Needs::default());
    assert_eq!(called.difference(&granted).collect::<Vec<_>>(), Vec::<&String>::new(), "called but not allowed");
    assert_eq!(granted.difference(&called).collect::<Vec<_>>(), Vec::<&String>::new(), "allowed but never called");
    let idle = second.report.findings.iter().find(|f| f.resource_id == "idle-llm").expect("still idle");
    assert_eq!(idle.status, Status::Done, "{idle:#?}");
    // Only the one whose mark's week is over changes (busy-llm's requests
    // are now outside the window: it is marked, no more).
    let updates = fake.calls("UpdateInferenceComponentRuntimeConfig");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["InferenceComponentName"], "idle-llm");
    assert_eq!(updates[0]["DesiredRuntimeConfig"]["CopyCount"], 0);
    assert_eq!(components.lock().unwrap_or_else(|e| e.into_inner())["idle-llm"].0, 0);

    // Restore puts back the two copies it had.
    let journal = costguard::engine::journal::Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
    let back = costguard::engine::restore::restore(&aws, &journal, ResourceType::SagemakerInferenceComponent, "idle-llm", &Clock::fixed(later))
        .await
        .expect("restore");
    assert!(back.contains("desired 2"), "{back}");
    assert_eq!(components.lock().unwrap_or_else(|e| e.into_inner())["idle-llm"].0, 2);
}
