//! The `costguard` binary as a user runs it: validate and sweep.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn costguard(args: &[&str], env: &[(&str, String)]) -> Output {
    // The journal and caches go to a temp folder, never the user's home.
    let state = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_costguard"));
    cmd.args(args).env("COSTGUARD_LOG", "warn").env("COSTGUARD_STATE_DIR", state.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run costguard")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write policy file");
    path.to_string_lossy().into_owned()
}

/// Validates `text` and returns (exit code, stderr).
fn validate(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "p.yaml", text);
    let out = costguard(&["validate", &file], &[]);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).replace(&file, "p.yaml"))
}

use support::NEVER_EXPIRE as GOOD;

#[test]
fn shipped_policies_are_valid() {
    let out = costguard(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/policies")], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

#[test]
fn each_bad_input_is_rejected_with_file_line_column_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("unknown resource type", "resource: log-group\n", "resource: log-groop\n"),
        ("unknown filter", "      - type: value\n", "      - type: valeu\n"),
        ("unknown action", "      - type: set-retention\n", "      - type: delete-everything\n"),
        ("misspelt field", "        key: retentionInDays\n", "        kee: retentionInDays\n"),
        ("wrong type", "        days: 30\n", "        days: thirty\n"),
        ("invalid retention", "        days: 30\n", "        days: 31\n"),
    ];
    let expected = [
        "p.yaml:3:15: policies[0].resource: unknown resource type `log-groop`; did you mean `log-group`? (expected one of: log-group, ",
        "p.yaml:5:15: policies[0].filters[0].type: unknown filter type `valeu`; did you mean `value`?",
        "p.yaml:9:15: policies[0].actions[0].type: unknown action type `delete-everything` (expected one of: notify, mark, set-retention)",
        "p.yaml:6:9: policies[0].filters[0].kee: unknown key `kee`; did you mean `key`?",
        "p.yaml:10:15: policies[0].actions[0].days: invalid type: string \"thirty\"",
        "p.yaml:10:15: policies[0].actions[0].days: CloudWatch Logs accepts only",
    ];
    for ((what, from, to), want) in cases.iter().zip(expected) {
        assert!(GOOD.contains(from), "{what}: bad test");
        let (code, stderr) = validate(&GOOD.replacen(from, to, 1));
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(stderr.contains(want), "{what}: expected {want:?} in:\n{stderr}");
    }
}

#[test]
fn negative_day_count_is_rejected() {
    let text = GOOD.replace("    actions:", "      - type: age\n        days: -3\n    actions:");
    let (code, stderr) = validate(&text);
    assert_eq!(code, 1);
    assert!(stderr.contains("p.yaml:9:15: policies[0].filters[1].days: days must be a number from 0"), "{stderr}");
}

#[test]
fn duplicate_policy_names_are_rejected_across_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "a.yaml", GOOD);
    write(dir.path(), "b.yaml", GOOD);
    let out = costguard(&["validate", &dir.path().to_string_lossy()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("b.yaml:2:11: policies[0].name: duplicate policy name `never-expire`; first defined at"), "{stderr}");
    assert!(stderr.contains("a.yaml:2:11"), "{stderr}");
}

#[test]
fn yaml_syntax_errors_have_a_location() {
    let (code, stderr) = validate("policies:\n  - name: [unclosed\n");
    assert_eq!(code, 1);
    assert!(stderr.starts_with("p.yaml:2:11: "), "{stderr}");
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let second = GOOD.trim_start_matches("policies:\n").replace("never-expire", "second").replace("days: 30", "days: 45");
    let text = format!("{GOOD}{}", second.replace("retentionInDays", "retention"));
    let (code, stderr) = validate(&text);
    assert_eq!(code, 1);
    assert!(stderr.contains("policies[1].filters[0].key: log-group has no attribute `retention`"), "{stderr}");
    assert!(stderr.contains("policies[1].actions[0].days"), "{stderr}");
    assert!(stderr.contains("2 errors found"), "{stderr}");
}

#[test]
fn missing_path_is_an_error_not_a_panic() {
    let out = costguard(&["validate", "/nonexistent/costguard/policies"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/costguard/policies: cannot read"));
}

#[test]
fn invalid_policies_stop_a_sweep_before_any_aws_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "p.yaml", &GOOD.replace("days: 30", "days: 31"));
    // No emulator: if the sweep called AWS it would fail differently.
    let out = costguard(&["sweep", "--policies", &file, "--report-dir", &dir.path().join("r").to_string_lossy()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was listed or changed"));
    assert!(!dir.path().join("r").exists());
}

#[tokio::test]
async fn dry_run_sweep_writes_both_reports_and_says_where() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/demo/forever", None, &[]), ("/demo/week", Some(7), &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report_dir = dir.path().join("reports");
    let out = costguard(
        // moto lacks Cost Anomaly Detection: guardrails have their own test below.
        &[
            "sweep",
            "--dry-run",
            "--skip-guardrails",
            "--policies",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies"),
            "--report-dir",
            &report_dir.to_string_lossy(),
        ],
        &moto.env(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&report_dir.join("report.json").to_string_lossy().into_owned()), "{stdout}");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).expect("report.json")).expect("JSON");
    for field in ["run_id", "dry_run", "started_at", "finished_at", "api_calls", "errors", "findings"] {
        assert!(report.get(field).is_some(), "report.json lacks {field}");
    }
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["api_calls"]["logs:DescribeLogGroups"], 1);
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(
        (f["policy"].as_str(), f["resource_type"].as_str(), f["resource_id"].as_str()),
        (Some("log-groups-never-expire"), Some("log-group"), Some("/demo/forever"))
    );
    assert_eq!((f["region"].as_str(), f["action"].as_str(), f["status"].as_str()), (Some(support::REGION), Some("set-retention"), Some("planned")));
    assert!(f["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let md = std::fs::read_to_string(report_dir.join("report.md")).expect("report.md");
    assert!(md.contains("| log-groups-never-expire | log-group | 2 | 1 |"), "{md}");
    // The emulator still has no retention on the matched group.
    assert_eq!(support::retention_by_group(&moto).await["/demo/forever"], None);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let moto = support::moto().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = moto.env();
    env.push(("COSTGUARD_LOG", "info".to_string()));
    let out = costguard(
        &[
            "--log-format",
            "json",
            "sweep",
            "--dry-run",
            "--skip-guardrails",
            "--policies",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies"),
            "--report-dir",
            &dir.path().to_string_lossy(),
        ],
        &env,
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some());
    }
}

#[test]
fn restore_without_a_journal_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("nowhere/journal.sqlite");
    let out = costguard(&["restore", "sagemaker-endpoint", "my-endpoint", "--journal", &journal.to_string_lossy()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no journal at") && stderr.contains("nowhere/journal.sqlite"), "{stderr}");
    assert!(!journal.exists(), "a failed restore creates nothing");

    let out = costguard(&["restore", "ec2-thing", "x"], &[]);
    assert_eq!(out.status.code(), Some(2), "clap rejects an unknown resource type");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sagemaker-endpoint"));
}

#[tokio::test]
async fn a_dry_run_shows_the_guardrails_it_would_create() {
    let moto = support::moto().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // The shipped declaration, minus what moto cannot answer (Cost Anomaly
    // Detection, GetCostForecast; both mock-tested in tests/guardrails.rs).
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/guardrails.yaml")).expect("shipped");
    let budgets: String = shipped.lines().take_while(|l| !l.contains("CloudWatch alarms on the account")).map(|l| format!("{l}\n")).collect();
    let text = format!("{budgets}  anomaly-detection:\n    enabled: false\n  spend:\n    enabled: false\n");
    std::fs::write(dir.path().join("guardrails.yaml"), text).expect("write");
    let report_dir = dir.path().join("r");
    let out = costguard(
        &["sweep", "--dry-run", "--policies", &dir.path().join("guardrails.yaml").to_string_lossy(), "--report-dir", &report_dir.to_string_lossy()],
        &moto.env(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).expect("report.json")).expect("JSON");
    let changes: Vec<(String, String)> = report["guardrails"]
        .as_array()
        .expect("guardrails")
        .iter()
        .map(|g| (g["kind"].as_str().unwrap_or("").to_string(), g["change"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(changes.iter().filter(|(k, c)| k == "budget" && c == "create").count(), 4, "{changes:?}");
    assert_eq!(changes.iter().filter(|(k, c)| k == "billing-alarm" && c == "create").count(), 4, "{changes:?}");
    assert_eq!(report["totals"]["failed"], 0);
}

#[test]
fn invalid_guardrails_are_rejected_by_validate_with_locations() {
    let text = "guardrails:\n  email: [finops@example.com]\n  budgets:\n    - name: monthly-500\n      amount: 500\n      notifications:\n        - {type: ACTUAL, threshold: 100, sns-topic: my-topic}\n  anomaly-detection:\n    frequency: IMMEDIATE\n";
    let (code, stderr) = validate(text);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("p.yaml:4:13: guardrails.budgets[0].name: budget names start with the prefix `costguard-`"), "{stderr}");
    assert!(stderr.contains("p.yaml:7:53: guardrails.budgets[0].notifications[0].sns-topic"), "{stderr}");
    assert!(stderr.contains("p.yaml:9:16: guardrails.anomaly-detection.frequency: IMMEDIATE alerts go only to an SNS topic"), "{stderr}");
}

#[test]
fn the_shipped_daemon_config_is_valid_and_a_bad_one_is_located() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/costguard.yaml");
    let out = costguard(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/policies"), "--config", shipped], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let dir = tempfile::tempdir().expect("temp dir");
    let bad = write(
        dir.path(),
        "c.yaml",
        "email:\n  from: costguard@example.com\n  smtp:\n    host: mail.example.com\n    security: startls\n    password-env: PW\n",
    );
    let out = costguard(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/policies"), "--config", &bad], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&bad, "c.yaml");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("c.yaml:5:15: email.smtp.security: unknown value `startls`; did you mean `starttls`?"), "{stderr}");

    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).expect("mkdir");
    std::fs::write(templates.join("digest.txt.j2"), "{% for p in policies %}{{ p.nmae }}{% endfor %}").expect("write");
    let config = write(dir.path(), "t.yaml", "email:\n  from: costguard@example.com\n  transport: ses\n  templates: templates\n");
    let out = costguard(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/policies"), "--config", &config], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("email template digest.txt.j2"), "a broken override is caught before any sweep: {stderr}");

    // `run` refuses to start without its HTTP token: `validate` says so first.
    let config = write(dir.path(), "h.yaml", "http-token-file: no-such-token\n");
    let out = costguard(&["validate", concat!(env!("CARGO_MANIFEST_DIR"), "/policies"), "--config", &config], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the HTTP token: cannot read") && stderr.contains("no-such-token"), "{stderr}");
}

#[test]
fn validate_checks_every_channel_and_every_channel_a_policy_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "slack.url", "http://hooks.example.net/services/T/B/token-must-not-print\n");
    let config = write(
        dir.path(),
        "c.yaml",
        "email:\n  from: costguard@example.com\n  transport: ses\n  channels:\n    ml-team: {type: slack, url-file: slack.url}\n    ops: {type: teams, url-env: NO_SUCH_TEAMS_URL}\n",
    );
    let policy = write(dir.path(), "p.yaml", &NEVER_EXPIRE_NOTIFY.replace("TO", "['#ml-team', '#nowhere']"));
    let out = costguard(&["validate", &policy, "--config", &config], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("channel #ml-team: the URL is plain http to hooks.example.net; only https"), "{stderr}");
    assert!(stderr.contains("channel #ops: the URL: environment variable NO_SUCH_TEAMS_URL is not set"), "{stderr}");
    assert!(stderr.contains("notify names #nowhere, which is not in the config's email.channels"), "{stderr}");
    assert!(!stderr.contains("token-must-not-print"), "the URL is a secret: {stderr}");
}

const NEVER_EXPIRE_NOTIFY: &str = "policies:
  - name: never-expire
    resource: log-group
    filters:
      - type: value
        key: retentionInDays
        value: absent
    actions:
      - type: notify
        to: TO
";

#[tokio::test]
async fn a_sweep_with_a_config_emails_the_owner_through_smtp() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/demo/forever", None, &[("owner", "ana@example.com")])]).await;
    let sink = support::smtp::SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = write(dir.path(), "p.yaml", &format!("{}      - type: notify\n        to: [resource-owner]\n", support::NEVER_EXPIRE));
    let config = write(
        dir.path(),
        "c.yaml",
        &format!("email:\n  from: costguard@example.com\n  to: [ops@example.com]\n  smtp: {{host: 127.0.0.1, port: {}, security: none}}\n", sink.port),
    );
    let out = costguard(
        &["sweep", "--dry-run", "--skip-guardrails", "--policies", &policy, "--config", &config, "--report-dir", &dir.path().join("r").to_string_lossy()],
        &moto.env(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("email: 1 sent"), "{stdout}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].rcpt_tos, ["ana@example.com"]);
    assert!(messages[0].subject.starts_with("[dry run] costguard: 1 log group (never-expire)"), "{}", messages[0].subject);

    // --no-email: reported, not sent.
    sink.clear();
    let out = costguard(
        &[
            "sweep",
            "--dry-run",
            "--skip-guardrails",
            "--no-email",
            "--policies",
            &policy,
            "--config",
            &config,
            "--report-dir",
            &dir.path().join("r").to_string_lossy(),
        ],
        &moto.env(),
    );
    assert!(out.status.success());
    assert!(sink.messages().is_empty());
}

/// A sweep that cannot reach AWS says so in one line a person can act on,
/// and exits 1 (nothing was listed or changed).
#[test]
fn without_credentials_or_an_endpoint_a_sweep_says_what_to_do_in_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = write(dir.path(), "p.yaml", GOOD);
    let report = dir.path().join("report");
    let base = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
    ];
    let args = ["sweep", "--dry-run", "--policies", &policies, "--report-dir", report.to_str().unwrap_or_default(), "--prices", "builtin"];
    let run = |extra: &[(&str, String)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_costguard"));
        cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", dir.path()).env("COSTGUARD_LOG", "warn");
        cmd.env("COSTGUARD_STATE_DIR", dir.path().join("state"));
        for (k, v) in base.iter().chain(extra) {
            cmd.env(k, v);
        }
        cmd.output().expect("run costguard")
    };

    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("no AWS credentials found") && stderr.contains("AWS_PROFILE"), "{stderr}");

    // Instance metadata tried too (off EC2 it fails or is refused), at the
    // default log level: still one line, none of the SDK's own output.
    let out = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_costguard"));
        cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", dir.path());
        cmd.env("COSTGUARD_STATE_DIR", dir.path().join("state")).env("AWS_REGION", "us-east-1");
        cmd.env("AWS_CONFIG_FILE", "/dev/null").env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        // Where instance metadata would be: a port nothing listens on.
        cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9");
        cmd.output().expect("run costguard")
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("no AWS credentials found") && stderr.contains("aws sso login"), "{stderr}");
    assert!(!stderr.contains("DispatchFailure") && !stderr.contains("IMDS"), "{stderr}");

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let out = run(&[
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&format!("cannot reach http://127.0.0.1:{closed}")) && stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("DispatchFailure") && !stderr.contains("ConnectorError {"), "no Debug dump: {stderr}");
    assert!(!report.exists(), "nothing ran, no report");
}

/// What `validate` says is for people: an indentation hint, the number as
/// written, a duplicate name once among the other errors, in file and line
/// order, each file read once, and an empty file only a warning.
#[test]
fn validate_speaks_to_people() {
    let dir = tempfile::tempdir().expect("temp dir");
    let misaligned = write(dir.path(), "a.yaml", "policies:\n  - name: x\n    resource: log-group\n   filters: []\n");
    let out = costguard(&["validate", &misaligned], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("a.yaml:4:4:") && stderr.contains("check the indentation"), "{stderr}");

    let huge = write(dir.path(), "b.yaml", &GOOD.replace("    actions:", "    max-resources: 99999999999999999999\n    actions:"));
    let out = costguard(&["validate", &huge], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("found 99999999999999999999"), "the number as written: {stderr}");

    let twin = write(dir.path(), "c.yaml", GOOD);
    let typo = write(dir.path(), "d.yaml", &GOOD.replace("never-expire", "other").replace("type: value", "type: valeu"));
    let empty = write(dir.path(), "e.yaml", "policies: []\n");
    let same_file_again = format!("{}/./{}", dir.path().display(), "c.yaml");
    let out = costguard(&["validate", &typo, &twin, &same_file_again, &support_good(dir.path()), &empty], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("costguard:") && !l.ends_with("found")).collect();
    assert_eq!(errors.len(), 2, "the typo and the duplicate, once each (c.yaml is read once): {stderr}");
    assert!(errors[0].contains("d.yaml:5:15") && errors[1].contains("duplicate policy name `never-expire`"), "sorted by file: {stderr}");
    assert!(stderr.contains("costguard: warning: ") && stderr.contains("e.yaml: declares no policies"), "{stderr}");
    assert!(stderr.ends_with("2 errors found\n"), "{stderr}");

    let out = costguard(&["validate", &empty], &[]);
    assert!(out.status.success(), "an empty policy list is a warning, not an error");
}

/// A second file with the reference policy, for the duplicate-name check.
fn support_good(dir: &Path) -> String {
    write(dir, "z.yaml", GOOD)
}

#[test]
fn an_empty_protection_tag_and_a_duration_without_unit_are_refused_before_anything_runs() {
    let out = costguard(&["sweep", "--dry-run", "--protect-tag", ""], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the protection tag cannot be empty"), "{out:?}");
    let out = costguard(&["sweep", "--dry-run", "--max-duration", "30"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a duration with a unit"), "{out:?}");
}

/// `n` log-group policies, each with one `regex` value filter of `pattern`.
fn regex_policies(n: usize, pattern: &str) -> String {
    let mut text = String::from("policies:\n");
    for i in 0..n {
        text.push_str(&format!("  - name: r{i}\n    resource: log-group\n    filters:\n      - type: value\n        key: logGroupName\n        op: regex\n        value: '{pattern}'\n"));
    }
    text
}

#[test]
fn costly_regexes_are_refused_with_their_place_and_a_config_has_a_regex_budget() {
    // 160 Unicode \w{200}: 1.8 GB with the regex crate's defaults.
    let (code, stderr) = validate(&regex_policies(160, r"\w{200}"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("p.yaml:8:16: policies[0].filters[0].value: regular expression too costly"), "{stderr}");
    assert!(stderr.contains("p.yaml:1121:16: policies[159]"), "every one is named: {stderr}");
    let (code, stderr) = validate(&regex_policies(160, r"(?-u)\w{200}"));
    assert_eq!(code, 0, "ASCII classes fit: {stderr}");
    let (code, stderr) = validate(&regex_policies(257, "^/app/"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("p.yaml:1800:16: policy r256: more than 256 regular expressions"), "{stderr}");
    assert_eq!(validate(&regex_policies(256, "^/app/")).0, 0);
}

#[test]
fn an_account_id_that_is_not_12_digits_never_names_a_folder() {
    let out = costguard(&["restore", "log-group", "/a", "--account", "../../../tmp/x"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("an account id is 12 digits"), "{stderr}");
}

#[test]
fn a_plan_file_past_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plan.json");
    // 17 MiB of blanks: refused by size before any parsing.
    std::fs::write(&path, vec![b' '; 17 * 1024 * 1024]).expect("write");
    let out = costguard(&["plan", "show", &path.to_string_lossy()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("larger than the limit of 16777216 bytes"), "{stderr}");
}
