//! The audit report a person acts on, on the emulator (moto): what to act
//! on first, totals split by whether they will happen, and what changed
//! since the last report, dry runs included.

mod support;

use std::path::Path;

use costguard::config::compile_text;
use costguard::progress::Progress;
use costguard::sweep;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// After the delete policy: one that only reports the same endpoints.
const REPORT_TOO: &str = "  - name: endpoints-report
    resource: sagemaker-endpoint
    filters:
      - type: value
        key: EndpointStatus
        value: InService
";

async fn dry_run(moto: &support::Moto, dir: &Path) -> Value {
    let policies = compile_text(Path::new("audit.yaml"), &format!("policies:\n{}{REPORT_TOO}", support::DELETE_IDLE_ENDPOINTS)).expect("valid");
    let options = support::sweep_options(dir, true);
    if !options.paths.journal.exists() {
        // A state folder: the dry run reads it, and keeps the report's history there.
        costguard::engine::journal::Journal::open(&options.paths.journal).expect("journal");
    }
    let result =
        sweep::run(&moto.aws().await, &policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
    serde_json::from_slice(&std::fs::read(&result.report_json).expect("report.json")).expect("JSON")
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list.as_array().expect("a list").iter().map(|v| v["resource_id"].as_str().expect("id").to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn act_first_ranks_what_needs_doing_the_totals_split_and_a_second_report_says_what_changed() {
    let moto = support::moto().await;
    support::seed_endpoint(&moto, "idle-big", &[("AllTraffic", "ml.m5.4xlarge", 2)], &[("owner", "ana@example.com")], 30.0).await;
    support::seed_endpoint(&moto, "idle-small", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    support::seed_endpoint(&moto, "kept", &[("AllTraffic", "ml.m5.12xlarge", 1)], &[("costguard:protect", "true")], 30.0).await;
    let dir = tempfile::tempdir().expect("temp dir");

    let first = dry_run(&moto, dir.path()).await;
    let act = first["act_first"].as_array().expect("act_first");
    // The protected endpoint is left alone; each resource once, largest saving first.
    assert_eq!(act.iter().map(|a| a["resource_id"].as_str().expect("id")).collect::<Vec<_>>(), ["idle-big", "idle-small"], "{act:#?}");
    let big = &act[0];
    assert_eq!(big["policy"], "idle-endpoints", "the delete policy's saving (the whole cost) is the larger");
    assert_eq!(big["standing"], "will-change");
    assert_eq!(big["effort"], "medium");
    assert_eq!(big["restart_needed"], true);
    assert_eq!(big["reversible"], true);
    assert!(big["restores"].as_str().expect("restores").contains("endpoint config"));
    assert_eq!(big["owner"], "ana@example.com");
    assert_eq!(big["confidence"]["days_of_data"], 14.0);
    assert!(big["monthly_saving_usd"].as_f64().expect("saving") > act[1]["monthly_saving_usd"].as_f64().expect("saving"));

    // The three parts add up to the findings' savings, each resource once.
    let totals = &first["totals"];
    let split = &totals["saving_usd"];
    let part = |k: &str| split[k].as_f64().expect("part");
    let kept_cost = first["findings"].as_array().expect("findings").iter().find(|f| f["resource_id"] == "kept").expect("kept")["monthly_saving_usd"]
        .as_f64()
        .expect("priced");
    assert!(part("left_alone") > 0.0 && (part("left_alone") - kept_cost).abs() < 1e-6, "{split}");
    assert!((part("will_change") - act.iter().map(|a| a["monthly_saving_usd"].as_f64().expect("usd")).sum::<f64>()).abs() < 1e-6, "{split}");
    assert_eq!(part("needs_decision"), 0.0, "the report-only policy's findings are the same resources, counted once");
    assert!((part("will_change") + part("needs_decision") + part("left_alone") - totals["monthly_saving_usd"].as_f64().expect("sum")).abs() < 1e-6);

    let since = &first["since_last_run"];
    assert!(since["previous_report_at"].is_null(), "the first report with this state folder");
    assert_eq!(ids(&since["new"]).len(), 6, "three endpoints under two policies: {since}");

    // A week later: one endpoint deleted by a person, one created.
    let sm = moto.sagemaker().await;
    sm.delete_endpoint().endpoint_name("idle-small").send().await.expect("delete by hand");
    support::seed_endpoint(&moto, "idle-new", &[("AllTraffic", "ml.m5.xlarge", 1)], &[], 30.0).await;
    let second = dry_run(&moto, dir.path()).await;
    let since = &second["since_last_run"];
    assert!(since["previous_report_at"].is_string());
    assert_eq!(ids(&since["new"]), ["idle-new", "idle-new"], "{since}");
    assert_eq!(ids(&since["resolved"]), ["idle-small", "idle-small"], "{since}");
    assert!(since["resolved"].as_array().expect("resolved").iter().all(|r| r["how"] == "no-longer-found"));
    assert_eq!(ids(&since["still_open"]), ["idle-big", "idle-big", "kept", "kept"], "{since}");
    assert!(since["still_open"].as_array().expect("open").iter().all(|r| r["days_open"] == 0));

    // The page and report.md open with it.
    let md = std::fs::read_to_string(dir.path().join("report/report.md")).expect("report.md");
    let (since_at, act_at, run_at) = (md.find("## Since the last report"), md.find("## Act first"), md.find("- Run:"));
    assert!(since_at.is_some() && since_at < act_at && act_at < run_at, "{md}");
    assert!(md.contains("**2 new**") && md.contains("**2 resolved**"), "{md}");
    assert!(md.contains("will change**") && md.contains("left alone"), "{md}");
}
