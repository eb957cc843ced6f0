//! `report.html`: one self-contained page (inline style, SVG charts and a
//! few lines of script; nothing fetched), readable on a phone: totals, the
//! account's spend, monthly cost at stake by policy and by resource type,
//! and the findings grouped by policy, sortable by column. Every string
//! from AWS is HTML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::organization::OrgReport;
use super::Report;
use crate::guardrails::velocity::figures::AiSpend;
use crate::text::{clean, usd, usd_with_unpriced};

pub use crate::text::html as escape;

const STYLE: &str = "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;padding:12px;color:#1a1a1a}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:20px}.dry{background:#fff4ce;border:1px solid #e0c36b;padding:8px}
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #eee;padding:6px;text-align:left;vertical-align:top}th{cursor:pointer;background:#f6f6f6}
td.n,th.n{text-align:right}td.id{word-break:break-all}.err{color:#a30000}
figure.bars{margin:8px 0}.bar{display:flex;align-items:center;gap:8px;margin:3px 0}
.bar .label{flex:0 0 30%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bar .track{flex:1 1 auto}.bar .fill{display:block;height:1em;background:#3b7dd8;border-radius:2px}
.bar .value{flex:0 0 auto;min-width:6em;text-align:right}";

/// Sorts a table by the clicked column; numbers by their `data-v`.
const SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){
var t=th.closest('table'),b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort(function(a,c){var x=a.cells[i],y=c.cells[i],p=parseFloat(x.dataset.v),q=parseFloat(y.dataset.v);
var r=(!isNaN(p)&&!isNaN(q))?p-q:x.textContent.localeCompare(y.textContent);return asc?r:-r;});
rows.forEach(function(r){b.appendChild(r);});});});";

/// A horizontal bar chart in HTML and CSS: its labels are text of the
/// page's own size, on any screen (an SVG scaled to the width would scale
/// its text with it).
fn bars(title: &str, values: &[(String, f64)]) -> String {
    let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let mut html = format!("<figure class=\"bars\" role=\"img\" aria-label=\"{}\"><figcaption>{}</figcaption>", escape(title), escape(title));
    if values.is_empty() {
        html.push_str("<p>nothing at stake</p>");
    }
    for (label, v) in values {
        let pct = if max > 0.0 { (v / max * 100.0).max(0.5) } else { 0.5 };
        let _ = write!(
            html,
            "<div class=\"bar\"><span class=\"label\">{}</span><span class=\"track\"><span class=\"fill\" style=\"width:{pct:.1}%\"></span></span><span class=\"value\">{}</span></div>",
            escape(&clean(label, 40)),
            usd(Some(*v))
        );
    }
    html.push_str("</figure>");
    html
}

/// The last 24 hours as 24 bars (SVG; it has no text to scale); nothing
/// for a model that could not be priced.
fn hourly_chart(values: &[f64]) -> String {
    if values.is_empty() {
        return "unpriced".to_string();
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let mut svg = String::from("<svg class=\"spark\" viewBox=\"0 0 96 20\" width=\"96\" height=\"20\" role=\"img\" aria-label=\"the last 24 hours\">");
    for (i, v) in values.iter().enumerate() {
        let h = if max > 0.0 { (v / max * 20.0).max(0.5) } else { 0.5 };
        let _ = write!(svg, "<rect x=\"{}\" y=\"{:.1}\" width=\"3\" height=\"{h:.1}\" fill=\"#c0392b\"/>", i * 4, 20.0 - h);
    }
    svg.push_str("</svg>");
    svg
}

/// AI spend now: the alerts, the rate, and each model's last day.
fn ai_spend(ai: &AiSpend) -> String {
    let t = &ai.total;
    let mut out = format!(
        "<section id=\"ai-spend\"><h2>AI spend now</h2><div class=\"cards\"><div class=\"card\" id=\"ai-per-hour\">Per hour now (last {} min)<b>{}</b></div><div class=\"card\">Last hour<b>{}</b></div><div class=\"card\">Today<b>{}</b></div><div class=\"card\">Month at this rate<b>{}</b></div></div><p>As of {}: Bedrock token use from CloudWatch, priced per model{}.</p>",
        ai.window_minutes,
        usd(Some(t.usd_per_hour)),
        usd(Some(t.usd_last_hour)),
        usd(Some(t.usd_today)),
        usd(Some(t.projected_month_usd)),
        escape(&crate::text::utc(ai.as_of)),
        if ai.unpriced_models > 0 { format!("; {} model(s) of unknown price are not counted as $0", ai.unpriced_models) } else { String::new() }
    );
    if let Some(e) = &ai.sagemaker_endpoints {
        let _ = write!(out, "<p>SageMaker endpoints in service: {} at {}/hour.</p>", e.endpoints, usd(Some(e.usd_per_hour)));
    }
    if !ai.alerts.is_empty() {
        out.push_str("<ul class=\"alerts\">");
        for a in &ai.alerts {
            let scope = crate::notify::ai_alert::scope(a);
            let _ = write!(out, "<li class=\"err\"><b>Alert</b> ({}): {}: {}</li>", a.rule, escape(&scope), escape(&crate::notify::ai_alert::rule_text(a)));
        }
        out.push_str("</ul>");
    }
    if !ai.models.is_empty() {
        out.push_str("<table class=\"sortable\"><thead><tr><th>Model</th><th>Region</th><th>Per hour now</th><th>Last hour</th><th>Today</th><th>Last 24 hours</th><th>Price</th></tr></thead><tbody>");
        for m in &ai.models {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td data-v=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&clean(&m.model_id, 160)),
                escape(&clean(&m.region, 40)),
                m.usd_per_hour.unwrap_or(-1.0),
                usd(m.usd_per_hour),
                usd(m.usd_last_hour),
                usd(m.usd_today),
                hourly_chart(&m.hourly_usd),
                escape(&clean(&m.price_basis, 300))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
    out
}

/// `report.html`, written as it goes: a large report is never held whole.
pub fn write_to(report: &Report, out: &mut dyn Write) {
    page_start(out, "costguard sweep report", report.dry_run);
    if let Some(ai) = &report.ai_spend {
        let _ = out.write_str(&ai_spend(ai));
    }
    let _ = write!(
        out,
        "<p>Run <code>{}</code> in account {}, {} to {}, regions {}.</p>",
        escape(&report.run_id),
        escape(&report.account_id),
        crate::text::utc(report.started_at),
        crate::text::utc(report.finished_at),
        escape(&report.regions.join(", "))
    );
    let t = &report.totals;
    let _ = write!(
        out,
        "<div class=\"cards\"><div class=\"card\" id=\"total-saving\">Monthly saving at stake<b>{}</b></div><div class=\"card\" id=\"total-cost\">Monthly cost of matched resources<b>{}</b></div><div class=\"card\" id=\"total-findings\">Findings<b>{}</b></div><div class=\"card\">Done / failed<b>{} / {}</b></div><div class=\"card\" id=\"total-api-calls\">AWS API calls<b>{}</b></div></div>",
        usd(Some(t.monthly_saving_usd)),
        usd_with_unpriced(t.monthly_cost_usd, t.unpriced),
        t.findings,
        t.done,
        t.failed,
        t.api_calls
    );
    if let Some(saved) = &report.saved {
        let line = crate::text::saved_so_far(saved.monthly_usd, saved.changes, saved.since);
        let _ = write!(out, "<p id=\"saved\">Saved so far: {}</p>", escape(&line));
    }
    if let Some(plan) = &report.plan_file {
        let _ = write!(out, "<p id=\"plan\">Plan: {}</p>", escape(&plan.line()));
    }

    if let Some(s) = &report.spend {
        let _ = write!(
            out,
            "<h2>Spend</h2><div class=\"cards\"><div class=\"card\">Month to date<b>{}</b></div><div class=\"card\">Last month<b>{}</b></div><div class=\"card\">Forecast this month<b>{}</b></div><div class=\"card\">Month over month<b>{}</b></div></div>",
            usd(Some(s.month_to_date_usd)),
            usd(Some(s.last_month_usd)),
            usd(s.forecast_month_usd),
            s.month_over_month_change_pct.map_or("unknown".to_string(), |c| format!("{c:+.1}%"))
        );
        let services: Vec<(String, f64)> = s.top_services.iter().map(|x| (x.service.clone(), x.month_to_date_usd)).collect();
        let _ = out.write_str(&bars("Top services, month to date", &services));
    }

    if !report.errors.is_empty() {
        let _ = write!(out, "<h2 class=\"err\">Errors</h2><ul>");
        for e in &report.errors {
            let _ = write!(out, "<li class=\"err\">{}</li>", escape(&e.message));
        }
        let _ = out.write_str("</ul>");
    }

    let _ = write!(out, "<h2>Monthly cost at stake</h2>");
    let by_policy: Vec<(String, f64)> = report.policies.iter().filter(|p| p.matched > 0).map(|p| (p.name.clone(), p.monthly_saving_usd)).collect();
    let _ = out.write_str(&bars("By policy", &by_policy));
    let mut by_type: BTreeMap<&str, f64> = BTreeMap::new();
    for f in &report.findings {
        *by_type.entry(f.resource_type.name()).or_default() += f.monthly_saving_usd.unwrap_or(0.0);
    }
    let by_type: Vec<(String, f64)> = by_type.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let _ = out.write_str(&bars("By resource type", &by_type));

    if !report.not_judged.is_empty() {
        let unpriced = report.not_judged.iter().filter(|n| n.monthly_cost_usd.is_none()).count();
        let _ = write!(
            out,
            "<h2 id=\"not-judged\">Not judged <small>({} resource{}, {} a month, left alone)</small></h2><div class=\"wrap\"><table class=\"sortable\"><thead><tr><th>Resource</th><th>Type</th><th>Region</th><th>Instance</th><th class=\"n\">Cost/month</th><th>Why</th></tr></thead><tbody>",
            report.not_judged.len(),
            if report.not_judged.len() == 1 { "" } else { "s" },
            usd_with_unpriced(report.totals.not_judged_monthly_cost_usd, unpriced)
        );
        for n in &report.not_judged {
            let _ = write!(
                out,
                "<tr><td class=\"id\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td>{}</td></tr>",
                escape(&n.resource_id),
                n.resource_type,
                escape(&n.region),
                escape(&n.instance_types.join(", ")),
                n.monthly_cost_usd.unwrap_or(-1.0),
                n.monthly_cost_usd.map_or_else(|| "unpriced".to_string(), |c| usd(Some(c))),
                escape(&n.reason)
            );
        }
        let _ = out.write_str("</tbody></table></div>");
    }

    for p in &report.policies {
        let findings: Vec<_> = report.findings.iter().filter(|f| *f.policy == *p.name).collect();
        let _ = write!(
            out,
            "<h2>{} <small>({}: {} examined, {} matched, {} at stake)</small></h2>",
            escape(&p.name),
            p.resource_type,
            p.examined,
            p.matched,
            usd_with_unpriced(p.monthly_saving_usd, p.unpriced)
        );
        if let Some(why) = &p.breaker {
            let _ = write!(out, "<p class=\"err\">Circuit breaker tripped, nothing applied: {}</p>", escape(why));
        }
        if findings.is_empty() {
            continue;
        }
        let _ = out.write_str("<div class=\"wrap\"><table class=\"sortable\"><thead><tr><th>Resource</th><th>Region</th><th>Why</th><th>Action</th><th>Status</th><th class=\"n\">Cost/month</th><th class=\"n\">Saving/month</th></tr></thead><tbody>");
        for f in findings {
            let status = match &f.detail {
                Some(d) => format!("{:?}: {}", f.status, escape(d)).to_lowercase(),
                None => format!("{:?}", f.status).to_lowercase(),
            };
            let advice = f.recommendation.as_ref().map_or(String::new(), |r| format!("<br><em>{}</em>", escape(&r.summary)));
            let _ = write!(
                out,
                "<tr><td class=\"id\">{}</td><td>{}</td><td>{}{advice}</td><td>{}</td><td>{status}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td></tr>",
                escape(&f.resource_id),
                escape(&f.region),
                escape(&f.reason),
                escape(&f.action_description),
                f.monthly_cost_usd.unwrap_or(-1.0),
                usd(f.monthly_cost_usd),
                f.monthly_saving_usd.unwrap_or(-1.0),
                usd(f.monthly_saving_usd)
            );
        }
        let _ = out.write_str("</tbody></table></div>");
    }
    let _ = write!(out, "<script>{SCRIPT}</script></body></html>");
}

/// The page's head, opening `body`: the style, the title, and what a dry
/// run did not do.
fn page_start(out: &mut dyn Write, title: &str, dry_run: bool) {
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
    );
    if dry_run {
        let _ = write!(out, "<p class=\"dry\"><strong>Dry run:</strong> nothing was changed; this is what costguard would do.</p>");
    }
}

/// An organization's `report.html`: the totals, the accounts most at stake
/// first (each linking to its own report), who hears about what, and every
/// finding with its account.
pub fn organization(report: &OrgReport, account_page: &dyn Fn(&str) -> Option<String>, out: &mut dyn Write) {
    page_start(out, "costguard organization report", report.dry_run);
    let t = &report.totals;
    let _ = write!(
        out,
        "<p>Run <code>{}</code> from account {}, {} to {}.</p><div class=\"cards\"><div class=\"card\" id=\"total-saving\">Monthly saving at stake<b>{}</b></div><div class=\"card\" id=\"total-cost\">Monthly cost of matched resources<b>{}</b></div><div class=\"card\" id=\"total-findings\">Findings<b>{}</b></div><div class=\"card\" id=\"accounts\">Accounts swept / failed<b>{} / {}</b></div><div class=\"card\" id=\"total-api-calls\">AWS API calls<b>{}</b></div></div>",
        escape(&report.run_id),
        escape(&report.hub_account),
        crate::text::utc(report.started_at),
        crate::text::utc(report.finished_at),
        usd(Some(t.monthly_saving_usd)),
        usd_with_unpriced(t.monthly_cost_usd, t.unpriced),
        t.findings,
        t.accounts - t.accounts_failed,
        t.accounts_failed,
        t.api_calls
    );
    if let Some(g) = &report.guardrails {
        let _ = write!(out, "<p id=\"guardrails\">Guardrails: {}</p>", escape(&g.line()));
        for e in &g.errors {
            let _ = write!(out, "<p class=\"err\">{}</p>", escape(e));
        }
    }
    let at_stake: Vec<(String, f64)> = report
        .accounts
        .iter()
        .filter(|a| a.monthly_saving_usd > 0.0)
        .map(|a| (crate::text::account_label(&a.account_id, &a.name), a.monthly_saving_usd))
        .collect();
    let _ = out.write_str(&bars("Monthly saving at stake by account", &at_stake));

    let _ = out.write_str("<h2>By account, most at stake first</h2><div class=\"wrap\"><table class=\"sortable\" id=\"by-account\"><thead><tr><th>Account</th><th>Name</th><th>Status</th><th class=\"n\">Findings</th><th class=\"n\">Cost/month</th><th class=\"n\">Saving/month</th><th class=\"n\">Done</th><th class=\"n\">Failed</th></tr></thead><tbody>");
    for a in &report.accounts {
        let id = match account_page(&a.account_id) {
            Some(href) => format!("<a href=\"{}\">{}</a>", escape(&href), escape(&a.account_id)),
            None => escape(&a.account_id),
        };
        let status = match &a.error {
            Some(e) => format!("<span class=\"err\">failed: {}</span>", escape(e)),
            None => a.status.to_string(),
        };
        let _ = write!(
            out,
            "<tr><td>{id}</td><td>{}</td><td>{status}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&a.name),
            a.findings,
            a.findings,
            a.monthly_cost_usd,
            usd_with_unpriced(a.monthly_cost_usd, a.unpriced),
            a.monthly_saving_usd,
            usd(Some(a.monthly_saving_usd)),
            a.done,
            a.failed
        );
    }
    for l in &report.left_out {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>left out: {}</td><td></td><td></td><td></td><td></td><td></td></tr>",
            escape(&l.account_id),
            escape(&l.name),
            escape(&l.why)
        );
    }
    let _ = out.write_str("</tbody></table></div>");

    if !report.digests.is_empty() || !report.email_errors.is_empty() {
        let _ = out.write_str("<h2>Who hears about it</h2><p>One digest per recipient, grouped by account.</p><div class=\"wrap\"><table class=\"sortable\" id=\"digests\"><thead><tr><th>Recipient</th><th>Accounts</th><th class=\"n\">Findings</th><th class=\"n\">Saving/month</th><th>Status</th></tr></thead><tbody>");
        for d in &report.digests {
            let status = match &d.error {
                Some(e) => format!("{}: {}", escape(&d.status), escape(e)),
                None => escape(&d.status),
            };
            let _ = write!(
                out,
                "<tr><td class=\"id\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\" data-v=\"{}\">{}</td><td>{status}</td></tr>",
                escape(&d.recipient),
                escape(&d.accounts.join(", ")),
                d.findings,
                d.monthly_saving_usd,
                usd(Some(d.monthly_saving_usd))
            );
        }
        let _ = out.write_str("</tbody></table></div>");
        for e in &report.email_errors {
            let _ = write!(out, "<p class=\"err\">{}</p>", escape(e));
        }
    }

    let _ = out.write_str("<h2>Findings</h2><div class=\"wrap\"><table class=\"sortable\" id=\"findings\"><thead><tr><th>Account</th><th>Policy</th><th>Region</th><th>Resource</th><th>Action</th><th>Status</th><th class=\"n\">Cost/month</th><th class=\"n\">Saving/month</th></tr></thead><tbody>");
    for f in &report.findings {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"id\">{}</td><td>{}</td><td>{}</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td></tr>",
            escape(&f.account_id),
            escape(&f.policy),
            escape(&f.region),
            escape(&f.resource_id),
            escape(&f.action_description),
            format!("{:?}", f.status).to_lowercase(),
            f.monthly_cost_usd.unwrap_or(-1.0),
            usd(f.monthly_cost_usd),
            f.monthly_saving_usd.unwrap_or(-1.0),
            usd(f.monthly_saving_usd)
        );
    }
    let _ = write!(out, "</tbody></table></div><script>{SCRIPT}</script></body></html>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_aws_is_escaped() {
        assert_eq!(escape("<img src=x onerror=\"a\">&'"), "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;");
        let chart = bars("t", &[("<b>".to_string(), 10.0)]);
        assert!(chart.contains("&lt;b&gt;") && !chart.contains("<b>"), "{chart}");
        assert!(!chart.contains("<svg"), "labels are page text, not scaled drawings");
    }

    #[test]
    fn an_organizations_page_escapes_what_came_from_aws() {
        use crate::report::organization::{AccountOutcome, OrgRun};
        let now = crate::clock::test_now();
        let run = OrgRun { run_id: "r".into(), dry_run: true, hub_account: "111111111111".into(), started_at: now, finished_at: now };
        let failed = AccountOutcome::Failed { account_id: "222222222222".into(), name: "<img src=x onerror=alert(1)>".into(), error: "<b>denied</b>".into() };
        let report = OrgReport::build(run, vec![failed], Vec::new(), BTreeMap::new());
        let mut page = String::new();
        organization(&report, &|_| Some("accounts/\"><script>".into()), &mut page);
        assert!(!page.contains("<img") && !page.contains("<b>denied") && !page.contains("\"><script>"), "{page}");
        assert!(page.contains("&lt;img src=x") && page.contains("failed: &lt;b&gt;denied"), "{page}");
    }
}
