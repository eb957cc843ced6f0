//! Credentials in a member account: sts:AssumeRole with the hub's
//! credentials, session name `costguard`. They are kept here and asked for
//! again five minutes before they expire, so a sweep that outlasts the
//! session (one hour) goes on with fresh ones. costguard makes a client per
//! call site, each with its own SDK identity cache, so without this cache
//! every client assumed the role again (measured: 1,876 AssumeRole for 100
//! accounts). The SDK's identity cache is told the credentials expire five
//! minutes early, so it asks here in time. Every AssumeRole is counted like
//! any other call.

use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;

use super::AwsError;

/// What CloudTrail shows in the member account for costguard's calls.
pub const SESSION_NAME: &str = "costguard";
/// How long a member role's credentials last, and how long before that
/// they are asked for again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Session {
    /// Asked of AssumeRole (AWS: 900 to the role's maximum, 3,600 by default).
    pub seconds: i32,
    pub refresh_before: std::time::Duration,
}

impl Default for Session {
    /// An hour (the most a role allows by default), asked again 5 minutes before.
    fn default() -> Self {
        Session { seconds: 3600, refresh_before: std::time::Duration::from_secs(300) }
    }
}

impl Session {
    /// How long credentials are used from when they were asked for.
    fn lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds.unsigned_abs().into()).saturating_sub(self.refresh_before)
    }
}

/// A role in a member account, assumed on demand.
#[derive(Debug)]
pub struct AssumedRole {
    /// STS with the hub's credentials (counted, with the call limits).
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<String>,
    pub(crate) session: Session,
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
        let lifetime = self.session.lifetime();
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
            .duration_seconds(self.session.seconds)
            .send()
            .await
            .map_err(|e| CredentialsError::provider_error(AwsError::from_sdk("sts", "AssumeRole", &[], e)))?;
        let c = out.credentials().ok_or_else(|| CredentialsError::provider_error(format!("AssumeRole {} answered without credentials", self.role_arn)))?;
        // The SDK's identity cache (shared by every client of the account)
        // asks again only near the expiry it is given: give it ours.
        let expiry = SystemTime::try_from(*c.expiration()).ok().map(|e| e.checked_sub(self.session.refresh_before).unwrap_or(e));
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
