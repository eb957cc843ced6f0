//! The AI spend alert: one message per sweep to the spend-velocity
//! recipients (and its SNS topic), sent at once: no quiet period holds
//! it (the alert state decides what is told again). Every model id is
//! cleaned for the text and escaped for the HTML.

use std::fmt::Write;

use crate::config::velocity::SpendVelocity;
use crate::guardrails::velocity::alerts::{Notice, NoticeKind};
use crate::guardrails::velocity::figures::{AiSpend, AlertLine, AlertRule};
use crate::text::{clean, html, usd, utc};

use super::template::Rendered;

const MAX_ID_CHARS: usize = 120;

/// Whose alert: a model in its region, or all models; cleaned for one line.
pub fn scope(line: &AlertLine) -> String {
    match &line.region {
        Some(region) => format!("{} ({})", clean(&line.scope, MAX_ID_CHARS), clean(region, 40)),
        None => "all models".to_string(),
    }
}

/// What a rule measures, for people.
pub fn rule_text(line: &AlertLine) -> String {
    match line.rule {
        AlertRule::MaxUsdPerHour => format!("{}/hour now, limit {}/hour", usd(Some(line.value)), usd(Some(line.limit))),
        AlertRule::MaxUsdPerDay => format!("{} today, limit {}/day", usd(Some(line.value)), usd(Some(line.limit))),
        AlertRule::MaxProjectedMonthUsd => format!("{} projected this month, limit {}", usd(Some(line.value)), usd(Some(line.limit))),
        AlertRule::Spike => {
            format!("{} in the last hour, at or over {} (the spike limit from the same hour of the past 7 days)", usd(Some(line.value)), usd(Some(line.limit)))
        }
    }
}

fn kind_text(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Crossed => "OVER",
        NoticeKind::Worse => "WORSE",
        NoticeKind::StillOver => "STILL OVER",
        NoticeKind::BackUnder => "BACK UNDER",
    }
}

fn notice_line(n: &Notice) -> String {
    let was = match (n.kind, n.told) {
        (NoticeKind::Worse, Some(v)) => format!(" (was {} when last told)", usd(Some(v))),
        _ => String::new(),
    };
    format!("{}: {}: {}{was}", kind_text(n.kind), scope(&n.line), rule_text(&n.line))
}

/// The alert of one account of an organization: its subject, text and
/// HTML say which ("name (id)").
pub fn in_account(rendered: Rendered, account: &str) -> Rendered {
    let account = crate::text::clean(account, 80);
    let line = format!("<p>Account: <strong>{}</strong></p>", crate::text::html(&account));
    // Just inside the body tag.
    let mut html = rendered.html;
    match html.find("<body").and_then(|at| html[at..].find('>').map(|end| at + end + 1)) {
        Some(inside) => html.insert_str(inside, &line),
        None => html.insert_str(0, &line),
    }
    Rendered {
        subject: crate::text::clean(&format!("[{account}] {}", rendered.subject), super::template::MAX_SUBJECT_CHARS),
        text: format!("Account: {account}\n\n{}", rendered.text),
        html,
    }
}

/// Who hears of AI spend alerts and how: the spend-velocity recipients by
/// email (the config's `email:`), its SNS topic; in an organization's
/// sweep, through the hub, naming the account.
pub struct Teller<'a> {
    pub settings: &'a SpendVelocity,
    pub email: Option<&'a super::EmailSetup>,
    pub sender: &'a crate::aws::Aws,
    /// The member account's label, in an organization's sweep.
    pub account: Option<&'a str>,
    pub journal: Option<&'a crate::engine::journal::Journal>,
    pub clock: &'a crate::clock::Clock,
    pub cancel: &'a tokio_util::sync::CancellationToken,
}

impl Teller<'_> {
    /// Tells `notices`, if any: the email's outcomes, whether every
    /// recipient was told (else the alert state is not advanced, and they
    /// hear it again), and every delivery error.
    pub async fn tell(&self, notices: &[Notice], spend: &AiSpend, now: chrono::DateTime<chrono::Utc>) -> (super::EmailReport, bool, Vec<String>) {
        let mut report = super::EmailReport::default();
        let (mut told, mut errors) = (true, Vec::new());
        let Some(rendered) = render(notices, spend).map(|r| match self.account {
            Some(account) => in_account(r, account),
            None => r,
        }) else {
            return (report, told, errors);
        };
        for n in notices {
            tracing::warn!(kind = ?n.kind, scope = %n.line.scope, rule = n.line.rule.as_str(), value = n.line.value, limit = n.line.limit, "AI spend alert");
        }
        match (self.settings.emails.is_empty(), self.email) {
            (true, _) => {}
            (false, Some(email)) => {
                let outlets = super::Outlets::new(email, self.sender, self.clock);
                // AiSpend is plain data: serializing it cannot fail.
                let payload = super::channel::Payload {
                    report_url: None,
                    kind: super::channel::PayloadKind::AiSpend,
                    data: serde_json::to_value(spend).unwrap_or_default(),
                };
                let (sent, send_errors, all) = outlets.mailer(self.journal, self.cancel).deliver_alert(&self.settings.emails, &rendered, &payload, now).await;
                (report, told) = (sent, all);
                errors.extend(send_errors);
            }
            (false, None) => errors.push(
                "AI spend alert: spend-velocity names email recipients but email is not set up (the config's `email:`); shown in the report only".to_string(),
            ),
        }
        if let Some(topic) = &self.settings.sns_topic {
            let region = topic.split(':').nth(3).unwrap_or_default();
            if let Err(e) = self.sender.sns(region).publish(topic, &rendered.subject, &rendered.text).await {
                told = false;
                errors.push(format!("AI spend alert to {topic}: {e}"));
            }
        }
        (report, told, errors)
    }
}

/// The message for these notices; `None` when there is nothing to tell.
pub fn render(notices: &[Notice], spend: &AiSpend) -> Option<Rendered> {
    let first = notices.first()?;
    let over = notices.iter().filter(|n| n.kind != NoticeKind::BackUnder).count();
    let t = spend.total;
    let subject = if over > 0 {
        let lead = notices.iter().find(|n| n.kind != NoticeKind::BackUnder).unwrap_or(first);
        format!("costguard: AI spend {}/hour now: {}", usd(Some(t.usd_per_hour)), notice_line(lead))
    } else {
        format!("costguard: AI spend back under its limits ({}/hour now)", usd(Some(t.usd_per_hour)))
    };
    let mut text = String::new();
    let _ = writeln!(text, "AI spend as of {} (Bedrock token use from CloudWatch, priced per model):", utc(spend.as_of));
    let _ = writeln!(
        text,
        "  {}/hour now (last {} minutes), {} in the last hour, {} today, {} this month at the last 24 hours' rate",
        usd(Some(t.usd_per_hour)),
        spend.window_minutes,
        usd(Some(t.usd_last_hour)),
        usd(Some(t.usd_today)),
        usd(Some(t.projected_month_usd))
    );
    if spend.unpriced_models > 0 {
        let _ = writeln!(text, "  plus {} model(s) whose price is unknown (not counted as $0; see the report)", spend.unpriced_models);
    }
    let _ = writeln!(text, "\nAlerts:");
    for n in notices {
        let _ = writeln!(text, "  - {}", notice_line(n));
    }
    let _ = writeln!(text, "\nModels, most per hour first:");
    for m in spend.models.iter().take(20) {
        let _ = writeln!(
            text,
            "  - {} ({}): {}/hour now, {} last hour, {} today [{}]",
            clean(&m.model_id, MAX_ID_CHARS),
            clean(&m.region, 40),
            usd(m.usd_per_hour),
            usd(m.usd_last_hour),
            usd(m.usd_today),
            clean(&m.price_basis, 200)
        );
    }
    let mut page = String::from("<html><body style=\"font-family:sans-serif\">");
    let _ = write!(
        page,
        "<p>AI spend as of {}: <b>{}/hour now</b>, {} in the last hour, {} today, {} this month at the last 24 hours' rate.</p><ul>",
        html(&utc(spend.as_of)),
        html(&usd(Some(t.usd_per_hour))),
        html(&usd(Some(t.usd_last_hour))),
        html(&usd(Some(t.usd_today))),
        html(&usd(Some(t.projected_month_usd)))
    );
    for n in notices {
        let _ = write!(page, "<li>{}</li>", html(&notice_line(n)));
    }
    page.push_str("</ul><table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr><th>Model</th><th>Region</th><th>$/hour now</th><th>Last hour</th><th>Today</th><th>Price</th></tr>");
    for m in spend.models.iter().take(20) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html(&clean(&m.model_id, MAX_ID_CHARS)),
            html(&clean(&m.region, 40)),
            html(&usd(m.usd_per_hour)),
            html(&usd(m.usd_last_hour)),
            html(&usd(m.usd_today)),
            html(&clean(&m.price_basis, 200))
        );
    }
    page.push_str("</table></body></html>");
    Some(Rendered { subject: clean(&subject, super::template::MAX_SUBJECT_CHARS), text, html: page })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::velocity::figures::{Figures, ModelSpend};

    #[test]
    fn an_accounts_alert_names_it_in_every_part_with_its_markup_escaped() {
        let r = Rendered { subject: "costguard: AI spend OVER".into(), text: "body".into(), html: "<html><body style=\"x\"><p>hi</p></body></html>".into() };
        let a = in_account(r, "<b>dev</b> (111111111111)");
        assert!(a.subject.starts_with("[<b>dev</b> (111111111111)] costguard:"), "{}", a.subject);
        assert!(a.text.starts_with("Account: <b>dev</b> (111111111111)\n\nbody"), "{}", a.text);
        assert!(a.html.starts_with("<html><body style=\"x\"><p>Account: <strong>&lt;b&gt;dev&lt;/b&gt;"), "{}", a.html);
    }

    #[test]
    fn model_ids_from_aws_cannot_inject_markup_or_lines() {
        let evil = "acme.<script>alert(1)</script>\nBcc: x@y";
        let line = AlertLine { scope: evil.into(), region: Some("us-east-1".into()), rule: AlertRule::MaxUsdPerHour, value: 50.0, limit: 6.85 };
        let model = ModelSpend {
            model_id: evil.into(),
            region: "us-east-1".into(),
            usd_last_hour: Some(40.0),
            usd_today: Some(90.0),
            usd_per_hour: Some(50.0),
            projected_month_usd: Some(1000.0),
            input_tokens_last_hour: 1.0,
            output_tokens_last_hour: 1.0,
            price_basis: "override".into(),
            alerts: vec!["max-usd-per-hour".into()],
            hourly_usd: vec![],
            baseline_usd_per_hour: None,
        };
        let spend = AiSpend {
            as_of: chrono::DateTime::UNIX_EPOCH,
            window_minutes: 15,
            period_minutes: 5,
            total: Figures { usd_last_hour: 40.0, usd_today: 90.0, usd_per_hour: 50.0, projected_month_usd: 1000.0 },
            models: vec![model],
            unpriced_models: 0,
            baseline_usd_per_hour: None,
            sagemaker_endpoints: None,
            alerts: vec![line.clone()],
            told: vec![],
        };
        let r = render(&[Notice { kind: NoticeKind::Crossed, line, told: None }], &spend).expect("a message");
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.text.lines().all(|l| !l.starts_with("Bcc")), "{}", r.text);
        assert!(!r.subject.contains('\n'));
        assert!(r.subject.contains("$50.00/hour now"), "{}", r.subject);
    }
}
