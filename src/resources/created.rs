//! What the types share about their creation (not a type of its own): the
//! CloudTrail calls that create or start one, and where in the call's
//! record its id is, so `costguard events` can read what was just created
//! through its type's module.
//!
//! CloudTrail records a call's `requestParameters` and `responseElements`
//! as the service's API names them (camelCase): `CreateEndpoint` names its
//! endpoint in `requestParameters.endpointName`; `RunInstances` lists the
//! instances it launched in `responseElements.instancesSet.items[].instanceId`.

use serde_json::Value;

/// The tag naming who created a resource that had no owner tag (written
/// by `costguard events`).
pub const CREATED_BY_TAG: &str = "costguard:created-by";

/// Which part of a CloudTrail record holds the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Request,
    Response,
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::Request => "requestParameters",
            Part::Response => "responseElements",
        }
    }
}

/// One CloudTrail call that creates or starts a resource of a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedBy {
    /// The record's `eventSource`: `sagemaker.amazonaws.com`.
    pub source: &'static str,
    /// The record's `eventName`: `CreateEndpoint`.
    pub event: &'static str,
    pub part: Part,
    /// The id's path in that part, keys separated by `/`, `*` for each item
    /// of a list: `instancesSet/items/*/instanceId`.
    pub id_at: &'static str,
    /// It starts what exists (`StartInstances`) rather than creating it.
    pub starts: bool,
}

impl CreatedBy {
    pub const fn request(source: &'static str, event: &'static str, id_at: &'static str) -> Self {
        CreatedBy { source, event, part: Part::Request, id_at, starts: false }
    }

    pub const fn response(source: &'static str, event: &'static str, id_at: &'static str) -> Self {
        CreatedBy { source, event, part: Part::Response, id_at, starts: false }
    }

    /// The same call, starting what exists rather than creating it.
    pub const fn starting(self) -> Self {
        CreatedBy { starts: true, ..self }
    }

    /// The ids at its path in a CloudTrail record (the event's `detail`);
    /// none when the path holds none.
    pub fn ids(&self, record: &Value) -> Vec<String> {
        let mut found = Vec::new();
        if let Some(part) = record.get(self.part.key()) {
            collect(part, &self.id_at.split('/').collect::<Vec<_>>(), &mut found);
        }
        found
    }
}

fn collect(at: &Value, path: &[&str], found: &mut Vec<String>) {
    match path.split_first() {
        None => {
            if let Some(id) = at.as_str().filter(|s| !s.is_empty() && s.len() <= 2048) {
                found.push(id.to_string());
            }
        }
        Some((&"*", rest)) => at.as_array().into_iter().flatten().for_each(|item| collect(item, rest, found)),
        Some((key, rest)) => {
            if let Some(next) = at.get(*key) {
                collect(next, rest, found);
            }
        }
    }
}

/// A text field of a CloudTrail record's part, for types whose id is made
/// of several (a Studio app's domain, owner, type and name).
pub fn field<'a>(record: &'a Value, part: Part, key: &str) -> Option<&'a str> {
    record.get(part.key())?.get(key)?.as_str().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_at_their_path_including_each_item_of_a_list() {
        let record = serde_json::json!({
            "requestParameters": {"endpointName": "llm-test"},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}, {"other": 1}]}}
        });
        assert_eq!(CreatedBy::request("s", "CreateEndpoint", "endpointName").ids(&record), ["llm-test"]);
        assert_eq!(CreatedBy::response("s", "RunInstances", "instancesSet/items/*/instanceId").ids(&record), ["i-1", "i-2"]);
        assert!(CreatedBy::request("s", "X", "missing/path").ids(&record).is_empty());
        assert!(CreatedBy::response("s", "X", "instancesSet").ids(&record).is_empty(), "an object is no id");
        assert!(CreatedBy::request("s", "X", "endpointName").ids(&serde_json::json!({"requestParameters": null})).is_empty());
    }
}
