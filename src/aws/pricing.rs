//! AWS Price List API: the on-demand price of one product, in one unit.
//!
//! The API is served from us-east-1 only, whatever region is priced. Each
//! product comes back as a JSON document; costguard reads its OnDemand term
//! in the unit asked for (`Hrs`, `GB-Mo`, ...).

use aws_sdk_pricing::types::{Filter, FilterType};

use super::AwsError;

const SERVICE: &str = "pricing";

#[derive(Clone, Debug)]
pub struct PricingClient {
    client: aws_sdk_pricing::Client,
}

impl PricingClient {
    pub fn new(client: aws_sdk_pricing::Client) -> Self {
        Self { client }
    }

    /// USD per `unit` for the product `filters` select in `service_code`,
    /// on demand; `None` when the Price List has no such product.
    pub async fn price_usd(&self, service_code: &str, filters: &[(&str, String)], unit: &str) -> Result<Option<f64>, AwsError> {
        let filters =
            filters.iter().filter_map(|(field, value)| Filter::builder().r#type(FilterType::TermMatch).field(*field).value(value).build().ok()).collect();
        let out = self
            .client
            .get_products()
            .service_code(service_code)
            .set_filters(Some(filters))
            .max_results(10)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetProducts", &[], e))?;
        Ok(out.price_list().iter().find_map(|doc| on_demand_price(doc, unit)))
    }
}

/// The first positive USD rate in `unit` among a product's OnDemand terms.
pub fn on_demand_price(doc: &str, unit: &str) -> Option<f64> {
    let doc: serde_json::Value = serde_json::from_str(doc).ok()?;
    let terms = doc.get("terms")?.get("OnDemand")?.as_object()?;
    terms.values().filter_map(|t| t.get("priceDimensions")?.as_object()).flat_map(|d| d.values()).find_map(|dim| {
        let found = dim.get("unit")?.as_str()?;
        let usd: f64 = dim.get("pricePerUnit")?.get("USD")?.as_str()?.parse().ok()?;
        (found.eq_ignore_ascii_case(unit) && usd > 0.0).then_some(usd)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_on_demand_rate_in_the_unit_asked() {
        let doc = r#"{"product":{"attributes":{"instanceName":"ml.m5.xlarge"}},"terms":{"OnDemand":{"X.Y":{"priceDimensions":{"X.Y.Z":{"unit":"Hrs","pricePerUnit":{"USD":"0.2300000000"}}}}}}}"#;
        assert_eq!(on_demand_price(doc, "Hrs"), Some(0.23));
        assert_eq!(on_demand_price(doc, "GB-Mo"), None, "another unit is another product");
        assert_eq!(on_demand_price(r#"{"terms":{"OnDemand":{}}}"#, "Hrs"), None);
        assert_eq!(on_demand_price("not json", "Hrs"), None);
    }
}
