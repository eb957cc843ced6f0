//! Idle SageMaker endpoints and notebooks, end to end against the moto
//! server: what matches, what it costs, marks and grace periods, deletion,
//! the journal, restore, and how many AWS calls it all takes.

mod support;

use std::path::Path;

use chrono::{Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::engine::actions::{ActionState, Intent, PendingSaving};
use costguard::engine::journal::Journal;
use costguard::progress::Progress;
use costguard::report::{Finding, Verdict};
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use support::{endpoint_names, put_invocations, seed_endpoint, Moto};
use tokio_util::sync::CancellationToken;

use support::IDLE_ENDPOINTS;

fn policies(text: &str) -> Vec<Policy> {
    compile_text(Path::new("test.yaml"), text).expect("valid test policy")
}

async fn sweep_at(moto: &Moto, state: &Path, policies: &[Policy], dry_run: bool, now: chrono::DateTime<Utc>) -> SweepResult {
    let options = support::sweep_options(state, dry_run);
    let aws = moto.aws().await;
    sweep::run(&aws, policies, &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

/// `costguard apply` of a saved plan at `now`, with a day's `--max-age`.
async fn apply_at(
    moto: &Moto,
    policies: &[Policy],
    plan: &Path,
    options: &sweep::SweepOptions,
    now: chrono::DateTime<Utc>,
) -> Result<SweepResult, sweep::SweepError> {
    let file = sweep::read_plan(plan).expect("the plan reads back");
    let aws = moto.aws().await;
    let (clock, progress, cancel) = (Clock::fixed(now), Progress::hidden(), CancellationToken::new());
    let ctx = sweep::Context { aws: &aws, clock: &clock, progress: &progress, cancel: &cancel };
    sweep::apply_plan(&ctx, policies, &sweep::Reviewed { path: plan, file: &file, max_age: Duration::hours(24) }, options).await
}

fn finding<'a>(result: &'a SweepResult, id: &str) -> Option<&'a Finding> {
    result.report.findings.iter().find(|f| f.resource_id == id)
}

fn calls(result: &SweepResult, op: &str) -> u64 {
    result.report.api_calls.get(op).copied().unwrap_or(0)
}

/// busy, idle with zero datapoints, idle with no datapoints, too young,
/// protected (and idle), and a two-variant endpoint busy on one variant only.
async fn fleet(moto: &Moto) {
    seed_endpoint(moto, "busy", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    seed_endpoint(moto, "idle-zeros", &[("AllTraffic", "ml.m5.xlarge", 2)], &[("owner", "ana@example.com")], 30.0).await;
    seed_endpoint(moto, "idle-nodata", &[("AllTraffic", "ml.g4dn.xlarge", 1)], &[], 30.0).await;
    seed_endpoint(moto, "too-young", &[("AllTraffic", "ml.m5.large", 1)], &[], 3.0).await;
    seed_endpoint(moto, "protected", &[("AllTraffic", "ml.m5.large", 1)], &[("costguard:protect", "yes")], 30.0).await;
    seed_endpoint(moto, "busy-b-only", &[("a", "ml.c5.large", 1), ("b", "ml.c5.large", 1)], &[], 30.0).await;
    put_invocations(moto, "busy", "AllTraffic", 42.0, 5).await;
    put_invocations(moto, "idle-zeros", "AllTraffic", 0.0, 5).await;
    put_invocations(moto, "idle-zeros", "AllTraffic", 0.0, 30).await;
    put_invocations(moto, "busy-b-only", "a", 0.0, 5).await;
    put_invocations(moto, "busy-b-only", "b", 3.0, 50).await;
}

#[tokio::test]
async fn dry_run_matches_exactly_the_idle_old_unprotected_endpoints() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), true, Utc::now()).await;

    let mut ids: Vec<&str> = result.report.findings.iter().map(|f| f.resource_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["idle-nodata", "idle-zeros", "protected"]);
    let zeros = finding(&result, "idle-zeros").expect("idle-zeros found");
    assert!(zeros.detail.as_deref().unwrap_or("").starts_with("would mark; delete due"), "{:?}", zeros.detail);
    assert!(zeros.reason.contains("Invocations Sum over 14 days = 0"), "{}", zeros.reason);
    assert!(finding(&result, "idle-nodata").map(|f| f.reason.contains("no datapoints")).unwrap_or(false));
    let protected = finding(&result, "protected").expect("protected is reported");
    assert_eq!(serde_json::to_value(protected.status).ok(), Some(serde_json::json!("skipped")));
    assert!(protected.detail.as_deref().unwrap_or("").contains("protected by tag costguard:protect"));

    // Priced: 2 x ml.m5.xlarge at $0.23/h and 1 x ml.g4dn.xlarge at $0.736/h, 730 h a month.
    assert!((zeros.monthly_cost_usd.unwrap_or(0.0) - 0.23 * 2.0 * 730.0).abs() < 1e-6, "{:?}", zeros.monthly_cost_usd);
    assert!(zeros.cost_basis.as_deref().unwrap_or("").contains("ml.m5.xlarge"));
    let policy = &result.report.policies[0];
    assert!((policy.monthly_cost_usd - (0.23 * 2.0 + 0.736 + 0.115) * 730.0).abs() < 1e-6, "{}", policy.monthly_cost_usd);

    // Calls: one list page, the tags of every endpoint in one bulk call,
    // the variants' Invocations series in one ListMetrics and their
    // datapoints in one GetMetricData; a describe only for what is still
    // idle (not too-young, not the two busy ones: their metrics ruled
    // them out first), no ListTags.
    assert_eq!(calls(&result, "sagemaker:ListEndpoints"), 1);
    assert_eq!(calls(&result, "tag:GetResources"), 1);
    assert_eq!(calls(&result, "cloudwatch:ListMetrics"), 1);
    assert_eq!(calls(&result, "cloudwatch:GetMetricData"), 1);
    assert_eq!(calls(&result, "sagemaker:DescribeEndpoint"), 3);
    assert_eq!(calls(&result, "sagemaker:ListTags"), 0);
    assert!(calls(&result, "sagemaker:DescribeEndpointConfig") <= 5);
    assert_eq!(result.report.totals.api_calls, result.report.api_calls.values().sum::<u64>());
    assert!(result.report.api_calls.keys().all(|op| !op.contains("Delete") && !op.contains("AddTags")), "{:?}", result.report.api_calls);
    assert_eq!(endpoint_names(&moto).await.len(), 6, "a dry run changes nothing");
}

#[tokio::test]
async fn a_tag_filter_decides_from_the_bulk_tags_before_any_describe() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let state = tempfile::tempdir().expect("temp dir");
    let text =
        "policies:\n  - name: anas\n    resource: sagemaker-endpoint\n    filters:\n      - type: tag\n        key: owner\n        value: ana@example.com\n";
    let result = sweep_at(&moto, state.path(), &policies(text), true, Utc::now()).await;
    let found: Vec<&str> = result.report.findings.iter().map(|f| f.resource_id.as_str()).collect();
    assert_eq!(found, ["idle-zeros"]);
    assert_eq!(calls(&result, "sagemaker:DescribeEndpoint"), 1, "only the endpoint the tag filter keeps is described: {:?}", result.report.api_calls);
}

#[tokio::test]
async fn without_the_tagging_api_tags_are_read_one_by_one_and_protection_still_holds() {
    use support::fake_aws::{Answer, FakeAws};
    let moto = support::moto().await;
    fleet(&moto).await;
    // An IAM policy from before tags were read in bulk: no tag:GetResources.
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    fake.on("GetResources", |_| Answer::Error(400, "AccessDeniedException", "not authorized to perform tag:GetResources"));
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(false).await, costguard::aws::ApiCallCounter::new());
    let state = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(state.path(), true);
    let result = sweep::run(&aws, &policies(IDLE_ENDPOINTS), &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new())
        .await
        .expect("sweep runs");
    assert!(result.report.errors.is_empty(), "the listing still succeeds: {:?}", result.report.errors);
    let protected = finding(&result, "protected").expect("protected is reported");
    assert!(protected.detail.as_deref().unwrap_or("").contains("protected by tag costguard:protect"), "{:?}", protected.detail);
    assert_eq!(calls(&result, "sagemaker:ListTags"), calls(&result, "sagemaker:DescribeEndpoint"), "one ListTags per endpoint described");
}

#[tokio::test]
async fn real_run_marks_first_and_deletes_only_after_the_grace_period() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let state = tempfile::tempdir().expect("temp dir");
    let policies = policies(IDLE_ENDPOINTS);
    let now = Utc::now();

    let first = sweep_at(&moto, state.path(), &policies, false, now).await;
    assert_eq!(first.report.verdict(), Verdict::Clean);
    assert_eq!(endpoint_names(&moto).await.len(), 6, "marking deletes nothing");
    let sm = moto.sagemaker().await;
    let arn = |name: &str| format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}");
    let tags = sm.list_tags().resource_arn(arn("idle-zeros")).send().await.expect("list tags");
    let mark = tags.tags().iter().find(|t| t.key() == Some("costguard:marked-for")).and_then(|t| t.value()).unwrap_or_default();
    assert!(mark.starts_with("delete@"), "the mark is visible on the endpoint: {mark:?}");
    let untouched = sm.list_tags().resource_arn(arn("protected")).send().await.expect("list tags");
    assert!(untouched.tags().iter().all(|t| t.key() != Some("costguard:marked-for")), "protected endpoints are never marked");

    let waiting = sweep_at(&moto, state.path(), &policies, false, now + Duration::days(3)).await;
    assert!(finding(&waiting, "idle-zeros").and_then(|f| f.detail.as_deref()).unwrap_or("").starts_with("marked; delete due"));
    assert_eq!(endpoint_names(&moto).await.len(), 6, "nothing is deleted inside the grace period");

    let due = sweep_at(&moto, state.path(), &policies, false, now + Duration::days(8)).await;
    assert_eq!(due.report.verdict(), Verdict::Clean, "{:?}", due.report.errors);
    assert_eq!(endpoint_names(&moto).await, ["busy", "busy-b-only", "protected", "too-young"]);
    assert!(finding(&due, "idle-zeros").and_then(|f| f.detail.as_deref()).unwrap_or("").contains("config idle-zeros-config kept"));
    // The config and model stay, for restore.
    sm.describe_endpoint_config().endpoint_config_name("idle-zeros-config").send().await.expect("config kept");

    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    assert_eq!(journal.actions().count(ActionState::Done).expect("count"), 2);
    assert!(journal.marks().all().expect("marks").is_empty(), "acted-on marks are cleared");
    let deleted = journal.actions().last_done(ResourceType::SagemakerEndpoint, "idle-zeros", &["delete"]).expect("read").expect("journaled");
    assert_eq!(deleted.resource.tags.get("owner").map(String::as_str), Some("ana@example.com"), "the journal keeps the tags");
}

#[tokio::test]
async fn a_forged_past_due_mark_deletes_nothing_and_the_grace_period_runs_from_now() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "idle", &[("AllTraffic", "ml.m5.large", 1)], &[("costguard:marked-for", "delete@2000-01-01T00:00:00Z")], 30.0).await;
    let state = tempfile::tempdir().expect("temp dir");
    let now = Utc::now();
    let result = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), false, now).await;
    assert_eq!(endpoint_names(&moto).await, ["idle"], "a tag alone never ends a grace period");
    let detail = finding(&result, "idle").and_then(|f| f.detail.clone()).unwrap_or_default();
    assert!(detail.contains("delete due"), "marked anew: {detail}");

    let sm = moto.sagemaker().await;
    let tags = sm.list_tags().resource_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/idle").send().await.expect("tags");
    // moto's AddTags appends a second tag with the same key where AWS
    // overwrites it: the newest is the last.
    let mark = tags.tags().iter().rev().find(|t| t.key() == Some("costguard:marked-for")).and_then(|t| t.value()).unwrap_or_default().to_string();
    let due = chrono::DateTime::parse_from_rfc3339(mark.trim_start_matches("delete@")).expect("a due time").with_timezone(&Utc);
    assert!((due - (now + Duration::days(7))).num_seconds().abs() <= 1, "the tag now says when the journal's grace period ends: {mark}");
    let marks = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal").marks().all().expect("marks");
    assert_eq!(marks.len(), 1);

    sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), false, now + Duration::days(6)).await;
    assert_eq!(endpoint_names(&moto).await, ["idle"], "still inside the grace period the journal started");
}

#[tokio::test]
async fn restore_brings_a_deleted_endpoint_back_as_it_was() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "idle", &[("AllTraffic", "ml.m5.large", 1)], &[("owner", "ana@example.com"), ("team", "ml")], 30.0).await;
    let sm = moto.sagemaker().await;
    let before = sm.describe_endpoint().endpoint_name("idle").send().await.expect("describe");
    let state = tempfile::tempdir().expect("temp dir");
    let no_grace = IDLE_ENDPOINTS.replace("      - type: mark\n        days: 7\n", "");
    sweep_at(&moto, state.path(), &policies(&no_grace), false, Utc::now()).await;
    assert!(endpoint_names(&moto).await.is_empty(), "deleted");

    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    let done = costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::SagemakerEndpoint, "idle", &support::wall_clock())
        .await
        .expect("restore");
    assert!(done.contains("idle-config"), "{done}");

    let after = sm.describe_endpoint().endpoint_name("idle").send().await.expect("restored");
    assert_eq!(after.endpoint_config_name(), before.endpoint_config_name());
    assert_eq!(after.endpoint_arn(), before.endpoint_arn());
    let tags = sm.list_tags().resource_arn(after.endpoint_arn().unwrap_or_default()).send().await.expect("tags");
    let mut tags: Vec<(String, String)> =
        tags.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect();
    tags.sort();
    assert_eq!(tags, [("owner".to_string(), "ana@example.com".to_string()), ("team".to_string(), "ml".to_string())]);
    assert!(journal.actions().last_done(ResourceType::SagemakerEndpoint, "idle", &["restore"]).expect("read").is_some(), "the restore is journaled");

    let again = costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::SagemakerEndpoint, "idle", &support::wall_clock()).await;
    assert!(matches!(again, Err(costguard::engine::restore::RestoreError::Resource(costguard::resources::RestoreError::AlreadyExists { .. }))), "{again:?}");
}

#[tokio::test]
async fn the_savings_ledger_adds_what_was_deleted_and_takes_back_restores_and_recreations() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "idle-a", &[("AllTraffic", "ml.m5.large", 2)], &[], 30.0).await;
    seed_endpoint(&moto, "idle-b", &[("AllTraffic", "ml.g4dn.xlarge", 1)], &[], 30.0).await;
    seed_endpoint(&moto, "idle-c", &[("AllTraffic", "ml.m5.xlarge", 1)], &[], 30.0).await;
    let state = tempfile::tempdir().expect("temp dir");
    let no_grace = policies(&IDLE_ENDPOINTS.replace("      - type: mark\n        days: 7\n", ""));
    let swept = sweep_at(&moto, state.path(), &no_grace, false, Utc::now()).await;
    assert!(endpoint_names(&moto).await.is_empty(), "all three deleted");
    let cost = |name: &str| finding(&swept, name).and_then(|f| f.monthly_cost_usd).unwrap_or(f64::NAN);
    let all = cost("idle-a") + cost("idle-b") + cost("idle-c");
    // By hand: 2 x $0.115 + $0.736 + $0.23 an hour, 730 hours.
    assert!((all - (2.0 * 0.115 + 0.736 + 0.23) * 730.0).abs() < 1e-6, "{all}");
    let saved = swept.report.saved.as_ref().expect("the ledger is in the report");
    assert!((saved.monthly_usd - all).abs() < 1e-6 && saved.changes == 3, "{saved:?}");

    // A restore takes its saving back.
    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::SagemakerEndpoint, "idle-a", &support::wall_clock()).await.expect("restore");
    // Its owner recreates another by hand (the config was kept).
    let sm = moto.sagemaker().await;
    sm.create_endpoint().endpoint_name("idle-b").endpoint_config_name("idle-b-config").send().await.expect("recreate");
    let dry = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), true, Utc::now()).await;
    let saved = dry.report.saved.as_ref().expect("the ledger is in the report");
    assert!((saved.monthly_usd - (all - cost("idle-a"))).abs() < 1e-6, "a dry run notices nothing new: {saved:?}");
    let real = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), false, Utc::now()).await;
    let saved = real.report.saved.as_ref().expect("the ledger is in the report");
    assert!((saved.monthly_usd - cost("idle-c")).abs() < 1e-6 && saved.changes == 1, "only idle-c still counts: {saved:?}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["savings", "--format", "csv", "--journal"])
        .arg(state.path().join("state/journal.sqlite"))
        .output()
        .expect("costguard savings");
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let states: Vec<String> = csv.lines().skip(1).map(|l| format!("{}:{}", l.split(',').nth(5).unwrap_or(""), l.rsplit(',').next().unwrap_or(""))).collect();
    assert_eq!(states, ["idle-a:restored", "idle-b:recreated", "idle-c:saved"], "{csv}");
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["savings", "--journal"])
        .arg(state.path().join("state/journal.sqlite"))
        .output()
        .expect("costguard savings");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("from 1 change since") && table.contains("1 restored") && table.contains("1 recreated"), "{table}");
}

#[tokio::test]
async fn breaker_stops_a_policy_whose_matches_exceed_its_limit() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let state = tempfile::tempdir().expect("temp dir");
    let limited = format!("{IDLE_ENDPOINTS}    max-resources: 1\n");
    let result = sweep_at(&moto, state.path(), &policies(&limited), false, Utc::now()).await;
    assert_eq!(result.report.verdict(), Verdict::BreakerTripped);
    assert!(result.report.policies[0].breaker.as_deref().unwrap_or("").contains("max-resources 1"));
    assert!(result.report.api_calls.keys().all(|op| !op.contains("AddTags") && !op.contains("Delete")), "{:?}", result.report.api_calls);
}

#[tokio::test]
async fn an_endpoint_that_is_used_again_is_unmarked_and_kept() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "revived", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    let state = tempfile::tempdir().expect("temp dir");
    let policies = policies(IDLE_ENDPOINTS);
    let now = Utc::now();
    sweep_at(&moto, state.path(), &policies, false, now).await;
    let journal_path = state.path().join("state/journal.sqlite");
    assert_eq!(Journal::open(&journal_path).expect("journal").marks().all().expect("marks").len(), 1);

    put_invocations(&moto, "revived", "AllTraffic", 7.0, 1).await;
    let later = sweep_at(&moto, state.path(), &policies, false, now + Duration::days(8)).await;
    assert!(later.report.findings.is_empty());
    assert_eq!(endpoint_names(&moto).await, ["revived"]);
    assert!(Journal::open(&journal_path).expect("journal").marks().all().expect("marks").is_empty());
    let sm = moto.sagemaker().await;
    let tags = sm.list_tags().resource_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/revived").send().await.expect("tags");
    assert!(tags.tags().iter().all(|t| t.key() != Some("costguard:marked-for")), "the mark tag is removed");
}

#[tokio::test]
async fn a_crash_between_journal_and_action_is_settled_without_acting_twice_and_a_corrupt_row_is_quarantined() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "deleted-before-crash", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    seed_endpoint(&moto, "crashed-before-delete", &[("AllTraffic", "ml.m5.large", 1)], &[("costguard:protect", "now")], 30.0).await;
    let state = tempfile::tempdir().expect("temp dir");
    let aws = moto.aws().await;
    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    for name in ["deleted-before-crash", "crashed-before-delete"] {
        let resource = ResourceType::SagemakerEndpoint.reread(&aws, support::REGION, name, chrono::Utc::now()).await.expect("read").expect("exists");
        // Each carries its saving: it enters the ledger only if the change happened.
        let saving = PendingSaving { account_id: "123456789012".into(), action: "delete".into(), monthly_usd: 83.95 };
        let intent = Intent { run_id: "crashed-run", policy: "idle-endpoints", action: "delete", resource: &resource, saving: Some(&saving), undoes: None };
        journal.actions().record_intent(&intent, Utc::now()).expect("intent");
    }
    // The crash came after AWS took the first deletion.
    moto.sagemaker().await.delete_endpoint().endpoint_name("deleted-before-crash").send().await.expect("delete");
    drop(journal);
    // A third row, damaged on disk (a hand edit, a bad sector): it must not
    // turn off the recovery of the other two.
    let db = rusqlite::Connection::open(state.path().join("state/journal.sqlite")).expect("open");
    db.execute(
        "INSERT INTO actions (run_id, policy, action, resource_type, region, resource_id, resource, state, started_at)
         VALUES ('crashed-run', 'idle-endpoints', 'delete', 'sagemaker-endpoint', 'us-east-1', 'damaged', '{\"trunc', 'intent', '2026-11-30T00:00:00Z')",
        [],
    )
    .expect("insert");
    drop(db);

    let result = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), false, Utc::now()).await;
    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    assert!(journal.actions().unsettled(Utc::now()).expect("read").0.is_empty());
    assert_eq!(journal.actions().count(ActionState::Quarantined).expect("count"), 1);
    assert!(result.report.errors.iter().any(|e| e.message.contains("cannot be read") && e.message.contains("quarantined")), "{:?}", result.report.errors);
    assert_eq!(result.report.verdict(), Verdict::Errors, "a quarantined row is for a person to look at (exit 3)");
    assert!(journal.actions().last_done(ResourceType::SagemakerEndpoint, "deleted-before-crash", &["delete"]).expect("read").is_some(), "kept for restore");
    assert_eq!(journal.actions().count(ActionState::Abandoned).expect("count"), 1);
    assert_eq!(endpoint_names(&moto).await, ["crashed-before-delete"], "the protected endpoint was not deleted by recovery");
    let ledger = journal.savings().rows(None).expect("ledger");
    let saved: Vec<(&str, f64)> = ledger.iter().map(|r| (r.saving.resource_id.as_str(), r.saving.monthly_usd)).collect();
    assert_eq!(saved, [("deleted-before-crash", 83.95)], "the change the crash interrupted is counted once; the one that never happened is not");
    // Settled again (a second recovery, a retry): still once.
    let done = journal.actions().last_done(ResourceType::SagemakerEndpoint, "deleted-before-crash", &["delete"]).expect("read").expect("done");
    journal.actions().settle(done.id, ActionState::Done, "again", Utc::now()).expect("settle");
    assert_eq!(journal.savings().rows(None).expect("ledger").len(), 1);
}

#[tokio::test]
async fn a_lone_endpoint_is_described_rather_than_its_series_listed() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "lone", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), true, Utc::now()).await;
    assert_eq!(result.report.findings.len(), 1);
    // One describe is fewer calls than one ListMetrics plus the describe its idleness still needs.
    assert_eq!((calls(&result, "cloudwatch:ListMetrics"), calls(&result, "sagemaker:DescribeEndpoint")), (0, 1));
}

#[tokio::test]
async fn endpoints_sharing_a_config_described_at_once_ask_for_it_once() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "shared-00", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    let sm = moto.sagemaker().await;
    for i in 1..12 {
        let name = format!("shared-{i:02}");
        sm.create_endpoint().endpoint_name(&name).endpoint_config_name("shared-00-config").send().await.expect("create endpoint");
        moto.backdate_sagemaker("endpoint", &name, 30.0);
    }
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), true, Utc::now()).await;
    assert_eq!(result.report.findings.len(), 12);
    assert!(result.report.findings.iter().all(|f| f.monthly_cost_usd.is_some_and(|c| c > 0.0)), "each priced from the one config");
    assert_eq!(calls(&result, "sagemaker:DescribeEndpoint"), 12);
    assert_eq!(calls(&result, "sagemaker:DescribeEndpointConfig"), 1, "8 describes at a time wait for one answer");
}

#[tokio::test]
async fn metrics_are_batched_on_a_fleet() {
    let moto = support::moto().await;
    let n = 250;
    moto.command(&format!(r#"{{"op":"create_endpoints","region":"{}","prefix":"fleet-","count":{n},"busy_every":2,"days":30}}"#, support::REGION));
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &policies(IDLE_ENDPOINTS), true, Utc::now()).await;
    assert_eq!(result.report.findings.len(), n / 2, "every other endpoint is busy");
    assert_eq!(calls(&result, "sagemaker:ListEndpoints"), 3, "ceil(250/100) list calls");
    assert_eq!(calls(&result, "cloudwatch:GetMetricData"), 1, "ceil(250/500) metric calls");
    assert_eq!(calls(&result, "cloudwatch:ListMetrics"), 1, "the variants' series in bulk");
    assert_eq!(calls(&result, "sagemaker:DescribeEndpoint"), (n / 2) as u64, "a describe only for the idle ones: the busy are ruled out by their metrics");
    assert_eq!(calls(&result, "sagemaker:DescribeEndpointConfig"), 1, "one shared config, described once");
}

#[tokio::test]
async fn an_idle_notebook_is_stopped_after_its_grace_period_and_restore_starts_it() {
    let moto = support::moto().await;
    support::seed_notebook(&moto, "forgotten", 10.0).await;
    support::seed_notebook(&moto, "kept", 0.0).await;
    let sm = moto.sagemaker().await;
    let text = "policies:
  - name: notebooks
    resource: sagemaker-notebook
    filters:
      - type: value
        key: NotebookInstanceStatus
        value: InService
      - type: age
        key: LastModifiedTime
        days: 7
    actions:
      - type: mark
        days: 2
      - stop
";
    let state = tempfile::tempdir().expect("temp dir");
    let now = Utc::now();
    let first = sweep_at(&moto, state.path(), &policies(text), false, now).await;
    assert_eq!(first.report.findings.len(), 1);
    assert!((first.report.findings[0].monthly_cost_usd.unwrap_or(0.0) - 0.05 * 730.0).abs() < 1e-6);
    let status = |name: &'static str| {
        let sm = sm.clone();
        async move {
            let out = sm.describe_notebook_instance().notebook_instance_name(name).send().await.expect("describe");
            out.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default()
        }
    };
    assert_eq!(status("forgotten").await, "InService", "marked, not stopped");
    sweep_at(&moto, state.path(), &policies(text), false, now + Duration::days(3)).await;
    assert_eq!(status("forgotten").await, "Stopped");
    assert_eq!(status("kept").await, "InService");

    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::SagemakerNotebook, "forgotten", &support::wall_clock())
        .await
        .expect("restore");
    assert_eq!(status("forgotten").await, "InService");
}

#[tokio::test]
async fn an_over_provisioned_endpoint_gets_a_smaller_size_and_fewer_instances() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "oversized", &[("AllTraffic", "ml.m5.xlarge", 4)], &[], 30.0).await;
    seed_endpoint(&moto, "loaded", &[("AllTraffic", "ml.m5.xlarge", 2)], &[], 30.0).await;
    // Two weeks of one-minute samples from each instance.
    support::put_variant_load(&moto, "oversized", "AllTraffic", "CPUUtilization", 40.0, 14.0 * 1440.0 * 4.0).await;
    support::put_variant_load(&moto, "oversized", "AllTraffic", "MemoryUtilization", 30.0, 14.0 * 1440.0 * 4.0).await;
    support::put_variant_load(&moto, "loaded", "AllTraffic", "CPUUtilization", 300.0, 14.0 * 1440.0 * 2.0).await;
    // Busy, and no CPU series in two weeks: neither policy can match it.
    seed_endpoint(&moto, "unmeasured", &[("AllTraffic", "ml.m5.xlarge", 4)], &[], 30.0).await;
    put_invocations(&moto, "unmeasured", "AllTraffic", 5.0, 3).await;
    let state = tempfile::tempdir().expect("temp dir");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/sagemaker.yaml");
    let shipped = compile_text(&path, &std::fs::read_to_string(&path).expect("shipped")).expect("valid");
    let result = sweep_at(&moto, state.path(), &shipped, true, Utc::now()).await;

    let over: Vec<&Finding> = result.report.findings.iter().filter(|f| &*f.policy == "sagemaker-endpoints-over-provisioned").collect();
    assert_eq!(over.len(), 1, "only the oversized endpoint: {over:?}");
    let part = &over[0].recommendation.as_ref().expect("assessed").parts[0];
    assert_eq!(over[0].resource_id, "oversized");
    assert_eq!((part.current_type.as_str(), part.current_count), ("ml.m5.xlarge", 4));
    assert_eq!((part.recommended_type.as_deref(), part.recommended_count), (Some("ml.m5.large"), Some(2)), "{}", part.why);
    assert_eq!(part.cpu_peak_pct, Some(10.0), "40% of four cores' 400% is 10%");
    assert_eq!(part.hours_of_data, Some(336.0));
    let saving = (0.23 * 4.0 - 0.115 * 2.0) * 730.0;
    assert!((over[0].monthly_saving_usd.unwrap_or_default() - saving).abs() < 1e-6, "{:?}", over[0].monthly_saving_usd);
    // ListMetrics found no CPU for it and Invocations ruled it out as idle: never described.
    assert!(result.report.findings.iter().all(|f| f.resource_id != "unmeasured"));
    assert_eq!(calls(&result, "sagemaker:DescribeEndpoint"), 2, "the two with CPU data (both idle too)");
    assert_eq!(calls(&result, "cloudwatch:ListMetrics"), 2, "Invocations and CPUUtilization series, in bulk");
}

#[tokio::test]
async fn a_reviewed_plan_applies_only_the_changes_that_still_hold() {
    let moto = support::moto().await;
    let fleet = ["stays-idle", "gets-protected", "busy-again", "deleted-by-hand"];
    for name in fleet {
        seed_endpoint(&moto, name, &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    }
    let state = tempfile::tempdir().expect("temp dir");
    let no_grace = policies(&IDLE_ENDPOINTS.replace("      - type: mark\n        days: 7\n", ""));
    let plan_path = state.path().join("reviewed/plan.json");
    let mut options = support::sweep_options(state.path(), true);
    options.paths.save_plan = Some(plan_path.clone());
    let aws = moto.aws().await;
    sweep::run(&aws, &no_grace, &options, &Clock::fixed(Utc::now()), &Progress::hidden(), &CancellationToken::new()).await.expect("dry run");
    assert_eq!(endpoint_names(&moto).await.len(), 4, "a dry run that saves a plan changes nothing");
    let file = sweep::read_plan(&plan_path).expect("the plan reads back");
    let mut planned: Vec<&str> = file.changes.iter().map(|c| c.resource_id.as_str()).collect();
    planned.sort();
    assert_eq!(planned, ["busy-again", "deleted-by-hand", "gets-protected", "stays-idle"]);

    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_costguard")).args(["plan", "show"]).arg(&plan_path).output().expect("plan show");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(fleet.iter().all(|name| shown.contains(name)) && shown.contains("# costguard plan: 4 changes") && shown.contains("$83.95"), "{shown}");

    // The fleet changes between review and apply.
    let sm = moto.sagemaker().await;
    let arn = sm.describe_endpoint().endpoint_name("gets-protected").send().await.expect("describe").endpoint_arn.expect("an ARN");
    let tag = aws_sdk_sagemaker::types::Tag::builder().key("costguard:protect").value("yes").build();
    sm.add_tags().resource_arn(arn).tags(tag).send().await.expect("protect");
    put_invocations(&moto, "busy-again", "AllTraffic", 17.0, 1).await;
    sm.delete_endpoint().endpoint_name("deleted-by-hand").send().await.expect("delete by hand");

    let real = support::sweep_options(state.path(), false);
    let applied = apply_at(&moto, &no_grace, &plan_path, &real, Utc::now()).await.expect("the plan applies");
    let outcome = |id: &str| finding(&applied, id).map(|f| (format!("{:?}", f.status), f.detail.clone().unwrap_or_default())).unwrap_or_default();
    assert_eq!(outcome("stays-idle").0, "Done", "{:?}", outcome("stays-idle"));
    let (status, why) = outcome("gets-protected");
    assert!(status == "Skipped" && why.contains("became protected"), "{status}: {why}");
    let (status, why) = outcome("busy-again");
    assert!(status == "Skipped" && why.contains("no longer matches") && why.contains("Invocations"), "{status}: {why}");
    let (status, why) = outcome("deleted-by-hand");
    assert!(status == "Skipped" && why.contains("no longer exists"), "{status}: {why}");
    assert_eq!(endpoint_names(&moto).await, ["busy-again", "gets-protected"]);
    let saved = applied.report.saved.as_ref().expect("the ledger is in the report");
    assert!((saved.monthly_usd - 0.115 * 730.0).abs() < 1e-6 && saved.changes == 1, "{saved:?}");

    // Applying it again changes nothing; a changed policy refuses it whole.
    let again = apply_at(&moto, &no_grace, &plan_path, &real, Utc::now()).await.expect("applies again");
    assert_eq!(again.report.totals.done, 0);
    let stricter = policies(
        &IDLE_ENDPOINTS.replace("      - type: mark\n        days: 7\n", "").replace("days: 14\n      - type: metrics", "days: 30\n      - type: metrics"),
    );
    let refused = apply_at(&moto, &stricter, &plan_path, &real, Utc::now()).await;
    assert!(matches!(&refused, Err(sweep::SweepError::PlanRefused(why)) if why.contains("changed since the plan")), "{refused:?}");
    let late = apply_at(&moto, &no_grace, &plan_path, &real, Utc::now() + Duration::hours(25)).await;
    assert!(matches!(&late, Err(sweep::SweepError::PlanRefused(why)) if why.contains("older than --max-age")), "{late:?}");
    assert_eq!(endpoint_names(&moto).await, ["busy-again", "gets-protected"]);
}

#[tokio::test]
async fn a_restore_that_fails_part_way_stays_open_and_the_next_sweep_finishes_it() {
    let moto = support::moto().await;
    seed_endpoint(&moto, "idle", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    let state = tempfile::tempdir().expect("temp dir");
    let deleted = sweep_at(&moto, state.path(), &policies(&support::idle_endpoints_at_once()), false, Utc::now()).await;
    assert_eq!(deleted.report.totals.done, 1, "{:?}", deleted.report.findings);
    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    assert_eq!(journal.savings().rows(None).expect("ledger")[0].state, costguard::engine::ledger::SavingState::Saved);

    // AWS stops answering in the middle of the restore: it may have done a
    // first step, so it stays open (`incomplete`), the saving still counts.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let unreachable = costguard::aws::sdk_loader()
        .region(aws_config::Region::new(support::REGION))
        .endpoint_url(format!("http://{gone}"))
        .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    let aws = costguard::aws::Aws::from_config(unreachable, costguard::aws::ApiCallCounter::new());
    let failed = costguard::engine::restore::restore(&aws, &journal, ResourceType::SagemakerEndpoint, "idle", &Clock::fixed(Utc::now())).await;
    assert!(failed.is_err());
    assert_eq!(journal.actions().count(ActionState::Incomplete).expect("count"), 1, "journaled as incomplete, not only printed");
    assert_eq!(journal.savings().rows(None).expect("ledger")[0].state, costguard::engine::ledger::SavingState::Saved);
    drop(journal);

    // The next real sweep finishes it (its policies need not name endpoints).
    let next = sweep_at(&moto, state.path(), &policies(support::NEVER_EXPIRE), false, Utc::now()).await;
    assert!(next.report.errors.is_empty(), "{:?}", next.report.errors);
    assert_eq!(endpoint_names(&moto).await, ["idle"], "re-created by the next run");
    let journal = Journal::open(&state.path().join("state/journal.sqlite")).expect("journal");
    assert!(journal.actions().unsettled(Utc::now()).expect("read").0.is_empty());
    assert_eq!(
        journal.savings().rows(None).expect("ledger")[0].state,
        costguard::engine::ledger::SavingState::Restored,
        "the saving is taken back once restored"
    );
}
