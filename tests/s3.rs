//! `s3-bucket` against the moto server: buckets sized by storage class from
//! the daily `AWS/S3` metrics (put into moto by the test, as CloudWatch
//! publishes them), their lifecycle rules read, the ones without found and
//! priced; `set-lifecycle` adds costguard's rule beside anyone else's, and
//! restore removes only it.

mod support;

use std::path::Path;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter, Tag, Tagging,
    Transition, TransitionStorageClass,
};
use costguard::config::{compile_text, Policy};
use costguard::engine::journal::Journal;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use tokio_util::sync::CancellationToken;

const GB: f64 = 1e9;

fn shipped(actions: &str) -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/s3.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped s3.yaml");
    let start = text.find("    actions:").expect("an actions section");
    let end = text.find("    max-resources").expect("a breaker");
    compile_text(&path, &format!("{}    actions:\n{actions}{}", &text[..start], &text[end..])).expect("valid")
}

async fn s3(moto: &support::Moto) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(&moto.sdk_config().await)
}

/// Publishes a bucket's daily storage metrics, as S3 does.
async fn put_storage(moto: &support::Moto, bucket: &str, bytes: &[(&str, f64)], objects: f64) {
    let at = std::time::SystemTime::now() - std::time::Duration::from_secs(20 * 3600);
    let datum = |metric: &str, storage_type: &str, value: f64| {
        MetricDatum::builder()
            .metric_name(metric)
            .dimensions(Dimension::builder().name("BucketName").value(bucket).build())
            .dimensions(Dimension::builder().name("StorageType").value(storage_type).build())
            .value(value)
            .timestamp(at.into())
            .build()
    };
    let mut data: Vec<MetricDatum> = bytes.iter().map(|(t, b)| datum("BucketSizeBytes", t, *b)).collect();
    data.push(datum("NumberOfObjects", "AllStorageTypes", objects));
    moto.cloudwatch().await.put_metric_data().namespace("AWS/S3").set_metric_data(Some(data)).send().await.expect("put storage metrics");
}

fn their_rule() -> LifecycleRule {
    LifecycleRule::builder()
        .id("teams-archive")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("archive/").build())
        .transitions(Transition::builder().days(90).storage_class(TransitionStorageClass::Glacier).build())
        .build()
        .expect("rule")
}

async fn seed(moto: &support::Moto) {
    let s3 = s3(moto).await;
    for name in ["model-artifacts", "checkpoints", "tiny", "legal-hold"] {
        s3.create_bucket().bucket(name).send().await.expect("create bucket");
    }
    let eu = CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build();
    s3.create_bucket().bucket("elsewhere").create_bucket_configuration(eu).send().await.expect("create bucket in eu-west-1");
    // checkpoints has someone else's rule; legal-hold is protected.
    let config = BucketLifecycleConfiguration::builder().rules(their_rule()).build().expect("config");
    s3.put_bucket_lifecycle_configuration().bucket("checkpoints").lifecycle_configuration(config).send().await.expect("their rule");
    let tagging = |k: &str, v: &str| Tagging::builder().tag_set(Tag::builder().key(k).value(v).build().expect("tag")).build().expect("tagging");
    s3.put_bucket_tagging().bucket("legal-hold").tagging(tagging("costguard:protect", "yes")).send().await.expect("tag");
    s3.put_bucket_tagging().bucket("model-artifacts").tagging(tagging("owner", "ana@example.com")).send().await.expect("tag");
    put_storage(moto, "model-artifacts", &[("StandardStorage", 2_000.0 * GB), ("GlacierStorage", 10_000.0 * GB)], 1.2e6).await;
    put_storage(moto, "checkpoints", &[("StandardStorage", 500.0 * GB)], 4e3).await;
    put_storage(moto, "tiny", &[("StandardStorage", 1.0 * GB)], 10.0).await;
    put_storage(moto, "legal-hold", &[("StandardStorage", 300.0 * GB)], 100.0).await;
}

async fn sweep_at(moto: &support::Moto, dir: &Path, policies: &[Policy], dry_run: bool) -> SweepResult {
    let options = support::sweep_options(dir, dry_run);
    sweep::run(&moto.aws().await, policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

#[tokio::test]
async fn buckets_without_lifecycle_are_found_priced_by_class_with_few_calls() {
    let moto = support::moto().await;
    seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, dir.path(), &shipped("      - type: notify\n      - type: set-lifecycle\n"), true).await;
    assert!(result.report.errors.is_empty(), "{:?}", result.report.errors);
    let found: Vec<(&str, Status)> = result.report.findings.iter().map(|f| (f.resource_id.as_str(), f.status)).collect();
    assert_eq!(
        found,
        [("legal-hold", Status::Skipped), ("model-artifacts", Status::Planned)],
        "checkpoints has a rule; tiny is small; elsewhere is in eu-west-1"
    );
    let artifacts = &result.report.findings[1];
    let expected = 2_000.0 * 0.023 + 10_000.0 * 0.0036;
    assert!((artifacts.monthly_cost_usd.unwrap_or(f64::NAN) - expected).abs() < 1e-6, "{artifacts:?}");
    assert!(artifacts.cost_basis.as_deref().unwrap_or("").contains("GlacierStorage"), "{artifacts:?}");
    let calls = &result.report.api_calls;
    assert_eq!(calls.get("s3:ListBuckets"), Some(&1));
    assert_eq!((calls.get("cloudwatch:ListMetrics"), calls.get("cloudwatch:GetMetricData")), (Some(&2), Some(&1)), "sizes of every bucket in three calls");
    assert_eq!(calls.get("s3:GetBucketLifecycleConfiguration"), Some(&3), "described only past the size filter (not tiny): {calls:?}");
    assert_eq!(calls.get("s3:GetBucketVersioning"), None, "no policy reads Versioning: {calls:?}");

    // A policy that reads it has it read, for the same buckets.
    let text = "policies:\n  - name: versioned-artifacts\n    resource: s3-bucket\n    filters:\n      - type: value\n        key: SizeBytes\n        op: gt\n        value: 100000000000\n      - type: value\n        key: Versioning\n        value: absent\n";
    let versioned = sweep_at(&moto, dir.path(), &compile_text(Path::new("v.yaml"), text).expect("valid"), true).await;
    let calls = &versioned.report.api_calls;
    assert!(calls.get("s3:GetBucketVersioning").is_some_and(|n| *n > 0), "{calls:?}");
    assert_eq!(calls.get("s3:GetBucketVersioning"), calls.get("s3:GetBucketLifecycleConfiguration"), "one each per bucket described: {calls:?}");
}

#[tokio::test]
async fn set_lifecycle_adds_costguards_rule_beside_theirs_and_restore_removes_only_it() {
    let moto = support::moto().await;
    seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Buckets that do not abort incomplete uploads, whatever else they do.
    let text = "policies:\n  - name: abort-uploads\n    resource: s3-bucket\n    filters:\n      - type: value\n        key: AbortsIncompleteUploads\n        value: false\n      - type: value\n        key: SizeBytes\n        op: gt\n        value: 100000000000\n    actions:\n      - type: set-lifecycle\n        abort-incomplete-uploads-days: 3\n";
    let policies = compile_text(Path::new("abort.yaml"), text).expect("valid");
    let result = sweep_at(&moto, dir.path(), &policies, false).await;
    let status = |name: &str| result.report.findings.iter().find(|f| f.resource_id == name).map(|f| f.status);
    assert_eq!((status("checkpoints"), status("model-artifacts"), status("legal-hold")), (Some(Status::Done), Some(Status::Done), Some(Status::Skipped)));

    let s3 = s3(&moto).await;
    let rules = |out: aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput| {
        out.rules().iter().map(|r| r.id().unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    let checkpoints = s3.get_bucket_lifecycle_configuration().bucket("checkpoints").send().await.expect("rules");
    let ours = checkpoints.rules().iter().find(|r| r.id() == Some("costguard")).expect("costguard's rule");
    assert_eq!(ours.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()), Some(3));
    assert_eq!(rules(checkpoints), ["teams-archive", "costguard"], "their rule kept as it was");
    assert!(s3.get_bucket_lifecycle_configuration().bucket("legal-hold").send().await.is_err(), "protected: still no lifecycle");

    // A second sweep finds nothing left to do.
    let again = sweep_at(&moto, dir.path(), &policies, false).await;
    assert_eq!(again.report.api_calls.get("s3:PutBucketLifecycleConfiguration"), None, "{:?}", again.report.findings);
    assert!(again.report.findings.iter().all(|f| f.status != Status::Done), "{:?}", again.report.findings);

    let journal = Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    let done =
        costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::S3Bucket, "checkpoints", &support::wall_clock()).await.expect("restore");
    assert!(done.contains("removed costguard's lifecycle rule") && done.contains("1 other rule(s) kept"), "{done}");
    let after = s3.get_bucket_lifecycle_configuration().bucket("checkpoints").send().await.expect("rules");
    assert_eq!(rules(after), ["teams-archive"]);
    costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::S3Bucket, "model-artifacts", &support::wall_clock()).await.expect("restore");
    assert!(s3.get_bucket_lifecycle_configuration().bucket("model-artifacts").send().await.is_err(), "its only rule removed: no configuration left");
}
