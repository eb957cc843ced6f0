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
    let research = org
        .create_organizational_unit()
        .parent_id(&root)
        .name("research")
        .send()
        .await
        .expect("ou")
        .organizational_unit()
        .and_then(|u| u.id().map(str::to_string))
        .expect("ou id");
    let vision = org
        .create_organizational_unit()
        .parent_id(&research)
        .name("vision")
        .send()
        .await
        .expect("ou")
        .organizational_unit()
        .and_then(|u| u.id().map(str::to_string))
        .expect("ou id");
    for (name, ou) in [("ml-dev", &research), ("vision", &vision)] {
        org.move_account().account_id(&ids[name]).source_parent_id(&root).destination_parent_id(ou).send().await.expect("move account");
    }
    (ids, research)
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

#[tokio::test]
async fn a_refused_role_fails_that_account_only() {
    let moto = support::moto().await;
    let (ids, _) = organization(&moto).await;
    let refused = ids["ml-prod"].clone();
    // moto accepts every role: the fake refuses one, as an SCP or a missing
    // trust would, and passes every other call to moto.
    let fake = FakeAws::forwarding_to(&moto.endpoint);
    let denied = refused.clone();
    fake.on("AssumeRole", move |body| {
        if body["RoleArn"].as_str().is_some_and(|arn| arn.contains(&denied)) {
            Answer::Error(403, "AccessDenied", "not authorized to perform sts:AssumeRole")
        } else {
            Answer::Forward
        }
    });
    let hub = costguard::aws::Aws::from_config(fake.sdk_config(false).await, costguard::aws::ApiCallCounter::new());
    let members: Vec<MemberAccount> = ids.iter().map(|(name, id)| MemberAccount::new(id, name)).collect();
    let how = Reach { partition: "aws".into(), member_role: "CostguardMember".into(), external_id: Some("ext-123".into()), max_concurrent: 2 };
    let reached = accounts::reach(&hub, "123456789012", members, &how).await;
    let status: std::collections::BTreeMap<&str, &str> = reached.iter().map(|r| (r.account_id.as_str(), r.status)).collect();
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
