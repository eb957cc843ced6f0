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
    /// The saving at stake, split; each part with its unpriced count.
    saving: &'a super::SavingSplit,
    act_first: Vec<ActFirstView<'a>>,
    since: Option<SinceView<'a>>,
    saved_so_far: Option<String>,
    plan_line: Option<String>,
    spend: Option<&'a crate::guardrails::spend::SpendSummary>,
    ai_spend: Option<&'a crate::guardrails::velocity::figures::AiSpend>,
    ai_alerts: Vec<AlertView>,
    not_judged: Vec<NotJudgedView<'a>>,
    not_judged_unpriced: usize,
    sleeping: &'a [crate::engine::wake::SleepLine],
    /// What the sleeps shown saved, their hours asleep at their price.
    sleeping_saved_usd: f64,
    /// Of the lines, those kept up because in use (the rest slept).
    sleeping_in_use: usize,
    errors: Vec<ErrorView<'a>>,
    emails: Option<EmailsView<'a>>,
    guardrails: Vec<GuardrailView<'a>>,
}

#[derive(Serialize)]
struct ErrorView<'a> {
    place: String,
    kind: super::ErrorKind,
    message: &'a str,
    what_to_do: &'static str,
}

#[derive(Serialize)]
struct EmailsView<'a> {
    #[serde(flatten)]
    report: &'a crate::notify::EmailReport,
    messages: Vec<MessageView<'a>>,
}

#[derive(Serialize)]
struct MessageView<'a> {
    status: String,
    findings: usize,
    to: &'a [String],
    subject: &'a str,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct GuardrailView<'a> {
    kind: String,
    name: &'a str,
    change: &'static str,
    differences: &'a [String],
    status: &'static str,
    detail: Option<&'a str>,
    spend: Option<&'a crate::guardrails::BudgetSpend>,
}

#[derive(Serialize)]
pub(super) struct ActFirstView<'a> {
    rank: usize,
    #[serde(flatten)]
    entry: &'a super::ActFirst,
    resource_type_name: &'static str,
    standing_text: &'static str,
    effort_text: &'static str,
    /// Days and hours of data, or what it rests on.
    confidence_text: String,
    saving_v: String,
}

/// What changed since the last report, as the heads show it.
#[derive(Serialize)]
struct SinceView<'a> {
    #[serde(flatten)]
    since: &'a super::history::SinceLastRun,
    new_usd: f64,
    resolved_usd: f64,
    /// Still open after 30 days or more.
    month_old: usize,
    resolved: Vec<ResolvedView<'a>>,
}

#[derive(Serialize)]
struct ResolvedView<'a> {
    #[serde(flatten)]
    item: &'a super::history::Resolved,
    how_text: &'static str,
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
            saving: &report.totals.saving_usd,
            act_first: report.act_first.iter().enumerate().map(|(i, a)| ActFirstView::of(i + 1, a)).collect(),
            sleeping: &report.sleeping,
            sleeping_saved_usd: crate::text::total(report.sleeping.iter().filter_map(|s| s.saved_usd)),
            sleeping_in_use: report.sleeping.iter().filter(|s| s.status == crate::engine::wake::SleepStatus::InUse).count(),
            since: report.since_last_run.as_ref().map(|s| SinceView {
                since: s,
                new_usd: crate::text::total(s.new.iter().filter_map(|n| n.monthly_saving_usd)),
                resolved_usd: crate::text::total(s.resolved.iter().filter_map(|n| n.finding.monthly_saving_usd)),
                month_old: s.still_open.iter().filter(|o| o.days_open >= 30).count(),
                resolved: s.resolved.iter().map(|item| ResolvedView { item, how_text: item.how.as_str() }).collect(),
            }),
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
            errors: report
                .errors
                .iter()
                .map(|e| ErrorView {
                    place: [e.region.clone(), e.resource_type.map(|t| t.to_string())].into_iter().flatten().collect::<Vec<_>>().join(" "),
                    kind: e.kind,
                    message: &e.message,
                    what_to_do: e.kind.what_to_do(),
                })
                .collect(),
            emails: report.emails.as_ref().map(|e| EmailsView {
                report: e,
                messages: e
                    .messages
                    .iter()
                    .map(|m| MessageView { status: m.status.to_string(), findings: m.findings, to: &m.to, subject: &m.subject, error: m.error.as_deref() })
                    .collect(),
            }),
            guardrails: report
                .guardrails
                .iter()
                .map(|g| GuardrailView {
                    kind: g.kind.to_string(),
                    name: &g.name,
                    change: g.change.name(),
                    differences: &g.differences,
                    status: g.status.name(),
                    detail: g.detail.as_deref(),
                    spend: g.spend.as_ref(),
                })
                .collect(),
        }
    }
}

impl<'a> ActFirstView<'a> {
    pub(super) fn of(rank: usize, entry: &'a super::ActFirst) -> Self {
        use crate::resources::Effort;
        let confidence_text = match &entry.confidence {
            None => "settings read now".to_string(),
            Some(c) => match c.hours_of_data {
                Some(h) => format!("{} d, {h:.0} h measured", c.days_of_data),
                None => format!("{} d of metrics", c.days_of_data),
            },
        };
        ActFirstView {
            rank,
            entry,
            resource_type_name: entry.resource_type.name(),
            standing_text: match entry.standing {
                crate::outcome::Standing::WillChange if entry.status == crate::outcome::Status::Done => "done",
                crate::outcome::Standing::WillChange => "will change",
                crate::outcome::Standing::NeedsDecision => "needs a decision",
                crate::outcome::Standing::LeftAlone => "left alone",
            },
            effort_text: match entry.effort {
                Some(Effort::Low) => "low",
                Some(Effort::Medium) => "medium",
                Some(Effort::High) => "high",
                None => "unknown",
            },
            confidence_text,
            saving_v: entry.monthly_saving_usd.to_string(),
        }
    }
}
/// What a ledger's total saved so far, in words.
pub(super) fn saved_line(t: &crate::engine::ledger::SavingsTotal) -> String {
    crate::text::saved_so_far(t.monthly_usd, t.changes, t.since)
}
