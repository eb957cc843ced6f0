//! `opensearch-serverless-collection` against the moto server: collections
//! listed and read in batches, priced as a share of the account's OCUs
//! (`AWS/AOSS` metrics put into moto by the test, as AWS publishes them),
//! idle by their request metrics, with the Bedrock knowledge bases that
//! point at them named (moto's Bedrock Agent); only reported.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_bedrockagent::types::{
    KnowledgeBaseConfiguration, KnowledgeBaseStorageType, KnowledgeBaseType, OpenSearchServerlessConfiguration, OpenSearchServerlessFieldMapping,
    StorageConfiguration, VectorKnowledgeBaseConfiguration,
};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_sdk_opensearchserverless::types::{CollectionType, SecurityPolicyType, Tag};
use costguard::config::compile_text;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::sweep;
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "123456789012";

/// Creates the collections (moto wants an encryption policy naming each
/// first); returns their ARNs and ids by name.
async fn create(moto: &support::Moto, collections: &[(&str, CollectionType, Option<&str>)]) -> BTreeMap<String, (String, String)> {
    let client = aws_sdk_opensearchserverless::Client::new(&moto.sdk_config().await);
    let resources: Vec<String> = collections.iter().map(|(name, _, _)| format!("\"collection/{name}\"")).collect();
    let policy = format!(
        r#"{{"Rules":[{{"ResourceType":"collection","Resource":[{}]}}],"AWSOwnedKey":false,"KmsARN":"arn:aws:kms:us-east-1:123456789012:key/vectors"}}"#,
        resources.join(",")
    );
    client.create_security_policy().name("encryption").r#type(SecurityPolicyType::Encryption).policy(policy).send().await.expect("encryption policy");
    let mut created = BTreeMap::new();
    for (name, kind, owner) in collections {
        let mut request = client.create_collection().name(*name).r#type(kind.clone());
        if let Some(owner) = owner {
            request = request.tags(Tag::builder().key("owner").value(*owner).build().expect("tag"));
        }
        let out = request.send().await.expect("create collection");
        let detail = out.create_collection_detail().expect("detail");
        created.insert(name.to_string(), (detail.arn().unwrap_or_default().to_string(), detail.id().unwrap_or_default().to_string()));
    }
    created
}

async fn put(moto: &support::Moto, metric: &str, dims: &[(&str, &str)], value: f64) {
    let at = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 3600);
    let mut datum = MetricDatum::builder().metric_name(metric).value(value).timestamp(at.into());
    for (name, value) in dims {
        datum = datum.dimensions(Dimension::builder().name(*name).value(*value).build());
    }
    moto.cloudwatch().await.put_metric_data().namespace("AWS/AOSS").metric_data(datum.build()).send().await.expect("put metric");
}

async fn knowledge_base(moto: &support::Moto, name: &str, collection_arn: &str) {
    let client = aws_sdk_bedrockagent::Client::new(&moto.sdk_config().await);
    let vectors = VectorKnowledgeBaseConfiguration::builder()
        .embedding_model_arn("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0")
        .build()
        .expect("vectors");
    let config = KnowledgeBaseConfiguration::builder().r#type(KnowledgeBaseType::Vector).vector_knowledge_base_configuration(vectors).build().expect("config");
    let mapping = OpenSearchServerlessFieldMapping::builder().vector_field("vector").text_field("text").metadata_field("metadata").build().expect("mapping");
    let aoss =
        OpenSearchServerlessConfiguration::builder().collection_arn(collection_arn).vector_index_name("index").field_mapping(mapping).build().expect("aoss");
    let storage = StorageConfiguration::builder()
        .r#type(KnowledgeBaseStorageType::OpensearchServerless)
        .opensearch_serverless_configuration(aoss)
        .build()
        .expect("storage");
    client
        .create_knowledge_base()
        .name(name)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/kb"))
        .knowledge_base_configuration(config)
        .storage_configuration(storage)
        .send()
        .await
        .expect("create knowledge base");
}

#[tokio::test]
async fn idle_collections_are_priced_as_a_share_of_the_accounts_ocus_and_name_their_knowledge_bases() {
    let moto = support::moto().await;
    let created = create(
        &moto,
        &[
            ("docs", CollectionType::Vectorsearch, Some("ana@example.com")),
            ("busy", CollectionType::Search, Some("bo@example.com")),
            ("fresh", CollectionType::Vectorsearch, None),
            ("quiet", CollectionType::Timeseries, None),
        ],
    )
    .await;
    for name in ["docs", "busy", "quiet"] {
        moto.backdate("aoss", name, 30.0);
    }
    // The account's OCUs: 2 indexing + 2 search, as AWS publishes them (ClientId only).
    put(&moto, "IndexingOCU", &[("ClientId", ACCOUNT)], 2.0).await;
    put(&moto, "SearchOCU", &[("ClientId", ACCOUNT)], 2.0).await;
    let (_, busy_id) = &created["busy"];
    put(&moto, "SearchRequestRate", &[("ClientId", ACCOUNT), ("CollectionId", busy_id), ("CollectionName", "busy")], 120.0).await;
    knowledge_base(&moto, "support-answers", &created["docs"].0).await;
    knowledge_base(&moto, "elsewhere", "arn:aws:aoss:us-east-1:123456789012:collection/gone").await;

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/opensearch.yaml");
    let policies = compile_text(&path, &std::fs::read_to_string(&path).expect("shipped policy")).expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    let options = support::sweep_options(dir.path(), false);
    let result =
        sweep::run(&moto.aws().await, &policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs");
    assert!(result.report.errors.is_empty(), "{:?}", result.report.errors);

    let found: BTreeMap<&str, &costguard::engine::findings::Finding> = result.report.findings.iter().map(|f| (f.resource_id.as_str(), f)).collect();
    let names: Vec<&str> = found.keys().map(|id| created.iter().find(|(_, (_, i))| i == id).map_or(*id, |(n, _)| n.as_str())).collect();
    assert_eq!(names.len(), 2, "busy is searched, fresh is new: {found:#?}");
    assert!(names.contains(&"docs") && names.contains(&"quiet"), "{names:?}");
    let docs = found[created["docs"].1.as_str()];
    // 4 OCUs x $0.24 x 730 h, shared by the 4 active collections.
    let share = 4.0 * 0.24 * 730.0 / 4.0;
    assert!(docs.monthly_cost_usd.is_some_and(|c| (c - share).abs() < 1e-6), "{docs:#?}");
    assert!(docs.cost_basis.as_deref().is_some_and(|b| b.contains("1/4 of the account's 4.00 OCUs")), "{docs:#?}");
    assert!(docs.reason.contains("support-answers") && !docs.reason.contains("elsewhere"), "its knowledge base named: {}", docs.reason);
    assert_eq!(docs.owner.as_deref(), Some("ana@example.com"));
    assert_eq!(docs.status, Status::Planned, "notify only");
    let quiet = found[created["quiet"].1.as_str()];
    assert!(quiet.reason.contains("KnowledgeBases is \"none\""), "{}", quiet.reason);

    let calls = &result.report.api_calls;
    assert_eq!(calls.get("aoss:ListCollections"), Some(&1));
    assert_eq!(calls.get("aoss:BatchGetCollection"), Some(&1), "four collections in one batch");
    assert_eq!(calls.get("cloudwatch:ListMetrics"), Some(&2), "each request metric's series in bulk: {calls:?}");
    assert_eq!(calls.get("aoss:ListTagsForResource"), Some(&2), "busy was ruled out by its metrics before any describe; fresh by its age: {calls:?}");
    assert_eq!(calls.get("bedrock:ListKnowledgeBases"), Some(&1), "once a region and sweep: {calls:?}");
    assert_eq!(calls.get("bedrock:GetKnowledgeBase"), Some(&2), "{calls:?}");
    assert!(
        calls
            .keys()
            .all(|k| !k.starts_with("aoss:") || k.ends_with("ListCollections") || k.ends_with("BatchGetCollection") || k.ends_with("ListTagsForResource")),
        "reads only: {calls:?}"
    );
}

#[test]
fn a_change_to_a_collection_is_refused_with_its_location() {
    let text = "policies:\n  - name: nuke\n    resource: opensearch-serverless-collection\n    actions:\n      - delete\n";
    let errors = compile_text(Path::new("p.yaml"), text).expect_err("no change exists for a collection");
    let shown = errors.to_string();
    assert!(shown.contains("p.yaml:5") && shown.contains("delete"), "{shown}");
}
