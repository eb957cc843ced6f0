//! `report.html`: one self-contained page (inline style, HTML bar charts,
//! SVG sparklines and a few lines of script; nothing fetched), readable on
//! a phone: totals, the account's spend, monthly cost at stake by policy
//! and by resource type, and the findings grouped by policy, sortable by
//! column; and an organization's page. Rendered from
//! `templates/report.html.j2` piece by piece; every string from AWS is
//! HTML-escaped there. This file hands the template its data.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::organization::OrgReport;
use super::page::{self, value, RenderError};
use super::view::{sort_value, Common};
use super::{Finding, Report};
use crate::text::clean;

pub use crate::text::html as escape;

const TEMPLATE: &str = "report.html.j2";

/// A bar chart: each bar's label (cleaned), value and length.
#[derive(Serialize)]
struct Bars {
    title: String,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    value: f64,
    /// Of the longest bar, to one decimal.
    pct: String,
}

/// The accounts an organization's chart names, most at stake first; the
/// others share one bar, so a thousand accounts stay readable.
const CHART_ACCOUNTS: usize = 20;

impl Bars {
    /// The `n` largest `values` (already largest first), and one bar for
    /// the rest together.
    fn top(title: &str, mut values: Vec<(String, f64)>, n: usize) -> Self {
        if values.len() > n + 1 {
            let rest = values.split_off(n);
            let sum = crate::text::total(rest.iter().map(|(_, v)| *v));
            values.push((format!("the other {} accounts", rest.len()), sum));
        }
        Bars::new(title, values)
    }

    fn new(title: &str, values: Vec<(String, f64)>) -> Self {
        let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
        let bars = values
            .into_iter()
            .map(|(label, v)| {
                let pct = if max > 0.0 { (v / max * 100.0).max(0.5) } else { 0.5 };
                Bar { label: clean(&label, 40), value: v, pct: format!("{pct:.1}") }
            })
            .collect();
        Bars { title: title.to_string(), bars }
    }
}

/// One bar of the last 24 hours' sparkline.
#[derive(Serialize)]
struct Rect {
    x: usize,
    y: String,
    h: String,
}

fn hourly(values: &[f64]) -> Vec<Rect> {
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let h = if max > 0.0 { (v / max * 20.0).max(0.5) } else { 0.5 };
            Rect { x: i * 4, y: format!("{:.1}", 20.0 - h), h: format!("{h:.1}") }
        })
        .collect()
}

#[derive(Serialize)]
struct ModelView {
    model_id: String,
    region: String,
    per_hour_v: String,
    usd_per_hour: Option<f64>,
    usd_last_hour: Option<f64>,
    usd_today: Option<f64>,
    hourly: Vec<Rect>,
    price_basis: String,
}

#[derive(Serialize)]
struct Head<'a> {
    #[serde(flatten)]
    common: Common<'a>,
    ai_models: Vec<ModelView>,
    /// All models' spend by hour, the last 24 hours.
    ai_hourly: Option<Chart>,
    top_services: Bars,
    /// Daily spend by service, the last 30 days.
    daily: Option<Chart>,
    /// Why the forecast is unknown, when it is.
    forecast_why: Option<String>,
    by_policy: Bars,
    by_type: Bars,
}

/// A stacked column chart in SVG: columns of coloured pieces, a legend
/// and axis labels in page text beside it.
#[derive(Serialize)]
struct Chart {
    title: String,
    /// The SVG's drawing width; columns are one more than `bar_width` apart.
    width: usize,
    bar_width: usize,
    columns: Vec<Column>,
    legend: Vec<LegendEntry>,
    first: String,
    last: String,
    max: f64,
}

#[derive(Serialize)]
struct Column {
    x: usize,
    label: String,
    total: f64,
    pieces: Vec<Piece>,
}

#[derive(Serialize)]
struct Piece {
    y: String,
    h: String,
    colour: &'static str,
    what: String,
    usd: f64,
}

#[derive(Serialize)]
struct LegendEntry {
    colour: &'static str,
    label: String,
}

/// Colours told apart in light and dark, and by most colour-blind readers.
const COLOURS: [&str; 6] = ["#3b7dd8", "#e8833a", "#2ca58d", "#c2457a", "#8d6cd1", "#8a8a8a"];
const CHART_HEIGHT: f64 = 80.0;

impl Chart {
    /// `columns` (label, parts) stacked in `series` order; the last colour
    /// is "other".
    fn new(title: &str, series: &[String], columns: Vec<(String, Vec<f64>)>, column_width: usize) -> Option<Chart> {
        let max = columns.iter().map(|(_, parts)| parts.iter().sum::<f64>()).fold(0.0_f64, f64::max);
        if columns.is_empty() || max <= 0.0 {
            return None;
        }
        let (first, last) = (columns.first().map(|c| c.0.clone()).unwrap_or_default(), columns.last().map(|c| c.0.clone()).unwrap_or_default());
        let step = column_width + 1;
        let columns: Vec<Column> = columns
            .into_iter()
            .enumerate()
            .map(|(i, (label, parts))| {
                let mut top = CHART_HEIGHT;
                let total = parts.iter().sum();
                let pieces = parts
                    .iter()
                    .zip(series)
                    .enumerate()
                    .filter(|(_, (usd, _))| **usd > 0.0)
                    .map(|(k, (usd, what))| {
                        let h = usd / max * CHART_HEIGHT;
                        top -= h;
                        Piece { y: format!("{top:.2}"), h: format!("{h:.2}"), colour: COLOURS[k.min(COLOURS.len() - 1)], what: clean(what, 60), usd: *usd }
                    })
                    .collect();
                Column { x: i * step, label, total, pieces }
            })
            .collect();
        let legend = series.iter().enumerate().map(|(k, s)| LegendEntry { colour: COLOURS[k.min(COLOURS.len() - 1)], label: clean(s, 60) }).collect();
        Some(Chart { title: title.to_string(), width: columns.len() * step, bar_width: column_width, columns, legend, first, last, max })
    }
}

/// The daily spend, its five largest services by name and the rest as one.
fn daily_chart(spend: &crate::guardrails::spend::SpendSummary) -> Option<Chart> {
    let mut by_service: BTreeMap<&str, f64> = BTreeMap::new();
    for day in &spend.daily {
        for (service, usd) in &day.by_service {
            *by_service.entry(service).or_default() += usd;
        }
    }
    let mut services: Vec<(&str, f64)> = by_service.into_iter().collect();
    services.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<&str> = services.iter().take(COLOURS.len() - 1).map(|(s, _)| *s).collect();
    let mut series: Vec<String> = top.iter().map(|s| s.to_string()).collect();
    let rest = services.len() > top.len();
    if rest {
        series.push("other services".to_string());
    }
    let columns = spend
        .daily
        .iter()
        .map(|day| {
            let mut parts: Vec<f64> = top.iter().map(|s| day.by_service.get(*s).copied().unwrap_or(0.0)).collect();
            if rest {
                parts.push(day.by_service.iter().filter(|(s, _)| !top.contains(&s.as_str())).map(|(_, usd)| usd).sum());
            }
            (day.date.format("%b %-d").to_string(), parts)
        })
        .collect();
    Chart::new("Daily spend by service, the last 30 days (Cost Explorer)", &series, columns, 15)
}

/// All models' spend by hour (the velocity check's 24 hours).
fn ai_hourly_chart(ai: &crate::guardrails::velocity::figures::AiSpend) -> Option<Chart> {
    let hours = ai.models.iter().map(|m| m.hourly_usd.len()).max().unwrap_or(0);
    let columns = (0..hours)
        .map(|h| {
            let usd: f64 = ai.models.iter().filter_map(|m| m.hourly_usd.get(h)).sum();
            let ago = hours - h;
            (if ago == 1 { "the last hour".to_string() } else { format!("{ago} hours ago") }, vec![usd])
        })
        .collect();
    Chart::new("AI spend by hour, the last 24 hours (all models)", &["all models".to_string()], columns, 18)
}

#[derive(Serialize)]
struct FindingView<'a> {
    resource_id: &'a str,
    region: &'a str,
    reason: &'a str,
    /// The rightsizing advice, when it says more than the reason.
    advice: Option<&'a str>,
    action: &'a str,
    status: &'static str,
    standing: &'static str,
    detail: Option<&'a str>,
    cost_v: String,
    monthly_cost_usd: Option<f64>,
    saving_v: String,
    monthly_saving_usd: Option<f64>,
}

fn head(report: &Report) -> Head<'_> {
    let ai_models = report
        .ai_spend
        .iter()
        .flat_map(|ai| &ai.models)
        .map(|m| ModelView {
            model_id: clean(&m.model_id, 160),
            region: clean(&m.region, 40),
            per_hour_v: sort_value(m.usd_per_hour),
            usd_per_hour: m.usd_per_hour,
            usd_last_hour: m.usd_last_hour,
            usd_today: m.usd_today,
            hourly: hourly(&m.hourly_usd),
            price_basis: clean(&m.price_basis, 300),
        })
        .collect();
    let mut by_type: BTreeMap<&str, f64> = BTreeMap::new();
    for f in &report.findings {
        *by_type.entry(f.resource_type.name()).or_default() += f.monthly_saving_usd.unwrap_or(0.0);
    }
    Head {
        common: Common::of(report),
        ai_models,
        ai_hourly: report.ai_spend.as_ref().and_then(ai_hourly_chart),
        top_services: Bars::new(
            "Top services, month to date",
            report.spend.iter().flat_map(|s| &s.top_services).map(|x| (x.service.clone(), x.month_to_date_usd)).collect(),
        ),
        daily: report.spend.as_ref().and_then(daily_chart),
        forecast_why: report.spend.as_ref().filter(|s| s.forecast_month_usd.is_none()).map(|s| {
            if s.notes.is_empty() {
                "AWS gave no forecast".to_string()
            } else {
                s.notes.join("; ")
            }
        }),
        by_policy: Bars::new("By policy", report.policies.iter().filter(|p| p.matched > 0).map(|p| (p.name.clone(), p.monthly_saving_usd)).collect()),
        by_type: Bars::new("By resource type", by_type.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
    }
}

fn finding(f: &Finding) -> FindingView<'_> {
    FindingView {
        resource_id: &f.resource_id,
        region: &f.region,
        reason: &f.reason,
        advice: f.recommendation.as_ref().map(|r| r.summary.as_str()).filter(|a| !f.reason.contains(a) && !a.contains(f.reason.as_str())),
        action: &f.action_description,
        status: f.status.name(),
        standing: f.standing.as_str(),
        detail: f.detail.as_deref(),
        cost_v: sort_value(f.monthly_cost_usd),
        monthly_cost_usd: f.monthly_cost_usd,
        saving_v: sort_value(f.monthly_saving_usd),
        monthly_saving_usd: f.monthly_saving_usd,
    }
}

/// `report.html`, written as it goes: a large report is never held whole.
pub fn write_to(report: &Report, out: &mut dyn Write) -> Result<(), RenderError> {
    page::with_page(TEMPLATE, |page| {
        page.write(out, "head", &[value(&head(report))])?;
        for p in &report.policies {
            let findings: Vec<&Finding> = report.findings.iter().filter(|f| *f.policy == *p.name).collect();
            if findings.is_empty() && p.breaker.is_none() {
                continue;
            }
            page.write(out, "policy", &[value(p), value(&!findings.is_empty())])?;
            if findings.is_empty() {
                continue;
            }
            page.write_rows(out, "findings", findings.into_iter().map(finding))?;
            page.write(out, "table_end", &[])?;
        }
        // Policies that matched nothing: one line, not a heading each.
        let quiet: Vec<&super::PolicySummary> = report.policies.iter().filter(|p| p.matched == 0 && p.breaker.is_none()).collect();
        page.write(out, "nothing_found", &[value(&quiet)])?;
        page.write(out, "end", &[])
    })
}

#[derive(Serialize)]
struct OrgHead<'a> {
    run_id: &'a str,
    dry_run: bool,
    hub_account: &'a str,
    started_at: chrono::DateTime<chrono::Utc>,
    finished_at: chrono::DateTime<chrono::Utc>,
    totals: &'a super::organization::OrgTotals,
    saving: &'a super::SavingSplit,
    act_first: Vec<super::view::ActFirstView<'a>>,
    guardrails_line: Option<String>,
    guardrail_errors: &'a [String],
    at_stake: Bars,
    accounts: Vec<AccountView<'a>>,
    left_out: &'a [super::organization::LeftOut],
    digests: Vec<DigestView<'a>>,
    email_errors: &'a [String],
    /// What costguard saved the organization so far, in words.
    saved_line: String,
    /// How many findings of each account are listed.
    per_account: usize,
    /// Every OU the accounts are in, and the OUs above them, sorted: the
    /// OU filter's choices (an OU's choice keeps the OUs below it).
    ous: std::collections::BTreeSet<String>,
}

/// Each path and every path above it (`Root / a / b`: `Root`, `Root / a`,
/// `Root / a / b`).
fn ou_choices<'a>(paths: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    let sep = crate::aws::organizations::OU_SEPARATOR;
    let mut out = std::collections::BTreeSet::new();
    for path in paths {
        let mut at = 0;
        while let Some(i) = path[at..].find(sep) {
            out.insert(path[..at + i].to_string());
            at += i + sep.len();
        }
        out.insert(path.to_string());
    }
    out
}

#[derive(Serialize)]
struct AccountView<'a> {
    href: Option<String>,
    account_id: &'a str,
    name: &'a str,
    ou: Option<&'a str>,
    status: String,
    error: Option<&'a str>,
    findings: usize,
    cost_v: String,
    monthly_cost_usd: f64,
    unpriced: usize,
    saving_v: String,
    monthly_saving_usd: f64,
    done: usize,
    failed: usize,
    saved_v: String,
    saved_usd: f64,
}

#[derive(Serialize)]
struct DigestView<'a> {
    recipient: &'a str,
    accounts: &'a [String],
    findings: usize,
    saving_v: String,
    monthly_saving_usd: f64,
    status: &'a str,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct OrgFindingView<'a> {
    account_id: &'a str,
    policy: &'a str,
    region: &'a str,
    resource_id: &'a str,
    action: &'a str,
    status: String,
    cost_v: String,
    monthly_cost_usd: Option<f64>,
    saving_v: String,
    monthly_saving_usd: Option<f64>,
}

/// An organization's `report.html`: the totals, the accounts most at stake
/// first (each linking to its own report), who hears about what, and every
/// finding with its account.
pub fn organization(report: &OrgReport, account_page: &dyn Fn(&str) -> Option<String>, out: &mut dyn Write) -> Result<(), RenderError> {
    let head = OrgHead {
        run_id: &report.run_id,
        dry_run: report.dry_run,
        hub_account: &report.hub_account,
        started_at: report.started_at,
        finished_at: report.finished_at,
        saved_line: super::view::saved_line(&report.totals.saved),
        per_account: super::organization::FINDINGS_PER_ACCOUNT,
        ous: ou_choices(report.accounts.iter().filter_map(|a| a.ou.as_deref()).chain(report.left_out.iter().filter_map(|l| l.ou.as_deref()))),
        totals: &report.totals,
        saving: &report.totals.saving_usd,
        act_first: report.act_first.iter().enumerate().map(|(i, a)| super::view::ActFirstView::of(i + 1, a)).collect(),
        guardrails_line: report.guardrails.as_ref().map(|g| g.line()),
        guardrail_errors: report.guardrails.as_ref().map_or(&[][..], |g| &g.errors),
        at_stake: Bars::top(
            "Monthly saving at stake by account",
            report
                .accounts
                .iter()
                .filter(|a| a.monthly_saving_usd > 0.0)
                .map(|a| (crate::text::account_label(&a.account_id, &a.name), a.monthly_saving_usd))
                .collect(),
            CHART_ACCOUNTS,
        ),
        accounts: report
            .accounts
            .iter()
            .map(|a| AccountView {
                href: account_page(&a.account_id),
                account_id: &a.account_id,
                name: &a.name,
                ou: a.ou.as_deref(),
                status: a.status.to_string(),
                error: a.error.as_deref(),
                findings: a.findings,
                cost_v: a.monthly_cost_usd.to_string(),
                monthly_cost_usd: a.monthly_cost_usd,
                unpriced: a.unpriced,
                saving_v: a.monthly_saving_usd.to_string(),
                monthly_saving_usd: a.monthly_saving_usd,
                done: a.done,
                failed: a.failed,
                saved_v: a.saved.monthly_usd.to_string(),
                saved_usd: a.saved.monthly_usd,
            })
            .collect(),
        left_out: &report.left_out,
        digests: report
            .digests
            .iter()
            .map(|d| DigestView {
                recipient: &d.recipient,
                accounts: &d.accounts,
                findings: d.findings,
                saving_v: d.monthly_saving_usd.to_string(),
                monthly_saving_usd: d.monthly_saving_usd,
                status: &d.status,
                error: d.error.as_deref(),
            })
            .collect(),
        email_errors: &report.email_errors,
    };
    page::with_page(TEMPLATE, |page| {
        page.write(out, "org_head", &[value(&head)])?;
        let rows = report.findings.iter().map(|f| OrgFindingView {
            account_id: &f.account_id,
            policy: &f.policy,
            region: &f.region,
            resource_id: &f.resource_id,
            action: &f.action_description,
            status: format!("{:?}", f.status).to_lowercase(),
            cost_v: sort_value(f.monthly_cost_usd),
            monthly_cost_usd: f.monthly_cost_usd,
            saving_v: sort_value(f.monthly_saving_usd),
            monthly_saving_usd: f.monthly_saving_usd,
        });
        page.write_rows(out, "org_findings", rows)?;
        page.write(out, "table_end", &[])?;
        page.write(out, "end", &[])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ous_choices_are_it_and_every_ou_above_it() {
        let got: Vec<String> = ou_choices(["Root / a / b", "Root", "Root / c", "ou-x1 / d"].into_iter()).into_iter().collect();
        assert_eq!(got, ["Root", "Root / a", "Root / a / b", "Root / c", "ou-x1", "ou-x1 / d"]);
    }

    #[test]
    fn markup_from_aws_is_escaped() {
        assert_eq!(escape("<img src=x onerror=\"a\">&'"), "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;");
        let chart = page::with_page(TEMPLATE, |page| {
            let mut chart = String::new();
            page.write(&mut chart, "bars", &[value(&Bars::new("t", vec![("<b>".to_string(), 10.0)]))])?;
            Ok(chart)
        })
        .expect("renders");
        assert!(chart.contains("&lt;b&gt;") && !chart.contains("<b>"), "{chart}");
        assert!(!chart.contains("<svg"), "labels are page text, not scaled drawings");
    }

    #[test]
    fn an_organizations_page_escapes_what_came_from_aws() {
        use crate::report::organization::{AccountOutcome, OrgRun};
        let now = crate::clock::test_now();
        let run = OrgRun { run_id: "r".into(), dry_run: true, hub_account: "111111111111".into(), started_at: now, finished_at: now };
        let failed = AccountOutcome::Failed {
            account_id: "222222222222".into(),
            name: "<img src=x onerror=alert(1)>".into(),
            ou: Some("Root / <b>ou</b>".into()),
            error: "<b>denied</b>".into(),
        };
        let report = OrgReport::build(run, vec![failed], Vec::new(), BTreeMap::new());
        let mut page = String::new();
        organization(&report, &|_| Some("accounts/\"><script>".into()), &mut page).expect("renders");
        assert!(!page.contains("<img") && !page.contains("<b>denied") && !page.contains("\"><script>"), "{page}");
        assert!(page.contains("&lt;img src=x") && page.contains("failed: &lt;b&gt;denied"), "{page}");
    }
}
