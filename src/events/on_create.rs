//! `on-create` policies, judged the moment a resource is created: the
//! resource just read is a one-resource inventory, planned and applied as
//! a sweep plans and applies (marks and their grace periods, protection,
//! a re-read before each change, every change journaled and restorable).
//! The notice tells the creator what each matching policy did or will do.
//!
//! # The circuit breaker
//! An event's plan holds one resource, so a percentage means nothing
//! there: `max-resources` counts the resources the policy marked or
//! changed in the last 24 hours (the journal's), this one included; past
//! it, the policy holds back until a person looks (the notice says so).
//! A sweep's breaker is unchanged.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Consumer, EventError};
use crate::config::Policy;
use crate::engine::apply::{self, ApplyContext};
use crate::engine::inventory::Inventory;
use crate::engine::plan::{self, Decision, Memory};
use crate::outcome::Status;
use crate::resources::{Resource, Wanted};

/// The window `max-resources` counts over in event mode.
const BREAKER_WINDOW_HOURS: i64 = 24;

/// What one `on-create` policy made of a created resource.
#[derive(Clone, Debug, Serialize)]
pub struct Ruled {
    pub policy: String,
    pub description: Option<String>,
    /// Why it matched: the filters' sentences.
    pub reason: String,
    /// What was done or will be, in words ("marked: stop due 2026-12-05 09:00 UTC").
    pub outcome: String,
    pub status: Status,
}

impl Consumer<'_> {
    /// The `on-create` policies of `resource`'s type, judged on it and
    /// applied; the ones that matched, with what they did.
    pub(super) async fn judge_on_create(&self, resource: &Resource, account: &str, now: DateTime<Utc>) -> Result<Vec<Ruled>, EventError> {
        let t = resource.resource_type();
        let mut policies: Vec<Policy> =
            self.policies.iter().filter(|p| p.enabled && p.on_create && p.resource_type == t && p.applies_to(account, None)).cloned().collect();
        if policies.is_empty() {
            return Ok(Vec::new());
        }
        let mut resource = resource.clone();
        let mut reads = Wanted::new();
        policies.iter().flat_map(|p| &p.filters).for_each(|f| f.attributes_read(&mut reads));
        if !reads.is_empty() {
            t.describe(self.aws, &mut resource, &reads).await?;
        }
        let since = now - chrono::Duration::hours(BREAKER_WINDOW_HOURS);
        let marks = self.setup.journal.marks().all()?;
        // Per policy: its max-resources, and how many others it touched in the window.
        let mut counted: Vec<(String, u64, u64)> = Vec::new();
        for policy in &mut policies {
            policy.limits.max_resources_percent = None;
            if let Some(max) = policy.limits.max_resources {
                let changed = self.setup.journal.actions().changed_by_since(&policy.name, since)?;
                let marked = marks.iter().filter(|m| m.policy == policy.name && m.marked_at >= since);
                let mut touched: Vec<(String, String, String)> =
                    marked.map(|m| (m.key.resource_type.name().to_string(), m.key.region.clone(), m.key.id.clone())).chain(changed).collect();
                touched.sort();
                touched.dedup();
                let this = (t.name().to_string(), resource.region.to_string(), resource.id.clone());
                let others = touched.iter().filter(|k| **k != this).count() as u64;
                policy.limits.max_resources = Some(max.saturating_sub(others));
                counted.push((policy.name.clone(), max, others));
            }
        }
        // Only this resource's marks: the others are not in this inventory,
        // and must not read as gone.
        let own: Vec<plan::Mark> = marks.into_iter().filter(|m| m.key.is(&resource)).collect();
        let inventory = Inventory::from_resources([resource]);
        let mut planned = plan::plan(&policies, &inventory, &Memory { marks: &own, slept: &[] }, now, &self.setup.plan_settings);
        for p in &mut planned.policies {
            let (Some(why), Some((_, max, others))) = (&mut p.breaker, counted.iter().find(|c| c.0 == p.policy)) else { continue };
            *why = format!(
                "max-resources {max}: it marked or changed {others} other resource(s) in the last {BREAKER_WINDOW_HOURS} hours; a person decides (add the tag it asks for, or act by hand)"
            );
            let said: std::sync::Arc<str> = std::sync::Arc::from(format!("circuit breaker: {why}"));
            for entry in &mut p.entries {
                if let Decision::Skip(crate::engine::plan::Hold::Breaker, reason) = &mut entry.decision {
                    *reason = std::sync::Arc::clone(&said);
                }
            }
        }
        if planned.is_empty() {
            return Ok(Vec::new());
        }
        let run_id = format!("event-{}", uuid::Uuid::new_v4());
        self.setup.journal.begin_run(&run_id, now, self.dry_run)?;
        let ctx = ApplyContext {
            aws: self.aws,
            journal: &self.setup.journal,
            policies: &policies,
            settings: &self.setup.plan_settings,
            run_id: &run_id,
            account_id: account,
            cancel: self.cancel,
            clock: self.clock,
            fresh_sizes: None,
        };
        let mut outcomes = if self.dry_run { apply::dry_run(&planned) } else { apply::apply(&planned, &ctx).await };
        let mut ruled = Vec::new();
        for (policy_plan, entry) in planned.entries() {
            let Some(outcome) = outcomes.take(entry.id) else { continue };
            let policy = policies.iter().find(|p| p.name == policy_plan.policy);
            let gated = policy.map(Policy::gated_action_names).unwrap_or_default();
            let said = outcome.detail.as_deref().unwrap_or_default();
            let text = match (&entry.decision, outcome.status) {
                (Decision::Report, _) => "reported only (the policy changes nothing)".to_string(),
                (Decision::Mark { due } | Decision::Wait { due }, Status::Done | Status::Planned) => {
                    format!("marked: {gated} at {} unless it no longer matches", crate::text::utc(*due))
                }
                (_, Status::Done) => format!("{gated}: done{}", if said.is_empty() { String::new() } else { format!(" ({said})") }),
                (_, status) => format!("{gated}: {} ({said})", status.name()),
            };
            ruled.push(Ruled {
                policy: policy_plan.policy.clone(),
                description: policy.and_then(|p| p.description.clone()),
                reason: entry.reason.clone(),
                outcome: text,
                status: outcome.status,
            });
        }
        let summary = format!("creation event: {} of {} on-create policies matched", ruled.len(), policies.len());
        self.setup.journal.finish_run(&run_id, self.clock.now(), &summary)?;
        Ok(ruled)
    }
}
