//! `costguard plan show FILE`: a saved plan as a reviewer reads it, in
//! Markdown (for a pull request or a ticket). Everything that came from
//! AWS is escaped.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::markdown::escape;
use crate::engine::plan_file::{PlanFile, Step};
use crate::text::{usd, utc};

pub fn markdown(file: &PlanFile, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let hours = (now - file.created_at).num_minutes() as f64 / 60.0;
    let _ = writeln!(out, "# costguard plan: {} changes\n", file.changes.len());
    let _ = writeln!(out, "- Made: {} ({hours:.1} h ago), dry run {}", utc(file.created_at), escape(&file.run_id));
    let _ = writeln!(out, "- Account: {}; regions: {}", escape(&file.account_id), escape(&file.regions.join(", ")));
    let _ = writeln!(out, "- Never changed: resources tagged `{}`", escape(&file.protect_tag));
    let saving: f64 = crate::text::total(file.changes.iter().filter(|c| c.step == Step::Act).filter_map(|c| c.monthly_saving_usd));
    let unpriced = file.changes.iter().filter(|c| c.step == Step::Act && c.monthly_saving_usd.is_none()).count();
    let _ = writeln!(out, "- Saves when applied: {}/month", crate::text::usd_with_unpriced(saving, unpriced));
    let _ = writeln!(out, "\nApply with `costguard apply FILE`: each change is re-read first and done only if what made it match still holds.\n");
    for policy in &file.policies {
        let changes: Vec<_> = file.changes.iter().filter(|c| c.policy == policy.name).collect();
        let _ = writeln!(
            out,
            "## {} ({}): {} changes, {} of {} matched\n",
            escape(&policy.name),
            policy.resource_type,
            changes.len(),
            policy.matched,
            policy.examined
        );
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "| Resource | Region | Change | Monthly cost | Saves | Why it matched | Evidence |");
        let _ = writeln!(out, "|---|---|---|---:|---:|---|---|");
        for c in changes {
            let step = match c.step {
                Step::Act => escape(&c.change),
                Step::Mark { due } => format!("{} (act from {})", escape(&c.change), utc(due)),
            };
            let mut evidence: Vec<String> = c.evidence.read.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect();
            for (key, series) in &c.evidence.metrics {
                let values: Vec<String> = series.iter().flatten().take(6).map(|v| format!("{v:.4}")).collect();
                evidence.push(format!("{}: {}", escape(key), values.join(", ")));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                escape(&c.resource_id),
                escape(&c.region),
                step,
                usd(c.monthly_cost_usd),
                usd(c.monthly_saving_usd),
                escape(&c.reason),
                evidence.join("; ")
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan_file::{Evidence, PlannedChange, PlannedPolicy};
    use crate::resources::ResourceType;

    #[test]
    fn names_from_aws_cannot_break_the_table() {
        let mut resource = crate::resources::log_group::fixture("/a|<script>", None);
        resource.monthly_cost_usd = Some(12.5);
        let evidence = Evidence {
            policy_fingerprint: "f".into(),
            arn: resource.arn.clone(),
            created_at: None,
            read: [("retentionInDays".to_string(), "absent".to_string())].into(),
            change: "set retention to 30 days".into(),
            metrics: Default::default(),
        };
        let file = PlanFile {
            format: crate::engine::plan_file::FORMAT.into(),
            costguard_version: "0".into(),
            created_at: crate::clock::test_now(),
            account_id: "123456789012".into(),
            regions: vec!["us-east-1".into()],
            protect_tag: "costguard:protect".into(),
            run_id: "r".into(),
            policies: vec![PlannedPolicy { name: "retention".into(), resource_type: ResourceType::LogGroup, fingerprint: "f".into(), examined: 3, matched: 1 }],
            changes: vec![PlannedChange {
                policy: "retention".into(),
                resource_type: ResourceType::LogGroup,
                region: "us-east-1".into(),
                resource_id: resource.id.clone(),
                arn: resource.arn.clone(),
                step: Step::Act,
                change: evidence.change.clone(),
                reason: "retentionInDays is not set".into(),
                monthly_cost_usd: Some(12.5),
                monthly_saving_usd: Some(12.5),
                fingerprint: evidence.fingerprint(),
                evidence,
                resource,
            }],
        };
        let text = markdown(&file, crate::clock::test_now() + chrono::Duration::hours(2));
        assert!(text.contains("/a\\|&lt;script&gt;"), "{text}");
        assert!(text.contains("(2.0 h ago)"), "{text}");
        assert!(text.contains("Saves when applied: $12.50/month"), "{text}");
        assert!(text.contains("retentionInDays=absent"), "{text}");
    }
}
