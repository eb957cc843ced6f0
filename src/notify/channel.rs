//! Chat and webhook channels: the same digest as the email, rendered by
//! the same templates, posted where the team talks.
//!
//! - Slack incoming webhook: a Block Kit message (header, the digest's
//!   text, a link to the report).
//! - Microsoft Teams workflow webhook: an Adaptive Card in a message.
//! - Generic webhook: JSON with the message's data (a digest's is what
//!   templates see, under `digest`; a creation notice's under `created`;
//!   an AI spend alert's under `ai_spend`), signed with HMAC-SHA256 when a
//!   secret is set: `X-Costguard-Signature: t=UNIX,v1=HEX` over
//!   `UNIX.BODY`.
//! - SNS topic: the plain text.
//!
//! Digests, creation notices and AI spend alerts all go this way. A
//! message is built once, kept as bytes like an email (the outbox keeps
//! both alike), and sent with the email's retries and time limit. Text
//! from AWS is escaped for each target's markup: Slack's `&<>`, and link
//! brackets for Teams' Markdown.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde_json::json;
use sha2::Sha256;

use super::message::OutgoingMessage;
use super::template::{Context, Rendered};
use super::transport::SendFailure;
use crate::aws::Aws;
use crate::config::channels::{check_url, ChannelKind, ChannelSettings, ChannelTarget};

/// Slack's section text limit is 3,000 characters; Teams' card limit is
/// about 28 KB; SNS takes 256 KB. Digests are cut well below each.
const SLACK_TEXT_CHARS: usize = 2_900;
const TEAMS_TEXT_CHARS: usize = 20_000;
const SNS_TEXT_CHARS: usize = 200_000;

/// What a channel message carries besides its rendered text.
pub struct Payload<'a> {
    /// The report's address, linked from Slack and Teams.
    pub report_url: Option<&'a str>,
    pub kind: PayloadKind,
    /// What the templates saw, for a webhook's receiver to read.
    pub data: serde_json::Value,
}

/// Which message a channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    Digest,
    /// A creation notice (`costguard events`).
    Created,
    AiSpend,
}

impl PayloadKind {
    /// The key its data has in a webhook's JSON.
    pub fn key(self) -> &'static str {
        match self {
            PayloadKind::Digest => "digest",
            PayloadKind::Created => "created",
            PayloadKind::AiSpend => "ai_spend",
        }
    }

    /// What people call it, in an error.
    pub fn noun(self) -> &'static str {
        match self {
            PayloadKind::Digest => "digest",
            PayloadKind::Created => "creation notice",
            PayloadKind::AiSpend => "AI spend alert",
        }
    }
}

impl<'a> Payload<'a> {
    /// A digest's: what its templates saw.
    pub fn digest(context: &'a Context) -> Self {
        // A Context is plain data: serializing it cannot fail.
        Payload { report_url: context.report_url.as_deref(), kind: PayloadKind::Digest, data: serde_json::to_value(context).unwrap_or_default() }
    }
}

/// The message for `channel`: its payload as the bytes to send.
pub fn build(channel: &ChannelSettings, recipient: &str, rendered: &Rendered, payload: &Payload<'_>) -> OutgoingMessage {
    let subject = crate::text::clean(&rendered.subject, super::template::MAX_SUBJECT_CHARS);
    let report_link = payload.report_url.filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    let raw = match channel.kind {
        ChannelKind::Slack => {
            let mut blocks = vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": cut(&subject, 150)}}),
                json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&cut(&rendered.text, SLACK_TEXT_CHARS))}}),
            ];
            if let Some(url) = report_link {
                blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{}|The full report>", slack_escape(url))}]}));
            }
            json!({"text": subject, "blocks": blocks}).to_string()
        }
        ChannelKind::Teams => {
            let mut body = vec![
                json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": teams_escape(&subject)}),
                json!({"type": "TextBlock", "wrap": true, "text": teams_escape(&cut(&rendered.text, TEAMS_TEXT_CHARS))}),
            ];
            let actions: Vec<serde_json::Value> =
                report_link.map(|url| json!({"type": "Action.OpenUrl", "title": "The full report", "url": url})).into_iter().collect();
            if actions.is_empty() {
                body.push(json!({"type": "TextBlock", "isSubtle": true, "text": "costguard"}));
            }
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body, "actions": actions}
                }]
            })
            .to_string()
        }
        ChannelKind::Webhook => {
            let mut body = json!({"source": "costguard", "version": 1, "channel": channel.name, "subject": subject, "text": rendered.text});
            body[payload.kind.key()] = payload.data.clone();
            body.to_string()
        }
        ChannelKind::Sns => cut(&rendered.text, SNS_TEXT_CHARS),
    };
    OutgoingMessage { sender: String::new(), recipients: vec![recipient.to_string()], subject, raw: raw.into_bytes() }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Slack's control characters: `<` starts a link or a mention.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Teams' Markdown makes `[text](url)` a link: brackets from AWS become
/// look-alikes, so no name or tag can carry a link.
fn teams_escape(text: &str) -> String {
    text.replace('[', "［").replace(']', "］")
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One client for every webhook: HTTPS with the system's roots (plain
/// HTTP only reaches it for loopback URLs, see `check_url`).
fn https_client() -> Result<HttpsClient, String> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map(|b| b.https_or_http().enable_http1().build())
        .map(|connector| Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
        .map_err(|e| format!("cannot load the system's root certificates for HTTPS: {e}"))
}

/// Sends channel messages: one HTTPS client for every webhook, SNS
/// through the SDK.
pub struct Channels<'a> {
    settings: &'a std::collections::BTreeMap<String, ChannelSettings>,
    aws: &'a Aws,
    /// `Err` when the system's root certificates cannot be loaded.
    http: Result<HttpsClient, String>,
    /// One attempt at one message.
    limit: Duration,
    /// The time a webhook signature carries.
    clock: &'a crate::clock::Clock,
}

impl<'a> Channels<'a> {
    pub fn new(settings: &'a std::collections::BTreeMap<String, ChannelSettings>, aws: &'a Aws, limit: Duration, clock: &'a crate::clock::Clock) -> Self {
        // The system's roots are read from disk: only when a webhook may be posted to.
        let webhooks = settings.values().any(|c| matches!(c.target, ChannelTarget::Http { .. }));
        let http = if webhooks { https_client() } else { Err("no webhook channel is set up".to_string()) };
        Channels { settings, aws, http, limit, clock }
    }

    pub fn is_channel(recipient: &str) -> bool {
        recipient.starts_with(crate::config::channels::PREFIX)
    }

    pub fn get(&self, recipient: &str) -> Option<&ChannelSettings> {
        crate::config::channels::channel_of(recipient).and_then(|name| self.settings.get(name))
    }

    /// One attempt, within the time limit.
    pub async fn send_once(&self, message: &OutgoingMessage) -> Result<(), SendFailure> {
        let recipient = message.recipients.first().map(String::as_str).unwrap_or_default();
        let Some(channel) = self.get(recipient) else {
            return Err(SendFailure { permanent: true, message: format!("{recipient}: no such channel in email.channels") });
        };
        match tokio::time::timeout(self.limit, self.send_unbounded(channel, message)).await {
            Ok(result) => result,
            Err(_) => Err(SendFailure { permanent: false, message: format!("{recipient}: no answer within {} s", self.limit.as_secs_f64()) }),
        }
    }

    async fn send_unbounded(&self, channel: &ChannelSettings, message: &OutgoingMessage) -> Result<(), SendFailure> {
        let name = &channel.name;
        let failed = |permanent: bool, why: String| SendFailure { permanent, message: format!("#{name}: {why}") };
        match &channel.target {
            ChannelTarget::Sns { topic_arn, region } => {
                let text = String::from_utf8_lossy(&message.raw);
                self.aws.sns(region).publish(topic_arn, &message.subject, &text).await.map(drop).map_err(|e| {
                    use crate::aws::error::ErrorKind;
                    failed(matches!(e.kind, ErrorKind::NotFound | ErrorKind::AccessDenied | ErrorKind::Final), e.to_string())
                })
            }
            ChannelTarget::Http { url, secret } => {
                let http = self.http.as_ref().map_err(|e| failed(false, e.clone()))?;
                let url = url.read().map_err(|e| failed(false, format!("the URL: {e}")))?;
                let uri = check_url(&url).map_err(|e| failed(true, e))?;
                let mut request =
                    hyper::Request::post(uri).header("content-type", "application/json").header("user-agent", concat!("costguard/", env!("CARGO_PKG_VERSION")));
                if let Some(secret) = secret {
                    let key = secret.read().map_err(|e| failed(false, format!("the secret: {e}")))?;
                    let timestamp = self.clock.now().timestamp();
                    request = request.header("x-costguard-signature", signature(key.as_bytes(), timestamp, &message.raw));
                }
                let request = request.body(Full::new(Bytes::from(message.raw.clone()))).map_err(|e| failed(true, e.to_string()))?;
                // The error never shows the URL: it is the secret.
                let response = http.request(request).await.map_err(|e| failed(false, format!("cannot reach the webhook ({})", error_chain(&e))))?;
                let status = response.status();
                if status.is_success() {
                    return Ok(());
                }
                let body = Limited::new(response.into_body(), 512).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let said = crate::text::clean(&String::from_utf8_lossy(&body), 200);
                // 429 and 5xx pass; another 4xx is this message or a revoked hook.
                let permanent = status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 408;
                Err(failed(permanent, format!("the webhook answered HTTP {} {said}", status.as_u16())))
            }
        }
    }
}

/// `t=UNIX,v1=HEX(HMAC-SHA256(key, "UNIX.BODY"))`: the receiver checks the
/// time too, so a captured request cannot be replayed later.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::daemon::SecretSource;

    fn rendered() -> Rendered {
        Rendered { subject: "costguard: 1 finding".into(), text: "idle <@channel> [click](https://evil.example) & more".into(), html: String::new() }
    }

    fn channel(kind: ChannelKind) -> ChannelSettings {
        ChannelSettings { name: "ml".into(), kind, target: ChannelTarget::Http { url: SecretSource::Env("X".into()), secret: None } }
    }

    fn context() -> Context {
        Context::sample()
    }

    fn digest() -> Payload<'static> {
        Payload { report_url: Some("https://costguard.example.com/report"), kind: PayloadKind::Digest, data: serde_json::to_value(context()).unwrap() }
    }

    #[test]
    fn slack_gets_block_kit_with_mentions_and_links_escaped() {
        let m = build(&channel(ChannelKind::Slack), "#ml", &rendered(), &digest());
        let v: serde_json::Value = serde_json::from_slice(&m.raw).unwrap();
        assert_eq!(v["blocks"][0]["type"], "header");
        let text = v["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(text.contains("&lt;@channel&gt;") && text.contains("&amp;") && !text.contains('<'), "{text}");
        assert_eq!(m.recipients, ["#ml"]);
    }

    #[test]
    fn teams_gets_an_adaptive_card_that_carries_no_links_from_aws() {
        let m = build(&channel(ChannelKind::Teams), "#ml", &rendered(), &digest());
        let v: serde_json::Value = serde_json::from_slice(&m.raw).unwrap();
        assert_eq!(v["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
        let text = v["attachments"][0]["content"]["body"][1]["text"].as_str().unwrap();
        assert!(!text.contains("[click]"), "{text}");
    }

    #[test]
    fn a_webhook_gets_the_digest_data_and_a_signature_that_checks() {
        let m = build(&channel(ChannelKind::Webhook), "#ml", &rendered(), &digest());
        let v: serde_json::Value = serde_json::from_slice(&m.raw).unwrap();
        assert_eq!(v["source"], "costguard");
        assert!(v["digest"]["policies"].is_array());
        let created = Payload { report_url: None, kind: PayloadKind::Created, data: json!({"resource_id": "i-1"}) };
        let m = build(&channel(ChannelKind::Webhook), "#ml", &rendered(), &created);
        let v: serde_json::Value = serde_json::from_slice(&m.raw).unwrap();
        assert_eq!((v["created"]["resource_id"].as_str(), v.get("digest")), (Some("i-1"), None), "another message's data under its own key");
        // RFC 4231 test case 2 shape: a known key and message give a known MAC.
        let sig = signature(b"Jefe", 0, b"what do ya want for nothing?");
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        assert_eq!(sig, format!("t=0,v1={}", hex::encode(mac.finalize().into_bytes())));
        assert_ne!(signature(b"Jefe", 1, b"x"), signature(b"Jefe", 2, b"x"), "the time is signed");
    }
}
