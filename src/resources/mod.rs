//! Resource types: what costguard can list, filter, price and act on.
//!
//! # The contract
//!
//! A resource type is **one module** here implementing [`Kind`], and **one
//! line** in the [`registry!`] at the bottom of this file. The module holds
//! everything about its type, as Cloud Custodian's
//! `c7n/resources/sagemaker.py` does:
//!
//! - how to list it, and describe what the listing lacks, only for the
//!   resources a policy could still match ([`Kind::list`], [`Kind::describe`]),
//!   and read one afresh right before a change ([`Kind::reread`]);
//! - its attribute schema, for `value` filters and `validate`'s "did you
//!   mean" ([`Kind::ATTRIBUTES`], [`Kind::attribute`]);
//! - its ARN pattern: every change to it is scoped to it in the generated
//!   IAM policy, never `*` ([`Kind::ARN_PATTERN`]);
//! - how to read its tags (with its listing, or in bulk) and write them
//!   ([`Kind::set_tags`], [`Kind::remove_tags`], [`Kind::TAG_PERMISSIONS`]);
//! - its own actions, each with the IAM permissions it needs, how it is
//!   re-checked, what it saves, and whether `restore` can undo it
//!   ([`Kind::Action`], a [`ResourceAction`]), and how `restore` does
//!   ([`Kind::restore`]);
//! - its cost basis: instance-hours, GB-months, or per request
//!   ([`Kind::price`], [`CostKind`]), and what the way it runs wastes
//!   whatever a policy does about it, where the type can say
//!   ([`Kind::avoidable_cost`]).
//!
//! The engine, `validate`, `iam-policy`, `restore`, pricing and the report
//! get all of this through [`ResourceType`], [`Details`] and [`Change`],
//! which the registry generates with exhaustive matches: a module that
//! leaves out a piece, or a type left out of the registry, does not compile.
//! The layers above never name a type.

// What the types share (the types' own modules are declared by the registry).
pub mod accelerators;
pub mod created;
pub mod no_action;
pub mod sagemaker;
pub mod scaling;
pub mod sizes;
pub mod stopping;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::{Aws, AwsError};
use crate::outcome::ActionResult;
use crate::pricing::PriceBook;
use crate::small_map::SmallMap;
use crate::yaml::{DecodeError, Node};
use sizes::{Assessment, InstanceSize, SizeContext, Sizing};

pub use crate::aws::tagging::Tags;

/// Attribute names (as in [`Attribute`]) some enabled policy reads.
pub type Wanted = std::collections::BTreeSet<&'static str>;

/// The tag a `mark` leaves on a resource: `<action>@<due time>`, so owners
/// see it in the console. A restore never puts it back.
pub const MARK_TAG: &str = "costguard:marked-for";
/// One metric series' dimensions, as (name, value) pairs.
pub type Dimensions = Vec<(String, String)>;

/// Everything costguard knows about one resource type. See the module docs.
pub trait Kind: Send + Sync + 'static {
    /// What the listing (and describing) says about one resource.
    type Details: Clone + fmt::Debug + PartialEq + Serialize + serde::de::DeserializeOwned + Send + Sync + 'static;
    /// The type's own changes (`delete`, `stop`, ...), compiled from a policy.
    type Action: ResourceAction;

    /// What people call one: "SageMaker endpoint" ("3 SageMaker endpoints").
    const NOUN: &'static str;
    /// Other spellings a policy may use (Cloud Custodian's `aws.ec2`).
    const ALIASES: &'static [&'static str];
    /// The attributes a `value` filter may name, with their kinds.
    const ATTRIBUTES: &'static [Attribute];
    /// The CloudWatch namespace a `metrics` filter reads by default.
    const METRIC_NAMESPACE: Option<&'static str>;
    /// IAM actions that list and describe it and read its tags (IAM cannot
    /// scope listings to resources: these are granted on `*`).
    const READ_PERMISSIONS: &'static [&'static str];
    /// IAM actions that read one resource afresh before a change ([`Kind::reread`]),
    /// needed only by policies that change something.
    const REREAD_PERMISSIONS: &'static [&'static str];
    /// Its ARN, with wildcards: every change to it is scoped to this.
    const ARN_PATTERN: &'static str;
    /// IAM actions that write and remove its tags (the `mark` action).
    const TAG_PERMISSIONS: &'static [&'static str];
    /// [`Kind::Action`]'s changes: each `type:` name (for `validate`, and
    /// as the journal stores it) with what it does to the resource, what
    /// acting on it takes, and what `costguard restore` brings back.
    const ACTIONS: &'static [ActionInfo];
    /// Whether a `rightsizing` filter can judge it ([`Kind::sizing`]).
    const SIZABLE: bool;
    /// Whether its hourly cost is a model served now, shown beside the
    /// token spend in "AI spend now" (SageMaker endpoints).
    const SERVES_MODELS: bool = false;
    /// The dimensions of its metric series, the first naming it, when
    /// ListMetrics can tell its series in bulk before any describe (a
    /// SageMaker endpoint: `EndpointName` and `VariantName`, one series per
    /// variant). `None`: the series come from its description.
    const SERIES_BY: Option<&'static [&'static str]> = None;
    /// Where a `rightsizing` filter reads its CPU, as (namespace, metric),
    /// when that is known before any describe: no series there in two
    /// weeks means there is nothing to judge.
    const SIZING_CPU: Option<(&'static str, &'static str)> = None;
    /// The CloudTrail calls that create or start one (see [`created`]):
    /// what `costguard events` tells the creator of within a minute.
    const CREATED_BY: &'static [created::CreatedBy] = &[];

    /// The ids of what `by` (one of [`Kind::CREATED_BY`]) created or
    /// started, from its CloudTrail record (the event's `detail`). By
    /// default the id at its path; a type whose id is made of several
    /// fields says how.
    fn created_ids(by: &created::CreatedBy, record: &serde_json::Value) -> Vec<String> {
        by.ids(record)
    }

    /// Reads `name` of the resource, whose details are `details` (some
    /// attributes are the resource's own: its name, its ARN).
    fn attribute<'a>(resource: &'a Resource, details: &'a Self::Details, name: &str) -> Option<AttrValue<'a>>;

    /// Its metric series' dimensions; `None` until described.
    fn metric_series(resource: &Resource, details: &Self::Details) -> Option<Vec<Dimensions>>;

    /// What a `rightsizing` filter judges: its instances and where their
    /// load is published; `None` when it has nothing to size.
    fn sizing(resource: &Resource, details: &Self::Details) -> Option<Sizing>;

    /// Every resource of this type in `region`; tags too when `with_tags`.
    /// `now` is the sweep's time (where the listing reads metrics).
    fn list(
        aws: &Aws,
        region: &str,
        with_tags: bool,
        now: DateTime<Utc>,
        on_progress: &(dyn Fn(usize) + Sync),
    ) -> impl Future<Output = Result<Vec<Resource>, AwsError>> + Send;

    /// Completes a listed resource with what its listing lacks; sets
    /// `described` (nothing to do when the listing is complete). `wanted`
    /// names the described attributes the enabled policies' filters read:
    /// a call that only feeds attributes nobody reads may be skipped (that
    /// attribute then stays unknown, never guessed).
    fn describe(aws: &Aws, resource: &mut Resource, wanted: &Wanted) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The resource as it is now, fully described with its tags; `None`
    /// when it no longer exists. What every change re-checks first.
    fn reread(aws: &Aws, region: &str, id: &str, now: DateTime<Utc>) -> impl Future<Output = Result<Option<Resource>, AwsError>> + Send;

    /// Sets `monthly_cost_usd`, `cost_kind` and `cost_basis`.
    fn price(resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) -> impl Future<Output = ()> + Send;

    /// Of its priced cost, what acting on it would save whatever a
    /// policy's actions do: the saving of a finding no action prices (a
    /// policy that only reports). By default its whole cost when its first
    /// change stops or removes it (a notebook left running), else unknown;
    /// a type that knows better says (a training job run on demand: what
    /// managed spot would have saved; an ended one: nothing).
    fn avoidable_cost(resource: &Resource, _details: &Self::Details) -> Option<f64> {
        match Self::ACTIONS.first().map(|a| a.effect) {
            Some(Effect::Stops | Effect::Removes) => resource.monthly_cost_usd,
            _ => None,
        }
    }

    /// The sizes a `rightsizing` filter compares `resources` with, priced;
    /// where memory is published (`options.memory`), and where accelerated
    /// instances publish their GPUs' utilization.
    fn prepare_sizes(ctx: &SizeContext<'_>, resources: Vec<&mut Resource>) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn set_tags(aws: &Aws, resource: &Resource, tags: &Tags) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn remove_tags(aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Compiles one of the type's own actions from its YAML node (its name
    /// is one of [`Kind::ACTIONS`]).
    fn compile_action(node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Self::Action>;

    /// Undoes `action`, done to `before` (as journaled); says what it did.
    fn restore(aws: &Aws, action: &str, before: &Resource, run_id: &str) -> impl Future<Output = Result<String, RestoreError>> + Send;
}

/// What one of a type's own changes does to the resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// It is gone afterwards (a deletion): listed again means re-created.
    Removes,
    /// It stays, stopped (and can be started again).
    Stops,
    /// It stays and runs, changed (a size, a retention, a lifecycle rule).
    Modifies,
}

/// How much a change asks of the people who own the resource, as AWS
/// Cost Optimization Hub grades its recommendations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effort {
    /// A setting (a retention, a lifecycle rule): nothing running notices.
    Low,
    /// A stop or a delete that `costguard restore` undoes.
    Medium,
    /// A resize, or a change nothing undoes (a deploy, a new purchase).
    High,
}

/// One of a type's own changes, as a report and the ledger read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionInfo {
    /// Its `type:` name, as the journal stores it.
    pub name: &'static str,
    pub effect: Effect,
    pub effort: Effort,
    /// Whether whoever uses the resource sees it go down or restart.
    pub restart: bool,
    /// What `costguard restore` brings back; `None`: it cannot be undone.
    pub restores: Option<&'static str>,
    /// What brings it back when costguard cannot: its user, by using it
    /// again (a Studio app opened again). A removal with this and no
    /// `restores` may still put a resource to sleep: there is nothing to
    /// wake.
    pub reopens: Option<&'static str>,
}

/// How a resource an `off-hours` policy put to sleep wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waking {
    /// costguard restores the change once its schedule wants it on.
    Restore,
    /// Nothing to wake: its user brings it back by using it (a Studio app
    /// opened again).
    ByItsUser,
}

impl ActionInfo {
    /// How a sleep made by this change ends; `None`: it cannot be a
    /// sleep (a resize, a change nothing brings back).
    pub fn waking(&self) -> Option<Waking> {
        match (self.effect, self.restores, self.reopens) {
            (Effect::Modifies, _, _) => None,
            (_, Some(_), _) => Some(Waking::Restore),
            (Effect::Removes, None, Some(_)) => Some(Waking::ByItsUser),
            (_, None, _) => None,
        }
    }
}

impl ResourceType {
    /// The names of its own changes.
    pub fn action_names(self) -> Vec<&'static str> {
        self.actions().iter().map(|a| a.name).collect()
    }

    /// Its change named `action` (as the journal stores it).
    pub fn action_info(self, action: &str) -> Option<&'static ActionInfo> {
        self.actions().iter().find(|a| a.name == action)
    }

    /// What its change named `action` (as the journal stores it) does.
    pub fn effect_of(self, action: &str) -> Option<Effect> {
        self.action_info(action).map(|a| a.effect)
    }
}

/// A type's own change. Generic actions (`notify`, `mark`) live in
/// `crate::actions`; these are asked of the resource module.
pub trait ResourceAction: Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// A sentence for the report: what it would do.
    fn describe(&self) -> String;

    /// The IAM actions it calls, each with the ARNs it touches.
    fn permissions(&self) -> Vec<Permission>;

    /// Whether it needs a `rightsizing` filter judging `over-provisioned`
    /// (a resize moves to the size that filter recommends).
    fn needs_rightsizing(&self) -> bool;

    /// The resource already is as this would leave it: reported, not acted on.
    fn already_satisfied(&self, resource: &Resource) -> bool;

    /// Why it must never run on `resource`, whatever the policy says.
    fn refusal(&self, resource: &Resource) -> Option<String>;

    /// After a crash: whether the resource as read now (`None`: gone)
    /// shows the change happened; `before` is as journaled.
    fn took_effect(&self, before: &Resource, now: Option<&Resource>) -> bool;

    /// What it saves a month on `resource`, where it can say.
    fn monthly_saving(&self, resource: &Resource, now: DateTime<Utc>) -> Option<f64>;

    /// Whether `costguard restore` can undo it.
    fn undoable(&self) -> bool;

    /// The IAM actions its restore calls: what a sweep needs to wake what
    /// an `off-hours` policy put to sleep with it (a person's `costguard
    /// restore` runs with their own rights). None by default.
    fn restore_permissions(&self) -> Vec<Permission> {
        Vec::new()
    }

    /// Runs it on `resource`, as just re-read; `assessment` is the
    /// resource's rightsizing assessment on that re-read, where there is one.
    fn apply(&self, aws: &Aws, resource: &Resource, assessment: Option<&Assessment>) -> impl Future<Output = Result<ActionResult, AwsError>> + Send;

    /// After a failure or a crash: puts right what was left half done (a
    /// resize stopped but not started). `None`: nothing was half done.
    fn recover(&self, aws: &Aws, before: &Resource, now: Option<&Resource>) -> impl Future<Output = Option<crate::outcome::Repair>> + Send;
}

/// One IAM action and the resources it may touch; empty `resources` means
/// `*`, which only reads may have (a test holds every type to it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub action: String,
    pub resources: Vec<String>,
}

impl Permission {
    /// `action` on the given ARN patterns.
    pub fn on(action: &str, resources: &[&str]) -> Self {
        Permission { action: action.to_string(), resources: resources.iter().map(|r| r.to_string()).collect() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{0}")]
    NotRestorable(String),
    #[error("{resource_type} {name} already exists in {region}; nothing to restore")]
    AlreadyExists { resource_type: ResourceType, name: String, region: String },
    #[error("{0} cannot be restored by costguard")]
    Unsupported(ResourceType),
}

impl RestoreError {
    /// A refusal made before anything was changed (or after putting back
    /// what was): nothing is left half done. An AWS error may come after a
    /// first call succeeded.
    pub fn changed_nothing(&self) -> bool {
        !matches!(self, RestoreError::Aws(_))
    }
}

/// How a resource's monthly cost is worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostKind {
    /// An hourly instance price times the hours in a month (730).
    InstanceHours,
    /// A storage price per GB and month (by storage class or volume type,
    /// with provisioned IOPS and throughput where billed).
    GbMonths,
    /// A price times the usage measured: per request, per token, or per
    /// billable second of a run that has ended (billed once; a policy's
    /// window of runs, e.g. the last 30 days, makes the sums a month's).
    Usage,
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

/// A resource's identity within its account, whatever policy matched it:
/// what travels wherever a resource is named without its description
/// (marks, marks to remove).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    pub resource_type: ResourceType,
    pub region: String,
    pub id: String,
}

impl ResourceKey {
    /// Whether `resource` is the one this key names.
    pub fn is(&self, resource: &Resource) -> bool {
        resource.resource_type() == self.resource_type && *resource.region == self.region && resource.id == self.id
    }
}

impl Resource {
    pub fn key(&self) -> ResourceKey {
        ResourceKey { resource_type: self.resource_type(), region: self.region.to_string(), id: self.id.clone() }
    }
}

/// A resource: the fields every policy can use, and its type's own
/// description in `details`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resource {
    pub id: String,
    pub arn: String,
    /// One allocation per region, shared by its resources.
    pub region: Arc<str>,
    pub created_at: Option<DateTime<Utc>>,
    pub tags: Tags,
    /// What the resource costs a month as it is, where known.
    pub monthly_cost_usd: Option<f64>,
    /// What the cost is made of: instance-hours, GB-months, usage.
    #[serde(default)]
    pub cost_kind: Option<CostKind>,
    /// How `monthly_cost_usd` was worked out, or why it is unknown.
    #[serde(default)]
    pub cost_basis: Option<Arc<str>>,
    /// Whether `details` and `tags` are complete. Types whose listing says
    /// little (SageMaker) are described only when a policy could match them.
    #[serde(default)]
    pub described: bool,
    /// The listing brought the tags in bulk (the Tagging API): tag filters
    /// decide before any describe, and a describe need not read them.
    #[serde(skip)]
    pub tags_listed: bool,
    /// Datapoints per metric query (see `filters::metrics`), one list per
    /// series (an endpoint has one series per variant).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub metrics: SmallMap<Vec<Vec<f64>>>,
    /// The sizes of this resource's instance families, with prices: filled
    /// in only for resources a `rightsizing` filter judges. Shared by the
    /// resources of one instance type (a thousand m5.xlarge instances held
    /// a thousand copies of the m5 family).
    #[serde(default, skip_serializing_if = "<[InstanceSize]>::is_empty")]
    pub sizes: Arc<[InstanceSize]>,
    /// Where its memory is published when not beside its CPU (the
    /// CloudWatch agent's dimensions for an EC2 instance), found in bulk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_series: Option<Box<Dimensions>>,
    /// Where its GPUs' utilization is published (the CloudWatch agent's
    /// per-GPU series, or Container Insights), found in bulk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_series: Option<Box<accelerators::ListedGpu>>,
    /// Its series with datapoints in the last two weeks, by
    /// `namespace/metric`, from ListMetrics in bulk (types with
    /// [`Kind::SERIES_BY`]): metrics are read, and may rule it out, before
    /// any describe. An empty list: none.
    #[serde(skip)]
    pub listed_series: SmallMap<Vec<Dimensions>>,
    pub details: Details,
}

impl Resource {
    /// Gives it its tags from its listing's bulk read, marking them listed
    /// (and it described, when its listing has everything else); nothing
    /// when the bulk read failed: its describe then reads them.
    pub fn take_listed_tags(&mut self, bulk: &mut crate::aws::tagging::BulkTags, complete: bool) {
        if let Some(tags) = bulk.take(&self.arn) {
            self.tags = tags;
            self.tags_listed = true;
            self.described |= complete;
        }
    }

    /// A resource as listed: no tags, cost, metrics or sizes yet.
    pub fn new(id: String, arn: String, region: &str, created_at: Option<DateTime<Utc>>, details: Details) -> Self {
        Resource {
            id,
            arn,
            region: shared_region(region),
            created_at,
            tags: Tags::new(),
            monthly_cost_usd: None,
            cost_kind: None,
            cost_basis: None,
            described: false,
            tags_listed: false,
            metrics: SmallMap::new(),
            sizes: Arc::default(),
            memory_series: None,
            gpu_series: None,
            listed_series: SmallMap::new(),
            details,
        }
    }

    /// Its series of `namespace`/`metric` as ListMetrics found them, if it
    /// was asked (see [`Resource::listed_series`]).
    pub fn listed(&self, namespace: &str, metric: &str) -> Option<&[Dimensions]> {
        self.listed_series.get(&Self::listed_key(namespace, metric)).map(Vec::as_slice)
    }

    /// Where [`Resource::listed_series`] files the series of `namespace`/`metric`.
    pub fn listed_key(namespace: &str, metric: &str) -> String {
        format!("{namespace}/{metric}")
    }

    /// Known before any describe to have no CPU series in two weeks: a
    /// `rightsizing` filter has nothing to judge.
    pub fn no_listed_cpu(&self) -> bool {
        !self.described && self.resource_type().sizing_cpu().and_then(|(ns, metric)| self.listed(ns, metric)).is_some_and(<[Dimensions]>::is_empty)
    }

    /// Keeps what the inventory learnt about `listed` besides its
    /// description: the sizes it was compared with, where memory lives, and
    /// its cost where the re-read does not price it again.
    pub fn carry_over_from(&mut self, listed: &Resource) {
        self.sizes.clone_from(&listed.sizes);
        self.memory_series.clone_from(&listed.memory_series);
        self.gpu_series.clone_from(&listed.gpu_series);
        if self.monthly_cost_usd.is_none() {
            self.monthly_cost_usd = listed.monthly_cost_usd;
            self.cost_kind = listed.cost_kind;
            self.cost_basis.clone_from(&listed.cost_basis);
        }
    }

    /// The size entry for `instance_type`, if sizes are known.
    pub fn size(&self, instance_type: &str) -> Option<&InstanceSize> {
        self.sizes.iter().find(|s| s.instance_type == instance_type)
    }

    /// Sets the cost and how it was worked out.
    pub fn set_cost(&mut self, monthly_usd: Option<f64>, kind: CostKind, basis: impl Into<Arc<str>>) {
        self.monthly_cost_usd = monthly_usd;
        self.cost_kind = Some(kind);
        self.cost_basis = Some(basis.into());
    }
}

/// Region names, shared: every resource names its region, and an estate
/// has tens of thousands of resources in a handful of regions. Bounded, so
/// no input can grow it past AWS's few dozen regions.
fn shared_region(region: &str) -> Arc<str> {
    static REGIONS: Mutex<Vec<Arc<str>>> = Mutex::new(Vec::new());
    let mut regions = REGIONS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = regions.iter().find(|r| ***r == *region) {
        return Arc::clone(known);
    }
    let new: Arc<str> = Arc::from(region);
    if regions.len() < 64 {
        regions.push(Arc::clone(&new));
    }
    new
}

/// A type's name, as policies spell it, is unknown: says which are known
/// and the closest.
fn unknown_type(name: &str) -> String {
    let known: Vec<&str> = ResourceType::ALL.iter().map(|t| t.name()).collect();
    let hint = crate::yaml::closest_name(name, known.iter().copied()).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
    format!("unknown resource type `{name}`{hint} (expected one of: {})", known.join(", "))
}

impl ResourceType {
    /// The types a CloudTrail call (`eventSource`, `eventName`) creates or
    /// starts, each with how its ids are read.
    pub fn created_by_call(source: &str, event: &str) -> Vec<(ResourceType, &'static created::CreatedBy)> {
        ResourceType::ALL.iter().flat_map(|t| t.created_by().iter().filter(|c| c.source == source && c.event == event).map(move |c| (*t, c))).collect()
    }
}

impl std::str::FromStr for ResourceType {
    type Err = String;

    /// The policy spelling, with or without Cloud Custodian's `aws.` prefix.
    fn from_str(s: &str) -> Result<Self, String> {
        let bare = s.strip_prefix("aws.").unwrap_or(s);
        ResourceType::ALL.iter().copied().find(|t| t.name() == bare || t.aliases().contains(&s) || t.aliases().contains(&bare)).ok_or_else(|| unknown_type(s))
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ResourceType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ResourceType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The one list of resource types. Each line: the variant, its name in
/// policies and reports, and the module's [`Kind`]. It declares the module
/// and generates [`ResourceType`], [`Details`] and [`Change`], and their
/// dispatch.
macro_rules! registry {
    ($($variant:ident = $name:literal => $module:ident :: $kind:ident,)*) => {
        $(pub mod $module;)*

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceType {
            $($variant,)*
        }

        /// A resource's type-specific description. Boxed: the variants
        /// differ in size by hundreds of bytes, and an inventory holds tens
        /// of thousands of the smallest (log groups).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "resource_type")]
        pub enum Details {
            $(#[serde(rename = $name)] $variant(Box<<$module::$kind as Kind>::Details>),)*
        }

        /// A policy's type-specific change: one of the type's own actions.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Change {
            $($variant(<$module::$kind as Kind>::Action),)*
        }

        /// Connects a [`Kind`] to its variants; only the registry implements it.
        pub trait Registered: Kind {
            const TYPE: ResourceType;
            fn details_of(resource: &Resource) -> Option<&Self::Details>;
            fn wrap(details: Self::Details) -> Details;
        }

        $(
            impl Registered for $module::$kind {
                const TYPE: ResourceType = ResourceType::$variant;
                fn details_of(resource: &Resource) -> Option<&Self::Details> {
                    match &resource.details {
                        Details::$variant(d) => Some(&**d),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
                fn wrap(details: Self::Details) -> Details {
                    Details::$variant(Box::new(details))
                }
            }
        )*

        impl ResourceType {
            pub const ALL: &'static [ResourceType] = &[$(ResourceType::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(ResourceType::$variant => $name,)* }
            }
            pub fn noun(self) -> &'static str {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::NOUN,)* }
            }
            pub fn aliases(self) -> &'static [&'static str] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::ALIASES,)* }
            }
            pub fn attributes(self) -> &'static [Attribute] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::ATTRIBUTES,)* }
            }
            pub fn attribute(self, name: &str) -> Option<&'static Attribute> {
                self.attributes().iter().find(|a| a.name == name)
            }
            pub fn metric_namespace(self) -> Option<&'static str> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::METRIC_NAMESPACE,)* }
            }
            pub fn read_permissions(self) -> &'static [&'static str] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::READ_PERMISSIONS,)* }
            }
            pub fn reread_permissions(self) -> &'static [&'static str] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::REREAD_PERMISSIONS,)* }
            }
            pub fn arn_pattern(self) -> &'static str {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::ARN_PATTERN,)* }
            }
            pub fn tag_permissions(self) -> &'static [&'static str] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::TAG_PERMISSIONS,)* }
            }
            pub fn actions(self) -> &'static [ActionInfo] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::ACTIONS,)* }
            }
            pub fn sizable(self) -> bool {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::SIZABLE,)* }
            }
            pub fn serves_models(self) -> bool {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::SERVES_MODELS,)* }
            }
            pub fn series_by(self) -> Option<&'static [&'static str]> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::SERIES_BY,)* }
            }
            pub fn created_by(self) -> &'static [created::CreatedBy] {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::CREATED_BY,)* }
            }
            pub fn created_ids(self, by: &created::CreatedBy, record: &serde_json::Value) -> Vec<String> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::created_ids(by, record),)* }
            }
            pub fn sizing_cpu(self) -> Option<(&'static str, &'static str)> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::SIZING_CPU,)* }
            }
            pub async fn list(self, aws: &Aws, region: &str, with_tags: bool, now: DateTime<Utc>, on_progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<Resource>, AwsError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::list(aws, region, with_tags, now, on_progress).await,)* }
            }
            pub async fn describe(self, aws: &Aws, resource: &mut Resource, wanted: &Wanted) -> Result<(), AwsError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::describe(aws, resource, wanted).await,)* }
            }
            pub async fn reread(self, aws: &Aws, region: &str, id: &str, now: DateTime<Utc>) -> Result<Option<Resource>, AwsError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::reread(aws, region, id, now).await,)* }
            }
            pub async fn price(self, resource: &mut Resource, prices: &PriceBook, now: DateTime<Utc>) {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::price(resource, prices, now).await,)* }
            }
            pub async fn prepare_sizes(self, ctx: &SizeContext<'_>, resources: Vec<&mut Resource>) -> Result<(), AwsError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::prepare_sizes(ctx, resources).await,)* }
            }
            pub async fn set_tags(self, aws: &Aws, resource: &Resource, tags: &Tags) -> Result<(), AwsError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::set_tags(aws, resource, tags).await,)* }
            }
            pub async fn remove_tags(self, aws: &Aws, region: &str, arn: &str, keys: &[&str]) -> Result<(), AwsError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::remove_tags(aws, region, arn, keys).await,)* }
            }
            pub fn compile_action(self, node: &Node, path: &str, errors: &mut Vec<DecodeError>) -> Option<Change> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::compile_action(node, path, errors).map(Change::$variant),)* }
            }
            pub async fn restore(self, aws: &Aws, action: &str, before: &Resource, run_id: &str) -> Result<String, RestoreError> {
                match self { $(ResourceType::$variant => <$module::$kind as Kind>::restore(aws, action, before, run_id).await,)* }
            }
        }

        impl Details {
            pub fn resource_type(&self) -> ResourceType {
                match self { $(Details::$variant(_) => ResourceType::$variant,)* }
            }
        }

        impl Resource {
            pub fn resource_type(&self) -> ResourceType {
                self.details.resource_type()
            }
            pub fn attribute(&self, name: &str) -> Option<AttrValue<'_>> {
                match &self.details { $(Details::$variant(d) => <$module::$kind as Kind>::attribute(self, d, name),)* }
            }
            /// The dimension sets of this resource's metric series, or `None`
            /// until it is described (an endpoint's variants come from describing it).
            pub fn metric_series(&self) -> Option<Vec<Dimensions>> {
                match &self.details { $(Details::$variant(d) => <$module::$kind as Kind>::metric_series(self, d),)* }
            }
            pub fn sizing(&self) -> Option<Sizing> {
                match &self.details { $(Details::$variant(d) => <$module::$kind as Kind>::sizing(self, d),)* }
            }
            /// See [`Kind::avoidable_cost`].
            pub fn avoidable_cost(&self) -> Option<f64> {
                match &self.details { $(Details::$variant(d) => <$module::$kind as Kind>::avoidable_cost(self, d),)* }
            }
        }

        impl Change {
            pub fn resource_type(&self) -> ResourceType {
                match self { $(Change::$variant(_) => ResourceType::$variant,)* }
            }
        }

        impl ResourceAction for Change {
            fn name(&self) -> &'static str {
                match self { $(Change::$variant(a) => a.name(),)* }
            }
            fn describe(&self) -> String {
                match self { $(Change::$variant(a) => a.describe(),)* }
            }
            fn permissions(&self) -> Vec<Permission> {
                match self { $(Change::$variant(a) => a.permissions(),)* }
            }
            fn restore_permissions(&self) -> Vec<Permission> {
                match self { $(Change::$variant(a) => a.restore_permissions(),)* }
            }
            fn needs_rightsizing(&self) -> bool {
                match self { $(Change::$variant(a) => a.needs_rightsizing(),)* }
            }
            fn already_satisfied(&self, resource: &Resource) -> bool {
                match self { $(Change::$variant(a) => a.already_satisfied(resource),)* }
            }
            fn refusal(&self, resource: &Resource) -> Option<String> {
                match self { $(Change::$variant(a) => a.refusal(resource),)* }
            }
            fn took_effect(&self, before: &Resource, now: Option<&Resource>) -> bool {
                match self { $(Change::$variant(a) => a.took_effect(before, now),)* }
            }
            fn monthly_saving(&self, resource: &Resource, now: DateTime<Utc>) -> Option<f64> {
                match self { $(Change::$variant(a) => a.monthly_saving(resource, now),)* }
            }
            fn undoable(&self) -> bool {
                match self { $(Change::$variant(a) => a.undoable(),)* }
            }
            async fn apply(&self, aws: &Aws, resource: &Resource, assessment: Option<&Assessment>) -> Result<ActionResult, AwsError> {
                match self { $(Change::$variant(a) => a.apply(aws, resource, assessment).await,)* }
            }
            async fn recover(&self, aws: &Aws, before: &Resource, now: Option<&Resource>) -> Option<crate::outcome::Repair> {
                match self { $(Change::$variant(a) => a.recover(aws, before, now).await,)* }
            }
        }
    };
}

registry! {
    LogGroup = "log-group" => log_group::LogGroups,
    SagemakerEndpoint = "sagemaker-endpoint" => sagemaker_endpoint::Endpoints,
    SagemakerNotebook = "sagemaker-notebook" => sagemaker_notebook::Notebooks,
    Ec2Instance = "ec2-instance" => ec2_instance::Instances,
    EbsVolume = "ebs-volume" => ebs_volume::Volumes,
    S3Bucket = "s3-bucket" => s3_bucket::Buckets,
    SagemakerTrainingJob = "sagemaker-training-job" => sagemaker_training_job::TrainingJobs,
    BedrockProvisionedThroughput = "bedrock-provisioned-throughput" => bedrock_provisioned_throughput::ProvisionedThroughputs,
    AutoScalingGroup = "auto-scaling-group" => auto_scaling_group::Groups,
    EksNodeGroup = "eks-node-group" => eks_node_group::NodeGroups,
    SagemakerApp = "sagemaker-app" => sagemaker_app::Apps,
    SagemakerHyperpodCluster = "sagemaker-hyperpod-cluster" => sagemaker_hyperpod_cluster::Clusters,
    SagemakerInferenceComponent = "sagemaker-inference-component" => sagemaker_inference_component::InferenceComponents,
    SagemakerSpace = "sagemaker-space" => sagemaker_space::Spaces,
    SagemakerMlflowTrackingServer = "sagemaker-mlflow-tracking-server" => sagemaker_mlflow_tracking_server::TrackingServers,
    EcrRepository = "ecr-repository" => ecr_repository::Repositories,
    OpensearchServerlessCollection = "opensearch-serverless-collection" => opensearch_serverless_collection::Collections,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_of_a_region_share_its_name() {
        let a = log_group::fixture("/a", None);
        let b = log_group::fixture("/b", None);
        assert!(Arc::ptr_eq(&a.region, &b.region), "one allocation per region");
        assert_eq!(&*shared_region("eu-west-1"), "eu-west-1");
        assert!(!Arc::ptr_eq(&a.region, &shared_region("eu-west-1")));
    }

    #[test]
    fn no_sizes_are_left_out_of_a_snapshot() {
        let json = serde_json::to_value(log_group::fixture("/a", None)).expect("serializes");
        assert!(json.get("sizes").is_none() && json.get("metrics").is_none(), "{json}");
    }
}
