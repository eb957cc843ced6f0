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

pub struct Moto {
    pub endpoint: String,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static ONE_TEST_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("COSTGUARD_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

fn start() -> Moto {
    let python = python();
    assert!(
        python.exists(),
        "the AWS emulator is not installed: {} is missing. Run `scripts/test.sh` (it installs the pinned \
         test dependencies into .venv and runs the tests), or set COSTGUARD_TEST_PYTHON.",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_server.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the moto server with {}: {e}", python.display()));
    let stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the moto server's first line");
    let port: u16 = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the moto server did not start (said {line:?}); is moto[server] installed in .venv?"));
    Moto { endpoint: format!("http://127.0.0.1:{port}"), io: Mutex::new((stdin, stdout)), _child: child }
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
    pub fn command(&self, json: &str) {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(io.0, "{json}").expect("write to the moto server");
        io.0.flush().expect("flush");
        let mut answer = String::new();
        io.1.read_line(&mut answer).expect("read from the moto server");
        assert_eq!(answer.trim(), "ok", "moto server command {json} failed");
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

/// A minimal HTTP/1.1 POST; moto's own API is all the tests need it for.
pub fn http_post(endpoint: &str, path: &str, body: &str) -> String {
    use std::io::Read;
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to moto");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    response
}

/// A log group to seed: name, retention (None: never expires), tags.
pub type SeedGroup<'a> = (&'a str, Option<i32>, &'a [(&'a str, &'a str)]);

/// Creates log groups over the AWS API.
pub async fn seed_log_groups(moto: &Moto, groups: &[SeedGroup<'_>]) {
    let logs = moto.logs().await;
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
