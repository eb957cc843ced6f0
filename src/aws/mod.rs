//! Narrow seams over the AWS SDK, shaped like the domain.
//!
//! Every client is made by [`sdk_client!`] from the one shared
//! configuration, so each carries the sweep's [`ApiCallCounter`] (every
//! request is counted), the retry classifier, and the time limits. Seams
//! used by several layers live here (metrics, tags in bulk, prices, the
//! guardrails' services, SES); each resource type keeps the calls only it
//! makes in its own module (`crate::resources`), wrapped the same way:
//! paginated inside, plain structs out, no SDK builder beyond the seam.

pub mod assume;
pub mod budgets;
pub mod cloudwatch;
pub mod costexplorer;
pub mod counter;
pub mod error;
pub mod http;
pub mod organizations;
pub mod pace;
pub mod pricing;
pub mod ses;
pub mod sns;
pub mod sqs;
pub mod studio;
pub mod tagging;
pub mod tags;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use counter::ApiCallCounter;
pub use error::{AwsError, ErrorKind};

/// The SDK's standard configuration chain with costguard's retry policy
/// (standard mode retries throttling and 5xx with jittered backoff), the
/// default time limits and one HTTP client for every SDK client made from
/// it ([`http::client`]).
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http::client())
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(CallLimits::default().timeout_config())
}

/// How long costguard waits on AWS, for every call: a call that reaches a
/// limit fails (an error in the report for that call) and the sweep goes on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallLimits {
    /// Opening the connection (TCP and TLS).
    pub connect: Duration,
    /// Between two reads of the answer: a server that stops sending.
    pub read: Duration,
    /// One attempt, start to end.
    pub attempt: Duration,
    /// The whole call, every retry and backoff included.
    pub call: Duration,
    /// Each API's pace in one account and region, where AWS documents
    /// none ([`pace::rate_of`]).
    pub rate: pace::Rate,
}

impl Default for CallLimits {
    /// Generous for AWS (a 500-query GetMetricData or a Cost Explorer
    /// query answers within seconds), short enough that a dead endpoint
    /// costs minutes, not a schedule.
    fn default() -> Self {
        CallLimits {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(60),
            attempt: Duration::from_secs(90),
            call: Duration::from_secs(180),
            rate: pace::DEFAULT,
        }
    }
}

impl CallLimits {
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.call)
            .build()
    }
}

/// An SDK client of crate `$sdk` (e.g. `aws_sdk_sagemaker`) in `$region`,
/// from the handle `$aws`: the shared configuration, the call counter, the
/// retry classifier, the handle's time limits.
macro_rules! sdk_client {
    ($aws:expr, $sdk:ident, $region:expr) => {{
        let aws: &$crate::aws::Aws = $aws;
        let config = $sdk::config::Builder::from(aws.sdk_config())
            .region(::aws_config::Region::new(String::from($region)))
            .interceptor(aws.counter().clone())
            .interceptor(aws.pacer().clone())
            .retry_classifier($crate::aws::error::NotAnAwsAnswer)
            .timeout_config(aws.limits().timeout_config())
            .build();
        $sdk::Client::from_conf(config)
    }};
}
pub(crate) use sdk_client;

/// The SDK configuration from the standard chain (env, profile, IMDS, ECS
/// task role) plus the sweep's counter. `AWS_ENDPOINT_URL` points it at an
/// emulator.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    counter: ApiCallCounter,
    /// The request rates of this handle's account ([`pace`]).
    pacer: pace::Pacer,
    limits: CallLimits,
    /// Asked once per handle (the access check, then the budgets).
    account: Arc<tokio::sync::OnceCell<String>>,
    /// What modules keep for the length of one sweep (see [`Aws::memo`]).
    memos: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws").field("region", &self.default_region()).finish()
    }
}

impl Aws {
    pub async fn from_env(counter: ApiCallCounter) -> Self {
        Self::from_config(sdk_loader().load().await, counter)
    }

    /// For tests and embedding: an explicit configuration.
    pub fn from_config(base: SdkConfig, counter: ApiCallCounter) -> Self {
        Self { base, counter, pacer: pace::Pacer::new(pace::DEFAULT), limits: CallLimits::default(), account: Default::default(), memos: Default::default() }
    }

    /// A handle on a member account: its own call counter, the same time limits, with
    /// the credentials of `role_arn` (assumed with this handle's own, and
    /// assumed again before they expire).
    pub fn assuming(&self, role_arn: &str, external_id: Option<&str>, session: assume::Session) -> Aws {
        let region = self.default_region().unwrap_or_else(|| "us-east-1".to_string());
        let role = assume::AssumedRole {
            sts: sdk_client!(self, aws_sdk_sts, region.as_str()),
            role_arn: role_arn.to_string(),
            external_id: external_id.map(str::to_string),
            session,
            cached: Default::default(),
        };
        let base = self.base.to_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(role)).build();
        Aws { base, ..self.counted_apart() }
    }

    /// The same credentials with a counter (and caches) of its own: one
    /// account's calls counted apart from the others'.
    pub fn counted_apart(&self) -> Aws {
        Aws {
            base: self.base.clone(),
            counter: ApiCallCounter::new(),
            pacer: pace::Pacer::new(self.limits.rate),
            limits: self.limits,
            account: Default::default(),
            memos: Default::default(),
        }
    }

    /// Organizations is global; its endpoint is in us-east-1.
    pub fn organizations(&self) -> organizations::OrganizationsClient {
        organizations::OrganizationsClient::new(sdk_client!(self, aws_sdk_organizations, "us-east-1"))
    }

    /// The same handle with other time limits (and pace) for its calls.
    pub fn with_limits(mut self, limits: CallLimits) -> Self {
        if limits.rate != self.limits.rate {
            self.pacer = pace::Pacer::new(limits.rate);
        }
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> CallLimits {
        self.limits
    }

    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    pub fn counter(&self) -> &ApiCallCounter {
        &self.counter
    }

    pub fn pacer(&self) -> &pace::Pacer {
        &self.pacer
    }

    /// The shared configuration clients are made from ([`sdk_client!`]).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.base
    }

    /// A value of type `T` kept as long as this handle (one sweep), made on
    /// first use: a module's cache that no other module needs to know of
    /// (an endpoint config is described once per sweep, not per endpoint).
    pub fn memo<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut memos = self.memos.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = memos.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default()) as Arc<dyn Any + Send + Sync>).clone();
        drop(memos);
        entry.downcast::<T>().unwrap_or_else(|_| Arc::new(T::default()))
    }

    pub fn cloudwatch(&self, region: &str) -> cloudwatch::CloudWatchClient {
        cloudwatch::CloudWatchClient::new(sdk_client!(self, aws_sdk_cloudwatch, region))
    }

    pub fn tagging(&self, region: &str) -> tagging::TaggingClient {
        tagging::TaggingClient::new(sdk_client!(self, aws_sdk_resourcegroupstagging, region))
    }

    /// The account the credentials belong to: one sts:GetCallerIdentity
    /// per handle, remembered.
    pub async fn account_id(&self) -> Result<String, AwsError> {
        let region = self.default_region().unwrap_or_else(|| "us-east-1".to_string());
        let account = self
            .account
            .get_or_try_init(|| async {
                let out = sdk_client!(self, aws_sdk_sts, region.as_str())
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("sts", "GetCallerIdentity", &[], e))?;
                Ok::<_, AwsError>(out.account().unwrap_or_default().to_string())
            })
            .await?;
        Ok(account.clone())
    }

    /// One sts:GetCallerIdentity before anything else: the account id, or
    /// one line saying what was tried and what to do.
    pub async fn check_access(&self) -> Result<String, AccessError> {
        let at = match self.base.endpoint_url() {
            Some(url) => url.to_string(),
            None => format!("AWS STS in {}", self.default_region().unwrap_or_else(|| "us-east-1".to_string())),
        };
        match self.account_id().await {
            Ok(account) => Ok(account),
            Err(e) if e.code == "NoCredentials" => Err(AccessError::NoCredentials),
            Err(e) if e.code == "CredentialsUnusable" => Err(AccessError::Unusable(e.message)),
            Err(e) if e.kind == ErrorKind::AccessDenied => Err(AccessError::Refused(e)),
            Err(e) if e.kind == ErrorKind::Transient => Err(AccessError::Unreachable { at, message: e.message }),
            Err(e) => Err(AccessError::Other { at, error: e }),
        }
    }

    /// Cost Explorer is global; its endpoint is in us-east-1.
    pub fn cost_explorer(&self) -> costexplorer::CostExplorerClient {
        costexplorer::CostExplorerClient::new(sdk_client!(self, aws_sdk_costexplorer, "us-east-1"))
    }

    /// Budgets is global; its endpoint is in us-east-1.
    pub fn budgets(&self, account_id: &str) -> budgets::BudgetsClient {
        budgets::BudgetsClient::new(sdk_client!(self, aws_sdk_budgets, "us-east-1"), account_id)
    }

    /// The Price List API lives in us-east-1 whatever region is priced.
    pub fn pricing(&self) -> pricing::PricingClient {
        pricing::PricingClient::new(sdk_client!(self, aws_sdk_pricing, "us-east-1"))
    }

    /// SES in `region`, or the SDK's region.
    pub fn ses(&self, region: Option<&str>) -> ses::SesClient {
        let region = region.map(str::to_string).or_else(|| self.default_region()).unwrap_or_else(|| "us-east-1".to_string());
        ses::SesClient::new(sdk_client!(self, aws_sdk_sesv2, region.as_str()))
    }

    pub fn sqs(&self, region: &str) -> sqs::SqsClient {
        sqs::SqsClient::new(sdk_client!(self, aws_sdk_sqs, region))
    }

    pub fn sns(&self, region: &str) -> sns::SnsClient {
        sns::SnsClient::new(sdk_client!(self, aws_sdk_sns, region))
    }

    pub fn ec2_tags(&self, region: &str) -> tags::Ec2Tags {
        tags::Ec2Tags::new(sdk_client!(self, aws_sdk_ec2, region))
    }

    pub fn studio(&self, region: &str) -> studio::StudioClient {
        studio::StudioClient::new(sdk_client!(self, aws_sdk_sagemaker, region))
    }

    pub fn sagemaker_tags(&self, region: &str) -> tags::SageMakerTags {
        tags::SageMakerTags::new(sdk_client!(self, aws_sdk_sagemaker, region))
    }
}

/// Why the access check before a sweep failed, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "no AWS credentials found (tried the environment, the shared profile, web identity, the ECS task role and instance metadata): \
         set AWS_PROFILE to a profile (run `aws sso login --profile NAME` first if it uses SSO), or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or run where an instance or task role is attached; `--log debug` shows what each provider said"
    )]
    NoCredentials,
    #[error("the AWS credentials could not be loaded: {0}; check AWS_PROFILE, and run `aws sso login` if the profile uses SSO")]
    Unusable(String),
    #[error("AWS refused the credentials: {0}; check that they are valid and not expired (aws sts get-caller-identity)")]
    Refused(AwsError),
    #[error("cannot reach {at}: {message}; check the network, the proxy settings or AWS_ENDPOINT_URL")]
    Unreachable { at: String, message: String },
    #[error("cannot check the AWS credentials at {at}: {error}")]
    Other { at: String, error: AwsError },
}
