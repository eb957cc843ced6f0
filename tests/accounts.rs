//! An organization on the emulator: moto keeps accounts apart by the
//! credentials STS AssumeRole returns (it accepts any role ARN; the
//! account is the ARN's), and has Organizations. `costguard accounts`
//! lists the members and reaches each through its member role.

mod support;

use std::process::Command;

use aws_sdk_organizations::types::CreateAccountState;
use costguard::config::accounts::MemberAccount;
use costguard::engine::accounts::{self, Reach};
use serde_json::Value;
use support::fake_aws::{Answer, FakeAws};

/// An organization: the emulator's default account as management, three
/// members, one of them under `research` and one under `research/vision`.
/// Returns the member ids by name and the `research` OU id.
async fn organization(moto: &support::Moto) -> (std::collections::BTreeMap<String, String>, String) {
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    org.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send().await.expect("create organization");
    let mut ids = std::collections::BTreeMap::new();
    for name in ["ml-dev", "ml-prod", "vision"] {
        let created = org.create_account().account_name(name).email(format!("{name}@example.com")).send().await.expect("create account");
        let status = created.create_account_status().expect("a status");
        assert_ne!(status.state(), Some(&CreateAccountState::Failed));
        ids.insert(name.to_string(), status.account_id().expect("an account id").to_string());
    }
    let root = org.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_string();
    let research = create_ou(&org, &root, "research").await;
    let vision = create_ou(&org, &research, "vision").await;
    for (name, ou) in [("ml-dev", &research), ("vision", &vision)] {
        org.move_account().account_id(&ids[name]).source_parent_id(&root).destination_parent_id(ou).send().await.expect("move account");
    }
    (ids, research)
}

async fn create_ou(org: &aws_sdk_organizations::Client, parent: &str, name: &str) -> String {
    let created = org.create_organizational_unit().parent_id(parent).name(name).send().await.expect("create an OU");
    created.organizational_unit().and_then(|u| u.id().map(str::to_string)).expect("an OU id")
}

fn accounts_json(moto: &support::Moto, args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .arg("accounts")
        .args(args)
        .args(["--format", "json"])
        .envs(moto.env())
        .output()
        .expect("run costguard accounts");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}): {} / {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

fn ids_of(json: &Value) -> Vec<String> {
    json["accounts"].as_array().map(|a| a.iter().map(|r| r["account_id"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn every_member_is_reached_through_its_own_role_and_an_ou_narrows_to_its_subtree() {
    let moto = support::moto().await;
    let (ids, research) = organization(&moto).await;

    let (code, json) = accounts_json(&moto, &["--organization"]);
    assert_eq!(code, Some(0), "{json}");
    let hub = json["hub_account"].as_str().unwrap_or_default().to_string();
    let mut want: Vec<String> = ids.values().cloned().chain([hub.clone()]).collect();
    want.sort();
    assert_eq!(ids_of(&json), want, "the management account and the three members");
    for r in json["accounts"].as_array().into_iter().flatten() {
        assert_eq!(r["status"], "ok", "{r}");
        let expected_role =
            (r["account_id"] != hub.as_str()).then(|| format!("arn:aws:iam::{}:role/CostguardMember", r["account_id"].as_str().unwrap_or_default()));
        assert_eq!(r["role"].as_str().map(str::to_string), expected_role, "the hub's own account uses its own credentials: {r}");
    }
    assert_eq!(json["api_calls"]["sts:AssumeRole"], 3, "one AssumeRole per member: {}", json["api_calls"]);
    // Each with its OU's path, from one walk of the tree (no ListAccounts).
    let ou_of = |id: &str| json["accounts"].as_array().into_iter().flatten().find(|r| r["account_id"] == id).map(|r| r["ou"].clone());
    assert_eq!(ou_of(&ids["ml-dev"]), Some(Value::from("Root / research")));
    assert_eq!(ou_of(&ids["vision"]), Some(Value::from("Root / research / vision")));
    assert_eq!(ou_of(&ids["ml-prod"]), Some(Value::from("Root")));
    assert_eq!(ou_of(&hub), Some(Value::from("Root")), "the management account is in the root too");
    assert_eq!(json["api_calls"]["organizations:ListRoots"], 1, "{}", json["api_calls"]);
    assert!(json["api_calls"].get("organizations:ListAccounts").is_none(), "{}", json["api_calls"]);

    // research and its child OU vision: ml-dev and vision, not ml-prod.
    let (code, json) = accounts_json(&moto, &["--ou", &research, "--no-check"]);
    assert_eq!(code, Some(0));
    let mut want = vec![ids["ml-dev"].clone(), ids["vision"].clone()];
    want.sort();
    assert_eq!(ids_of(&json), want);

    let (_, json) = accounts_json(&moto, &["--organization", "--no-check", "--exclude-account", &ids["ml-prod"]]);
    assert!(!ids_of(&json).contains(&ids["ml-prod"]));
    assert_eq!(json["left_out"][0]["account_id"], ids["ml-prod"].as_str());
}

fn never_expire() -> Vec<costguard::config::Policy> {
    costguard::config::compile_text(std::path::Path::new("p.yaml"), support::NEVER_EXPIRE).expect("valid")
}

/// An organization's sweep in this process, on the wall clock.
async fn sweep_org(
    hub: &costguard::aws::Aws,
    policies: &[costguard::config::Policy],
    options: &costguard::sweep::SweepOptions,
    selection: &accounts::Selection,
    how: &Reach,
) -> costguard::sweep::organization::OrgResult {
    let (progress, cancel) = (costguard::progress::Progress::hidden(), tokio_util::sync::CancellationToken::new());
    let clock = support::wall_clock();
    let org = costguard::sweep::organization::Org { hub, options, clock: &clock, progress: &progress, cancel: &cancel };
    costguard::sweep::organization::run(&org, policies, selection, how).await.expect("the organization's sweep runs")
}

/// Through the member role `CostguardMember`, `max_concurrent` accounts at once.
fn reach(external_id: Option<&str>, max_concurrent: usize) -> Reach {
    Reach {
        partition: "aws".into(),
        member_role: "CostguardMember".into(),
        external_id: external_id.map(str::to_string),
        max_concurrent,
        session: Default::default(),
    }
}

/// A hub whose AssumeRole into `account` is refused with `why`, as an SCP
/// or a missing trust would (moto accepts every role); every other call
/// goes to moto.
async fn hub_refused_in(moto: &support::Moto, account: &str, why: &'static str) -> (FakeAws, costguard::aws::Aws) {
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    let denied = account.to_string();
    fake.on("AssumeRole", move |body| {
        if body["RoleArn"].as_str().is_some_and(|arn| arn.contains(&denied)) {
            Answer::Error(403, "AccessDenied", why)
        } else {
            Answer::Forward
        }
    });
    let hub = costguard::aws::Aws::from_config(fake.sdk_config(false).await, costguard::aws::ApiCallCounter::new());
    (fake, hub)
}

#[tokio::test]
async fn a_refused_role_fails_that_account_only() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let refused = ids["ml-prod"].clone();
    let (fake, hub) = hub_refused_in(&moto, &refused, "not authorized to perform sts:AssumeRole").await;
    let members: Vec<MemberAccount> = ids.iter().map(|(name, id)| MemberAccount::new(id, name)).collect();
    let how = reach(Some("ext-123"), 2);
    let reached = accounts::reach(&hub, "123456789012", members, &how).await;
    let status: std::collections::BTreeMap<&str, &str> = reached.iter().map(|r| (r.account_id.as_str(), r.status.as_str())).collect();
    assert_eq!(status[refused.as_str()], "failed", "{reached:?}");
    assert!(reached.iter().find(|r| r.account_id == refused).and_then(|r| r.error.clone()).is_some_and(|e| e.contains("AccessDenied")));
    assert_eq!(status.values().filter(|s| **s == "ok").count(), 2, "{status:?}");
    // Each member's calls carry its own credentials: moto answers for its account.
    for r in reached.iter().filter(|r| r.status == "ok") {
        assert_eq!(r.aws.as_ref().expect("a handle").account_id().await.expect("caller identity"), r.account_id);
    }
    let asked: Vec<Value> = fake.calls("AssumeRole");
    assert!(asked.iter().all(|b| b["RoleSessionName"] == "costguard" && b["ExternalId"] == "ext-123"), "{asked:?}");
}

/// The emulator's configuration with the credentials of `account`
/// (AssumeRole into it, as moto keeps accounts apart by credentials).
async fn config_in(moto: &support::Moto, account: &str) -> aws_config::SdkConfig {
    let base = moto.sdk_config().await;
    let out = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/seed"))
        .role_session_name("seed")
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    let credentials = aws_credential_types::Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), None, "seed");
    base.to_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials)).build()
}

async fn log_groups_in(moto: &support::Moto, account: &str, groups: &[support::SeedGroup<'_>]) {
    support::seed_log_groups_with(&aws_sdk_cloudwatchlogs::Client::new(&config_in(moto, account).await), groups).await;
}

#[tokio::test]
async fn an_organization_sweep_finds_each_accounts_waste_under_that_account_and_nothing_across() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/forever", None, &[]), ("/dev/week", Some(7), &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/forever", None, &[])]).await;
    support::seed_log_groups(&moto, &[("/hub/forever", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let reports = dir.path().join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["sweep", "--dry-run", "--organization", "--skip-guardrails", "--prices", "builtin", "--policies", &policies.to_string_lossy()])
        .args(["--report-dir", &reports.to_string_lossy(), "--state-dir", &dir.path().join("state").to_string_lossy()])
        .envs(moto.env())
        .output()
        .expect("run costguard sweep");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("4 accounts (0 failed), 3 findings"), "{stdout}");

    let report: Value = serde_json::from_slice(&std::fs::read(reports.join("report.json")).expect("report.json")).expect("JSON");
    let hub = report["hub_account"].as_str().unwrap_or_default().to_string();
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (f["account_id"].as_str().unwrap_or_default().to_string(), f["resource_id"].as_str().unwrap_or_default().to_string()))
        .collect();
    found.sort();
    let mut want = vec![
        (ids["ml-dev"].clone(), "/dev/forever".to_string()),
        (ids["ml-prod"].clone(), "/prod/forever".to_string()),
        (hub.clone(), "/hub/forever".to_string()),
    ];
    want.sort();
    assert_eq!(found, want, "each account's own groups, under its own id");
    let accounts = report["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 4);
    assert!(accounts.iter().all(|a| a["status"] == "ok"), "{accounts:?}");
    assert_eq!(accounts.iter().find(|a| a["account_id"] == ids["vision"].as_str()).map(|a| a["findings"].clone()), Some(Value::from(0)));
    assert_eq!(
        accounts.iter().find(|a| a["account_id"] == ids["vision"].as_str()).map(|a| a["ou"].clone()),
        Some(Value::from("Root / research / vision")),
        "each account's line names its OU"
    );
    for id in ids.values().chain([&hub]) {
        assert!(reports.join("accounts").join(id).join("report.json").exists(), "{id}'s own report");
    }
    // Calls: the hub lists and assumes; each account describes its own groups once.
    assert_eq!(report["api_calls"]["logs:DescribeLogGroups"], 4, "{}", report["api_calls"]);
    assert_eq!(report["api_calls"]["sts:AssumeRole"], 3, "{}", report["api_calls"]);
    // The saving split over the accounts, never one headline; the parts add up.
    let split = &report["totals"]["saving_usd"];
    let parts: f64 = ["will_change", "needs_decision", "left_alone"].iter().map(|k| split[*k].as_f64().expect("a part")).sum();
    assert!((parts - report["totals"]["monthly_saving_usd"].as_f64().expect("the sum")).abs() < 1e-6, "{split}");
    assert!(accounts.iter().all(|a| a["saving_usd"].is_object()), "each account's split");
    let md = std::fs::read_to_string(reports.join("report.md")).expect("report.md");
    assert!(md.contains("## By account, most at stake first") && md.contains("will change**") && md.contains("## Act first"), "{md}");
    let dev = &ids["ml-dev"];
    assert!(md.contains(&format!("[{dev}](accounts/{dev}/report.md)")), "each account linked to its own report: {md}");

    // report.html in a real browser: no script error, a row per account
    // linking to that account's own page, a row per finding.
    let (dom, console) = support::browser::render(&reports.join("report.html"));
    assert!(console.is_empty(), "{console:?}");
    let table = |id: &str| dom.split(&format!("id=\"{id}\"")).nth(1).and_then(|t| t.split("</table>").next()).unwrap_or_default().to_string();
    let by_account = table("by-account");
    assert_eq!(by_account.matches("<tr>").count() + by_account.matches("<tr data-status=").count(), 1 + 4, "{by_account}");
    for id in ids.values().chain([&hub]) {
        let link = format!("href=\"accounts/{id}/report.html\"");
        assert!(by_account.contains(&link), "{link} in {by_account}");
    }
    assert_eq!(table("findings").matches("<tr>").count(), 1 + 3);
    assert!(dom.contains("ml-prod"), "accounts by name");
    // The OU filter offers every OU the accounts are in, and those above.
    let ou_filter = dom.split("id=\"ou-filter\"").nth(1).and_then(|t| t.split("</select>").next()).unwrap_or_default();
    for ou in ["Root", "Root / research", "Root / research / vision"] {
        assert!(ou_filter.contains(&format!("<option value=\"{ou}\">")), "{ou} in {ou_filter}");
    }
}

#[tokio::test]
async fn an_account_that_cannot_be_reached_is_reported_and_the_others_are_swept() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/forever", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/forever", None, &[])]).await;
    let refused = ids["ml-prod"].clone();
    let (_fake, hub) = hub_refused_in(&moto, &refused, "explicit deny in a service control policy").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = never_expire();
    let options = support::sweep_options(dir.path(), true);
    let selection = accounts::Selection { organization: true, ..Default::default() };
    let how = reach(None, 4);
    let result = sweep_org(&hub, &policies, &options, &selection, &how).await;
    let failed: Vec<&str> = result.report.accounts.iter().filter(|a| a.status == "failed").map(|a| a.account_id.as_str()).collect();
    assert_eq!(failed, [refused.as_str()]);
    assert!(result.report.accounts.iter().any(|a| a.error.as_deref().is_some_and(|e| e.contains("service control policy"))));
    assert_eq!(result.exit_code(), 3);
    let swept: Vec<&str> = result.report.findings.iter().map(|f| f.resource_id.as_str()).collect();
    assert_eq!(swept, ["/dev/forever"], "the reachable member's finding; nothing of the refused one");
}

fn org_sweep(moto: &support::Moto, dir: &std::path::Path, name: &str, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let policies = dir.join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let reports = dir.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["sweep", "--dry-run", "--organization", "--skip-guardrails", "--prices", "builtin", "--policies", &policies.to_string_lossy()])
        .args(["--report-dir", &reports.to_string_lossy(), "--state-dir", &dir.join(format!("state-{name}")).to_string_lossy()])
        .args(extra)
        .envs(moto.env())
        .envs(env.iter().copied())
        .output()
        .expect("run costguard sweep");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&std::fs::read(reports.join("report.json")).expect("report.json")).expect("JSON")
}

/// What must not depend on how the accounts were split: accounts with
/// their figures, findings with their accounts, totals but the calls.
fn essence(report: &Value) -> (Vec<Value>, Vec<(String, String, String)>, Value) {
    let mut accounts: Vec<Value> = report["accounts"].as_array().cloned().unwrap_or_default();
    for a in &mut accounts {
        a.as_object_mut().map(|o| o.remove("report"));
    }
    let findings = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (f["account_id"].to_string(), f["resource_id"].to_string(), f["status"].to_string()))
        .collect();
    let mut totals = report["totals"].clone();
    totals.as_object_mut().map(|o| o.remove("api_calls"));
    (accounts, findings, totals)
}

#[tokio::test]
async fn shards_cover_every_account_once_and_merge_into_the_single_process_report() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/forever", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/a", None, &[]), ("/prod/b", None, &[])]).await;
    log_groups_in(&moto, &ids["vision"], &[("/vision/forever", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = org_sweep(&moto, dir.path(), "whole", &[], &[]);
    let shards: Vec<Value> = (0..3).map(|k| org_sweep(&moto, dir.path(), &format!("shard{k}"), &["--shard", &format!("{k}/3")], &[])).collect();
    let mut covered: Vec<String> = shards.iter().flat_map(ids_of).collect();
    covered.sort();
    assert_eq!(covered, ids_of(&whole), "every account in exactly one shard");
    // A Kubernetes Indexed Job's pod 1 of 3 is shard 1/3, and an AWS Batch
    // array child 2 writes where `{shard}` says.
    let indexed = org_sweep(&moto, dir.path(), "indexed", &["--shard-count", "3"], &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(ids_of(&indexed), ids_of(&shards[1]));
    let batch_dir = dir.path().join("batch");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["sweep", "--dry-run", "--organization", "--skip-guardrails", "--prices", "builtin", "--shard-count", "3"])
        .args(["--policies", &dir.path().join("policies.yaml").to_string_lossy(), "--state-dir", &dir.path().join("state-batch").to_string_lossy()])
        .arg(format!("--report-dir={}/shard-{{shard}}", batch_dir.display()))
        .env("AWS_BATCH_JOB_ARRAY_INDEX", "2")
        .envs(moto.env())
        .output()
        .expect("run costguard sweep");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let batch: Value = serde_json::from_slice(&std::fs::read(batch_dir.join("shard-2/report.json")).expect("shard-2's report")).expect("JSON");
    assert_eq!(ids_of(&batch), ids_of(&shards[2]));

    let merged_dir = dir.path().join("merged");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["report", "merge"])
        .args((0..3).map(|k| dir.path().join(format!("shard{k}"))))
        .arg("--out")
        .arg(&merged_dir)
        .output()
        .expect("run costguard report merge");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged: Value = serde_json::from_slice(&std::fs::read(merged_dir.join("report.json")).expect("merged report.json")).expect("JSON");
    assert_eq!(essence(&merged), essence(&whole));
    assert!(std::fs::read_to_string(merged_dir.join("report.md")).expect("report.md").contains("By account"));
    assert!(std::fs::read_to_string(merged_dir.join("report.html")).expect("report.html").contains("id=\"by-account\""));

    // Reports that share an account are refused.
    let busy = (0..3).find(|k| !ids_of(&shards[*k]).is_empty()).expect("a shard with accounts");
    let twice = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["report", "merge"])
        .arg(dir.path().join("whole"))
        .arg(dir.path().join(format!("shard{busy}")))
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .expect("run costguard report merge");
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("shards overlap"));
    assert!(!dir.path().join("bad").exists(), "nothing written");
}

async fn retention_in(moto: &support::Moto, account: &str, group: &str) -> Option<i32> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config_in(moto, account).await);
    let out = logs.describe_log_groups().log_group_name_prefix(group).send().await.expect("describe log groups");
    out.log_groups().iter().find(|g| g.log_group_name() == Some(group)).and_then(|g| g.retention_in_days())
}

#[tokio::test]
async fn a_real_organization_sweep_changes_each_account_and_restore_undoes_one_account_only() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    log_groups_in(&moto, &ids["ml-dev"], &[("/shared/name", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/shared/name", None, &[])]).await;
    // Stored bytes, so that each change saves something (its ledger row).
    for (account, bytes) in [(&ids["ml-dev"], 120_000_000_000u64), (&ids["ml-prod"], 60_000_000_000)] {
        moto.command(&serde_json::json!({"op": "store_bytes", "account": account, "region": "us-east-1", "name": "/shared/name", "bytes": bytes}).to_string());
        moto.command(
            &serde_json::json!({"op": "backdate", "service": "logs", "account": account, "region": "us-east-1", "name": "/shared/name", "days": 120})
                .to_string(),
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, support::NEVER_EXPIRE).expect("write policies");
    let state = dir.path().join("state");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_costguard"))
            .args(args)
            .args(["--state-dir", &state.to_string_lossy()])
            .envs(moto.env())
            .output()
            .expect("run costguard")
    };
    let out = run(&[
        "sweep",
        "--organization",
        "--skip-guardrails",
        "--prices",
        "builtin",
        "--policies",
        &policies.to_string_lossy(),
        "--report-dir",
        &dir.path().join("r").to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(retention_in(&moto, &ids["ml-dev"], "/shared/name").await, Some(30));
    assert_eq!(retention_in(&moto, &ids["ml-prod"], "/shared/name").await, Some(30));
    assert!(state.join("accounts").join(&ids["ml-prod"]).join("journal.sqlite").exists(), "each account's own journal");

    // The organization's ledger is the accounts' ledgers added up, exactly.
    let ledger = |args: &[&str]| -> Value {
        let out = run(&[&["savings", "--format", "json"], args].concat());
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let org = ledger(&["--organization"]);
    let journal = |account: &str| state.join("accounts").join(account).join("journal.sqlite").to_string_lossy().to_string();
    let (dev, prod) = (ledger(&["--journal", &journal(&ids["ml-dev"])]), ledger(&["--journal", &journal(&ids["ml-prod"])]));
    assert_eq!(org["total"]["changes"], 2, "{org:#}");
    assert_eq!(org["rows"].as_array().map(Vec::len), Some(2));
    let usd = |v: &Value| v["total"]["monthly_usd"].as_f64().expect("a total");
    assert_eq!(usd(&org), usd(&dev) + usd(&prod), "{org:#}");
    assert_eq!(org["total"]["by_account"][&ids["ml-dev"]].as_f64(), Some(usd(&dev)), "{org:#}");
    assert_eq!(org["total"]["by_resource_type"]["log-group"].as_f64(), Some(usd(&org)), "{org:#}");
    let report: Value = serde_json::from_slice(&std::fs::read(dir.path().join("r/report.json")).expect("the organization's report")).expect("JSON");
    assert_eq!(report["totals"]["saved"]["changes"], 2, "the report opens with the same ledger: {:#}", report["totals"]);
    assert_eq!(report["totals"]["saved"]["monthly_usd"].as_f64(), Some(usd(&org)));
    let md = std::fs::read_to_string(dir.path().join("r/report.md")).expect("report.md");
    assert!(md.contains("Saved so far across the organization:"), "{md}");

    // The same name in two accounts: --account picks whose change is undone.
    let out = run(&["restore", "log-group", "/shared/name", "--account", &ids["ml-prod"]]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(retention_in(&moto, &ids["ml-prod"], "/shared/name").await, None, "restored in ml-prod");
    assert_eq!(retention_in(&moto, &ids["ml-dev"], "/shared/name").await, Some(30), "ml-dev untouched");
    let after = ledger(&["--organization"]);
    assert_eq!(after["total"]["changes"], 1, "the restored change no longer counts: {after:#}");
    assert_eq!(after["total"]["by_account"].get(ids["ml-prod"].as_str()), None, "{after:#}");
}

#[test]
fn the_organizations_ledger_needs_an_organizations_state_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard")).args(["savings", "--organization", "--state-dir"]).arg(dir.path()).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("accounts") && said.contains("organization sweep's state folder"), "{said}");
}

#[tokio::test]
async fn policies_scoped_by_account_tag_or_id_run_only_there() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    let tag = aws_sdk_organizations::types::Tag::builder().key("env").value("dev").build().expect("a tag");
    org.tag_resource().resource_id(&ids["ml-dev"]).tags(tag).send().await.expect("tag the account");
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/forever", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/forever", None, &[])]).await;
    support::seed_log_groups(&moto, &[("/hub/forever", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    let prod = &ids["ml-prod"];
    let text = format!(
        "policies:\n  - name: dev-fix\n    resource: log-group\n    accounts: {{tags: {{env: dev}}}}\n    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n    actions:\n      - type: set-retention\n        days: 30\n  - name: prod-report\n    resource: log-group\n    accounts: {{ids: ['{prod}']}}\n    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n"
    );
    std::fs::write(&policies, &text).expect("write policies");
    let reports = dir.path().join("r");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["sweep", "--dry-run", "--organization", "--skip-guardrails", "--prices", "builtin", "--policies", &policies.to_string_lossy()])
        .args(["--report-dir", &reports.to_string_lossy(), "--state-dir", &dir.path().join("s").to_string_lossy()])
        .envs(moto.env())
        .output()
        .expect("run costguard sweep");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&std::fs::read(reports.join("report.json")).expect("report.json")).expect("JSON");
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (f["policy"].as_str().unwrap_or_default().to_string(), f["account_id"].as_str().unwrap_or_default().to_string()))
        .collect();
    found.sort();
    assert_eq!(found, [("dev-fix".to_string(), ids["ml-dev"].clone()), ("prod-report".to_string(), prod.clone())], "dev fixes in dev only, prod only reports");
    assert_eq!(report["api_calls"]["organizations:ListTagsForResource"], 4, "one per account, only because a policy reads account tags");

    // Outside an organization's sweep, account tags are unknown: the tag-scoped policy does not run.
    let single = support::sweep_options(dir.path(), true);
    let compiled = costguard::config::compile_text(std::path::Path::new("p.yaml"), &text).expect("valid");
    let result = costguard::sweep::run(
        &moto.aws().await,
        &compiled,
        &single,
        &support::wall_clock(),
        &costguard::progress::Progress::hidden(),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("sweep");
    assert!(result.report.findings.is_empty(), "{:?}", result.report.findings);
}

#[tokio::test]
async fn each_person_gets_one_digest_across_the_accounts_grouped_by_account_and_not_again_within_the_quiet_period() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let owned: &[(&str, &str)] = &[("owner", "ana@example.com")];
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/ana", None, owned), ("/dev/nobody", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/ana", None, &[("owner", "Ana@Example.com")])]).await;
    let sink = support::smtp::SmtpSink::start(None);
    let email = support::smtp::email(&support::smtp::smtp_config(&sink, "  to: [ops@example.com]\n  owner-tags: [owner]\n"));
    let text = support::NEVER_EXPIRE.replace("        days: 30\n", "        days: 30\n      - type: notify\n        to: [resource-owner]\n");
    let policies = costguard::config::compile_text(std::path::Path::new("p.yaml"), &text).expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(dir.path(), true);
    options.features.email = Some(email);
    let selection = accounts::Selection { organization: true, only: vec![ids["ml-dev"].clone(), ids["ml-prod"].clone()], ..Default::default() };
    let how = reach(None, 2);
    let sweep = || async { sweep_org(&moto.aws().await, &policies, &options, &selection, &how).await };
    let result = sweep().await;
    let mut messages = sink.messages();
    messages.sort_by_key(|m| m.header("To").join(",").to_lowercase());
    let to: Vec<String> = messages.iter().map(|m| m.header("To").join(",").to_lowercase()).collect();
    assert_eq!(to, ["ana@example.com", "ops@example.com"], "one digest each, however the address was spelled");
    let ana = messages[0].text();
    assert!(ana.contains("for you in 2 accounts"), "{ana}");
    let dev = format!("Account ml-dev ({})", ids["ml-dev"]);
    let prod = format!("Account ml-prod ({})", ids["ml-prod"]);
    assert!(ana.contains(&dev) && ana.contains(&prod), "{ana}");
    let (at_dev, at_prod) = (ana.find(&dev).unwrap_or(usize::MAX), ana.find(&prod).unwrap_or(usize::MAX));
    let (dev_group, prod_group) = (ana.find("/dev/ana").unwrap_or(0), ana.find("/prod/ana").unwrap_or(0));
    assert!(at_dev < dev_group && at_prod < prod_group && (dev_group < at_prod || prod_group < at_dev), "each finding under its account: {ana}");
    assert!(!ana.contains("/dev/nobody"), "{ana}");
    let subject = messages[0].header("Subject").join("");
    assert!(subject.contains("2 findings in 2 accounts"), "{subject}");
    assert!(messages[0].html().contains(&dev), "{}", messages[0].html());
    let ops = messages[1].text();
    assert!(ops.contains("/dev/nobody") && !ops.contains("/prod/"), "the fallback hears about the unowned group only: {ops}");

    // Who hears about what, in the organization's report.
    let told: Vec<(String, usize, String)> = result.report.digests.iter().map(|d| (d.recipient.to_lowercase(), d.findings, d.status.clone())).collect();
    assert_eq!(told, [("ana@example.com".to_string(), 2, "sent".to_string()), ("ops@example.com".to_string(), 1, "sent".to_string())]);
    assert!(std::fs::read_to_string(&result.report_md).expect("report.md").contains("## Who hears about it"));
    let report_dir = result.report_json.parent().expect("the report's folder");
    assert!(!report_dir.join("digests.jsonl.partial").exists(), "the digests' spool is read back and removed");

    // Within the quiet period, each account's journal holds its findings back.
    sink.clear();
    let again = sweep().await;
    assert!(sink.messages().is_empty(), "nothing new to tell: {:?}", sink.messages().iter().map(|m| m.header("Subject").join("")).collect::<Vec<_>>());
    assert!(again.report.digests.is_empty());
}

#[tokio::test]
async fn the_daemon_config_sweeps_the_organization_it_names() {
    let moto = support::moto().await;
    let (ids, research) = organization(&moto).await;
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/forever", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/forever", None, &[])]).await;
    log_groups_in(&moto, &ids["vision"], &[("/vision/forever", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("policies.yaml"), support::NEVER_EXPIRE).expect("write policies");
    std::fs::write(dir.path().join("ext"), "ext-123\n").expect("write the external id");
    let config = dir.path().join("costguard.yaml");
    let vision = &ids["vision"];
    std::fs::write(
        &config,
        format!(
            "policies: [policies.yaml]\nregions: [us-east-1]\nstate-dir: state\nreport-dir: report\nprices: builtin\ndry-run: true\norganization:\n  ous: [{research}]\n  exclude: ['{vision}']\n  member-role: Audit\n  external-id-file: ext\n  max-accounts: 2\n"
        ),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_costguard")).args(["run", "--once", "--config"]).arg(&config).envs(moto.env()).output().expect("run --once");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("dry run: 1 accounts (0 failed), 1 findings"), "research holds ml-dev and vision, vision is excluded: {stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).expect("report.json")).expect("JSON");
    assert_eq!(ids_of(&report), [ids["ml-dev"].clone()]);
    assert_eq!(report["findings"][0]["resource_id"], "/dev/forever");
    assert_eq!(report["left_out"][0]["account_id"], vision.as_str());
    assert!(dir.path().join("report/accounts").join(&ids["ml-dev"]).join("report.json").exists(), "the account's own report beside");
}

const PAYER_GUARDRAILS: &str = "guardrails:
  scope: payer
  budgets:
    - {name: costguard-monthly-500, amount: 500}
  billing-alarms: {enabled: false}
  anomaly-detection: {enabled: false}
  spend: {enabled: false}
";

async fn budgets_in(config: &aws_config::SdkConfig, account: &str) -> std::collections::BTreeMap<String, (f64, Vec<String>)> {
    let budgets = aws_sdk_budgets::Client::new(config);
    let out = budgets.describe_budgets().account_id(account).send().await.expect("describe budgets");
    #[allow(deprecated)] // CostFilters: what costguard sets (see src/aws/budgets.rs).
    out.budgets()
        .iter()
        .map(|b| {
            let amount = b.budget_limit().and_then(|l| l.amount().parse().ok()).unwrap_or(0.0);
            let linked = b.cost_filters().and_then(|f| f.get("LinkedAccount").cloned()).unwrap_or_default();
            (b.budget_name().to_string(), (amount, linked))
        })
        .collect()
}

#[tokio::test]
async fn payer_scope_reconciles_the_guardrails_once_in_the_management_account_with_a_budget_per_member() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    std::fs::write(&policies, format!("{}{PAYER_GUARDRAILS}", support::NEVER_EXPIRE)).expect("write policies");
    let run = |name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
            .args(["sweep", "--organization", "--prices", "builtin", "--policies", &policies.to_string_lossy()])
            .args(["--report-dir", &dir.path().join(name).to_string_lossy(), "--state-dir", &dir.path().join("state").to_string_lossy()])
            .envs(moto.env())
            .output()
            .expect("run costguard sweep");
        assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&std::fs::read(dir.path().join(name).join("report.json")).expect("report.json")).expect("JSON");
        report
    };
    let first = run("first");
    let hub = first["hub_account"].as_str().unwrap_or_default().to_string();
    let found = budgets_in(&moto.sdk_config().await, &hub).await;
    let mut want: std::collections::BTreeMap<String, (f64, Vec<String>)> =
        ids.values().chain([&hub]).map(|id| (format!("costguard-monthly-500-{id}"), (500.0, vec![id.clone()]))).collect();
    want.insert("costguard-monthly-500".into(), (500.0, vec![]));
    assert_eq!(found, want, "the organization's budget and one per account, filtered by linked account");
    for id in ids.values() {
        assert!(budgets_in(&config_in(&moto, id).await, id).await.is_empty(), "member {id} gets no budget of its own");
    }
    assert_eq!(first["guardrails"]["scope"], "payer");
    assert_eq!(first["guardrails"]["payer_account"], hub.as_str());
    assert_eq!(first["guardrails"]["changes"].as_array().map(Vec::len), Some(5));
    let md = std::fs::read_to_string(dir.path().join("first/report.md")).expect("report.md");
    assert!(md.contains(&format!("reconciled once in the payer account {hub}: 5 budgets")), "{md}");

    // Reconciled: the next sweep changes nothing.
    let second = run("second");
    let changes: Vec<&str> = second["guardrails"]["changes"].as_array().into_iter().flatten().filter_map(|c| c["change"].as_str()).collect();
    assert_eq!(changes, ["unchanged"; 5], "{}", second["guardrails"]);
}

#[tokio::test]
async fn payer_scope_is_refused_from_an_account_that_is_not_the_management_account() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let member_hub = costguard::aws::Aws::from_config(config_in(&moto, &ids["ml-dev"]).await, costguard::aws::ApiCallCounter::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = never_expire();
    let guardrails = costguard::config::compile_guardrails_text(std::path::Path::new("g.yaml"), PAYER_GUARDRAILS).ok().flatten().expect("valid guardrails");
    let mut options = support::sweep_options(dir.path(), false);
    options.features.guardrails = Some(guardrails);
    let listed = vec![MemberAccount::new(&ids["ml-prod"], "ml-prod")];
    let selection = accounts::Selection { listed: Some(listed), ..Default::default() };
    let how = reach(None, 1);
    let result = sweep_org(&member_hub, &policies, &options, &selection, &how).await;
    let g = result.report.guardrails.as_ref().expect("guardrails reported");
    assert!(g.payer_account.is_none() && g.changes.is_empty(), "{g:?}");
    assert!(g.errors.iter().any(|e| e.contains("management account") && e.contains(&ids["ml-dev"])), "{:?}", g.errors);
    assert_eq!(result.exit_code(), 3);
    assert!(budgets_in(&config_in(&moto, &ids["ml-dev"]).await, &ids["ml-dev"]).await.is_empty(), "nothing created in the wrong account");
}

#[tokio::test]
async fn credentials_past_their_refresh_time_are_asked_for_again_and_the_sweep_goes_on() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/forever", None, &[])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/forever", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = never_expire();
    let options = support::sweep_options(dir.path(), true);
    let selection = accounts::Selection { organization: true, only: vec![ids["ml-dev"].clone(), ids["ml-prod"].clone()], ..Default::default() };
    // The shortest session AWS grants, due for refresh at once: every time
    // a client asks for credentials, the role is assumed again, as it is
    // once an hour in a long sweep.
    let how = Reach { session: costguard::aws::assume::Session { seconds: 900, refresh_before: std::time::Duration::from_secs(900) }, ..reach(None, 2) };
    let result = sweep_org(&moto.aws().await, &policies, &options, &selection, &how).await;
    assert!(result.report.accounts.iter().all(|a| a.status == "ok"), "{:?}", result.report.accounts);
    let mut found: Vec<(&str, &str)> = result.report.findings.iter().map(|f| (&*f.account_id, f.resource_id.as_str())).collect();
    found.sort();
    let mut want = vec![(ids["ml-dev"].as_str(), "/dev/forever"), (ids["ml-prod"].as_str(), "/prod/forever")];
    want.sort();
    assert_eq!(found, want, "each account's own, with the refreshed credentials");
    let assumed = result.report.api_calls.get("sts:AssumeRole").copied().unwrap_or(0);
    assert!(assumed > 2, "asked again past the refresh time (2 accounts, {assumed} AssumeRole)");
}

#[tokio::test]
async fn a_members_runaway_model_bill_is_told_by_email_and_sns_naming_the_account() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    // Haiku: 10 million input tokens ($2.50) five minutes ago in ml-dev only.
    let now = support::wall_clock().now();
    support::put_tokens_with(
        &config_in(&moto, &ids["ml-dev"]).await,
        &[("anthropic.claude-3-haiku-20240307-v1:0", now - chrono::Duration::minutes(5), 10_000_000.0, 0.0)],
    )
    .await;
    let sink = support::smtp::SmtpSink::start(None);
    let email = support::smtp::email(&support::smtp::smtp_config(&sink, ""));
    // The alert topic is the hub's. costguard publishes with the hub's
    // credentials; moto would also take a member's (it finds a topic by its
    // ARN, whoever asks), so which ones were used is not seen here.
    let subscriber = support::http_sink::HttpSink::start();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = sns.create_topic().name("ai-spend").send().await.expect("create topic").topic_arn.expect("a topic ARN");
    sns.subscribe().topic_arn(&topic).protocol("http").endpoint(subscriber.url("/sns")).send().await.expect("subscribe");
    let text = format!(
        "guardrails:\n  billing-alarms: {{enabled: false}}\n  anomaly-detection: {{enabled: false}}\n  spend: {{enabled: false}}\n  spend-velocity:\n    total: {{max-usd-per-hour: 1}}\n    email: [oncall@example.com]\n    sns-topic: '{topic}'\n"
    );
    let guardrails = costguard::config::compile_guardrails_text(std::path::Path::new("g.yaml"), &text).ok().flatten().expect("valid guardrails");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = support::sweep_options(dir.path(), true);
    (options.features.email, options.features.guardrails) = (Some(email), Some(guardrails));
    let selection = accounts::Selection { organization: true, only: vec![ids["ml-dev"].clone(), ids["ml-prod"].clone()], ..Default::default() };
    let result = sweep_org(&moto.aws().await, &never_expire(), &options, &selection, &reach(None, 2)).await;
    assert!(result.report.accounts.iter().all(|a| a.status == "ok"), "{:?}", result.report.accounts);
    let alerts: Vec<String> = sink.messages().iter().map(|m| m.header("Subject").join("")).collect();
    let dev = format!("[ml-dev ({})]", ids["ml-dev"]);
    assert_eq!(alerts.len(), 1, "one alert, from the account that spent: {alerts:?}");
    assert!(alerts[0].starts_with(&dev), "the subject names the account: {alerts:?}");
    assert!(sink.messages()[0].text().starts_with(&format!("Account: ml-dev ({})", ids["ml-dev"])));
    let notifications: Vec<Value> = subscriber.requests().iter().map(|r| r.json()).filter(|j| j["Type"] == "Notification").collect();
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    assert!(notifications[0]["Subject"].as_str().unwrap_or_default().starts_with(&dev), "{}", notifications[0]);
    let dev_report: Value = serde_json::from_slice(
        &std::fs::read(result.report.accounts.iter().find(|a| a.account_id == ids["ml-dev"]).and_then(|a| a.report.clone()).expect("ml-dev's report"))
            .expect("read"),
    )
    .expect("JSON");
    assert!(dev_report["errors"].as_array().is_none_or(Vec::is_empty), "{}", dev_report["errors"]);
}

/// A sharded run: the shards route their findings and send nothing; `report
/// merge --config` sends one digest per person across every shard's
/// accounts, and a second merge within the quiet period sends nothing new.
#[tokio::test]
async fn a_sharded_run_tells_each_person_once_from_the_merge_and_nothing_from_the_shards() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    // As many shards as it takes for ana's two accounts to be in different ones.
    let n = (2..=32u32).find(|n| accounts::shard_of(&ids["ml-dev"], *n) != accounts::shard_of(&ids["ml-prod"], *n)).expect("two accounts apart");
    log_groups_in(&moto, &ids["ml-dev"], &[("/dev/ana", None, &[("owner", "ana@example.com")])]).await;
    log_groups_in(&moto, &ids["ml-prod"], &[("/prod/ana", None, &[("owner", "ana@example.com")])]).await;
    log_groups_in(&moto, &ids["vision"], &[("/vision/bo", None, &[("owner", "bo@example.com")])]).await;
    let sink = support::smtp::SmtpSink::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("policies.yaml");
    let text = support::NEVER_EXPIRE.replace("        days: 30\n", "        days: 30\n      - type: notify\n        to: [resource-owner]\n");
    std::fs::write(&policies, &text).expect("write policies");
    let state = dir.path().join("state");
    let config = dir.path().join("costguard.yaml");
    let extra = format!("  owner-tags: [owner]\npolicies: ['{}']\nstate-dir: '{}'\n", policies.display(), state.display());
    std::fs::write(&config, support::smtp::smtp_config(&sink, &extra)).expect("write config");
    let shard_dirs: Vec<std::path::PathBuf> = (0..n).map(|k| dir.path().join(format!("shard{k}"))).collect();
    for (k, report_dir) in shard_dirs.iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
            .args(["sweep", "--dry-run", "--organization", "--skip-guardrails", "--prices", "builtin", "--shard", &format!("{k}/{n}")])
            .args(["--policies", &policies.to_string_lossy(), "--config", &config.to_string_lossy(), "--state-dir", &state.to_string_lossy()])
            .args(["--report-dir", &report_dir.to_string_lossy()])
            .envs(moto.env())
            .output()
            .expect("run costguard sweep");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(sink.messages().is_empty(), "shards only route: {:?}", sink.messages().iter().map(|m| &m.rcpt_tos).collect::<Vec<_>>());
    let held: Vec<Value> = shard_dirs
        .iter()
        .flat_map(|d| {
            let report: Value = serde_json::from_slice(&std::fs::read(d.join("report.json")).expect("report.json")).expect("JSON");
            report["digests"].as_array().cloned().unwrap_or_default()
        })
        .collect();
    assert!(held.len() >= 3 && held.iter().all(|d| d["status"] == "held for report merge"), "ana in two shards, bo in one: {held:#?}");
    // Each shard's digests: a line per account, private, the spool renamed.
    for d in &shard_dirs {
        let lines = std::fs::read_to_string(d.join("digests.jsonl")).expect("digests.jsonl");
        assert!(lines.lines().all(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["account"]["id"].is_string())), "{lines}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.join("digests.jsonl")).expect("meta").permissions().mode() & 0o777, 0o600);
        assert!(!d.join("digests.jsonl.partial").exists(), "no spool left");
    }

    let merge = || {
        let out = Command::new(env!("CARGO_BIN_EXE_costguard"))
            .args(["report", "merge"])
            .args(&shard_dirs)
            .args(["--out", &dir.path().join("all").to_string_lossy(), "--config", &config.to_string_lossy()])
            .envs(moto.env())
            .output()
            .expect("run costguard report merge");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&std::fs::read(dir.path().join("all/report.json")).expect("merged report.json")).expect("JSON")
    };
    let merged = merge();
    let mut to: Vec<String> = sink.messages().iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    to.sort();
    assert_eq!(to, ["ana@example.com", "bo@example.com"], "one digest per person across the shards");
    let ana = sink.messages().into_iter().find(|m| m.rcpt_tos == ["ana@example.com"]).expect("ana's digest");
    assert!(ana.text().contains("/dev/ana") && ana.text().contains("/prod/ana") && ana.text().contains("in 2 accounts"), "{}", ana.text());
    let digests = merged["digests"].as_array().expect("digests");
    assert!(
        digests.iter().any(|d| d["recipient"] == "ana@example.com" && d["status"] == "sent" && d["accounts"].as_array().map(Vec::len) == Some(2)),
        "{digests:#?}"
    );

    merge();
    assert_eq!(sink.messages().len(), 2, "within the quiet period: nothing again");
}

/// The organization's report keeps each account's findings most at stake
/// (at most `FINDINGS_PER_ACCOUNT`, most saving first) and counts them all;
/// the account's own report lists every one.
#[tokio::test]
async fn the_organizations_report_lists_each_accounts_findings_most_at_stake_and_counts_them_all() {
    use costguard::report::organization::FINDINGS_PER_ACCOUNT;
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let many = FINDINGS_PER_ACCOUNT + 5;
    let account = &ids["ml-dev"];
    let names: Vec<String> = (0..many).map(|i| format!("/dev/group-{i:02}")).collect();
    let groups: Vec<support::SeedGroup<'_>> = names.iter().map(|n| (n.as_str(), None, &[][..])).collect();
    log_groups_in(&moto, account, &groups).await;
    for (i, name) in names.iter().enumerate() {
        // Group i holds i GB, 120 days old: its saving grows with i.
        let bytes = (i as u64 + 1) * 1_000_000_000;
        moto.command(&serde_json::json!({"op": "store_bytes", "account": account, "region": "us-east-1", "name": name, "bytes": bytes}).to_string());
        moto.command(
            &serde_json::json!({"op": "backdate", "service": "logs", "account": account, "region": "us-east-1", "name": name, "days": 120}).to_string(),
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let report = org_sweep(&moto, dir.path(), "big", &["--account", account], &[]);
    assert_eq!(report["totals"]["findings"], many, "every finding counted");
    assert_eq!(report["accounts"][0]["findings"], many);
    let listed: Vec<&str> = report["findings"].as_array().expect("findings").iter().filter_map(|f| f["resource_id"].as_str()).collect();
    let most: Vec<&str> = names.iter().rev().take(FINDINGS_PER_ACCOUNT).map(String::as_str).collect();
    assert_eq!(listed, most, "the most at stake, most first");
    let own: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("big/accounts").join(account).join("report.json")).expect("its own report")).expect("JSON");
    assert_eq!(own["findings"].as_array().map(Vec::len), Some(many), "its own report has them all");
}
