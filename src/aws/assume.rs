//! Credentials in a member account: sts:AssumeRole with the hub's
//! credentials, session name `costguard`. They are kept here and asked for
//! again five minutes before they expire, so a sweep that outlasts the
//! session (one hour) goes on with fresh ones. costguard makes a client per
//! call site, each with its own SDK identity cache, so without this cache
//! every client assumed the role again (measured: 1,876 AssumeRole for 100
//! accounts). Every AssumeRole is counted like any other call.

use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;

use super::AwsError;

/// What CloudTrail shows in the member account for costguard's calls.
pub const SESSION_NAME: &str = "costguard";
/// How long one set of credentials lasts (the most a role allows by default).
const SESSION_SECONDS: i32 = 3600;
/// Asked for again this long before they expire.
const REFRESH_BEFORE: std::time::Duration = std::time::Duration::from_secs(300);

/// A role in a member account, assumed on demand.
#[derive(Debug)]
pub struct AssumedRole {
    /// STS with the hub's credentials (counted, with the call limits).
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<String>,
    /// The last credentials and when they were asked for; one AssumeRole
    /// at a time (the lock is held while asking, so concurrent callers wait
    /// for one answer).
    pub(crate) cached: tokio::sync::Mutex<Option<(Credentials, std::time::Instant)>>,
}

impl AssumedRole {
    async fn cached_or_assume(&self) -> provider::Result {
        let mut cached = self.cached.lock().await;
        // Timed on the monotonic clock from when they were asked for: the
        // session lasts at most what was asked, whatever the wall clock does.
        let lifetime = std::time::Duration::from_secs(SESSION_SECONDS.unsigned_abs().into()).saturating_sub(REFRESH_BEFORE);
        if let Some((c, _)) = cached.as_ref().filter(|(_, at)| at.elapsed() < lifetime) {
            return Ok(c.clone());
        }
        let asked = std::time::Instant::now();
        let credentials = self.assume().await?;
        *cached = Some((credentials.clone(), asked));
        Ok(credentials)
    }

    async fn assume(&self) -> provider::Result {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| CredentialsError::provider_error(AwsError::from_sdk("sts", "AssumeRole", &[], e)))?;
        let c = out.credentials().ok_or_else(|| CredentialsError::provider_error(format!("AssumeRole {} answered without credentials", self.role_arn)))?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        tracing::debug!(role = %self.role_arn, session = SESSION_NAME, "assumed the member role");
        Ok(Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), expiry, "costguard-assume-role"))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.cached_or_assume())
    }
}
