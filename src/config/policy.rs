//! Policies: the YAML form, and the compiled form the engine uses.
//!
//! ```yaml
//! policies:
//!   - name: log-groups-never-expire
//!     resource: log-group
//!     description: Log groups without retention keep (and bill) every event forever.
//!     filters:
//!       - type: value
//!         key: retentionInDays
//!         value: absent
//!     actions:
//!       - type: set-retention
//!         days: 30
//!     max-resources: 500          # circuit breaker: act on none if more match
//!     max-resources-percent: 50
//!     schedule: "0 */15 * * * *"  # the daemon's cron for this policy (default: the config's)
//!     on-create: true             # also judged the moment a creation event names a resource
//! ```
//!
//! An `on-create` policy is judged by `costguard events` on each resource
//! a CloudTrail event says was just created or started, through the same
//! plan, journal, grace periods and protection as a sweep, and by every
//! sweep as well (which acts when a grace period it started is over, and
//! finds what no event told of). Its filters can read only what a new
//! resource has: tags, attributes, age, expiry; not metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;
use crate::actions::Action;
use crate::filters::{self, Filter, FilterSpec};
use crate::resources::sizes::Verdict;
use crate::resources::{ResourceAction, ResourceType};
use crate::yaml::{self, DecodeError, Located, Node, Value};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPolicy {
    pub name: Located<String>,
    pub resource: Located<ResourceType>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
    // `actions:` are set aside before decoding and compiled against the
    // resource type (`crate::actions::compile`), which says which it takes.
    #[serde(default)]
    pub max_resources: Option<Located<i64>>,
    #[serde(default)]
    pub max_resources_percent: Option<Located<f64>>,
    /// When the daemon runs it (cron); default: the daemon config's.
    #[serde(default)]
    pub schedule: Option<Located<String>>,
    /// In an organization's sweep, the accounts it applies to.
    #[serde(default)]
    pub accounts: Option<Located<AccountScopeSpec>>,
    /// Also judged when a creation event names a resource of its type.
    #[serde(default)]
    pub on_create: Option<Located<bool>>,
}

/// `accounts: {ids: [...], tags: {env: dev}}`: the accounts a policy applies
/// to (every one listed id, and every tag, must match).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountScopeSpec {
    #[serde(default)]
    pub ids: Vec<Located<String>>,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// The accounts a policy applies to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountScope {
    /// Empty: any account id.
    pub ids: Vec<String>,
    /// Every one must be on the account (its Organizations or accounts-file tags).
    pub tags: std::collections::BTreeMap<String, String>,
}

/// A validated policy.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub resource_type: ResourceType,
    pub description: Option<String>,
    pub enabled: bool,
    pub filters: Vec<Filter>,
    pub actions: Vec<Action>,
    pub limits: Limits,
    /// Six-field cron; `None`: the daemon's default schedule.
    pub schedule: Option<String>,
    /// `None`: every account.
    pub accounts: Option<AccountScope>,
    /// Judged by `costguard events` at each creation of its type too.
    pub on_create: bool,
    /// Where it was written, for messages.
    pub source: PathBuf,
}

/// The circuit breaker: if more resources match, the policy acts on none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub max_resources: Option<u64>,
    pub max_resources_percent: Option<f64>,
}

impl Policy {
    /// Whether it runs in this account. Tags unknown (`None`: a sweep of
    /// the credentials' own account, outside an organization's) match no
    /// tag scope: a policy meant for tagged accounts never runs blind.
    pub fn applies_to(&self, account_id: &str, tags: Option<&std::collections::BTreeMap<String, String>>) -> bool {
        let Some(scope) = &self.accounts else { return true };
        let id_ok = scope.ids.is_empty() || scope.ids.iter().any(|id| id == account_id);
        let tags_ok = scope.tags.is_empty() || tags.is_some_and(|t| scope.tags.iter().all(|(k, v)| t.get(k) == Some(v)));
        id_ok && tags_ok
    }

    pub fn is_mutating(&self) -> bool {
        self.actions.iter().any(Action::is_mutating)
    }

    /// The grace period set by a `mark` action, if any.
    pub fn grace(&self) -> Option<chrono::Duration> {
        self.actions.iter().find_map(|a| match a {
            Action::Mark(m) => Some(m.grace()),
            _ => None,
        })
    }

    /// The names of the changes the grace period holds back, e.g. `delete`.
    pub fn gated_action_names(&self) -> String {
        crate::actions::gated_names(&self.actions)
    }

    /// Tags are read when a filter tests them or when an action must honour
    /// the protection tag.
    /// The policy's `rightsizing` filter, whose assessment its findings show.
    pub fn rightsizing(&self) -> Option<&crate::filters::rightsizing::Rightsizing> {
        self.filters.iter().find_map(Filter::rightsizing)
    }

    /// The policy's `off-hours` filter: it puts resources to sleep on
    /// their schedules, and its sweeps wake them.
    pub fn off_hours(&self) -> Option<&crate::filters::offhours::OffHours> {
        self.filters.iter().find_map(Filter::off_hours)
    }

    pub fn needs_tags(&self) -> bool {
        self.is_mutating() || self.filters.iter().any(Filter::needs_tags)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl RawPolicy {
    /// `actions` are the entries of the policy's `actions:` list.
    pub fn compile(&self, source: &Path, path: &str, actions: &[Node], errors: &mut Vec<DecodeError>) -> Option<Policy> {
        let before = errors.len();
        if !valid_name(&self.name.value) {
            errors.push(DecodeError::new(
                self.name.loc,
                format!("{path}.name"),
                "a policy name starts with a letter or digit and holds only letters, digits, `-`, `_` and `.` (at most 128)",
            ));
        }
        let resource_type = self.resource.value;
        let filters = filters::compile_all(&self.filters, resource_type, &format!("{path}.filters"), self.resource.loc, errors);
        let compiled: Vec<Option<Action>> =
            actions.iter().enumerate().map(|(i, node)| crate::actions::compile(node, resource_type, &format!("{path}.actions[{i}]"), errors)).collect();
        let mut seen = HashMap::new();
        for (i, (action, node)) in compiled.iter().zip(actions).enumerate() {
            let Some(action) = action else { continue };
            if let Some(first) = seen.insert(action.name(), i) {
                errors.push(DecodeError::new(
                    node.loc,
                    format!("{path}.actions[{i}]"),
                    format!("action `{}` is already listed at actions[{first}]", action.name()),
                ));
            }
        }
        let listed = || compiled.iter().zip(actions).enumerate().filter_map(|(i, (a, node))| Some((i, a.as_ref()?, node)));
        if let Some((i, _, node)) = listed().find(|(_, a, _)| matches!(a, Action::Mark(_))) {
            if !listed().any(|(_, a, _)| a.is_gated()) {
                let changes = resource_type.action_names().join(", ");
                errors.push(DecodeError::new(
                    node.loc,
                    format!("{path}.actions[{i}]"),
                    format!("`mark` starts a grace period before a change, but this policy has no change to wait for ({resource_type} takes: {changes})"),
                ));
            }
        }
        // A resize moves to the size a rightsizing filter recommends:
        // without one (judging over-provisioned) there is no size to move to.
        if let Some((i, a, node)) = listed().find(|(_, a, _)| a.change().is_some_and(|c| c.needs_rightsizing())) {
            let judged = filters.as_ref().and_then(|f| f.iter().find_map(Filter::rightsizing)).map(|r| r.verdict);
            if judged != Some(Verdict::OverProvisioned) {
                errors.push(DecodeError::new(
                    node.loc,
                    format!("{path}.actions[{i}]"),
                    format!("`{}` needs a `rightsizing` filter with `verdict: over-provisioned`, which says what size to move to", a.name()),
                ));
            }
        }
        // What an off-hours policy puts to sleep, its sweeps wake by
        // undoing the change: a change nothing undoes would never wake.
        if filters.as_ref().is_some_and(|f| f.iter().any(|f| f.off_hours().is_some())) {
            for (i, a, node) in listed() {
                let Some(change) = a.change() else { continue };
                let info = resource_type.action_info(change.name());
                let sleeps = match info.and_then(crate::resources::ActionInfo::waking) {
                    Some(crate::resources::Waking::Restore) => change.undoable(),
                    Some(crate::resources::Waking::ByItsUser) => true,
                    None => false,
                };
                if !sleeps {
                    errors.push(DecodeError::new(
                        node.loc,
                        format!("{path}.actions[{i}]"),
                        format!(
                            "`{}` cannot put a resource to sleep: an `off-hours` policy stops or deletes with a change costguard can undo in the morning (or that its user undoes by opening it again)",
                            change.name()
                        ),
                    ));
                }
            }
        }
        // A GPU box at 3% CPU may have eight saturated GPUs: no change may
        // rest on CPU evidence where an accelerated instance could match.
        // A `rightsizing` filter judges accelerated types by their GPUs;
        // otherwise the policy must keep them out.
        if let (Some(filters), Some((i, a, node))) = (&filters, listed().find(|(_, a, _)| a.change().is_some())) {
            let mut read = Vec::new();
            filters.iter().for_each(|f| f.metrics_read(&mut read));
            let on_cpu = read.iter().find(|(_, metric, _)| metric.to_ascii_lowercase().contains("cpu"));
            let guarded = filters.iter().any(|f| f.rightsizing().is_some() || f.excludes_accelerated());
            if let (Some((_, metric, _)), false, Some(_)) = (on_cpu, guarded, resource_type.attribute("Accelerated")) {
                errors.push(DecodeError::new(
                    node.loc,
                    format!("{path}.actions[{i}]"),
                    format!(
                        "`{}` would act on CPU evidence alone (`{metric}`), and a GPU instance at 3% CPU can have busy GPUs: judge with a `rightsizing` filter (it judges GPU types by their GPUs), or keep accelerated types out with `{{type: value, key: Accelerated, value: false}}`",
                        a.name()
                    ),
                ));
            }
        }
        let on_create = self.on_create.as_ref().is_some_and(|o| o.value);
        if let (Some(at), Some(filters)) = (self.on_create.as_ref().filter(|o| o.value), &filters) {
            if let Some(kind) = filters.iter().find_map(Filter::unreadable_at_creation) {
                errors.push(DecodeError::new(
                    at.loc,
                    format!("{path}.on-create"),
                    format!("an `on-create` policy is judged the moment a resource is created, with no `{kind}` evidence yet: judge by tags, attributes, age or expiry (or drop `on-create`)"),
                ));
            }
            if resource_type.created_by().is_empty() {
                errors.push(DecodeError::new(
                    at.loc,
                    format!("{path}.on-create"),
                    format!("no creation event names a {resource_type}: `on-create` would never run"),
                ));
            }
        }
        let limits = self.compile_limits(path, errors);
        let schedule = self
            .schedule
            .as_ref()
            .and_then(|s| super::schedule::normalize_schedule(&s.value).map_err(|e| errors.push(DecodeError::new(s.loc, format!("{path}.schedule"), e))).ok());
        let accounts = self.accounts.as_ref().map(|scope| {
            for (i, id) in scope.value.ids.iter().enumerate() {
                if !(id.value.len() == 12 && id.value.chars().all(|c| c.is_ascii_digit())) {
                    errors.push(DecodeError::new(
                        id.loc,
                        format!("{path}.accounts.ids[{i}]"),
                        format!("an account id is 12 digits (quote it), found {:?}", id.value),
                    ));
                }
            }
            AccountScope { ids: scope.value.ids.iter().map(|i| i.value.clone()).collect(), tags: scope.value.tags.clone() }
        });
        if errors.len() > before {
            return None;
        }
        Some(Policy {
            accounts,
            name: self.name.value.clone(),
            resource_type,
            description: self.description.clone(),
            enabled: self.enabled.unwrap_or(true),
            filters: filters?,
            actions: compiled.into_iter().collect::<Option<Vec<_>>>()?,
            limits,
            schedule,
            on_create,
            source: source.to_path_buf(),
        })
    }

    fn compile_limits(&self, path: &str, errors: &mut Vec<DecodeError>) -> Limits {
        let mut limits = Limits::default();
        if let Some(max) = &self.max_resources {
            match u64::try_from(max.value) {
                Ok(n) => limits.max_resources = Some(n),
                Err(_) => errors.push(DecodeError::new(max.loc, format!("{path}.max-resources"), format!("max-resources must be zero or more, found {max}"))),
            }
        }
        if let Some(pct) = &self.max_resources_percent {
            if pct.value.is_finite() && (0.0..=100.0).contains(&pct.value) {
                limits.max_resources_percent = Some(pct.value);
            } else {
                errors.push(DecodeError::new(
                    pct.loc,
                    format!("{path}.max-resources-percent"),
                    format!("max-resources-percent must be from 0 to 100, found {pct}"),
                ));
            }
        }
        limits
    }
}

/// The `policies:` list of one file. Each policy is decoded on its own, so
/// that one mistake does not hide the next. Returns how many were listed.
pub(crate) fn compile_policies(file: &Path, node: &Node, out: &mut Vec<(Policy, Located<String>)>, errors: &mut Vec<ConfigError>) -> usize {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return 0,
        other => {
            errors.push(ConfigError::from_decode(file, DecodeError::new(node.loc, "policies", format!("expected a list of policies, found {}", other.kind()))));
            return 0;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("policies[{i}]");
        let (own, actions) = set_aside(item, "actions");
        let actions = match actions.map(|a| &a.value) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Seq(list)) => list.clone(),
            Some(other) => {
                let at = item.get("actions").map_or(item.loc, |a| a.loc);
                errors.push(ConfigError::from_decode(
                    file,
                    DecodeError::new(at, format!("{path}.actions"), format!("expected a list of actions, found {}", other.kind())),
                ));
                continue;
            }
        };
        let raw: RawPolicy = match yaml::decode(&own, &path) {
            Ok(raw) => raw,
            Err(e) => {
                let mut problems = vec![e];
                item_by_item(&own, &actions, &path, &mut problems);
                errors.extend(problems.into_iter().map(|e| ConfigError::from_decode(file, e)));
                continue;
            }
        };
        let mut problems = Vec::new();
        if let Some(policy) = raw.compile(file, &path, &actions, &mut problems) {
            // Keep where the name was written, for the duplicate-name check.
            out.push((policy, Located::new(format!("{path}.name"), raw.name.loc)));
        }
        errors.extend(problems.into_iter().map(|e| ConfigError::from_decode(file, e)));
    }
    items.len()
}

/// `node` without its `key` entry, and that entry's value.
fn set_aside<'a>(node: &'a Node, key: &str) -> (Node, Option<&'a Node>) {
    let Value::Map(entries) = &node.value else { return (node.clone(), None) };
    let kept = entries.iter().filter(|(k, _)| k.as_str() != Some(key)).cloned().collect();
    (Node { value: Value::Map(kept), ..node.clone() }, node.get(key))
}

/// After a policy fails to decode, decodes and compiles its own fields,
/// each filter and each action on its own, so that their mistakes are
/// reported in the same run rather than one per edit. `problems` holds the
/// first error already.
fn item_by_item(policy: &Node, actions: &[Node], path: &str, problems: &mut Vec<DecodeError>) {
    let (own, _) = set_aside(policy, "filters");
    match yaml::decode::<RawPolicy>(&own, path) {
        Ok(raw) => {
            let mut found = Vec::new();
            raw.compile(Path::new(""), path, &[], &mut found);
            push_new(problems, found);
        }
        Err(e) => push_new(problems, vec![e]),
    }
    let Some(resource_type) = policy.get("resource").and_then(|node| yaml::decode::<ResourceType>(node, &format!("{path}.resource")).ok()) else {
        return;
    };
    let mut found = Vec::new();
    if let Some(Value::Seq(items)) = policy.get("filters").map(|n| &n.value) {
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}.filters[{i}]");
            match yaml::decode::<FilterSpec>(item, &item_path) {
                Ok(spec) => {
                    spec.compile(resource_type, &item_path, item.loc, &mut found);
                }
                Err(e) => found.push(e),
            }
        }
    }
    for (i, item) in actions.iter().enumerate() {
        crate::actions::compile(item, resource_type, &format!("{path}.actions[{i}]"), &mut found);
    }
    push_new(problems, found);
}

fn push_new(problems: &mut Vec<DecodeError>, found: Vec<DecodeError>) {
    for e in found {
        if !problems.contains(&e) {
            problems.push(e);
        }
    }
}
