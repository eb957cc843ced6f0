//! `costguard run` as an operator runs it: against the moto server, on
//! schedules a few seconds ahead (sweeps run at most once a minute, so the
//! test picks the second); scraped, probed, reloaded with a broken config
//! and stopped with SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `costguard run` with `env`, JSON logs to `stderr`; the child and the
/// address it listens on (its first line).
fn start_daemon(config_file: &Path, env: Vec<(&'static str, String)>, stderr: Stdio) -> (Child, String) {
    spawn_daemon(Command::new(env!("CARGO_BIN_EXE_costguard")), config_file, env, stderr)
}

/// `command` (the binary, or a shell that sets limits and runs it) with
/// `costguard run`'s arguments.
fn spawn_daemon(mut command: Command, config_file: &Path, env: Vec<(&'static str, String)>, stderr: Stdio) -> (Child, String) {
    let mut child = command
        .args(["--log-format", "json", "run", "--config", &config_file.to_string_lossy()])
        .envs(env)
        .env("COSTGUARD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start costguard run");
    // The pipe stays with the child (open for the rest of the test).
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("first line");
    let address = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
    (child, address)
}

/// GET: (status code, body); (0, "") when nothing answers.
fn get(address: &str, path: &str) -> (u16, String) {
    let response = support::http(address, "GET", path, "").unwrap_or_default();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The value of one metric line (`name{labels}`) in a scrape, 0 when absent.
fn metric(scrape: &str, series: &str) -> f64 {
    scrape.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A once-a-minute schedule whose first run is `ahead` seconds from now.
fn schedule_in(ahead: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{} * * * * *", (now + ahead) % 60)
}

/// Scheduled sweeps that went well, over every schedule.
fn sweeps_ok(scrape: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with("costguard_sweeps_total{") && l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn config(dir: &Path, policies: &Path, schedule: &str) -> String {
    format!(
        "policies: [{}]\nregions: [{}]\nstate-dir: {}\nreport-dir: {}\nlisten: 127.0.0.1:0\nschedule: \"{schedule}\"\nprices: builtin\n",
        policies.display(),
        support::REGION,
        dir.join("state").display(),
        dir.join("report").display()
    )
}

#[tokio::test]
async fn the_daemon_sweeps_on_schedule_serves_health_and_metrics_survives_a_bad_reload_and_stops_cleanly() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/forever", None, &[]), ("/app/week", Some(7), &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    // The config's schedule fires in 4 s; a second policy of its own in
    // 14 s, so a sweep follows the rejected reload below within the minute.
    let later =
        format!("{}    schedule: \"{}\"\n", support::NEVER_EXPIRE.replace("policies:\n", "").replace("never-expire", "never-expire-later"), schedule_in(14));
    std::fs::write(&policies, format!("{}{later}", support::NEVER_EXPIRE)).expect("write policies");
    let config_file = dir.path().join("costguard.yaml");
    std::fs::write(&config_file, config(dir.path(), &policies, &schedule_in(4))).expect("write config");

    let (mut child, address) = start_daemon(&config_file, moto.env(), Stdio::piped());

    assert_eq!(get(&address, "/healthz"), (200, "ok\n".to_string()));
    let health = Command::new(env!("CARGO_BIN_EXE_costguard")).args(["health", "--address", &address]).status().expect("run health");
    assert!(health.success(), "the container health check passes");

    // A sweep happens on the schedule, and the metrics say what it did.
    let mut scrape = String::new();
    wait_for("a sweep", Duration::from_secs(75), || {
        scrape = get(&address, "/metrics").1;
        sweeps_ok(&scrape) >= 1.0
    });
    assert_eq!(metric(&scrape, "costguard_findings{policy=\"never-expire\"}"), 1.0, "{scrape}");
    assert!(metric(&scrape, "costguard_api_calls_total{operation=\"logs:DescribeLogGroups\"}") >= 1.0, "{scrape}");
    assert!(metric(&scrape, "costguard_last_sweep_timestamp_seconds") > 1.7e9, "{scrape}");
    assert_eq!(support::retention_by_group(&moto).await["/app/forever"], Some(30), "a real sweep applied the policy");
    assert_eq!(get(&address, "/readyz").0, 200);
    let (status, page) = get(&address, "/report");
    assert_eq!(status, 200);
    assert!(page.contains("<h1>costguard sweep report</h1>") && page.contains("never-expire"), "{page}");

    // A broken policy file is rejected; the last good version keeps sweeping.
    std::fs::write(&policies, "policies:\n  - name: broken\n    resource: log-groop\n").expect("write broken policies");
    support::signal(&child, "HUP");
    wait_for("the rejected reload", Duration::from_secs(30), || {
        metric(&get(&address, "/metrics").1, "costguard_config_reloads_total{outcome=\"failed\"}") >= 1.0
    });
    let before = sweeps_ok(&get(&address, "/metrics").1);
    wait_for("a sweep after the rejected reload", Duration::from_secs(75), || sweeps_ok(&get(&address, "/metrics").1) > before);
    assert_eq!(get(&address, "/readyz").0, 200, "still ready on the last good config");

    // A fixed file is picked up without a signal.
    std::fs::write(&policies, support::NEVER_EXPIRE.replace("never-expire", "never-expire-v2")).expect("write fixed policies");
    wait_for("the reload of the fixed file", Duration::from_secs(30), || {
        metric(&get(&address, "/metrics").1, "costguard_config_reloads_total{outcome=\"ok\"}") >= 1.0
    });

    support::signal(&child, "TERM");
    assert_eq!(support::exit_within(&mut child, Duration::from_secs(60)), Some(0), "a clean stop within 60 s of SIGTERM exits 0");
    let mut logs = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut logs).expect("read logs");
    assert!(logs.contains("config reload rejected") && logs.contains("log-groop"), "the rejection and its reason are logged: {logs}");
    assert!(logs.contains("config reloaded") && logs.contains("1 policies"), "the fixed file (one policy, the good one had two) is in force: {logs}");
    assert!(logs.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "JSON logs, one object a line");
}

#[test]
fn run_once_sweeps_every_policy_and_exits_with_the_sweep_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = dir.path().join("costguard.yaml");
    std::fs::write(&config_file, "policies: [missing/]\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard")).args(["run", "--once", "--config", &config_file.to_string_lossy()]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn run_once_applies_the_policies_of_the_config() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/forever", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let config_file = dir.path().join("costguard.yaml");
    std::fs::write(&config_file, config(dir.path(), &policies, "0 0 * * * *")).expect("write config");
    // `--dry-run` and `--region` mean what they mean for `sweep`.
    let config_arg = config_file.to_string_lossy().into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["run", "--once", "--config", &config_arg, "--dry-run", "--region", "eu-west-3"])
        .envs(moto.env())
        .env("COSTGUARD_LOG", "warn")
        .output()
        .expect("run --once --dry-run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).expect("report.json")).expect("JSON");
    assert_eq!((json["dry_run"].as_bool(), json["regions"].clone()), (Some(true), serde_json::json!(["eu-west-3"])));
    assert_eq!(support::retention_by_group(&moto).await["/app/forever"], None, "a dry run changes nothing");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["run", "--once", "--config", &config_file.to_string_lossy()])
        .envs(moto.env())
        .env("COSTGUARD_LOG", "warn")
        .output()
        .expect("run --once");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sweep: 1 findings"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(support::retention_by_group(&moto).await["/app/forever"], Some(30));
    assert!(dir.path().join("report/report.html").exists());
}

#[tokio::test]
async fn with_approval_required_a_sweep_only_saves_its_plan_and_apply_does_it() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/forever", None, &[]), ("/app/also", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let config_file = dir.path().join("costguard.yaml");
    std::fs::write(&config_file, format!("{}approval: required\n", config(dir.path(), &policies, "0 0 * * * *"))).expect("write config");
    let costguard = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_costguard")).args(args).envs(moto.env()).env("COSTGUARD_LOG", "warn").output().expect("costguard runs")
    };
    let config_arg = config_file.to_string_lossy().into_owned();
    let out = costguard(&["run", "--once", "--config", &config_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(support::retention_by_group(&moto).await["/app/forever"], None, "nothing changes before the plan is applied");
    let plans: Vec<std::path::PathBuf> =
        std::fs::read_dir(dir.path().join("state/plans")).expect("a plans folder").filter_map(|e| e.ok().map(|e| e.path())).collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
    let report = std::fs::read_to_string(dir.path().join("report/report.md")).expect("report");
    assert!(report.contains("2 changes saved for review in") && report.contains("costguard apply"), "{report}");

    // A person removes one group from review by protecting it, then applies.
    let logs = moto.logs().await;
    let arn = format!("arn:aws:logs:{}:123456789012:log-group:/app/also", support::REGION);
    logs.tag_resource().resource_arn(arn).tags("costguard:protect", "yes").send().await.expect("protect");
    let plan = plans[0].to_string_lossy().into_owned();
    let out = costguard(&["apply", "--config", &config_arg, &plan]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let retention = support::retention_by_group(&moto).await;
    assert_eq!((retention["/app/forever"], retention["/app/also"]), (Some(30), None));
    let report = std::fs::read_to_string(dir.path().join("report/report.json")).expect("report");
    assert!(report.contains("\"role\": \"applied\"") && report.contains("became protected"), "{report}");
}

/// GET with headers: (status code, body).
fn get_with(address: &str, path: &str, headers: &str) -> (u16, String) {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return (0, String::new()) };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Connection: close\r\n\r\n");
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut response).is_err() {
        return (0, String::new());
    }
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// A bearer token as `openssl rand -hex 32` makes one.
const TOKEN: &str = "0c3f5e1d9a7b2046e8c1d3f5a7b9e0c2d4f6a8b0c1e3f5d7a9b2c4e6f8a0b1c3";

#[test]
fn a_short_http_token_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    std::fs::write(dir.path().join("token"), "s3cret-token\n").expect("write token");
    let config_file = dir.path().join("costguard.yaml");
    std::fs::write(&config_file, format!("{}http-token-file: token\n", config(dir.path(), &policies, "0 0 0 1 1 *"))).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_costguard")).args(["validate", "--config"]).arg(&config_file).output().expect("validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("the token is 12 characters; at least 32 are required"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "never the token itself: {stderr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["run", "--config"])
        .arg(&config_file)
        .env("COSTGUARD_LOG", "warn")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("at least 32 are required"), "the daemon does not start: {stderr}");
}

#[test]
fn the_listener_outlasts_half_open_clients_keeps_its_pages_behind_the_token_and_stops_promptly() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).expect("write token");
    let config_file = dir.path().join("costguard.yaml");
    // A yearly schedule: no sweep runs; AWS is an endpoint nothing listens
    // on, so the daemon is up but not ready, with a reason.
    std::fs::write(&config_file, format!("{}http-token-file: token\n", config(dir.path(), &policies, "0 0 0 1 1 *"))).expect("write config");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let env = vec![
        ("AWS_ENDPOINT_URL", format!("http://{closed}")),
        ("AWS_REGION", support::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
    ];
    let (mut child, address) = start_daemon(&config_file, env, Stdio::null());

    // 200 clients that connect and never finish a request.
    let half_open: Vec<std::net::TcpStream> = (0..200)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&address).expect("connect");
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n");
            s
        })
        .collect();
    let asked = Instant::now();
    assert_eq!(get(&address, "/healthz"), (200, "ok\n".to_string()), "the health check is answered beside them");
    assert!(asked.elapsed() < Duration::from_secs(2), "{:?}", asked.elapsed());
    // The server drops them at its header-read limit (5 s).
    let mut first = half_open.into_iter().next().expect("one");
    first.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut rest = Vec::new();
    let dropped = Instant::now();
    let _ = first.read_to_end(&mut rest);
    assert!(dropped.elapsed() < Duration::from_secs(15), "a half-open client is dropped: {:?}", dropped.elapsed());

    // The token guards the report, the metrics and readiness's reason.
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    let bearer = bearer.as_str();
    assert_eq!(get_with(&address, "/metrics", "").0, 401);
    assert_eq!(get_with(&address, "/report", "Authorization: Bearer guess\r\n").0, 401);
    assert_eq!(get_with(&address, "/metrics", bearer).0, 200);
    wait_for("the start-up check", Duration::from_secs(30), || get_with(&address, "/readyz", bearer).1.contains("AWS"));
    assert_eq!(get_with(&address, "/readyz", ""), (503, "not ready\n".to_string()), "no AWS error text without the token");

    // A rotated token file is read again: the old token stops working.
    let rotated = TOKEN.replace('0', "f");
    std::fs::write(dir.path().join("token"), format!("{rotated}\n")).expect("rotate token");
    let new_bearer = format!("Authorization: Bearer {rotated}\r\n");
    wait_for("the rotated token", Duration::from_secs(20), || get_with(&address, "/metrics", &new_bearer).0 == 200);
    assert_eq!(get_with(&address, "/metrics", bearer).0, 401, "the old token no longer opens it");

    // A stop with a half-open client still connected is prompt.
    let _lingering = std::net::TcpStream::connect(&address).expect("connect");
    support::signal(&child, "TERM");
    let start = Instant::now();
    assert_eq!(support::exit_within(&mut child, Duration::from_secs(15)), Some(0), "a clean stop within 15 s of SIGTERM exits 0");
    assert!(start.elapsed() < Duration::from_secs(5), "stopped in {:?}", start.elapsed());
}

#[tokio::test]
async fn the_spend_velocity_check_runs_on_its_own_schedule_between_sweeps() {
    let moto = support::moto().await;
    let now = chrono::Utc::now();
    // Claude 3 Haiku: 400,000 in ($0.10) and 40,000 out ($0.05) every 10 minutes.
    let points: Vec<(&str, chrono::DateTime<chrono::Utc>, f64, f64)> =
        (1..6).map(|k| ("anthropic.claude-3-haiku-20240307-v1:0", now - chrono::Duration::minutes(k * 10), 400_000.0, 40_000.0)).collect();
    support::put_tokens(&moto, &points).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("guardrails.yaml");
    std::fs::write(
        &policies,
        format!(
            "guardrails:\n  email: [a@example.com]\n  billing-alarms: {{enabled: false}}\n  anomaly-detection: {{enabled: false}}\n  spend: {{enabled: false}}\n  spend-velocity:\n    schedule: \"{}\"\n",
            schedule_in(3)
        ),
    )
    .expect("write guardrails");
    let config_file = dir.path().join("costguard.yaml");
    // The sweeps' own schedule: once a year.
    std::fs::write(&config_file, config(dir.path(), &policies, "0 0 0 1 1 *")).expect("write config");
    let (mut child, address) = start_daemon(&config_file, moto.env(), Stdio::null());

    let mut scrape = String::new();
    wait_for("the spend-velocity check", Duration::from_secs(75), || {
        scrape = get(&address, "/metrics").1;
        scrape.contains("costguard_ai_spend_usd_per_hour{model=")
    });
    let series = "costguard_ai_spend_usd_per_hour{model=\"anthropic.claude-3-haiku-20240307-v1:0\",region=\"us-east-1\"}";
    assert!(metric(&scrape, series) > 0.0, "{scrape}");
    assert_eq!(sweeps_ok(&scrape), 0.0, "no sweep ran: the check has its own schedule");
    let written = std::fs::read_to_string(dir.path().join("report/ai-spend.json")).expect("ai-spend.json");
    let json: serde_json::Value = serde_json::from_str(&written).expect("JSON");
    assert_eq!(json["models"][0]["model_id"], "anthropic.claude-3-haiku-20240307-v1:0", "{json}");
    support::signal(&child, "TERM");
    assert_eq!(support::exit_within(&mut child, Duration::from_secs(30)), Some(0));
}

/// Opens `n` clients that never finish a request: every other one sends
/// nothing, the others part of a request line (slow clients).
fn half_open_clients(address: &str, n: usize) -> Vec<std::net::TcpStream> {
    use std::io::Write;
    (0..n)
        .filter_map(|i| {
            let mut s = std::net::TcpStream::connect(address).ok()?;
            if i % 2 == 1 {
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x");
            }
            Some(s)
        })
        .collect()
}

/// `path` answered, and how long the answer took.
fn timed_get(address: &str, path: &str) -> ((u16, String), Duration) {
    let asked = Instant::now();
    let answer = get(address, path);
    (answer, asked.elapsed())
}

#[tokio::test]
async fn two_thousand_half_open_clients_do_not_fail_a_health_check_and_sigterm_still_stops_the_daemon() {
    let moto = support::moto().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let config_file = dir.path().join("costguard.yaml");
    // A yearly schedule: no sweep runs; AWS answers, so the daemon is ready.
    std::fs::write(&config_file, config(dir.path(), &policies, "0 0 0 1 1 *")).expect("write config");
    // Twice: with the file descriptors the deployment files give (the
    // connection limit is reached first), and with only 300 (the process
    // runs out of descriptors first). Either way the oldest idle client
    // makes room.
    for nofile in [None, Some(300)] {
        let command = match nofile {
            None => Command::new(env!("CARGO_BIN_EXE_costguard")),
            Some(n) => {
                let mut shell = Command::new("sh");
                shell.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_costguard")]);
                shell
            }
        };
        let (mut child, address) = spawn_daemon(command, &config_file, moto.env(), Stdio::null());
        wait_for("readiness", Duration::from_secs(30), || get(&address, "/readyz").0 == 200);

        let flood = half_open_clients(&address, 2000);
        assert_eq!(flood.len(), 2000, "every client connected");
        for path in ["/healthz", "/readyz"] {
            let (answer, took) = timed_get(&address, path);
            assert_eq!(answer.0, 200, "{path} with 2,000 half-open clients (descriptors: {nofile:?}): {answer:?}");
            assert!(took < Duration::from_secs(1), "{path} answered in {took:?} (descriptors: {nofile:?})");
        }
        // A second wave while the first is still open.
        let second = half_open_clients(&address, 2000);
        let (answer, took) = timed_get(&address, "/healthz");
        assert_eq!(answer, (200, "ok\n".to_string()));
        assert!(took < Duration::from_secs(1), "{took:?}");

        support::signal(&child, "TERM");
        assert_eq!(support::exit_within(&mut child, Duration::from_secs(30)), Some(0), "SIGTERM stops it within 30 s with 4,000 clients connected");
        drop((flood, second));
    }
}

#[tokio::test]
async fn the_daemon_tells_a_creation_within_seconds_of_its_event_and_stops_at_once_while_it_waits_for_more() {
    let moto = support::moto().await;
    let sink = support::smtp::SmtpSink::start(None);
    let queues = moto.command_with_answer(&serde_json::json!({"op": "events_queue", "region": support::REGION, "name": "daemon-events"}).to_string());
    let queue = queues["queue"].as_str().expect("queue URL").to_string();
    support::seed_endpoint(&moto, "nightly-eval", &[("AllTraffic", "ml.g4dn.xlarge", 1)], &[], 0.0).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("none.yaml");
    std::fs::write(&policies, "policies: []\n").expect("write policies");
    let config_file = dir.path().join("costguard.yaml");
    let events = format!("events:\n  queue: {queue}\n  notify: [finops@example.com]\n");
    // The sweeps' own schedule: once a year; the events are heard at once.
    let text = format!("{}{}{events}", config(dir.path(), &policies, "0 0 0 1 1 *"), support::smtp::smtp_config(&sink, ""));
    std::fs::write(&config_file, text).expect("write config");
    let (mut child, address) = start_daemon(&config_file, moto.env(), Stdio::null());

    let record = serde_json::json!({
        "eventID": "daemon-1", "eventSource": "sagemaker.amazonaws.com", "eventName": "CreateEndpoint", "awsRegion": support::REGION,
        "userIdentity": {"type": "IAMUser", "userName": "dee"},
        "requestParameters": {"endpointName": "nightly-eval"}
    });
    let put = Instant::now();
    moto.command(&serde_json::json!({"op": "put_events", "region": support::REGION, "events": [{"source": "aws.sagemaker", "detail": record}]}).to_string());
    wait_for("the creation's email", Duration::from_secs(30), || !sink.messages().is_empty());
    let took = put.elapsed();
    let mail = sink.messages();
    assert_eq!(mail[0].rcpt_tos, ["finops@example.com"], "dee is no address: the events' own recipients");
    assert!(mail[0].subject.contains("dee created SageMaker endpoint nightly-eval"), "{}", mail[0].subject);
    assert!(took < Duration::from_secs(25), "told within one long poll: {took:?}");
    let mut scrape = String::new();
    wait_for("the events metric", Duration::from_secs(10), || {
        scrape = get(&address, "/metrics").1;
        metric(&scrape, "costguard_events_total{outcome=\"told\"}") == 1.0
    });

    // SIGTERM during the next long poll: out at once, not after it.
    let stop = Instant::now();
    support::signal(&child, "TERM");
    assert_eq!(support::exit_within(&mut child, Duration::from_secs(30)), Some(0));
    assert!(stop.elapsed() < Duration::from_secs(10), "{:?}", stop.elapsed());
}
