//! Email end to end: sweeps against the moto server deliver digests to a
//! real SMTP server on loopback (aiosmtpd) or to moto's SES, and the tests
//! read back what arrived with Python's email parser.

mod support;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::notify::EmailSetup;
use costguard::progress::Progress;
use costguard::report::Verdict;
use costguard::sweep::{self, SweepResult};
use support::http_sink::HttpSink;
use support::smtp::{email, smtp_config, Received, SmtpSink};
use support::{put_invocations, seed_endpoint, Moto};
use tokio_util::sync::CancellationToken;

const POLICIES: &str = "policies:
  - name: idle-endpoints
    resource: sagemaker-endpoint
    description: Endpoints without a single invocation in two weeks.
    filters:
      - type: age
        days: 14
      - type: metrics
        name: Invocations
        statistic: Sum
        days: 14
        value: 0
        missing-data: zero
    actions:
      - type: notify
        to: [team@example.com, resource-owner]
      - type: mark
        days: 7
      - delete
  - name: never-expire
    resource: log-group
    filters:
      - type: value
        key: retentionInDays
        value: absent
    actions:
      - type: notify
        to: [team@example.com]
";

fn policies() -> Vec<Policy> {
    compile_text(Path::new("test.yaml"), POLICIES).expect("valid test policy")
}

async fn sweep_at(moto: &Moto, state: &Path, email: &Arc<EmailSetup>, dry_run: bool, now: DateTime<Utc>) -> SweepResult {
    let mut options = support::sweep_options(state, dry_run);
    options.features.email = Some(email.clone());
    let aws = moto.aws().await;
    sweep::run(&aws, &policies(), &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

/// Three idle endpoints (one owned by ana, one whose owner tag tries to add
/// a Bcc header, one owned by nobody), a busy one, and a log group whose
/// name would be markup.
async fn fleet(moto: &Moto) {
    seed_endpoint(moto, "idle-ana", &[("AllTraffic", "ml.m5.xlarge", 2)], &[("owner", "ana@example.com")], 30.0).await;
    seed_endpoint(moto, "idle-forged", &[("AllTraffic", "ml.m5.large", 1)], &[("owner", "bo@example.com\r\nBcc: evil@example.net")], 30.0).await;
    let long = "x".repeat(256);
    seed_endpoint(moto, "idle-nobody", &[("AllTraffic", "ml.m5.large", 1)], &[("contact", long.as_str())], 30.0).await;
    seed_endpoint(moto, "busy", &[("AllTraffic", "ml.m5.large", 1)], &[("owner", "cy@example.com")], 30.0).await;
    put_invocations(moto, "busy", "AllTraffic", 42.0, 5).await;
    support::seed_log_groups(moto, &[("/odd/<b>bold</b>&amp;", None, &[])]).await;
}

fn to(messages: &[Received], who: &str) -> Vec<Received> {
    messages.iter().filter(|m| m.rcpt_tos == [who]).cloned().collect()
}

#[tokio::test]
async fn each_person_gets_one_digest_with_both_parts_grouped_by_policy() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let sink = SmtpSink::start(None);
    let state = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, state.path(), &email(&smtp_config(&sink, "")), false, Utc::now()).await;
    let emails = result.report.emails.as_ref().expect("an email section in the report");
    assert_eq!((emails.sent, emails.queued, emails.failed), (2, 0, 0), "{emails:?}");

    let messages = sink.messages();
    assert_eq!(messages.len(), 2, "one digest per person, not one email per resource");
    let team = to(&messages, "team@example.com");
    let ana = to(&messages, "ana@example.com");
    assert_eq!((team.len(), ana.len()), (1, 1), "{messages:#?}");
    let (team, ana) = (&team[0], &ana[0]);

    // The subject says what and how much: 3 endpoints ((0.23 x 2 + 0.115 + 0.115) $/h x 730 h) and 1 log group.
    assert_eq!(team.subject, "costguard: 4 findings in 2 policies, $504/month", "{}", team.subject);
    assert_eq!(ana.subject, "costguard: 1 SageMaker endpoint (idle-endpoints), $336/month", "{}", ana.subject);
    assert_eq!(team.content_type, "multipart/alternative");
    assert_eq!(team.mail_from.as_deref(), Some("costguard@example.com"));
    assert_eq!(team.header("Auto-Submitted"), ["auto-generated"]);

    // Grouped by policy, most expensive first, with region, cost, reason and the planned date.
    let text = team.text();
    let idle = text.find("== idle-endpoints: 3 SageMaker endpoints").expect("the endpoint group");
    let logs = text.find("== never-expire: 1 log group").expect("the log-group group");
    assert!(idle < logs, "{text}");
    let (first, second) = (text.find("- idle-ana (us-east-1) $335.80/month").expect("ana's line"), text.find("- idle-forged").expect("line"));
    assert!(first < second, "the most expensive first:\n{text}");
    let due = (Utc::now() + Duration::days(7)).format("%Y-%m-%d").to_string();
    assert!(text.contains(&format!("plan: delete after {due}")), "{text}");
    assert!(text.contains("Endpoints without a single invocation in two weeks."), "{text}");
    assert!(text.contains("tag it costguard:protect"), "{text}");
    assert!(!text.contains("busy"), "a busy endpoint is nobody's news");

    // Ana hears about her endpoint only.
    assert!(ana.text().contains("idle-ana") && !ana.text().contains("idle-forged") && !ana.text().contains("never-expire"), "{}", ana.text());

    // What came from AWS cannot forge a recipient or inject markup.
    for m in &messages {
        assert!(m.header("Bcc").is_empty() && m.rcpt_tos.len() == 1, "{m:?}");
        assert!(!m.text().contains("evil@example.net") && !m.html().contains("evil@example.net"));
    }
    assert!(team.html().contains("&lt;b&gt;bold&lt;") && team.html().contains("&amp;amp;") && !team.html().contains("<b>bold"), "{}", team.html());
    assert!(team.text().contains("/odd/<b>bold</b>&amp;"), "the text part shows the name as it is");
}

#[tokio::test]
async fn the_same_finding_is_told_once_until_its_state_changes() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let sink = SmtpSink::start(None);
    let state = tempfile::tempdir().expect("temp dir");
    let setup = email(&smtp_config(&sink, ""));
    let t0 = Utc::now();

    sweep_at(&moto, state.path(), &setup, false, t0).await;
    assert_eq!(sink.messages().len(), 2, "marked: ana and the team hear");
    sink.clear();

    let later = sweep_at(&moto, state.path(), &setup, false, t0 + Duration::hours(3)).await;
    assert!(sink.messages().is_empty(), "nothing changed within the quiet period: no email");
    assert_eq!(later.report.emails.as_ref().map(|e| e.held_back), Some(5));

    // Less than a day before the deletion: the last chance to object.
    sweep_at(&moto, state.path(), &setup, false, t0 + Duration::days(6) + Duration::hours(20)).await;
    let messages = sink.messages();
    let ana = to(&messages, "ana@example.com");
    assert_eq!(ana.len(), 1, "{messages:#?}");
    assert!(ana[0].subject.starts_with("costguard: 1 due within 24 h, "), "{}", ana[0].subject);
    assert!(ana[0].text().contains("1 will be changed within 24 hours unless you act."), "{}", ana[0].text());
    let team = to(&messages, "team@example.com");
    assert!(team[0].text().contains("idle-endpoints: 3"), "{}", team[0].text());
    assert!(team[0].text().contains("never-expire: 1"), "unchanged, but the quiet period is over: a reminder\n{}", team[0].text());
    sink.clear();

    // Deleted: news again.
    sweep_at(&moto, state.path(), &setup, false, t0 + Duration::days(8)).await;
    let ana = to(&sink.messages(), "ana@example.com");
    assert!(ana[0].subject.starts_with("costguard: 1 changed, "), "{}", ana[0].subject);
    assert!(ana[0].text().contains("plan: done: ") && ana[0].text().contains("endpoint deleted"), "{}", ana[0].text());
}

#[tokio::test]
async fn a_dry_run_digest_says_it_is_one() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let sink = SmtpSink::start(None);
    let state = tempfile::tempdir().expect("temp dir");
    sweep_at(&moto, state.path(), &email(&smtp_config(&sink, "")), true, Utc::now()).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    for m in &messages {
        assert!(m.subject.starts_with("[dry run] costguard: "), "{}", m.subject);
        assert!(m.text().starts_with("DRY RUN: nothing below was changed."), "{}", m.text());
        assert!(m.html().contains("Dry run:"), "{}", m.html());
    }
    assert_eq!(support::endpoint_names(&moto).await.len(), 4, "a dry run changes nothing");
}

#[tokio::test]
async fn an_undeliverable_digest_is_kept_and_sent_by_the_next_sweep_once() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/a", None, &[]), ("/app/b", None, &[])]).await;
    let sink = SmtpSink::start(None);
    let state = tempfile::tempdir().expect("temp dir");
    let setup = email(&smtp_config(&sink, ""));
    let t0 = Utc::now();

    sink.fail_next(2, 451); // both attempts of the first sweep
    let first = sweep_at(&moto, state.path(), &setup, false, t0).await;
    let emails = first.report.emails.as_ref().expect("email section");
    assert_eq!((emails.sent, emails.queued, emails.outbox_waiting), (0, 1, 1), "{emails:?}");
    assert_eq!(emails.messages[0].attempts, 2);
    assert_eq!(first.report.verdict(), Verdict::Errors, "the report says so");
    assert!(first.report.errors.iter().any(|e| e.message.contains("kept for the next sweep")), "{:?}", first.report.errors);
    assert!(sink.messages().is_empty());

    let second = sweep_at(&moto, state.path(), &setup, false, t0 + Duration::hours(1)).await;
    let emails = second.report.emails.as_ref().expect("email section");
    assert_eq!((emails.outbox_sent, emails.sent, emails.outbox_waiting), (1, 0, 0), "{emails:?}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "delivered once: the queued digest, and no duplicate of it");
    assert!(messages[0].text().contains("/app/a") && messages[0].text().contains("/app/b"));

    // A refusal for good is reported, not retried forever.
    sink.clear();
    sink.fail_next(1, 550);
    let third = sweep_at(&moto, state.path(), &setup, false, t0 + Duration::days(2)).await;
    let emails = third.report.emails.as_ref().expect("email section");
    assert_eq!((emails.failed, emails.queued, emails.outbox_waiting), (1, 0, 0), "{emails:?}");
    assert_eq!(emails.messages[0].attempts, 1, "5xx is not retried");
}

/// A relay that accepts connections and never says a word; counts them.
async fn silent_relay() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_relay_that_never_greets_costs_one_message_limit_per_attempt_and_every_digest_is_kept() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let (port, accepted) = silent_relay().await;
    let state = tempfile::tempdir().expect("temp dir");
    let setup = email(&format!(
        "email:\n  from: costguard@example.com\n  smtp: {{host: 127.0.0.1, port: {port}, security: none, message-timeout-seconds: 0.5}}\n  attempts: 2\n  retry-seconds: 0.05\n"
    ));
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(std::time::Duration::from_secs(60), sweep_at(&moto, state.path(), &setup, false, Utc::now()))
        .await
        .expect("the sweep ends although the relay never answers");
    let emails = result.report.emails.as_ref().expect("email section");
    assert!(emails.messages.len() >= 2, "several digests: {emails:?}");
    assert_eq!((emails.sent, emails.queued), (0, emails.messages.len()), "every digest is kept for the next sweep: {emails:?}");
    assert_eq!(emails.messages[0].attempts, 2);
    assert!(emails.messages[0].error.as_deref().unwrap_or("").contains("did not finish the message within 0.5 s"), "{emails:?}");
    assert!(emails.messages[1..].iter().all(|m| m.attempts == 0), "the rest wait without trying: {emails:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2, "one connection per attempt of the first message only");
    // Two attempts of half a second and one pause: far from the minutes a
    // relay without limits held a sweep.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
}

#[tokio::test]
async fn smtp_credentials_come_from_files_and_never_reach_the_report() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/a", None, &[])]).await;
    let sink = SmtpSink::start(Some(("costguard", "s3cret-Passw0rd")));
    let state = tempfile::tempdir().expect("temp dir");
    let secrets = tempfile::tempdir().expect("temp dir");
    std::fs::write(secrets.path().join("user"), "costguard\n").expect("write");
    std::fs::write(secrets.path().join("password"), "s3cret-Passw0rd\n").expect("write");
    let config = |password_file: &str| {
        let creds = format!(
            "  smtp: {{host: 127.0.0.1, port: {}, security: none, username-file: {}, password-file: {}}}\n",
            sink.port,
            secrets.path().join("user").display(),
            secrets.path().join(password_file).display()
        );
        email(&format!("email:\n  from: costguard@example.com\n  attempts: 1\n{creds}"))
    };

    let ok = sweep_at(&moto, state.path(), &config("password"), false, Utc::now()).await;
    assert_eq!(ok.report.emails.as_ref().map(|e| e.sent), Some(1), "{:?}", ok.report.emails);
    assert_eq!(sink.messages().len(), 1);

    std::fs::write(secrets.path().join("wrong"), "guess\n").expect("write");
    let other_state = tempfile::tempdir().expect("temp dir");
    let refused = sweep_at(&moto, other_state.path(), &config("wrong"), false, Utc::now()).await;
    let emails = refused.report.emails.as_ref().expect("email section");
    assert_eq!(emails.sent, 0);
    assert!(emails.messages[0].error.as_deref().unwrap_or("").to_lowercase().contains("auth"), "{emails:?}");
    for dir in [state.path(), other_state.path()] {
        let json = std::fs::read_to_string(dir.join("report/report.json")).expect("report.json");
        let md = std::fs::read_to_string(dir.join("report/report.md")).expect("report.md");
        assert!(!json.contains("s3cret") && !md.contains("s3cret") && !json.contains("guess"), "no secret in the report");
    }
}

#[tokio::test]
async fn ses_sends_the_same_digest_through_the_emulator() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/a", None, &[])]).await;
    let state = tempfile::tempdir().expect("temp dir");
    let setup = email("email:\n  from: costguard@example.com\n  transport: ses\n");

    // SES refuses a sender it has not verified: reported as refused, not kept.
    let refused = sweep_at(&moto, state.path(), &setup, false, Utc::now()).await;
    let emails = refused.report.emails.as_ref().expect("email section");
    assert_eq!((emails.sent, emails.failed, emails.queued), (0, 1, 0), "{emails:?}");

    let ses = aws_sdk_sesv2::Client::new(&moto.sdk_config().await);
    ses.create_email_identity().email_identity("costguard@example.com").send().await.expect("identity verified");
    let other_state = tempfile::tempdir().expect("temp dir");
    let sent = sweep_at(&moto, other_state.path(), &setup, false, Utc::now()).await;
    assert_eq!(sent.report.emails.as_ref().map(|e| (e.transport.as_str(), e.sent)), Some(("ses", 1)));
    assert_eq!(sent.report.api_calls.get("ses:SendEmail"), Some(&1), "counted like every AWS call");

    let delivered: Vec<Received> = serde_json::from_value(moto.command_with_answer(r#"{"op":"ses_sent","region":"us-east-1"}"#)).expect("messages");
    assert_eq!(delivered.len(), 1);
    // moto records the To: header's addresses again beside the destinations.
    assert!(delivered[0].rcpt_tos.iter().all(|r| r == "team@example.com"), "{:?}", delivered[0].rcpt_tos);
    assert_eq!(delivered[0].header("To"), ["team@example.com"]);
    assert_eq!(delivered[0].subject, "costguard: 1 log group (never-expire)");
    assert!(delivered[0].text().contains("- /app/a (us-east-1)"), "{}", delivered[0].text());
    assert!(delivered[0].html().contains("never-expire: 1 log group"), "{}", delivered[0].html());
}

#[tokio::test]
async fn digests_reach_slack_a_signed_webhook_and_an_sns_topic_as_they_reach_people() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let (smtp, slack, hook, subscriber) = (SmtpSink::start(None), HttpSink::start(), HttpSink::start(), HttpSink::start());
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = sns.create_topic().name("costguard").send().await.expect("create topic").topic_arn.expect("a topic ARN");
    sns.subscribe().topic_arn(&topic).protocol("http").endpoint(subscriber.url("/sns")).send().await.expect("subscribe");

    // Webhook URLs and the signing key come from files, never the config.
    let secrets = tempfile::tempdir().expect("temp dir");
    let file = |name: &str, text: &str| {
        let path = secrets.path().join(name);
        std::fs::write(&path, format!("{text}\n")).expect("write a secret");
        path.display().to_string()
    };
    let extra = format!(
        "  channels:\n    ml-team: {{type: slack, url-file: {}}}\n    audit: {{type: webhook, url-file: {}, secret-file: {}}}\n    bus: {{type: sns, topic-arn: '{topic}'}}\n",
        file("slack.url", &slack.url("/services/T0/B0/secret")),
        file("hook.url", &hook.url("/hook")),
        file("hook.key", "k3y-for-HMAC"),
    );
    let setup = email(&smtp_config(&smtp, &extra));
    let routed = POLICIES
        .replace("to: [team@example.com, resource-owner]", "to: ['#ml-team', '#bus', resource-owner]")
        .replace("to: [team@example.com]", "to: ['#audit']");
    let policies = compile_text(Path::new("test.yaml"), &routed).expect("valid policies");
    assert!(costguard::notify::channel_problems(&policies, &setup.settings).is_empty());
    let state = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(state.path(), false);
    options.features.email = Some(setup.clone());
    let result =
        sweep::run(&moto.aws().await, &policies, &options, &Clock::fixed(Utc::now()), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    let emails = result.report.emails.as_ref().expect("an email section");
    assert_eq!((emails.sent, emails.queued, emails.failed), (4, 0, 0), "{emails:?}");

    // Slack: one Block Kit message with the endpoint digest; markup from AWS escaped.
    let posted = slack.requests();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!((posted[0].method.as_str(), posted[0].path.as_str()), ("POST", "/services/T0/B0/secret"));
    let message = posted[0].json();
    assert_eq!(message["blocks"][0]["type"], "header");
    let text = message["blocks"][1]["text"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("idle-ana") && text.contains("idle-nobody") && !text.contains("busy"), "{text}");

    // The webhook: the digest's data, signed over the time and the body.
    let posted = hook.requests();
    assert_eq!(posted.len(), 1);
    let signature = posted[0].header("x-costguard-signature").expect("a signature header");
    let t: i64 = signature.trim_start_matches("t=").split(',').next().and_then(|t| t.parse().ok()).expect("a time");
    assert_eq!(signature, costguard::notify::channel::signature(b"k3y-for-HMAC", t, &posted[0].body));
    let digest = posted[0].json();
    assert_eq!(digest["digest"]["policies"][0]["name"], "never-expire");
    assert_eq!(digest["digest"]["policies"][0]["items"][0]["resource_id"], "/odd/<b>bold</b>&amp;", "data is data: JSON carries it exactly");

    // SNS: the topic delivered the plain-text digest to its subscriber.
    let delivered = subscriber.wait_for(1, 10);
    let notification = delivered.iter().map(|r| r.json()).find(|j| j["Type"] == "Notification").expect("an SNS notification");
    assert!(notification["Message"].as_str().unwrap_or_default().contains("idle-ana"), "{notification}");
    assert!(notification["Subject"].as_str().unwrap_or_default().starts_with("costguard:"), "{notification}");

    // People still get their email; no secret reached the report.
    assert_eq!(to(&smtp.messages(), "ana@example.com").len(), 1);
    let report = std::fs::read_to_string(&result.report_json).expect("report");
    assert!(!report.contains("secret") && !report.contains("k3y"), "the webhook URL and key stay out of the report");
}

#[tokio::test]
async fn a_channel_that_fails_keeps_its_digest_for_the_next_sweep_and_holds_back_nobody_else() {
    let moto = support::moto().await;
    fleet(&moto).await;
    let (smtp, slack) = (SmtpSink::start(None), HttpSink::start());
    slack.answer(503);
    let secrets = tempfile::tempdir().expect("temp dir");
    let url = secrets.path().join("slack.url");
    std::fs::write(&url, slack.url("/hook")).expect("write");
    let setup = email(&smtp_config(&smtp, &format!("  channels:\n    ml-team: {{type: slack, url-file: {}}}\n", url.display())));
    let routed = POLICIES.replace("to: [team@example.com, resource-owner]", "to: ['#ml-team', resource-owner]");
    let policies = compile_text(Path::new("test.yaml"), &routed).expect("valid policies");
    let state = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(state.path(), false);
    options.features.email = Some(setup.clone());
    let run = |now| {
        let (aws_policies, options) = (policies.clone(), options.clone());
        let moto = &moto;
        async move {
            sweep::run(&moto.aws().await, &aws_policies, &options, &Clock::fixed(now), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep")
        }
    };
    let first = run(Utc::now()).await;
    let emails = first.report.emails.as_ref().expect("an email section");
    assert_eq!((emails.sent, emails.queued), (2, 1), "ana and the team's email went; Slack's digest is kept: {emails:?}");
    assert_eq!(slack.requests().len(), 2, "two attempts, then kept");

    slack.answer(200);
    let second = run(Utc::now() + Duration::minutes(10)).await;
    let emails = second.report.emails.as_ref().expect("an email section");
    assert_eq!((emails.outbox_sent, emails.sent), (1, 0), "the kept digest is sent once, nothing is repeated: {emails:?}");
    assert_eq!(slack.requests().len(), 3);
}
