//! Filters: which resources a policy matches, and why.
//!
//! Each family has one file holding its YAML spec, its compiled form and its
//! evaluation. `FilterSpec` is what the YAML says; `Filter` is checked against
//! the resource type and cannot hold an invalid state.
//!
//! ```yaml
//! filters:
//!   - type: value
//!     key: retentionInDays
//!     value: absent
//!   - type: age
//!     days: 7
//!   - not:
//!       - type: tag
//!         key: team
//!         value: platform
//! ```

pub mod age;
pub mod expires;
pub mod metrics;
pub mod offhours;
pub mod rightsizing;
pub mod tag;
pub mod value;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::aws::cloudwatch::SeriesQuery;
use crate::resources::{Resource, ResourceType};
use crate::yaml::{DecodeError, Loc};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterSpec {
    Value(value::ValueSpec),
    Tag(tag::TagSpec),
    Age(age::AgeSpec),
    /// Its expiry tag (`costguard:expires`) says its time has come.
    Expires(expires::ExpiresSpec),
    #[serde(alias = "metric")]
    Metrics(metrics::MetricsSpec),
    #[serde(alias = "right-size")]
    Rightsizing(rightsizing::RightsizingSpec),
    /// Its schedule says it should sleep now.
    #[serde(alias = "offhours", alias = "offhour")]
    OffHours(offhours::OffHoursSpec),
    /// Every filter in the list matches.
    And(Vec<FilterSpec>),
    /// Every filter in the list matches, and together they say the
    /// resource is not in use. Like `and`; in an `off-hours` policy, a
    /// resource that meets all its other filters but not this is in use:
    /// left up, its owner told, looked at again next sweep.
    Idle(Vec<FilterSpec>),
    /// At least one filter in the list matches.
    Or(Vec<FilterSpec>),
    /// Not all of the filters in the list match (Cloud Custodian's `not`).
    Not(Vec<FilterSpec>),
}

#[derive(Clone, Debug)]
pub enum Filter {
    Value(value::ValueFilter),
    Tag(tag::TagFilter),
    Age(age::AgeFilter),
    Expires(expires::Expires),
    Metrics(metrics::MetricsFilter),
    Rightsizing(rightsizing::Rightsizing),
    OffHours(offhours::OffHours),
    And(Vec<Filter>),
    Idle(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Vec<Filter>),
}

impl FilterSpec {
    /// Checks the spec against `resource_type`; problems go to `errors`.
    /// `loc` is where to point when the spec has no location of its own.
    pub fn compile(&self, resource_type: ResourceType, path: &str, loc: Loc, errors: &mut Vec<DecodeError>) -> Option<Filter> {
        match self {
            FilterSpec::Value(spec) => spec.compile(resource_type, path, errors).map(Filter::Value),
            FilterSpec::Tag(spec) => spec.compile(path, errors).map(Filter::Tag),
            FilterSpec::Age(spec) => spec.compile(resource_type, path, errors).map(Filter::Age),
            FilterSpec::Expires(spec) => spec.compile(path, errors).map(Filter::Expires),
            FilterSpec::Metrics(spec) => spec.compile(resource_type, path, errors).map(Filter::Metrics),
            FilterSpec::Rightsizing(spec) => spec.compile(resource_type, path, loc, errors).map(Filter::Rightsizing),
            FilterSpec::OffHours(spec) => Some(Filter::OffHours(spec.compile())),
            FilterSpec::And(list) => compile_all(list, resource_type, &format!("{path}.and"), loc, errors).map(Filter::And),
            FilterSpec::Idle(list) => compile_all(list, resource_type, &format!("{path}.idle"), loc, errors).map(Filter::Idle),
            FilterSpec::Or(list) => compile_all(list, resource_type, &format!("{path}.or"), loc, errors).map(Filter::Or),
            FilterSpec::Not(list) => compile_all(list, resource_type, &format!("{path}.not"), loc, errors).map(Filter::Not),
        }
    }
}

/// Compiles every spec, reporting all problems rather than the first.
pub fn compile_all(specs: &[FilterSpec], resource_type: ResourceType, path: &str, loc: Loc, errors: &mut Vec<DecodeError>) -> Option<Vec<Filter>> {
    let compiled: Vec<Option<Filter>> = specs.iter().enumerate().map(|(i, spec)| spec.compile(resource_type, &format!("{path}[{i}]"), loc, errors)).collect();
    compiled.into_iter().collect()
}

impl Filter {
    /// `Some(reason)` when the resource matches: a sentence a person can check.
    pub fn evaluate(&self, resource: &Resource, now: DateTime<Utc>) -> Option<String> {
        match self {
            Filter::Value(f) => f.evaluate(resource),
            Filter::Tag(f) => f.evaluate(resource),
            Filter::Age(f) => f.evaluate(resource, now),
            Filter::Expires(f) => f.evaluate(resource, now),
            Filter::Metrics(f) => f.evaluate(resource, now),
            Filter::Rightsizing(f) => f.evaluate(resource),
            Filter::OffHours(f) => f.evaluate(resource, now),
            Filter::And(list) | Filter::Idle(list) => evaluate_all(list, resource, now),
            Filter::Or(list) => list.iter().find_map(|f| f.evaluate(resource, now)),
            Filter::Not(list) => match evaluate_all(list, resource, now) {
                Some(_) => None,
                None => Some(format!("not ({})", describe_all(list))),
            },
        }
    }

    /// The condition itself, for reports and `not`.
    pub fn describe(&self) -> String {
        match self {
            Filter::Value(f) => f.describe(),
            Filter::Tag(f) => f.describe(),
            Filter::Age(f) => f.describe(),
            Filter::Expires(f) => f.describe(),
            Filter::Metrics(f) => f.describe(),
            Filter::Rightsizing(f) => f.describe(),
            Filter::OffHours(f) => f.describe(),
            Filter::And(list) => format!("({})", describe_all(list)),
            Filter::Idle(list) => format!("idle ({})", describe_all(list)),
            Filter::Or(list) => format!("({})", list.iter().map(Filter::describe).collect::<Vec<_>>().join(" or ")),
            Filter::Not(list) => format!("not ({})", describe_all(list)),
        }
    }

    /// Adds what this filter reads of the resource itself (attributes,
    /// tags, times; not metrics), by name, with the value as read:
    /// what a saved plan holds as evidence that its match still stands.
    pub fn evidence(&self, resource: &Resource, out: &mut std::collections::BTreeMap<String, String>) {
        let shown = |v: Option<crate::resources::AttrValue<'_>>| v.map_or_else(|| "absent".to_string(), |v| v.to_string());
        match self {
            Filter::Value(f) | Filter::Tag(f) => {
                out.insert(f.key.to_string(), shown(f.key.read(resource)));
            }
            Filter::Age(f) => {
                let value = match f.key {
                    None => resource.created_at.map(crate::resources::AttrValue::Time),
                    Some(key) => resource.attribute(key),
                };
                out.insert(f.key.unwrap_or("created").to_string(), shown(value));
            }
            Filter::Expires(f) => {
                out.insert(format!("tag:{}", f.tag), resource.tags.get(&f.tag).map_or_else(|| "absent".to_string(), Clone::clone));
                out.insert("created".to_string(), resource.created_at.map_or_else(|| "absent".to_string(), |t| t.to_rfc3339()));
            }
            Filter::OffHours(_) => {
                for key in [offhours::SCHEDULE_TAG, offhours::AWAKE_UNTIL_TAG] {
                    out.insert(format!("tag:{key}"), resource.tags.get(key).map_or_else(|| "absent".to_string(), Clone::clone));
                }
            }
            Filter::Metrics(_) | Filter::Rightsizing(_) => {}
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().for_each(|f| f.evidence(resource, out)),
        }
    }

    /// Adds the attributes this filter reads (value filters' keys, age filters' times).
    pub fn attributes_read(&self, out: &mut crate::resources::Wanted) {
        match self {
            Filter::Value(f) => {
                if let value::Key::Attribute(name, _) = f.key {
                    out.insert(name);
                }
            }
            Filter::Age(f) => out.extend(f.key),
            Filter::Tag(_) | Filter::Expires(_) | Filter::Metrics(_) | Filter::Rightsizing(_) | Filter::OffHours(_) => {}
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().for_each(|f| f.attributes_read(out)),
        }
    }

    /// Whether evaluating needs the resource's tags.
    pub fn needs_tags(&self) -> bool {
        match self {
            Filter::Value(f) => f.needs_tags(),
            Filter::Tag(_) | Filter::Expires(_) | Filter::OffHours(_) => true,
            Filter::Age(_) | Filter::Metrics(_) | Filter::Rightsizing(_) => false,
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().any(Filter::needs_tags),
        }
    }

    /// Whether this filter needs data the resource does not carry yet (its
    /// description, or metrics not fetched).
    fn lacks_data(&self, resource: &Resource) -> bool {
        match self {
            Filter::Value(f) => !resource.described && f.needs_description(resource),
            Filter::Tag(_) | Filter::Expires(_) | Filter::OffHours(_) => !resource.described && !resource.tags_listed,
            // A time only a describe reads (a Studio app's last activity).
            Filter::Age(f) => !resource.described && f.key.and_then(|k| resource.resource_type().attribute(k)).is_some_and(|a| a.described),
            Filter::Metrics(f) => !f.is_fetched(resource),
            // Nothing to judge when the listing found no CPU series.
            Filter::Rightsizing(f) => !f.is_fetched(resource) && !resource.no_listed_cpu(),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().any(|f| f.lacks_data(resource)),
        }
    }

    /// False only when the resource cannot match whatever the missing data
    /// turns out to be: three-valued logic, so the inventory describes and
    /// measures only resources that could still match.
    pub fn could_match(&self, resource: &Resource, now: DateTime<Utc>) -> bool {
        match self {
            Filter::And(list) | Filter::Idle(list) => list.iter().all(|f| f.could_match(resource, now)),
            Filter::Or(list) => list.iter().any(|f| f.could_match(resource, now)),
            // `not` fails only when every inner filter surely matches.
            Filter::Not(list) => list.iter().any(|f| f.lacks_data(resource)) || evaluate_all(list, resource, now).is_none(),
            leaf if leaf.lacks_data(resource) => true,
            leaf => leaf.evaluate(resource, now).is_some(),
        }
    }

    /// The first part of this filter that a just-created resource has no
    /// evidence for (metrics, rightsizing, off-hours), by its `type:`;
    /// `None` when an `on-create` policy can judge by it.
    pub fn unreadable_at_creation(&self) -> Option<&'static str> {
        match self {
            Filter::Metrics(_) => Some("metrics"),
            Filter::Rightsizing(_) => Some("rightsizing"),
            Filter::OffHours(_) => Some("off-hours"),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().find_map(Filter::unreadable_at_creation),
            Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) | Filter::Expires(_) => None,
        }
    }

    /// The longest metrics window (days) this filter judges by, if it
    /// reads metrics: how much data a match rests on at most.
    pub fn window_days(&self) -> Option<f64> {
        match self {
            Filter::Metrics(f) => Some(f.days),
            Filter::Rightsizing(f) => Some(f.days),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().filter_map(Filter::window_days).reduce(f64::max),
            Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) | Filter::Expires(_) | Filter::OffHours(_) => None,
        }
    }

    /// The metric series this filter reads for `resource`, as
    /// (key in `Resource::metrics`, window in days, queries).
    pub fn metric_needs(&self, resource: &Resource, out: &mut Vec<(String, f64, Vec<SeriesQuery>)>) {
        match self {
            Filter::Metrics(f) => out.extend(f.metric_needs(resource)),
            Filter::Rightsizing(f) => out.extend(f.metric_needs(resource)),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().for_each(|f| f.metric_needs(resource, out)),
            Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) | Filter::Expires(_) | Filter::OffHours(_) => {}
        }
    }

    /// The (namespace, metric, days) of every `metrics` filter inside this
    /// one: what ListMetrics can find series for in bulk.
    pub fn metrics_read(&self, out: &mut Vec<(String, String, f64)>) {
        match self {
            Filter::Metrics(f) => out.push((f.namespace.clone(), f.metric.clone(), f.days)),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().for_each(|f| f.metrics_read(out)),
            Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) | Filter::Expires(_) | Filter::Rightsizing(_) | Filter::OffHours(_) => {}
        }
    }

    /// Whether this filter keeps accelerated instances out (`Accelerated`
    /// is `false`): what lets a policy judge the rest by CPU.
    pub fn excludes_accelerated(&self) -> bool {
        match self {
            Filter::Value(f) => {
                matches!(f.key, value::Key::Attribute("Accelerated", _))
                    && matches!(
                        &f.test,
                        value::Test::Compare(value::Op::Eq, value::Literal::Bool(false)) | value::Test::Compare(value::Op::Ne, value::Literal::Bool(true))
                    )
            }
            Filter::And(list) | Filter::Idle(list) => list.iter().any(Filter::excludes_accelerated),
            Filter::Tag(_)
            | Filter::Age(_)
            | Filter::Expires(_)
            | Filter::Metrics(_)
            | Filter::Rightsizing(_)
            | Filter::OffHours(_)
            | Filter::Or(_)
            | Filter::Not(_) => false,
        }
    }

    /// Where each regular expression inside this filter was written.
    pub fn regexes(&self, out: &mut Vec<Loc>) {
        match self {
            Filter::Value(f) | Filter::Tag(f) => {
                if let value::Test::Regex(_, at) = &f.test {
                    out.push(*at);
                }
            }
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().for_each(|f| f.regexes(out)),
            Filter::Age(_) | Filter::Expires(_) | Filter::Metrics(_) | Filter::Rightsizing(_) | Filter::OffHours(_) => {}
        }
    }

    /// The first `rightsizing` filter inside this one: its assessment is
    /// what the policy's findings show.
    pub fn rightsizing(&self) -> Option<&rightsizing::Rightsizing> {
        match self {
            Filter::Rightsizing(f) => Some(f),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter().find_map(Filter::rightsizing),
            Filter::Value(_) | Filter::Tag(_) | Filter::Age(_) | Filter::Expires(_) | Filter::Metrics(_) | Filter::OffHours(_) => None,
        }
    }

    /// The first `off-hours` filter inside this one (not under `not`).
    pub fn off_hours(&self) -> Option<&offhours::OffHours> {
        match self {
            Filter::OffHours(f) => Some(f),
            Filter::And(list) | Filter::Or(list) => list.iter().find_map(Filter::off_hours),
            _ => None,
        }
    }

    /// Gives every `off-hours` filter the policy files' schedules.
    pub fn bind_schedules(&mut self, book: &std::sync::Arc<crate::schedule::Book>, path: &str, errors: &mut Vec<DecodeError>) {
        match self {
            Filter::OffHours(f) => f.bind(book, path, errors),
            Filter::And(list) | Filter::Idle(list) | Filter::Or(list) | Filter::Not(list) => list.iter_mut().for_each(|f| f.bind_schedules(book, path, errors)),
            _ => {}
        }
    }
}

/// Why a resource is in use, for an `off-hours` policy: it meets every
/// one of `filters` but a top-level `idle` group (the first such is
/// described). `None` when it meets them all, or fails another.
pub fn in_use(filters: &[Filter], resource: &Resource, now: DateTime<Utc>) -> Option<String> {
    let mut busy = None;
    for filter in filters {
        match (filter, filter.evaluate(resource, now)) {
            (_, Some(_)) => {}
            (Filter::Idle(list), None) => {
                busy.get_or_insert_with(|| list.iter().filter(|f| f.evaluate(resource, now).is_none()).map(Filter::describe).collect::<Vec<_>>().join("; "));
            }
            (_, None) => return None,
        }
    }
    busy.map(|unmet| format!("in use (not idle: {unmet} does not hold)"))
}

/// [`Filter::could_match`] for a policy's list (all must match).
pub fn could_match_all(filters: &[Filter], resource: &Resource, now: DateTime<Utc>) -> bool {
    filters.iter().all(|f| f.could_match(resource, now))
}

/// All must match; the reason names each condition that did.
pub fn evaluate_all(filters: &[Filter], resource: &Resource, now: DateTime<Utc>) -> Option<String> {
    let mut reasons = Vec::with_capacity(filters.len());
    for filter in filters {
        reasons.push(filter.evaluate(resource, now)?);
    }
    Some(reasons.join("; "))
}

/// The first of `filters` that `resource` no longer meets, described:
/// why a resource that matched before does not now.
pub fn first_unmet(filters: &[Filter], resource: &Resource, now: DateTime<Utc>) -> Option<String> {
    filters.iter().find(|f| f.evaluate(resource, now).is_none()).map(Filter::describe)
}

fn describe_all(filters: &[Filter]) -> String {
    filters.iter().map(Filter::describe).collect::<Vec<_>>().join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::log_group::fixture;

    fn absent_retention() -> Filter {
        Filter::Value(value::ValueFilter::absent("retentionInDays"))
    }

    #[test]
    fn boolean_combinators_follow_custodian() {
        let now = crate::clock::test_now();
        let none = fixture("/none", None);
        let seven = fixture("/seven", Some(7));
        assert!(Filter::And(vec![absent_retention()]).evaluate(&none, now).is_some());
        assert!(Filter::Not(vec![absent_retention()]).evaluate(&none, now).is_none());
        assert!(Filter::Not(vec![absent_retention()]).evaluate(&seven, now).is_some());
        assert!(Filter::Or(vec![Filter::Not(vec![absent_retention()]), absent_retention()]).evaluate(&seven, now).is_some());
        assert!(Filter::And(vec![]).evaluate(&seven, now).is_some(), "an empty `and` matches everything");
    }
}
