//! The audit report of a sweep: `report.json` for machines, `report.md` and
//! `report.html` for people. All come from one [`Report`] value.

pub mod html;
pub mod markdown;
pub mod organization;
pub mod page;
pub mod plan_review;
mod view;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::ApiCallCounter;
pub use crate::engine::findings::Finding;
use crate::engine::inventory::Inventory;
use crate::engine::plan::Plan;
use crate::guardrails::spend::SpendSummary;
use crate::guardrails::velocity::figures::AiSpend;
use crate::guardrails::GuardrailChange;
use crate::outcome::Status;
use crate::resources::ResourceType;
use crate::text::total;

/// Where reports go unless `--report-dir` says otherwise.
pub const DEFAULT_REPORT_DIR: &str = "costguard-report";

pub struct RunInfo {
    pub run_id: String,
    pub account_id: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub regions: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub run_id: String,
    /// The account swept.
    pub account_id: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub regions: Vec<String>,
    /// Requests sent to AWS, keyed `service:Operation`, retries included.
    pub api_calls: BTreeMap<String, u64>,
    /// Requests AWS answered with a throttling error.
    pub api_throttles: BTreeMap<String, u64>,
    pub errors: Vec<ReportError>,
    pub policies: Vec<PolicySummary>,
    /// What the models' token use costs now, and the alerts it crossed
    /// (the spend-velocity guardrail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_spend: Option<AiSpend>,
    /// The account's spend (Cost Explorer), when guardrails ask for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend: Option<SpendSummary>,
    /// Declared guardrails (budgets, billing alarms) and what reconciling them did.
    pub guardrails: Vec<GuardrailChange>,
    /// What email did: sent, queued for the next sweep, refused, held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<crate::notify::EmailReport>,
    pub findings: Vec<Finding>,
    /// What a `rightsizing` policy could not judge (an accelerated instance
    /// without GPU metrics), with its cost and why: never judged by CPU.
    pub not_judged: Vec<crate::engine::plan::NotJudged>,
    pub totals: Totals,
    /// What costguard's changes saved so far (the savings ledger), beside
    /// what is at stake; absent without a state database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<crate::engine::ledger::SavingsTotal>,
    /// The plan this dry run saved for review (`--save-plan`, `approval:
    /// required`), or the reviewed plan this run applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_file: Option<PlanFileInfo>,
    /// The process's own cost, where the platform tells it.
    pub process: ProcessStats,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanFileInfo {
    pub path: String,
    /// `saved` (awaiting review) or `applied`.
    pub role: &'static str,
    pub changes: usize,
}

impl PlanFileInfo {
    /// One line for people: what the plan is and what to do with it.
    pub fn line(&self) -> String {
        match self.role {
            "applied" => format!("applied the reviewed plan {} ({} changes)", self.path, self.changes),
            _ => format!("{} changes saved for review in {}; apply with `costguard apply {}`", self.changes, self.path, self.path),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ReportError {
    /// Which part of the sweep it comes from.
    pub kind: ErrorKind,
    pub region: Option<String>,
    pub resource_type: Option<ResourceType>,
    pub message: String,
}

/// The part of a sweep a report's error comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The sweep's time limit stopped it.
    Stopped,
    /// The state database: recovery, pruning, the ledger.
    Journal,
    /// Listing or describing a resource type in a region.
    Listing,
    Guardrails,
    Spend,
    AiSpend,
    Email,
}

#[derive(Clone, Debug, Serialize)]
pub struct PolicySummary {
    pub name: String,
    pub resource_type: ResourceType,
    pub examined: usize,
    pub matched: usize,
    pub planned: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Why the circuit breaker stopped this policy.
    pub breaker: Option<String>,
    pub incomplete_regions: Vec<String>,
    pub monthly_cost_usd: f64,
    /// Findings whose cost is unknown (left out of `monthly_cost_usd`).
    pub unpriced: usize,
    /// The saving at stake if the policy's findings are acted on.
    pub monthly_saving_usd: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub findings: usize,
    pub planned: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub breakers_tripped: usize,
    /// Monthly cost of the matched resources, each counted once.
    pub monthly_cost_usd: f64,
    /// Matched resources whose cost is unknown (left out of the sum), each counted once.
    pub unpriced: usize,
    /// Monthly saving at stake over all findings, each resource counted once.
    pub monthly_saving_usd: f64,
    /// Resources no rightsizing policy could judge, and what they cost
    /// (unpriced ones left out of the sum).
    pub not_judged: usize,
    pub not_judged_monthly_cost_usd: f64,
    pub api_calls: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

/// Everything a sweep produced, from which the report is built once.
pub struct Parts<'a> {
    pub info: RunInfo,
    pub plan: &'a Plan,
    pub findings: Vec<Finding>,
    pub inventory: &'a Inventory,
    /// Guardrail entries, and the kinds that could not be read or changed.
    pub guardrails: Vec<GuardrailChange>,
    pub guardrail_errors: Vec<String>,
    /// The account's spend, or why it could not be read.
    pub spend: Option<Result<SpendSummary, String>>,
    /// AI spend now, or why it could not be read.
    pub ai_spend: Option<Result<AiSpend, String>>,
    pub emails: Option<(crate::notify::EmailReport, Vec<String>)>,
    pub counter: &'a ApiCallCounter,
    /// Why the sweep stopped before its end (its time limit), if it did.
    pub stopped: Option<String>,
    /// Crash recovery that needs a person: quarantined journal rows,
    /// actions still unsettled.
    pub journal_errors: Vec<String>,
    /// The savings ledger's total, when there is a journal.
    pub savings: Option<crate::engine::ledger::SavingsTotal>,
    pub plan_file: Option<PlanFileInfo>,
}

impl Report {
    pub fn build(parts: Parts<'_>) -> Self {
        let Parts {
            info,
            plan,
            findings,
            inventory,
            guardrails,
            guardrail_errors,
            spend,
            ai_spend,
            emails,
            counter,
            stopped,
            journal_errors,
            savings,
            plan_file,
        } = parts;
        let policies = plan
            .policies
            .iter()
            .map(|p| {
                let mine: Vec<&Finding> = findings.iter().filter(|f| *f.policy == *p.policy).collect();
                let count = |s: Status| mine.iter().filter(|f| f.status == s).count();
                PolicySummary {
                    name: p.policy.clone(),
                    resource_type: p.resource_type,
                    examined: p.examined,
                    matched: p.matched,
                    planned: count(Status::Planned),
                    done: count(Status::Done),
                    skipped: count(Status::Skipped),
                    failed: count(Status::Failed),
                    breaker: p.breaker.clone(),
                    incomplete_regions: p.incomplete_regions.clone(),
                    monthly_cost_usd: total(mine.iter().filter_map(|f| f.monthly_cost_usd)),
                    unpriced: mine.iter().filter(|f| f.monthly_cost_usd.is_none()).count(),
                    monthly_saving_usd: total(mine.iter().filter_map(|f| f.monthly_saving_usd)),
                }
            })
            .collect();
        let general = |kind: ErrorKind, message: String| ReportError { kind, region: None, resource_type: None, message };
        let mut errors: Vec<ReportError> = stopped.into_iter().map(|e| general(ErrorKind::Stopped, e)).collect();
        errors.extend(journal_errors.into_iter().map(|e| general(ErrorKind::Journal, format!("journal: {e}"))));
        errors.extend(inventory.errors.iter().map(|e| ReportError {
            kind: ErrorKind::Listing,
            region: Some(e.region.clone()),
            resource_type: Some(e.resource_type),
            message: e.error.to_string(),
        }));
        errors.extend(guardrail_errors.into_iter().map(|e| general(ErrorKind::Guardrails, format!("guardrails: {e}"))));
        let spend = match spend {
            Some(Ok(summary)) => Some(summary),
            Some(Err(e)) => {
                errors.push(general(ErrorKind::Spend, format!("spend: {e}")));
                None
            }
            None => None,
        };
        let ai_spend = match ai_spend {
            Some(Ok(figures)) => Some(figures),
            Some(Err(e)) => {
                errors.push(general(ErrorKind::AiSpend, format!("AI spend: {e}")));
                None
            }
            None => None,
        };
        let emails = emails.map(|(report, email_errors)| {
            errors.extend(email_errors.into_iter().map(|e| general(ErrorKind::Email, e)));
            report
        });
        let api_calls = counter.snapshot();
        let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
        // A resource matched by several policies counts once.
        let mut seen = HashSet::new();
        let resources: Vec<&Finding> = findings.iter().filter(|f| seen.insert((&*f.region, f.arn.as_str()))).collect();
        let totals = Totals {
            findings: findings.len(),
            planned: count(Status::Planned),
            done: count(Status::Done),
            skipped: count(Status::Skipped),
            // A guardrail that could not be changed counts as a failure.
            failed: count(Status::Failed) + guardrails.iter().filter(|c| c.status == Status::Failed).count(),
            breakers_tripped: plan.policies.iter().filter(|p| p.breaker.is_some()).count(),
            monthly_cost_usd: total(resources.iter().filter_map(|f| f.monthly_cost_usd)),
            unpriced: resources.iter().filter(|f| f.monthly_cost_usd.is_none()).count(),
            monthly_saving_usd: total(resources.iter().filter_map(|f| f.monthly_saving_usd)),
            not_judged: plan.not_judged.len(),
            not_judged_monthly_cost_usd: total(plan.not_judged.iter().filter_map(|n| n.monthly_cost_usd)),
            api_calls: api_calls.values().sum(),
        };
        Report {
            run_id: info.run_id,
            account_id: info.account_id,
            dry_run: info.dry_run,
            started_at: info.started_at,
            finished_at: info.finished_at,
            regions: info.regions,
            api_calls,
            api_throttles: counter.throttles(),
            errors,
            policies,
            ai_spend,
            spend,
            guardrails,
            emails,
            findings,
            not_judged: plan.not_judged.clone(),
            totals,
            saved: savings,
            plan_file,
            process: ProcessStats::read(),
        }
    }

    /// How the run ended, for the exit code.
    pub fn verdict(&self) -> Verdict {
        if !self.errors.is_empty() || self.totals.failed > 0 {
            Verdict::Errors
        } else if self.totals.breakers_tripped > 0 {
            Verdict::BreakerTripped
        } else {
            Verdict::Clean
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// A listing or an action failed.
    Errors,
    /// A policy matched more than its limits allow and acted on nothing.
    BreakerTripped,
}

impl ProcessStats {
    /// From /proc on Linux; empty elsewhere.
    pub fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let peak_rss_mib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0);
        // utime and stime are fields 14 and 15, after the parenthesised name.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let cpu_seconds = stat.rsplit_once(')').and_then(|(_, rest)| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            // USER_HZ is 100 on every Linux platform Rust targets.
            Some(ticks / 100.0)
        });
        ProcessStats { cpu_seconds, peak_rss_mib }
    }
}

/// Writes `report.json` and `report.md` into `dir`, each atomically (a
/// reader never sees half a report).
pub fn write(report: &Report, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    // Streamed to disk: a large report is never held twice in memory.
    let json_path = crate::files::write_atomic(dir, "report.json", |out| serde_json::to_writer_pretty(out, report).map_err(std::io::Error::other))?;
    let md_path = crate::files::write_atomic(dir, "report.md", |out| stream(out, |w| markdown::write_to(report, w)))?;
    crate::files::write_atomic(dir, "report.html", |out| stream(out, |w| html::write_to(report, w)))?;
    Ok((json_path, md_path))
}

/// Text written as it is made onto `out` (`fmt::Write` onto a file),
/// failing with the first write error.
fn stream(out: &mut impl std::io::Write, make: impl FnOnce(&mut dyn std::fmt::Write) -> Result<(), page::RenderError>) -> std::io::Result<()> {
    struct Onto<'a, W: std::io::Write> {
        out: &'a mut W,
        error: Option<std::io::Error>,
    }
    impl<W: std::io::Write> std::fmt::Write for Onto<'_, W> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.error.is_some() {
                return Err(std::fmt::Error);
            }
            self.out.write_all(s.as_bytes()).map_err(|e| {
                self.error = Some(e);
                std::fmt::Error
            })
        }
    }
    let mut onto = Onto { out, error: None };
    let rendered = make(&mut onto);
    match (onto.error, rendered) {
        (Some(e), _) => Err(e),
        (None, rendered) => rendered.map_err(std::io::Error::other),
    }
}

// Here, not in `organization`: its page is written by `html`, which reads it.
impl organization::OrgReport {
    /// Writes `report.json`, `report.md` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let json = crate::files::write_atomic(dir, "report.json", |w| serde_json::to_writer_pretty(w, self).map_err(std::io::Error::other))?;
        let md = crate::files::write_atomic(dir, "report.md", |w| stream(w, |out| markdown::organization(self, out)))?;
        let page = |id: &str| self.account_page(dir, id);
        crate::files::write_atomic(dir, "report.html", |w| stream(w, |out| html::organization(self, &page, out)))?;
        Ok((json, md))
    }
}
