//! AI spend velocity on the emulator: Bedrock token metrics put into moto
//! (`PutMetricData` into `AWS/Bedrock`, which only tests can do), read by a
//! sweep through the real SDK, priced, and alerted on to a real SMTP server
//! on loopback. Every dollar figure is computed by hand in the comments.

mod support;

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use costguard::clock::Clock;
use costguard::config::compile_guardrails_text;
use costguard::progress::Progress;
use costguard::sweep::{self, SweepResult};
use support::smtp::SmtpSink;
use support::{put_tokens, Moto};
use tokio_util::sync::CancellationToken;

/// Claude 3.5 Sonnet v2 by its model id: $0.003 in, $0.015 out per 1,000.
const SONNET: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
/// Claude 3 Haiku through the US cross-region profile: $0.00025 in, $0.00125 out.
const HAIKU_US: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";
/// A model no table knows: reported, never priced at $0.
const CUSTOM: &str = "acme.custom-model-v1:0";

const GUARDRAILS: &str = "guardrails:
  email: [finops@example.com]
  billing-alarms: {enabled: false}
  anomaly-detection: {enabled: false}
  spend: {enabled: false}
  spend-velocity:
    total: {max-usd-per-hour: 6.85}
    models:
      anthropic.claude-3-haiku-20240307-v1: {max-usd-per-day: 100}
    spike: {factor: 5, min-usd-per-hour: 1}
    email: [oncall@example.com]
";

/// The end of the last whole 5-minute period of the first sweep.
fn end() -> DateTime<Utc> {
    support::at("2026-11-20T10:00:00Z")
}

/// Sonnet: $0.45 an hour for a week (100,000 in = $0.30, 10,000 out = $0.15),
/// then ten times that in the last hour: 12 five-minute points of 75,000 in
/// ($0.225) and 10,000 out ($0.15) = $0.375 each, $4.50 in the hour.
/// Haiku (US profile): $0.50 every hour (1,000,000 in = $0.25, 200,000 out
/// = $0.25). The custom model: 10 million tokens an hour, price unknown.
async fn seed(moto: &Moto) {
    let e = end();
    let mut points = Vec::new();
    for h in 1..=23 {
        let at = e - Duration::minutes(h * 60 + 30);
        points.push((SONNET, at, 100_000.0, 10_000.0));
        points.push((HAIKU_US, at, 1_000_000.0, 200_000.0));
        points.push((CUSTOM, at, 10_000_000.0, 0.0));
    }
    for d in 1..=7 {
        // The same hour of each past day (09:00-10:00).
        let at = e - Duration::days(d) - Duration::minutes(30);
        points.push((SONNET, at, 100_000.0, 10_000.0));
        points.push((HAIKU_US, at, 1_000_000.0, 200_000.0));
    }
    for k in 0..12 {
        points.push((SONNET, e - Duration::seconds(k * 300 + 150), 75_000.0, 10_000.0));
    }
    points.push((HAIKU_US, e - Duration::minutes(30), 1_000_000.0, 200_000.0));
    points.push((CUSTOM, e - Duration::minutes(30), 10_000_000.0, 0.0));
    put_tokens(moto, &points).await;
}

fn email(sink: &SmtpSink) -> std::sync::Arc<costguard::notify::EmailSetup> {
    support::smtp::email(&support::smtp::smtp_config(sink, ""))
}

async fn sweep_at(moto: &Moto, state: &Path, sink: &SmtpSink, now: DateTime<Utc>) -> SweepResult {
    let mut options = support::sweep_options(state, true);
    options.features.guardrails = compile_guardrails_text(Path::new("guardrails.yaml"), GUARDRAILS).expect("valid guardrails");
    options.features.email = Some(email(sink));
    let aws = moto.aws().await;
    sweep::run(&aws, &[], &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

fn close(found: Option<f64>, want: f64) -> bool {
    found.is_some_and(|f| (f - want).abs() < 1e-6)
}

#[tokio::test]
async fn a_tenfold_jump_is_priced_and_alerted_in_the_first_sweep_and_nothing_else_alerts() {
    let moto = support::moto().await;
    let sink = SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    seed(&moto).await;

    let first = sweep_at(&moto, dir.path(), &sink, end() + Duration::minutes(2)).await;
    let ai = first.report.ai_spend.as_ref().expect("an ai_spend section");
    let model = |id: &str| ai.models.iter().find(|m| m.model_id == id).unwrap_or_else(|| panic!("{id} in {:?}", ai.models));
    let sonnet = model(SONNET);
    assert!(close(sonnet.usd_last_hour, 4.50), "{sonnet:?}");
    assert!(close(sonnet.usd_per_hour, 4.50), "the last 15 minutes x 4: {sonnet:?}");
    // 00:00-10:00: nine hourly $0.45 (00:30 ... 08:30) and the last hour's $4.50.
    assert!(close(sonnet.usd_today, 9.0 * 0.45 + 4.50), "{sonnet:?}");
    // The last 24 hours (23 x $0.45 + $4.50 = $14.85) x 30 days of November.
    assert!(close(sonnet.projected_month_usd, 14.85 * 30.0), "{sonnet:?}");
    assert!(close(sonnet.baseline_usd_per_hour, 0.45), "{sonnet:?}");
    assert_eq!(sonnet.input_tokens_last_hour, 900_000.0);
    assert_eq!(sonnet.alerts, ["spike"], "$4.50 >= 5 x $0.45");
    assert!(sonnet.price_basis.starts_with("built-in table"), "{}", sonnet.price_basis);

    let haiku = model(HAIKU_US);
    assert!(close(haiku.usd_last_hour, 0.50), "{haiku:?}");
    assert!(close(haiku.usd_today, 10.0 * 0.50), "{haiku:?}");
    assert!(haiku.alerts.is_empty(), "steady: {haiku:?}");
    assert!(haiku.price_basis.contains("cross-region profile `us.` priced as anthropic.claude-3-haiku-20240307-v1"), "{}", haiku.price_basis);

    let custom = model(CUSTOM);
    assert_eq!((custom.usd_last_hour, custom.usd_per_hour, custom.usd_today), (None, None, None), "unknown, never $0");
    assert!(custom.price_basis.contains("unknown price"), "{}", custom.price_basis);
    assert_eq!(custom.input_tokens_last_hour, 10_000_000.0);
    assert_eq!(ai.unpriced_models, 1);

    // In total: $5.00 in the last hour against 5 x ($0.45 + $0.50).
    assert!((ai.total.usd_last_hour - 5.00).abs() < 1e-6, "{:?}", ai.total);
    assert!((ai.total.usd_per_hour - 4.50).abs() < 1e-6, "Haiku's last point is 30 minutes old: {:?}", ai.total);
    let crossed: Vec<(&str, &str)> = ai.alerts.iter().map(|a| (a.scope.as_str(), a.rule.as_str())).collect();
    assert_eq!(crossed, [("total", "spike"), (SONNET, "spike")]);
    assert_eq!(first.report.api_calls.get("cloudwatch:ListMetrics"), Some(&2), "one per namespace: {:?}", first.report.api_calls);
    assert_eq!(first.report.api_calls.get("cloudwatch:GetMetricData"), Some(&2), "the window, then the baseline: {:?}", first.report.api_calls);

    let told = sink.messages();
    assert_eq!(told.len(), 1, "one alert message: {told:?}");
    assert_eq!(told[0].rcpt_tos, ["oncall@example.com"]);
    assert!(told[0].subject.contains("AI spend $4.50/hour now"), "{}", told[0].subject);
    let text = told[0].text.clone().unwrap_or_default();
    assert!(text.contains(&format!("OVER: {SONNET} (us-east-1): $4.50 in the last hour")), "{text}");
    assert!(!text.contains("OVER: us.anthropic"), "{text}");

    let json = std::fs::read_to_string(&first.report_json).expect("report.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    for key in ["as_of", "window_minutes", "total", "models"] {
        assert!(v["ai_spend"].get(key).is_some(), "ai_spend.{key} in {}", v["ai_spend"]);
    }
    assert_eq!(v["ai_spend"]["models"][0]["model_id"], SONNET, "most per hour first");
    assert!(v["ai_spend"]["models"].as_array().is_some_and(|m| m.iter().any(|m| m["model_id"] == CUSTOM && m["usd_today"].is_null())));

    let md = std::fs::read_to_string(&first.report_md).expect("report.md");
    let (ai_at, summary_at) = (md.find("## AI spend now"), md.find("## Summary"));
    assert!(ai_at.is_some() && ai_at < summary_at, "AI spend comes first:\n{md}");
    assert!(md.contains("**$4.50/hour now**") && md.contains("▂▂█"), "the rate and Sonnet's last hours:\n{md}");

    // A minute later, nothing new: held.
    sink.clear();
    sweep_at(&moto, dir.path(), &sink, end() + Duration::minutes(3)).await;
    assert!(sink.messages().is_empty(), "an alert already told is not repeated within repeat-hours");

    // Worse: three more $1.05 points in the last 15 minutes (250,000 in =
    // $0.75, 20,000 out = $0.30): Sonnet's hour $7.65 >= 1.5 x $4.50, and the
    // rate now (3 x ($0.375 + $1.05) x 4 = $17.10/hour) crosses the total's $6.85.
    put_tokens(&moto, &(0..3).map(|k| (SONNET, end() - Duration::seconds(k * 300 + 100), 250_000.0, 20_000.0)).collect::<Vec<_>>()).await;
    let worse = sweep_at(&moto, dir.path(), &sink, end() + Duration::minutes(4)).await;
    let total_rate = worse.report.ai_spend.as_ref().map(|a| a.total.usd_per_hour);
    assert!(close(total_rate, 17.10), "{total_rate:?}");
    let told = sink.messages();
    assert_eq!(told.len(), 1, "{told:?}");
    let text = told[0].text.clone().unwrap_or_default();
    assert!(text.contains(&format!("WORSE: {SONNET} (us-east-1): $7.65 in the last hour")) && text.contains("(was $4.50 when last told)"), "{text}");
    assert!(text.contains("OVER: all models: $17.10/hour now, limit $6.85/hour"), "{text}");

    // Three hours on, the burst has left the last hour: back under, told once.
    sink.clear();
    sweep_at(&moto, dir.path(), &sink, end() + Duration::hours(3)).await;
    let told = sink.messages();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].subject.contains("back under"), "{}", told[0].subject);
    let text = told[0].text.clone().unwrap_or_default();
    assert_eq!(text.matches("BACK UNDER").count(), 3, "the total's spike and rate, Sonnet's spike: {text}");
    sink.clear();
    sweep_at(&moto, dir.path(), &sink, end() + Duration::hours(3) + Duration::minutes(5)).await;
    assert!(sink.messages().is_empty(), "back under is told once");
}

#[tokio::test]
async fn endpoints_in_service_are_shown_beside_the_token_spend() {
    let moto = support::moto().await;
    let sink = SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    seed(&moto).await;
    support::seed_endpoint(&moto, "chat", &[("AllTraffic", "ml.m5.large", 2)], &[], 30.0).await;
    // Busy: its metrics rule it out of the idle policy before any describe,
    // and it is still described and priced for the view beside the tokens.
    support::seed_endpoint(&moto, "busy", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    // A day before the sweep's time (the helper counts back from now).
    let day_before_the_sweep = (chrono::Utc::now() - end()).num_hours() + 24;
    support::put_invocations(&moto, "busy", "AllTraffic", 9.0, day_before_the_sweep).await;
    let idle = "policies:\n  - name: idle\n    resource: sagemaker-endpoint\n    filters:\n      - {type: metrics, name: Invocations, statistic: Sum, days: 14, value: 0, missing-data: zero}\n";
    let policies = costguard::config::compile_text(Path::new("p.yaml"), idle).expect("valid");
    let mut options = support::sweep_options(dir.path(), true);
    options.features.guardrails = compile_guardrails_text(Path::new("guardrails.yaml"), GUARDRAILS).expect("valid guardrails");
    options.features.email = Some(email(&sink));
    let result =
        sweep::run(&moto.aws().await, &policies, &options, &Clock::fixed(end() + Duration::minutes(2)), &Progress::hidden(), &CancellationToken::new())
            .await
            .expect("sweep runs");
    let endpoints = result.report.ai_spend.as_ref().and_then(|a| a.sagemaker_endpoints.clone()).expect("endpoints beside the tokens");
    let cost = result.report.findings.iter().find(|f| f.resource_id == "chat").and_then(|f| f.monthly_cost_usd).expect("the endpoint is priced");
    assert_eq!(result.report.findings.len(), 1, "only chat is idle");
    assert_eq!((endpoints.endpoints, endpoints.unpriced), (2, 0));
    // Three ml.m5.large instances: chat's month over 730 hours, and half as much for busy's one.
    assert!((endpoints.usd_per_hour - 1.5 * cost / 730.0).abs() < 1e-9 && endpoints.usd_per_hour > 0.3, "{endpoints:?}");
}

#[tokio::test]
async fn the_alert_reaches_an_sns_topic_once() {
    let moto = support::moto().await;
    seed(&moto).await;
    let subscriber = support::http_sink::HttpSink::start();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = sns.create_topic().name("ai-spend").send().await.expect("create topic").topic_arn.expect("a topic ARN");
    sns.subscribe().topic_arn(&topic).protocol("http").endpoint(subscriber.url("/sns")).send().await.expect("subscribe");
    let dir = tempfile::tempdir().expect("temp dir");
    let text = GUARDRAILS.replace("    email: [oncall@example.com]\n", &format!("    email: []\n    sns-topic: '{topic}'\n"));
    let mut options = support::sweep_options(dir.path(), true);
    options.features.guardrails = compile_guardrails_text(Path::new("guardrails.yaml"), &text).expect("valid guardrails");
    let aws = moto.aws().await;
    for minutes in [2, 3] {
        let clock = Clock::fixed(end() + Duration::minutes(minutes));
        let result = sweep::run(&aws, &[], &options, &clock, &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs");
        assert!(result.report.errors.is_empty(), "{:?}", result.report.errors);
    }
    // moto's SNS posts to an http subscriber within Publish: all is here.
    let notifications: Vec<serde_json::Value> = subscriber.requests().iter().map(|r| r.json()).filter(|j| j["Type"] == "Notification").collect();
    assert_eq!(notifications.len(), 1, "told once over two sweeps: {notifications:?}");
    assert!(notifications[0]["Subject"].as_str().unwrap_or_default().starts_with("costguard: AI spend"), "{}", notifications[0]);
    assert!(notifications[0]["Message"].as_str().unwrap_or_default().contains(&format!("OVER: {SONNET}")), "{}", notifications[0]);
}

#[tokio::test]
async fn each_regions_baseline_is_read_once_whatever_order_the_models_spend_in() {
    let moto = support::moto().await;
    let e = end();
    let haiku = "anthropic.claude-3-haiku-20240307-v1:0";
    // us-east-1: Sonnet's tenfold hour ($4.50 now, $0.45 same-hour baseline)
    // and Haiku, quiet now ($0.50 forty minutes ago, $0.50 baseline).
    let mut east = Vec::new();
    for d in 1..=7 {
        east.push((SONNET, e - Duration::days(d) - Duration::minutes(30), 100_000.0, 10_000.0));
        east.push((haiku, e - Duration::days(d) - Duration::minutes(30), 1_000_000.0, 200_000.0));
    }
    for k in 0..12 {
        east.push((SONNET, e - Duration::seconds(k * 300 + 150), 75_000.0, 10_000.0));
    }
    east.push((haiku, e - Duration::minutes(40), 1_000_000.0, 200_000.0));
    support::put_tokens(&moto, &east).await;
    // us-west-2: Haiku at $3/hour now (3,000,000 input tokens = $0.75 two
    // minutes ago) with a $0.25 baseline: it ranks between the two above,
    // so the models' regions alternate east, west, east.
    let mut west: Vec<(&str, DateTime<Utc>, f64, f64)> = (1..=7).map(|d| (haiku, e - Duration::days(d) - Duration::minutes(30), 1_000_000.0, 0.0)).collect();
    west.push((haiku, e - Duration::minutes(2), 3_000_000.0, 0.0));
    support::put_tokens_in(&moto, "us-west-2", &west).await;

    let sink = SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(dir.path(), true);
    options.scope.regions = vec![support::REGION.to_string(), "us-west-2".to_string()];
    options.features.guardrails = compile_guardrails_text(Path::new("guardrails.yaml"), GUARDRAILS).expect("valid guardrails");
    options.features.email = Some(email(&sink));
    let result = sweep::run(&moto.aws().await, &[], &options, &Clock::fixed(e + Duration::minutes(2)), &Progress::hidden(), &CancellationToken::new())
        .await
        .expect("sweep runs");
    let ai = result.report.ai_spend.as_ref().expect("ai_spend");
    let order: Vec<(&str, &str)> = ai.models.iter().map(|m| (m.model_id.as_str(), m.region.as_str())).collect();
    assert_eq!(order, [(SONNET, "us-east-1"), (haiku, "us-west-2"), (haiku, "us-east-1")], "regions alternate");
    let baseline = |id: &str, region: &str| ai.models.iter().find(|m| m.model_id == id && m.region == region).and_then(|m| m.baseline_usd_per_hour);
    assert!(close(baseline(SONNET, "us-east-1"), 0.45), "{:?}", baseline(SONNET, "us-east-1"));
    assert!(close(baseline(haiku, "us-east-1"), 0.50), "{:?}", baseline(haiku, "us-east-1"));
    assert!(close(baseline(haiku, "us-west-2"), 0.25), "{:?}", baseline(haiku, "us-west-2"));
    assert_eq!(
        result.report.api_calls.get("cloudwatch:GetMetricData"),
        Some(&4),
        "the window and the baseline, once per region: {:?}",
        result.report.api_calls
    );
}
