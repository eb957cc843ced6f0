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
    // The merge step reads one folder per shard, with the config the shards route with.
    let shards: usize = value("completions:").and_then(|v| v.parse().ok()).expect("completions");
    let merged: Vec<&str> = k8s.lines().filter_map(|l| l.trim().strip_prefix("- /reports/latest/shard-")).collect();
    assert_eq!(merged, (0..shards).map(|k| k.to_string()).collect::<Vec<_>>(), "the merge reads every shard's folder");
    assert_eq!(k8s.matches("--config=/etc/costguard/config/costguard.yaml").count(), 2, "shards route and the merge sends with one config");
    let config: String =
        k8s.lines().skip_while(|l| l.trim() != "costguard.yaml: |").skip(1).take_while(|l| l.starts_with("    ")).map(|l| format!("{}\n", &l[4..])).collect();
    assert!(config.contains("email:") && config.contains("state-dir: /reports/state"), "the config block: {config}");
    costguard::config::daemon::compile_text(Path::new("costguard.yaml"), &config).unwrap_or_else(|e| panic!("the manifest's config: {e}\n{config}"));
    let batch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/deploy/batch/costguard-org-job-definition.json")).expect("the Batch job definition"))
            .expect("JSON");
    let command: Vec<&str> = batch["containerProperties"]["command"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
    assert!(command.windows(2).any(|w| w[0] == "--shard-count"), "{command:?}");
    assert!(command.iter().any(|c| c.contains("{shard}")), "{command:?}");
    let count: usize = command.windows(2).find(|w| w[0] == "--shard-count").and_then(|w| w[1].parse().ok()).expect("a shard count");
    let merge: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/batch/costguard-org-merge-job-definition.json")).expect("the merge job definition"),
    )
    .expect("JSON");
    let merge: Vec<&str> = merge["containerProperties"]["command"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
    assert_eq!(&merge[..2], ["report", "merge"], "{merge:?}");
    assert_eq!(merge.iter().filter(|c| c.contains("/reports/shard-")).count(), count, "one folder per shard: {merge:?}");
    assert!(merge.contains(&"--config") && command.contains(&"--config"), "shards route and the merge sends with one config");
}

/// The calls the resource types declare (`CREATED_BY`), as an EventBridge
/// pattern names them: (sources, event names).
fn declared_calls() -> (std::collections::BTreeSet<String>, std::collections::BTreeSet<String>) {
    let all = costguard::resources::ResourceType::ALL.iter().flat_map(|t| t.created_by().iter());
    let sources = all.clone().map(|c| format!("aws.{}", c.source.trim_end_matches(".amazonaws.com"))).collect();
    (sources, all.map(|c| c.event.to_string()).collect())
}

/// A list in a template's event pattern: the `- item` lines under `key:`.
fn pattern_list(template: &str, key: &str) -> std::collections::BTreeSet<String> {
    let mut lines = template.lines().skip_while(|l| l.trim() != format!("{key}:"));
    let Some(head) = lines.next() else { return Default::default() };
    let indent = head.len() - head.trim_start().len();
    lines
        .take_while(|l| l.len() - l.trim_start().len() > indent && l.trim_start().starts_with("- "))
        .map(|l| l.trim_start().trim_start_matches("- ").to_string())
        .collect()
}

#[test]
fn the_stacks_pass_cfn_lint_and_their_rules_hear_exactly_the_declared_calls() {
    let lint = support::python().with_file_name("cfn-lint");
    let templates = ["deploy/costguard-stack.yaml", "deploy/costguard-member-events.yaml", "deploy/member-role.yaml"];
    let out = Command::new(&lint).args(templates).current_dir(ROOT).output().expect("cfn-lint is installed in .venv by scripts/setup-python.sh");
    assert!(out.status.success(), "cfn-lint: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let (sources, events) = declared_calls();
    for template in &templates[..2] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(template)).expect("template");
        assert_eq!(pattern_list(&text, "source"), sources, "{template}: the rule's sources");
        assert_eq!(pattern_list(&text, "eventName"), events, "{template}: the rule's calls");
    }
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    assert!(events.iter().all(|e| readme.contains(&format!("\"{e}\""))), "the README's rule pattern names every call");
}

#[test]
fn the_stacks_task_role_carries_the_generated_policy_with_its_queue() {
    let template = std::fs::read_to_string(Path::new(ROOT).join("deploy/costguard-stack.yaml")).expect("template");
    let block: String =
        template.lines().skip_while(|l| !l.contains("# BEGIN generated")).skip(1).take_while(|l| !l.contains("# END generated")).collect::<Vec<_>>().join("\n");
    let embedded: serde_json::Value = serde_json::from_str(&block).expect("the template's policy is JSON");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args([
            "iam-policy",
            "--policies",
            "policies",
            "--config",
            "deploy/costguard-ecs.yaml",
            "--events-queue",
            "https://sqs.*.amazonaws.com/*/costguard-events",
        ])
        .current_dir(ROOT)
        .output()
        .expect("costguard runs");
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(embedded, generated, "run scripts/member-role.sh: the stack's task role policy is stale");
    let minified = serde_json::to_string(&generated).expect("JSON").len();
    assert!(minified < 9_500, "IAM allows a role 10,240 characters of inline policy (with the state policy): {minified}");
    assert!(block.contains("arn:aws:sqs:*:*:costguard-events"), "the queue, by its name");
}

#[tokio::test]
async fn the_stack_deploys_with_only_the_alert_address_and_its_rule_queues_what_creates() {
    let moto = support::moto().await;
    let template = Path::new(ROOT).join("deploy/costguard-stack.yaml");
    let deployed = moto.command_with_answer(
        &serde_json::json!({"op": "deploy_stack", "region": support::REGION, "name": "costguard", "template": template,
            "parameters": {"AlertEmail": "finops@example.com"}})
        .to_string(),
    );
    assert_eq!(deployed["status"], "CREATE_COMPLETE", "{deployed:#}");
    for resource in ["EventsQueue", "DeadLetterQueue", "CreationsRule", "TaskRole", "TaskDefinition", "Service", "LogGroup", "StateFileSystem", "Vpc"] {
        assert_eq!(deployed["resources"][resource], "CREATE_COMPLETE", "{resource}: {deployed:#}");
    }
    let queue = deployed["outputs"]["QueueUrl"].as_str().expect("the queue's URL").to_string();
    let env = moto.command_with_answer(&serde_json::json!({"op": "task_environment", "region": support::REGION, "family": "costguard"}).to_string());
    assert_eq!(env["COSTGUARD_EVENTS_QUEUE"], queue.as_str(), "the task reads the stack's queue");

    let call = |id: &str, name: &str| {
        serde_json::json!({"source": "aws.sagemaker", "detail": {"eventID": id, "eventSource": "sagemaker.amazonaws.com", "eventName": name,
            "awsRegion": support::REGION, "requestParameters": {"endpointName": "x"}}})
    };
    let events = serde_json::json!([call("e-create", "CreateEndpoint"), call("e-read", "DescribeEndpoint")]);
    moto.command(&serde_json::json!({"op": "put_events", "region": support::REGION, "events": events}).to_string());
    let held = moto.command_with_answer(&serde_json::json!({"op": "queue_length", "region": support::REGION, "queue": queue}).to_string());
    assert_eq!(held, 1, "the create is queued, the read is not");

    let member = Path::new(ROOT).join("deploy/costguard-member-events.yaml");
    let bus = deployed["outputs"]["EventBusArn"].as_str().expect("the bus").to_string();
    let forwarded = moto.command_with_answer(
        &serde_json::json!({"op": "deploy_stack", "region": support::REGION, "name": "costguard-events", "template": member,
            "parameters": {"HubEventBusArn": bus}})
        .to_string(),
    );
    assert_eq!(forwarded["status"], "CREATE_COMPLETE", "{forwarded:#}");
}
