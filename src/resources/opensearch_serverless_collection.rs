//! `opensearch-serverless-collection`: OpenSearch Serverless collections,
//! the vector stores behind Bedrock knowledge bases, billed their OpenSearch
//! Compute Units (OCUs) around the clock, searched or not.
//!
//! Listing costs one ListCollections per 1,000 collections, one
//! BatchGetCollection per 100 (type, replicas, creation time), and one
//! GetMetricData per region for the account's OCUs (`AWS/AOSS` `IndexingOCU`
//! and `SearchOCU`, which AWS publishes per account, not per collection).
//! A policy's request metrics (`SearchRequestRate`, ...) are found with one
//! ListMetrics each and read before any describe, so what they rule out
//! is never described. Describing a collection costs one
//! ListTagsForResource, and, when a policy
//! reads which knowledge bases point at it, Bedrock Agent's
//! ListKnowledgeBases and one GetKnowledgeBase per knowledge base, once per
//! region and sweep.
//!
//! # Cost
//! The account's OCUs in the region (their average over the last day) at
//! $0.24 per OCU-hour (us-east-1 list price, compiled 2026-12-04), shared
//! equally by the region's active collections: AWS bills OCUs per account
//! (per KMS key), not per collection, so the shares add up to the bill, but
//! deleting one collection of several may not lower it. Unknown (never $0)
//! where no OCU metric is published.
//!
//! # Actions
//! None: a collection holds an index someone built; policies notify its
//! owner, naming the knowledge bases that use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::no_action::{self, NoAction};
use super::sizes::Sizing;
use super::{ActionInfo, AttrKind, AttrValue, Attribute, CostKind, Dimensions, Kind, Registered, Resource, RestoreError, Tags};
use crate::aws::cloudwatch::SeriesQuery;
use crate::aws::{sdk_client, Aws, AwsError};
use crate::pricing::PriceBook;
use crate::yaml::{DecodeError, Node};

pub struct Collections;

const NAMESPACE: &str = "AWS/AOSS";
/// What OpenSearch Serverless answers for a collection that does not exist.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// The largest page ListCollections serves, and BatchGetCollection's limit.
const PAGE_SIZE: i32 = 1000;
const BATCH: usize = 100;
/// USD per OCU-hour (us-east-1 list price, compiled 2026-12-04).
const USD_PER_OCU_HOUR: f64 = 0.24;
const HOURS_PER_MONTH: f64 = 730.0;
const KNOWLEDGE_BASE_KEYS: &[&str] = &["KnowledgeBases", "KnowledgeBaseCount"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub arn: String,
    /// `ACTIVE`, `CREATING`, `DELETING`, `FAILED`, as AWS says it.
    pub status: String,
    /// Whether it is `ACTIVE` (serving, and billed).
    pub active: bool,
    /// `SEARCH`, `TIMESERIES` or `VECTORSEARCH`.
    pub collection_type: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub standby_replicas: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Its share of the account's OCUs in its region; `None` when none are
    /// published.
    pub ocus: Option<OcuShare>,
    /// The knowledge bases that point at it; `None` until described (or
    /// when Bedrock Agent cannot be read).
    #[serde(default)]
    pub knowledge_bases: Option<KnowledgeBases>,
}

/// The knowledge bases storing their vectors in a collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBases {
    /// Their names, sorted and joined with ", "; `none` when there are none.
    pub names: String,
    pub count: usize,
}

impl KnowledgeBases {
    fn of(mut names: Vec<String>) -> Self {
        names.sort();
        let count = names.len();
        KnowledgeBases { names: if names.is_empty() { "none".to_string() } else { names.join(", ") }, count }
    }
}

/// The account's OCUs in a region and the collections sharing them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OcuShare {
    pub account_ocus: f64,
    pub collections: usize,
}

impl Collection {
    /// The account id, from its ARN: its metrics' `ClientId`.
    fn account(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

impl Kind for Collections {
    type Details = Collection;
    type Action = NoAction;

    const NOUN: &'static str = "OpenSearch Serverless collection";
    const ALIASES: &'static [&'static str] = &["aws.opensearch-serverless", "opensearch-serverless", "aoss-collection"];
    const ATTRIBUTES: &'static [Attribute] = &[
        Attribute::listed("Id", AttrKind::String),
        Attribute::listed("Name", AttrKind::String),
        Attribute::listed("Arn", AttrKind::String),
        Attribute::listed("Status", AttrKind::String),
        Attribute::listed("Type", AttrKind::String),
        Attribute::listed("StandbyReplicas", AttrKind::String),
        Attribute::listed("CreatedDate", AttrKind::Time),
        Attribute::listed("AccountOCUs", AttrKind::Number),
        Attribute::described("KnowledgeBases", AttrKind::String),
        Attribute::described("KnowledgeBaseCount", AttrKind::Number),
    ];
    const METRIC_NAMESPACE: Option<&'static str> = Some(NAMESPACE);
    const READ_PERMISSIONS: &'static [&'static str] = &[
        "aoss:ListCollections",
        "aoss:BatchGetCollection",
        "aoss:ListTagsForResource",
        "cloudwatch:GetMetricData",
        "bedrock:ListKnowledgeBases",
        "bedrock:GetKnowledgeBase",
    ];
    const REREAD_PERMISSIONS: &'static [&'static str] = &["aoss:BatchGetCollection", "aoss:ListTagsForResource"];
    const ARN_PATTERN: &'static str = "arn:aws:aoss:*:*:collection/*";
    const TAG_PERMISSIONS: &'static [&'static str] = &["aoss:TagResource", "aoss:UntagResource"];
    const ACTIONS: &'static [ActionInfo] = &[];
    const SIZABLE: bool = false;
    /// Its request metrics are found in bulk (ListMetrics) and read before
    /// any describe: a collection searched in the window is ruled out
    /// without its tags being read.
    const SERIES_BY: Option<&'static [&'static str]> = Some(&["CollectionId", "ClientId", "CollectionName"]);
    const CREATED_BY: &'static [super::created::CreatedBy] = &[
        super::created::CreatedBy::response("aoss.amazonaws.com", "CreateCollection", "createCollectionDetail/id"),
    ];

    fn attribute<'a>(_: &'a Resource, c: &'a Collection, name: &str) -> Option<AttrValue<'a>> {
        match name {
            "Id" => Some(AttrValue::Str(&c.id)),
            "Name" => Some(AttrValue::Str(&c.name)),
            "Arn" => Some(AttrValue::Str(&c.arn)),
            "Status" => Some(AttrValue::Str(&c.status)),
            "Type" => c.collection_type.as_deref().map(AttrValue::Str),
            "StandbyReplicas" => c.standby_replicas.as_deref().map(AttrValue::Str),
            "CreatedDate" => c.created_at.map(AttrValue::Time),
            "AccountOCUs" => c.ocus.map(|o| AttrValue::Num(o.account_ocus)),
            "KnowledgeBases" => c.knowledge_bases.as_ref().map(|kbs| AttrValue::Str(&kbs.names)),
            "KnowledgeBaseCount" => c.knowledge_bases.as_ref().map(|kbs| AttrValue::Num(kbs.count as f64)),
            _ => None,
        }
    }

    /// `SearchRequestRate`, `IngestionRequestRate` and the other
    /// per-collection metrics, by account, collection id and name.
    fn metric_series(_: &Resource, c: &Collection) -> Option<Vec<Dimensions>> {
        Some(vec![vec![
            ("ClientId".to_string(), c.account().to_string()),
            ("CollectionId".to_string(), c.id.clone()),
            ("CollectionName".to_string(), c.name.clone()),
        ]])
    }

    fn sizing(_: &Resource, _: &Collection) -> Option<Sizing> {
        None
    }

    async fn list(aws: &Aws, region: &str, _: bool, now: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
        let api = Api::new(aws, region);
        let ids = api.list().await?;
        let mut collections = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH) {
            collections.extend(api.batch_get(chunk).await?);
            on_progress(collections.len());
        }
        let active = collections.iter().filter(|c| c.active).count();
        if let Some(account) = collections.first().map(|c| c.account().to_string()) {
            let ocus = account_ocus(aws, region, &account, now).await?;
            for c in &mut collections {
                c.ocus = ocus.map(|account_ocus| OcuShare { account_ocus, collections: active.max(1) });
            }
        }
        Ok(collections.into_iter().map(|c| to_resource(c, region)).collect())
    }

    /// Reads its tags, and the knowledge bases pointing at it when a policy
    /// reads them.
    async fn describe(aws: &Aws, resource: &mut Resource, wanted: &super::Wanted) -> Result<(), AwsError> {
        let tags = match Api::new(aws, &resource.region).tags(&resource.arn).await {
            Ok(tags) => tags,
            // Deleted since the listing: stays undescribed.
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let knowledge_bases = match KNOWLEDGE_BASE_KEYS.iter().any(|k| wanted.contains(k)) {
            true => knowledge_bases_of(aws, &resource.region, &resource.arn).await,
            false => None,
        };
        if let super::Details::OpensearchServerlessCollection(c) = &mut resource.details {
            c.knowledge_bases = knowledge_bases.or(c.knowledge_bases.take());
        }
        resource.tags = tags;
        resource.described = true;
        Ok(())
    }

    async fn reread(aws: &Aws, region: &str, id: &str, _: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
        let Some(collection) = Api::new(aws, region).batch_get(&[id.to_string()]).await?.into_iter().next() else { return Ok(None) };
        let mut resource = to_resource(collection, region);
        let everything: super::Wanted = KNOWLEDGE_BASE_KEYS.iter().copied().collect();
        Self::describe(aws, &mut resource, &everything).await?;
        Ok(resource.described.then_some(resource))
    }

    async fn price(resource: &mut Resource, _: &PriceBook, _: DateTime<Utc>) {
        let Some(c) = Self::details_of(resource).cloned() else { return };
        if !c.active {
            return resource.set_cost(None, CostKind::Usage, format!("unpriced: the collection is {}", c.status));
        }
        match c.ocus {
            Some(share) => {
                let monthly = share.account_ocus * USD_PER_OCU_HOUR * HOURS_PER_MONTH / share.collections as f64;
                let basis = format!(
                    "1/{} of the account's {:.2} OCUs in {} (IndexingOCU + SearchOCU, last day's average) x ${USD_PER_OCU_HOUR} per OCU-hour x {HOURS_PER_MONTH} h (us-east-1 list price of 2026-12-04)",
                    share.collections, share.account_ocus, resource.region
                );
                resource.set_cost(Some(monthly), CostKind::Usage, basis);
            }
            None => resource.set_cost(None, CostKind::Usage, format!("unpriced: no OCU metrics published for the account in {} ({NAMESPACE} IndexingOCU, SearchOCU)", resource.region)),
        }
    }

    async fn prepare_sizes(_: &super::sizes::SizeContext<'_>, _: Vec<&mut Resource>) -> Result<(), AwsError> {
        Ok(())
    }

    async fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
        Api::new(aws, &resource.region).tag(&resource.arn, tags).await
    }

    async fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        Api::new(aws, region).untag(arn, keys).await
    }

    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<NoAction> {
        no_action::compile(node, path, errors)
    }

    async fn restore(_: &Aws, _: &str, _: &Resource, _: &str) -> Result<String, RestoreError> {
        Err(RestoreError::Unsupported(Self::TYPE))
    }
}

fn to_resource(collection: Collection, region: &str) -> Resource {
    let (id, arn, created_at) = (collection.id.clone(), collection.arn.clone(), collection.created_at);
    Resource::new(id, arn, region, created_at, Collections::wrap(collection))
}

/// The account's OCUs in `region`: the last day's average of indexing plus
/// search OCUs; `None` when neither is published.
async fn account_ocus(aws: &Aws, region: &str, account: &str, now: DateTime<Utc>) -> Result<Option<f64>, AwsError> {
    let query = |metric: &str| SeriesQuery {
        namespace: NAMESPACE.to_string(),
        metric: metric.to_string(),
        dimensions: vec![("ClientId".to_string(), account.to_string())],
        stat: "Average".to_string(),
        period_secs: 86_400,
    };
    let queries = [query("IndexingOCU"), query("SearchOCU")];
    let values = aws.cloudwatch(region).get_metric_data(&queries, now - Duration::days(1), now).await?;
    let averages: Vec<f64> = values.iter().filter(|points| !points.is_empty()).map(|points| points.iter().sum::<f64>() / points.len() as f64).collect();
    Ok((!averages.is_empty()).then(|| averages.iter().sum()))
}

/// Knowledge base names by the ARN of the collection they store in.
type ByCollection = HashMap<String, Vec<String>>;

/// The knowledge bases of each region, read once a sweep: `None` when
/// Bedrock Agent cannot be read there.
#[derive(Default)]
struct KnowledgeBaseIndex(Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Option<ByCollection>>>>>);

/// The names of the knowledge bases storing their vectors in the
/// collection `arn`; `None` when they cannot be read (logged once a region).
async fn knowledge_bases_of(aws: &Aws, region: &str, arn: &str) -> Option<KnowledgeBases> {
    let index = aws.memo::<KnowledgeBaseIndex>();
    let cell = Arc::clone(index.0.lock().unwrap_or_else(PoisonError::into_inner).entry(region.to_string()).or_default());
    let by_collection = cell
        .get_or_init(|| async {
            match knowledge_bases(aws, region).await {
                Ok(by_collection) => Some(by_collection),
                Err(e) => {
                    tracing::warn!(region, error = %e, "knowledge bases cannot be read; collections' KnowledgeBases stay unknown");
                    None
                }
            }
        })
        .await
        .as_ref()?;
    Some(KnowledgeBases::of(by_collection.get(arn).cloned().unwrap_or_default()))
}

async fn knowledge_bases(aws: &Aws, region: &str) -> Result<ByCollection, AwsError> {
    let client = sdk_client!(aws, aws_sdk_bedrockagent, region);
    let mut pages = client.list_knowledge_bases().max_results(100).into_paginator().send();
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        ids.extend(page.map_err(AwsError::of("bedrock", "ListKnowledgeBases", NOT_FOUND))?.knowledge_base_summaries().iter().map(|s| s.knowledge_base_id().to_string()));
    }
    let mut by_collection = ByCollection::new();
    for id in ids {
        let kb = match client.get_knowledge_base().knowledge_base_id(&id).send().await.map_err(AwsError::of("bedrock", "GetKnowledgeBase", NOT_FOUND)) {
            Ok(out) => out,
            // Deleted between the two calls.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let Some(kb) = kb.knowledge_base() else { continue };
        let collection = kb.storage_configuration().and_then(|s| s.opensearch_serverless_configuration()).map(|o| o.collection_arn());
        if let Some(collection) = collection {
            by_collection.entry(collection.to_string()).or_default().push(kb.name().to_string());
        }
    }
    Ok(by_collection)
}

fn err<E: crate::aws::error::ServiceError, R: crate::aws::error::RawResponse>(operation: &'static str) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError {
    AwsError::of("aoss", operation, NOT_FOUND)
}

/// The OpenSearch Serverless calls this type makes.
struct Api {
    client: aws_sdk_opensearchserverless::Client,
}

impl Api {
    fn new(aws: &Aws, region: &str) -> Self {
        Api { client: sdk_client!(aws, aws_sdk_opensearchserverless, region) }
    }

    /// Every collection's id.
    async fn list(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self.client.list_collections().max_results(PAGE_SIZE).into_paginator().send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            ids.extend(page.map_err(err("ListCollections"))?.collection_summaries().iter().filter_map(|c| c.id().map(str::to_string)));
        }
        Ok(ids)
    }

    /// The collections named by `ids` (at most 100) that still exist.
    async fn batch_get(&self, ids: &[String]) -> Result<Vec<Collection>, AwsError> {
        let out = self.client.batch_get_collection().set_ids(Some(ids.to_vec())).send().await.map_err(err("BatchGetCollection"))?;
        Ok(out
            .collection_details()
            .iter()
            .filter_map(|c| {
                Some(Collection {
                    id: c.id()?.to_string(),
                    name: c.name().unwrap_or_default().to_string(),
                    arn: c.arn()?.to_string(),
                    status: c.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    active: c.status() == Some(&aws_sdk_opensearchserverless::types::CollectionStatus::Active),
                    collection_type: c.r#type().map(|t| t.as_str().to_string()),
                    standby_replicas: c.standby_replicas().map(|s| s.as_str().to_string()),
                    created_at: c.created_date().and_then(DateTime::from_timestamp_millis),
                    ocus: None,
                    knowledge_bases: None,
                })
            })
            .collect())
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        let out = self.client.list_tags_for_resource().resource_arn(arn).send().await.map_err(err("ListTagsForResource"))?;
        Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    async fn tag(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        let tags: Vec<aws_sdk_opensearchserverless::types::Tag> =
            tags.iter().filter_map(|(k, v)| aws_sdk_opensearchserverless::types::Tag::builder().key(k).value(v).build().ok()).collect();
        self.client.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(err("TagResource"))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
        self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect())).send().await.map_err(err("UntagResource"))?;
        Ok(())
    }
}
