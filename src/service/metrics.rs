//! The daemon's Prometheus metrics, fed by typed events: each event writes
//! one log line and bumps the counters with the same labels, so logs and
//! metrics never disagree.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

use crate::report::Report;

/// Label values, in order of the metric's label names.
type Labels = Vec<String>;

#[derive(Default)]
struct Family {
    help: &'static str,
    kind: &'static str,
    labels: &'static [&'static str],
    values: BTreeMap<Labels, f64>,
}

#[derive(Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

const SWEEPS: (&str, &str, &str, &[&str]) =
    ("costguard_sweeps_total", "Sweeps run, by schedule and outcome (ok, errors, failed).", "counter", &["schedule", "outcome"]);
const FINDINGS: (&str, &str, &str, &[&str]) = ("costguard_findings", "Findings of each policy in its last sweep.", "gauge", &["policy"]);
const AT_STAKE: (&str, &str, &str, &[&str]) =
    ("costguard_monthly_cost_at_stake_usd", "Monthly saving at stake in each policy's findings, last sweep (USD).", "gauge", &["policy"]);
const SAVED: (&str, &str, &str, &[&str]) = (
    "costguard_realized_savings_usd_per_month",
    "Monthly cost taken off the bill by each policy's changes, as the savings ledger holds it (restored and recreated resources no longer count).",
    "gauge",
    &["policy"],
);
const NOT_JUDGED: (&str, &str, &str, &[&str]) = (
    "costguard_not_judged_resources",
    "Resources a rightsizing policy could not judge in the last sweep (accelerated instances without GPU metrics, burstable types), by type.",
    "gauge",
    &["resource_type"],
);
const NOT_JUDGED_COST: (&str, &str, &str, &[&str]) =
    ("costguard_not_judged_monthly_cost_usd", "Monthly cost of the resources not judged in the last sweep (USD, priced ones).", "gauge", &[]);
const ACTIONS: (&str, &str, &str, &[&str]) =
    ("costguard_actions_total", "Actions by kind and outcome (planned, done, skipped, failed).", "counter", &["action", "outcome"]);
const API_CALLS: (&str, &str, &str, &[&str]) = ("costguard_api_calls_total", "AWS requests sent, by IAM action, retries included.", "counter", &["operation"]);
const THROTTLES: (&str, &str, &str, &[&str]) =
    ("costguard_api_throttles_total", "AWS requests answered with throttling, by IAM action.", "counter", &["operation"]);
const EMAILS: (&str, &str, &str, &[&str]) =
    ("costguard_emails_total", "Email digests by outcome (sent, queued, failed, outbox-sent, outbox-expired).", "counter", &["outcome"]);
const OUTBOX: (&str, &str, &str, &[&str]) = ("costguard_email_outbox", "Messages waiting in the outbox after the last sweep.", "gauge", &[]);
const LAST_SWEEP: (&str, &str, &str, &[&str]) = ("costguard_last_sweep_timestamp_seconds", "When the last sweep finished (Unix time).", "gauge", &[]);
const LAST_DURATION: (&str, &str, &str, &[&str]) = ("costguard_last_sweep_duration_seconds", "How long the last sweep took.", "gauge", &[]);
const SLEEPING: (&str, &str, &str, &[&str]) =
    ("costguard_sleeping_resources", "Resources each off-hours policy has asleep after the last sweep that ran it.", "gauge", &["policy"]);
const SLEPT_HOURS: (&str, &str, &str, &[&str]) =
    ("costguard_scheduled_hours_saved_total", "Hours off-hours policies kept resources asleep, counted when each sleep ends.", "counter", &["policy"]);
const SLEPT_USD: (&str, &str, &str, &[&str]) = (
    "costguard_scheduled_savings_usd_total",
    "What those hours asleep would have cost (USD, at the hourly price when each went to sleep), counted when each sleep ends.",
    "counter",
    &["policy"],
);
const RELOADS: (&str, &str, &str, &[&str]) =
    ("costguard_config_reloads_total", "Config reloads by outcome (ok, failed: the last good config keeps running).", "counter", &["outcome"]);

const ACCOUNT_FINDINGS: (&str, &str, &str, &[&str]) =
    ("costguard_account_findings", "Findings in each account in its last sweep.", "gauge", &["account", "name"]);
const ACCOUNT_AT_STAKE: (&str, &str, &str, &[&str]) =
    ("costguard_account_monthly_cost_at_stake_usd", "Monthly saving at stake in each account's findings, last sweep (USD).", "gauge", &["account", "name"]);
const ACCOUNT_UP: (&str, &str, &str, &[&str]) = (
    "costguard_account_swept",
    "Whether each account was swept in the last sweep (1) or could not be (0: its role refused, its sweep failed).",
    "gauge",
    &["account", "name"],
);

const AI_PER_HOUR: (&str, &str, &str, &[&str]) = (
    "costguard_ai_spend_usd_per_hour",
    "What each model's token use costs per hour now (the spend-velocity window), priced models only.",
    "gauge",
    &["model", "region"],
);
const AI_TOTAL: (&str, &str, &str, &[&str]) = ("costguard_ai_spend_total_usd_per_hour", "What all priced models' token use costs per hour now.", "gauge", &[]);
const AI_ALERTS: (&str, &str, &str, &[&str]) =
    ("costguard_ai_spend_alerts_total", "AI spend alerts told (crossed, worse, still-over, back-under), by rule.", "counter", &["rule", "kind"]);

const EVENTS: (&str, &str, &str, &[&str]) =
    ("costguard_events_total", "Creation events from the queue, by outcome (told, duplicate, quiet, retried, unreadable, error).", "counter", &["outcome"]);

type Spec = (&'static str, &'static str, &'static str, &'static [&'static str]);

impl Metrics {
    pub fn new() -> Self {
        let m = Metrics::default();
        // Present from the start, so a scrape before the first sweep shows zeros.
        m.add(SWEEPS, &[], 0.0);
        m.add(RELOADS, &[], 0.0);
        m
    }

    fn update(&self, spec: Spec, labels: &[&str], f: impl FnOnce(&mut f64)) {
        let (name, help, kind, names) = spec;
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let family = families.entry(name).or_insert_with(|| Family { help, kind, labels: names, values: BTreeMap::new() });
        if labels.is_empty() && !names.is_empty() {
            return; // registers the family only
        }
        f(family.values.entry(labels.iter().map(|l| l.to_string()).collect()).or_insert(0.0));
    }

    fn add(&self, spec: Spec, labels: &[&str], by: f64) {
        self.update(spec, labels, |v| *v += by);
    }

    fn set(&self, spec: Spec, labels: &[&str], to: f64) {
        self.update(spec, labels, |v| *v = to);
    }

    /// Forgets a gauge's series (models no longer in use drop out).
    fn clear(&self, spec: Spec) {
        if let Some(f) = self.families.lock().unwrap_or_else(PoisonError::into_inner).get_mut(spec.0) {
            f.values.clear();
        }
    }

    /// AI spend was read (by a sweep, or on its own schedule).
    pub fn ai_spend(&self, ai: &crate::guardrails::velocity::figures::AiSpend) {
        self.clear(AI_PER_HOUR);
        self.update(AI_PER_HOUR, &[], |_| {});
        for m in &ai.models {
            if let Some(v) = m.usd_per_hour {
                self.set(AI_PER_HOUR, &[&m.model_id, &m.region], v);
            }
        }
        self.set(AI_TOTAL, &[], ai.total.usd_per_hour);
        self.update(AI_ALERTS, &[], |_| {});
        for n in &ai.told {
            self.add(AI_ALERTS, &[n.line.rule.as_str(), n.kind.as_str()], 1.0);
        }
    }

    /// A sweep ended with a report.
    pub fn sweep_finished(&self, schedule: &str, report: &Report, seconds: f64) {
        let outcome = match report.verdict() {
            crate::report::Verdict::Clean | crate::report::Verdict::BreakerTripped => "ok",
            crate::report::Verdict::Errors => "errors",
        };
        tracing::info!(
            schedule,
            outcome,
            findings = report.totals.findings,
            done = report.totals.done,
            failed = report.totals.failed,
            api_calls = report.totals.api_calls,
            monthly_saving_usd = report.totals.monthly_saving_usd,
            seconds,
            "sweep finished"
        );
        self.ended(schedule, outcome, seconds, Ended { findings: &report.findings, api_calls: &report.api_calls, finished_at: report.finished_at });
        self.account(&report.account_id, "", true, report.totals.findings, report.totals.monthly_saving_usd);
        for p in &report.policies {
            self.set(FINDINGS, &[&p.name], p.matched as f64);
            self.set(AT_STAKE, &[&p.name], p.monthly_saving_usd);
        }
        self.clear(NOT_JUDGED);
        for t in crate::resources::ResourceType::ALL.iter().filter(|t| t.sizable()) {
            let n = report.not_judged.iter().filter(|n| n.resource_type == *t).count();
            self.set(NOT_JUDGED, &[t.name()], n as f64);
        }
        self.set(NOT_JUDGED_COST, &[], report.totals.not_judged_monthly_cost_usd);
        for (policy, usd) in report.saved.iter().flat_map(|s| &s.by_policy) {
            self.set(SAVED, &[policy], *usd);
        }
        for (op, n) in &report.api_throttles {
            self.add(THROTTLES, &[op], *n as f64);
        }
        if let Some(e) = &report.emails {
            for (outcome, n) in
                [("sent", e.sent), ("queued", e.queued), ("failed", e.failed), ("outbox-sent", e.outbox_sent), ("outbox-expired", e.outbox_expired)]
            {
                self.add(EMAILS, &[outcome], n as f64);
            }
            self.set(OUTBOX, &[], e.outbox_waiting as f64);
        }
        if let Some(ai) = &report.ai_spend {
            self.ai_spend(ai);
        }
        self.sleeps(&report.sleeping);
    }

    /// What off-hours policies have asleep, and the sleeps that ended.
    fn sleeps(&self, lines: &[crate::engine::wake::SleepLine]) {
        use crate::engine::wake::SleepStatus;
        let mut asleep: BTreeMap<&str, usize> = BTreeMap::new();
        for line in lines {
            let n = asleep.entry(line.policy.as_str()).or_default();
            match line.status {
                SleepStatus::Asleep | SleepStatus::PutToSleep | SleepStatus::WakeFailed => *n += 1,
                SleepStatus::Woken | SleepStatus::StartedBySomeone | SleepStatus::Gone | SleepStatus::LeftToItsUser => {
                    self.add(SLEPT_HOURS, &[&line.policy], line.hours_asleep);
                    self.add(SLEPT_USD, &[&line.policy], line.saved_usd.unwrap_or(0.0));
                }
                SleepStatus::WouldSleep | SleepStatus::WouldWake | SleepStatus::InUse => {}
            }
        }
        for (policy, n) in asleep {
            self.set(SLEEPING, &[policy], n as f64);
        }
    }

    /// What every sweep's end records, of one account or of an organization.
    fn ended(&self, schedule: &str, outcome: &str, seconds: f64, ended: Ended<'_>) {
        let Ended { findings, api_calls, finished_at } = ended;
        self.add(SWEEPS, &[schedule, outcome], 1.0);
        for f in findings {
            self.add(ACTIONS, &[&f.action, status_name(f.status)], 1.0);
        }
        for (op, n) in api_calls {
            self.add(API_CALLS, &[op], *n as f64);
        }
        self.set(LAST_SWEEP, &[], finished_at.timestamp() as f64);
        self.set(LAST_DURATION, &[], seconds);
    }

    /// One account's figures, labelled by the account.
    fn account(&self, id: &str, name: &str, swept: bool, findings: usize, at_stake: f64) {
        self.set(ACCOUNT_UP, &[id, name], if swept { 1.0 } else { 0.0 });
        self.set(ACCOUNT_FINDINGS, &[id, name], findings as f64);
        self.set(ACCOUNT_AT_STAKE, &[id, name], at_stake);
    }

    /// An organization's sweep ended: by account, and by policy over all
    /// accounts. Accounts gone from the organization drop out.
    pub fn organization_finished(&self, schedule: &str, report: &crate::report::organization::OrgReport, seconds: f64) {
        let t = &report.totals;
        let outcome = if report.has_errors() { "errors" } else { "ok" };
        tracing::info!(
            schedule,
            outcome,
            accounts = t.accounts,
            accounts_failed = t.accounts_failed,
            findings = t.findings,
            api_calls = t.api_calls,
            monthly_saving_usd = t.monthly_saving_usd,
            seconds,
            "organization swept"
        );
        self.ended(schedule, outcome, seconds, Ended { findings: &report.findings, api_calls: &report.api_calls, finished_at: report.finished_at });
        for spec in [ACCOUNT_UP, ACCOUNT_FINDINGS, ACCOUNT_AT_STAKE, FINDINGS, AT_STAKE] {
            self.clear(spec);
        }
        for a in &report.accounts {
            self.account(&a.account_id, &a.name, a.status == crate::outcome::AccountStatus::Ok, a.findings, a.monthly_saving_usd);
        }
        let mut by_policy: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
        for f in &report.findings {
            let p = by_policy.entry(&*f.policy).or_default();
            p.0 += 1;
            p.1 += f.monthly_saving_usd.unwrap_or(0.0);
        }
        for (policy, (findings, at_stake)) in by_policy {
            self.set(FINDINGS, &[policy], findings as f64);
            self.set(AT_STAKE, &[policy], at_stake);
        }
        for d in &report.digests {
            self.add(EMAILS, &[&d.status], 1.0);
        }
    }

    /// A sweep could not run at all (no region, the report unwritable, the journal unreadable).
    pub fn sweep_failed(&self, schedule: &str, error: &str) {
        tracing::error!(schedule, error, "sweep failed");
        self.add(SWEEPS, &[schedule, "failed"], 1.0);
    }

    /// A turn of the events queue: what it did.
    pub fn events(&self, r: &crate::events::DrainReport) {
        let outcomes = [
            ("told", r.told.len()),
            ("duplicate", r.duplicates.len()),
            ("quiet", r.settled_quietly.len()),
            ("retried", r.retried.len()),
            ("unreadable", r.unreadable.len()),
            ("error", r.errors.len()),
        ];
        for (outcome, n) in outcomes {
            self.add(EVENTS, &[outcome], n as f64);
        }
        for (operation, n) in &r.api_calls {
            self.add(API_CALLS, &[operation], *n as f64);
        }
    }

    pub fn reloaded(&self, ok: bool, detail: &str) {
        if ok {
            tracing::info!(detail, "config reloaded");
        } else {
            tracing::error!(error = detail, "config reload rejected; the last good config keeps running");
        }
        self.add(RELOADS, &[if ok { "ok" } else { "failed" }], 1.0);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (name, f) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for (labels, value) in &f.values {
                let labels: Vec<String> = f.labels.iter().zip(labels).map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
                let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

fn status_name(s: crate::outcome::Status) -> &'static str {
    match s {
        crate::outcome::Status::Planned => "planned",
        crate::outcome::Status::Done => "done",
        crate::outcome::Status::Skipped => "skipped",
        crate::outcome::Status::Failed => "failed",
    }
}

/// Label values may hold anything a policy name holds.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What a sweep's end (one account's or an organization's) tells the metrics.
#[derive(Clone, Copy)]
struct Ended<'a> {
    findings: &'a [crate::report::Finding],
    api_calls: &'a BTreeMap<String, u64>,
    finished_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_help_type_and_escaped_labels() {
        let m = Metrics::new();
        m.add(FINDINGS, &["a\"b\\c\nd"], 3.0);
        m.reloaded(false, "bad yaml");
        let text = m.render();
        assert!(text.contains("# TYPE costguard_findings gauge\ncostguard_findings{policy=\"a\\\"b\\\\c\\nd\"} 3\n"), "{text}");
        assert!(text.contains("costguard_config_reloads_total{outcome=\"failed\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE costguard_sweeps_total counter\n"), "families exist before the first sweep: {text}");
    }

    #[test]
    fn sleeping_resources_are_a_gauge_and_ended_sleeps_add_their_hours_and_dollars() {
        use crate::engine::wake::{SleepLine, SleepStatus};
        let line = |status, hours: f64| SleepLine {
            resource_type: crate::resources::ResourceType::Ec2Instance,
            region: "eu-central-1".into(),
            resource_id: format!("i-{hours}"),
            policy: "offhours-ec2".into(),
            schedule: "berlin-office".into(),
            slept_at: crate::clock::test_now(),
            status,
            detail: String::new(),
            wakes_at: None,
            hours_asleep: hours,
            saved_usd: Some(hours * 2.0),
        };
        let m = Metrics::new();
        m.sleeps(&[line(SleepStatus::Asleep, 1.0), line(SleepStatus::PutToSleep, 0.0), line(SleepStatus::Woken, 12.5), line(SleepStatus::WouldWake, 3.0)]);
        m.sleeps(&[line(SleepStatus::StartedBySomeone, 2.0)]);
        let text = m.render();
        assert!(text.contains("costguard_sleeping_resources{policy=\"offhours-ec2\"} 0\n"), "the last sweep has none asleep: {text}");
        assert!(text.contains("costguard_scheduled_hours_saved_total{policy=\"offhours-ec2\"} 14.5\n"), "{text}");
        assert!(text.contains("costguard_scheduled_savings_usd_total{policy=\"offhours-ec2\"} 29\n"), "{text}");
    }

    #[test]
    fn an_organizations_sweep_is_labelled_by_account_and_a_failed_account_shows() {
        use crate::report::organization::{AccountOutcome, OrgReport, OrgRun};
        let now = crate::clock::test_now();
        let run = |id: &str| OrgRun { run_id: id.into(), dry_run: true, hub_account: "111111111111".into(), started_at: now, finished_at: now };
        let failed = |id: &str| AccountOutcome::Failed { account_id: id.into(), name: "ml-prod".into(), ou: None, error: "AccessDenied".into() };
        let m = Metrics::new();
        m.organization_finished(
            "0 0 * * * *",
            &OrgReport::build(run("a"), vec![failed("222222222222"), failed("333333333333")], Vec::new(), BTreeMap::new()),
            1.0,
        );
        let text = m.render();
        assert!(text.contains("costguard_account_swept{account=\"222222222222\",name=\"ml-prod\"} 0\n"), "{text}");
        assert!(text.contains("costguard_sweeps_total{schedule=\"0 0 * * * *\",outcome=\"errors\"} 1\n"), "{text}");
        // An account gone from the organization drops out of the next scrape.
        m.organization_finished("0 0 * * * *", &OrgReport::build(run("b"), vec![failed("222222222222")], Vec::new(), BTreeMap::new()), 1.0);
        assert!(!m.render().contains("333333333333"), "{}", m.render());
    }
}
