//! `ebs-volume` against the moto server: unattached volumes found and
//! priced by type, attached, young and protected ones left alone; delete
//! takes a snapshot first, and restore creates the volume again from it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, Tag, TagSpecification, VolumeType};
use costguard::clock::Clock;
use costguard::config::{compile_text, Policy};
use costguard::engine::journal::Journal;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::resources::ResourceType;
use costguard::sweep::{self, SweepResult};
use tokio_util::sync::CancellationToken;

/// The shipped policy, with `actions` in place of its notify.
fn policy(actions: &str) -> Vec<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/ebs.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped ebs.yaml");
    let start = text.find("    actions:").expect("an actions section");
    let end = text.find("    max-resources").expect("a breaker");
    compile_text(&path, &format!("{}    actions:\n{actions}{}", &text[..start], &text[end..])).expect("valid")
}

struct Fleet {
    ids: BTreeMap<&'static str, String>,
}

/// Volumes: name -> (type, GiB, IOPS, throughput, days old, attached, tags).
async fn seed(moto: &support::Moto) -> Fleet {
    let ec2 = moto.ec2().await;
    let instance = moto.seed_instances(serde_json::json!([{"name": "web", "type": "m5.large", "cpu_max": 50.0}]));
    #[allow(clippy::type_complexity)]
    let volumes: [(&str, VolumeType, i32, Option<i32>, Option<i32>, f64, bool, &[(&str, &str)]); 6] = [
        ("forgotten-gp3", VolumeType::Gp3, 500, Some(6000), Some(250), 40.0, false, &[("owner", "ana@example.com")]),
        ("forgotten-io1", VolumeType::Io1, 100, Some(1000), None, 40.0, false, &[]),
        ("old-st1", VolumeType::St1, 1000, None, None, 40.0, false, &[]),
        ("attached", VolumeType::Gp3, 100, None, None, 40.0, true, &[]),
        ("just-detached", VolumeType::Gp2, 100, None, None, 2.0, false, &[]),
        ("kept", VolumeType::Gp2, 100, None, None, 40.0, false, &[("costguard:protect", "legal hold")]),
    ];
    let mut ids = BTreeMap::new();
    for (name, kind, size, iops, throughput, age, attached, tags) in volumes {
        let mut all: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
        all.push(Tag::builder().key("Name").value(name).build());
        let out = ec2
            .create_volume()
            .availability_zone("us-east-1a")
            .volume_type(kind)
            .size(size)
            .set_iops(iops)
            .set_throughput(throughput)
            .tag_specifications(TagSpecification::builder().resource_type(Ec2ResourceType::Volume).set_tags(Some(all)).build())
            .send()
            .await
            .expect("create volume");
        let id = out.volume_id().expect("an id").to_string();
        if attached {
            ec2.attach_volume().volume_id(&id).instance_id(&instance["web"]).device("/dev/sdf").send().await.expect("attach");
        }
        moto.command(&format!(r#"{{"op":"backdate","service":"ec2","kind":"volume","region":"{}","name":"{id}","days":{age}}}"#, support::REGION));
        ids.insert(name, id);
    }
    Fleet { ids }
}

async fn sweep_at(moto: &support::Moto, dir: &Path, policies: &[Policy], dry_run: bool) -> SweepResult {
    let options = support::sweep_options(dir, dry_run);
    sweep::run(&moto.aws().await, policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs")
}

#[tokio::test]
async fn a_dry_run_finds_exactly_the_old_unattached_volumes_priced_by_type() {
    let moto = support::moto().await;
    let fleet = seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, dir.path(), &policy("      - type: mark\n        days: 7\n      - delete\n"), true).await;

    let found: BTreeMap<&str, (Status, Option<f64>, Option<f64>)> = result
        .report
        .findings
        .iter()
        .map(|f| (fleet.ids.iter().find(|(_, id)| **id == f.resource_id).map_or("?", |(n, _)| *n), (f.status, f.monthly_cost_usd, f.monthly_saving_usd)))
        .collect();
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), ["forgotten-gp3", "forgotten-io1", "kept", "old-st1"], "{found:?}");
    let cost = |name: &str| found[name].1.unwrap_or(f64::NAN);
    // gp3: 500 GiB x $0.08 + 3,000 IOPS over the baseline x $0.005 + 125 MB/s over it x $0.04.
    assert!((cost("forgotten-gp3") - (40.0 + 15.0 + 5.0)).abs() < 1e-9, "{found:?}");
    assert!((cost("forgotten-io1") - (12.5 + 65.0)).abs() < 1e-9, "{found:?}");
    assert!((cost("old-st1") - 45.0).abs() < 1e-9, "{found:?}");
    // The snapshot kept for restore is counted against the saving.
    assert!((found["forgotten-gp3"].2.unwrap_or(f64::NAN) - (60.0 - 500.0 * 0.05)).abs() < 1e-9, "{found:?}");
    assert_eq!(found["kept"].0, Status::Skipped, "protected");
    let gp3 = result.report.findings.iter().find(|f| f.resource_id == fleet.ids["forgotten-gp3"]).expect("gp3 finding");
    assert_eq!(gp3.cost_kind, Some(costguard::resources::CostKind::GbMonths));
    assert!(gp3.detail.as_deref().unwrap_or("").contains("would mark; delete due"), "{gp3:?}");
    assert_eq!(result.report.api_calls.get("ec2:DescribeVolumes"), Some(&1), "one listing, nothing per volume");
}

#[tokio::test]
async fn delete_takes_a_snapshot_first_and_restore_creates_the_volume_from_it() {
    let moto = support::moto().await;
    let fleet = seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let result = sweep_at(&moto, dir.path(), &policy("      - delete\n"), false).await;
    let gp3 = &fleet.ids["forgotten-gp3"];
    let done = result.report.findings.iter().find(|f| &f.resource_id == gp3).expect("gp3 finding");
    assert_eq!(done.status, Status::Done, "{done:?}");
    assert!(done.detail.as_deref().unwrap_or("").starts_with("snapshot snap-"), "{done:?}");

    let ec2 = moto.ec2().await;
    let left: Vec<String> = ec2.describe_volumes().send().await.expect("volumes").volumes().iter().filter_map(|v| v.volume_id().map(str::to_string)).collect();
    for gone in ["forgotten-gp3", "forgotten-io1", "old-st1"] {
        assert!(!left.contains(&fleet.ids[gone]), "{gone} deleted");
    }
    for kept in ["attached", "just-detached", "kept"] {
        assert!(left.contains(&fleet.ids[kept]), "{kept} kept");
    }
    let snapshots = ec2.describe_snapshots().owner_ids("self").send().await.expect("snapshots");
    let of_gp3 = snapshots
        .snapshots()
        .iter()
        .find(|s| s.tags().iter().any(|t| t.key() == Some("costguard:snapshot-of") && t.value() == Some(gp3)))
        .expect("a snapshot of it");
    assert!(of_gp3.tags().iter().any(|t| t.key() == Some("owner")), "the volume's own tags travel with the snapshot");

    let journal = Journal::open(&dir.path().join("state/journal.sqlite")).expect("journal");
    let restored =
        costguard::engine::restore::restore(&moto.aws().await, &journal, ResourceType::EbsVolume, gp3, &support::wall_clock()).await.expect("restore");
    assert!(restored.contains("from snapshot snap-") && restored.contains("500 GiB gp3"), "{restored}");
    let volumes = ec2.describe_volumes().send().await.expect("volumes");
    let back = volumes.volumes().iter().find(|v| v.snapshot_id() == of_gp3.snapshot_id()).expect("the volume is back");
    assert_eq!((back.size(), back.volume_type(), back.availability_zone()), (Some(500), Some(&VolumeType::Gp3), Some("us-east-1a")));
    assert_eq!((back.iops(), back.throughput()), (Some(6000), Some(250)));
    assert!(back.tags().iter().any(|t| t.key() == Some("owner") && t.value() == Some("ana@example.com")), "{:?}", back.tags());
}

#[tokio::test]
async fn a_policy_that_forgets_the_state_filter_still_never_deletes_an_attached_volume() {
    let moto = support::moto().await;
    let fleet = seed(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "policies:\n  - name: careless\n    resource: ebs-volume\n    filters:\n      - type: value\n        key: VolumeType\n        value: gp3\n    actions:\n      - delete\n";
    let policies = compile_text(Path::new("careless.yaml"), text).expect("valid");
    let result = sweep::run(
        &moto.aws().await,
        &policies,
        &support::sweep_options(dir.path(), false),
        &Clock::fixed(chrono::Utc::now()),
        &Progress::hidden(),
        &CancellationToken::new(),
    )
    .await
    .expect("sweep");
    let attached = result.report.findings.iter().find(|f| f.resource_id == fleet.ids["attached"]).expect("matched");
    assert_eq!(attached.status, Status::Skipped, "{attached:?}");
    assert!(attached.detail.as_deref().unwrap_or("").contains("attached"), "{attached:?}");
    let ec2 = moto.ec2().await;
    let left = ec2.describe_volumes().volume_ids(&fleet.ids["attached"]).send().await.expect("volumes");
    assert_eq!(left.volumes().len(), 1, "still there");
}
