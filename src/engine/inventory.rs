//! Inventory: every resource the enabled policies need, from every region.
//! All of the read side's I/O happens here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::aws::{Aws, AwsError};
use crate::config::Policy;
use crate::progress::Progress;
use crate::resources::{Resource, ResourceType};

#[derive(Debug, Default)]
pub struct Inventory {
    pub resources: BTreeMap<ResourceType, Vec<Arc<Resource>>>,
    /// Listings that failed; policies on these report themselves incomplete.
    pub errors: Vec<CollectError>,
}

#[derive(Debug)]
pub struct CollectError {
    pub resource_type: ResourceType,
    pub region: String,
    pub error: AwsError,
}

impl Inventory {
    pub fn of(&self, resource_type: ResourceType) -> &[Arc<Resource>] {
        self.resources.get(&resource_type).map_or(&[], Vec::as_slice)
    }

    /// Regions where listing `resource_type` failed.
    pub fn failed_regions(&self, resource_type: ResourceType) -> Vec<String> {
        self.errors.iter().filter(|e| e.resource_type == resource_type).map(|e| e.region.clone()).collect()
    }

    /// Builds an inventory from resources already in hand (tests, replays).
    pub fn from_resources(resources: impl IntoIterator<Item = Resource>) -> Self {
        let mut inventory = Inventory::default();
        for r in resources {
            inventory.resources.entry(r.resource_type()).or_default().push(Arc::new(r));
        }
        inventory
    }
}

/// Lists each resource type the enabled policies name, in every region, the
/// regions in parallel. Tags are read only for types some policy needs them for.
pub async fn collect(aws: &Aws, policies: &[Policy], regions: &[String], progress: &Progress) -> Inventory {
    let mut wanted: BTreeMap<ResourceType, bool> = BTreeMap::new();
    for policy in policies.iter().filter(|p| p.enabled) {
        *wanted.entry(policy.resource_type).or_default() |= policy.needs_tags();
    }
    let mut tasks = JoinSet::new();
    for (&resource_type, &with_tags) in &wanted {
        for region in regions.iter().collect::<BTreeSet<_>>() {
            let (aws, region, progress) = (aws.clone(), region.clone(), progress.clone());
            tasks.spawn(async move {
                let task = progress.task(&format!("listing {resource_type} in {region}"));
                let listed = resource_type.collect(&aws, &region, with_tags, &|n| task.set(n)).await;
                task.finish();
                (resource_type, region, listed)
            });
        }
    }
    let mut inventory = Inventory::default();
    while let Some(joined) = tasks.join_next().await {
        let Ok((resource_type, region, listed)) = joined else {
            // A panicking listing task is a bug; the listing is simply missing.
            tracing::error!("a listing task panicked");
            continue;
        };
        match listed {
            Ok(resources) => {
                tracing::info!(resource_type = %resource_type, region = %region, count = resources.len(), "listed");
                inventory.resources.entry(resource_type).or_default().extend(resources.into_iter().map(Arc::new));
            }
            Err(error) => {
                tracing::error!(resource_type = %resource_type, region = %region, error = %error, "listing failed");
                inventory.errors.push(CollectError { resource_type, region, error });
            }
        }
    }
    // Regions finish in any order; reports should not.
    for list in inventory.resources.values_mut() {
        list.sort_by(|a, b| (&a.region, &a.id).cmp(&(&b.region, &b.id)));
    }
    inventory
}
