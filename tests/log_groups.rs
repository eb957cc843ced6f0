//! Log-group retention end to end against the moto server.

mod support;

use std::path::Path;

use chrono::{Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::engine::apply::Status;
use costguard::progress::Progress;
use costguard::report::Verdict;
use costguard::sweep::{self, SweepResult};
use support::{moto, retention_by_group, seed_log_groups, Moto};
use tokio_util::sync::CancellationToken;

use support::NEVER_EXPIRE;

fn policies(text: &str) -> Vec<Policy> {
    compile_text(Path::new("test.yaml"), text).expect("valid test policy")
}

async fn sweep_at(moto: &Moto, policies: &[Policy], dry_run: bool, now: chrono::DateTime<Utc>) -> SweepResult {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(dir.path(), dry_run);
    let aws = moto.aws().await;
    let result = sweep::run(&aws, policies, &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs");
    assert!(result.report_json.exists() && result.report_md.exists());
    // The report on disk is the report returned.
    let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(&result.report_json).expect("read report")).expect("report.json is JSON");
    assert_eq!(on_disk["run_id"], result.report.run_id.as_str());
    assert_eq!(on_disk["findings"].as_array().map(Vec::len), Some(result.report.findings.len()));
    result
}

async fn sweep(moto: &Moto, policies: &[Policy], dry_run: bool) -> SweepResult {
    sweep_at(moto, policies, dry_run, Utc::now()).await
}

fn matched_ids(result: &SweepResult) -> Vec<&str> {
    result.report.findings.iter().map(|f| f.resource_id.as_str()).collect()
}

async fn standard_fleet(moto: &Moto) {
    seed_log_groups(
        moto,
        &[
            ("/aws/lambda/forever", None, &[("team", "ml")]),
            ("/aws/sagemaker/Endpoints/forever", None, &[]),
            ("/app/has-a-week", Some(7), &[]),
            ("/app/protected-forever", None, &[("costguard:protect", "audit")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let moto = moto().await;
    standard_fleet(&moto).await;
    let before = retention_by_group(&moto).await;

    let result = sweep(&moto, &policies(NEVER_EXPIRE), true).await;

    assert_eq!(retention_by_group(&moto).await, before);
    assert!(result.report.dry_run);
    assert_eq!(matched_ids(&result), ["/app/protected-forever", "/aws/lambda/forever", "/aws/sagemaker/Endpoints/forever"]);
    let statuses: Vec<Status> = result.report.findings.iter().map(|f| f.status).collect();
    assert_eq!(statuses, [Status::Skipped, Status::Planned, Status::Planned]);
    let reads = ["sts:GetCallerIdentity", "logs:DescribeLogGroups", "tag:GetResources"];
    assert!(result.report.api_calls.keys().all(|op| reads.contains(&op.as_str())), "{:?}", result.report.api_calls);
}

#[tokio::test]
async fn real_run_sets_retention_on_exactly_the_matching_groups() {
    let moto = moto().await;
    standard_fleet(&moto).await;

    let result = sweep(&moto, &policies(NEVER_EXPIRE), false).await;

    let after = retention_by_group(&moto).await;
    assert_eq!(after["/aws/lambda/forever"], Some(30));
    assert_eq!(after["/aws/sagemaker/Endpoints/forever"], Some(30));
    assert_eq!(after["/app/has-a-week"], Some(7), "a group with retention is not a match");
    assert_eq!(after["/app/protected-forever"], None, "a protected group is never changed");
    assert_eq!(result.report.totals.done, 2);
    assert_eq!(result.report.api_calls.get("logs:PutRetentionPolicy"), Some(&2));
    assert_eq!(result.report.verdict(), Verdict::Clean);
    let protected = result.report.findings.iter().find(|f| f.resource_id == "/app/protected-forever").expect("reported");
    assert_eq!(protected.status, Status::Skipped);
    assert!(protected.detail.as_deref().unwrap_or("").contains("costguard:protect"));
}

#[tokio::test]
async fn second_reconcile_is_a_no_op() {
    let moto = moto().await;
    standard_fleet(&moto).await;
    let policies = policies(NEVER_EXPIRE);
    sweep(&moto, &policies, false).await;
    let after_first = retention_by_group(&moto).await;

    let second = sweep(&moto, &policies, false).await;

    assert_eq!(retention_by_group(&moto).await, after_first);
    assert_eq!(second.report.totals.done, 0);
    assert_eq!(second.report.api_calls.get("logs:PutRetentionPolicy"), None);
    // Only the protected group still matches, and it is still skipped.
    assert_eq!(matched_ids(&second), ["/app/protected-forever"]);
}

#[tokio::test]
async fn listing_paginates_with_one_call_per_fifty_groups() {
    let moto = moto().await;
    let names: Vec<String> = (0..120).map(|i| format!("/fleet/group-{i:03}")).collect();
    let groups: Vec<support::SeedGroup> = names.iter().map(|n| (n.as_str(), None, &[][..])).collect();
    seed_log_groups(&moto, &groups).await;

    let report_only = "policies:\n  - name: all-groups\n    resource: log-group\n";
    let result = sweep(&moto, &policies(report_only), true).await;

    assert_eq!(result.report.findings.len(), 120);
    assert_eq!(result.report.api_calls.get("logs:DescribeLogGroups"), Some(&3), "ceil(120 / 50) pages");
    assert_eq!(result.report.api_calls.get("tag:GetResources"), None, "no policy needs tags");
    assert_eq!(result.report.totals.api_calls, 4, "three DescribeLogGroups and the access check (GetCallerIdentity)");
}

#[tokio::test]
async fn age_filter_matches_only_old_groups() {
    let moto = moto().await;
    seed_log_groups(&moto, &[("/old", None, &[]), ("/new", None, &[])]).await;
    moto.backdate("logs", "/old", 40.0);

    let text = format!("{NEVER_EXPIRE}    filters:\n      - type: age\n        days: 30\n")
        .replace("    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n", "");
    let result = sweep(&moto, &policies(&text), false).await;

    assert_eq!(matched_ids(&result), ["/old"]);
    let after = retention_by_group(&moto).await;
    assert_eq!((after["/old"], after["/new"]), (Some(30), None));
}

#[tokio::test]
async fn clock_seam_ages_every_group() {
    let moto = moto().await;
    seed_log_groups(&moto, &[("/a", None, &[]), ("/b", None, &[])]).await;
    let text = "policies:\n  - name: old\n    resource: log-group\n    filters:\n      - type: age\n        days: 30\n";
    assert!(sweep(&moto, &policies(text), true).await.report.findings.is_empty());
    let later = sweep_at(&moto, &policies(text), true, Utc::now() + Duration::days(31)).await;
    assert_eq!(matched_ids(&later), ["/a", "/b"]);
}

#[tokio::test]
async fn breaker_stops_a_policy_that_matches_too_much() {
    let moto = moto().await;
    standard_fleet(&moto).await;
    let before = retention_by_group(&moto).await;

    let text = format!("{NEVER_EXPIRE}    max-resources: 1\n");
    let result = sweep(&moto, &policies(&text), false).await;

    assert_eq!(retention_by_group(&moto).await, before, "a tripped breaker applies nothing");
    assert_eq!(result.report.verdict(), Verdict::BreakerTripped);
    assert!(result.report.policies[0].breaker.as_deref().unwrap_or("").contains("max-resources 1"));
    assert_eq!(result.report.api_calls.get("logs:PutRetentionPolicy"), None);
}

#[tokio::test]
async fn tag_filters_read_tags_in_bulk() {
    let moto = moto().await;
    standard_fleet(&moto).await;
    let text = "policies:\n  - name: ml\n    resource: log-group\n    filters:\n      - type: tag\n        key: team\n        value: ml\n";
    let result = sweep(&moto, &policies(text), true).await;
    assert_eq!(matched_ids(&result), ["/aws/lambda/forever"]);
    assert_eq!(result.report.api_calls.get("tag:GetResources"), Some(&1));
}

#[tokio::test]
async fn unreachable_aws_stops_the_sweep_before_anything_with_one_line() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let config = costguard::aws::sdk_loader()
        .region(aws_config::Region::new(support::REGION))
        .endpoint_url(&dead)
        .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new("t", "t", None, None, "t"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let aws = costguard::aws::Aws::from_config(config, costguard::aws::ApiCallCounter::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(dir.path(), false);
    let error = sweep::run(&aws, &policies(NEVER_EXPIRE), &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new())
        .await
        .expect_err("nothing to sweep without AWS");
    let text = error.to_string();
    assert!(text.starts_with(&format!("cannot reach {dead}")) && text.ends_with("nothing was listed or changed"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(!dir.path().join("report").exists() && !dir.path().join("state/journal.sqlite").exists(), "nothing written");
}

#[tokio::test]
async fn a_listing_that_fails_is_an_error_in_the_report_and_the_policy_incomplete() {
    // The access check passes; DescribeLogGroups answers 503 every time.
    let fake = support::fake_aws::FakeAws::new();
    fake.on("DescribeLogGroups", |_| support::fake_aws::Answer::Error(503, "ServiceUnavailableException", "try later"));
    let aws = costguard::aws::Aws::from_config(fake.sdk_config(false).await, costguard::aws::ApiCallCounter::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(dir.path(), false);
    let result = sweep::run(&aws, &policies(NEVER_EXPIRE), &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new())
        .await
        .expect("the sweep completes and reports");
    assert_eq!(result.report.verdict(), Verdict::Errors);
    assert_eq!(result.report.errors.len(), 1);
    assert!(result.report.errors[0].message.starts_with("logs DescribeLogGroups failed: ServiceUnavailableException: try later"), "{:?}", result.report.errors);
    assert_eq!(result.report.policies[0].incomplete_regions, [support::REGION]);
}

/// Plans from a listing, then protects a group in AWS, then applies: the
/// re-read before each change (a mark too) sees the tag.
async fn plan_then_protect_then_apply(moto: &Moto, policy_text: &str) -> (Vec<costguard::engine::apply::Outcome>, std::collections::BTreeMap<String, String>) {
    use costguard::engine::{apply, inventory, journal::Journal, plan};
    seed_log_groups(moto, &[("/app/forever", None, &[])]).await;
    let aws = moto.aws().await;
    let policies = policies(policy_text);
    let now = Utc::now();
    let prices = costguard::pricing::PriceBook::builtin();
    let (progress, cancel) = (Progress::hidden(), CancellationToken::new());
    let regions = [support::REGION.to_string()];
    let listed = inventory::collect(
        &aws,
        &policies,
        &regions,
        &inventory::CollectContext { now, price_serving: false, prices: &prices, progress: &progress, cancel: &cancel },
    )
    .await;
    let settings = plan::PlanSettings::default();
    let planned = plan::plan(&policies, &listed, &plan::Memory::default(), now, &settings);
    // Between plan and apply, someone protects the group.
    let logs = moto.logs().await;
    let arn = listed.of(costguard::resources::ResourceType::LogGroup)[0].arn.clone();
    logs.tag_resource().resource_arn(arn.trim_end_matches(":*")).tags("costguard:protect", "hands off").send().await.expect("tag");
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = Journal::open(&dir.path().join("journal.sqlite")).expect("journal");
    journal.begin_run("run", now, false).expect("run");
    let clock = Clock::fixed(now);
    let ctx = apply::ApplyContext {
        aws: &aws,
        journal: &journal,
        policies: &policies,
        settings: &settings,
        run_id: "run",
        account_id: "123456789012",
        cancel: &cancel,
        clock: &clock,
        fresh_sizes: None,
    };
    let outcomes = apply::apply(&planned, &ctx).await.in_order();
    let tags = logs.list_tags_for_resource().resource_arn(arn.trim_end_matches(":*")).send().await.expect("tags").tags().cloned().unwrap_or_default();
    (outcomes, tags.into_iter().collect())
}

#[tokio::test]
async fn a_group_protected_between_plan_and_apply_is_neither_marked_nor_changed() {
    let moto = moto().await;
    let marking = "policies:\n  - name: p\n    resource: log-group\n    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n    actions:\n      - type: mark\n        days: 3\n      - type: set-retention\n        days: 30\n";
    let (outcomes, tags) = plan_then_protect_then_apply(&moto, marking).await;
    assert_eq!(outcomes[0].status, Status::Skipped, "{outcomes:?}");
    assert!(outcomes[0].detail.as_deref().unwrap_or("").starts_with("became protected"), "{outcomes:?}");
    assert!(!tags.contains_key("costguard:marked-for"), "not marked: {tags:?}");
    drop(moto);

    let moto = support::moto().await;
    let changing = "policies:\n  - name: p\n    resource: log-group\n    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n    actions:\n      - type: set-retention\n        days: 30\n";
    let (outcomes, _) = plan_then_protect_then_apply(&moto, changing).await;
    assert_eq!(outcomes[0].status, Status::Skipped, "{outcomes:?}");
    assert_eq!(retention_by_group(&moto).await.get("/app/forever"), Some(&None), "retention unchanged");
}

#[tokio::test]
async fn a_second_sweep_of_the_same_state_folder_is_refused_or_waits_and_nothing_is_done_twice() {
    let moto = moto().await;
    standard_fleet(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let options = |report: &str, wait: u64| {
        let mut options = support::sweep_options(dir.path(), false);
        options.paths.report_dir = dir.path().join(report);
        options.limits.wait_lock = std::time::Duration::from_secs(wait);
        options
    };
    let policies = policies(NEVER_EXPIRE);
    let run = |options: costguard::sweep::SweepOptions| {
        let (moto, policies) = (&moto, &policies);
        async move {
            let aws = moto.aws().await;
            sweep::run(&aws, policies, &options, &Clock::fixed(Utc::now()), &Progress::hidden(), &CancellationToken::new()).await
        }
    };

    // A sweep in progress (another process, the daemon) holds the folder.
    let held = costguard::state_lock::StateLock::acquire(&dir.path().join("state"), "pid 7, sweep", std::time::Duration::ZERO, &CancellationToken::new())
        .await
        .expect("free");
    let refused = run(options("refused", 0)).await;
    let message = refused.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(refused, Err(sweep::SweepError::Locked(_))), "{message}");
    assert!(message.contains("pid 7, sweep") && message.contains("nothing was listed or changed"), "{message}");
    assert_eq!(retention_by_group(&moto).await.values().filter(|r| r.is_none()).count(), 3, "the refused sweep changed nothing");
    drop(held);

    // Two started together: the second waits for the first, then finds
    // nothing left to do. Three groups, three changes, not six.
    let (a, b) = tokio::join!(run(options("a", 60)), run(options("b", 60)));
    let (a, b) = (a.expect("first sweep"), b.expect("second sweep"));
    let puts = |r: &SweepResult| r.report.api_calls.get("logs:PutRetentionPolicy").copied().unwrap_or(0);
    assert_eq!(puts(&a) + puts(&b), 2, "each never-expiring unprotected group changed once");
    assert_eq!(a.report.totals.done + b.report.totals.done, 2);
    assert_eq!(retention_by_group(&moto).await.values().filter(|r| r.is_none()).count(), 1, "only the protected group never expires");
}

#[tokio::test]
async fn a_report_that_cannot_be_written_after_changes_lists_them_and_exits_3() {
    let moto = moto().await;
    standard_fleet(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where the report folder should be: every write fails.
    let blocked = dir.path().join("report");
    std::fs::write(&blocked, "not a folder").expect("write");
    let aws = moto.aws().await;
    let run = |dry_run: bool| {
        let options = support::sweep_options(dir.path(), dry_run);
        let aws = &aws;
        async move { sweep::run(aws, &policies(NEVER_EXPIRE), &options, &Clock::fixed(Utc::now()), &Progress::hidden(), &CancellationToken::new()).await }
    };

    let dry = run(true).await.expect_err("the report cannot be written");
    assert_eq!(dry.exit_code(), 1, "a dry run changed nothing: {dry}");

    let real = run(false).await.expect_err("the report cannot be written");
    assert_eq!(real.exit_code(), 3, "AWS was changed: {real}");
    let message = real.to_string();
    assert!(message.contains("/aws/lambda/forever") && message.contains("/aws/sagemaker/Endpoints/forever"), "the changes are listed: {message}");
    assert!(!message.contains("/app/protected-forever"), "{message}");
}
