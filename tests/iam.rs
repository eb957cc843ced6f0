//! The generated IAM policy against what costguard really calls: the shipped
//! policies and guardrails swept against the moto server through a whole
//! lifecycle (mark, unmark, delete, set retention, budgets and alarms), and
//! every operation counted. Every operation called must be allowed, and
//! nothing granted may go unused. Also: the shipped `deploy/iam-policy.json`
//! is exactly what `costguard iam-policy` prints for the shipped config.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use costguard::clock::Clock;
use costguard::progress::Progress;
use costguard::sweep;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The shipped policies folder, with the guardrails moto can answer:
/// budgets and billing alarms (no Cost Anomaly Detection, no forecast).
fn shipped_for_moto(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let folder = dir.join("policies");
    std::fs::create_dir_all(&folder).expect("mkdir");
    for name in ["log-groups.yaml", "sagemaker.yaml", "ec2.yaml"] {
        std::fs::copy(root.join(name), folder.join(name)).expect("copy shipped policy");
    }
    let guardrails = std::fs::read_to_string(root.join("guardrails.yaml")).expect("shipped guardrails");
    let budgets: String = guardrails.lines().take_while(|l| !l.contains("CloudWatch alarms on the account")).map(|l| format!("{l}\n")).collect();
    std::fs::write(
        folder.join("guardrails.yaml"),
        format!("{budgets}  billing-alarms:\n    enabled: true\n  anomaly-detection:\n    enabled: false\n  spend:\n    enabled: false\n"),
    )
    .expect("write guardrails");
    folder
}

#[tokio::test]
async fn the_generated_policy_allows_exactly_what_a_lifecycle_of_sweeps_calls() {
    let moto = support::moto().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = shipped_for_moto(dir.path());
    let set = costguard::config::load(std::slice::from_ref(&folder)).expect("shipped policies");
    let guardrails = set.guardrails.expect("declared");
    // moto hosts no inference components and no MLflow: their calls are
    // checked against the grants in tests/inference_components.rs and
    // tests/mlflow.rs.
    use costguard::resources::ResourceType::{SagemakerInferenceComponent, SagemakerMlflowTrackingServer};
    let policies: Vec<_> =
        set.policies.into_iter().filter(|p| ![SagemakerInferenceComponent, SagemakerMlflowTrackingServer].contains(&p.resource_type)).collect();

    support::seed_log_groups(&moto, &[("/app/forever", None, &[])]).await;
    support::seed_endpoint(&moto, "idle", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    support::seed_endpoint(&moto, "comes-back", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    // Busy ones, so the idle two stay under the shipped breaker (50 %).
    for name in ["busy-1", "busy-2", "busy-3"] {
        support::seed_endpoint(&moto, name, &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
        support::put_invocations(&moto, name, "AllTraffic", 9.0, 2).await;
    }
    support::seed_notebook(&moto, "forgotten", 10.0).await;
    moto.seed_instances(json!([{"name": "quiet", "type": "m5.2xlarge", "cpu_max": 15.0, "samples": 4032.0, "memory": 20.0}]));

    let mut options = support::sweep_options(dir.path(), false);
    options.features.guardrails = Some(guardrails.clone());
    let t0 = Utc::now();
    let mut called = BTreeSet::new();
    let mut sweep_at = async |at| {
        let aws = moto.aws().await;
        let result = sweep::run(&aws, &policies, &options, &Clock::fixed(at), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep");
        called.extend(result.report.api_calls.keys().map(|k| costguard::iam::iam_action(k)));
        result
    };
    let first = sweep_at(t0).await;
    assert!(
        first.report.findings.iter().any(|f| f.resource_id == "idle" && f.detail.as_deref().unwrap_or("").contains("marked")),
        "{:?}",
        first.report.findings
    );
    support::put_invocations(&moto, "comes-back", "AllTraffic", 7.0, 1).await;
    let later = sweep_at(t0 + Duration::days(8)).await;
    assert!(later.report.findings.iter().any(|f| f.resource_id == "idle" && f.status == costguard::engine::apply::Status::Done), "{:?}", later.report.findings);

    let needs = costguard::iam::Needs { events: None, guardrails: Some(&guardrails), ..Default::default() };
    let granted = costguard::iam::actions(&policies, &needs);
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(missing.is_empty(), "called but not allowed: {missing:?}");
    assert!(unused.is_empty(), "allowed but never called: {unused:?}");
}

#[test]
fn the_shipped_iam_policy_is_what_the_generator_prints() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["iam-policy", "--policies", &format!("{root}/policies"), "--config", &format!("{root}/deploy/costguard.yaml")])
        .output()
        .expect("run iam-policy");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let shipped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/deploy/iam-policy.json")).expect("deploy/iam-policy.json")).expect("JSON");
    assert_eq!(generated, shipped, "regenerate deploy/iam-policy.json (see the README)");
    let text = serde_json::to_string(&generated).unwrap_or_default();
    for mutation in ["sagemaker:DeleteEndpoint", "logs:PutRetentionPolicy", "budgets:ModifyBudget"] {
        let statement =
            generated["Statement"].as_array().and_then(|s| s.iter().find(|s| s["Action"].as_array().is_some_and(|a| a.iter().any(|x| x == mutation))));
        assert!(statement.is_some_and(|s| s["Resource"] != "*"), "{mutation} is scoped to ARNs: {text}");
    }
}

/// Every change any resource type can make, and every guardrail change, is
/// scoped to ARNs or held by a condition: none is granted on `*` bare.
#[test]
fn no_change_is_granted_on_any_resource_without_a_condition() {
    use costguard::resources::ResourceType;
    // Fields some actions need, so each can be compiled; a new action with
    // required fields fails below until it is listed here.
    let fields = |action: &str| match action {
        "set-retention" => "\n        days: 30",
        _ => "",
    };
    let mut text = String::from("policies:\n");
    for rt in ResourceType::ALL {
        for action in rt.action_names() {
            let sizing = if rt.sizable() { "\n      - type: rightsizing\n        verdict: over-provisioned" } else { "" };
            text.push_str(&format!(
                "  - name: {rt}-{action}\n    resource: {rt}\n    filters:{}{sizing}\n    actions:\n      - type: mark\n        days: 1\n      - type: {action}{}\n",
                if sizing.is_empty() { " []" } else { "" },
                fields(action)
            ));
        }
    }
    let policies = costguard::config::compile_text(Path::new("all.yaml"), &text).unwrap_or_else(|e| panic!("every action compiles:\n{e}\n{text}"));
    assert_eq!(policies.len(), ResourceType::ALL.iter().map(|t| t.action_names().len()).sum::<usize>());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guardrails = costguard::config::load(&[root.join("policies/guardrails.yaml")]).expect("shipped guardrails").guardrails.expect("declared");
    let topic = "arn:aws:sns:us-east-1:123456789012:costguard".to_string();
    let events = costguard::config::events::EventsSettings::for_queue("https://sqs.us-east-1.amazonaws.com/123456789012/costguard-events");
    let needs = costguard::iam::Needs {
        events: Some(&events),
        guardrails: Some(&guardrails),
        price_list_api: true,
        ses: Some("costguard@example.com".to_string()),
        sns_topics: vec![topic.clone()],
        require_tag: None,
        protect_tag: None,
    };
    let grants = costguard::iam::grants(&policies, &needs);
    assert!(grants.iter().any(|g| g.action == "sns:Publish" && g.resources == [topic.clone()]), "an sns channel may publish to its topic only");
    let bare: Vec<&str> = grants.iter().filter(|g| !g.is_read() && g.resources.is_empty() && g.condition.is_none()).map(|g| g.action.as_str()).collect();
    assert!(bare.is_empty(), "changes granted on every resource without a condition: {bare:?}");
    assert!(grants.iter().filter(|g| !g.is_read()).all(|g| g.resources.iter().all(|r| r != "*")), "{grants:?}");
    // Every tag write a mark makes (all types but S3, whose tag set IAM
    // cannot condition by key), or the creator's tag an event adds, may
    // write or remove costguard's key only.
    let unconditioned: Vec<&costguard::iam::Grant> = grants
        .iter()
        .filter(|g| g.action.ends_with("Tags") && !g.action.starts_with("s3:") && !g.resources.iter().all(|r| r.contains(":snapshot/")))
        .filter(|g| {
            !g.condition.as_deref().is_some_and(|c| c.contains("aws:TagKeys") && (c.contains("costguard:marked-for") || c.contains("costguard:created-by")))
        })
        .collect();
    assert!(unconditioned.is_empty(), "tag writes without the tag-key condition: {unconditioned:?}");
    for rt in ResourceType::ALL {
        assert!(rt.arn_pattern().starts_with("arn:aws:") && rt.arn_pattern().contains(':'), "{rt}: {}", rt.arn_pattern());
    }
}

#[test]
fn the_member_role_template_carries_the_generated_policy_and_trusts_only_the_hub() {
    let root = env!("CARGO_MANIFEST_DIR");
    let template = std::fs::read_to_string(format!("{root}/deploy/member-role.yaml")).expect("deploy/member-role.yaml");
    // The generated block, as the template holds it (JSON is YAML).
    let block: String =
        template.lines().skip_while(|l| !l.contains("# BEGIN generated")).skip(1).take_while(|l| !l.contains("# END generated")).collect::<Vec<_>>().join("\n");
    let embedded: serde_json::Value = serde_json::from_str(&block).expect("the template's policy is JSON");
    let shipped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/deploy/iam-policy.json")).expect("deploy/iam-policy.json")).expect("JSON");
    assert_eq!(embedded, shipped, "regenerate the policy block of deploy/member-role.yaml (see the README)");
    assert!(costguard::yaml::parse(&template).is_ok(), "the template is YAML");
    assert!(
        template.contains("Principal: {\"AWS\": {\"Ref\": \"HubRoleArn\"}}") && template.contains("sts:ExternalId"),
        "trusts only the hub, with the external id when set"
    );

    // The hub's own policy: the accounts, and the member role by name.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_costguard"))
        .args(["iam-policy", "--hub", "--member-role", "Costguard-Read"])
        .output()
        .expect("run iam-policy --hub");
    let hub: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let actions: Vec<String> = hub["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| match &s["Action"] {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            other => other.as_str().map(str::to_string).into_iter().collect::<Vec<_>>(),
        })
        .collect();
    let read_only = |a: &str| a.starts_with("organizations:List") || a == "organizations:DescribeOrganization";
    assert!(actions.iter().all(|a| read_only(a) || a == "sts:AssumeRole" || a == "sts:GetCallerIdentity"), "{actions:?}");
    assert_eq!(hub["Statement"][1]["Resource"], "arn:aws:iam::*:role/Costguard-Read");
    assert_eq!(hub["Statement"][1]["Condition"], json!({"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}}), "only in the hub's organization");
}

#[test]
fn the_shipped_policy_can_neither_write_nor_remove_the_protect_tag_and_mail_goes_from_one_identity() {
    let root = env!("CARGO_MANIFEST_DIR");
    let shipped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/deploy/iam-policy.json")).expect("deploy/iam-policy.json")).expect("JSON");
    let tagging = ["ec2:CreateTags", "ec2:DeleteTags", "sagemaker:AddTags", "sagemaker:DeleteTags"];
    let mut checked = 0;
    for statement in shipped["Statement"].as_array().expect("statements") {
        let actions: Vec<&str> = match &statement["Action"] {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            other => other.as_str().into_iter().collect(),
        };
        if !actions.iter().any(|a| tagging.contains(a)) {
            continue;
        }
        // EBS snapshots are tagged as they are created (CreateSnapshot's tags), on snapshot ARNs only.
        if statement["Resource"].as_array().is_some_and(|r| r.iter().all(|r| r.as_str().is_some_and(|r| r.contains(":snapshot/")))) {
            continue;
        }
        let keys = &statement["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"];
        if actions == ["sagemaker:AddTags"] && keys.is_null() {
            // Waking an endpoint an off-hours policy deleted re-creates it with its own tags: any but the protect tag.
            let never = &statement["Condition"]["ForAllValues:StringNotEquals"]["aws:TagKeys"];
            assert_eq!(never, &json!(["costguard:protect"]), "re-created endpoints never get the protect tag: {statement}");
            continue;
        }
        assert_eq!(keys, &json!(["costguard:marked-for"]), "tag writes only of costguard's own key: {statement}");
        checked += 1;
    }
    assert!(checked >= 1, "the shipped policies mark SageMaker endpoints: {checked}");

    let needs = costguard::iam::Needs { ses: Some("costguard@mail.example.com".to_string()), ..Default::default() };
    let ses = costguard::iam::grants(&[], &needs).into_iter().find(|g| g.action == "ses:SendEmail").expect("granted");
    assert_eq!(
        ses.resources,
        ["arn:aws:ses:*:*:identity/costguard@mail.example.com", "arn:aws:ses:*:*:identity/mail.example.com", "arn:aws:ses:*:*:configuration-set/*"],
        "only the configured sender's identity"
    );
}
