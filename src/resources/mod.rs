//! Resource types: what costguard can list, filter and act on.
//!
//! Adding a type means one file here and one variant in [`ResourceType`] and
//! [`Details`]; the compiler then points at every `match` that must learn it.

pub mod log_group;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::{Aws, AwsError};

pub type Tags = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceType {
    /// A CloudWatch Logs log group.
    #[serde(alias = "aws.log-group")]
    LogGroup,
}

impl ResourceType {
    pub const ALL: &'static [ResourceType] = &[ResourceType::LogGroup];

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::LogGroup => "log-group",
        }
    }

    /// The attributes a `value` filter may name, with their kinds.
    pub fn attributes(self) -> &'static [Attribute] {
        match self {
            ResourceType::LogGroup => log_group::ATTRIBUTES,
        }
    }

    pub fn attribute(self, name: &str) -> Option<&'static Attribute> {
        self.attributes().iter().find(|a| a.name == name)
    }

    /// IAM actions needed to list this type (and read its tags).
    pub fn read_permissions(self) -> &'static [&'static str] {
        match self {
            ResourceType::LogGroup => log_group::READ_PERMISSIONS,
        }
    }

    /// Lists every resource of this type in `region`. Tags are read in bulk
    /// only when `with_tags`.
    pub async fn collect(
        self,
        aws: &Aws,
        region: &str,
        with_tags: bool,
        on_progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Resource>, AwsError> {
        match self {
            ResourceType::LogGroup => log_group::collect(aws, region, with_tags, on_progress).await,
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    String,
    Number,
    Bool,
    Time,
}

impl AttrKind {
    pub fn describe(self) -> &'static str {
        match self {
            AttrKind::String => "a string",
            AttrKind::Number => "a number",
            AttrKind::Bool => "a boolean",
            AttrKind::Time => "a time",
        }
    }
}

#[derive(Debug)]
pub struct Attribute {
    /// The field name as the AWS API spells it, as Cloud Custodian users know it.
    pub name: &'static str,
    pub kind: AttrKind,
}

/// One attribute's value on one resource.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValue<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl fmt::Display for AttrValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => write!(f, "{s:?}"),
            AttrValue::Num(n) => write!(f, "{n}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Time(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

/// A resource as listed: the common fields every policy can use, and the
/// type's own description in `details`.
#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub id: String,
    pub arn: String,
    pub region: String,
    pub created_at: Option<DateTime<Utc>>,
    pub tags: Tags,
    /// What the resource costs a month as it is, where known.
    pub monthly_cost_usd: Option<f64>,
    pub details: Details,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "resource_type", rename_all = "kebab-case")]
pub enum Details {
    LogGroup(crate::aws::logs::LogGroup),
}

impl Resource {
    pub fn resource_type(&self) -> ResourceType {
        match self.details {
            Details::LogGroup(_) => ResourceType::LogGroup,
        }
    }

    pub fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match &self.details {
            Details::LogGroup(group) => log_group::attribute(group, name),
        }
    }
}
