//! `report.md`: a summary table first, then each policy's findings.
//! Everything that comes from AWS is escaped.

use std::fmt::Write;

use super::{Finding, Report};
use crate::guardrails::velocity::figures::AiSpend;
use crate::resources::sizes::JudgedBy;
use crate::text::{usd, usd_with_unpriced, utc};

/// `report.md`, written as it goes: a large report is never held whole.
pub fn write_to(report: &Report, out: &mut dyn Write) {
    let mode = if report.dry_run { "dry run: nothing was changed" } else { "real run" };
    let _ = writeln!(out, "# costguard sweep report\n");
    if let Some(ai) = &report.ai_spend {
        render_ai_spend(out, ai);
    }
    let _ = writeln!(out, "- Run: `{}` ({mode}), account {}", escape(&report.run_id), escape(&report.account_id));
    let _ = writeln!(out, "- Started: {}, finished: {}", utc(report.started_at), utc(report.finished_at));
    let _ = writeln!(out, "- Regions: {}", report.regions.iter().map(|r| escape(r)).collect::<Vec<_>>().join(", "));
    let _ = writeln!(
        out,
        "- Findings: {} ({} planned, {} done, {} skipped, {} failed); monthly cost of matched resources: {}",
        report.totals.findings,
        report.totals.planned,
        report.totals.done,
        report.totals.skipped,
        report.totals.failed,
        usd_with_unpriced(report.totals.monthly_cost_usd, report.totals.unpriced)
    );
    let _ = writeln!(out, "- Monthly saving at stake: {}", usd(Some(report.totals.monthly_saving_usd)));
    if let Some(saved) = &report.saved {
        let _ = writeln!(out, "- Saved so far: {}", crate::text::saved_so_far(saved.monthly_usd, saved.changes, saved.since));
    }
    if let Some(plan) = &report.plan_file {
        let _ = writeln!(out, "- Plan: {}", escape(&plan.line()));
    }
    let calls: Vec<String> = report.api_calls.iter().map(|(op, n)| format!("{} × {n}", escape(op))).collect();
    let _ = writeln!(out, "- AWS API calls: {} ({})", report.totals.api_calls, calls.join(", "));

    if let Some(spend) = &report.spend {
        render_spend(out, spend);
    }

    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n## Errors\n");
        for e in &report.errors {
            let place = [e.region.clone(), e.resource_type.map(|t| t.to_string())].into_iter().flatten().collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "- {}: {}", escape(&place), escape(&e.message));
        }
    }

    if let Some(emails) = &report.emails {
        render_emails(out, emails);
    }

    let _ = writeln!(out, "\n## Summary\n");
    let _ = writeln!(out, "| Policy | Resource | Examined | Matched | Planned | Done | Skipped | Failed | Monthly cost |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for p in &report.policies {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            escape(&p.name),
            p.resource_type,
            p.examined,
            p.matched,
            p.planned,
            p.done,
            p.skipped,
            p.failed,
            usd_with_unpriced(p.monthly_cost_usd, p.unpriced)
        );
    }
    for p in report.policies.iter().filter(|p| p.breaker.is_some() || !p.incomplete_regions.is_empty()) {
        if let Some(why) = &p.breaker {
            let _ = writeln!(out, "\n> **{}: circuit breaker tripped, nothing applied.** {}", escape(&p.name), escape(why));
        }
        if !p.incomplete_regions.is_empty() {
            let _ = writeln!(out, "\n> **{}: incomplete**, listing failed in {}", escape(&p.name), escape(&p.incomplete_regions.join(", ")));
        }
    }

    if !report.guardrails.is_empty() {
        let _ = writeln!(out, "\n## Guardrails\n");
        let _ = writeln!(out, "| Kind | Name | Change | Differences | Status |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for g in &report.guardrails {
            let change = g.change.name();
            let differences =
                if g.differences.is_empty() { "–".to_string() } else { g.differences.iter().map(|d| escape(d)).collect::<Vec<_>>().join("<br>") };
            let status = format!("{:?}", g.status).to_lowercase();
            let status = g.detail.as_ref().map_or(status.clone(), |d| format!("{status}: {}", escape(d)));
            let spend = g
                .spend
                .as_ref()
                .map_or(String::new(), |s| format!(" (spent {} of {}; forecast {})", usd(s.actual_usd), usd(Some(s.limit_usd)), usd(s.forecast_usd)));
            let _ = writeln!(out, "| {} | `{}`{spend} | {change} | {differences} | {status} |", g.kind, escape_code(&g.name));
        }
    }

    render_not_judged(out, report);

    for p in &report.policies {
        let findings: Vec<&Finding> = report.findings.iter().filter(|f| *f.policy == *p.name).collect();
        if findings.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {}\n", escape(&p.name));
        if findings.iter().any(|f| f.recommendation.is_some()) {
            recommendations(out, &findings);
            continue;
        }
        let _ = writeln!(out, "| Resource | Region | Why | Action | Status | Monthly cost |");
        let _ = writeln!(out, "|---|---|---|---|---|---:|");
        for f in findings {
            let status = status_text(f);
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                escape_code(&f.resource_id),
                escape(&f.region),
                escape(&f.reason),
                escape(&f.action_description),
                status,
                match &f.cost_basis {
                    Some(basis) => format!("{} ({})", usd(f.monthly_cost_usd), escape(basis)),
                    None => usd(f.monthly_cost_usd),
                }
            );
        }
    }
}

fn render_emails(out: &mut dyn Write, e: &crate::notify::EmailReport) {
    let _ = writeln!(out, "\n## Email\n");
    let _ = writeln!(
        out,
        "- Transport: {}; sent {}, kept for the next sweep {}, refused {}; from the outbox: sent {}, given up {}, still waiting {}; findings not repeated within the quiet period: {}",
        escape(&e.transport), e.sent, e.queued, e.failed, e.outbox_sent, e.outbox_expired, e.outbox_waiting, e.held_back
    );
    for m in &e.messages {
        let error = m.error.as_ref().map_or(String::new(), |err| format!(" ({})", escape(err)));
        let _ = writeln!(out, "- {}: {} to {}: {}{error}", m.status, m.findings, escape(&m.to.join(", ")), escape(&m.subject));
    }
}

/// AI spend now, first: the alerts, the rate, and each model's last day.
fn render_ai_spend(out: &mut dyn Write, ai: &AiSpend) {
    let t = &ai.total;
    let _ = writeln!(out, "## AI spend now\n");
    let unpriced = if ai.unpriced_models > 0 { format!(" (plus {} model(s) of unknown price, not counted as $0)", ai.unpriced_models) } else { String::new() };
    let _ = writeln!(
        out,
        "As of {} (Bedrock token use from CloudWatch, {}-minute periods): **{}/hour now** (the last {} minutes), {} in the last hour, {} today, {} this month at the last 24 hours' rate{unpriced}.\n",
        utc(ai.as_of),
        ai.period_minutes,
        usd(Some(t.usd_per_hour)),
        ai.window_minutes,
        usd(Some(t.usd_last_hour)),
        usd(Some(t.usd_today)),
        usd(Some(t.projected_month_usd))
    );
    if let Some(e) = &ai.sagemaker_endpoints {
        let _ = writeln!(
            out,
            "SageMaker endpoints in service: {} at {}/hour{}.\n",
            e.endpoints,
            usd(Some(e.usd_per_hour)),
            if e.unpriced > 0 { format!(" (+ {} unpriced)", e.unpriced) } else { String::new() }
        );
    }
    for a in &ai.alerts {
        let _ = writeln!(out, "- **Alert** ({}): {}: {}", a.rule, escape(&crate::notify::ai_alert::scope(a)), escape(&crate::notify::ai_alert::rule_text(a)));
    }
    if !ai.alerts.is_empty() {
        let _ = out.write_char('\n');
    }
    if ai.models.is_empty() {
        let _ = writeln!(out, "No model use in the last 24 hours.\n");
        return;
    }
    let _ = writeln!(out, "| Model | Region | Per hour now | Last hour | Today | Month at this rate | Last 24 hours | Price |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|---|");
    for m in &ai.models {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            escape_code(&m.model_id),
            escape(&m.region),
            usd(m.usd_per_hour),
            usd(m.usd_last_hour),
            usd(m.usd_today),
            usd(m.projected_month_usd),
            sparkline(&m.hourly_usd),
            escape(&m.price_basis)
        );
    }
    let _ = out.write_char('\n');
}

/// Hour by hour in block characters, each scaled to the highest hour.
fn sparkline(values: &[f64]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    values.iter().map(|v| if max > 0.0 { BLOCKS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize] } else { BLOCKS[0] }).collect()
}

/// The account's spend: the figures a finance lead reads first.
fn render_spend(out: &mut dyn Write, s: &crate::guardrails::spend::SpendSummary) {
    let _ = writeln!(out, "\n## Spend (as of {})\n", s.as_of);
    let change = s.month_over_month_change_pct.map_or("unknown (no spend last month)".to_string(), |c| format!("{c:+.1}% ({})", escape(&s.change_basis)));
    let _ = writeln!(out, "- Month to date: {}; last month: {}", usd(Some(s.month_to_date_usd)), usd(Some(s.last_month_usd)));
    let _ = writeln!(out, "- This month, forecast: {}; change on last month: {change}", usd(s.forecast_month_usd));
    for w in &s.watched {
        let _ = writeln!(out, "- {}: {} this month, {} last month", escape(&w.service), usd(Some(w.month_to_date_usd)), usd(Some(w.last_month_usd)));
    }
    let cached = format!("Cost Explorer figures fetched {}{}", utc(s.fetched_at), if s.estimated { ", not final yet" } else { "" });
    let _ = writeln!(out, "- {cached}");
    for note in &s.notes {
        let _ = writeln!(out, "- {}", escape(note));
    }
    if !s.top_services.is_empty() {
        let _ = writeln!(out, "\n| Service | Month to date | Last month |");
        let _ = writeln!(out, "|---|---:|---:|");
        for t in &s.top_services {
            let _ = writeln!(out, "| {} | {} | {} |", escape(&t.service), usd(Some(t.month_to_date_usd)), usd(Some(t.last_month_usd)));
        }
    }
}

/// Rightsizing findings: one row per instance or variant, with the figures
/// the verdict used, so a reader can check it before acting.
/// Resources a rightsizing policy could not judge, with what they cost.
fn render_not_judged(out: &mut dyn Write, report: &Report) {
    if report.not_judged.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Not judged\n");
    let _ = writeln!(
        out,
        "{} resource{} costing {} a month could not be judged, and were left alone:\n",
        report.not_judged.len(),
        if report.not_judged.len() == 1 { "" } else { "s" },
        usd_with_unpriced(report.totals.not_judged_monthly_cost_usd, report.not_judged.iter().filter(|n| n.monthly_cost_usd.is_none()).count())
    );
    let _ = writeln!(out, "| Resource | Type | Region | Instance | Monthly cost | Why |");
    let _ = writeln!(out, "|---|---|---|---|---:|---|");
    for n in &report.not_judged {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            escape_code(&n.resource_id),
            n.resource_type,
            escape(&n.region),
            escape(&n.instance_types.join(", ")),
            n.monthly_cost_usd.map_or_else(|| "unpriced".to_string(), |c| usd(Some(c))),
            escape(&n.reason)
        );
    }
}

fn recommendations(out: &mut dyn Write, findings: &[&Finding]) {
    let _ = writeln!(
        out,
        "| Resource | Region | Verdict | Current | Recommended | Measured peak | Would peak at | Monthly now | Monthly after | Saving | Action | Status |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---:|---:|---:|---|---|");
    for f in findings {
        let Some(a) = &f.recommendation else { continue };
        for part in &a.parts {
            let name = if part.name == f.resource_id {
                format!("`{}`", escape_code(&f.resource_id))
            } else {
                format!("`{}` {}", escape_code(&f.resource_id), escape(&part.name))
            };
            let sized = |t: &str, n: i32| if n == 1 { escape(t) } else { format!("{n} × {}", escape(t)) };
            let recommended = match (&part.recommended_type, part.recommended_count) {
                (_, Some(0)) => "stop".to_string(),
                (Some(t), Some(n)) => sized(t, n),
                _ => "–".to_string(),
            };
            let pct = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}%"));
            let measured = match part.judged_by {
                JudgedBy::Gpu => format!(
                    "busiest GPU {} {}, GPUs together {}, GPU memory {} ({:.0} h in {} d)",
                    escape(&part.statistic),
                    pct(part.gpu_peak_pct),
                    pct(part.gpu_summed_pct),
                    part.gpu_memory_peak_pct.map_or("not measured".to_string(), |m| format!("{m:.1}%")),
                    part.hours_of_data.unwrap_or(0.0),
                    part.days
                ),
                JudgedBy::Nothing => "not measured".to_string(),
                JudgedBy::Cpu => format!(
                    "CPU {} {}, memory {} ({:.0} h in {} d)",
                    escape(&part.statistic),
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
            let saving = part.current_monthly_usd.zip(part.recommended_monthly_usd).map(|(c, r)| c - r);
            let status = status_text(f);
            let _ = writeln!(
                out,
                "| {name} | {} | {}: {} | {} | {recommended} | {measured} | {projected} | {} | {} | {} | {} | {status} |",
                escape(&f.region),
                part.verdict.name(),
                escape(&part.why),
                sized(&part.current_type, part.current_count),
                usd(part.current_monthly_usd),
                usd(part.recommended_monthly_usd),
                usd(saving),
                escape(&f.action_description),
            );
        }
    }
}

/// The status, and what was done or why not.
fn status_text(f: &Finding) -> String {
    let status = format!("{:?}", f.status).to_lowercase();
    match &f.detail {
        Some(detail) if !detail.is_empty() => format!("{status}: {}", escape(detail)),
        _ => status,
    }
}

/// Text that cannot break a table row or inject markup: HTML specials,
/// pipes, backticks and line breaks are neutralised.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '`' | '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Inside a code span only backticks, pipes and line breaks matter.
fn escape_code(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

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
