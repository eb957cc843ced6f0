//! Test support: a real moto server over HTTP, shared by the tests of one
//! test binary, reset before each test.
//!
//! The server runs from the project's virtualenv (`scripts/test.sh` makes
//! it). A missing emulator fails the test with instructions; it never skips.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudwatchlogs::config::Credentials;
use costguard::aws::{ApiCallCounter, Aws};

pub const REGION: &str = "us-east-1";

/// The policy most tests use: 30 days for log groups that never expire.
pub const NEVER_EXPIRE: &str = "policies:
  - name: never-expire
    resource: log-group
    filters:
      - type: value
        key: retentionInDays
        value: absent
    actions:
      - type: set-retention
        days: 30
";

/// Idle endpoints: told, marked, deleted after a week's grace.
/// One policy (a `policies:` item): endpoints with no invocations in 14
/// days are deleted, no grace period.
pub const DELETE_IDLE_ENDPOINTS: &str = "  - name: idle-endpoints
    resource: sagemaker-endpoint
    filters:
      - type: metrics
        name: Invocations
        statistic: Sum
        days: 14
        value: 0
        missing-data: zero
    actions:
      - delete
";

pub const IDLE_ENDPOINTS: &str = "policies:
  - name: idle-endpoints
    resource: sagemaker-endpoint
    filters:
      - type: value
        key: EndpointStatus
        value: InService
      - type: age
        days: 14
      - type: metrics
        name: Invocations
        statistic: Sum
        days: 14
        value: 0
        missing-data: zero
    actions:
      - notify
      - type: mark
        days: 7
      - delete
";

/// [`IDLE_ENDPOINTS`] deleted at once: no notice, no grace period.
pub fn idle_endpoints_at_once() -> String {
    IDLE_ENDPOINTS.replace("      - notify\n      - type: mark\n        days: 7\n", "")
}

pub mod browser;
pub mod fake_aws;
pub mod http_sink;
pub mod slow_proxy;
pub mod smtp;

/// A helper script run by the tests' Python (moto_server.py, smtp_sink.py):
/// prints "ready PORT", then answers one JSON command per line with "ok"
/// (and maybe more lines) or "error: ...", and exits when stdin closes.
pub struct ScriptProcess {
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

impl ScriptProcess {
    /// Starts `tests/support/{script}` and returns it with the port it serves on.
    pub fn start(script: &str, args: &[&str]) -> (Self, u16) {
        let python = python();
        assert!(
            python.exists(),
            "the test dependencies are not installed: {} is missing. Run `scripts/test.sh` (it installs the pinned \
             test dependencies into .venv and runs the tests), or set COSTGUARD_TEST_PYTHON.",
            python.display()
        );
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(script);
        let mut child = Command::new(&python)
            .arg(&path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script} with {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the script's first line");
        let port: u16 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} did not start (said {line:?}); are the test dependencies installed in .venv?"));
        (ScriptProcess { io: Mutex::new((stdin, stdout)), _child: child }, port)
    }

    /// Sends one command, checks its "ok", and reads `extra` more lines of answer.
    pub fn exchange(&self, json: &str, extra: usize) -> Vec<String> {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(io.0, "{json}").expect("write to the script");
        io.0.flush().expect("flush");
        let mut answer = String::new();
        io.1.read_line(&mut answer).expect("read from the script");
        assert_eq!(answer.trim(), "ok", "command {json} failed");
        (0..extra)
            .map(|_| {
                let mut line = String::new();
                io.1.read_line(&mut line).expect("read the answer");
                line
            })
            .collect()
    }
}

pub struct Moto {
    pub endpoint: String,
    process: ScriptProcess,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static ONE_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("COSTGUARD_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn start() -> Moto {
    let (process, port) = ScriptProcess::start("moto_server.py", &["0"]);
    Moto { endpoint: format!("http://127.0.0.1:{port}"), process }
}

/// The shared emulator, reset, held for the duration of one test.
pub struct MotoGuard {
    pub moto: &'static Moto,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

pub async fn moto() -> MotoGuard {
    let turn = ONE_TEST_AT_A_TIME.lock().await;
    let moto = MOTO.get_or_init(start);
    moto.reset();
    MotoGuard { moto, _turn: turn }
}

impl std::ops::Deref for MotoGuard {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        self.moto
    }
}

impl Moto {
    /// POST /moto-api/reset: every backend back to empty.
    pub fn reset(&self) {
        let response = http_post(&self.endpoint, "/moto-api/reset", "");
        assert!(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"), "reset failed: {response}");
    }

    /// Sends one command to the server process (see moto_server.py).
    fn exchange(&self, json: &str, extra: usize) -> Vec<String> {
        self.process.exchange(json, extra)
    }

    pub fn command(&self, json: &str) {
        self.exchange(json, 0);
    }

    /// Sends a command that answers "ok" and then one line of JSON.
    pub fn command_with_answer(&self, json: &str) -> serde_json::Value {
        let lines = self.exchange(json, 1);
        serde_json::from_str(lines.first().map_or("", String::as_str)).expect("the answer is JSON")
    }

    /// Launches EC2 instances with their CPU (and memory) load over the last
    /// day; see `create_instances` in moto_server.py. Returns name -> id.
    pub fn seed_instances(&self, instances: serde_json::Value) -> std::collections::BTreeMap<String, String> {
        let cmd = serde_json::json!({"op": "create_instances", "region": REGION, "instances": instances});
        let ids = self.command_with_answer(&cmd.to_string());
        serde_json::from_value(ids).expect("name -> id")
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config().await)
    }

    /// Moves a resource's creation time `days` into the past.
    pub fn backdate(&self, service: &str, name: &str, days: f64) {
        let name = serde_json::to_string(name).expect("a string serialises");
        self.command(&format!(r#"{{"op":"backdate","service":"{service}","region":"{REGION}","name":{name},"days":{days}}}"#));
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        costguard::aws::sdk_loader()
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    /// costguard's AWS handle on the emulator, with a fresh call counter.
    pub async fn aws(&self) -> Aws {
        Aws::from_config(self.sdk_config().await, ApiCallCounter::new())
    }

    /// A plain SDK client for seeding and checking, not counted.
    pub async fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk_config().await)
    }

    /// Environment for a costguard child process pointed at the emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_CONFIG_FILE", "/dev/null".to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
        ]
    }
}

/// The system clock, for sweeps of emulator data stamped with real times
/// (metrics, creation times). Tests of calendar logic use `Clock::fixed`.
pub fn wall_clock() -> costguard::clock::Clock {
    costguard::clock::Clock::from_fn(chrono::Utc::now)
}

/// A fixed instant, parsed (RFC 3339).
pub fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time").with_timezone(&chrono::Utc)
}

/// A minimal HTTP/1.1 request (moto's own API, the daemon's endpoints):
/// the whole response as text.
pub fn http(endpoint: &str, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    use std::io::Read;
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

pub fn http_post(endpoint: &str, path: &str, body: &str) -> String {
    http(endpoint, "POST", path, body).unwrap_or_else(|e| panic!("POST {endpoint}{path}: {e}"))
}

/// A log group to seed: name, retention (None: never expires), tags.
pub type SeedGroup<'a> = (&'a str, Option<i32>, &'a [(&'a str, &'a str)]);

/// Creates log groups over the AWS API.
pub async fn seed_log_groups(moto: &Moto, groups: &[SeedGroup<'_>]) {
    seed_log_groups_with(&moto.logs().await, groups).await;
}

/// Log groups through `logs`, whose credentials say in which account.
pub async fn seed_log_groups_with(logs: &aws_sdk_cloudwatchlogs::Client, groups: &[SeedGroup<'_>]) {
    for (name, retention, tags) in groups {
        let mut create = logs.create_log_group().log_group_name(*name);
        for (k, v) in *tags {
            create = create.tags(*k, *v);
        }
        create.send().await.expect("create log group");
        if let Some(days) = retention {
            logs.put_retention_policy().log_group_name(*name).retention_in_days(*days).send().await.expect("set retention");
        }
    }
}

/// Every log group's retention, by name, as the emulator holds it now.
pub async fn retention_by_group(moto: &Moto) -> std::collections::BTreeMap<String, Option<i32>> {
    let logs = moto.logs().await;
    let mut pages = logs.describe_log_groups().into_paginator().send();
    let mut out = std::collections::BTreeMap::new();
    while let Some(page) = pages.next().await {
        for g in page.expect("describe log groups").log_groups() {
            out.insert(g.log_group_name().unwrap_or_default().to_string(), g.retention_in_days());
        }
    }
    out
}

impl Moto {
    /// Moves a SageMaker endpoint's or notebook's creation time back.
    pub fn backdate_sagemaker(&self, kind: &str, name: &str, days: f64) {
        let name = serde_json::to_string(name).expect("a string serialises");
        self.command(&format!(r#"{{"op":"backdate","service":"sagemaker","kind":"{kind}","region":"{REGION}","name":{name},"days":{days}}}"#));
    }

    pub async fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::new(&self.sdk_config().await)
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }
}

/// Sweep options for tests: reports and the journal in `dir`, built-in
/// prices only (moto has no Price List API).
pub fn sweep_options(dir: &std::path::Path, dry_run: bool) -> costguard::sweep::SweepOptions {
    use costguard::sweep::{Features, Limits, Paths, Scope, SweepOptions};
    SweepOptions {
        dry_run,
        scope: Scope { regions: vec![REGION.to_string()], ..Scope::default() },
        features: Features::default(),
        paths: Paths { report_dir: dir.join("report"), journal: dir.join("state/journal.sqlite"), ..Paths::default() },
        limits: Limits::default(),
    }
}

/// Creates an ml.t3.medium notebook instance, last modified `age_days` ago.
pub async fn seed_notebook(moto: &Moto, name: &str, age_days: f64) {
    moto.sagemaker()
        .await
        .create_notebook_instance()
        .notebook_instance_name(name)
        .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
        .role_arn("arn:aws:iam::123456789012:role/sagemaker")
        .send()
        .await
        .expect("create notebook");
    if age_days > 0.0 {
        moto.backdate_sagemaker("notebook", name, age_days);
    }
}

/// One production variant to seed: name, instance type, instance count.
pub type SeedVariant<'a> = (&'a str, &'a str, i32);

/// Creates a model, an endpoint config and an endpoint over the API, then
/// backdates the endpoint `age_days`.
pub async fn seed_endpoint(moto: &Moto, name: &str, variants: &[SeedVariant<'_>], tags: &[(&str, &str)], age_days: f64) {
    use aws_sdk_sagemaker::types::{ContainerDefinition, ProductionVariant, ProductionVariantInstanceType, Tag};
    let sm = moto.sagemaker().await;
    let model = format!("{name}-model");
    sm.create_model()
        .model_name(&model)
        .execution_role_arn("arn:aws:iam::123456789012:role/sagemaker")
        .primary_container(ContainerDefinition::builder().image("123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1").build())
        .send()
        .await
        .expect("create model");
    let mut config = sm.create_endpoint_config().endpoint_config_name(format!("{name}-config"));
    for (variant, instance_type, count) in variants {
        config = config.production_variants(
            ProductionVariant::builder()
                .variant_name(*variant)
                .model_name(&model)
                .instance_type(ProductionVariantInstanceType::from(*instance_type))
                .initial_instance_count(*count)
                .build(),
        );
    }
    config.send().await.expect("create endpoint config");
    let mut create = sm.create_endpoint().endpoint_name(name).endpoint_config_name(format!("{name}-config"));
    for (k, v) in tags {
        create = create.tags(Tag::builder().key(*k).value(*v).build());
    }
    create.send().await.expect("create endpoint");
    moto.backdate_sagemaker("endpoint", name, age_days);
}

/// Publishes one Invocations datapoint `hours_ago` for a variant.
pub async fn put_invocations(moto: &Moto, endpoint: &str, variant: &str, value: f64, hours_ago: i64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let at = std::time::SystemTime::now() - std::time::Duration::from_secs(hours_ago as u64 * 3600);
    moto.cloudwatch()
        .await
        .put_metric_data()
        .namespace("AWS/SageMaker")
        .metric_data(
            MetricDatum::builder()
                .metric_name("Invocations")
                .value(value)
                .timestamp(at.into())
                .dimensions(Dimension::builder().name("EndpointName").value(endpoint).build())
                .dimensions(Dimension::builder().name("VariantName").value(variant).build())
                .build(),
        )
        .send()
        .await
        .expect("put metric data");
}

/// The endpoints that exist now, sorted.
pub async fn endpoint_names(moto: &Moto) -> Vec<String> {
    let sm = moto.sagemaker().await;
    let mut names: Vec<String> = sm
        .list_endpoints()
        .max_results(100)
        .send()
        .await
        .expect("list endpoints")
        .endpoints()
        .iter()
        .map(|e| e.endpoint_name().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

/// Publishes an endpoint variant's per-instance load over the last day as
/// one pre-aggregated datum (CloudWatch's StatisticValues): `samples`
/// samples peaking at `peak` (CPU sums cores: 4 vCPUs peak at 400).
pub async fn put_variant_load(moto: &Moto, endpoint: &str, variant: &str, metric: &str, peak: f64, samples: f64) {
    let series = [("EndpointName", endpoint), ("VariantName", variant)];
    put_load(moto, "/aws/sagemaker/Endpoints", &series, metric, peak, samples, 1).await;
}

/// Publishes one series' load `days_ago` as one pre-aggregated datum:
/// `samples` samples peaking at `peak`.
#[allow(clippy::too_many_arguments)] // a test's seeding call, each figure named where it is written
pub async fn put_load(moto: &Moto, namespace: &str, dimensions: &[(&str, &str)], metric: &str, peak: f64, samples: f64, days_ago: u64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StatisticSet};
    let at = std::time::SystemTime::now() - std::time::Duration::from_secs(days_ago * 86_400);
    let stats = StatisticSet::builder().sample_count(samples).sum(samples * peak / 2.0).minimum(0.0).maximum(peak).build();
    let dimensions = dimensions.iter().map(|(name, value)| Dimension::builder().name(*name).value(*value).build()).collect();
    moto.cloudwatch()
        .await
        .put_metric_data()
        .namespace(namespace)
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(dimensions))
                .statistic_values(stats)
                .timestamp(aws_smithy_types::DateTime::from(at))
                .build(),
        )
        .send()
        .await
        .expect("put load");
}

/// Creates a training job over the API (moto finishes it at once; shape
/// it with the `shape_training_job` command).
pub async fn create_training_job(moto: &Moto, name: &str, instance_type: &str, count: i32, spot: bool, tags: &[(&str, &str)]) {
    use aws_sdk_sagemaker::types::{AlgorithmSpecification, OutputDataConfig, ResourceConfig, StoppingCondition, Tag, TrainingInputMode, TrainingInstanceType};
    let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
    moto.sagemaker()
        .await
        .create_training_job()
        .training_job_name(name)
        .algorithm_specification(
            AlgorithmSpecification::builder()
                .training_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1")
                .training_input_mode(TrainingInputMode::File)
                .build(),
        )
        .role_arn("arn:aws:iam::123456789012:role/training")
        .output_data_config(OutputDataConfig::builder().s3_output_path("s3://models/out").build())
        .resource_config(ResourceConfig::builder().instance_type(TrainingInstanceType::from(instance_type)).instance_count(count).volume_size_in_gb(50).build())
        .stopping_condition(StoppingCondition::builder().max_runtime_in_seconds(5 * 86_400).build())
        .enable_managed_spot_training(spot)
        .set_tags(Some(tags))
        .send()
        .await
        .expect("create training job");
}

/// Sends the signal `name` (`TERM`, `INT`, `HUP`) to a child process.
pub fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

/// Waits at most `limit` for the child to exit: its exit code, `None` while
/// it still runs (or when a signal ended it).
pub fn exit_within(child: &mut std::process::Child, limit: std::time::Duration) -> Option<i32> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Puts Bedrock token counts (model id, time, input, output) into
/// `AWS/Bedrock`, as Bedrock publishes them (AWS takes `AWS/` namespaces
/// only from its services; moto from anyone).
pub async fn put_tokens(moto: &Moto, points: &[(&str, chrono::DateTime<chrono::Utc>, f64, f64)]) {
    put_tokens_in(moto, REGION, points).await;
}

/// [`put_tokens`] in another region.
pub async fn put_tokens_in(moto: &Moto, region: &str, points: &[(&str, chrono::DateTime<chrono::Utc>, f64, f64)]) {
    put_tokens_with(&moto.sdk_config().await.to_builder().region(aws_config::Region::new(region.to_string())).build(), points).await;
}

/// Token counts through `config`, whose credentials and region say where.
pub async fn put_tokens_with(config: &SdkConfig, points: &[(&str, chrono::DateTime<chrono::Utc>, f64, f64)]) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let mut data = Vec::new();
    for (model, at, input, output) in points {
        for (metric, value) in [("InputTokenCount", input), ("OutputTokenCount", output)] {
            data.push(
                MetricDatum::builder()
                    .metric_name(metric)
                    .value(*value)
                    .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
                    .dimensions(Dimension::builder().name("ModelId").value(*model).build())
                    .build(),
            );
        }
    }
    for chunk in data.chunks(500) {
        cw.put_metric_data().namespace("AWS/Bedrock").set_metric_data(Some(chunk.to_vec())).send().await.expect("put metric data");
    }
}
