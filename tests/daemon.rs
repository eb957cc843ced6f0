//! `costguard run` as an operator runs it: against the moto server, on a
//! two-second schedule; scraped, probed, reloaded with a broken config and
//! stopped with SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

fn config(dir: &Path, policies: &Path) -> String {
    format!(
        "policies: [{}]\nregions: [{}]\nstate-dir: {}\nreport-dir: {}\nlisten: 127.0.0.1:0\nschedule: \"*/2 * * * * *\"\nprices: builtin\n",
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
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let config_file = dir.path().join("costguard.yaml");
    std::fs::write(&config_file, config(dir.path(), &policies)).expect("write config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["--log-format", "json", "run", "--config", &config_file.to_string_lossy()])
        .envs(moto.env())
        .env("COSTGUARD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start costguard run");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let address = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();

    assert_eq!(get(&address, "/healthz"), (200, "ok\n".to_string()));
    let health = Command::new(env!("CARGO_BIN_EXE_costguard")).args(["health", "--address", &address]).status().expect("run health");
    assert!(health.success(), "the container health check passes");

    // A sweep happens on the schedule, and the metrics say what it did.
    let mut scrape = String::new();
    wait_for("a sweep", Duration::from_secs(60), || {
        scrape = get(&address, "/metrics").1;
        metric(&scrape, "costguard_sweeps_total{schedule=\"*/2 * * * * *\",outcome=\"ok\"}") >= 1.0
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
    signal(&child, "HUP");
    wait_for("the rejected reload", Duration::from_secs(30), || {
        metric(&get(&address, "/metrics").1, "costguard_config_reloads_total{outcome=\"failed\"}") >= 1.0
    });
    let sweeps = |s: &str| metric(s, "costguard_sweeps_total{schedule=\"*/2 * * * * *\",outcome=\"ok\"}");
    let before = sweeps(&get(&address, "/metrics").1);
    wait_for("a sweep after the rejected reload", Duration::from_secs(30), || sweeps(&get(&address, "/metrics").1) > before);
    assert_eq!(get(&address, "/readyz").0, 200, "still ready on the last good config");

    // A fixed file is picked up without a signal.
    std::fs::write(&policies, support::NEVER_EXPIRE.replace("never-expire", "never-expire-v2")).expect("write fixed policies");
    wait_for("the reload of the fixed file", Duration::from_secs(30), || {
        let scrape = get(&address, "/metrics").1;
        metric(&scrape, "costguard_config_reloads_total{outcome=\"ok\"}") >= 1.0 && scrape.contains("policy=\"never-expire-v2\"")
    });

    signal(&child, "TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "costguard did not stop within 60 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
    let mut logs = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut logs).expect("read logs");
    assert!(logs.contains("config reload rejected") && logs.contains("log-groop"), "the rejection and its reason are logged: {logs}");
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
    std::fs::write(&config_file, config(dir.path(), &policies)).expect("write config");
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
