//! Counts every HTTP request the SDK sends, by `service:Operation`.
//!
//! An SDK interceptor sees each attempt, retries included, so the counts are
//! what AWS really served (and billed, for Cost Explorer), not what the code
//! meant to ask.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Shared, cheap to clone; one per sweep.
#[derive(Clone, Debug, Default)]
pub struct ApiCallCounter {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    calls: BTreeMap<String, u64>,
    throttles: BTreeMap<String, u64>,
}

impl ApiCallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests sent, keyed `service:Operation` (IAM service prefix, so the
    /// keys read like the IAM actions they need).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    /// Requests AWS answered with a throttling error, same keys.
    pub fn throttles(&self) -> BTreeMap<String, u64> {
        self.lock().throttles.clone()
    }

    pub fn total(&self) -> u64 {
        self.lock().calls.values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic elsewhere while holding the lock leaves plain counters behind,
        // which are still right to read.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The IAM prefix of an SDK service name (the name in the operation metadata).
pub fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service {
        "CloudWatch Logs" => "logs".to_string(),
        "Resource Groups Tagging API" => "tag".to_string(),
        "CloudWatch" => "cloudwatch".to_string(),
        "SageMaker" => "sagemaker".to_string(),
        "EC2" => "ec2".to_string(),
        "Budgets" => "budgets".to_string(),
        "Cost Explorer" => "ce".to_string(),
        "Pricing" => "pricing".to_string(),
        "SESv2" => "ses".to_string(),
        "STS" => "sts".to_string(),
        "OpenSearchServerless" => "aoss".to_string(),
        "Bedrock Agent" => "bedrock".to_string(),
        other => other.to_ascii_lowercase().replace(' ', ""),
    }
}

fn key_of(cfg: &ConfigBag) -> String {
    match cfg.load::<Metadata>() {
        Some(m) => format!("{}:{}", iam_prefix(m.service()), m.name()),
        None => "unknown:unknown".to_string(),
    }
}

impl Intercept for ApiCallCounter {
    fn name(&self) -> &'static str {
        "costguard::ApiCallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = key_of(cfg);
        *self.lock().calls.entry(key).or_insert(0) += 1;
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let throttled = context.response().is_some_and(|r| {
            let status = r.status().as_u16();
            status == 429 || (status == 400 && looks_throttled(r.body().bytes()))
        });
        if throttled {
            let key = key_of(cfg);
            *self.lock().throttles.entry(key).or_insert(0) += 1;
        }
        Ok(())
    }
}

/// AWS JSON and query protocols both name the error code in the body.
fn looks_throttled(body: Option<&[u8]>) -> bool {
    let Some(body) = body else { return false };
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    text.contains("Throttling") || text.contains("TooManyRequests") || text.contains("RequestLimitExceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_prefixes_match_iam_action_names() {
        assert_eq!(iam_prefix("CloudWatch Logs"), "logs");
        assert_eq!(iam_prefix("Resource Groups Tagging API"), "tag");
        assert_eq!(iam_prefix("Some New Service"), "somenewservice");
    }

    #[test]
    fn throttling_bodies_are_recognised() {
        assert!(looks_throttled(Some(br#"{"__type":"ThrottlingException"}"#)));
        assert!(!looks_throttled(Some(br#"{"__type":"ResourceNotFoundException"}"#)));
        assert!(!looks_throttled(None));
    }
}
