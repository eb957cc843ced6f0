//! `sagemaker-hyperpod-cluster` against the moto server: clusters created
//! with CreateCluster (moto answers `ResourceInUse` after creating one, so
//! that answer is taken as created), listed, described, tagged in bulk and
//! priced per instance group; the shipped policy tells owners, never
//! changes a cluster.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_sagemaker::types::{ClusterInstanceGroupSpecification, ClusterInstanceType, ClusterLifeCycleConfig, Tag, VpcConfig};
use costguard::config::compile_text;
use costguard::outcome::Status;
use costguard::progress::Progress;
use costguard::sweep;
use tokio_util::sync::CancellationToken;

async fn create_cluster(moto: &support::Moto, name: &str, groups: &[(&str, &str, i32)], tags: &[(&str, &str)]) {
    let mut request =
        moto.sagemaker().await.create_cluster().cluster_name(name).vpc_config(VpcConfig::builder().security_group_ids("sg-1").subnets("subnet-1").build());
    for (group, instance_type, count) in groups {
        request = request.instance_groups(
            ClusterInstanceGroupSpecification::builder()
                .instance_group_name(*group)
                .instance_type(ClusterInstanceType::from(*instance_type))
                .instance_count(*count)
                .execution_role("arn:aws:iam::123456789012:role/hyperpod")
                .life_cycle_config(ClusterLifeCycleConfig::builder().source_s3_uri("s3://sagemaker-lifecycle/").on_create("on_create.sh").build())
                .build(),
        );
    }
    for (k, v) in tags {
        request = request.tags(Tag::builder().key(*k).value(*v).build());
    }
    match request.send().await {
        Ok(_) => {}
        // moto creates the cluster, then answers that it exists.
        Err(e) if e.as_service_error().and_then(|s| aws_sdk_sagemaker::error::ProvideErrorMetadata::code(s)) == Some("ResourceInUse") => {}
        Err(e) => panic!("create cluster {name}: {e:?}"),
    }
}

#[tokio::test]
async fn hyperpod_clusters_are_priced_per_instance_group_and_only_reported() {
    let moto = support::moto().await;
    create_cluster(&moto, "llm-pretrain", &[("workers", "ml.p4d.24xlarge", 2), ("head", "ml.g5.12xlarge", 1)], &[("owner", "ana@example.com")]).await;
    create_cluster(&moto, "new-cluster", &[("workers", "ml.g5.12xlarge", 1)], &[]).await;
    create_cluster(&moto, "h100s", &[("workers", "ml.p5.48xlarge", 4)], &[("owner", "bo@example.com")]).await;
    moto.backdate_sagemaker("cluster", "llm-pretrain", 30.0);
    moto.backdate_sagemaker("cluster", "h100s", 10.0);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/hyperpod.yaml");
    let policies = compile_text(&path, &std::fs::read_to_string(&path).expect("shipped policy")).expect("valid");
    let dir = tempfile::tempdir().expect("temp dir");
    let aws = moto.aws().await;
    let options = support::sweep_options(dir.path(), false);
    let result = sweep::run(&aws, &policies, &options, &support::wall_clock(), &Progress::hidden(), &CancellationToken::new()).await.expect("sweep runs");

    let found: BTreeMap<&str, &costguard::engine::findings::Finding> = result.report.findings.iter().map(|f| (f.resource_id.as_str(), f)).collect();
    assert_eq!(found.keys().copied().collect::<Vec<_>>(), ["h100s", "llm-pretrain"], "a week old or more: {found:#?}");
    let llm = found["llm-pretrain"];
    // 2 x ml.p4d.24xlarge at $37.688 + 1 x ml.g5.12xlarge at $7.09, x 730 h.
    let expected = (2.0 * 37.688 + 7.09) * 730.0;
    assert!(llm.monthly_cost_usd.is_some_and(|c| (c - expected).abs() < 1e-6), "{llm:#?}");
    assert_eq!(llm.owner.as_deref(), Some("ana@example.com"), "its tags came in bulk");
    assert_eq!(llm.status, Status::Planned, "notify only");
    let h100 = found["h100s"];
    assert_eq!(h100.monthly_cost_usd, None, "no built-in rate for ml.p5.48xlarge: unknown, never $0");
    assert!(h100.cost_basis.as_deref().is_some_and(|b| b.contains("ml.p5.48xlarge")), "{h100:#?}");
    // One ListClusters, one DescribeCluster per cluster, one GetResources.
    assert_eq!(result.report.api_calls.get("sagemaker:ListClusters"), Some(&1));
    assert_eq!(result.report.api_calls.get("sagemaker:DescribeCluster"), Some(&3));
    assert_eq!(result.report.api_calls.get("sagemaker:ListTags"), None);
    let still: Vec<String> = moto
        .sagemaker()
        .await
        .list_clusters()
        .send()
        .await
        .expect("list")
        .cluster_summaries()
        .iter()
        .filter_map(|c| c.cluster_name().map(str::to_string))
        .collect();
    assert_eq!(still.len(), 3, "nothing is changed");
}

#[test]
fn a_change_to_a_hyperpod_cluster_is_refused_with_its_location() {
    let text = "policies:\n  - name: nuke\n    resource: sagemaker-hyperpod-cluster\n    actions:\n      - delete\n";
    let errors = compile_text(Path::new("p.yaml"), text).expect_err("no change exists for a cluster");
    let shown = errors.to_string();
    assert!(shown.contains("p.yaml:5"), "{shown}");
    assert!(shown.contains("delete"), "{shown}");
}
