//! `ebs-volume`: EBS volumes, and the ones attached to nothing.
//!
//! Listing is one DescribeVolumes per 500 volumes and carries everything,
//! tags included: nothing to describe afterwards. AWS does not record when
//! a volume was detached, so "unattached for N days" is: state `available`,
//! created more than N days ago, and (with `mark`) still unattached when
//! the grace period that started on first sight ends.
//!
//! Its cost is GB-months by volume type, plus provisioned IOPS (io1, io2,
//! gp3 above 3,000) and throughput (gp3 above 125 MB/s) where billed.
//!
//! # Actions
//! `delete`: snapshot the volume, then delete it. `costguard restore
//! ebs-volume VOLUME_ID` creates it again from that snapshot: same
//! Availability Zone, type, size, IOPS, throughput and tags (a new id).
//!
//! ```yaml
//! actions:
//!   - type: mark
//!     days: 7
//!   - delete
//! ```
//!
//! ## Guarantees
//! - Runs only after the volume is re-read, still matches, is not
//!   protected, and is journaled; never on a volume attached to anything.
//! - The snapshot is taken first (tagged `costguard:snapshot-of` with the
//!   volume's id and the volume's own tags); no snapshot, no deletion.
//! - A volume already gone is "already done".
//!
//! ## Caveats
//! - The snapshot is billed (standard snapshot storage, at most the
//!   volume's size) until someone deletes it; the finding's saving counts it.
//! - A restored volume has a new id: whatever referred to the old one must
//!   be pointed at it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sizes::{Assessment, Sizing};
use super::{ActionInfo, Effect, Effort, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Permission, Registered, Resource, ResourceAction, RestoreError, Tags};
use crate::aws::tags::{ec2_error as sdk_err, ec2_tags, time};
use crate::aws::{sdk_client, Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::{Builtin, PriceBook, PriceKey};
use crate::yaml::{self, DecodeError, Node};

pub struct Volumes;

/// DescribeVolumes' largest page.
const PAGE_SIZE: i32 = 500;
/// The tag on the snapshot taken before a deletion: the volume's id.
pub const SNAPSHOT_OF_TAG: &str = "costguard:snapshot-of";
/// When the built-in EBS prices were compiled (AWS list prices, us-east-1).
const BUILTIN_TAKEN: &str = "2026-11-30";
/// Standard snapshot storage, USD per GB-month (us-east-1): what a snapshot
/// costs at most (snapshots store the blocks in use, never more than the size).
const SNAPSHOT_USD_PER_GB_MONTH: f64 = 0.05;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub volume_type: String,
    pub size_gib: i32,
    pub iops: Option<i32>,
    /// MB/s (gp3).
    pub throughput: Option<i32>,
    /// `available` (attached to nothing), `in-use`, `creating`, ...
    pub state: String,
    pub created_at: Option<DateTime<Utc>>,
    pub availability_zone: String,
    pub encrypted: bool,
    pub snapshot_id: Option<String>,
    pub attachments: i32,
}

impl Kind for Volumes {
    type Details = Volume;
    type Action = Action;

    const NOUN: &'static str = "EBS volume";
    const ALIASES: &'static [&'static str] = &["aws.ebs", "ebs"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("VolumeId", AttrKind::String),
        Attribute::listed("VolumeType", AttrKind::String),
        Attribute::listed("Size", AttrKind::Number),
        Attribute::listed("Iops", AttrKind::Number),
        Attribute::listed("Throughput", AttrKind::Number),
        Attribute::listed("State", AttrKind::String),
        Attribute::listed("CreateTime", AttrKind::Time),
        Attribute::listed("AvailabilityZone", AttrKind::String),
        Attribute::listed("Encrypted", AttrKind::Bool),
        Attribute::listed("SnapshotId", AttrKind::String),
        Attribute::listed("AttachmentCount", AttrKind::Number),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some("AWS/EBS");
    const READ_PERMISSIONS: &'static [&'static str] = &["ec2:DescribeVolumes"];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["ec2:DescribeVolumes"];
    const ARN_PATTERN: &'static str = "arn:aws:ec2:*:*:volume/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["ec2:CreateTags", "ec2:DeleteTags"];
    const ACTIONS: &'static [ActionInfo] = &[ActionInfo {
        name: "delete",
        effect: Effect::Removes,
        effort: Effort::Medium,
        restart: false,
        restores: Some("a new volume from the snapshot taken before the delete, with the volume's tags"),
        reopens: None,
    }];
    const SIZABLE: bool = false;
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::response("ec2.amazonaws.com", "CreateVolume", "volumeId"),
    ];

    fn attribute<'a>(_: &'a Resource, v: &'a Volume, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "VolumeId" => Some(AttrValue::Str(&v.id)),
            "VolumeType" => Some(AttrValue::Str(&v.volume_type)),
            "Size" => Some(AttrValue::Num(f64::from(v.size_gib))),
            "Iops" => v.iops.map(|n| AttrValue::Num(f64::from(n))),
            "Throughput" => v.throughput.map(|n| AttrValue::Num(f64::from(n))),
            "State" => Some(AttrValue::Str(&v.state)),
            "CreateTime" => v.created_at.map(AttrValue::Time),
            "AvailabilityZone" => Some(AttrValue::Str(&v.availability_zone)),
            "Encrypted" => Some(AttrValue::Bool(v.encrypted)),
            "SnapshotId" => v.snapshot_id.as_deref().map(AttrValue::Str),
            "AttachmentCount" => Some(AttrValue::Num(f64::from(v.attachments))),
            _ => None,
        }
    }

    fn metric_series(_: &Resource, v: &Volume) -> Option<Vec<Dimensions>> {
        Some(vec![vec![("VolumeId".to_string(), v.id.clone())]])
    }

    fn sizing(_: &Resource, _: &Volume) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, _: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        Api::new(aws, region).list(&aws.account_id().await?, region, None, on_progress).await
    }

    async fn describe(_: &Aws, resource: &mut Resource, _: &super::Wanted) -> Result<(), AwsError> {
        // The listing carries everything, tags included.
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, id: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        match Api::new(aws, region).list(&aws.account_id().await?, region, Some(id), &|_| {}).await {
            Ok(found) => Ok(found.into_iter().find(|r| r.id == id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        let Some(v) = Self::details_of(resource).cloned() else { return };
        let Some(storage) = storage_price(prices, &resource.region, &v.volume_type, now).await else {
            return resource.set_cost(None, CostKind::GbMonths, format!("no price known for {} storage", v.volume_type));
        };
        let gib = f64::from(v.size_gib.max(0));
        let mut total = gib * storage.usd;
        let mut parts = vec![format!("{gib} GiB x {}", storage.describe())];
        let (iops_usd, throughput_usd) = provisioned_usd(&v);
        if let Some((usd, text)) = iops_usd {
            total += usd;
            parts.push(text);
        }
        if let Some((usd, text)) = throughput_usd {
            total += usd;
            parts.push(text);
        }
        if v.volume_type == "standard" {
            parts.push("magnetic I/O requests billed on top, not counted".to_string());
        }
        resource.set_cost(Some(total), CostKind::GbMonths, parts.join(" + "));
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        aws.ec2_tags(&resource.region).create(&resource.id, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        aws.ec2_tags(region).delete(arn, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Action> {
        match yaml::decode::<ActionSpec>(node, path) {
            Ok(ActionSpec::Delete(_)) => Some(Action::Delete),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// Creates the volume again from the snapshot its deletion took.
    async fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
        let Some(v) = Self::details_of(before) else { return Err(RestoreError::Unsupported(Self::TYPE)) };
        if action != "delete" {
            return Err(RestoreError::NotRestorable(format!("{action} of a volume cannot be undone")));
        }
        let api = Api::new(aws, &before.region);
        let Some(snapshot) = api.snapshot_of(&v.id).await? else {
            return Err(RestoreError::NotRestorable(format!(
                "no snapshot tagged {SNAPSHOT_OF_TAG}={} in {}: it was deleted, or never taken",
                v.id, before.region
            )));
        };
        let mut tags = before.tags.clone();
        tags.remove(super::MARK_TAG);
        let new_id = api.create_from(v, &snapshot, &tags).await?;
        Ok(format!(
            "created volume {new_id} in {} from snapshot {snapshot}: {} GiB {} as {} was (deleted by run {run_id}); attach it where {} was",
            v.availability_zone, v.size_gib, v.volume_type, v.id, v.id
        ))
    }
}

/// USD per GB-month of `volume_type` storage in `region`.
async fn storage_price(prices: &PriceBook, region: &str, volume_type: &str, now: DateTime<Utc>) -> Option<crate::pricing::Price> {
    let builtin = match volume_type {
        "gp3" => Some(0.08),
        "gp2" => Some(0.10),
        "io1" | "io2" => Some(0.125),
        "st1" => Some(0.045),
        "sc1" => Some(0.015),
        "standard" => Some(0.05),
        _ => None,
    };
    let key = PriceKey {
        service_code: "AmazonEC2",
        filters: vec![("productFamily", "Storage".to_string()), ("volumeApiName", volume_type.to_string())],
        unit: "GB-Mo",
        label: format!("{volume_type} storage"),
    };
    prices.price(region, &key, builtin.map(|usd| Builtin { usd, taken: BUILTIN_TAKEN, region: "us-east-1" }), now).await
}

/// Provisioned IOPS and throughput beyond what the type includes, at the
/// built-in us-east-1 rates: (USD a month, how), for each where billed.
#[allow(clippy::type_complexity)]
fn provisioned_usd(v: &Volume) -> (Option<(f64, String)>, Option<(f64, String)>) {
    let iops = f64::from(v.iops.unwrap_or(0).max(0));
    let iops_usd = match v.volume_type.as_str() {
        "gp3" if iops > 3000.0 => Some(((iops - 3000.0) * 0.005, format!("{} IOPS above 3,000 x $0.005", iops - 3000.0))),
        "io1" => Some((iops * 0.065, format!("{iops} IOPS x $0.065"))),
        // io2: $0.065 up to 32,000 IOPS, $0.0455 to 64,000, $0.032 beyond.
        "io2" => {
            let tier = |from: f64, to: f64| (iops.min(to) - from).max(0.0);
            let usd = tier(0.0, 32_000.0) * 0.065 + tier(32_000.0, 64_000.0) * 0.0455 + tier(64_000.0, f64::INFINITY) * 0.032;
            Some((usd, format!("{iops} IOPS at $0.065/$0.0455/$0.032 tiers")))
        }
        _ => None,
    };
    let throughput = f64::from(v.throughput.unwrap_or(0).max(0));
    let throughput_usd =
        (v.volume_type == "gp3" && throughput > 125.0).then(|| ((throughput - 125.0) * 0.04, format!("{} MB/s above 125 x $0.04", throughput - 125.0)));
    (iops_usd, throughput_usd)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionSpec {
    Delete(NoFields),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Delete,
}

impl ResourceAction for Action {
    fn name(&self) -> &'static str {
        "delete"
    }

    fn describe(&self) -> String {
        "snapshot the volume, then delete it (restore creates it again from the snapshot)".to_string()
    }

    fn permissions(&self) -> Vec<Permission> {
        const SNAPSHOTS: &str = "arn:aws:ec2:*::snapshot/*";
        vec![
            Permission::on("ec2:CreateSnapshot", &[Volumes::ARN_PATTERN, SNAPSHOTS]),
            // The snapshot is tagged as it is created.
            Permission::on("ec2:CreateTags", &[SNAPSHOTS]),
            Permission::on("ec2:DeleteVolume", &[Volumes::ARN_PATTERN]),
        ]
    }

    fn needs_rightsizing(&self) -> bool {
        false
    }

    fn already_satisfied(&self, _: &Resource) -> bool {
        false
    }

    /// Never a volume that is attached, whatever the policy's filters say.
    fn refusal(&self, resource: &Resource) -> Option<String> {
        let v = Volumes::details_of(resource)?;
        (v.state != "available" || v.attachments > 0)
            .then(|| format!("{} and attached to {} instance(s): costguard deletes only unattached volumes", v.state, v.attachments))
    }

    fn took_effect(&self, _: &Resource, now: Option<&Resource>) -> bool {
        now.is_none()
    }

    /// The volume's cost, less what the snapshot kept for restore costs at most.
    fn monthly_saving(&self, resource: &Resource, _: DateTime<Utc>) -> Option<f64> {
        let v = Volumes::details_of(resource)?;
        resource.monthly_cost_usd.map(|cost| (cost - f64::from(v.size_gib.max(0)) * SNAPSHOT_USD_PER_GB_MONTH).max(0.0))
    }

    fn undoable(&self) -> bool {
        true
    }

    async fn apply(&self, aws: &Aws, resource: &Resource, _: Option<&Assessment>) -> Result<ActionResult, AwsError> {
        let api = Api::new(aws, &resource.region);
        let mut tags = resource.tags.clone();
        tags.remove(super::MARK_TAG);
        tags.insert(SNAPSHOT_OF_TAG.to_string(), resource.id.clone());
        let snapshot = match api.snapshot(&resource.id, &tags).await {
            Ok(id) => id,
            Err(e) if e.is_not_found() => return Ok(ActionResult::AlreadyDone("volume no longer exists".to_string())),
            Err(e) => return Err(e),
        };
        match api.delete(&resource.id).await {
            Ok(()) => Ok(ActionResult::Done(format!("snapshot {snapshot} taken; volume deleted"))),
            Err(e) if e.is_not_found() => Ok(ActionResult::AlreadyDone(format!("snapshot {snapshot} taken; the volume was already gone"))),
            Err(e) => Err(AwsError { message: format!("{} (snapshot {snapshot} was taken; the volume is still there)", e.message), ..e }),
        }
    }

    async fn recover(&self, _: &Aws, _: &Resource, _: Option<&Resource>) -> Option<crate::outcome::Repair> {
        None
    }
}

/// The EC2 calls this type makes.
struct Api {
    client: aws_sdk_ec2::Client,
}


fn to_resource(v: &aws_sdk_ec2::types::Volume, account: &str, region: &str) -> Option<Resource> {
    let volume = Volume {
        id: v.volume_id()?.to_string(),
        volume_type: v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        size_gib: v.size().unwrap_or(0),
        iops: v.iops(),
        throughput: v.throughput(),
        state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        created_at: time(v.create_time()),
        availability_zone: v.availability_zone().unwrap_or_default().to_string(),
        encrypted: v.encrypted().unwrap_or(false),
        snapshot_id: v.snapshot_id().filter(|s| !s.is_empty()).map(str::to_string),
        attachments: i32::try_from(v.attachments().len()).unwrap_or(i32::MAX),
    };
    let arn = format!("arn:aws:ec2:{region}:{account}:volume/{}", volume.id);
    let mut r = Resource::new(volume.id.clone(), arn, region, volume.created_at, Volumes::wrap(volume));
    r.tags = ec2_tags(v.tags());
    r.described = true;
    Some(r)
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_ec2, region) }
    }

    /// Every volume, or the one `id` names.
    async fn list(&self, account: &str, region: &str, id: Option<&str>, on_page: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let request = match id {
            Some(id) => self.client.describe_volumes().volume_ids(id),
            None => self.client.describe_volumes().max_results(PAGE_SIZE),
        };
        let mut pages = request.into_paginator().send();
        let mut volumes = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err("DescribeVolumes"))?;
            volumes.extend(page.volumes().iter().filter_map(|v| to_resource(v, account, region)));
            on_page(volumes.len());
        }
        Ok(volumes)
    }

    /// Starts a snapshot of the volume, tagged; returns its id.
    async fn snapshot(&self, volume: &str, tags: &Tags) -> Result<String, AwsError> {
        use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, Tag, TagSpecification};
        let spec = TagSpecification::builder()
            .resource_type(Ec2ResourceType::Snapshot)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .build();
        let out = self
            .client
            .create_snapshot()
            .volume_id(volume)
            .description(format!("costguard: {volume} as it was before costguard deleted it"))
            .tag_specifications(spec)
            .send()
            .await
            .map_err(sdk_err("CreateSnapshot"))?;
        Ok(out.snapshot_id().unwrap_or_default().to_string())
    }

    async fn delete(&self, volume: &str) -> Result<(), AwsError> {
        self.client.delete_volume().volume_id(volume).send().await.map_err(sdk_err("DeleteVolume"))?;
        Ok(())
    }

    /// The newest snapshot costguard took of `volume`.
    async fn snapshot_of(&self, volume: &str) -> Result<Option<String>, AwsError> {
        let filter = aws_sdk_ec2::types::Filter::builder().name(format!("tag:{SNAPSHOT_OF_TAG}")).values(volume).build();
        let out = self.client.describe_snapshots().owner_ids("self").filters(filter).send().await.map_err(sdk_err("DescribeSnapshots"))?;
        Ok(out.snapshots().iter().max_by_key(|s| s.start_time().map(|t| t.secs())).and_then(|s| s.snapshot_id()).map(str::to_string))
    }

    /// A new volume from `snapshot`, shaped as `v` was; returns its id.
    async fn create_from(&self, v: &Volume, snapshot: &str, tags: &Tags) -> Result<String, AwsError> {
        use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, Tag, TagSpecification, VolumeType};
        let spec = TagSpecification::builder()
            .resource_type(Ec2ResourceType::Volume)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
            .build();
        let mut request = self
            .client
            .create_volume()
            .snapshot_id(snapshot)
            .availability_zone(&v.availability_zone)
            .volume_type(VolumeType::from(v.volume_type.as_str()))
            .size(v.size_gib)
            .tag_specifications(spec);
        // IOPS only where the type takes them; throughput only for gp3.
        if matches!(v.volume_type.as_str(), "io1" | "io2" | "gp3") {
            request = request.set_iops(v.iops);
        }
        if v.volume_type == "gp3" {
            request = request.set_throughput(v.throughput);
        }
        let out = request.send().await.map_err(sdk_err("CreateVolume"))?;
        Ok(out.volume_id().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(volume_type: &str, size_gib: i32, iops: Option<i32>, throughput: Option<i32>) -> Resource {
        let v = Volume {
            id: "vol-1".into(),
            volume_type: volume_type.into(),
            size_gib,
            iops,
            throughput,
            state: "available".into(),
            created_at: None,
            availability_zone: "us-east-1a".into(),
            encrypted: false,
            snapshot_id: None,
            attachments: 0,
        };
        Resource::new("vol-1".into(), "arn:aws:ec2:us-east-1::volume/vol-1".into(), "us-east-1", None, Volumes::wrap(v))
    }

    async fn priced(volume_type: &str, size: i32, iops: Option<i32>, throughput: Option<i32>) -> Option<f64> {
        let mut r = volume(volume_type, size, iops, throughput);
        Volumes::price(&mut r, &PriceBook::builtin(), crate::clock::test_now()).await;
        r.monthly_cost_usd
    }

    #[tokio::test]
    async fn volumes_are_priced_by_type_size_iops_and_throughput() {
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(priced("gp2", 100, Some(300), None).await, 10.0));
        assert!(close(priced("gp3", 100, Some(3000), Some(125)).await, 8.0), "baseline IOPS and throughput are included");
        assert!(close(priced("gp3", 100, Some(6000), Some(250)).await, 8.0 + 3000.0 * 0.005 + 125.0 * 0.04));
        assert!(close(priced("io1", 100, Some(1000), None).await, 12.5 + 65.0));
        assert!(close(priced("io2", 100, Some(40_000), None).await, 12.5 + 32_000.0 * 0.065 + 8_000.0 * 0.0455));
        assert!(close(priced("st1", 1000, None, None).await, 45.0));
        assert!(close(priced("sc1", 1000, None, None).await, 15.0));
        assert!(close(priced("standard", 10, None, None).await, 0.5));
        assert_eq!(priced("io9", 10, None, None).await, None, "an unknown type is unknown, not free");
    }

    #[test]
    fn an_attached_volume_is_never_deleted() {
        let mut r = volume("gp3", 10, None, None);
        assert_eq!(Action::Delete.refusal(&r), None);
        if let crate::resources::Details::EbsVolume(v) = &mut r.details {
            v.state = "in-use".into();
            v.attachments = 1;
        }
        assert!(Action::Delete.refusal(&r).is_some_and(|why| why.contains("attached")));
    }
}
