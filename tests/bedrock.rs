//! `bedrock-provisioned-throughput`: moto has no Bedrock control plane, so
//! its calls (ListProvisionedModelThroughputs, GetProvisionedModelThroughput,
//! ListTagsForResource, DeleteProvisionedModelThroughput) are answered by the
//! fake under the real SDK client, as AWS answers them; the metrics
//! (`AWS/Bedrock` Invocations by the throughput's ARN) and the access check
//! go to the moto server.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Duration, Utc};
use costguard::config::compile_text;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::sweep;
use serde_json::{json, Value};
use support::fake_aws::{Answer, FakeAws};
use tokio_util::sync::CancellationToken;

const ACCOUNT_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model";

fn throughput(name: &str, model: &str, units: i64, commitment: Option<(&str, i64)>) -> Value {
    let now = Utc::now();
    let created = (now - Duration::days(30)).to_rfc3339();
    let model_arn = format!("arn:aws:bedrock:us-east-1::foundation-model/{model}");
    let mut p = json!({
        "provisionedModelName": name,
        "provisionedModelArn": format!("{ACCOUNT_ARN}/{name}-id"),
        "modelArn": model_arn,
        "desiredModelArn": model_arn,
        "foundationModelArn": model_arn,
        "modelUnits": units,
        "desiredModelUnits": units,
        "status": "InService",
        "creationTime": created,
        "lastModifiedTime": created,
    });
    if let Some((term, days_left)) = commitment {
        p["commitmentDuration"] = term.into();
        p["commitmentExpirationTime"] = (now + Duration::days(days_left)).to_rfc3339().into();
    }
    p
}

fn fleet() -> Vec<Value> {
    vec![
        throughput("idle-claude", "anthropic.claude-instant-v1:2:100k", 2, None),
        throughput("busy-titan", "amazon.titan-text-express-v1:0:8k", 1, None),
        throughput("committed-claude", "anthropic.claude-v2:1:200k", 1, Some(("SixMonths", 90))),
        throughput("mystery", "acme.custom-v1:0", 1, None),
    ]
}

fn fake(moto: &support::Moto) -> FakeAws {
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    fake.answer("GET /provisioned-model-throughputs", json!({"provisionedModelSummaries": fleet()}));
    for p in fleet() {
        let name = p["provisionedModelName"].as_str().unwrap_or_default().to_string();
        fake.answer(&format!("GET /provisioned-model-throughput/{name}"), p);
    }
    fake.on("POST /listTagsForResource", |body| {
        let arn = body["resourceARN"].as_str().unwrap_or_default();
        let tags = if arn.ends_with("/mystery-id") {
            json!([{"key": "costguard:protect", "value": "true"}])
        } else {
            json!([{"key": "owner", "value": "ana@example.com"}])
        };
        Answer::Ok(json!({"tags": tags}))
    });
    fake.on("DELETE /provisioned-model-throughput/idle-claude", |_| Answer::Ok(json!({})));
    fake
}

#[tokio::test]
async fn idle_throughput_is_priced_per_unit_and_term_and_deleted_only_outside_its_commitment() {
    let moto = support::moto().await;
    // busy-titan served requests yesterday.
    moto.cloudwatch()
        .await
        .put_metric_data()
        .namespace("AWS/Bedrock")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("Invocations")
                .value(120.0)
                .timestamp((std::time::SystemTime::now() - std::time::Duration::from_secs(86_400)).into())
                .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("ModelId").value(format!("{ACCOUNT_ARN}/busy-titan-id")).build())
                .build(),
        )
        .send()
        .await
        .expect("put metric data");
    let fake = fake(&moto);
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(true).await, costguard::aws::ApiCallCounter::new());
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/bedrock.yaml")).expect("shipped policy");
    let policies = compile_text(Path::new("bedrock.yaml"), &format!("{shipped}      - delete\n")).expect("the shipped policy with delete opted in");
    let dir = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(dir.path(), false);
    let result = sweep::run(&aws, &policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs");

    let found: BTreeMap<&str, &costguard::engine::findings::Finding> = result.report.findings.iter().map(|f| (f.resource_id.as_str(), f)).collect();
    assert!(!found.contains_key("busy-titan"), "invocations yesterday: not idle: {found:?}");
    let idle = found["idle-claude"];
    // 2 model units x $44.00 an hour (no commitment) x 730 hours.
    assert!(idle.monthly_cost_usd.is_some_and(|c| (c - 2.0 * 44.0 * 730.0).abs() < 1e-6), "{idle:?}");
    assert_eq!(idle.status, Status::Done, "{idle:?}");
    let committed = found["committed-claude"];
    // 1 unit x $35.00 (six-month term) x 730.
    assert!(committed.monthly_cost_usd.is_some_and(|c| (c - 35.0 * 730.0).abs() < 1e-6), "{committed:?}");
    assert_eq!(committed.status, Status::Skipped, "{committed:?}");
    assert!(committed.detail.as_deref().unwrap_or_default().contains("inside its SixMonths commitment"), "{committed:?}");
    let mystery = found["mystery"];
    assert_eq!(mystery.monthly_cost_usd, None, "no built-in rate: unknown, never $0");
    assert_eq!(mystery.status, Status::Skipped, "protected: {mystery:?}");

    let deleted: Vec<Value> = fake.calls("DELETE /provisioned-model-throughput/idle-claude");
    assert_eq!(deleted.len(), 1);
    assert!(fake.calls("DELETE /provisioned-model-throughput/committed-claude").is_empty(), "a commitment is billed to its end: never deleted");
    assert_eq!(fake.calls("GET /provisioned-model-throughput/idle-claude").len(), 1, "re-read right before the delete");
    assert_eq!(result.report.api_calls.get("bedrock:ListProvisionedModelThroughputs"), Some(&1));
}
