//! What `deploy/` ships: the systemd unit passes `systemd-analyze verify`
//! without a warning, the container's config is valid, and the ECS task
//! definition checks health with the binary and keeps its logs 30 days.

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
    let out = Command::new("systemd-analyze")
        .args(["verify", &path.to_string_lossy()])
        .output()
        .expect("systemd-analyze is installed by scripts/setup-test-deps.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // An unknown or misspelt key is only a warning: none may be left.
    assert!(stderr.trim().is_empty(), "{stderr}");
    for hardening in ["DynamicUser=yes", "StateDirectory=costguard", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure"] {
        assert!(unit.contains(hardening), "{hardening}");
    }
}

#[test]
fn the_container_config_and_the_example_config_are_valid() {
    for config in ["deploy/costguard-ecs.yaml", "deploy/costguard.yaml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
            .args(["validate", &format!("{ROOT}/policies"), "--config", &format!("{ROOT}/{config}")])
            .output()
            .expect("run validate");
        assert!(out.status.success(), "{config}: {}", String::from_utf8_lossy(&out.stderr));
    }
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
