//! Chat and webhook channels, the `email.channels` section: recipients
//! besides addresses. A `notify` action's `to:`, `email.to` and owner tags
//! name a channel as `#name`.
//!
//! ```yaml
//! email:
//!   channels:
//!     ml-team:   {type: slack, url-env: SLACK_ML_TEAM_URL}        # incoming webhook
//!     platform:  {type: teams, url-file: /run/secrets/teams-url}  # workflow webhook
//!     finops:    {type: webhook, url-env: FINOPS_HOOK_URL, secret-env: FINOPS_HOOK_SECRET}
//!     alerts:    {type: sns, topic-arn: "arn:aws:sns:us-east-1:123456789012:costguard"}
//! ```
//!
//! Webhook URLs are secrets (whoever holds one can post): they come only
//! from the environment or a file, never from this file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::secret::SecretSource;
use crate::yaml::{DecodeError, Located};

pub use crate::actions::notify::{channel_of, is_channel_name, CHANNEL_PREFIX as PREFIX};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelKind {
    /// A Slack incoming webhook: a Block Kit message.
    Slack,
    /// A Microsoft Teams workflow webhook: an Adaptive Card.
    Teams,
    /// Any HTTPS endpoint: the digest's data as JSON, optionally signed
    /// (HMAC-SHA256 in `X-Costguard-Signature`).
    Webhook,
    /// An Amazon SNS topic: the plain-text digest.
    Sns,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChannelSpec {
    #[serde(rename = "type")]
    pub kind: Located<ChannelKind>,
    #[serde(default)]
    pub url_env: Option<Located<String>>,
    #[serde(default)]
    pub url_file: Option<Located<String>>,
    /// The webhook's HMAC key.
    #[serde(default)]
    pub secret_env: Option<Located<String>>,
    #[serde(default)]
    pub secret_file: Option<Located<String>>,
    #[serde(default)]
    pub topic_arn: Option<Located<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChannelTarget {
    /// Slack, Teams or a generic webhook: POSTed JSON.
    Http {
        url: SecretSource,
        secret: Option<SecretSource>,
    },
    Sns {
        topic_arn: String,
        region: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChannelSettings {
    pub name: String,
    pub kind: ChannelKind,
    pub target: ChannelTarget,
}

pub fn compile(specs: &BTreeMap<String, Located<ChannelSpec>>, base: &Path, errors: &mut Vec<DecodeError>) -> BTreeMap<String, ChannelSettings> {
    let mut out = BTreeMap::new();
    for (name, spec) in specs {
        let path = format!("email.channels.{name}");
        if !is_channel_name(name) {
            errors.push(DecodeError::new(spec.loc, &path, format!("a channel name is letters, digits, `-`, `_` or `.`; found {name:?}")));
            continue;
        }
        if let Some(settings) = spec.value.compile(name, &path, base, errors) {
            out.insert(name.clone(), settings);
        }
    }
    out
}

impl ChannelSpec {
    fn compile(&self, name: &str, path: &str, base: &Path, errors: &mut Vec<DecodeError>) -> Option<ChannelSettings> {
        let kind = self.kind.value;
        let refuse = |field: &Option<Located<String>>, what: &str, errors: &mut Vec<DecodeError>| {
            if let Some(f) = field {
                errors.push(DecodeError::new(f.loc, format!("{path}.{what}"), format!("a {kind:?} channel takes no `{what}`").to_lowercase()));
            }
        };
        let target = match kind {
            ChannelKind::Sns => {
                for (field, what) in
                    [(&self.url_env, "url-env"), (&self.url_file, "url-file"), (&self.secret_env, "secret-env"), (&self.secret_file, "secret-file")]
                {
                    refuse(field, what, errors);
                }
                let Some(arn) = &self.topic_arn else {
                    errors.push(DecodeError::new(self.kind.loc, path, "an sns channel needs `topic-arn`"));
                    return None;
                };
                let parts: Vec<&str> = arn.value.trim().split(':').collect();
                if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3].is_empty() || parts[5].is_empty() {
                    errors.push(DecodeError::new(
                        arn.loc,
                        format!("{path}.topic-arn"),
                        format!("expected arn:aws:sns:REGION:ACCOUNT:TOPIC, found {:?}", arn.value),
                    ));
                    return None;
                }
                ChannelTarget::Sns { topic_arn: arn.value.trim().to_string(), region: parts[3].to_string() }
            }
            ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Webhook => {
                refuse(&self.topic_arn, "topic-arn", errors);
                if kind != ChannelKind::Webhook {
                    refuse(&self.secret_env, "secret-env", errors);
                    refuse(&self.secret_file, "secret-file", errors);
                }
                let rebase = |s: SecretSource| match s {
                    SecretSource::File(f) => SecretSource::File(base.join(f)),
                    env => env,
                };
                let Some(url) = super::secret::secret(&self.url_env, &self.url_file, path, "url", errors) else {
                    if self.url_env.is_none() && self.url_file.is_none() {
                        errors.push(DecodeError::new(
                            self.kind.loc,
                            path,
                            "needs `url-env` or `url-file`: the webhook URL is a secret and stays out of this file",
                        ));
                    }
                    return None;
                };
                let secret = super::secret::secret(&self.secret_env, &self.secret_file, path, "secret", errors).map(rebase);
                ChannelTarget::Http { url: rebase(url), secret }
            }
        };
        Some(ChannelSettings { name: name.to_string(), kind, target })
    }
}

impl ChannelSettings {
    /// Reads the channel's secrets now and checks the URL's form: what
    /// `validate --config` and start-up say about a channel.
    pub fn check(&self) -> Result<(), String> {
        let ChannelTarget::Http { url, secret } = &self.target else { return Ok(()) };
        let url = url.read().map_err(|e| format!("channel #{}: the URL: {e}", self.name))?;
        check_url(&url).map_err(|e| format!("channel #{}: {e}", self.name))?;
        if let Some(secret) = secret {
            secret.read().map_err(|e| format!("channel #{}: the secret: {e}", self.name))?;
        }
        Ok(())
    }
}

/// HTTPS, or plain HTTP to this machine only (a local relay or a test
/// sink): a webhook URL carries the right to post, and plain HTTP would
/// hand it, and the digest, to the network. The error never shows the URL.
pub fn check_url(url: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = url.parse().map_err(|_| "the URL is not a URL".to_string())?;
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(uri),
        Some("http") if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) => Ok(uri),
        Some("http") => Err(format!("the URL is plain http to {host}; only https is allowed beyond this machine")),
        _ => Err("the URL must start with https://".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(yaml: &str) -> (BTreeMap<String, ChannelSettings>, Vec<DecodeError>) {
        let node = crate::yaml::parse(yaml).unwrap();
        let specs: BTreeMap<String, Located<ChannelSpec>> = crate::yaml::decode(&node, "email.channels").unwrap();
        let mut errors = Vec::new();
        (compile(&specs, Path::new("/etc/costguard"), &mut errors), errors)
    }

    #[test]
    fn each_kind_compiles_and_urls_stay_out_of_the_file() {
        let (channels, errors) = compiled(
            "ml: {type: slack, url-env: SLACK_URL}\nops: {type: webhook, url-file: hook.url, secret-env: HOOK_KEY}\nbus: {type: sns, topic-arn: 'arn:aws:sns:eu-west-1:123456789012:cg'}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            channels["ops"].target,
            ChannelTarget::Http { url: SecretSource::File("/etc/costguard/hook.url".into()), secret: Some(SecretSource::Env("HOOK_KEY".into())) }
        );
        assert_eq!(channels["bus"].target, ChannelTarget::Sns { topic_arn: "arn:aws:sns:eu-west-1:123456789012:cg".into(), region: "eu-west-1".into() });

        let (_, errors) = compiled("ml: {type: slack}\nbad: {type: sns, topic-arn: nope}\nx: {type: teams, url-env: 'https://hooks'}\n");
        let text: Vec<String> = errors.iter().map(|e| format!("{e:?}")).collect();
        assert!(text.iter().any(|e| e.contains("email.channels.ml") && e.contains("url-env")), "{text:?}");
        assert!(text.iter().any(|e| e.contains("email.channels.bad.topic-arn")), "{text:?}");
        assert!(text.iter().any(|e| e.contains("email.channels.x.url-env") && e.contains("environment variable")), "{text:?}");
    }

    #[test]
    fn plain_http_is_only_for_this_machine() {
        assert!(check_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://[::1]:8080/hook").is_ok());
        let refused = check_url("http://hooks.example.net/secret-token").unwrap_err();
        assert!(refused.contains("only https") && !refused.contains("secret-token"), "{refused}");
        assert!(check_url("ftp://x").is_err());
    }
}
