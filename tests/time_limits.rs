//! Nothing waits for ever on the network: an AWS call that is never
//! answered fails at its time limit and the rest of the sweep goes on; a
//! sweep stops at its own limit and still writes its report; a CLI sweep
//! against an endpoint that accepts and never answers exits with one line.
//! Every test is bounded by an outer timeout, so a regression fails
//! instead of hanging CI.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use costguard::aws::{ApiCallCounter, Aws, CallLimits};
use costguard::config::{compile_text, Policy};
use costguard::progress::Progress;
use costguard::sweep::{self, SweepResult};
use support::fake_aws::{Answer, FakeAws};
use tokio_util::sync::CancellationToken;

/// Log groups that never expire (their listing is made to hang) and
/// notebooks (answered by moto), in one sweep.
fn policies() -> Vec<Policy> {
    let text = "policies:
  - name: log-groups-never-expire
    resource: log-group
    filters:
      - type: value
        key: retentionInDays
        value: absent
  - name: notebooks
    resource: sagemaker-notebook
";
    compile_text(Path::new("limits.yaml"), text).expect("valid")
}

/// Short limits, so that the test takes seconds.
fn short() -> CallLimits {
    CallLimits {
        connect: Duration::from_secs(1),
        read: Duration::from_secs(1),
        attempt: Duration::from_secs(1),
        call: Duration::from_secs(2),
        ..CallLimits::default()
    }
}

/// moto for everything, but DescribeLogGroups is never answered.
async fn hanging_logs(moto: &support::Moto, limits: CallLimits) -> (FakeAws, Aws) {
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    fake.on("DescribeLogGroups", |_| Answer::Never);
    let aws = Aws::from_config(fake.sdk_config(true).await, ApiCallCounter::new()).with_limits(limits);
    (fake, aws)
}

async fn bounded_sweep(aws: &Aws, options: &sweep::SweepOptions) -> (SweepResult, Duration) {
    let started = Instant::now();
    let (policies, clock, progress, cancel) = (policies(), support::wall_clock(), Progress::hidden(), CancellationToken::new());
    let run = sweep::run(aws, &policies, options, &clock, &progress, &cancel);
    let result = tokio::time::timeout(Duration::from_secs(60), run).await.expect("the sweep ends within a minute").expect("the sweep runs");
    (result, started.elapsed())
}

#[tokio::test]
async fn an_aws_call_never_answered_fails_at_its_limit_and_the_rest_of_the_sweep_goes_on() {
    let moto = support::moto().await;
    support::seed_notebook(&moto, "left-running", 3.0).await;
    let (fake, aws) = hanging_logs(&moto, short()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (result, took) = bounded_sweep(&aws, &support::sweep_options(dir.path(), true)).await;

    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!fake.calls("DescribeLogGroups").is_empty());
    let logs_error = result.report.errors.iter().find(|e| e.resource_type == Some(costguard::resources::ResourceType::LogGroup)).expect("a listing error");
    assert!(logs_error.message.starts_with("logs DescribeLogGroups failed: Timeout"), "{logs_error:?}");
    let log_policy = result.report.policies.iter().find(|p| p.name == "log-groups-never-expire").expect("summary");
    assert_eq!(log_policy.incomplete_regions, [support::REGION]);
    // The notebooks were listed and found all the same.
    assert!(result.report.findings.iter().any(|f| f.resource_id == "left-running"), "{:?}", result.report.findings);
    assert!(dir.path().join("report/report.json").exists());
}

#[tokio::test]
async fn a_sweep_stops_at_its_own_time_limit_and_still_writes_its_report() {
    let moto = support::moto().await;
    support::seed_notebook(&moto, "left-running", 3.0).await;
    // Calls may take a minute each; the sweep may take two seconds.
    let patient = CallLimits { call: Duration::from_secs(60), attempt: Duration::from_secs(60), ..short() };
    let (_fake, aws) = hanging_logs(&moto, patient).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(dir.path(), true);
    options.limits.max_duration = Some(Duration::from_secs(2));
    let (result, took) = bounded_sweep(&aws, &options).await;

    assert!(took < Duration::from_secs(15), "took {took:?}");
    let messages: Vec<&str> = result.report.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(messages.iter().any(|m| m.starts_with("the sweep reached its time limit (2 s) and stopped")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("was stopped (a signal or its time limit) before this listing finished")), "{messages:?}");
    assert!(dir.path().join("report/report.json").exists(), "the report is written");
}

#[test]
fn a_cli_sweep_against_an_endpoint_that_never_answers_exits_with_one_line() {
    // Accepts connections and reads nothing back: the half-dead endpoint.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(20).flatten() {
            open.push(stream);
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("costguard.yaml");
    std::fs::write(&config, "time-limits:\n  aws-connect-seconds: 1\n  aws-read-seconds: 1\n  aws-attempt-seconds: 1\n  aws-call-seconds: 2\n")
        .expect("write config");
    let policies = dir.path().join("p.yaml");
    std::fs::write(&policies, "policies:\n  - name: all-groups\n    resource: log-group\n").expect("write policies");
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["sweep", "--dry-run", "--prices", "builtin", "--skip-guardrails", "--config"])
        .arg(&config)
        .arg("--policies")
        .arg(&policies)
        .arg("--report-dir")
        .arg(dir.path().join("report"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", support::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("COSTGUARD_STATE_DIR", dir.path().join("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("costguard starts");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the sweep still waits after a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with(&format!("costguard: cannot reach {endpoint}")) && last.ends_with("nothing was listed or changed"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    drop(held);
}

/// A loopback proxy to `upstream` (moto) that accepts a request naming
/// `hold` and never answers it; every other request goes through. The flag
/// says when a held request has arrived.
fn proxy_holding(upstream: &str, hold: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let upstream = upstream.trim_start_matches("http://").to_string();
    let held = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = held.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let (upstream, flag) = (upstream.clone(), flag.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    let n = stream.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.trim().parse().ok()))
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    let n = stream.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                // The operation is in a header (JSON protocols) or the form body (query).
                if String::from_utf8_lossy(&request).contains(hold) {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    loop {
                        std::thread::park();
                    }
                }
                // One request per upstream connection, closed after its answer.
                let kept: Vec<&str> = head.trim_end().lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
                let mut upstream = std::net::TcpStream::connect(&upstream)?;
                upstream.write_all(format!("{}\r\nConnection: close\r\n\r\n", kept.join("\r\n")).as_bytes())?;
                upstream.write_all(&request[head_end..])?;
                let mut answer = Vec::new();
                upstream.read_to_end(&mut answer)?;
                stream.write_all(&answer)
            });
        }
    });
    (endpoint, held)
}

/// `costguard sweep` (a real run) of the never-expire policy, pointed at `endpoint`.
fn cli_sweep(dir: &Path, endpoint: &str) -> std::process::Child {
    let config = dir.join("costguard.yaml");
    // Patient limits: only signals can end a wait here.
    std::fs::write(&config, "time-limits:\n  aws-read-seconds: 600\n  aws-attempt-seconds: 600\n  aws-call-seconds: 600\n").expect("write config");
    let policies = dir.join("p.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["sweep", "--prices", "builtin", "--skip-guardrails", "--config"])
        .arg(&config)
        .arg("--policies")
        .arg(&policies)
        .arg("--report-dir")
        .arg(dir.join("report"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", support::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("COSTGUARD_STATE_DIR", dir.join("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("costguard starts")
}

#[tokio::test]
async fn signals_always_work_a_first_stops_a_waiting_check_a_second_exits_during_a_hung_change_and_the_next_run_settles_it() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/forever", None, &[])]).await;

    // 1. The access check never answered: the first SIGTERM ends it (exit 1).
    let (stuck, _) = proxy_holding(&moto.endpoint, "GetCallerIdentity");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = cli_sweep(dir.path(), &stuck);
    std::thread::sleep(Duration::from_millis(1500));
    support::signal(&child, "TERM");
    let code = support::exit_within(&mut child, Duration::from_secs(10));
    let _ = child.kill();
    assert_eq!(code, Some(1), "the first signal ends a sweep waiting on its access check");

    // 2. The change itself hangs: the first SIGTERM waits for it (the change
    // under way finishes); the second exits at once, with 130.
    let (hung, held) = proxy_holding(&moto.endpoint, "PutRetentionPolicy");
    let mut child = cli_sweep(dir.path(), &hung);
    let started = Instant::now();
    while !held.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(started.elapsed() < Duration::from_secs(60), "the sweep never reached its change");
        std::thread::sleep(Duration::from_millis(50));
    }
    support::signal(&child, "TERM");
    assert_eq!(support::exit_within(&mut child, Duration::from_millis(1500)), None, "the first signal lets the change under way finish");
    support::signal(&child, "INT");
    let code = support::exit_within(&mut child, Duration::from_secs(5));
    let _ = child.kill();
    assert_eq!(code, Some(130), "the second signal exits at once");
    assert_eq!(support::retention_by_group(&moto).await["/app/forever"], None, "the held change never reached moto");

    // 3. The next run finds the journaled change unsettled, sees it never
    // happened, settles it and makes it.
    let mut child = cli_sweep(dir.path(), &moto.endpoint);
    let code = support::exit_within(&mut child, Duration::from_secs(60));
    let output = child.wait_with_output().expect("output");
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(support::retention_by_group(&moto).await["/app/forever"], Some(30));
    let journal = costguard::engine::journal::Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    assert_eq!(journal.actions().count(costguard::engine::actions::ActionState::Abandoned).expect("count"), 1, "the interrupted one, settled");
    assert_eq!(journal.actions().count(costguard::engine::actions::ActionState::Done).expect("count"), 1);
}

/// One account's burst of calls to one API is paced on costguard's side
/// (src/aws/pace.rs): 40 ListMetrics at once on a handle paced at 10 a
/// second (`time-limits.aws-calls-per-second: 10`, a bucket of 20) go out
/// 20 at once, the others wait for their token; all 40 are answered
/// (moto), none is refused or throttled. Another handle (another account)
/// has buckets of its own.
#[tokio::test]
async fn a_burst_to_one_api_waits_for_its_tokens_and_another_account_does_not() {
    let moto = support::moto().await;
    let limits = costguard::config::daemon::compile_text(Path::new("c.yaml"), "time-limits:\n  aws-calls-per-second: 10\n").expect("valid").time_limits.aws;
    assert_eq!(limits.rate, costguard::aws::pace::Rate { per_second: 10.0, burst: 20.0 });
    let aws = moto.aws().await.with_limits(limits);
    let cw = aws.cloudwatch(support::REGION);
    let calls = (0..40).map(|_| cw.list_namespace("AWS/SageMaker"));
    let answers = tokio::time::timeout(Duration::from_secs(60), futures_util::future::join_all(calls)).await.expect("within a minute");
    assert!(answers.iter().all(Result::is_ok), "every call answered: {:?}", answers.iter().find(|a| a.is_err()));
    assert_eq!(aws.counter().snapshot().get("cloudwatch:ListMetrics"), Some(&40));
    // At least the 20 past the burst waited, less the few tokens that came
    // back while the requests were being built.
    let waited = aws.pacer().waits().get("cloudwatch:ListMetrics").copied().unwrap_or(0);
    assert!((10..=20).contains(&waited), "{waited} of 40 waited");
    assert!(aws.counter().throttles().is_empty());

    let other = aws.counted_apart();
    let cw = other.cloudwatch(support::REGION);
    for answer in futures_util::future::join_all((0..5).map(|_| cw.list_namespace("AWS/SageMaker"))).await {
        answer.expect("answered");
    }
    assert!(other.pacer().waits().is_empty(), "another account's bucket is full: {:?}", other.pacer().waits());
}
