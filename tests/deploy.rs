//! What `deploy/` ships: the systemd unit passes `systemd-analyze verify`
//! without a warning, each config runs as installed, and the ECS task
//! definition checks health with the binary and keeps its logs 30 days.

mod support;

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy/costguard.service")).expect("the unit");
    assert!(unit.contains("ExecStart=/usr/local/bin/costguard "), "the unit runs the installed binary");
    // verify checks that ExecStart's binary exists: point it at this build.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("costguard.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/costguard", env!("CARGO_BIN_EXE_costguard"))).expect("write");
    let out =
        Command::new("systemd-analyze").args(["verify", &path.to_string_lossy()]).output().expect("systemd-analyze is installed by scripts/setup-test-deps.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // An unknown or misspelt key is only a warning: none may be left.
    assert!(stderr.trim().is_empty(), "{stderr}");
    for hardening in ["DynamicUser=yes", "StateDirectory=costguard", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure"] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let nofile: u64 = unit.lines().find_map(|l| l.strip_prefix("LimitNOFILE=")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    assert!(nofile >= 4 * costguard::service::http::MAX_CONNECTIONS as u64, "descriptors for the HTTP connection limit with room to spare: {nofile}");
}

/// Copies `policies/` and a shipped config into `etc/costguard/` under
/// `root`, as the systemd unit's header and the Dockerfile install them.
fn install(root: &Path, config: &str) -> std::path::PathBuf {
    let etc = root.join("etc/costguard");
    std::fs::create_dir_all(etc.join("policies")).expect("mkdir");
    for entry in std::fs::read_dir(Path::new(ROOT).join("policies")).expect("policies") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, etc.join("policies").join(path.file_name().expect("a name"))).expect("copy a policy");
    }
    let file = etc.join("costguard.yaml");
    std::fs::copy(Path::new(ROOT).join(config), &file).expect("copy the config");
    file
}

/// Each shipped config, installed as its instructions say, passes
/// `validate --config` and runs a sweep (`run --once`) on the emulator;
/// `validate` checks exactly what `run` reads, so the two agree. The only
/// errors left are the emulator's gaps and the placeholders the configs
/// tell the operator to change (example.com mail).
#[tokio::test]
async fn each_shipped_config_runs_as_installed() {
    let moto = support::moto().await;
    for config in ["deploy/costguard.yaml", "deploy/costguard-ecs.yaml"] {
        let root = tempfile::tempdir().expect("temp dir");
        let file = install(root.path(), config);
        let state = root.path().join("var/lib/costguard");
        let run = |args: &[&str]| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_costguard"));
            cmd.args(args).env("COSTGUARD_STATE_DIR", &state).env("COSTGUARD_LOG", "error");
            for (k, v) in moto.env() {
                cmd.env(k, v);
            }
            cmd.output().expect("run costguard")
        };
        let file = file.to_string_lossy().into_owned();
        let validated = run(&["validate", "--config", &file]);
        let stderr = String::from_utf8_lossy(&validated.stderr);
        assert!(validated.status.success(), "{config}: {stderr}");
        assert!(stderr.contains("placeholders that reach nobody"), "{config}: the example addresses are pointed out: {stderr}");

        let swept = run(&["run", "--config", &file, "--once"]);
        let stderr = String::from_utf8_lossy(&swept.stderr);
        assert!(matches!(swept.status.code(), Some(0 | 3)), "{config}: the sweep ran: {stderr}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state.join("report/report.json")).expect("a report in the state folder")).expect("JSON");
        let unexplained: Vec<&str> = report["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["message"].as_str())
            // moto has no Cost Anomaly Detection; the configs' mail goes to example.com placeholders.
            .filter(|m| !m.contains("GetAnomalyMonitors") && !m.starts_with("email"))
            .collect();
        assert!(unexplained.is_empty(), "{config}: {unexplained:?}");
        assert!(state.join("journal.sqlite").exists(), "{config}: the journal is in the state folder");
    }
}

#[test]
fn validate_reads_the_policies_where_run_would_and_says_so() {
    // In the repository, deploy/ has no policies/ beside the config.
    let out =
        Command::new(env!("CARGO_BIN_EXE_costguard")).args(["validate", "--config", &format!("{ROOT}/deploy/costguard.yaml")]).output().expect("validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deploy/policies: cannot read") && stderr.contains("install the config with its policies beside it"), "{stderr}");
}

#[test]
fn the_ecs_task_checks_health_with_the_binary_and_its_logs_expire() {
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join("deploy").join(name)).expect("read")).expect("JSON")
    };
    let task = read("ecs-task-definition.json");
    let container = &task["containerDefinitions"][0];
    assert_eq!(container["healthCheck"]["command"], serde_json::json!(["CMD", "/usr/local/bin/costguard", "health", "--address", "127.0.0.1:9464"]));
    assert_eq!(container["readonlyRootFilesystem"], true);
    assert_eq!(container["logConfiguration"]["options"]["awslogs-group"], "/ecs/costguard");
    assert!(container["stopTimeout"].as_i64().unwrap_or(0) >= 120, "time for the sweep in flight to finish its resource");
    let nofile = container["ulimits"].as_array().and_then(|u| u.iter().find(|l| l["name"] == "nofile")).map(|l| l["softLimit"].as_u64().unwrap_or(0));
    let connections = costguard::service::http::MAX_CONNECTIONS as u64;
    assert!(nofile.unwrap_or(0) >= 4 * connections, "the container's descriptors hold the HTTP connection limit with room to spare: {nofile:?}");
    assert_eq!(read("ecs-log-group.json")["retentionInDays"], 30);
    assert_eq!(read("ecs-service.json")["deploymentConfiguration"]["maximumPercent"], 100, "never two costguards at once");
}

#[test]
fn health_fails_when_nothing_listens() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = free.local_addr().expect("address").to_string();
    drop(free);
    let out = Command::new(env!("CARGO_BIN_EXE_costguard")).args(["health", "--address", &address]).output().expect("run health");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unhealthy"));
}

#[test]
fn the_shard_manifests_agree_on_their_shard_count() {
    let root = env!("CARGO_MANIFEST_DIR");
    let k8s = std::fs::read_to_string(format!("{root}/deploy/kubernetes/costguard-org.yaml")).expect("the Kubernetes manifest");
    let value = |key: &str| k8s.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.split_whitespace().next().unwrap_or_default().to_string());
    assert_eq!(value("completions:"), value("- --shard-count="), "one pod per shard");
    assert_eq!(value("completions:"), value("parallelism:"));
    assert!(k8s.contains("completionMode: Indexed") && k8s.contains("{shard}"), "an Indexed Job, each shard its own report folder");
    let batch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/deploy/batch/costguard-org-job-definition.json")).expect("the Batch job definition"))
            .expect("JSON");
    let command: Vec<&str> = batch["containerProperties"]["command"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
    assert!(command.windows(2).any(|w| w[0] == "--shard-count"), "{command:?}");
    assert!(command.iter().any(|c| c.contains("{shard}")), "{command:?}");
}
