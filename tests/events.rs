//! `costguard events drain` against the moto server: CloudTrail-shaped
//! events put on EventBridge's default bus reach the SQS queue through a
//! rule (moto delivers `PutEvents` to SQS targets), and each is handled:
//! its resource read through its type and priced, its creator tagged when
//! it has no owner, one email per event to its owner or creator (a real
//! SMTP server on loopback), a duplicate told once, also after a restart,
//! what is gone settled quietly, and a message that cannot be read left to
//! reach the dead-letter queue after its receives.

mod support;

use std::process::{Command, Output};

use serde_json::{json, Value};

/// `costguard events drain` with `config` over the state folder `dir`.
fn drain_command(moto: &support::Moto, dir: &std::path::Path, config: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_costguard"));
    cmd.args(["events", "drain", "--config"]).arg(config).args(["--prices", "builtin", "--json"]).arg("--state-dir").arg(dir);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("COSTGUARD_LOG", "warn");
    cmd
}

fn drain(moto: &support::Moto, dir: &std::path::Path, config: &std::path::Path) -> (Value, Output) {
    let out = drain_command(moto, dir, config).output().expect("costguard runs");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    (report, out)
}

fn create_endpoint_record(event_id: &str, endpoint: &str, session: &str) -> Value {
    json!({
        "eventVersion": "1.09", "eventID": event_id, "eventTime": "2026-12-04T09:00:00Z",
        "eventSource": "sagemaker.amazonaws.com", "eventName": "CreateEndpoint", "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DataScience/{session}")},
        "requestParameters": {"endpointName": endpoint, "endpointConfigName": format!("{endpoint}-config")},
        "responseElements": {"endpointArn": format!("arn:aws:sagemaker:us-east-1:123456789012:endpoint/{endpoint}")}
    })
}

fn queue_length(moto: &support::Moto, url: &str) -> usize {
    let answer = moto.command_with_answer(&json!({"op": "queue_length", "region": "us-east-1", "queue": url}).to_string());
    answer.as_u64().unwrap_or(u64::MAX) as usize
}

#[tokio::test]
async fn each_creation_reaches_its_owner_or_creator_once_priced_and_the_poison_ends_in_the_dead_letter_queue() {
    let moto = support::moto().await;
    let sink = support::smtp::SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let queues = moto.command_with_answer(&json!({"op": "events_queue", "region": "us-east-1", "name": "creations", "max_receives": 2}).to_string());
    let (queue, dlq) = (queues["queue"].as_str().expect("queue").to_string(), queues["dlq"].as_str().expect("dlq").to_string());
    let config = dir.path().join("costguard.yaml");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let text = support::smtp::smtp_config(
        &sink,
        &format!("policies: ['{}']\nevents:\n  queue: {queue}\n  notify: [finops@example.com]\n  require-tags: [owner, costguard:expires]\n  retry-seconds: 0\n  visibility-seconds: 30\n", shipped.display()),
    );
    std::fs::write(&config, text).expect("config written");

    support::seed_endpoint(&moto, "llm-test", &[("AllTraffic", "ml.g4dn.xlarge", 2)], &[], 0.0).await;
    let ids = moto.seed_instances(json!([{"name": "gpu-box", "type": "g5.12xlarge", "tags": {"owner": "bo@example.com"}}]));
    let instance = ids["gpu-box"].clone();
    let run_instances = json!({
        "eventID": "e-run", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "userName": "bo"},
        "responseElements": {"instancesSet": {"items": [{"instanceId": instance}]}}
    });
    let events = json!([
        {"source": "aws.sagemaker", "detail": create_endpoint_record("e-endpoint", "llm-test", "ana@example.com")},
        {"source": "aws.ec2", "detail": run_instances},
        // Delivered twice, as SQS and CloudTrail may.
        {"source": "aws.sagemaker", "detail": create_endpoint_record("e-endpoint", "llm-test", "ana@example.com")},
        // Created and deleted before costguard looked.
        {"source": "aws.sagemaker", "detail": create_endpoint_record("e-gone", "deleted-already", "cy@example.com")},
        // No CloudTrail record.
        {"source": "aws.sagemaker", "detail": {"something": "else"}},
    ]);
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": events}).to_string());
    assert_eq!(queue_length(&moto, &queue), 5, "EventBridge delivered every event to the queue");

    let (report, out) = drain(&moto, dir.path(), &config);
    assert_eq!(out.status.code(), Some(3), "the poison message is held: {report:#}");
    let told = report["told"].as_array().expect("told");
    assert_eq!(told.len(), 2, "{report:#}");
    let endpoint = told.iter().find(|t| t["resource_id"] == "llm-test").expect("the endpoint told");
    // 2 x ml.g4dn.xlarge at the built-in hosting rate, 730 h.
    assert!(endpoint["monthly_cost_usd"].as_f64().is_some_and(|c| c > 1_000.0), "{endpoint:#}");
    assert_eq!(endpoint["to"], json!(["ana@example.com"]), "no owner tag: its creator");
    assert_eq!(endpoint["tagged_creator"], json!(true));
    assert_eq!(endpoint["missing_tags"], json!(["owner", "costguard:expires"]));
    let gpu = told.iter().find(|t| t["resource_type"] == "ec2-instance").expect("the instance told");
    assert_eq!(gpu["to"], json!(["bo@example.com"]), "its owner tag");
    assert_eq!(gpu["tagged_creator"], json!(false), "it has an owner");
    assert_eq!(report["duplicates"], json!(["e-endpoint"]));
    assert_eq!(report["settled_quietly"], json!(["e-gone"]));
    let unreadable = report["unreadable"].as_array().expect("unreadable");
    assert!(!unreadable.is_empty() && unreadable.iter().all(|u| u["why"].as_str().is_some_and(|w| w.contains("eventID"))), "{report:#}");

    let mail = sink.messages();
    assert_eq!(mail.len(), 2, "one email per event: {:?}", mail.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let to_ana = mail.iter().find(|m| m.rcpt_tos == ["ana@example.com"]).expect("ana told");
    assert!(to_ana.subject.contains("created SageMaker endpoint llm-test") && to_ana.subject.contains("a month"), "{}", to_ana.subject);
    assert!(to_ana.text().contains("Missing tags: owner, costguard:expires"), "{}", to_ana.text());

    let tags = moto.sagemaker().await.list_tags().resource_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/llm-test").send().await.expect("tags");
    assert!(tags.tags().iter().any(|t| t.key() == Some("costguard:created-by") && t.value() == Some("ana@example.com")), "{tags:?}");

    // The poison went to the dead-letter queue after its two receives; nothing else is left.
    assert_eq!(queue_length(&moto, &queue), 0);
    assert_eq!(queue_length(&moto, &dlq), 1);

    // A restart, and CloudTrail's event delivered once more: told once, still.
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": [{"source": "aws.sagemaker", "detail": create_endpoint_record("e-endpoint", "llm-test", "ana@example.com")}]}).to_string());
    let (again, out) = drain(&moto, dir.path(), &config);
    assert_eq!(out.status.code(), Some(0), "{again:#}");
    assert_eq!(again["duplicates"], json!(["e-endpoint"]));
    assert_eq!(sink.messages().len(), 2, "no second email");
    let calls = again["api_calls"].as_object().expect("calls");
    assert_eq!(calls.get("sagemaker:DescribeEndpoint"), None, "a settled event reads nothing: {calls:?}");
}

#[test]
fn an_events_section_without_a_queue_is_refused_at_its_place() {
    let errors = costguard::config::daemon::compile_text(std::path::Path::new("c.yaml"), "events:\n  notify: [not-an-address]\n").expect_err("invalid");
    let shown = errors.to_string();
    assert!(shown.contains("c.yaml:2") && shown.contains("events.queue"), "{shown}");
    assert!(shown.contains("events.notify[0]"), "{shown}");
}

const ON_CREATE: &str = "policies:
  - name: gpu-needs-project
    resource: ec2-instance
    on-create: true
    description: GPU instances carry a project tag, or stop a day after they start.
    filters:
      - type: value
        key: Accelerated
        value: true
      - type: value
        key: State.Name
        value: running
      - type: tag
        key: project
        value: absent
    actions:
      - type: notify
        to: [resource-owner]
      - type: mark
        days: 1
      - stop
    max-resources: 1
";

fn run_instances(event_id: &str, instance: &str, identity: Value) -> Value {
    json!({"source": "aws.ec2", "detail": {
        "eventID": event_id, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012", "userIdentity": identity,
        "responseElements": {"instancesSet": {"items": [{"instanceId": instance}]}}
    }})
}

async fn instance_tags(moto: &support::Moto, id: &str) -> std::collections::BTreeMap<String, String> {
    let out = moto.ec2().await.describe_instances().instance_ids(id).send().await.expect("describe");
    let instance = out.reservations().first().and_then(|r| r.instances().first()).expect("instance").clone();
    instance.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()
}

async fn instance_state(moto: &support::Moto, id: &str) -> String {
    let out = moto.ec2().await.describe_instances().instance_ids(id).send().await.expect("describe");
    let instance = out.reservations().first().and_then(|r| r.instances().first()).expect("instance").clone();
    instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default()
}

/// An `on-create` policy acts at the creation through the sweep's plan and
/// journal: an untagged GPU instance is marked at once (its creator told
/// what will happen, and when), the policy's breaker holds the next one
/// back within the day (told to a webhook channel, `events.notify`), and
/// the sweep a day later stops what is still untagged.
#[tokio::test]
async fn an_on_create_policy_marks_at_creation_its_breaker_holds_the_next_and_a_sweep_acts_after_the_grace() {
    let moto = support::moto().await;
    let sink = support::smtp::SmtpSink::start(None);
    let hook = support::http_sink::HttpSink::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let queues = moto.command_with_answer(&json!({"op": "events_queue", "region": "us-east-1", "name": "creations-on-create", "max_receives": 2}).to_string());
    let queue = queues["queue"].as_str().expect("queue").to_string();
    let hook_url = dir.path().join("hook.url");
    std::fs::write(&hook_url, hook.url("/hook")).expect("url written");
    std::fs::create_dir(dir.path().join("policies")).expect("policies folder");
    std::fs::write(dir.path().join("policies/gpu.yaml"), ON_CREATE).expect("policy written");
    let config = dir.path().join("costguard.yaml");
    let text = support::smtp::smtp_config(
        &sink,
        &format!(
            "  channels:\n    ml-team: {{type: webhook, url-file: {}}}\nevents:\n  queue: {queue}\n  notify: ['#ml-team']\n  retry-seconds: 0\n  max-in-flight: 1\n",
            hook_url.display()
        ),
    );
    std::fs::write(&config, text).expect("config written");
    let ids = moto.seed_instances(json!([
        {"name": "train-box", "type": "g5.12xlarge", "tags": {}},
        {"name": "tagged-box", "type": "g5.12xlarge", "tags": {"project": "llm", "owner": "bo@example.com"}},
        {"name": "second-box", "type": "g5.12xlarge", "tags": {}},
    ]));
    let ana = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DataScience/ana@example.com"});
    let state = dir.path().join("state");
    let drain_state = |config: &std::path::Path| drain(&moto, &state, config);

    let first = json!([run_instances("e-train", &ids["train-box"], ana.clone()), run_instances("e-tagged", &ids["tagged-box"], ana.clone())]);
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": first}).to_string());
    let (report, out) = drain_state(&config);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    let told = report["told"].as_array().expect("told");
    let train = told.iter().find(|t| t["resource_id"] == ids["train-box"].as_str()).expect("train-box told");
    let rules = train["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{train:#}");
    assert_eq!(rules[0]["policy"], "gpu-needs-project");
    assert!(rules[0]["outcome"].as_str().is_some_and(|o| o.starts_with("marked: stop at")), "{train:#}");
    let tagged = told.iter().find(|t| t["resource_id"] == ids["tagged-box"].as_str()).expect("tagged-box told");
    assert_eq!(tagged["rules"], json!([]), "it has its project tag");
    assert!(instance_tags(&moto, &ids["train-box"]).await.contains_key("costguard:marked-for"), "marked at its creation");
    assert_eq!(instance_state(&moto, &ids["train-box"]).await, "running", "a day's grace first");
    let to_ana = sink.messages().into_iter().find(|m| m.rcpt_tos == ["ana@example.com"]).expect("ana told");
    assert!(to_ana.text().contains("gpu-needs-project") && to_ana.text().contains("marked: stop at"), "{}", to_ana.text());

    // A second untagged GPU box within the day: max-resources 1 holds it
    // back; its creator's name is no address, so the channel hears of it.
    let cy = json!({"type": "IAMUser", "userName": "cy"});
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": [run_instances("e-second", &ids["second-box"], cy)]}).to_string());
    let (report, out) = drain_state(&config);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let second = &report["told"][0];
    assert_eq!(second["to"], json!(["#ml-team"]), "{second:#}");
    assert!(second["rules"][0]["outcome"].as_str().is_some_and(|o| o.contains("circuit breaker: max-resources 1") && o.contains("24 hours")), "{second:#}");
    assert!(!instance_tags(&moto, &ids["second-box"]).await.contains_key("costguard:marked-for"), "the breaker held it");
    let posted = hook.requests();
    assert_eq!(posted.len(), 1, "one message to the channel");
    let body = posted[0].json();
    assert_eq!(body["created"]["resource_id"], ids["second-box"].as_str(), "{body:#}");
    assert!(body["text"].as_str().is_some_and(|t| t.contains("circuit breaker")), "{body:#}");

    // Its creator tags it; a day later the sweep stops what is still untagged.
    moto.ec2()
        .await
        .create_tags()
        .resources(&ids["second-box"])
        .tags(aws_sdk_ec2::types::Tag::builder().key("project").value("eval").build())
        .send()
        .await
        .expect("tag");
    let policies = costguard::config::compile_text(&dir.path().join("policies/gpu.yaml"), ON_CREATE).expect("valid");
    let options = support::sweep_options(dir.path(), false);
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    let swept = costguard::sweep::run(
        &moto.aws().await,
        &policies,
        &options,
        &costguard::clock::Clock::fixed(later),
        &costguard::progress::Progress::hidden(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("sweep runs");
    let stopped = swept.report.findings.iter().find(|f| f.resource_id == ids["train-box"]).expect("train-box still matches");
    assert_eq!(stopped.status, costguard::outcome::Status::Done, "{stopped:?}");
    assert!(matches!(instance_state(&moto, &ids["train-box"]).await.as_str(), "stopped" | "stopping"));
    assert_eq!(instance_state(&moto, &ids["second-box"]).await, "running");
}

#[test]
fn an_on_create_policy_that_reads_metrics_is_refused_at_its_place() {
    let text = "policies:\n  - name: x\n    resource: ec2-instance\n    on-create: true\n    filters:\n      - type: metrics\n        name: CPUUtilization\n        days: 7\n        value: 5\n        op: lt\n";
    let shown = costguard::config::compile_text(std::path::Path::new("p.yaml"), text).expect_err("invalid").to_string();
    assert!(shown.contains("p.yaml:4") && shown.contains("on-create") && shown.contains("metrics"), "{shown}");
}

/// A queue named `name` (5 receives before its dead-letter queue) and a
/// config in `dir` reading it with the shipped policies, email to `sink`
/// and `settings` under `events:`; returns the queue's URL and the config.
fn queue_and_config(moto: &support::Moto, sink: &support::smtp::SmtpSink, dir: &std::path::Path, name: &str, settings: &str) -> (String, std::path::PathBuf) {
    let queues = moto.command_with_answer(&json!({"op": "events_queue", "region": "us-east-1", "name": name, "max_receives": 5}).to_string());
    let queue = queues["queue"].as_str().expect("queue").to_string();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let config = dir.join("costguard.yaml");
    let events = format!("policies: ['{}']\nevents:\n  queue: {queue}\n{settings}", shipped.display());
    std::fs::write(&config, support::smtp::smtp_config(sink, &events)).expect("config written");
    (queue, config)
}

/// Waits until the SMTP server holds a message unanswered (`hang_after`).
fn until_a_message_hangs(sink: &support::smtp::SmtpSink, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sink.hanging() == 0 {
        assert!(std::time::Instant::now() < deadline, "no notice reached the relay");
        assert!(child.try_wait().expect("wait").is_none(), "the drain ended first");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A drain killed mid-batch (SIGKILL while a notice is being sent) loses
/// nothing and repeats nothing: what was told before the kill is settled
/// and deleted without a word after the restart, the rest is told once.
#[tokio::test]
async fn a_drain_killed_mid_batch_loses_nothing_and_repeats_nothing_after_the_restart() {
    let moto = support::moto().await;
    let sink = support::smtp::SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    // One message at a time, so the kill lands after the third is settled.
    let (queue, config) = queue_and_config(&moto, &sink, dir.path(), "creations-crash", "  retry-seconds: 0\n  visibility-seconds: 10\n  max-in-flight: 1\n");
    let owners: Vec<String> = (1..=6).map(|i| format!("o{i}@example.com")).collect();
    let seeds: Vec<Value> = owners.iter().enumerate().map(|(i, o)| json!({"name": format!("box-{i}"), "type": "m5.large", "tags": {"owner": o}})).collect();
    let ids = moto.seed_instances(json!(seeds));
    let bo = json!({"type": "IAMUser", "userName": "bo"});
    let puts: Vec<Value> = (0..6).map(|i| run_instances(&format!("e-{i}"), &ids[&format!("box-{i}")], bo.clone())).collect();
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": puts}).to_string());

    sink.hang_after(3);
    let state = dir.path().join("state");
    let mut child = drain_command(&moto, &state, &config).stdout(std::process::Stdio::null()).spawn().expect("costguard starts");
    until_a_message_hangs(&sink, &mut child);
    // The fourth notice is on the wire: three were sent, settled, not yet deleted.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let before: Vec<String> = sink.messages().iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    assert_eq!(before.len(), 3, "{before:?}");
    sink.release();

    // The batch comes back when its visibility (10 s, extended while handled) ends.
    std::thread::sleep(std::time::Duration::from_secs(11));
    let (report, out) = drain(&moto, &state, &config);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", String::from_utf8_lossy(&out.stderr));
    // What was received in the killed batch and told comes back as a
    // duplicate (SQS may have handed out fewer than six at once, and the
    // ones settled before were deleted then).
    let (received, duplicates) = (report["received"].as_u64(), report["duplicates"].as_array().map(|d| d.len() as u64));
    assert_eq!(report["told"].as_array().map(Vec::len), Some(3), "the three not told before: {report:#}");
    assert_eq!(received, duplicates.map(|d| d + 3), "the rest were told before the kill: not again: {report:#}");
    let mut told: Vec<String> = sink.messages().iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    told.sort();
    assert_eq!(told, owners, "every owner told exactly once");
    assert_eq!(queue_length(&moto, &queue), 0, "every message deleted");
}

/// Two readers of one state folder (an ECS deployment's old and new task
/// over EFS) with a copy of the same event each: the second finds the
/// first's claim and leaves its copy to come back, and the copy is then
/// deleted without a word: one notice.
#[tokio::test]
async fn two_readers_of_one_state_folder_tell_an_event_once() {
    let moto = support::moto().await;
    let sink = support::smtp::SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let (queue, config) = queue_and_config(&moto, &sink, dir.path(), "creations-two", "  retry-seconds: 3\n  visibility-seconds: 10\n");
    let ids = moto.seed_instances(json!([{"name": "box", "type": "m5.large", "tags": {"owner": "o@example.com"}}]));
    let event = run_instances("e-twice", &ids["box"], json!({"type": "IAMUser", "userName": "bo"}));
    let state = dir.path().join("state");

    // The first reader holds the event: its notice waits at the relay.
    sink.hang_after(0);
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": [event.clone()]}).to_string());
    let mut first = drain_command(&moto, &state, &config).stdout(std::process::Stdio::piped()).spawn().expect("costguard starts");
    until_a_message_hangs(&sink, &mut first);

    // A copy of the event reaches the second reader meanwhile.
    moto.command(&json!({"op": "put_events", "region": "us-east-1", "events": [event]}).to_string());
    let (second, out) = drain(&moto, &state, &config);
    assert_eq!(out.status.code(), Some(3), "its copy is held back: {second:#}");
    assert_eq!(second["told"], json!([]), "{second:#}");
    let held = second["retried"][0]["why"].as_str().unwrap_or_default();
    assert!(held.contains("another costguard"), "{second:#}");

    sink.release();
    let first = first.wait_with_output().expect("the first reader ends");
    let report: Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_eq!(first.status.code(), Some(0), "{report:#}");
    assert_eq!(report["told"].as_array().map(Vec::len), Some(1), "{report:#}");

    // The copy comes back after its hold: settled, deleted without a word.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (last, out) = drain(&moto, &state, &config);
    assert_eq!(out.status.code(), Some(0), "{last:#}");
    assert_eq!(last["duplicates"], json!(["e-twice"]), "{last:#}");
    assert_eq!(sink.messages().len(), 1, "one notice in all");
    assert_eq!(queue_length(&moto, &queue), 0);
}
