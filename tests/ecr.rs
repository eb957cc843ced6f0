//! `ecr-repository` against the moto server: repositories listed, their
//! tags in bulk (moto's Tagging API leaves ECR out; tests/support/moto_server.py
//! adds it, as AWS's has it), lifecycle policies and images read only for
//! what the policies read, stored bytes priced; `set-lifecycle` gives only
//! repositories without a policy costguard's rules, and restore removes
//! only those.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use costguard::config::{compile_text, Policy};
use costguard::engine::journal::Journal;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use tokio_util::sync::CancellationToken;

const GB: i64 = 1_000_000_000;

async fn ecr(moto: &support::Moto) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&moto.sdk_config().await)
}

/// An image whose size, as moto reports it, is `bytes`; untagged when `tag` is `None`.
async fn push(ecr: &aws_sdk_ecr::Client, repository: &str, tag: Option<&str>, bytes: i64, n: usize) {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": bytes, "digest": format!("sha256:{:064x}", n)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": bytes, "digest": format!("sha256:{:064x}", n + 1000)}],
    });
    let mut request = ecr.put_image().repository_name(repository).image_manifest(manifest.to_string());
    if let Some(tag) = tag {
        request = request.image_tag(tag);
    }
    request.send().await.expect("put image");
}

fn team_policy() -> String {
    serde_json::json!({"rules": [{
        "rulePriority": 5,
        "description": "team: release images expire after a year",
        "selection": {"tagStatus": "tagged", "tagPrefixList": ["release"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 365},
        "action": {"type": "expire"}
    }]})
    .to_string()
}

async fn seed(moto: &support::Moto) -> aws_sdk_ecr::Client {
    let ecr = ecr(moto).await;
    let tag = |k: &str, v: &str| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build().expect("tag");
    ecr.create_repository().repository_name("serving").tags(tag("owner", "ana@example.com")).send().await.expect("create");
    push(&ecr, "serving", Some("v1"), 2 * GB, 1).await;
    push(&ecr, "serving", Some("v2"), 2 * GB, 2).await;
    push(&ecr, "serving", None, 2 * GB, 3).await;
    ecr.create_repository().repository_name("team-managed").send().await.expect("create");
    push(&ecr, "team-managed", Some("v1"), GB, 4).await;
    ecr.put_lifecycle_policy().repository_name("team-managed").lifecycle_policy_text(team_policy()).send().await.expect("their policy");
    ecr.create_repository().repository_name("empty").send().await.expect("create");
    ecr.create_repository().repository_name("legal-hold").tags(tag("costguard:protect", "true")).send().await.expect("create");
    push(&ecr, "legal-hold", Some("v1"), GB, 5).await;
    ecr
}

fn shipped() -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/ecr.yaml");
    compile_text(&path, &std::fs::read_to_string(&path).expect("shipped ecr.yaml")).expect("valid")
}

async fn sweep_at(moto: &support::Moto, dir: &Path, policies: &[Policy], dry_run: bool) -> SweepResult {
    let options = support::sweep_options(dir, dry_run);
    sweep::run(&moto.aws().await, policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

#[tokio::test]
async fn repositories_without_lifecycle_are_found_and_priced_with_tags_in_bulk() {
    let moto = support::moto().await;
    seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, dir.path(), &shipped(), true).await;
    assert!(result.report.errors.is_empty(), "{:?}", result.report.errors);
    let found: BTreeMap<&str, &costguard::engine::findings::Finding> = result.report.findings.iter().map(|f| (f.resource_id.as_str(), f)).collect();
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), ["legal-hold", "serving"], "team-managed has a policy; empty holds nothing");
    assert_eq!(found["legal-hold"].status, Status::Skipped, "protected");
    let serving = found["serving"];
    assert_eq!(serving.status, Status::Planned);
    assert_eq!(serving.owner.as_deref(), Some("ana@example.com"), "its tags came in bulk");
    // Three images of 2 GB at $0.10 per GB-month.
    assert!(serving.monthly_cost_usd.is_some_and(|c| (c - 0.6).abs() < 1e-9), "{serving:#?}");
    assert!(serving.cost_basis.as_deref().is_some_and(|b| b.contains("3 image(s)")), "{serving:#?}");
    let calls = &result.report.api_calls;
    assert_eq!(calls.get("ecr:DescribeRepositories"), Some(&1));
    assert_eq!(calls.get("tag:GetResources"), Some(&1));
    assert_eq!(calls.get("ecr:ListTagsForResource"), None, "tags in bulk: {calls:?}");
    assert_eq!(calls.get("ecr:GetLifecyclePolicy"), Some(&4), "{calls:?}");
    assert_eq!(calls.get("ecr:DescribeImages"), Some(&4), "{calls:?}");

    // A policy that reads neither lifecycle nor images reads neither.
    let text = "policies:\n  - name: mutable\n    resource: ecr-repository\n    filters:\n      - type: value\n        key: ImageTagMutability\n        value: MUTABLE\n";
    let plain = sweep_at(&moto, dir.path(), &compile_text(Path::new("m.yaml"), text).expect("valid"), true).await;
    let calls = &plain.report.api_calls;
    assert_eq!((calls.get("ecr:GetLifecyclePolicy"), calls.get("ecr:DescribeImages")), (None, None), "{calls:?}");
    assert!(plain.report.findings.iter().all(|f| f.monthly_cost_usd.is_none()), "images unread: unknown, never $0");
}

#[tokio::test]
async fn set_lifecycle_gives_only_repositories_without_a_policy_costguards_rules_and_restore_removes_only_them() {
    let moto = support::moto().await;
    let ecr = seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "policies:\n  - name: lifecycle\n    resource: ecr-repository\n    filters:\n      - type: value\n        key: HasLifecyclePolicy\n        value: false\n    actions:\n      - type: set-lifecycle\n        keep-images: 10\n        untagged-days: 3\n";
    let policies = compile_text(Path::new("l.yaml"), text).expect("valid");
    let result = sweep_at(&moto, dir.path(), &policies, false).await;
    let status = |name: &str| result.report.findings.iter().find(|f| f.resource_id == name).map(|f| f.status);
    assert_eq!(
        (status("serving"), status("empty"), status("legal-hold"), status("team-managed")),
        (Some(Status::Done), Some(Status::Done), Some(Status::Skipped), None)
    );
    let text_of = |out: aws_sdk_ecr::operation::get_lifecycle_policy::GetLifecyclePolicyOutput| -> serde_json::Value {
        serde_json::from_str(out.lifecycle_policy_text().unwrap_or_default()).expect("policy text")
    };
    let serving = text_of(ecr.get_lifecycle_policy().repository_name("serving").send().await.expect("costguard's policy"));
    let rules = serving["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2, "{serving}");
    assert!(rules.iter().any(|r| r["selection"]["countType"] == "imageCountMoreThan" && r["selection"]["countNumber"] == 10), "{serving}");
    assert!(rules.iter().any(|r| r["selection"]["tagStatus"] == "untagged" && r["selection"]["countNumber"] == 3), "{serving}");
    let theirs = text_of(ecr.get_lifecycle_policy().repository_name("team-managed").send().await.expect("their policy"));
    assert_eq!(theirs, serde_json::from_str::<serde_json::Value>(&team_policy()).expect("json"), "never replaced");
    assert!(ecr.get_lifecycle_policy().repository_name("legal-hold").send().await.is_err(), "protected: still none");

    // A second sweep has nothing to do.
    let again = sweep_at(&moto, dir.path(), &policies, false).await;
    assert_eq!(again.report.api_calls.get("ecr:PutLifecyclePolicy"), None, "{:?}", again.report.findings);

    // The team adds a rule of its own beside costguard's; restore removes only costguard's.
    let mut both = serving.clone();
    let team: serde_json::Value = serde_json::from_str(&team_policy()).expect("json");
    both["rules"].as_array_mut().expect("rules").push(team["rules"][0].clone());
    ecr.put_lifecycle_policy().repository_name("serving").lifecycle_policy_text(both.to_string()).send().await.expect("team adds a rule");
    let journal = Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    let aws = moto.aws().await;
    let done = costguard::engine::restore::restore(&aws, &journal, ResourceType::EcrRepository, "serving", &support::wall_clock()).await.expect("restore");
    assert!(done.contains("1 other rule(s) kept"), "{done}");
    assert_eq!(text_of(ecr.get_lifecycle_policy().repository_name("serving").send().await.expect("their rule stays")), team);
    costguard::engine::restore::restore(&aws, &journal, ResourceType::EcrRepository, "empty", &support::wall_clock()).await.expect("restore");
    assert!(ecr.get_lifecycle_policy().repository_name("empty").send().await.is_err(), "only costguard's rules: no policy left");
}
