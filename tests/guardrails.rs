//! Budgets declared in `guardrails:` and reconciled. Creation, dry runs and
//! foreign budgets run against the moto server. moto has no UpdateBudget
//! and no subscriber calls (DescribeSubscribersForNotification,
//! CreateSubscriber, DeleteSubscriber), so the second-run and update paths
//! run the real Budgets client against a fake endpoint (`support::fake_aws`).

mod support;

use std::path::Path;

use aws_sdk_budgets::types::{Budget, BudgetType, Spend, TimeUnit};
use aws_sdk_budgets::Client;
use costguard::clock::Clock;
use costguard::config::{compile_guardrails_text, Guardrails};
use costguard::engine::apply::Status;
use costguard::guardrails::billing_alarms;
use costguard::guardrails::Change;
use costguard::guardrails::{self, GuardrailPlan, Planned};
use costguard::progress::Progress;
use costguard::sweep;
use serde_json::json;
use support::fake_aws::FakeAws;
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "123456789012";

fn shipped() -> Guardrails {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/guardrails.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped guardrails");
    compile_guardrails_text(&path, &text).expect("valid").expect("declared")
}

fn spend(amount: &str) -> Spend {
    Spend::builder().amount(amount).unit("USD").build().expect("spend")
}

fn budget(name: &str, amount: &str) -> Budget {
    Budget::builder().budget_name(name).budget_limit(spend(amount)).time_unit(TimeUnit::Monthly).budget_type(BudgetType::Cost).build().expect("budget")
}

async fn moto_budgets(moto: &support::Moto) -> Client {
    Client::new(&moto.sdk_config().await)
}

#[tokio::test]
async fn first_reconcile_creates_the_four_budgets_and_leaves_a_foreign_one_alone() {
    let moto = support::moto().await;
    let budgets = moto_budgets(&moto).await;
    budgets.create_budget().account_id(ACCOUNT).budget(budget("team-data-budget", "300")).send().await.expect("foreign budget");
    let state = tempfile::tempdir().expect("temp dir");
    let aws = moto.aws().await;

    // A dry run shows the creations and changes nothing.
    let mut options = support::sweep_options(state.path(), true);
    let mut declared = shipped();
    // Tested below: moto has no GetCostForecast and no Cost Anomaly Detection.
    declared.spend = None;
    declared.anomaly_detection = None;
    options.features.guardrails = Some(declared);
    let dry = sweep::run(&aws, &[], &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    assert_eq!(
        dry.report.guardrails.iter().filter(|g| g.kind == "budget").map(|g| (g.name.as_str(), g.change)).collect::<Vec<_>>(),
        [
            ("costguard-monthly-500", Change::Create),
            ("costguard-monthly-1000", Change::Create),
            ("costguard-monthly-2500", Change::Create),
            ("costguard-monthly-5000", Change::Create),
        ]
    );
    assert!(dry.report.guardrails.iter().all(|g| g.status == Status::Planned));
    let listed = budgets.describe_budgets().account_id(ACCOUNT).send().await.expect("list");
    assert_eq!(listed.budgets().len(), 1, "a dry run creates nothing");

    options.dry_run = false;
    let aws = moto.aws().await; // a fresh call counter
    let real = sweep::run(&aws, &[], &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    assert!(real.report.guardrails.iter().all(|g| g.status == Status::Done), "{:?}", real.report.guardrails);
    assert!(real.report.errors.is_empty(), "{:?}", real.report.errors);
    assert_eq!(real.report.api_calls.get("budgets:CreateBudget"), Some(&4));
    assert_eq!(real.report.api_calls.get("budgets:DescribeBudgets"), Some(&1));
    assert_eq!(real.report.api_calls.get("budgets:UpdateBudget"), None);

    let listed = budgets.describe_budgets().account_id(ACCOUNT).send().await.expect("list");
    let mut found: Vec<(String, String)> =
        listed.budgets().iter().map(|b| (b.budget_name().to_string(), b.budget_limit().map(|s| s.amount().to_string()).unwrap_or_default())).collect();
    found.sort();
    let amounts: Vec<(String, f64)> = found.iter().map(|(n, a)| (n.clone(), a.parse().unwrap_or(-1.0))).collect();
    assert_eq!(
        amounts,
        [
            ("costguard-monthly-1000".to_string(), 1000.0),
            ("costguard-monthly-2500".to_string(), 2500.0),
            ("costguard-monthly-500".to_string(), 500.0),
            ("costguard-monthly-5000".to_string(), 5000.0),
            ("team-data-budget".to_string(), 300.0),
        ]
    );
    for name in ["costguard-monthly-500", "costguard-monthly-5000"] {
        let n = budgets.describe_notifications_for_budget().account_id(ACCOUNT).budget_name(name).send().await.expect("notifications");
        let mut kinds: Vec<(String, f64, String)> = n
            .notifications()
            .iter()
            .map(|n| (n.notification_type().as_str().to_string(), n.threshold(), n.comparison_operator().as_str().to_string()))
            .collect();
        kinds.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(kinds, [("ACTUAL".to_string(), 100.0, "GREATER_THAN".to_string()), ("FORECASTED".to_string(), 100.0, "GREATER_THAN".to_string())]);
    }
    let md = std::fs::read_to_string(state.path().join("report/report.md")).expect("report.md");
    assert!(md.contains("## Guardrails") && md.contains("costguard-monthly-2500") && !md.contains("team-data-budget"));
}

/// What AWS would answer after the first reconcile: the four budgets, each
/// with the declared alerts and subscriber, and a foreign budget.
fn account_as_declared(amount_500: &str, subscriber: &str) -> FakeAws {
    let fake = FakeAws::new();
    let budget =
        |name: &str, amount: &str| json!({"BudgetName": name, "BudgetLimit": {"Amount": amount, "Unit": "USD"}, "TimeUnit": "MONTHLY", "BudgetType": "COST"});
    let alert = |kind: &str| json!({"NotificationType": kind, "ComparisonOperator": "GREATER_THAN", "Threshold": 100.0, "ThresholdType": "PERCENTAGE"});
    fake.answer(
        "DescribeBudgets",
        json!({"Budgets": [
            budget("costguard-monthly-500", amount_500),
            budget("costguard-monthly-1000", "1000.0"),
            budget("costguard-monthly-2500", "2500.0"),
            budget("costguard-monthly-5000", "5000.0"),
            budget("team-data-budget", "300.0"),
        ]}),
    )
    .answer("DescribeNotificationsForBudget", json!({"Notifications": [alert("ACTUAL"), alert("FORECASTED")]}))
    .answer("DescribeSubscribersForNotification", json!({"Subscribers": [{"SubscriptionType": "EMAIL", "Address": subscriber}]}));
    for change in ["CreateBudget", "UpdateBudget", "CreateSubscriber", "DeleteSubscriber"] {
        fake.answer(change, json!({}));
    }
    fake
}

/// Plans `items` as a real (not dry) run applies them: every change made,
/// and each journaled and settled as the report says.
async fn apply(aws: &costguard::aws::Aws, items: Vec<Planned>) -> Vec<costguard::guardrails::GuardrailChange> {
    use costguard::engine::actions::ActionState;
    use costguard::engine::journal::Journal;
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = Journal::open(&dir.path().join("journal.sqlite")).expect("journal");
    let clock = support::wall_clock();
    let ctx = guardrails::JournalContext { journal: &journal, run_id: "test-run", clock: &clock };
    let (changes, errors) = guardrails::apply(aws, GuardrailPlan { items, errors: Vec::new() }, &ctx).await;
    assert!(errors.is_empty(), "{errors:?}");
    let count = |status| changes.iter().filter(|c| c.status == status).count() as u64;
    assert_eq!(
        costguard::guardrails::changes::Changes(journal.db()).count(ActionState::Done).expect("count"),
        count(costguard::outcome::Status::Done),
        "every change made is journaled"
    );
    assert_eq!(costguard::guardrails::changes::Changes(journal.db()).count(ActionState::Failed).expect("count"), count(costguard::outcome::Status::Failed));
    assert_eq!(costguard::guardrails::changes::Changes(journal.db()).count(ActionState::Intent).expect("count"), 0, "each settled");
    changes
}

async fn fake_aws(fake: &FakeAws) -> costguard::aws::Aws {
    costguard::aws::Aws::from_config(fake.sdk_config(false).await, costguard::aws::ApiCallCounter::new())
}

async fn reconcile_budgets(fake: &FakeAws) -> Vec<costguard::guardrails::GuardrailChange> {
    let aws = fake_aws(fake).await;
    let planned = guardrails::budgets::plan(&aws, &shipped()).await.expect("planned");
    apply(&aws, planned).await
}

#[tokio::test]
async fn second_reconcile_is_a_no_op() {
    let fake = account_as_declared("500.0", "finops@example.com");
    let changes = reconcile_budgets(&fake).await;
    assert_eq!(changes.len(), 4, "the foreign budget is not reported: {changes:?}");
    assert!(changes.iter().all(|c| c.change == Change::Unchanged && c.differences.is_empty()), "{changes:?}");
    assert_eq!((fake.calls("CreateBudget").len(), fake.calls("UpdateBudget").len()), (0, 0));
    assert_eq!(fake.calls("DescribeNotificationsForBudget").len(), 4, "notifications are read only for costguard's budgets");
    assert_eq!(fake.calls("DescribeSubscribersForNotification").len(), 8);
}

#[tokio::test]
async fn a_changed_amount_and_subscriber_become_updates() {
    let fake = account_as_declared("400.0", "old@example.com");
    let changes = reconcile_budgets(&fake).await;
    let first = &changes[0];
    assert_eq!((first.name.as_str(), first.change, first.status), ("costguard-monthly-500", Change::Update, Status::Done));
    assert!(first.differences.iter().any(|d| d == "amount: 400 USD -> 500 USD"), "{:?}", first.differences);
    let updates = fake.calls("UpdateBudget");
    assert_eq!(updates.len(), 1, "only the 500 budget's amount changed");
    assert_eq!(updates[0]["NewBudget"]["BudgetName"], "costguard-monthly-500");
    assert_eq!(updates[0]["NewBudget"]["BudgetLimit"]["Amount"], "500.00");
    let (added, removed) = (fake.calls("CreateSubscriber"), fake.calls("DeleteSubscriber"));
    assert_eq!((added.len(), removed.len()), (8, 8), "two alerts on each of four budgets swap subscriber");
    assert!(added.iter().all(|c| c["Subscriber"]["Address"] == "finops@example.com"), "{added:?}");
    assert!(removed.iter().all(|c| c["Subscriber"]["Address"] == "old@example.com"), "{removed:?}");
}

#[tokio::test]
async fn billing_alarms_are_created_once_updated_on_change_and_foreign_ones_untouched() {
    let moto = support::moto().await;
    let cloudwatch = moto.cloudwatch().await;
    cloudwatch
        .put_metric_alarm()
        .alarm_name("team-cpu-high")
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("foreign alarm");
    let aws = moto.aws().await;
    let client = aws.cloudwatch(billing_alarms::BILLING_REGION);
    let declared = shipped();

    let first = apply(&aws, billing_alarms::plan(&client, &declared).await.expect("planned")).await;
    let names: Vec<&str> = first.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["costguard-billing-500usd", "costguard-billing-1000usd", "costguard-billing-2500usd", "costguard-billing-5000usd"]);
    assert!(first.iter().all(|c| c.change == Change::Create && c.status == Status::Done), "{first:?}");

    let second = apply(&aws, billing_alarms::plan(&client, &declared).await.expect("planned")).await;
    assert!(second.iter().all(|c| c.change == Change::Unchanged), "a second reconcile is a no-op: {second:?}");

    let text =
        "guardrails:\n  email: [a@example.com]\n  billing-alarms:\n    thresholds: [500, 1000]\n    sns-topic: arn:aws:sns:us-east-1:123456789012:billing\n";
    let changed = compile_guardrails_text(Path::new("g.yaml"), text).expect("valid").expect("declared");
    let third = apply(&aws, billing_alarms::plan(&client, &changed).await.expect("planned")).await;
    let summary: Vec<(&str, Change)> = third.iter().map(|c| (c.name.as_str(), c.change)).collect();
    assert_eq!(
        summary,
        [
            ("costguard-billing-500usd", Change::Update),
            ("costguard-billing-1000usd", Change::Update),
            ("costguard-billing-2500usd", Change::NotDeclared),
            ("costguard-billing-5000usd", Change::NotDeclared),
        ]
    );
    assert!(third[0].differences.iter().any(|d| d.starts_with("alarm-actions:") && d.ends_with(":billing")), "{:?}", third[0].differences);

    let alarms = cloudwatch.describe_alarms().send().await.expect("alarms");
    let all: Vec<&str> = alarms.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
    assert_eq!(all.len(), 5, "nothing deleted: {all:?}");
    let foreign = alarms.metric_alarms().iter().find(|a| a.alarm_name() == Some("team-cpu-high")).expect("kept");
    assert_eq!(foreign.threshold(), Some(90.0));
    let billing = alarms.metric_alarms().iter().find(|a| a.alarm_name() == Some("costguard-billing-500usd")).expect("ours");
    assert_eq!((billing.namespace(), billing.metric_name(), billing.period()), (Some("AWS/Billing"), Some("EstimatedCharges"), Some(21_600)));
    assert_eq!(billing.dimensions().first().and_then(|d| d.value()), Some("USD"));
}

/// Queues one GetCostAndUsage answer in moto: last month and this month,
/// by service, the way Cost Explorer groups them.
fn inject_spend(moto: &support::Moto, today: chrono::NaiveDate) {
    use chrono::Datelike;
    let this = today.with_day(1).expect("first of month");
    let last = (this - chrono::Duration::days(1)).with_day(1).expect("first of last month");
    let group = |service: &str, usd: f64| json!({"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": format!("{usd}"), "Unit": "USD"}}});
    let body = json!({"results": [{"ResultsByTime": [
        {"TimePeriod": {"Start": last.to_string(), "End": this.to_string()}, "Total": {}, "Estimated": false,
         "Groups": [group("Amazon SageMaker", 2400.0), group("AmazonCloudWatch", 900.0), group("Amazon Elastic Compute Cloud - Compute", 700.0)]},
        {"TimePeriod": {"Start": this.to_string(), "End": (today + chrono::Duration::days(1)).to_string()}, "Total": {}, "Estimated": true,
         "Groups": [group("Amazon SageMaker", 1500.0), group("AmazonCloudWatch", 450.0), group("AWS Data Transfer", 50.0)]}
    ]}]});
    let answer = support::http_post(&moto.endpoint, "/moto-api/static/ce/cost-and-usage-results", &body.to_string());
    assert!(answer.contains(" 201 "), "moto took the Cost Explorer answer: {answer}");
}

#[tokio::test]
async fn the_report_opens_with_the_spend_and_cost_explorer_answers_are_cached() {
    let moto = support::moto().await;
    // Mid-month: AWS would be asked for a forecast (moto has none).
    let now = support::at("2026-11-15T10:00:00Z");
    inject_spend(&moto, now.date_naive());
    let state = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(state.path(), false);
    let mut guardrails = shipped();
    guardrails.budgets.clear();
    guardrails.billing_alarm_thresholds.clear();
    guardrails.anomaly_detection = None;
    options.features.guardrails = Some(guardrails);

    let aws = moto.aws().await;
    let first = sweep::run(&aws, &[], &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    let spend = first.report.spend.as_ref().expect("a spend section");
    assert_eq!((spend.month_to_date_usd, spend.last_month_usd), (2000.0, 4000.0));
    assert_eq!(spend.top_services[0].service, "Amazon SageMaker");
    let watched: Vec<(&str, f64, f64)> = spend.watched.iter().map(|w| (w.service.as_str(), w.month_to_date_usd, w.last_month_usd)).collect();
    assert_eq!(watched[0], ("SageMaker", 1500.0, 2400.0));
    assert_eq!(watched[1].1, 450.0, "CloudWatch");
    assert_eq!(watched[2].1, 50.0, "data transfer");
    assert!(spend.estimated);
    assert_eq!(first.report.api_calls.get("ce:GetCostAndUsage"), Some(&1));
    assert_eq!(first.report.api_calls.get("budgets:DescribeBudgets"), None, "no budgets declared, none read");
    // moto has no GetCostForecast: the summary says so and pro-rates instead.
    assert!(spend.forecast_month_usd.is_none() && spend.notes.iter().any(|n| n.contains("no forecast")), "{:?}", spend.notes);
    let md = std::fs::read_to_string(state.path().join("report/report.md")).expect("report.md");
    let spend_at = md.find("## Spend").expect("spend section");
    assert!(spend_at < md.find("## Summary").unwrap_or(usize::MAX), "the report opens with the spend");
    assert!(md.contains("Month to date: $2,000.00; last month: $4,000.00"), "{md}");

    // Within the cache period, the next sweep pays for nothing.
    let aws = moto.aws().await;
    let second =
        sweep::run(&aws, &[], &options, &Clock::fixed(now + chrono::Duration::hours(1)), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    assert_eq!(second.report.api_calls.get("ce:GetCostAndUsage"), None, "answered from the state database");
    assert_eq!(second.report.api_calls.get("ce:GetCostForecast"), None, "its failure is remembered as long");
    assert_eq!(second.report.spend.as_ref().map(|s| s.month_to_date_usd), Some(2000.0));
    assert_eq!(second.report.spend.as_ref().map(|s| s.fetched_at), Some(spend.fetched_at));

    // After it, Cost Explorer is asked again.
    let aws = moto.aws().await;
    let third =
        sweep::run(&aws, &[], &options, &Clock::fixed(now + chrono::Duration::hours(7)), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    assert_eq!(third.report.api_calls.get("ce:GetCostAndUsage"), Some(&1));
}

#[tokio::test]
async fn on_the_last_second_of_a_month_the_spend_needs_no_forecast() {
    let moto = support::moto().await;
    let now = support::at("2026-11-30T23:59:59Z");
    inject_spend(&moto, now.date_naive());
    let state = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(state.path(), true);
    let mut guardrails = shipped();
    guardrails.budgets.clear();
    guardrails.billing_alarm_thresholds.clear();
    guardrails.anomaly_detection = None;
    options.features.guardrails = Some(guardrails);

    let result = sweep::run(&moto.aws().await, &[], &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    let spend = result.report.spend.as_ref().expect("a spend section");
    assert_eq!(spend.as_of.to_string(), "2026-11-30");
    assert_eq!(spend.forecast_month_usd, Some(2000.0), "the month to date is the month");
    assert_eq!(spend.change_basis, "month to date (the month's last day)");
    assert!(spend.notes.iter().any(|n| n == costguard::guardrails::spend::LAST_DAY_NOTE), "{:?}", spend.notes);
    assert_eq!(result.report.api_calls.get("ce:GetCostForecast"), None, "nothing left to forecast, nothing asked");
}

#[tokio::test]
async fn a_forecast_from_aws_is_used_for_the_month_over_month_change() {
    // moto has no GetCostForecast: both calls go to the fake, on the real client.
    let now = support::at("2026-11-10T12:00:00Z");
    let month = |start: &str, end: &str, sagemaker: &str| {
        json!({"TimePeriod": {"Start": start, "End": end}, "Estimated": false,
               "Groups": [{"Keys": ["Amazon SageMaker"], "Metrics": {"UnblendedCost": {"Amount": sagemaker, "Unit": "USD"}}}]})
    };
    let fake = FakeAws::new();
    fake.answer("GetCostAndUsage", json!({"ResultsByTime": [month("2026-10-01", "2026-11-01", "3000"), month("2026-11-01", "2026-11-11", "1000")]}))
        .answer("GetCostForecast", json!({"Total": {"Amount": "2300", "Unit": "USD"}}));
    let ce = costguard::aws::costexplorer::CostExplorerClient::new(aws_sdk_costexplorer::Client::new(&fake.sdk_config(false).await));
    let settings = costguard::config::guardrails::SpendSettings::default();
    let summary = costguard::guardrails::spend::fetch(&ce, None, now, &settings).await.expect("spend");
    assert_eq!(summary.forecast_month_usd, Some(3300.0), "known 1000 so far + 2300 forecast for the rest");
    assert!((summary.month_over_month_change_pct.unwrap_or_default() - 10.0).abs() < 1e-9, "{:?}", summary.month_over_month_change_pct);
    assert_eq!(summary.change_basis, "AWS's forecast for this month");
    let forecasts = fake.calls("GetCostForecast");
    assert_eq!((fake.calls("GetCostAndUsage").len(), forecasts.len()), (1, 1));
    assert_eq!(forecasts[0]["TimePeriod"], json!({"Start": "2026-11-11", "End": "2026-12-01"}), "the days still to come");
}

mod anomaly_detection {
    //! moto has no Cost Anomaly Detection: GetAnomalyMonitors,
    //! CreateAnomalyMonitor, GetAnomalySubscriptions,
    //! CreateAnomalySubscription and UpdateAnomalySubscription go to the fake.
    use super::*;
    use costguard::guardrails::anomaly;

    const DEFAULT_MONITOR: &str = "arn:aws:ce::123456789012:anomalymonitor/default";
    const OURS: &str = "arn:aws:ce::123456789012:anomalysubscription/ours";

    fn service_monitor(name: &str, arn: &str) -> serde_json::Value {
        json!({"MonitorName": name, "MonitorArn": arn, "MonitorType": "DIMENSIONAL", "MonitorDimension": "SERVICE"})
    }

    fn subscription(threshold: &str) -> serde_json::Value {
        json!({
            "SubscriptionArn": OURS, "SubscriptionName": "costguard-anomalies", "MonitorArnList": [DEFAULT_MONITOR],
            "Subscribers": [{"Address": "finops@example.com", "Type": "EMAIL"}], "Frequency": "DAILY",
            "ThresholdExpression": {"Dimensions": {"Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "Values": [threshold], "MatchOptions": ["GREATER_THAN_OR_EQUAL"]}}
        })
    }

    async fn reconcile(fake: &FakeAws) -> Vec<costguard::guardrails::GuardrailChange> {
        let aws = fake_aws(fake).await;
        let planned = anomaly::plan(&aws.cost_explorer(), &shipped()).await.expect("planned");
        apply(&aws, planned).await
    }

    #[tokio::test]
    async fn a_monitor_and_a_daily_subscription_are_created_when_missing() {
        let fake = FakeAws::new();
        fake.answer("GetAnomalyMonitors", json!({"AnomalyMonitors": []}))
            .answer("CreateAnomalyMonitor", json!({"MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/new"}))
            .answer("GetAnomalySubscriptions", json!({"AnomalySubscriptions": []}))
            .answer("CreateAnomalySubscription", json!({"SubscriptionArn": "arn:new"}));
        let changes = reconcile(&fake).await;
        assert_eq!(
            changes.iter().map(|c| (c.kind.as_str(), c.change, c.status)).collect::<Vec<_>>(),
            [("anomaly-monitor", Change::Create, Status::Done), ("anomaly-subscription", Change::Create, Status::Done),]
        );
        let monitors = fake.calls("CreateAnomalyMonitor");
        assert_eq!(monitors.len(), 1);
        assert_eq!(
            (&monitors[0]["AnomalyMonitor"]["MonitorName"], &monitors[0]["AnomalyMonitor"]["MonitorDimension"]),
            (&json!("costguard-services"), &json!("SERVICE"))
        );
        let created = fake.calls("CreateAnomalySubscription");
        assert_eq!(created.len(), 1);
        let s = &created[0]["AnomalySubscription"];
        assert_eq!(s["MonitorArnList"], json!(["arn:aws:ce::123456789012:anomalymonitor/new"]));
        assert_eq!(s["Frequency"], "DAILY");
        assert_eq!(s["Subscribers"][0]["Address"], "finops@example.com");
        assert_eq!(s["ThresholdExpression"]["Dimensions"]["Values"], json!(["100"]));
        let managed = json!([{"Key": "costguard:managed", "Value": "true"}]);
        assert_eq!((&created[0]["ResourceTags"], &monitors[0]["ResourceTags"]), (&managed, &managed), "tagged as costguard's: IAM allows the creates only so");
    }

    #[tokio::test]
    async fn the_accounts_service_monitor_is_reused_and_a_matching_subscription_left_alone() {
        let fake = FakeAws::new();
        fake.answer("GetAnomalyMonitors", json!({"AnomalyMonitors": [service_monitor("Default-Services-Monitor", DEFAULT_MONITOR)]}))
            .answer("GetAnomalySubscriptions", json!({"AnomalySubscriptions": [subscription("100")]}));
        let changes = reconcile(&fake).await;
        assert!(changes.iter().all(|c| c.change == Change::Unchanged), "{changes:?}");
        assert!(changes[0].detail.as_deref().unwrap_or("").contains("Default-Services-Monitor"));
        let changed = fake.calls("CreateAnomalyMonitor").len() + fake.calls("UpdateAnomalySubscription").len();
        assert_eq!(changed, 0, "AWS allows one service monitor; nothing to change");
    }

    #[tokio::test]
    async fn a_changed_threshold_becomes_an_update() {
        let fake = FakeAws::new();
        fake.answer("GetAnomalyMonitors", json!({"AnomalyMonitors": [service_monitor("Default-Services-Monitor", DEFAULT_MONITOR)]}))
            .answer("GetAnomalySubscriptions", json!({"AnomalySubscriptions": [subscription("50")]}))
            .answer("UpdateAnomalySubscription", json!({"SubscriptionArn": OURS}));
        let changes = reconcile(&fake).await;
        let sub = &changes[1];
        assert_eq!((sub.change, sub.status), (Change::Update, Status::Done), "{sub:?}");
        assert_eq!(sub.differences, ["threshold: 50 USD -> 100 USD"]);
        let updates = fake.calls("UpdateAnomalySubscription");
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0]["SubscriptionArn"], OURS);
        assert_eq!(updates[0]["ThresholdExpression"]["Dimensions"]["Values"], json!(["100"]));
    }
}
