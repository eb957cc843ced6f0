//! The Price List API path of the price book. moto does not implement the
//! Pricing service, so these tests use operation-level mocks
//! (`aws-smithy-mocks`) of `GetProducts` on the real SDK client; everything
//! else in costguard is tested against the moto server.

use aws_sdk_pricing::operation::get_products::{GetProductsError, GetProductsOutput};
use aws_sdk_pricing::types::error::InternalErrorException;
use aws_sdk_pricing::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::Utc;
use costguard::aws::pricing::{PricingClient, Product};
use costguard::pricing::{PriceBook, PriceSource};

const M5_XLARGE_EU: &str = r#"{"product":{"attributes":{"instanceName":"ml.m5.xlarge","regionCode":"eu-west-1","component":"Hosting"}},
  "terms":{"OnDemand":{"SKU.JRTCKXETXF":{"priceDimensions":{"SKU.JRTCKXETXF.6YS6EN2CT7":{"unit":"Hrs","pricePerUnit":{"USD":"0.2560000000"}}}}}}}"#;

fn asks_for(req: &aws_sdk_pricing::operation::get_products::GetProductsInput, field: &str, value: &str) -> bool {
    req.filters().iter().any(|f| f.field() == field && f.value() == value)
}

#[tokio::test]
async fn price_list_answers_are_used_and_cached_on_disk() {
    let rule = mock!(Client::get_products)
        .match_requests(|req| {
            req.service_code() == Some("AmazonSageMaker")
                && asks_for(req, "instanceName", "ml.m5.xlarge")
                && asks_for(req, "regionCode", "eu-west-1")
                && asks_for(req, "component", "Hosting")
        })
        .then_output(|| GetProductsOutput::builder().price_list(M5_XLARGE_EU).build());
    let client = mock_client!(aws_sdk_pricing, RuleMode::MatchAny, &[&rule]);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("prices.json");
    let now = Utc::now();

    let book = PriceBook::new(Some(PricingClient::new(client)), Some(cache.clone()));
    let price = book.hourly(Product::SageMakerHosting, "eu-west-1", "ml.m5.xlarge", now).await.expect("priced");
    assert_eq!((price.hourly_usd, price.source), (0.256, PriceSource::PriceList));
    let again = book.hourly(Product::SageMakerHosting, "eu-west-1", "ml.m5.xlarge", now).await.expect("priced");
    assert_eq!(again.source, PriceSource::Cache);
    assert_eq!(rule.num_calls(), 1, "one API call per type and region");
    book.save().expect("save cache");

    // A later sweep, offline, still has the answer.
    let offline = PriceBook::new(None, Some(cache));
    let cached = offline.hourly(Product::SageMakerHosting, "eu-west-1", "ml.m5.xlarge", now).await.expect("priced");
    assert_eq!((cached.hourly_usd, cached.source), (0.256, PriceSource::Cache));
}

#[tokio::test]
async fn an_unavailable_price_list_falls_back_to_the_builtin_table_once() {
    let rule = mock!(Client::get_products)
        .then_error(|| GetProductsError::InternalErrorException(InternalErrorException::builder().message("down").build()));
    let client = mock_client!(aws_sdk_pricing, RuleMode::MatchAny, &[&rule], |c| c.retry_config(aws_sdk_pricing::config::retry::RetryConfig::disabled()));
    let book = PriceBook::new(Some(PricingClient::new(client)), None);
    let now = Utc::now();
    let price = book.hourly(Product::SageMakerHosting, "us-east-1", "ml.m5.large", now).await.expect("built-in price");
    assert_eq!((price.hourly_usd, price.source), (0.115, PriceSource::BuiltIn));
    assert_eq!(book.hourly(Product::SageMakerHosting, "us-east-1", "ml.brand.new", now).await, None, "unknown, never $0");
    assert_eq!(rule.num_calls(), 1, "after one failure the sweep stops asking");
}
