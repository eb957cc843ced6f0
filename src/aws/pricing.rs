//! AWS Price List API: the on-demand hourly price of one instance type.
//!
//! The API is served from us-east-1 only, whatever region is priced. Each
//! product comes back as a JSON document; costguard reads the OnDemand term.

use aws_sdk_pricing::types::{Filter, FilterType};

use super::AwsError;

const SERVICE: &str = "pricing";

/// A priceable product: which offer file and which attribute names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Product {
    /// SageMaker real-time inference instances.
    SageMakerHosting,
    /// SageMaker notebook instances.
    SageMakerNotebook,
    /// EC2, on-demand, Linux, shared tenancy.
    Ec2Linux,
}

impl Product {
    pub fn key(self) -> &'static str {
        match self {
            Product::SageMakerHosting => "sagemaker-hosting",
            Product::SageMakerNotebook => "sagemaker-notebook",
            Product::Ec2Linux => "ec2-linux",
        }
    }

    fn filters(self, region: &str, instance_type: &str) -> Vec<(&'static str, String)> {
        match self {
            Product::SageMakerHosting | Product::SageMakerNotebook => vec![
                ("regionCode", region.to_string()),
                ("instanceName", instance_type.to_string()),
                ("component", if self == Product::SageMakerHosting { "Hosting" } else { "Notebook" }.to_string()),
            ],
            Product::Ec2Linux => vec![
                ("regionCode", region.to_string()),
                ("instanceType", instance_type.to_string()),
                ("operatingSystem", "Linux".to_string()),
                ("tenancy", "Shared".to_string()),
                ("preInstalledSw", "NA".to_string()),
                ("capacitystatus", "Used".to_string()),
            ],
        }
    }

    fn service_code(self) -> &'static str {
        match self {
            Product::SageMakerHosting | Product::SageMakerNotebook => "AmazonSageMaker",
            Product::Ec2Linux => "AmazonEC2",
        }
    }
}

#[derive(Clone, Debug)]
pub struct PricingClient {
    client: aws_sdk_pricing::Client,
}

impl PricingClient {
    pub fn new(client: aws_sdk_pricing::Client) -> Self {
        Self { client }
    }

    /// USD per hour, on demand; `None` when the Price List has no such product.
    pub async fn hourly_usd(&self, product: Product, region: &str, instance_type: &str) -> Result<Option<f64>, AwsError> {
        let filters = product
            .filters(region, instance_type)
            .into_iter()
            .filter_map(|(field, value)| Filter::builder().r#type(FilterType::TermMatch).field(field).value(value).build().ok())
            .collect();
        let out = self
            .client
            .get_products()
            .service_code(product.service_code())
            .set_filters(Some(filters))
            .max_results(10)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetProducts", &[], e))?;
        Ok(out.price_list().iter().find_map(|doc| on_demand_hourly(doc)))
    }
}

/// The first positive USD hourly rate in a product's OnDemand terms.
pub fn on_demand_hourly(doc: &str) -> Option<f64> {
    let doc: serde_json::Value = serde_json::from_str(doc).ok()?;
    let terms = doc.get("terms")?.get("OnDemand")?.as_object()?;
    terms.values().filter_map(|t| t.get("priceDimensions")?.as_object()).flat_map(|d| d.values()).find_map(|dim| {
        let unit = dim.get("unit")?.as_str()?;
        let usd: f64 = dim.get("pricePerUnit")?.get("USD")?.as_str()?.parse().ok()?;
        (unit.eq_ignore_ascii_case("hrs") && usd > 0.0).then_some(usd)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_on_demand_hourly_rate() {
        let doc = r#"{"product":{"attributes":{"instanceName":"ml.m5.xlarge"}},"terms":{"OnDemand":{"X.Y":{"priceDimensions":{"X.Y.Z":{"unit":"Hrs","pricePerUnit":{"USD":"0.2300000000"}}}}}}}"#;
        assert_eq!(on_demand_hourly(doc), Some(0.23));
        assert_eq!(on_demand_hourly(r#"{"terms":{"OnDemand":{}}}"#), None);
        assert_eq!(on_demand_hourly("not json"), None);
    }
}
