//! `report.md`, rendered from `templates/report.md.j2` piece by piece:
//! the head (totals, spend, errors, summary, guardrails, not judged), then
//! each policy's findings a batch of rows at a time, so a large report is
//! never held whole (neither as text nor as template values). This file hands
//! the template its data; the wording and layout are the template's.

use std::fmt::Write;

use serde::Serialize;

use super::page::{self, value, RenderError};
use super::view::Common;
use super::{Finding, Report};
use crate::resources::sizes::JudgedBy;

const TEMPLATE: &str = "report.md.j2";

/// What the head macro reads: the report without its findings, and the
/// few texts that need code to be worded (a count of changes saved since a
/// date, the plan's line, where each error happened).
#[derive(Serialize)]
struct Head<'a> {
    #[serde(flatten)]
    common: Common<'a>,
    api_calls: &'a std::collections::BTreeMap<String, u64>,
    policies: &'a [super::PolicySummary],
}

/// One finding's row.
#[derive(Serialize)]
pub(super) struct FindingView<'a> {
    resource_id: &'a str,
    region: &'a str,
    reason: &'a str,
    action: &'a str,
    status: String,
    detail: Option<&'a str>,
    monthly_cost_usd: Option<f64>,
    cost_basis: Option<&'a str>,
}

impl<'a> FindingView<'a> {
    pub(super) fn of(f: &'a Finding) -> Self {
        FindingView {
            resource_id: &f.resource_id,
            region: &f.region,
            reason: &f.reason,
            action: &f.action_description,
            status: format!("{:?}", f.status).to_lowercase(),
            detail: f.detail.as_deref(),
            monthly_cost_usd: f.monthly_cost_usd,
            cost_basis: f.cost_basis.as_deref(),
        }
    }
}

/// A rightsizing finding's row group: the finding and its parts.
#[derive(Serialize)]
struct RecommendationRow<'a> {
    finding: FindingView<'a>,
    parts: Vec<PartView<'a>>,
}

/// One part (an instance, or an endpoint's variant) of a rightsizing
/// finding, with the figures its verdict used, worded.
#[derive(Serialize)]
struct PartView<'a> {
    name: &'a str,
    verdict: &'static str,
    why: &'a str,
    current: String,
    recommended: String,
    measured: String,
    projected: String,
    current_monthly_usd: Option<f64>,
    recommended_monthly_usd: Option<f64>,
    saving_usd: Option<f64>,
}

fn head(report: &Report) -> Head<'_> {
    Head { common: Common::of(report), api_calls: &report.api_calls, policies: &report.policies }
}

/// A rightsizing finding's parts, worded.
fn parts(f: &Finding) -> Vec<PartView<'_>> {
    let Some(a) = &f.recommendation else { return Vec::new() };
    let sized = |t: &str, n: i32| if n == 1 { t.to_string() } else { format!("{n} × {t}") };
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}%"));
    a.parts
        .iter()
        .map(|part| {
            let recommended = match (&part.recommended_type, part.recommended_count) {
                (_, Some(0)) => "stop".to_string(),
                (Some(t), Some(n)) => sized(t, n),
                _ => "–".to_string(),
            };
            let measured = match part.judged_by {
                JudgedBy::Gpu => format!(
                    "busiest GPU {} {}, GPUs together {}, GPU memory {} ({:.0} h in {} d)",
                    part.statistic,
                    pct(part.gpu_peak_pct),
                    pct(part.gpu_summed_pct),
                    part.gpu_memory_peak_pct.map_or("not measured".to_string(), |m| format!("{m:.1}%")),
                    part.hours_of_data.unwrap_or(0.0),
                    part.days
                ),
                JudgedBy::Nothing => "not measured".to_string(),
                JudgedBy::Cpu => format!(
                    "CPU {} {}, memory {} ({:.0} h in {} d)",
                    part.statistic,
                    pct(part.cpu_peak_pct),
                    part.memory_peak_pct.map_or("not measured".to_string(), |m| format!("{m:.1}%")),
                    part.hours_of_data.unwrap_or(0.0),
                    part.days
                ),
            };
            let projected = match (part.projected_gpu_pct, part.projected_cpu_pct) {
                (Some(gpu), _) => format!("GPU {gpu:.1}%{}", part.projected_gpu_memory_pct.map_or(String::new(), |m| format!(", GPU memory {m:.1}%"))),
                (None, Some(cpu)) => format!("CPU {cpu:.1}%{}", part.projected_memory_pct.map_or(String::new(), |m| format!(", memory {m:.1}%"))),
                (None, None) => "–".to_string(),
            };
            PartView {
                name: &part.name,
                verdict: part.verdict.name(),
                why: &part.why,
                current: sized(&part.current_type, part.current_count),
                recommended,
                measured,
                projected,
                current_monthly_usd: part.current_monthly_usd,
                recommended_monthly_usd: part.recommended_monthly_usd,
                saving_usd: part.current_monthly_usd.zip(part.recommended_monthly_usd).map(|(c, r)| c - r),
            }
        })
        .collect()
}

/// `report.md`, written as it goes.
pub fn write_to(report: &Report, out: &mut dyn Write) -> Result<(), RenderError> {
    page::with_page(TEMPLATE, |page| {
        page.write(out, "head", &[value(&head(report))])?;
        for p in &report.policies {
            let findings: Vec<&Finding> = report.findings.iter().filter(|f| *f.policy == *p.name).collect();
            if findings.is_empty() {
                continue;
            }
            let recommendations = findings.iter().any(|f| f.recommendation.is_some());
            page.write(out, "policy", &[value(&p.name), value(&recommendations)])?;
            if recommendations {
                page.write_rows(out, "recommendations", findings.into_iter().map(|f| RecommendationRow { finding: FindingView::of(f), parts: parts(f) }))?;
            } else {
                page.write_rows(out, "findings", findings.into_iter().map(FindingView::of))?;
            }
        }
        Ok(())
    })
}

/// The accounts an organization's `report.md` lists (most at stake
/// first), with their findings; report.json and report.html have them all.
pub const MD_ACCOUNTS: usize = 50;

/// An organization's `report.md`: the totals, the accounts most at stake
/// first (at most [`MD_ACCOUNTS`], each linked to its own report), the
/// guardrails, who hears about what, those accounts' findings most at
/// stake; written as it goes. `account_page` is an account's report.html.
pub fn organization(report: &super::organization::OrgReport, account_page: &dyn Fn(&str) -> Option<String>, out: &mut dyn Write) -> Result<(), RenderError> {
    #[derive(Serialize)]
    struct OrgHead<'a> {
        run_id: &'a str,
        dry_run: bool,
        started_at: chrono::DateTime<chrono::Utc>,
        finished_at: chrono::DateTime<chrono::Utc>,
        totals: &'a super::organization::OrgTotals,
        act_first: Vec<super::view::ActFirstView<'a>>,
        accounts: Vec<AccountView<'a>>,
        left_out: &'a [super::organization::LeftOut],
        guardrails_line: Option<String>,
        guardrail_changes: Vec<GuardrailLineView<'a>>,
        guardrail_errors: &'a [String],
        digests: &'a [super::organization::DigestSummary],
        email_errors: &'a [String],
        saved_line: String,
        per_account: usize,
        /// Accounts past the first MD_ACCOUNTS, not listed here.
        more_accounts: usize,
    }
    #[derive(Serialize)]
    struct AccountView<'a> {
        #[serde(flatten)]
        account: &'a super::organization::AccountSummary,
        status_text: String,
        /// Its own report.md.
        link: Option<String>,
    }
    #[derive(Serialize)]
    struct GuardrailLineView<'a> {
        kind: String,
        name: &'a str,
        change: &'a str,
        status: String,
        detail: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct OrgFindingView<'a> {
        account_id: &'a str,
        policy: &'a str,
        region: &'a str,
        resource_id: &'a str,
        action: &'a str,
        status: String,
        monthly_cost_usd: Option<f64>,
    }
    let g = report.guardrails.as_ref();
    let head = OrgHead {
        run_id: &report.run_id,
        dry_run: report.dry_run,
        started_at: report.started_at,
        finished_at: report.finished_at,
        totals: &report.totals,
        act_first: report.act_first.iter().enumerate().map(|(i, a)| super::view::ActFirstView::of(i + 1, a)).collect(),
        accounts: report
            .accounts
            .iter()
            .take(MD_ACCOUNTS)
            .map(|a| AccountView {
                account: a,
                status_text: a.status.to_string(),
                link: account_page(&a.account_id).map(|p| p.trim_end_matches("report.html").to_string() + "report.md"),
            })
            .collect(),
        more_accounts: report.accounts.len().saturating_sub(MD_ACCOUNTS),
        left_out: &report.left_out,
        guardrails_line: g.map(|g| g.line()),
        guardrail_changes: g
            .iter()
            .flat_map(|g| &g.changes)
            .map(|c| GuardrailLineView {
                kind: c.kind.to_string(),
                name: &c.name,
                change: &c.change,
                status: format!("{:?}", c.status),
                detail: c.detail.as_deref(),
            })
            .collect(),
        guardrail_errors: g.map_or(&[][..], |g| &g.errors),
        digests: &report.digests,
        email_errors: &report.email_errors,
        saved_line: super::view::saved_line(&report.totals.saved),
        per_account: super::organization::FINDINGS_PER_ACCOUNT,
    };
    page::with_page(TEMPLATE, |page| {
        page.write(out, "org_head", &[value(&head)])?;
        let listed: std::collections::HashSet<&str> = report.accounts.iter().take(MD_ACCOUNTS).map(|a| a.account_id.as_str()).collect();
        let rows = report.findings.iter().filter(|f| listed.contains(&*f.account_id)).map(|f| OrgFindingView {
            account_id: &f.account_id,
            policy: &f.policy,
            region: &f.region,
            resource_id: &f.resource_id,
            action: &f.action,
            status: format!("{:?}", f.status),
            monthly_cost_usd: f.monthly_cost_usd,
        });
        page.write_rows(out, "org_findings", rows)?;
        Ok(())
    })
}

pub use crate::text::{markdown as escape, markdown_code as escape_code};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_text_cannot_break_a_table_or_inject_html() {
        let hostile = "a|b\n<script>x</script>`";
        let escaped = escape(hostile);
        assert!(!escaped.contains('\n'));
        assert!(!escaped.contains("<script>"));
        assert!(!escaped.contains("a|b"));
        assert_eq!(escape_code("x`|y"), "x'¦y");
    }
}
