//! Inventory: every resource the enabled policies need, from every region.
//! All of the read side's I/O happens here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::aws::cloudwatch::SeriesQuery;
use crate::aws::{Aws, AwsError};
use crate::config::Policy;
use crate::filters::{self, metrics};
use crate::pricing::PriceBook;
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

/// How many resources are described at once: enough to hide latency,
/// few enough to stay under SageMaker's describe rate limits.
const DESCRIBE_CONCURRENCY: usize = 8;
/// Types and regions listed at once (each then describes its own, up to
/// [`DESCRIBE_CONCURRENCY`] at once).
const LISTINGS_AT_ONCE: usize = 12;

/// What collecting needs besides AWS: the sweep's clock, its prices, and
/// its stop signal (a signal or the sweep's time limit).
pub struct CollectContext<'a> {
    pub now: DateTime<Utc>,
    /// Describe and price every resource serving models, matched or not:
    /// the AI spend check shows what they cost an hour.
    pub price_serving: bool,
    pub prices: &'a PriceBook,
    pub progress: &'a Progress,
    pub cancel: &'a CancellationToken,
}

/// Lists each resource type the enabled policies name, in every region, the
/// regions in parallel; then describes, measures and prices only what some
/// policy could still match. Tags are read only for types some policy needs
/// them for.
pub async fn collect(aws: &Aws, policies: &[Policy], regions: &[String], ctx: &CollectContext<'_>) -> Inventory {
    let mut wanted: BTreeMap<ResourceType, Vec<&Policy>> = BTreeMap::new();
    for policy in policies.iter().filter(|p| p.enabled) {
        wanted.entry(policy.resource_type).or_default().push(policy);
    }
    let mut inventory = Inventory::default();
    let mut tasks = Vec::new();
    for (&resource_type, type_policies) in &wanted {
        for region in regions.iter().collect::<BTreeSet<_>>() {
            tasks.push(collect_until_stopped(aws, resource_type, region, type_policies, ctx));
        }
    }
    let collected: Vec<_> = futures_util::stream::iter(tasks).buffer_unordered(LISTINGS_AT_ONCE).collect().await;
    for (resource_type, region, listed, errors) in collected {
        inventory.errors.extend(errors.into_iter().map(|error| CollectError { resource_type, region: region.clone(), error }));
        inventory.resources.entry(resource_type).or_default().extend(listed.into_iter().map(Arc::new));
    }
    // Regions finish in any order; reports should not.
    for list in inventory.resources.values_mut() {
        list.sort_by(|a, b| (&a.region, &a.id).cmp(&(&b.region, &b.id)));
    }
    inventory
}

/// [`collect_one`], or, once the sweep is told to stop, an error for this
/// type and region (its policies report themselves incomplete there).
async fn collect_until_stopped(
    aws: &Aws,
    resource_type: ResourceType,
    region: &str,
    policies: &[&Policy],
    ctx: &CollectContext<'_>,
) -> (ResourceType, String, Vec<Resource>, Vec<AwsError>) {
    tokio::select! {
        collected = collect_one(aws, resource_type, region, policies, ctx) => collected,
        () = ctx.cancel.cancelled() => {
            let message = "the sweep was stopped (a signal or its time limit) before this listing finished".to_string();
            let error = AwsError::new("costguard", "collect", "Stopped", message, crate::aws::ErrorKind::Final);
            (resource_type, region.to_string(), Vec::new(), vec![error])
        }
    }
}

async fn collect_one(
    aws: &Aws,
    resource_type: ResourceType,
    region: &str,
    policies: &[&Policy],
    ctx: &CollectContext<'_>,
) -> (ResourceType, String, Vec<Resource>, Vec<AwsError>) {
    let task = ctx.progress.task(&format!("listing {resource_type} in {region}"));
    let with_tags = policies.iter().any(|p| p.needs_tags());
    let listed = resource_type.list(aws, region, with_tags, ctx.now, &|n| task.set(n)).await;
    task.finish();
    let mut resources = match listed {
        Ok(resources) => resources,
        Err(error) => {
            tracing::error!(resource_type = %resource_type, region = %region, error = %error, "listing failed");
            return (resource_type, region.to_string(), Vec::new(), vec![error]);
        }
    };
    let mut errors = Vec::new();
    let could_match = |r: &Resource| policies.iter().any(|p| filters::could_match_all(&p.filters, r, ctx.now));

    // Series in bulk, then their metrics: what the metrics already rule
    // out is never described. Not when everything is described anyway.
    let priced_anyway = ctx.price_serving && resource_type.serves_models();
    if !priced_anyway && list_series(aws, region, resource_type, policies, &mut resources, &could_match).await {
        if let Err(error) = fetch_metrics(aws, region, policies, &mut resources, ctx.now).await {
            tracing::error!(resource_type = %resource_type, region = %region, error = %error, "metrics failed");
            errors.push(error);
        }
    }

    // Describe: only resources some policy could still match, and only
    // what the policies' filters read.
    let mut reads = crate::resources::Wanted::new();
    policies.iter().flat_map(|p| &p.filters).for_each(|f| f.attributes_read(&mut reads));
    let reads = &reads;
    let wanted: Vec<usize> = (0..resources.len()).filter(|&i| !resources[i].described && (priced_anyway || could_match(&resources[i]))).collect();
    let described = wanted.len();
    let task = ctx.progress.task(&format!("describing {described} {resource_type} in {region}"));
    let mut pending: Vec<(usize, Resource)> = wanted.into_iter().map(|i| (i, resources[i].clone())).collect();
    let results: Vec<(usize, Resource, Result<(), AwsError>)> = futures_util::stream::iter(pending.drain(..))
        .map(|(i, mut r)| async move {
            let result = resource_type.describe(aws, &mut r, reads).await;
            (i, r, result)
        })
        .buffer_unordered(DESCRIBE_CONCURRENCY)
        .collect()
        .await;
    for (i, r, result) in results {
        match result {
            Ok(()) => resources[i] = r,
            Err(error) => errors.push(error),
        }
    }
    task.finish();

    // Sizes: the instance catalog and prices that rightsizing compares with.
    let sizing: Vec<&Policy> = policies.iter().copied().filter(|p| p.rightsizing().is_some()).collect();
    if !sizing.is_empty() {
        let rightsizing: Vec<&filters::rightsizing::Rightsizing> = sizing.iter().filter_map(|p| p.rightsizing()).collect();
        let options = crate::resources::sizes::SizeOptions {
            memory: rightsizing.iter().any(|r| r.memory),
            gpu_namespace: rightsizing.first().map_or_else(|| crate::resources::sizes::DEFAULT_GPU_NAMESPACE.to_string(), |r| r.gpu_namespace.clone()),
        };
        let judged: Vec<&mut Resource> =
            resources.iter_mut().filter(|r| r.described && sizing.iter().any(|p| filters::could_match_all(&p.filters, r, ctx.now))).collect();
        let sizing_ctx = crate::resources::sizes::SizeContext { aws, region, options: &options, prices: ctx.prices, now: ctx.now };
        if let Err(error) = resource_type.prepare_sizes(&sizing_ctx, judged).await {
            tracing::error!(resource_type = %resource_type, region = %region, error = %error, "instance sizes failed");
            errors.push(error);
        }
    }

    // Measure: every metric filter's series for every resource it could
    // still match, in as few GetMetricData requests as the batch limit allows.
    if let Err(error) = fetch_metrics(aws, region, policies, &mut resources, ctx.now).await {
        tracing::error!(resource_type = %resource_type, region = %region, error = %error, "metrics failed");
        errors.push(error);
    }

    // Price what is described (prices are cached per instance type).
    for r in resources.iter_mut().filter(|r| r.described) {
        resource_type.price(r, ctx.prices, ctx.now).await;
    }
    tracing::info!(resource_type = %resource_type, region = %region, count = resources.len(), described, "listed");
    (resource_type, region.to_string(), resources, errors)
}

/// For types whose series ListMetrics can tell ([`ResourceType::series_by`]):
/// each resource's series of every metric the policies read within two
/// weeks, and of the CPU a `rightsizing` filter reads, one ListMetrics per
/// 500 series, when that is fewer calls than describing the candidates.
/// Returns whether any were found out; a failure only means describing as
/// before.
async fn list_series(
    aws: &Aws,
    region: &str,
    resource_type: ResourceType,
    policies: &[&Policy],
    resources: &mut [Resource],
    could_match: &(dyn Fn(&Resource) -> bool + Sync),
) -> bool {
    let Some(names @ [dimension, ..]) = resource_type.series_by() else { return false };
    let mut read = Vec::new();
    policies.iter().flat_map(|p| &p.filters).for_each(|f| f.metrics_read(&mut read));
    let mut wanted: BTreeSet<(String, String)> =
        read.into_iter().filter(|(_, _, days)| *days <= metrics::LISTED_DAYS).map(|(ns, metric, _)| (ns, metric)).collect();
    if let Some((ns, metric)) = resource_type.sizing_cpu().filter(|_| policies.iter().any(|p| p.rightsizing().is_some())) {
        wanted.insert((ns.to_string(), metric.to_string()));
    }
    // ListMetrics pages hold 500 series, at least one per listed resource
    // with data: list only when that is fewer calls than the describes.
    let candidates = resources.iter().filter(|r| !r.described && could_match(r)).count();
    if candidates <= wanted.len() * resources.len().div_ceil(500) {
        return false;
    }
    let mut found = false;
    for (namespace, metric) in wanted {
        let series = match aws.cloudwatch(region).list_series(&namespace, &metric).await {
            Ok(series) => series,
            Err(error) => {
                tracing::warn!(resource_type = %resource_type, region = %region, error = %error, "ListMetrics failed; describing instead");
                continue;
            }
        };
        let mut by_resource: BTreeMap<String, Vec<crate::resources::Dimensions>> = BTreeMap::new();
        // Only the dimension sets a described resource's series have: the
        // same datapoints under more dimensions would count twice.
        for dims in series.into_iter().filter(|d| d.len() == names.len() && names.iter().all(|n| d.iter().any(|(k, _)| k == n))) {
            if let Some((_, id)) = dims.iter().find(|(k, _)| k == dimension) {
                by_resource.entry(id.clone()).or_default().push(dims);
            }
        }
        let key = Resource::listed_key(&namespace, &metric);
        for r in resources.iter_mut() {
            r.listed_series.insert(key.clone(), by_resource.remove(&r.id).unwrap_or_default());
        }
        found = true;
    }
    found
}

pub(crate) async fn fetch_metrics(aws: &Aws, region: &str, policies: &[&Policy], resources: &mut [Resource], now: DateTime<Utc>) -> Result<(), AwsError> {
    // One batch per window: GetMetricData takes one start and end per request.
    // Each batch: the queries, and (resource index, key, number of series).
    type Batch = (Vec<SeriesQuery>, Vec<(usize, String, usize)>);
    let mut batches: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Batch> = BTreeMap::new();
    for (i, r) in resources.iter().enumerate() {
        if !policies.iter().any(|p| filters::could_match_all(&p.filters, r, now)) {
            continue;
        }
        // Only the metrics of the policies that could still match it: an
        // endpoint another policy rules out by its tags is not measured
        // over that policy's window (a request more for each window).
        let mut needs = Vec::new();
        for policy in policies.iter().filter(|p| filters::could_match_all(&p.filters, r, now)) {
            policy.filters.iter().for_each(|f| f.metric_needs(r, &mut needs));
        }
        let mut seen = BTreeSet::new();
        for (key, days, queries) in needs {
            // Asked once: before the describe (listed series) or after.
            if r.metrics.contains_key(&key) || !seen.insert(key.clone()) {
                continue;
            }
            let (batch_queries, owners) = batches.entry(metrics::window_ending(now, days)).or_default();
            owners.push((i, key, queries.len()));
            batch_queries.extend(queries);
        }
    }
    for ((start, end), (queries, owners)) in batches {
        let mut values =
            if queries.is_empty() { Vec::new().into_iter() } else { aws.cloudwatch(region).get_metric_data(&queries, start, end).await?.into_iter() };
        for (i, key, n) in owners {
            resources[i].metrics.insert(key, values.by_ref().take(n).collect());
        }
    }
    Ok(())
}
