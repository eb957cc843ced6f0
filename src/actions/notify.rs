//! `notify`: tell people about a finding. Changes nothing in AWS.
//!
//! ```yaml
//! actions:
//!   - type: notify
//!     to: [platform-team@example.com, resource-owner]
//! ```
//!
//! `resource-owner` stands for the address (or `#channel`) in the
//! resource's owner tag; `#name` is a chat or webhook channel of the
//! daemon config's `email.channels`.
//! The finding and its planned notification appear in every report; email
//! delivery is configured in the daemon's settings.

use serde::Deserialize;

use crate::yaml::{DecodeError, Located};

pub const NAME: &str = "notify";
/// The recipient that means "whoever the resource's owner tag names".
pub const RESOURCE_OWNER: &str = "resource-owner";

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    #[serde(default)]
    pub to: Vec<Located<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Notify {
    pub to: Vec<String>,
}

/// How a recipient names a channel of the daemon config: `#ml-team`.
pub const CHANNEL_PREFIX: char = '#';

/// A channel name: what can follow `#` (letters, digits, `-`, `_`, `.`).
pub fn is_channel_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 80 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `#name` as a recipient: the name, if well formed.
pub fn channel_of(recipient: &str) -> Option<&str> {
    recipient.strip_prefix(CHANNEL_PREFIX).filter(|name| is_channel_name(name))
}

/// One plain address: user@host.tld, nothing that could add a second
/// recipient or a header.
pub fn is_email_address(v: &str) -> bool {
    v.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
        && !v.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>')
}

impl NotifySpec {
    pub fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<Notify> {
        let before = errors.len();
        for (i, to) in self.to.iter().enumerate() {
            let v = to.value.trim();
            let channel = channel_of(v).is_some();
            if v != RESOURCE_OWNER && !is_email_address(v) && !channel {
                errors.push(DecodeError::new(
                    to.loc,
                    format!("{path}.to[{i}]"),
                    format!("expected an email address, a channel (`#name`, set up in email.channels) or `{RESOURCE_OWNER}`, found {:?}", to.value),
                ));
            }
        }
        (errors.len() == before).then(|| Notify { to: self.to.iter().map(|t| t.value.trim().to_string()).collect() })
    }
}

impl Notify {
    pub fn describe(&self) -> String {
        if self.to.is_empty() {
            "notify (default recipients)".to_string()
        } else {
            format!("notify {}", self.to.join(", "))
        }
    }
}
