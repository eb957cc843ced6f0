//! The Price List API path of the price book. moto does not implement the
//! Pricing service, so these tests run the real SDK client against a fake
//! `GetProducts` endpoint (`support::fake_aws`); everything else in
//! costguard is tested against the moto server.

mod support;

use costguard::aws::pricing::PricingClient;
use costguard::pricing::{PriceBook, PriceSource};
use costguard::resources::sagemaker::{hourly, Use};
use serde_json::{json, Value};
use support::fake_aws::{Answer, FakeAws};

const M5_XLARGE_EU: &str = r#"{"product":{"attributes":{"instanceName":"ml.m5.xlarge","regionCode":"eu-west-1","component":"Hosting"}},
  "terms":{"OnDemand":{"SKU.JRTCKXETXF":{"priceDimensions":{"SKU.JRTCKXETXF.6YS6EN2CT7":{"unit":"Hrs","pricePerUnit":{"USD":"0.2560000000"}}}}}}}"#;

fn asks_for(request: &Value, field: &str, value: &str) -> bool {
    request["Filters"].as_array().is_some_and(|filters| filters.iter().any(|f| f["Field"] == field && f["Value"] == value))
}

async fn client(fake: &FakeAws, retries: bool) -> PricingClient {
    PricingClient::new(aws_sdk_pricing::Client::new(&fake.sdk_config(retries).await))
}

#[tokio::test]
async fn price_list_answers_are_used_and_cached_on_disk() {
    let fake = FakeAws::new();
    fake.on("GetProducts", |request| {
        let wanted = request["ServiceCode"] == "AmazonSageMaker"
            && asks_for(request, "instanceName", "ml.m5.xlarge")
            && asks_for(request, "regionCode", "eu-west-1")
            && asks_for(request, "component", "Hosting");
        Answer::Ok(if wanted { json!({"PriceList": [M5_XLARGE_EU]}) } else { json!({"PriceList": []}) })
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("prices.json");
    let now = support::at("2026-11-15T12:00:00Z");

    let book = PriceBook::new(Some(client(&fake, true).await), Some(cache.clone()));
    let price = hourly(&book, Use::Hosting, "eu-west-1", "ml.m5.xlarge", now).await.expect("priced");
    assert_eq!((price.usd, price.source), (0.256, PriceSource::PriceList));
    let again = hourly(&book, Use::Hosting, "eu-west-1", "ml.m5.xlarge", now).await.expect("priced");
    assert_eq!(again.source, PriceSource::Cache);
    assert_eq!(fake.calls("GetProducts").len(), 1, "one API call per type and region");
    book.save().expect("save cache");

    // A later sweep, offline, still has the answer.
    let offline = PriceBook::new(None, Some(cache));
    let cached = hourly(&offline, Use::Hosting, "eu-west-1", "ml.m5.xlarge", now).await.expect("priced");
    assert_eq!((cached.usd, cached.source), (0.256, PriceSource::Cache));
}

#[tokio::test]
async fn an_unavailable_price_list_falls_back_to_the_builtin_table_once() {
    let fake = FakeAws::new();
    fake.on("GetProducts", |_| Answer::Error(500, "InternalErrorException", "down"));
    let book = PriceBook::new(Some(client(&fake, false).await), None);
    let now = support::at("2026-11-15T12:00:00Z");
    let price = hourly(&book, Use::Hosting, "us-east-1", "ml.m5.large", now).await.expect("built-in price");
    assert_eq!((price.usd, price.source), (0.115, PriceSource::BuiltIn));
    assert_eq!(hourly(&book, Use::Hosting, "us-east-1", "ml.brand.new", now).await, None, "unknown, never $0");
    assert_eq!(fake.calls("GetProducts").len(), 1, "after one failure the sweep stops asking");
}
