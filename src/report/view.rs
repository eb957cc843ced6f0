//! What both report pages show at the top, as their templates read it:
//! the run, its totals, what was saved, the spend, AI spend alerts, what
//! could not be judged (the report without its findings).

use serde::Serialize;

use super::Report;

#[derive(Serialize)]
pub(super) struct Common<'a> {
    run_id: &'a str,
    account_id: &'a str,
    dry_run: bool,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: chrono::DateTime<chrono::Utc>,
    regions: &'a [String],
    totals: &'a super::Totals,
    saved_so_far: Option<String>,
    plan_line: Option<String>,
    spend: Option<&'a crate::guardrails::spend::SpendSummary>,
    ai_spend: Option<&'a crate::guardrails::velocity::figures::AiSpend>,
    ai_alerts: Vec<AlertView>,
    not_judged: Vec<NotJudgedView<'a>>,
    not_judged_unpriced: usize,
}

#[derive(Serialize)]
struct AlertView {
    rule: &'static str,
    scope: String,
    text: String,
}

#[derive(Serialize)]
struct NotJudgedView<'a> {
    resource_id: &'a str,
    resource_type: String,
    region: &'a str,
    instance_types: &'a [String],
    /// The cost as a sortable cell's value.
    cost_v: String,
    monthly_cost_usd: Option<f64>,
    reason: &'a str,
}

/// A number as a sortable cell's `data-v` (unknown sorts first).
pub(super) fn sort_value(v: Option<f64>) -> String {
    v.unwrap_or(-1.0).to_string()
}

impl<'a> Common<'a> {
    pub(super) fn of(report: &'a Report) -> Self {
        Common {
            run_id: &report.run_id,
            account_id: &report.account_id,
            dry_run: report.dry_run,
            started_at: report.started_at,
            finished_at: report.finished_at,
            regions: &report.regions,
            totals: &report.totals,
            saved_so_far: report.saved.as_ref().map(|s| crate::text::saved_so_far(s.monthly_usd, s.changes, s.since)),
            plan_line: report.plan_file.as_ref().map(|p| p.line()),
            spend: report.spend.as_ref(),
            ai_spend: report.ai_spend.as_ref(),
            ai_alerts: report
                .ai_spend
                .iter()
                .flat_map(|ai| &ai.alerts)
                .map(|a| AlertView { rule: a.rule.as_str(), scope: crate::notify::ai_alert::scope(a), text: crate::notify::ai_alert::rule_text(a) })
                .collect(),
            not_judged: report
                .not_judged
                .iter()
                .map(|n| NotJudgedView {
                    resource_id: &n.resource_id,
                    resource_type: n.resource_type.to_string(),
                    region: &n.region,
                    instance_types: &n.instance_types,
                    cost_v: sort_value(n.monthly_cost_usd),
                    monthly_cost_usd: n.monthly_cost_usd,
                    reason: &n.reason,
                })
                .collect(),
            not_judged_unpriced: report.not_judged.iter().filter(|n| n.monthly_cost_usd.is_none()).count(),
        }
    }
}
