//! Saved plans: `sweep --dry-run --save-plan FILE` writes what the sweep
//! would change, with the evidence of each match; `apply FILE` does exactly
//! those changes whose evidence still holds. Terraform's plan files, for
//! a sweeper: a person reviews the file, and nothing they did not see is
//! changed.
//!
//! The evidence of an entry is what made it match, as read: the policy's
//! own text (as a digest), the resource's identity (ARN and creation time:
//! a resource deleted and made again under the same name is another
//! resource), the attributes and tags its filters read, and the change
//! itself with its parameters (a resize's target type). Its SHA-256 is the
//! entry's fingerprint. Metric values are saved for the reviewer but not
//! fingerprinted, since their window moves every minute; `apply` judges
//! them again on fresh data instead (an endpoint busy again no longer
//! matches).
//!
//! Pure: reading and writing the file is the caller's; checking the file
//! against the policies, the account and the clock is here.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use super::evidence::{policy_fingerprint, Evidence};
use super::plan::{Decision, Hold, Plan, PlanEntry, PolicyPlan};
use crate::config::Policy;
use crate::resources::{Resource, ResourceType};

/// The file's format; a reader refuses any other.
pub const FORMAT: &str = "costguard-plan/1";

/// A plan file larger than this is refused unread: about 12,000 changes
/// of log groups (1.3 KB each), more than anyone reviews, and at most
/// about 70 MB to read (a 63 MiB file took 194 MB with a debug build).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub format: String,
    /// The costguard that made it (for the reader; not checked).
    pub costguard_version: String,
    pub created_at: DateTime<Utc>,
    pub account_id: String,
    pub regions: Vec<String>,
    /// The protection tag the plan was made with.
    pub protect_tag: String,
    /// The dry run's report, for the reviewer's cross-reference.
    pub run_id: String,
    pub policies: Vec<PlannedPolicy>,
    pub changes: Vec<PlannedChange>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlannedPolicy {
    pub name: String,
    pub resource_type: ResourceType,
    /// SHA-256 of the compiled policy: filters, actions, limits.
    pub fingerprint: String,
    pub examined: usize,
    pub matched: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlannedChange {
    pub policy: String,
    pub resource_type: ResourceType,
    pub region: String,
    pub resource_id: String,
    pub arn: String,
    /// `act` now, or `mark` (start the grace period; act at `due`).
    pub step: Step,
    /// What would be done, with its parameters, in words.
    pub change: String,
    pub reason: String,
    pub monthly_cost_usd: Option<f64>,
    pub monthly_saving_usd: Option<f64>,
    pub evidence: Evidence,
    /// SHA-256 of the evidence (without the metrics).
    pub fingerprint: String,
    /// The resource as the sweep saw it: what `apply` re-reads and
    /// compares with (its sizes, prices and metric dimensions are for the
    /// reviewer: `apply` reads them again).
    pub resource: Resource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    Act,
    Mark { due: DateTime<Utc> },
}

/// The plan's changes as a file: the entries that would change AWS (act
/// or mark); reports, waits and skips change nothing and are left out.
pub fn from_plan(plan: &Plan, policies: &[Policy], account_id: &str, regions: &[String], protect_tag: &str, run_id: &str) -> PlanFile {
    let mut changes = Vec::new();
    let mut planned_policies = Vec::new();
    for policy_plan in &plan.policies {
        let Some(policy) = policies.iter().find(|p| p.name == policy_plan.policy) else { continue };
        let fingerprint = policy_fingerprint(policy);
        planned_policies.push(PlannedPolicy {
            name: policy.name.clone(),
            resource_type: policy.resource_type,
            fingerprint: fingerprint.clone(),
            examined: policy_plan.examined,
            matched: policy_plan.matched,
        });
        for entry in &policy_plan.entries {
            let step = match entry.decision {
                Decision::Act => Step::Act,
                Decision::Mark { due } => Step::Mark { due },
                Decision::Wait { .. } | Decision::Report | Decision::Skip(..) => continue,
            };
            let r = &entry.resource;
            let evidence = Evidence::of(policy, &fingerprint, r, entry.assessment.as_deref());
            changes.push(PlannedChange {
                policy: policy.name.clone(),
                resource_type: policy.resource_type,
                region: r.region.to_string(),
                resource_id: r.id.clone(),
                arn: r.arn.clone(),
                step,
                change: match step {
                    Step::Act => evidence.change.clone(),
                    Step::Mark { due } => format!("mark; {} due {}", crate::actions::gated_names(&policy.actions), crate::text::utc(due)),
                },
                reason: entry.reason.clone(),
                monthly_cost_usd: r.monthly_cost_usd,
                monthly_saving_usd: entry.assessment.as_ref().and_then(|a| a.monthly_saving_usd).or_else(|| r.avoidable_cost()),
                fingerprint: evidence.fingerprint(),
                evidence,
                resource: r.as_ref().clone(),
            });
        }
    }
    PlanFile {
        format: FORMAT.to_string(),
        costguard_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: plan.now,
        account_id: account_id.to_string(),
        regions: regions.to_vec(),
        protect_tag: protect_tag.to_string(),
        run_id: run_id.to_string(),
        policies: planned_policies,
        changes,
    }
}

/// Why a plan file cannot be applied at all (nothing is changed).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct Refused(pub Vec<String>);

/// What `apply` checks before anything: the format, the age, the account,
/// the regions, the protection tag, and that every policy the plan used is
/// still enabled and unchanged (with the breaker's limits still met).
pub struct Expect<'a> {
    pub now: DateTime<Utc>,
    pub max_age: Duration,
    pub account_id: &'a str,
    /// The regions this apply may touch; empty: the plan's own.
    pub regions: &'a [String],
    pub protect_tag: &'a str,
    pub policies: &'a [Policy],
}

pub fn check(file: &PlanFile, expect: &Expect<'_>) -> Result<(), Refused> {
    let mut why = Vec::new();
    if file.format != FORMAT {
        return Err(Refused(vec![format!("format {:?} is not {FORMAT:?}", file.format)]));
    }
    let age = expect.now - file.created_at;
    if age > expect.max_age {
        why.push(format!(
            "made {} ({} h ago), older than --max-age {} h: make a new plan and review it",
            crate::text::utc(file.created_at),
            age.num_hours(),
            expect.max_age.num_hours()
        ));
    }
    if age < -Duration::minutes(5) {
        why.push(format!("made {}, in the future: check this machine's clock", crate::text::utc(file.created_at)));
    }
    if file.account_id != expect.account_id {
        why.push(format!("made for account {}, but the credentials are for account {}", file.account_id, expect.account_id));
    }
    let other_regions: Vec<&String> = file.changes.iter().map(|c| &c.region).filter(|r| !file.regions.contains(r)).collect();
    if !other_regions.is_empty() {
        why.push(format!("has changes in regions it was not made for: {}", dedup(other_regions).join(", ")));
    }
    if !expect.regions.is_empty() {
        let outside: Vec<&String> = file.regions.iter().filter(|r| !expect.regions.contains(r)).collect();
        if !outside.is_empty() {
            why.push(format!(
                "made for regions {}, outside the regions given here ({})",
                outside.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                expect.regions.join(", ")
            ));
        }
    }
    if file.protect_tag != expect.protect_tag {
        why.push(format!("made with protection tag {:?}, not {:?}: pass --protect-tag {}", file.protect_tag, expect.protect_tag, file.protect_tag));
    }
    for planned in &file.policies {
        match expect.policies.iter().find(|p| p.name == planned.name) {
            None => why.push(format!("policy {:?} is no longer in the policy files", planned.name)),
            Some(p) if !p.enabled => why.push(format!("policy {:?} is disabled now", planned.name)),
            Some(p) if policy_fingerprint(p) != planned.fingerprint => {
                why.push(format!("policy {:?} changed since the plan was made ({}): make a new plan", planned.name, p.source.display()))
            }
            // Its scope as it is now: one narrowed to other accounts, or
            // to accounts by tags apply cannot read, changes nothing.
            Some(p) if !p.applies_to(&file.account_id, None) => {
                why.push(format!("policy {:?} does not apply to account {} now ({})", planned.name, file.account_id, p.source.display()))
            }
            Some(p) => {
                // The circuit breakers, as a sweep applies them.
                let count = file.changes.iter().filter(|c| c.policy == planned.name).count() as u64;
                if let Some(max) = p.limits.max_resources.filter(|max| count > *max) {
                    why.push(format!("policy {:?} has {count} changes in the plan, more than its max-resources {max}", planned.name));
                }
                if let Some(pct) = p.limits.max_resources_percent.filter(|pct| count as f64 > pct / 100.0 * planned.examined as f64) {
                    why.push(format!(
                        "policy {:?} has {count} changes in the plan, more than its max-resources-percent {pct}% of the {} it examined",
                        planned.name, planned.examined
                    ));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for change in &file.changes {
        if !seen.insert((&change.policy, &change.region, change.resource_type, &change.resource_id)) {
            why.push(format!("change to {} in {} by policy {:?} is listed twice", change.resource_id, change.region, change.policy));
        }
    }
    for change in &file.changes {
        match file.policies.iter().find(|p| p.name == change.policy) {
            None => why.push(format!("change to {} names policy {:?}, which the plan does not list", change.resource_id, change.policy)),
            Some(p) if p.resource_type != change.resource_type || change.resource.resource_type() != change.resource_type => {
                why.push(format!("change to {} is for another resource type than its policy {:?}", change.resource_id, change.policy))
            }
            Some(_) if change.resource.id != change.resource_id || *change.resource.region != change.region || change.resource.arn != change.arn => {
                why.push(format!("change to {} does not agree with its own resource record", change.resource_id))
            }
            Some(_) => {}
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(Refused(why))
    }
}

fn dedup(mut v: Vec<&String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v.into_iter().cloned().collect()
}

/// The journal's view of a planned change at apply time: the grace period
/// is kept whatever the file says.
pub fn decision_now(change: &PlannedChange, policy: &Policy, marks: &[super::plan::Mark], now: DateTime<Utc>) -> Decision {
    let mark = marks.iter().find(|m| m.policy == change.policy && m.key.region == change.region && m.key.id == change.resource_id);
    match (change.step, policy.grace(), mark) {
        (Step::Act, None, _) => Decision::Act,
        (Step::Act, Some(_), Some(m)) if m.due_at <= now => Decision::Act,
        (Step::Act, Some(_), Some(m)) => {
            Decision::Skip(Hold::Review, format!("its grace period runs until {}; not changed", crate::text::utc(m.due_at)).into())
        }
        (Step::Act, Some(_), None) => {
            Decision::Skip(Hold::Review, "its mark is no longer in the journal (removed since the plan), so its grace period has not run; not changed".into())
        }
        (Step::Mark { .. }, Some(_), Some(m)) => Decision::Skip(Hold::Review, format!("already marked on {}", crate::text::utc(m.marked_at)).into()),
        (Step::Mark { .. }, Some(grace), None) => Decision::Mark { due: now + grace },
        (Step::Mark { .. }, None, _) => Decision::Skip(Hold::Review, "the policy has no grace period any more".into()),
    }
}

/// The plan `apply` runs: each change as planned (with the journal's say
/// on grace periods), carrying its evidence so apply can check it on the
/// resource as re-read.
pub fn to_plan(file: &PlanFile, policies: &[Policy], marks: &[super::plan::Mark], now: DateTime<Utc>) -> Plan {
    let mut plan = Plan { now, policies: Vec::new(), not_judged: Vec::new() };
    for planned in &file.policies {
        let Some(policy) = policies.iter().find(|p| p.name == planned.name) else { continue };
        let entries = file
            .changes
            .iter()
            .filter(|c| c.policy == planned.name)
            .map(|c| PlanEntry {
                id: super::plan::EntryId::UNNUMBERED,
                resource: Arc::new(c.resource.clone()),
                reason: c.reason.clone(),
                decision: decision_now(c, policy, marks, now),
                assessment: None,
                reviewed: Some(Arc::new(c.evidence.clone())),
            })
            .collect::<Vec<_>>();
        plan.policies.push(PolicyPlan {
            policy: planned.name.clone(),
            resource_type: planned.resource_type,
            examined: planned.examined,
            matched: entries.len(),
            breaker: None,
            actions: policy.actions.clone(),
            incomplete_regions: Vec::new(),
            window_days: policy.filters.iter().filter_map(crate::filters::Filter::window_days).reduce(f64::max),
            entries,
            unmark: Vec::new(),
        });
    }
    plan.numbered()
}

/// Why a plan file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot read the plan: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: not a costguard plan file: {source}", path.display())]
    Parse { path: std::path::PathBuf, line: usize, column: usize, source: serde_json::Error },
}

/// Reads a plan file, bounded, with the place of any error in it.
pub fn read(path: &std::path::Path) -> Result<PlanFile, ReadError> {
    let text = crate::files::read_text_bounded(path, MAX_FILE_BYTES).map_err(|source| ReadError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| ReadError::Parse { path: path.to_path_buf(), line: e.line(), column: e.column(), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile_text;
    use crate::engine::inventory::Inventory;
    use crate::engine::plan::{plan, PlanSettings};
    use crate::resources::log_group::fixture;

    const POLICY: &str = "policies:\n  - name: retention\n    resource: log-group\n    filters:\n      - type: value\n        key: retentionInDays\n        value: absent\n      - type: tag\n        key: team\n        value: absent\n    actions:\n      - type: set-retention\n        days: 30\n";

    fn policies(text: &str) -> Vec<Policy> {
        compile_text(std::path::Path::new("test.yaml"), text).unwrap()
    }

    fn saved(text: &str) -> (PlanFile, Vec<Policy>) {
        let policies = policies(text);
        let now = crate::clock::test_now();
        let planned = plan(
            &policies,
            &Inventory::from_resources([fixture("/a", None), fixture("/b", Some(7))]),
            &crate::engine::plan::Memory::default(),
            now,
            &PlanSettings::default(),
        );
        (from_plan(&planned, &policies, "123456789012", &["us-east-1".to_string()], "costguard:protect", "run-1"), policies)
    }

    fn expect<'a>(policies: &'a [Policy], regions: &'a [String]) -> Expect<'a> {
        Expect {
            now: crate::clock::test_now() + Duration::hours(1),
            max_age: Duration::hours(24),
            account_id: "123456789012",
            regions,
            protect_tag: "costguard:protect",
            policies,
        }
    }

    #[test]
    fn only_changes_are_saved_with_what_their_filters_read() {
        let (file, _) = saved(POLICY);
        assert_eq!(file.changes.len(), 1, "/b has retention; it is not a change");
        let change = &file.changes[0];
        assert_eq!(change.resource_id, "/a");
        assert_eq!(change.step, Step::Act);
        assert_eq!(change.evidence.read.get("retentionInDays").map(String::as_str), Some("absent"));
        assert_eq!(change.evidence.read.get("tag \"team\"").map(String::as_str), Some("absent"));
        assert_eq!(change.fingerprint, change.evidence.fingerprint());
        assert!(change.change.contains("30"), "{}", change.change);
    }

    #[test]
    fn the_file_reads_back_as_written() {
        let (file, policies) = saved(POLICY);
        let text = serde_json::to_string_pretty(&file).unwrap();
        let back: PlanFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back.changes[0].fingerprint, back.changes[0].evidence.fingerprint());
        check(&back, &expect(&policies, &[])).unwrap();
    }

    #[test]
    fn a_changed_policy_an_old_plan_or_another_account_is_refused() {
        let (file, _) = saved(POLICY);
        let changed = policies(&POLICY.replace("days: 30", "days: 14"));
        let why = check(&file, &expect(&changed, &[])).unwrap_err().0;
        assert!(why[0].contains("changed since the plan"), "{why:?}");

        let (file, policies) = saved(POLICY);
        let mut late = expect(&policies, &[]);
        late.now += Duration::hours(30);
        late.account_id = "210987654321";
        let why = check(&file, &late).unwrap_err().0;
        assert!(why.iter().any(|w| w.contains("older than --max-age 24 h")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("account 123456789012")), "{why:?}");

        let regions = ["eu-west-1".to_string()];
        let why = check(&file, &expect(&policies, &regions)).unwrap_err().0;
        assert!(why[0].contains("outside the regions"), "{why:?}");
    }

    #[test]
    fn a_narrowed_scope_a_repeated_change_or_a_tripped_breaker_refuses_the_plan() {
        // Narrowed to other accounts after the review: its fingerprint changed.
        let (file, _) = saved(POLICY);
        let narrowed = policies(&format!("{POLICY}    accounts:\n      ids: ['111111111111']\n"));
        let why = check(&file, &expect(&narrowed, &[])).unwrap_err().0;
        assert!(why[0].contains("changed since the plan"), "{why:?}");
        // Made with a scope that leaves this account out (its fingerprint agrees).
        let (file, scoped) = saved(&format!("{POLICY}    accounts:\n      ids: ['111111111111']\n"));
        let why = check(&file, &expect(&scoped, &[])).unwrap_err().0;
        assert!(why.iter().any(|w| w.contains("does not apply to account 123456789012")), "{why:?}");

        let (mut file, policies) = saved(POLICY);
        let twice = file.changes[0].clone();
        file.changes.push(twice);
        let why = check(&file, &expect(&policies, &[])).unwrap_err().0;
        assert!(why.iter().any(|w| w.contains("/a in us-east-1 by policy \"retention\" is listed twice")), "{why:?}");

        // 1 change of 2 examined is within 60%; of 1 examined (an edited file), not.
        let text = format!("{POLICY}    max-resources-percent: 60\n");
        let (mut file, policies) = saved(&text);
        check(&file, &expect(&policies, &[])).unwrap();
        file.policies[0].examined = 1;
        let why = check(&file, &expect(&policies, &[])).unwrap_err().0;
        assert!(why.iter().any(|w| w.contains("more than its max-resources-percent 60%")), "{why:?}");
    }

    #[test]
    fn a_changed_attribute_or_tag_is_named() {
        let (file, policies) = saved(POLICY);
        let planned = &file.changes[0].evidence;
        let mut now = file.changes[0].resource.clone();
        now.tags.insert("team".into(), "ml".into());
        let fresh = Evidence::of(&policies[0], &planned.policy_fingerprint, &now, None);
        assert_ne!(fresh.fingerprint(), planned.fingerprint());
        assert_eq!(fresh.differences(planned), ["tag \"team\" was absent and is \"ml\""]);

        let mut recreated = file.changes[0].resource.clone();
        recreated.created_at = recreated.created_at.map(|t| t + Duration::hours(2));
        assert!(Evidence::of(&policies[0], &planned.policy_fingerprint, &recreated, None).differences(planned)[0].contains("created again"));
    }

    #[test]
    fn grace_periods_hold_whatever_the_file_says() {
        let text = POLICY.replace("      - type: set-retention", "      - type: mark\n        days: 7\n      - type: set-retention");
        let policies = policies(&text);
        let now = crate::clock::test_now();
        let change = PlannedChange { step: Step::Act, ..saved(POLICY).0.changes[0].clone() };
        let mark = crate::engine::plan::Mark {
            policy: "retention".into(),
            key: crate::resources::ResourceKey { resource_type: ResourceType::LogGroup, region: "us-east-1".into(), id: "/a".into() },
            action: "set-retention".into(),
            marked_at: now - Duration::days(3),
            due_at: now + Duration::days(4),
        };
        assert!(matches!(decision_now(&change, &policies[0], &[], now), Decision::Skip(_, why) if why.contains("no longer in the journal")));
        assert!(
            matches!(decision_now(&change, &policies[0], std::slice::from_ref(&mark), now), Decision::Skip(_, why) if why.contains("grace period runs until"))
        );
        let due = crate::engine::plan::Mark { due_at: now - Duration::minutes(1), ..mark };
        assert_eq!(decision_now(&change, &policies[0], &[due], now), Decision::Act);
    }
}
