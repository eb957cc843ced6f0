//! Narrow seams over the AWS SDK, shaped like the domain.
//!
//! Each wrapper paginates inside and returns plain structs; the rest of the
//! code never sees an SDK builder. Every client carries the sweep's
//! [`ApiCallCounter`], so every request is counted.

pub mod budgets;
pub mod cloudwatch;
pub mod costexplorer;
pub mod counter;
pub mod ec2;
pub mod error;
pub mod logs;
pub mod pricing;
pub mod sagemaker;
pub mod ses;
pub mod tagging;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use counter::ApiCallCounter;
pub use error::{AwsError, ErrorKind};

/// The SDK's standard configuration chain with costguard's retry policy:
/// standard mode retries throttling and 5xx with jittered backoff.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard().with_max_attempts(5))
}

/// The SDK configuration from the standard chain (env, profile, IMDS, ECS
/// task role) plus the sweep's counter. `AWS_ENDPOINT_URL` points it at an
/// emulator.
#[derive(Clone, Debug)]
pub struct Aws {
    base: SdkConfig,
    counter: ApiCallCounter,
    endpoint_configs: sagemaker::ConfigCache,
    /// Asked once per handle (the access check, then the budgets).
    account: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl Aws {
    pub async fn from_env(counter: ApiCallCounter) -> Self {
        Self::from_config(sdk_loader().load().await, counter)
    }

    /// For tests and embedding: an explicit configuration.
    pub fn from_config(base: SdkConfig, counter: ApiCallCounter) -> Self {
        Self { base, counter, endpoint_configs: Default::default(), account: Default::default() }
    }

    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    pub fn counter(&self) -> &ApiCallCounter {
        &self.counter
    }

    pub fn logs(&self, region: &str) -> logs::LogsClient {
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        logs::LogsClient::new(aws_sdk_cloudwatchlogs::Client::from_conf(config))
    }

    pub fn sagemaker(&self, region: &str) -> sagemaker::SageMakerClient {
        let config = aws_sdk_sagemaker::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        sagemaker::SageMakerClient::new(aws_sdk_sagemaker::Client::from_conf(config), region, self.endpoint_configs.clone())
    }

    pub fn ec2(&self, region: &str) -> ec2::Ec2Client {
        let config = aws_sdk_ec2::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        ec2::Ec2Client::new(aws_sdk_ec2::Client::from_conf(config))
    }

    pub fn cloudwatch(&self, region: &str) -> cloudwatch::CloudWatchClient {
        let config = aws_sdk_cloudwatch::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        cloudwatch::CloudWatchClient::new(aws_sdk_cloudwatch::Client::from_conf(config))
    }

    /// The account the credentials belong to: one sts:GetCallerIdentity
    /// per handle, remembered.
    pub async fn account_id(&self) -> Result<String, AwsError> {
        let account = self
            .account
            .get_or_try_init(|| async {
                let config = aws_sdk_sts::config::Builder::from(&self.base)
                    .interceptor(self.counter.clone())
                    .retry_classifier(error::NotAnAwsAnswer)
                    .build();
                let out = aws_sdk_sts::Client::from_conf(config)
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
    pub async fn check_access(&self) -> Result<String, String> {
        let where_ = match self.base.endpoint_url() {
            Some(url) => url.to_string(),
            None => format!("AWS STS in {}", self.default_region().unwrap_or_else(|| "us-east-1".to_string())),
        };
        match self.account_id().await {
            Ok(account) => Ok(account),
            Err(e) if e.code == "NoCredentials" => Err("no AWS credentials found (tried the environment, the shared profile, web identity, the ECS task role and \
                 instance metadata); set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is attached"
                .to_string()),
            Err(e) if e.kind == ErrorKind::AccessDenied => {
                Err(format!("AWS refused the credentials: {e}; check that they are valid and not expired (aws sts get-caller-identity)"))
            }
            Err(e) if e.kind == ErrorKind::Transient => {
                Err(format!("cannot reach {where_}: {}; check the network, the proxy settings or AWS_ENDPOINT_URL", e.message))
            }
            Err(e) => Err(format!("cannot check the AWS credentials at {where_}: {e}")),
        }
    }

    /// Cost Explorer is global; its endpoint is in us-east-1.
    pub fn cost_explorer(&self) -> costexplorer::CostExplorerClient {
        let config = aws_sdk_costexplorer::config::Builder::from(&self.base)
            .region(Region::new("us-east-1"))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        costexplorer::CostExplorerClient::new(aws_sdk_costexplorer::Client::from_conf(config))
    }

    /// Budgets is global; its endpoint is in us-east-1.
    pub fn budgets(&self, account_id: &str) -> budgets::BudgetsClient {
        let config = aws_sdk_budgets::config::Builder::from(&self.base)
            .region(Region::new("us-east-1"))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        budgets::BudgetsClient::new(aws_sdk_budgets::Client::from_conf(config), account_id)
    }

    /// The Price List API lives in us-east-1 whatever region is priced.
    pub fn pricing(&self) -> pricing::PricingClient {
        let config = aws_sdk_pricing::config::Builder::from(&self.base)
            .region(Region::new("us-east-1"))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        pricing::PricingClient::new(aws_sdk_pricing::Client::from_conf(config))
    }

    /// SES in `region`, or the SDK's region.
    pub fn ses(&self, region: Option<&str>) -> ses::SesClient {
        let mut config = aws_sdk_sesv2::config::Builder::from(&self.base).interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer);
        if let Some(region) = region {
            config = config.region(Region::new(region.to_string()));
        }
        ses::SesClient::new(aws_sdk_sesv2::Client::from_conf(config.build()))
    }

    pub fn tagging(&self, region: &str) -> tagging::TaggingClient {
        let config = aws_sdk_resourcegroupstagging::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .interceptor(self.counter.clone())
            .retry_classifier(error::NotAnAwsAnswer)
            .build();
        tagging::TaggingClient::new(aws_sdk_resourcegroupstagging::Client::from_conf(config))
    }
}
