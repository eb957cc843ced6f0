//! Resource types: what costguard can list, filter and act on.
//!
//! Adding a type means one file here and one variant in [`ResourceType`] and
//! [`Details`]; the compiler then points at every `match` that must learn it.

pub mod ec2_instance;
pub mod log_group;
pub mod sagemaker_endpoint;
pub mod sagemaker_notebook;
pub mod sizes;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::{Aws, AwsError};
use crate::pricing::PriceBook;

pub type Tags = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceType {
    /// A CloudWatch Logs log group.
    #[serde(alias = "aws.log-group")]
    LogGroup,
    /// A SageMaker real-time inference endpoint.
    #[serde(alias = "aws.sagemaker-endpoint")]
    SagemakerEndpoint,
    /// A SageMaker notebook instance.
    #[serde(alias = "aws.sagemaker-notebook")]
    SagemakerNotebook,
    /// An EC2 instance (pending or running).
    #[serde(alias = "aws.ec2", alias = "ec2")]
    Ec2Instance,
}

impl ResourceType {
    pub const ALL: &'static [ResourceType] =
        &[ResourceType::LogGroup, ResourceType::SagemakerEndpoint, ResourceType::SagemakerNotebook, ResourceType::Ec2Instance];

    pub fn name(self) -> &'static str {
        match self {
            ResourceType::LogGroup => "log-group",
            ResourceType::SagemakerEndpoint => "sagemaker-endpoint",
            ResourceType::SagemakerNotebook => "sagemaker-notebook",
            ResourceType::Ec2Instance => "ec2-instance",
        }
    }

    /// What people call one of these, for email subjects ("3 SageMaker endpoints").
    pub fn noun(self) -> &'static str {
        match self {
            ResourceType::LogGroup => "log group",
            ResourceType::SagemakerEndpoint => "SageMaker endpoint",
            ResourceType::SagemakerNotebook => "SageMaker notebook",
            ResourceType::Ec2Instance => "EC2 instance",
        }
    }

    /// The attributes a `value` filter may name, with their kinds.
    pub fn attributes(self) -> &'static [Attribute] {
        match self {
            ResourceType::LogGroup => log_group::ATTRIBUTES,
            ResourceType::SagemakerEndpoint => sagemaker_endpoint::ATTRIBUTES,
            ResourceType::SagemakerNotebook => sagemaker_notebook::ATTRIBUTES,
            ResourceType::Ec2Instance => ec2_instance::ATTRIBUTES,
        }
    }

    pub fn attribute(self, name: &str) -> Option<&'static Attribute> {
        self.attributes().iter().find(|a| a.name == name)
    }

    /// IAM actions needed to list this type (and read its tags).
    pub fn read_permissions(self) -> &'static [&'static str] {
        match self {
            ResourceType::LogGroup => log_group::READ_PERMISSIONS,
            ResourceType::SagemakerEndpoint => sagemaker_endpoint::READ_PERMISSIONS,
            ResourceType::SagemakerNotebook => sagemaker_notebook::READ_PERMISSIONS,
            ResourceType::Ec2Instance => ec2_instance::READ_PERMISSIONS,
        }
    }

    /// The CloudWatch namespace a `metrics` filter reads by default; `None`
    /// when the type publishes no metrics costguard can attribute to it.
    pub fn metric_namespace(self) -> Option<&'static str> {
        match self {
            ResourceType::LogGroup => Some("AWS/Logs"),
            ResourceType::SagemakerEndpoint => Some("AWS/SageMaker"),
            ResourceType::SagemakerNotebook => None,
            ResourceType::Ec2Instance => Some("AWS/EC2"),
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
            ResourceType::SagemakerEndpoint => sagemaker_endpoint::collect(aws, region, on_progress).await,
            ResourceType::SagemakerNotebook => sagemaker_notebook::collect(aws, region, on_progress).await,
            ResourceType::Ec2Instance => ec2_instance::collect(aws, region, on_progress).await,
        }
    }

    /// Completes a listed resource (details and tags). Types whose listing
    /// is already complete do nothing.
    pub async fn describe(self, aws: &Aws, resource: &mut Resource) -> Result<(), AwsError> {
        match self {
            ResourceType::LogGroup | ResourceType::Ec2Instance => Ok(()),
            ResourceType::SagemakerEndpoint => sagemaker_endpoint::describe(aws, resource).await,
            ResourceType::SagemakerNotebook => sagemaker_notebook::describe(aws, resource).await,
        }
    }

    /// Sets the resource's monthly cost where it is priced per instance.
    pub async fn price(self, resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
        match self {
            ResourceType::LogGroup => {}
            ResourceType::SagemakerEndpoint => sagemaker_endpoint::price(resource, prices, now).await,
            ResourceType::SagemakerNotebook => sagemaker_notebook::price(resource, prices, now).await,
            ResourceType::Ec2Instance => ec2_instance::price(resource, prices, now).await,
        }
    }

    /// Attaches to each resource the sizes of its instance family, priced,
    /// for `rightsizing`; with `memory`, also where memory is published.
    pub async fn prepare_sizes(
        self,
        aws: &Aws,
        region: &str,
        resources: Vec<&mut Resource>,
        memory: bool,
        prices: &PriceBook,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        match self {
            ResourceType::Ec2Instance => ec2_instance::prepare_sizes(aws, region, resources, memory, prices, now).await,
            ResourceType::SagemakerEndpoint => {
                sagemaker_endpoint::prepare_sizes(resources, prices, now).await;
                Ok(())
            }
            ResourceType::LogGroup | ResourceType::SagemakerNotebook => Ok(()),
        }
    }

    /// Reads the resource afresh, fully described: what a destructive action
    /// checks right before acting. `None` when it no longer exists.
    pub async fn reread(self, aws: &Aws, resource: &Resource) -> Result<Option<Resource>, AwsError> {
        match self {
            ResourceType::LogGroup => Ok(Some(resource.clone())),
            ResourceType::SagemakerEndpoint => sagemaker_endpoint::reread(aws, &resource.region, &resource.id).await,
            ResourceType::SagemakerNotebook => sagemaker_notebook::reread(aws, &resource.region, &resource.id).await,
            ResourceType::Ec2Instance => ec2_instance::reread(aws, &resource.region, &resource.id).await,
        }
    }
}

impl std::str::FromStr for ResourceType {
    type Err = String;

    /// The policy spelling, with or without Cloud Custodian's `aws.` prefix.
    fn from_str(s: &str) -> Result<Self, String> {
        let bare = s.strip_prefix("aws.").unwrap_or(s);
        ResourceType::ALL.iter().copied().find(|t| t.name() == bare).ok_or_else(|| {
            let names: Vec<&str> = ResourceType::ALL.iter().map(|t| t.name()).collect();
            format!("unknown resource type {s:?}; expected one of: {}", names.join(", "))
        })
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
    /// Known only once the resource is described (not from its listing).
    pub described: bool,
}

impl Attribute {
    pub const fn listed(name: &'static str, kind: AttrKind) -> Self {
        Self { name, kind, described: false }
    }

    pub const fn described(name: &'static str, kind: AttrKind) -> Self {
        Self { name, kind, described: true }
    }
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub arn: String,
    pub region: String,
    pub created_at: Option<DateTime<Utc>>,
    pub tags: Tags,
    /// What the resource costs a month as it is, where known.
    pub monthly_cost_usd: Option<f64>,
    /// How `monthly_cost_usd` was worked out, or why it is unknown.
    #[serde(default)]
    pub cost_basis: Option<String>,
    /// Whether `details` and `tags` are complete. Types whose listing says
    /// little (SageMaker) are described only when a policy could match them.
    #[serde(default)]
    pub described: bool,
    /// Datapoints per metric query (see `filters::metrics`), one list per
    /// series (an endpoint has one series per variant).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, Vec<Vec<f64>>>,
    /// The sizes of this resource's instance families, with prices: filled
    /// in only for resources a `rightsizing` filter judges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<sizes::InstanceSize>,
    pub details: Details,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "resource_type", rename_all = "kebab-case")]
pub enum Details {
    LogGroup(crate::aws::logs::LogGroup),
    SagemakerEndpoint(sagemaker_endpoint::Endpoint),
    SagemakerNotebook(crate::aws::sagemaker::Notebook),
    Ec2Instance(ec2_instance::Ec2Instance),
}

impl Resource {
    /// A resource as listed: no tags, cost, metrics or sizes yet.
    pub fn new(id: String, arn: String, region: &str, created_at: Option<DateTime<Utc>>, details: Details) -> Self {
        Resource {
            id,
            arn,
            region: region.to_string(),
            created_at,
            tags: Tags::new(),
            monthly_cost_usd: None,
            cost_basis: None,
            described: false,
            metrics: BTreeMap::new(),
            sizes: Vec::new(),
            details,
        }
    }

    /// Keeps what the inventory learnt about `listed` besides its
    /// description (where an instance's memory metrics live).
    pub fn carry_over_from(&mut self, listed: &Resource) {
        if let (Details::Ec2Instance(fresh), Details::Ec2Instance(old)) = (&mut self.details, &listed.details) {
            fresh.memory_dimensions.clone_from(&old.memory_dimensions);
        }
    }

    /// The size entry for `instance_type`, if sizes are known.
    pub fn size(&self, instance_type: &str) -> Option<&sizes::InstanceSize> {
        self.sizes.iter().find(|s| s.instance_type == instance_type)
    }

    pub fn resource_type(&self) -> ResourceType {
        match self.details {
            Details::LogGroup(_) => ResourceType::LogGroup,
            Details::SagemakerEndpoint(_) => ResourceType::SagemakerEndpoint,
            Details::SagemakerNotebook(_) => ResourceType::SagemakerNotebook,
            Details::Ec2Instance(_) => ResourceType::Ec2Instance,
        }
    }

    /// The dimension sets of this resource's metric series, or `None` until
    /// it is described (an endpoint's variants come from DescribeEndpoint).
    pub fn metric_series(&self) -> Option<Vec<Vec<(String, String)>>> {
        match &self.details {
            Details::LogGroup(g) => Some(vec![vec![("LogGroupName".to_string(), g.name.clone())]]),
            Details::SagemakerEndpoint(e) => sagemaker_endpoint::metric_series(e),
            Details::SagemakerNotebook(_) => Some(Vec::new()),
            Details::Ec2Instance(e) => Some(ec2_instance::metric_series(e)),
        }
    }

    pub fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
        match &self.details {
            Details::LogGroup(group) => log_group::attribute(group, name),
            Details::SagemakerEndpoint(endpoint) => sagemaker_endpoint::attribute(endpoint, name),
            Details::SagemakerNotebook(notebook) => sagemaker_notebook::attribute(notebook, name),
            Details::Ec2Instance(instance) => ec2_instance::attribute(instance, name),
        }
    }
}
