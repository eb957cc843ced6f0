//! `events:`: where CloudTrail events of creations reach costguard (an SQS
//! queue an EventBridge rule feeds), and how they are handled.
//!
//! ```yaml
//! events:
//!   queue: https://sqs.us-east-1.amazonaws.com/123456789012/costguard-events
//!   notify: [finops@example.com, "#ml-team"]  # told when no owner or creator can be; `#name`: an email.channels channel
//!   require-tags: [owner, costguard:expires]
//!   visibility-seconds: 60           # a message hidden while it is handled (extended as needed)
//!   retry-seconds: 30                # first retry after a failure; doubles each time
//!   max-in-flight: 10                # messages handled at once
//! ```

use serde::Deserialize;

use super::numbers::count;
use crate::actions::notify::{channel_of, is_email_address};
use crate::yaml::{DecodeError, Located};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventsSpec {
    pub queue: Option<Located<String>>,
    #[serde(default)]
    pub notify: Vec<Located<String>>,
    #[serde(default)]
    pub require_tags: Vec<Located<String>>,
    #[serde(default)]
    pub visibility_seconds: Option<Located<i64>>,
    #[serde(default)]
    pub retry_seconds: Option<Located<i64>>,
    #[serde(default)]
    pub max_in_flight: Option<Located<i64>>,
}

/// The compiled `events:` section.
#[derive(Clone, Debug, PartialEq)]
pub struct EventsSettings {
    /// The queue's URL.
    pub queue: String,
    /// Told of a creation whose owner tag and creator name nobody to
    /// tell: addresses, and `#name` channels of `email.channels`.
    pub notify: Vec<String>,
    /// Tags every created resource should carry: the missing ones are
    /// named in the notice.
    pub require_tags: Vec<String>,
    pub visibility_secs: i32,
    pub retry_secs: i32,
    pub max_in_flight: usize,
}

impl EventsSettings {
    /// Settings for `queue` with every default (`costguard events drain
    /// --queue URL` without a config).
    pub fn for_queue(queue: &str) -> Self {
        EventsSettings { queue: queue.to_string(), notify: Vec::new(), require_tags: Vec::new(), visibility_secs: 60, retry_secs: 30, max_in_flight: 10 }
    }

    /// The queue's region, from its URL (`https://sqs.REGION.amazonaws.com/...`);
    /// `None` for an endpoint that does not say (an emulator).
    pub fn queue_region(&self) -> Option<&str> {
        let host = self.queue.split("://").nth(1)?.split('/').next()?;
        let mut parts = host.split('.');
        match (parts.next(), parts.next()) {
            (Some("sqs"), Some(region)) if region.contains('-') => Some(region),
            _ => None,
        }
    }
}

impl EventsSpec {
    /// `channels`: the names `email.channels` sets up, which `notify`'s
    /// `#name` entries must be among.
    pub fn compile(&self, at: crate::yaml::Loc, channels: &[&str], errors: &mut Vec<DecodeError>) -> Option<EventsSettings> {
        let before = errors.len();
        let queue = match &self.queue {
            Some(q) if q.value.trim().split_once("://").is_some_and(|(scheme, _)| matches!(scheme, "https" | "http")) => q.value.trim().to_string(),
            Some(q) => {
                errors.push(DecodeError::new(
                    q.loc,
                    "events.queue",
                    format!("expected the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), found {:?}", q.value),
                ));
                String::new()
            }
            None => {
                errors.push(DecodeError::new(at, "events.queue", "events: needs the queue's URL (queue: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"));
                String::new()
            }
        };
        for (i, to) in self.notify.iter().enumerate() {
            let v = to.value.trim();
            let problem = match channel_of(v) {
                Some(name) if !channels.contains(&name) => Some(format!("{v} is not a channel of the config's email.channels")),
                Some(_) => None,
                None if is_email_address(v) => None,
                None => Some(format!("expected an email address or a #channel of email.channels, found {:?}", to.value)),
            };
            if let Some(why) = problem {
                errors.push(DecodeError::new(to.loc, format!("events.notify[{i}]"), why));
            }
        }
        for (i, tag) in self.require_tags.iter().enumerate() {
            if tag.value.trim().is_empty() || tag.value.len() > 128 {
                errors.push(DecodeError::new(tag.loc, format!("events.require-tags[{i}]"), "a tag key is 1 to 128 characters"));
            }
        }
        let visibility = count(&self.visibility_seconds, "events.visibility-seconds", 60, 10..=43_200, errors);
        let retry = count(&self.retry_seconds, "events.retry-seconds", 30, 0..=43_200, errors);
        let in_flight = count(&self.max_in_flight, "events.max-in-flight", 10, 1..=100, errors);
        (errors.len() == before).then(|| EventsSettings {
            queue,
            notify: self.notify.iter().map(|t| t.value.trim().to_string()).collect(),
            require_tags: self.require_tags.iter().map(|t| t.value.trim().to_string()).collect(),
            visibility_secs: visibility as i32,
            retry_secs: retry as i32,
            max_in_flight: in_flight as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queues_region_comes_from_its_url() {
        assert_eq!(EventsSettings::for_queue("https://sqs.eu-west-1.amazonaws.com/123456789012/q").queue_region(), Some("eu-west-1"));
        assert_eq!(EventsSettings::for_queue("http://127.0.0.1:5000/123456789012/q").queue_region(), None);
    }
}
