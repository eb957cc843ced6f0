//! The plan: what a sweep would do, and why. A pure function of the
//! policies, the inventory and the time; `--dry-run` stops here, so dry runs
//! and real runs can never disagree about what matches.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::inventory::Inventory;
use crate::actions::Action;
use crate::config::Policy;
use crate::filters::{self, rightsizing::Assessment};
use crate::outcome::Standing;
use crate::resources::{Change, Resource, ResourceAction, ResourceKey, ResourceType};

pub use crate::config::daemon::DEFAULT_PROTECT_TAG;

#[derive(Clone, Debug)]
pub struct PlanSettings {
    /// Resources carrying this tag (any value) are never changed.
    pub protect_tag: String,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self { protect_tag: DEFAULT_PROTECT_TAG.to_string() }
    }
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub now: DateTime<Utc>,
    pub policies: Vec<PolicyPlan>,
    /// Resources a `rightsizing` policy would judge but cannot (an
    /// accelerated instance without GPU metrics, a burstable type), with
    /// what they cost: listed so silence is never read as "fine".
    pub not_judged: Vec<NotJudged>,
}

/// A resource marked for a destructive action after a grace period.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub policy: String,
    pub key: ResourceKey,
    /// The action that will run, e.g. `delete`.
    pub action: String,
    pub marked_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A resource an `off-hours` policy last put to sleep, and when (the
/// journal's): it sleeps once per off window, so a person who starts it
/// again in the evening keeps it running until the next one.
#[derive(Clone, Debug, PartialEq)]
pub struct Slept {
    pub policy: String,
    pub key: ResourceKey,
    pub at: DateTime<Utc>,
}

/// What the journal remembers that the plan depends on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory<'a> {
    /// Marks: only they start a grace period's clock.
    pub marks: &'a [Mark],
    /// Each resource's last sleep by an `off-hours` policy.
    pub slept: &'a [Slept],
}

/// A resource a `rightsizing` policy could not judge, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NotJudged {
    /// The first policy that would have judged it.
    pub policy: String,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub region: Arc<str>,
    /// The instance types of its parts.
    pub instance_types: Vec<String>,
    pub monthly_cost_usd: Option<f64>,
    pub cost_basis: Option<Arc<str>>,
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct PolicyPlan {
    pub policy: String,
    pub resource_type: ResourceType,
    pub examined: usize,
    pub matched: usize,
    /// Why the circuit breaker stopped this policy, if it did.
    pub breaker: Option<String>,
    /// The policy's actions, the same for every entry.
    pub actions: Vec<Action>,
    /// Regions whose listing failed: the policy saw only part of the account.
    pub incomplete_regions: Vec<String>,
    /// The longest metrics window its filters judge by (days), if any.
    pub window_days: Option<f64>,
    pub entries: Vec<PlanEntry>,
    /// Marked resources that no longer match (or became protected): their
    /// mark is removed.
    pub unmark: Vec<Unmark>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unmark {
    pub key: ResourceKey,
    /// Where to remove the tag; `None` when the resource is gone.
    pub arn: Option<String>,
    pub why: String,
}

#[derive(Clone, Debug)]
pub struct PlanEntry {
    /// Its place in the plan: outcomes and findings are keyed by it.
    pub id: EntryId,
    pub resource: Arc<Resource>,
    pub reason: String,
    pub decision: Decision,
    /// The rightsizing judgement, for policies with a `rightsizing` filter
    /// (boxed: most entries have none, and inline it doubled an entry's size).
    pub assessment: Option<Box<Assessment>>,
    /// From a reviewed plan file: what made it match then, which must
    /// still hold when apply re-reads it.
    pub reviewed: Option<Arc<super::evidence::Evidence>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Apply runs the actions (after re-reading the resource).
    Act,
    /// First match of a policy with a grace period: mark now, act at `due`.
    Mark { due: DateTime<Utc> },
    /// Marked earlier; the grace period runs until `due`.
    Wait { due: DateTime<Utc> },
    /// The policy has no actions, or they change nothing: report only.
    Report,
    /// Matched, but will not be touched: what holds it, and the reason in
    /// words (shared: a circuit breaker gives thousands of entries one).
    Skip(Hold, Arc<str>),
}

/// What keeps a matched resource from being changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// It carries the protect tag.
    Protected,
    /// Its type refuses the change (an instance-store root cannot stop).
    Refused,
    /// It could not be described, so whether it is protected is unknown.
    Undescribed,
    /// The policy's circuit breaker tripped.
    Breaker,
    /// A reviewed plan holds it (its grace period, its mark, the policy).
    Review,
    /// Re-read before the change: gone, already done, no longer matching.
    Settled,
    /// The sweep stopped before it (its time limit, a signal).
    Interrupted,
    /// Its tags say something costguard will not guess at (a schedule
    /// tag that cannot be read): its owner must put it right.
    Misconfigured,
    /// In its off hours but in use (an `off-hours` policy's `idle` group
    /// does not hold): left up, its owner told, looked at next sweep.
    InUse,
}

impl Hold {
    /// Whether a person must decide, or nothing will happen by design.
    pub fn standing(self) -> Standing {
        match self {
            Hold::Protected | Hold::Refused | Hold::Settled | Hold::InUse => Standing::LeftAlone,
            Hold::Undescribed | Hold::Breaker | Hold::Review | Hold::Interrupted | Hold::Misconfigured => Standing::NeedsDecision,
        }
    }
}

/// A plan entry's id: its place among all of the plan's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u32);

impl Default for EntryId {
    fn default() -> Self {
        EntryId::UNNUMBERED
    }
}

impl EntryId {
    /// Before `Plan::numbered` (and in a finding read back from a report).
    pub const UNNUMBERED: EntryId = EntryId(u32::MAX);

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl Plan {
    /// Gives every entry its id, in `entries` order.
    pub fn numbered(mut self) -> Self {
        let ids = (0u32..).map(EntryId);
        for (entry, id) in self.policies.iter_mut().flat_map(|p| p.entries.iter_mut()).zip(ids) {
            entry.id = id;
        }
        self
    }

    /// How many entries the plan has (ids run from 0 to this).
    pub fn len(&self) -> usize {
        self.policies.iter().map(|p| p.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn entries(&self) -> impl Iterator<Item = (&PolicyPlan, &PlanEntry)> {
        self.policies.iter().flat_map(|p| p.entries.iter().map(move |e| (p, e)))
    }

    pub fn breaker_tripped(&self) -> bool {
        self.policies.iter().any(|p| p.breaker.is_some())
    }
}

/// `memory.marks` are the journal's, and only they start a grace period's
/// clock. The `costguard:marked-for` tag on a resource is for people to
/// read: anyone who may tag could write a past due date in it, so a tag
/// the journal does not hold is a new mark from now.
pub fn plan(policies: &[Policy], inventory: &Inventory, memory: &Memory<'_>, now: DateTime<Utc>, settings: &PlanSettings) -> Plan {
    let planned = policies.iter().filter(|p| p.enabled).map(|p| plan_policy(p, inventory, memory, now, settings)).collect();
    Plan { now, policies: planned, not_judged: not_judged(policies, inventory, now) }.numbered()
}

/// Every resource that an enabled `rightsizing` policy's other filters
/// match but whose verdict is `not-judged`, once each.
fn not_judged(policies: &[Policy], inventory: &Inventory, now: DateTime<Utc>) -> Vec<NotJudged> {
    let mut out: Vec<NotJudged> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for policy in policies.iter().filter(|p| p.enabled) {
        let Some(rightsizing) = policy.rightsizing() else { continue };
        let others: Vec<&filters::Filter> = policy.filters.iter().filter(|f| !matches!(f, filters::Filter::Rightsizing(_))).collect();
        for resource in inventory.of(policy.resource_type) {
            let Some(a) = rightsizing.assess(resource).filter(|a| a.verdict == filters::rightsizing::Verdict::NotJudged) else { continue };
            if !others.iter().all(|f| f.evaluate(resource, now).is_some()) || !seen.insert((policy.resource_type, resource.region.clone(), resource.id.clone()))
            {
                continue;
            }
            out.push(NotJudged {
                policy: policy.name.clone(),
                resource_type: policy.resource_type,
                resource_id: resource.id.clone(),
                region: Arc::clone(&resource.region),
                instance_types: a.parts.iter().map(|p| p.current_type.clone()).collect(),
                monthly_cost_usd: resource.monthly_cost_usd,
                cost_basis: resource.cost_basis.clone(),
                reason: a.summary,
            });
        }
    }
    out
}

fn plan_policy(policy: &Policy, inventory: &Inventory, memory: &Memory<'_>, now: DateTime<Utc>, settings: &PlanSettings) -> PolicyPlan {
    let candidates = inventory.of(policy.resource_type);
    let policy_marks: Vec<&Mark> = memory.marks.iter().filter(|m| m.policy == policy.name && m.key.resource_type == policy.resource_type).collect();
    let mut entries: Vec<PlanEntry> = candidates
        .iter()
        .filter_map(|resource| {
            let reason = filters::evaluate_all(&policy.filters, resource, now)?;
            let marked = policy_marks.iter().find(|m| m.key.is(resource));
            let due = marked.map(|m| m.marked_at).zip(policy.grace()).map(|(at, grace)| at + grace);
            Some(PlanEntry {
                id: EntryId::UNNUMBERED,
                resource: Arc::clone(resource),
                reason,
                decision: sleep_once(policy, resource, memory.slept, now, decide(policy, resource, settings, due, now)),
                assessment: policy.rightsizing().and_then(|r| r.assess(resource)).map(Box::new),
                reviewed: None,
            })
        })
        .collect();
    let matched = entries.len();
    entries.extend(in_use(policy, candidates, now));
    let incomplete_regions = inventory.failed_regions(policy.resource_type);
    let unmark = policy_marks
        .iter()
        .filter(|m| !incomplete_regions.contains(&m.key.region))
        .filter_map(|m| {
            let entry = entries.iter().find(|e| m.key.is(&e.resource));
            let why = match entry.map(|e| &e.decision) {
                Some(Decision::Skip(_, why)) => format!("skipped: {why}"),
                Some(_) => return None,
                None => "no longer matches".to_string(),
            };
            let listed = candidates.iter().find(|r| m.key.is(r));
            Some(Unmark { key: m.key.clone(), arn: listed.map(|r| r.arn.clone()), why: if listed.is_none() { "resource is gone".to_string() } else { why } })
        })
        .collect();
    // After the marks to remove are found: an entry the breaker holds back keeps its mark.
    let breaker = breaker(policy, matched, candidates.len());
    if let Some(why) = &breaker {
        let why: Arc<str> = Arc::from(format!("circuit breaker: {why}"));
        for entry in entries.iter_mut().filter(|e| matches!(e.decision, Decision::Act | Decision::Mark { .. })) {
            entry.decision = Decision::Skip(Hold::Breaker, Arc::clone(&why));
        }
    }
    PolicyPlan {
        policy: policy.name.clone(),
        resource_type: policy.resource_type,
        examined: candidates.len(),
        matched,
        breaker,
        actions: policy.actions.clone(),
        incomplete_regions,
        window_days: policy.filters.iter().filter_map(filters::Filter::window_days).reduce(f64::max),
        entries,
        unmark,
    }
}

fn decide(policy: &Policy, resource: &Resource, settings: &PlanSettings, due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Decision {
    let gated: Vec<&Change> = policy.actions.iter().filter_map(Action::change).collect();
    if gated.is_empty() {
        return Decision::Report;
    }
    if !resource.described {
        return Decision::Skip(Hold::Undescribed, "could not be described, so its protection tag is unknown".into());
    }
    if let Some(value) = resource.tags.get(&settings.protect_tag) {
        return Decision::Skip(Hold::Protected, format!("protected by tag {}={value}", settings.protect_tag).into());
    }
    if let Some(why) = gated.iter().find_map(|a| a.refusal(resource)) {
        return Decision::Skip(Hold::Refused, why.into());
    }
    if gated.iter().all(|a| a.already_satisfied(resource)) {
        return Decision::Report;
    }
    match (policy.grace(), due) {
        (None, _) => Decision::Act,
        (Some(_), Some(due)) if due <= now => Decision::Act,
        (Some(_), Some(due)) => Decision::Wait { due },
        (Some(grace), None) => Decision::Mark { due: now + grace },
    }
}

/// For an `off-hours` policy: what is in its off hours and meets every
/// filter but an `idle` group, held as in use (never counted as matched).
fn in_use(policy: &Policy, candidates: &[Arc<Resource>], now: DateTime<Utc>) -> Vec<PlanEntry> {
    let Some(off_hours) = policy.off_hours() else { return Vec::new() };
    candidates
        .iter()
        .filter_map(|resource| {
            let busy = filters::in_use(&policy.filters, resource, now)?;
            let off = off_hours.evaluate(resource, now)?;
            let decision = match off_hours.status(resource, now) {
                crate::filters::offhours::Status::Invalid(why) => {
                    Decision::Skip(Hold::Misconfigured, format!("its schedule cannot be read, so it is not put to sleep: {why}").into())
                }
                _ => Decision::Skip(Hold::InUse, format!("{busy}: left up, looked at again next sweep").into()),
            };
            Some(PlanEntry { id: EntryId::UNNUMBERED, resource: Arc::clone(resource), reason: off, decision, assessment: None, reviewed: None })
        })
        .collect()
}

/// For an `off-hours` policy: a schedule that cannot be read holds the
/// resource; one already put to sleep in this off window (and started
/// again since, by a person) is left running until the next.
fn sleep_once(policy: &Policy, resource: &Resource, slept: &[Slept], now: DateTime<Utc>, decision: Decision) -> Decision {
    use crate::filters::offhours::Status;
    let Some(off_hours) = policy.off_hours() else { return decision };
    if !matches!(decision, Decision::Act | Decision::Mark { .. } | Decision::Wait { .. }) {
        return decision;
    }
    match off_hours.status(resource, now) {
        Status::Invalid(why) => Decision::Skip(Hold::Misconfigured, format!("its schedule cannot be read, so it is not put to sleep: {why}").into()),
        Status::Scheduled { schedule, .. } => {
            let since = schedule.schedule.in_force(now).map(|t| t.at);
            let last = slept.iter().filter(|s| s.policy == policy.name && s.key.is(resource)).map(|s| s.at).max();
            match (since, last) {
                (Some(since), Some(at)) if at >= since => {
                    let next = schedule.next(now, crate::schedule::Power::Off).map(|t| crate::filters::offhours::local(&schedule, t)).unwrap_or_default();
                    let why = format!(
                        "put to sleep at {} and started again since: left running until the next off time ({next})",
                        crate::filters::offhours::local(&schedule, at)
                    );
                    Decision::Skip(Hold::Settled, why.into())
                }
                _ => decision,
            }
        }
        _ => decision,
    }
}

/// Cloud Custodian's `max-resources` and `max-resources-percent`: either
/// limit, when exceeded, stops the whole policy.
fn breaker(policy: &Policy, matched: usize, examined: usize) -> Option<String> {
    if !policy.is_mutating() {
        return None;
    }
    if let Some(max) = policy.limits.max_resources {
        if matched as u64 > max {
            return Some(format!("{matched} resources matched, more than max-resources {max}"));
        }
    }
    if let Some(max_pct) = policy.limits.max_resources_percent {
        let pct = if examined == 0 { 0.0 } else { matched as f64 * 100.0 / examined as f64 };
        if pct > max_pct {
            return Some(format!("{matched} of {examined} resources matched ({pct:.1}%), more than max-resources-percent {max_pct}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile_text;
    use crate::resources::log_group::fixture;

    const POLICY: &str = "policies:\n  - name: retention\n    resource: log-group\n    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n    actions:\n      - type: set-retention\n        days: 30\n";

    fn policies(text: &str) -> Vec<Policy> {
        compile_text(std::path::Path::new("test.yaml"), text).unwrap()
    }

    fn fleet() -> Inventory {
        let mut protected = fixture("/protected", None);
        protected.tags.insert(DEFAULT_PROTECT_TAG.into(), "true".into());
        Inventory::from_resources([fixture("/none", None), fixture("/week", Some(7)), protected])
    }

    #[test]
    fn only_matching_resources_are_planned() {
        let planned = super::plan(&policies(POLICY), &fleet(), &Memory::default(), crate::clock::test_now(), &PlanSettings::default());
        let p = &planned.policies[0];
        assert_eq!((p.examined, p.matched), (3, 2));
        let ids: Vec<&str> = p.entries.iter().map(|e| e.resource.id.as_str()).collect();
        assert_eq!(ids, ["/none", "/protected"]);
        assert_eq!(p.entries[0].decision, Decision::Act);
        assert!(p.entries[0].reason.contains("retentionInDays is not set"), "{}", p.entries[0].reason);
    }

    #[test]
    fn protected_resource_is_never_acted_on() {
        let planned = super::plan(&policies(POLICY), &fleet(), &Memory::default(), crate::clock::test_now(), &PlanSettings::default());
        assert!(matches!(&planned.policies[0].entries[1].decision, Decision::Skip(Hold::Protected, why) if why.contains("protected")));
    }

    #[test]
    fn breaker_stops_the_whole_policy() {
        let text = format!("{POLICY}    max-resources: 1\n");
        let planned = super::plan(&policies(&text), &fleet(), &Memory::default(), crate::clock::test_now(), &PlanSettings::default());
        assert!(planned.breaker_tripped());
        assert!(planned.policies[0].entries.iter().all(|e| e.decision != Decision::Act));

        let text = format!("{POLICY}    max-resources-percent: 50\n");
        let planned = super::plan(&policies(&text), &fleet(), &Memory::default(), crate::clock::test_now(), &PlanSettings::default());
        assert!(planned.breaker_tripped(), "2 of 3 is more than 50%");
    }

    #[test]
    fn already_compliant_resources_are_reported_not_changed() {
        let text = "policies:\n  - name: all\n    resource: log-group\n    actions:\n      - type: set-retention\n        days: 7\n";
        let planned = super::plan(
            &policies(text),
            &Inventory::from_resources([fixture("/week", Some(7))]),
            &Memory::default(),
            crate::clock::test_now(),
            &PlanSettings::default(),
        );
        assert_eq!(planned.policies[0].entries[0].decision, Decision::Report);
    }

    #[test]
    fn a_mark_tag_the_journal_does_not_hold_starts_a_new_grace_period() {
        let text = POLICY.replace("      - type: set-retention", "      - type: mark\n        days: 7\n      - type: set-retention");
        let mut forged = fixture("/forged", None);
        forged.tags.insert(crate::actions::mark::TAG.into(), "set-retention@2000-01-01T00:00:00Z".into());
        let now = crate::clock::test_now();
        let planned = super::plan(&policies(&text), &Inventory::from_resources([forged]), &Memory::default(), now, &PlanSettings::default());
        assert_eq!(planned.policies[0].entries[0].decision, Decision::Mark { due: now + chrono::Duration::days(7) });

        let journaled = Mark {
            policy: "retention".into(),
            key: ResourceKey { resource_type: ResourceType::LogGroup, region: "us-east-1".into(), id: "/forged".into() },
            action: "set-retention".into(),
            marked_at: now - chrono::Duration::days(8),
            due_at: now - chrono::Duration::days(1),
        };
        let planned = super::plan(
            &policies(&text),
            &Inventory::from_resources([fixture("/forged", None)]),
            &Memory { marks: &[journaled], ..Memory::default() },
            now,
            &PlanSettings::default(),
        );
        assert_eq!(planned.policies[0].entries[0].decision, Decision::Act, "the journal's own mark is due");
    }

    #[test]
    fn disabled_policies_plan_nothing() {
        let text = POLICY.replace("resource: log-group", "resource: log-group\n    enabled: false");
        let planned = super::plan(&policies(&text), &fleet(), &Memory::default(), crate::clock::test_now(), &PlanSettings::default());
        assert!(planned.policies.is_empty());
    }
}
