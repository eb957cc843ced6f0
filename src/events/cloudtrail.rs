//! An SQS message as EventBridge delivers a CloudTrail record ("AWS API
//! Call via CloudTrail"): parsed into what was called, by whom, and which
//! resources of which types it created or started. Pure: no I/O.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::resources::ResourceType;

/// The longest message body read (SQS's own limit is 256 KiB).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// One CloudTrail call, as costguard reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// CloudTrail's `eventID`: unique per call, what deduplicates.
    pub id: String,
    /// `CreateEndpoint`.
    pub name: String,
    /// `sagemaker.amazonaws.com`.
    pub source: String,
    pub region: String,
    pub account: String,
    pub time: Option<DateTime<Utc>>,
    pub creator: Creator,
    /// What it created or started.
    pub targets: Vec<Target>,
    /// The call failed (`errorCode`): it created nothing.
    pub failed: Option<String>,
}

/// Who made the call, from its `userIdentity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Creator {
    /// An assumed role's session (an SSO user's session is often their
    /// address): the role and the session name.
    Session {
        role: String,
        session: String,
    },
    User(String),
    Root,
    /// An AWS service on the account's behalf (`invokedBy`).
    Service(String),
    Unknown,
}

impl Creator {
    /// The name a person recognizes: the session name, the user name.
    pub fn name(&self) -> Option<&str> {
        match self {
            Creator::Session { session, .. } => Some(session),
            Creator::User(user) => Some(user),
            Creator::Root => Some("root"),
            Creator::Service(service) => Some(service),
            Creator::Unknown => None,
        }
    }
}

/// One resource the call created or started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub resource_type: ResourceType,
    pub id: String,
    /// The call starts what exists (`StartInstances`) rather than creating it.
    pub started: bool,
}

/// A message costguard cannot read as a CloudTrail event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// Its `eventID` (or EventBridge `id`), where there is one.
    pub event_id: Option<String>,
    pub why: String,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Reads a message body: an EventBridge event whose `detail` is a
/// CloudTrail record.
pub fn parse(body: &str) -> Result<Event, Unreadable> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Unreadable { event_id: None, why: format!("{} bytes, over the {MAX_BODY_BYTES} a message may hold", body.len()) });
    }
    let envelope: Value = serde_json::from_str(body).map_err(|e| Unreadable { event_id: None, why: format!("not JSON: {e}") })?;
    let fail =
        |why: &str| Unreadable { event_id: envelope.get("detail").and_then(|d| text(d, "eventID")).or_else(|| text(&envelope, "id")), why: why.to_string() };
    let detail = envelope.get("detail").filter(|d| d.is_object()).ok_or_else(|| fail("no `detail` object: not an EventBridge event"))?;
    let id = text(detail, "eventID").ok_or_else(|| fail("no `detail.eventID`: not a CloudTrail record"))?;
    let name = text(detail, "eventName").ok_or_else(|| fail("no `detail.eventName`"))?;
    let source = text(detail, "eventSource").ok_or_else(|| fail("no `detail.eventSource`"))?;
    let region = text(detail, "awsRegion").or_else(|| text(&envelope, "region")).ok_or_else(|| fail("no region (`detail.awsRegion`)"))?;
    if !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(fail("a region that is not a region name"));
    }
    let account = text(detail, "recipientAccountId").or_else(|| text(&envelope, "account")).unwrap_or_default();
    let time = text(detail, "eventTime").and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc));
    let creator = detail.get("userIdentity").map_or(Creator::Unknown, creator);
    let targets = ResourceType::created_by_call(&source, &name)
        .into_iter()
        .flat_map(|(resource_type, by)| {
            let started = by.starts;
            resource_type.created_ids(by, detail).into_iter().map(move |id| Target { resource_type, id, started })
        })
        .collect();
    Ok(Event { id, name, source, region, account, time, creator, targets, failed: text(detail, "errorCode") })
}

fn creator(identity: &Value) -> Creator {
    match identity.get("type").and_then(Value::as_str) {
        Some("AssumedRole") => {
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
            let arn = text(identity, "arn").unwrap_or_default();
            let mut parts = arn.rsplit('/');
            match (parts.next(), parts.next()) {
                (Some(session), Some(role)) if arn.contains(":assumed-role/") => Creator::Session { role: role.to_string(), session: session.to_string() },
                _ => Creator::Unknown,
            }
        }
        Some("IAMUser") => text(identity, "userName").map_or(Creator::Unknown, Creator::User),
        Some("Root") => Creator::Root,
        Some("AWSService") => text(identity, "invokedBy").map_or(Creator::Unknown, Creator::Service),
        _ => Creator::Unknown,
    }
}

/// A creator's name as a tag value takes it: letters, digits, spaces and
/// `_ . : / = + - @`, at most 256 characters.
pub fn tag_value(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric() || " _.:/=+-@".contains(*c)).take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: serde_json::Value) -> String {
        serde_json::json!({"version": "0", "id": "eb-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sagemaker",
            "account": "123456789012", "region": "us-east-1", "detail": detail})
        .to_string()
    }

    #[test]
    fn a_create_endpoint_record_names_its_endpoint_and_its_creators_session() {
        let body = event(serde_json::json!({
            "eventID": "e-1", "eventName": "CreateEndpoint", "eventSource": "sagemaker.amazonaws.com", "awsRegion": "us-east-1",
            "eventTime": "2026-12-04T09:00:00Z",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/ana@example.com"},
            "requestParameters": {"endpointName": "llm-test", "endpointConfigName": "c"}
        }));
        let e = parse(&body).expect("readable");
        assert_eq!(e.id, "e-1");
        assert_eq!(e.creator, Creator::Session { role: "AWSReservedSSO_Dev".into(), session: "ana@example.com".into() });
        assert_eq!(e.targets, [Target { resource_type: ResourceType::SagemakerEndpoint, id: "llm-test".into(), started: false }]);
        assert_eq!(e.failed, None);
    }

    #[test]
    fn run_instances_names_every_instance_and_start_instances_is_a_start() {
        let body = event(serde_json::json!({
            "eventID": "e-2", "eventName": "StartInstances", "eventSource": "ec2.amazonaws.com", "awsRegion": "eu-west-1",
            "userIdentity": {"type": "IAMUser", "userName": "bo"},
            "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}}
        }));
        let e = parse(&body).expect("readable");
        assert_eq!(e.creator.name(), Some("bo"));
        assert_eq!(e.targets.iter().map(|t| (t.id.as_str(), t.started)).collect::<Vec<_>>(), [("i-1", true), ("i-2", true)]);
    }

    #[test]
    fn what_cannot_be_read_says_why_with_the_event_id_where_there_is_one() {
        assert!(parse("not json").is_err_and(|u| u.event_id.is_none() && u.why.starts_with("not JSON")));
        let no_name = parse(&event(serde_json::json!({"eventID": "e-3"}))).expect_err("no name");
        assert_eq!(no_name.event_id.as_deref(), Some("e-3"));
        let no_detail = parse(r#"{"id": "eb-9"}"#).expect_err("no detail");
        assert_eq!(no_detail.event_id.as_deref(), Some("eb-9"));
        let bad_region = parse(&event(serde_json::json!({"eventID": "e-4", "eventName": "X", "eventSource": "s", "awsRegion": "../x"})));
        assert!(bad_region.is_err());
    }

    #[test]
    fn calls_that_create_nothing_costguard_knows_have_no_target_and_failed_calls_say_so() {
        let body = event(serde_json::json!({"eventID": "e-5", "eventName": "CreateEndpoint", "eventSource": "sagemaker.amazonaws.com",
            "awsRegion": "us-east-1", "errorCode": "ValidationException", "requestParameters": {"endpointName": "x"}}));
        assert_eq!(parse(&body).expect("readable").failed.as_deref(), Some("ValidationException"));
        let other =
            event(serde_json::json!({"eventID": "e-6", "eventName": "DescribeEndpoint", "eventSource": "sagemaker.amazonaws.com", "awsRegion": "us-east-1"}));
        assert!(parse(&other).expect("readable").targets.is_empty());
    }

    #[test]
    fn tag_values_keep_only_what_tags_allow() {
        assert_eq!(tag_value("ana@example.com"), "ana@example.com");
        assert_eq!(tag_value("a<b>\n\"c\""), "abc");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
    }
}
