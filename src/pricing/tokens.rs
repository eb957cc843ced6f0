//! What a Bedrock model's use costs: dollars per 1,000 tokens (input,
//! output, prompt-cache reads and writes) and per generated image.
//!
//! The built-in table is dated and for us-east-1, on-demand: Bedrock's
//! prices differ a little by region, and AWS changes them. A price the
//! operator writes in `guardrails.spend-velocity.prices` wins over it. The
//! Price List API names Bedrock products by usage type, not by model id,
//! so it is not asked: a model found nowhere is *unknown*, reported as
//! such and never priced at $0.

use serde::Serialize;

/// When the built-in figures were taken, and where.
pub const TABLE_TAKEN: &str = "2025-10 (Amazon Bedrock pricing page, us-east-1 on-demand)";

/// USD per 1,000 units of each meter; `None`: the model has no such meter
/// (or its price is not known: its use is then reported unpriced).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TokenPrice {
    pub input_per_1k: Option<f64>,
    pub output_per_1k: Option<f64>,
    pub cache_read_per_1k: Option<f64>,
    pub cache_write_per_1k: Option<f64>,
    /// Per image (standard quality, 1024 x 1024 where the size matters).
    pub per_image: Option<f64>,
}

const fn text(input: f64, output: f64) -> TokenPrice {
    TokenPrice { input_per_1k: Some(input), output_per_1k: Some(output), cache_read_per_1k: None, cache_write_per_1k: None, per_image: None }
}

const fn cached(input: f64, output: f64, read: f64, write: f64) -> TokenPrice {
    TokenPrice { input_per_1k: Some(input), output_per_1k: Some(output), cache_read_per_1k: Some(read), cache_write_per_1k: Some(write), per_image: None }
}

/// Prompt-cache reads priced, writes not in the table.
const fn cache_reads(input: f64, output: f64, read: f64) -> TokenPrice {
    TokenPrice { input_per_1k: Some(input), output_per_1k: Some(output), cache_read_per_1k: Some(read), cache_write_per_1k: None, per_image: None }
}

const fn embedding(input: f64) -> TokenPrice {
    TokenPrice { input_per_1k: Some(input), output_per_1k: None, cache_read_per_1k: None, cache_write_per_1k: None, per_image: None }
}

const fn image(each: f64) -> TokenPrice {
    TokenPrice { input_per_1k: None, output_per_1k: None, cache_read_per_1k: None, cache_write_per_1k: None, per_image: Some(each) }
}

/// The common models, by their id without the `:N` version suffix.
const BUILT_IN: &[(&str, TokenPrice)] = &[
    ("anthropic.claude-3-haiku-20240307-v1", text(0.00025, 0.00125)),
    ("anthropic.claude-3-5-haiku-20241022-v1", cached(0.0008, 0.004, 0.00008, 0.001)),
    ("anthropic.claude-haiku-4-5-20251001-v1", cached(0.001, 0.005, 0.0001, 0.00125)),
    ("anthropic.claude-3-sonnet-20240229-v1", text(0.003, 0.015)),
    ("anthropic.claude-3-5-sonnet-20240620-v1", text(0.003, 0.015)),
    ("anthropic.claude-3-5-sonnet-20241022-v2", cached(0.003, 0.015, 0.0003, 0.00375)),
    ("anthropic.claude-3-7-sonnet-20250219-v1", cached(0.003, 0.015, 0.0003, 0.00375)),
    ("anthropic.claude-sonnet-4-20250514-v1", cached(0.003, 0.015, 0.0003, 0.00375)),
    ("anthropic.claude-sonnet-4-5-20250929-v1", cached(0.003, 0.015, 0.0003, 0.00375)),
    ("anthropic.claude-3-opus-20240229-v1", text(0.015, 0.075)),
    ("anthropic.claude-opus-4-20250514-v1", cached(0.015, 0.075, 0.0015, 0.01875)),
    ("anthropic.claude-opus-4-1-20250805-v1", cached(0.015, 0.075, 0.0015, 0.01875)),
    ("amazon.nova-micro-v1", cache_reads(0.000035, 0.00014, 0.00000875)),
    ("amazon.nova-lite-v1", cache_reads(0.00006, 0.00024, 0.000015)),
    ("amazon.nova-pro-v1", cache_reads(0.0008, 0.0032, 0.0002)),
    ("amazon.nova-premier-v1", text(0.0025, 0.0125)),
    ("amazon.titan-text-express-v1", text(0.0002, 0.0006)),
    ("amazon.titan-text-lite-v1", text(0.00015, 0.0002)),
    ("meta.llama3-8b-instruct-v1", text(0.0003, 0.0006)),
    ("meta.llama3-70b-instruct-v1", text(0.00265, 0.0035)),
    ("meta.llama3-1-8b-instruct-v1", text(0.00022, 0.00022)),
    ("meta.llama3-1-70b-instruct-v1", text(0.00072, 0.00072)),
    ("meta.llama3-1-405b-instruct-v1", text(0.0024, 0.0024)),
    ("meta.llama3-3-70b-instruct-v1", text(0.00072, 0.00072)),
    ("mistral.mistral-7b-instruct-v0", text(0.00015, 0.0002)),
    ("mistral.mixtral-8x7b-instruct-v0", text(0.00045, 0.0007)),
    ("mistral.mistral-small-2402-v1", text(0.001, 0.003)),
    ("mistral.mistral-large-2402-v1", text(0.004, 0.012)),
    ("amazon.titan-embed-text-v1", embedding(0.0001)),
    ("amazon.titan-embed-text-v2", embedding(0.00002)),
    ("cohere.embed-english-v3", embedding(0.0001)),
    ("cohere.embed-multilingual-v3", embedding(0.0001)),
    ("amazon.titan-image-generator-v2", image(0.01)),
    ("amazon.nova-canvas-v1", image(0.04)),
];

/// Cross-region inference profiles: the prefix names the geography, the
/// rest is the model, billed at the model's price.
const PROFILE_PREFIXES: &[&str] = &["us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."];

/// What a `ModelId` dimension names, as far as its price goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    /// A foundation model (or a cross-region profile of one): its id
    /// without the version suffix, and the profile's prefix if any.
    Foundation { base: String, profile: Option<String> },
    /// A provisioned model: billed per model unit and hour, not per token.
    Provisioned,
    /// An application inference profile, custom or imported model: what it
    /// runs on is not in its name.
    Opaque,
}

/// Reads a `ModelId` dimension: a model id, an inference profile id, or
/// an ARN of either (or of a provisioned model).
pub fn model_ref(model_id: &str) -> ModelRef {
    let id = match model_id.strip_prefix("arn:") {
        Some(_) => {
            let resource = model_id.splitn(6, ':').nth(5).unwrap_or_default();
            let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
            match kind {
                "foundation-model" | "inference-profile" => rest,
                "provisioned-model" => return ModelRef::Provisioned,
                _ => return ModelRef::Opaque,
            }
        }
        None => model_id,
    };
    let (profile, model) = match PROFILE_PREFIXES.iter().find(|p| id.starts_with(**p) && id[p.len()..].contains('.')) {
        Some(p) => (Some(p.trim_end_matches('.').to_string()), &id[p.len()..]),
        None => (None, id),
    };
    let base = model.split(':').next().unwrap_or(model).to_string();
    if base.is_empty() || !base.contains('.') {
        return ModelRef::Opaque;
    }
    ModelRef::Foundation { base, profile }
}

/// The built-in price of a model id without its version suffix.
pub fn built_in(base: &str) -> Option<TokenPrice> {
    BUILT_IN.iter().find(|(id, _)| *id == base).map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_profiles_and_arns_name_their_model() {
        let found = |id: &str| model_ref(id);
        let claude =
            |profile: Option<&str>| ModelRef::Foundation { base: "anthropic.claude-3-5-sonnet-20241022-v2".to_string(), profile: profile.map(str::to_string) };
        assert_eq!(found("anthropic.claude-3-5-sonnet-20241022-v2:0"), claude(None));
        assert_eq!(found("us.anthropic.claude-3-5-sonnet-20241022-v2:0"), claude(Some("us")));
        assert_eq!(found("global.anthropic.claude-3-5-sonnet-20241022-v2:0"), claude(Some("global")));
        assert_eq!(found("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20241022-v2:0"), claude(Some("eu")));
        assert_eq!(found("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20241022-v2:0"), claude(None));
        assert_eq!(found("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"), ModelRef::Provisioned);
        assert_eq!(found("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1y2"), ModelRef::Opaque);
        assert_eq!(found("amazon.titan-embed-text-v2:0:8k"), ModelRef::Foundation { base: "amazon.titan-embed-text-v2".into(), profile: None });
        assert_eq!(found("mystery"), ModelRef::Opaque);
    }

    #[test]
    fn the_table_prices_the_common_models_and_nothing_else() {
        let sonnet = built_in("anthropic.claude-3-5-sonnet-20241022-v2").expect("in the table");
        assert_eq!((sonnet.input_per_1k, sonnet.output_per_1k), (Some(0.003), Some(0.015)));
        assert_eq!(built_in("amazon.titan-embed-text-v2").and_then(|p| p.output_per_1k), None);
        assert_eq!(built_in("acme.unknown-model-v1"), None);
        let mut ids: Vec<&str> = BUILT_IN.iter().map(|(id, _)| *id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), BUILT_IN.len(), "each model once");
    }
}
