//! EC2: instances (list, read one, stop, start, change type), their tags,
//! and the instance-type catalog rightsizing compares sizes with.
//!
//! Listing is one DescribeInstances per 1,000 instances and already carries
//! type, state, launch time and tags, so EC2 instances need no describe step.
//! The catalog is one DescribeInstanceTypes per family in use (`m5.*`),
//! asked once per region and sweep.

use std::time::Duration as StdDuration;

use aws_sdk_ec2::types::{AttributeValue, Filter, Instance as SdkInstance, InstanceTypeInfo, Tag};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AwsError;
use crate::resources::sizes::InstanceSize;
use crate::resources::Tags;

const SERVICE: &str = "ec2";
/// DescribeInstances' largest page.
const PAGE_SIZE: i32 = 1000;
/// The tag AWS puts on every instance an Auto Scaling group launched.
pub const ASG_TAG: &str = "aws:autoscaling:groupName";
/// States in which an instance can still be billed or be running soon.
const LISTED_STATES: &[&str] = &["pending", "running"];

const NOT_FOUND: &[&str] = &["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"];

macro_rules! sdk_err {
    ($op:literal) => {
        |e| AwsError::from_sdk(SERVICE, $op, NOT_FOUND, e)
    };
}

/// What DescribeInstances says about an instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub instance_type: String,
    pub state: String,
    pub launched_at: Option<DateTime<Utc>>,
    /// `spot`, `scheduled`, `capacity-block`; `None` for on-demand.
    pub lifecycle: Option<String>,
    /// `Linux/UNIX`, `Windows`, ... (prices differ).
    pub platform: Option<String>,
    /// One-minute CloudWatch metrics ("detailed monitoring") rather than five.
    pub detailed_monitoring: bool,
    pub availability_zone: Option<String>,
    pub owner_account: Option<String>,
    pub tags: Tags,
}

impl Instance {
    pub fn auto_scaling_group(&self) -> Option<&str> {
        self.tags.get(ASG_TAG).map(String::as_str)
    }
}

#[derive(Clone, Debug)]
pub struct Ec2Client {
    client: aws_sdk_ec2::Client,
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn to_instance(i: &SdkInstance, owner: Option<&str>) -> Option<Instance> {
    Some(Instance {
        id: i.instance_id()?.to_string(),
        instance_type: i.instance_type()?.as_str().to_string(),
        state: i.state().and_then(|s| s.name()).map_or("unknown", |n| n.as_str()).to_string(),
        launched_at: time(i.launch_time()),
        lifecycle: i.instance_lifecycle().map(|l| l.as_str().to_string()),
        platform: i.platform_details().map(str::to_string),
        detailed_monitoring: i.monitoring().and_then(|m| m.state()).is_some_and(|s| s.as_str() == "enabled"),
        availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_string),
        owner_account: owner.map(str::to_string),
        tags: i.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect(),
    })
}

impl Ec2Client {
    pub fn new(client: aws_sdk_ec2::Client) -> Self {
        Self { client }
    }

    /// Every pending or running instance.
    pub async fn list_instances(&self, mut on_page: impl FnMut(usize)) -> Result<Vec<Instance>, AwsError> {
        let state = Filter::builder().name("instance-state-name").set_values(Some(LISTED_STATES.iter().map(|s| s.to_string()).collect())).build();
        let mut pages = self.client.describe_instances().filters(state).max_results(PAGE_SIZE).into_paginator().send();
        let mut instances = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err!("DescribeInstances"))?;
            for reservation in page.reservations() {
                instances.extend(reservation.instances().iter().filter_map(|i| to_instance(i, reservation.owner_id())));
            }
            on_page(instances.len());
        }
        Ok(instances)
    }

    /// One instance as it is now, in any state; `None` when it is gone.
    pub async fn get_instance(&self, id: &str) -> Result<Option<Instance>, AwsError> {
        let out = match self.client.describe_instances().instance_ids(id).send().await.map_err(sdk_err!("DescribeInstances")) {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let found = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().filter_map(move |i| to_instance(i, r.owner_id())))
            .find(|i| i.id == id && i.state != "terminated");
        Ok(found)
    }

    /// The types of the given families (`m5`, `c6i`) offered in this region.
    pub async fn instance_types(&self, families: &[String]) -> Result<Vec<InstanceSize>, AwsError> {
        if families.is_empty() {
            return Ok(Vec::new());
        }
        let patterns = families.iter().map(|f| format!("{f}.*")).collect();
        let filter = Filter::builder().name("instance-type").set_values(Some(patterns)).build();
        let mut pages = self.client.describe_instance_types().filters(filter).max_results(100).into_paginator().send();
        let mut types = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk_err!("DescribeInstanceTypes"))?;
            types.extend(page.instance_types().iter().filter_map(to_type_info));
        }
        Ok(types)
    }

    pub async fn stop(&self, id: &str) -> Result<(), AwsError> {
        self.client.stop_instances().instance_ids(id).send().await.map_err(sdk_err!("StopInstances"))?;
        Ok(())
    }

    pub async fn start(&self, id: &str) -> Result<(), AwsError> {
        self.client.start_instances().instance_ids(id).send().await.map_err(sdk_err!("StartInstances"))?;
        Ok(())
    }

    /// Changes a stopped instance's type.
    pub async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), AwsError> {
        self.client
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(instance_type).build())
            .send()
            .await
            .map_err(sdk_err!("ModifyInstanceAttribute"))?;
        Ok(())
    }

    /// Polls until the instance is in `state` (or gone), at most `timeout`.
    /// Returns the state it ended in.
    pub async fn wait_for_state(&self, id: &str, state: &str, timeout: StdDuration) -> Result<String, AwsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = StdDuration::from_secs(1);
        loop {
            let now = self.get_instance(id).await?.map_or_else(|| "terminated".to_string(), |i| i.state);
            if now == state || now == "terminated" || tokio::time::Instant::now() >= deadline {
                return Ok(now);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(StdDuration::from_secs(15));
        }
    }

    pub async fn create_tags(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.client.create_tags().resources(id).set_tags(Some(tags)).send().await.map_err(sdk_err!("CreateTags"))?;
        Ok(())
    }

    pub async fn delete_tags(&self, id: &str, keys: &[&str]) -> Result<(), AwsError> {
        let tags = keys.iter().map(|k| Tag::builder().key(*k).build()).collect();
        self.client.delete_tags().resources(id).set_tags(Some(tags)).send().await.map_err(sdk_err!("DeleteTags"))?;
        Ok(())
    }
}

fn to_type_info(t: &InstanceTypeInfo) -> Option<InstanceSize> {
    Some(InstanceSize {
        instance_type: t.instance_type()?.as_str().to_string(),
        vcpus: f64::from(t.v_cpu_info()?.default_v_cpus()?),
        memory_mib: t.memory_info()?.size_in_mib(),
        burstable: t.burstable_performance_supported().unwrap_or(false),
        accelerated: t.gpu_info().is_some() || t.inference_accelerator_info().is_some() || t.neuron_info().is_some(),
        bare_metal: t.bare_metal().unwrap_or(false),
        hourly_usd: None,
        price_basis: None,
    })
}
