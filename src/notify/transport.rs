//! How messages leave: SMTP (lettre; STARTTLS, implicit TLS, or plain for a
//! local relay) or Amazon SES v2 (the same raw MIME message; credentials
//! from the SDK chain, as an ECS task role gives them). Retries with a
//! doubling pause; each failure is either worth another try later
//! (connection, timeout, 4xx, throttling) or final (5xx, rejected).
//!
//! Every attempt has a time limit for the whole message (SMTP: connect,
//! greeting, each command, the data; SES: the SDK's call limits), so a relay
//! that accepts and never greets costs one limit per attempt. Connections
//! are not pooled: an attempt cut off mid-transaction is dropped with its
//! connection and can never hand a half-sent message to the next one.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio_util::sync::CancellationToken;

use super::message::OutgoingMessage;
use crate::aws::ses::SesClient;
use crate::aws::Aws;
use crate::config::daemon::{SecretSource, SmtpSecurity, SmtpSettings, TransportSettings};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("email: the SMTP {0}: {1}")]
    Secret(&'static str, crate::config::secret::SecretError),
    #[error("email: cannot set up SMTP to {host}: {message}")]
    Smtp { host: String, message: String },
}

/// Why a message did not go.
#[derive(Clone, Debug, PartialEq)]
pub struct SendFailure {
    /// Trying again cannot help (the server or SES refused this message).
    pub permanent: bool,
    pub message: String,
}

pub enum Transport {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, host: String, message_limit: Duration },
    Ses { client: SesClient, configuration_set: Option<String> },
}

impl std::fmt::Debug for Transport {
    // Never prints credentials: only which transport and where.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Smtp { host, .. } => write!(f, "Transport::Smtp({host})"),
            Transport::Ses { .. } => f.write_str("Transport::Ses"),
        }
    }
}

fn read_secret(source: &SecretSource, what: &'static str) -> Result<String, TransportError> {
    source.read().map_err(|e| TransportError::Secret(what, e))
}

fn smtp(settings: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
    let err = |e: lettre::transport::smtp::Error| TransportError::Smtp { host: settings.host.clone(), message: e.to_string() };
    let builder = match settings.security {
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host).map_err(err)?,
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host).map_err(err)?,
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
    };
    let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(read_secret(user, "username")?, read_secret(password, "password")?));
    }
    Ok(builder.build())
}

impl Transport {
    pub fn build(settings: &TransportSettings, aws: &Aws) -> Result<Self, TransportError> {
        Ok(match settings {
            TransportSettings::Smtp(s) => Transport::Smtp { transport: smtp(s)?, host: format!("{}:{}", s.host, s.port), message_limit: s.message_timeout },
            TransportSettings::Ses(s) => Transport::Ses { client: aws.ses(s.region.as_deref()), configuration_set: s.configuration_set.clone() },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transport::Smtp { .. } => "smtp",
            Transport::Ses { .. } => "ses",
        }
    }

    /// One attempt, within the message limit.
    async fn send_once(&self, message: &OutgoingMessage) -> Result<(), SendFailure> {
        let Transport::Smtp { message_limit, host, .. } = self else { return self.send_unbounded(message).await };
        match tokio::time::timeout(*message_limit, self.send_unbounded(message)).await {
            Ok(result) => result,
            Err(_) => Err(SendFailure {
                permanent: false,
                message: format!("SMTP: {host} did not finish the message within {} s (greeting, commands and data)", message_limit.as_secs_f64()),
            }),
        }
    }

    async fn send_unbounded(&self, message: &OutgoingMessage) -> Result<(), SendFailure> {
        match self {
            Transport::Smtp { transport, .. } => {
                let address = |a: &str| a.parse::<Address>().map_err(|_| SendFailure { permanent: true, message: format!("not an email address: {a:?}") });
                let to = message.recipients.iter().map(|r| address(r)).collect::<Result<Vec<_>, _>>()?;
                let envelope = Envelope::new(Some(address(&message.sender)?), to).map_err(|e| SendFailure { permanent: true, message: e.to_string() })?;
                transport.send_raw(&envelope, &message.raw).await.map(drop).map_err(|e| SendFailure {
                    // 5xx: the server refused this message for good. Anything
                    // else (4xx, connection, timeout, TLS) may pass later.
                    permanent: e.is_permanent(),
                    message: format!("SMTP: {e}"),
                })
            }
            Transport::Ses { client, configuration_set } => {
                client.send_raw(&message.sender, &message.recipients, &message.raw, configuration_set.as_deref()).await.map(drop).map_err(|e| SendFailure {
                    permanent: matches!(e.code.as_str(), "MessageRejected" | "MailFromDomainNotVerifiedException" | "BadRequestException"),
                    message: e.to_string(),
                })
            }
        }
    }

    /// Up to `attempts` tries; see [`with_retries`].
    pub async fn send(&self, message: &OutgoingMessage, attempts: u32, pause: Duration, cancel: &CancellationToken) -> (Result<(), SendFailure>, u32) {
        with_retries(attempts, pause, cancel, &message.recipients, || self.send_once(message)).await
    }
}

/// Up to `attempts` tries, the pause doubling after each; stops early on a
/// final failure or when `cancel` fires. Returns the tries made.
pub async fn with_retries<F, Fut>(attempts: u32, pause: Duration, cancel: &CancellationToken, to: &[String], mut once: F) -> (Result<(), SendFailure>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), SendFailure>>,
{
    let mut pause = pause;
    let mut tried = 0;
    loop {
        tried += 1;
        match once().await {
            Ok(()) => return (Ok(()), tried),
            Err(f) if f.permanent || tried >= attempts => return (Err(f), tried),
            Err(f) => {
                tracing::warn!(to = ?to, attempt = tried, error = %f.message, "message not sent; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = cancel.cancelled() => return (Err(f), tried),
                }
                pause = pause.saturating_mul(2);
            }
        }
    }
}
