//! `policies/expiry.yaml` against the moto server: resources tagged
//! `costguard:expires` are told a day before and marked, then stopped (or
//! deleted) once the day has passed, if the tag still says so; a later
//! date, or no tag, keeps them; `costguard restore` undoes the change.

mod support;

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn shipped() -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/expiry.yaml");
    compile_text(&path, &std::fs::read_to_string(&path).expect("shipped expiry.yaml")).expect("valid")
}

async fn state(moto: &support::Moto, id: &str) -> String {
    let out = moto.ec2().await.describe_instances().instance_ids(id).send().await.expect("describe");
    let instance = out.reservations().first().and_then(|r| r.instances().first()).expect("instance");
    instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default()
}

async fn sweep_at(moto: &support::Moto, dir: &Path, at: DateTime<Utc>) -> SweepResult {
    let options = support::sweep_options(dir, false);
    sweep::run(&moto.aws().await, &shipped(), &options, &Clock::fixed(at), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

#[tokio::test]
async fn an_expired_instance_is_told_a_day_before_then_stopped_and_a_later_date_keeps_another() {
    let moto = support::moto().await;
    let now = Utc::now();
    let tomorrow = (now + Duration::hours(12)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let next_month = (now + Duration::days(30)).format("%Y-%m-%d").to_string();
    let ids = moto.seed_instances(json!([
        {"name": "demo-box", "type": "g5.12xlarge", "tags": {"owner": "ana@example.com", "costguard:expires": tomorrow}},
        {"name": "long-run", "type": "g5.12xlarge", "tags": {"owner": "bo@example.com", "costguard:expires": next_month}},
        {"name": "untagged", "type": "m5.large", "tags": {}},
    ]));
    let dir = tempfile::tempdir().expect("temp dir");

    let first = sweep_at(&moto, dir.path(), now).await;
    assert!(first.report.errors.is_empty(), "{:?}", first.report.errors);
    let found: Vec<&str> = first.report.findings.iter().filter(|f| f.resource_type == ResourceType::Ec2Instance).map(|f| f.resource_id.as_str()).collect();
    assert_eq!(found, [ids["demo-box"].as_str()], "only what expires within a day: {:?}", first.report.findings);
    let demo = &first.report.findings[0];
    assert!(demo.reason.contains("costguard:expires") && demo.reason.contains("in 12.0 hours"), "{}", demo.reason);
    assert!(demo.detail.as_deref().is_some_and(|d| d.starts_with("marked; stop due")), "marked, its owner told: {demo:?}");
    assert_eq!(state(&moto, &ids["demo-box"]).await, "running", "a day's notice first");

    let later = sweep_at(&moto, dir.path(), now + Duration::hours(25)).await;
    let stopped = later.report.findings.iter().find(|f| f.resource_id == ids["demo-box"]).expect("still matches");
    assert_eq!(stopped.status, Status::Done, "{stopped:?}");
    assert!(!stopped.detail.as_deref().unwrap_or_default().starts_with("marked"), "stopped, not marked again: {stopped:?}");
    assert!(stopped.reason.contains("expired"), "{}", stopped.reason);
    assert!(matches!(state(&moto, &ids["demo-box"]).await.as_str(), "stopped" | "stopping"));
    assert_eq!(state(&moto, &ids["long-run"]).await, "running", "its date is a month away");
    assert_eq!(state(&moto, &ids["untagged"]).await, "running", "no tag: never");

    let journal = costguard::engine::journal::Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::Ec2Instance, &ids["demo-box"], &support::wall_clock())
        .await
        .expect("restore");
    assert!(matches!(state(&moto, &ids["demo-box"]).await.as_str(), "running" | "pending"), "restore starts it again");
}

#[test]
fn an_expires_filter_with_a_bad_notice_is_refused_at_its_place() {
    let text = "policies:\n  - name: x\n    resource: ec2-instance\n    filters:\n      - type: expires\n        notice-days: -2\n";
    let shown = compile_text(Path::new("p.yaml"), text).expect_err("invalid").to_string();
    assert!(shown.contains("p.yaml:6") && shown.contains("notice-days"), "{shown}");
}
