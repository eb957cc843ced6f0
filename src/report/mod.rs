//! The audit report of a sweep: `report.json` for machines, `report.md` and
//! `report.html` for people. All come from one [`Report`] value.

pub mod history;
pub mod html;
pub mod markdown;
pub mod organization;
pub mod page;
pub mod plan_review;
mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::ApiCallCounter;
pub use crate::engine::findings::Finding;
use crate::engine::findings::{Confidence, Remedy};
use crate::engine::inventory::Inventory;
use crate::engine::plan::Plan;
use crate::guardrails::spend::SpendSummary;
use crate::guardrails::velocity::figures::AiSpend;
use crate::guardrails::GuardrailChange;
use crate::outcome::{Standing, Status};
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
    /// What to act on first: at most [`ACT_FIRST`] findings not left
    /// alone, each resource once (its largest saving), ranked by monthly
    /// saving.
    pub act_first: Vec<ActFirst>,
    /// What changed since the last report, when there is a state folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_last_run: Option<history::SinceLastRun>,
    /// What off-hours policies put to sleep: asleep, woken, or started
    /// again by someone, with the hours and dollars saved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sleeping: Vec<crate::engine::wake::SleepLine>,
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

impl ErrorKind {
    /// What a person can do about an error of this kind.
    pub fn what_to_do(self) -> &'static str {
        match self {
            ErrorKind::Stopped => "raise the sweep's time limit (--max-duration, time-limits.sweep-minutes) or sweep fewer regions per run; what was not reached is swept next time",
            ErrorKind::Journal => "check the state folder (permissions, free space); what is still unsettled is settled by the next run, and `costguard restore` undoes what was done",
            ErrorKind::Listing => "grant the read permissions `costguard iam-policy` prints, or check that the region is enabled; the findings of that type and region are incomplete until then",
            ErrorKind::Guardrails => "grant the budgets, CloudWatch and Cost Explorer permissions `costguard iam-policy` prints; the guardrails are reconciled again at the next run",
            ErrorKind::Spend => "grant ce:GetCostAndUsage and ce:GetCostForecast, and enable Cost Explorer (in the payer account of an organization)",
            ErrorKind::AiSpend => "grant cloudwatch:ListMetrics and cloudwatch:GetMetricData in the regions where Bedrock is used",
            ErrorKind::Email => "check the email relay (host, port, credentials); what was not delivered waits in the outbox for the next sweep",
        }
    }
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
    /// Monthly saving at stake over all findings, each resource counted
    /// once (its largest saving): the sum of `saving_usd`'s three parts,
    /// which people are shown instead.
    pub monthly_saving_usd: f64,
    /// The saving at stake split by whether it will happen.
    pub saving_usd: SavingSplit,
    /// Resources no rightsizing policy could judge, and what they cost
    /// (unpriced ones left out of the sum).
    pub not_judged: usize,
    pub not_judged_monthly_cost_usd: f64,
    pub api_calls: u64,
}

/// The saving at stake by whether it will happen, each resource counted
/// once: never summed into one headline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SavingSplit {
    /// Changes that run (a dry run: would run) or ran.
    pub will_change: f64,
    /// Report-only findings, and changes held by a circuit breaker, a
    /// grace period, a review or a failure: a person decides.
    pub needs_decision: f64,
    /// Protected, opted out, refused, gone: nothing will happen.
    pub left_alone: f64,
    /// Findings of unknown saving in each part, left out of its sum.
    pub unpriced: UnpricedSplit,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct UnpricedSplit {
    pub will_change: usize,
    pub needs_decision: usize,
    pub left_alone: usize,
}

impl SavingSplit {
    /// Of findings already counted once per resource.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut split = SavingSplit::default();
        for f in findings {
            let (sum, unpriced) = match f.standing {
                Standing::WillChange => (&mut split.will_change, &mut split.unpriced.will_change),
                Standing::NeedsDecision => (&mut split.needs_decision, &mut split.unpriced.needs_decision),
                Standing::LeftAlone => (&mut split.left_alone, &mut split.unpriced.left_alone),
            };
            match f.monthly_saving_usd {
                Some(usd) => *sum += usd,
                None => *unpriced += 1,
            }
        }
        split
    }

    pub fn sum(&self) -> f64 {
        self.will_change + self.needs_decision + self.left_alone
    }

    /// Two splits added, part by part (accounts into an organization).
    pub fn plus(self, other: &SavingSplit) -> SavingSplit {
        SavingSplit {
            will_change: self.will_change + other.will_change,
            needs_decision: self.needs_decision + other.needs_decision,
            left_alone: self.left_alone + other.left_alone,
            unpriced: UnpricedSplit {
                will_change: self.unpriced.will_change + other.unpriced.will_change,
                needs_decision: self.unpriced.needs_decision + other.unpriced.needs_decision,
                left_alone: self.unpriced.left_alone + other.unpriced.left_alone,
            },
        }
    }
}

/// How many findings `act_first` holds at most.
pub const ACT_FIRST: usize = 10;

/// One of the findings to act on first.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ActFirst {
    pub account_id: String,
    pub region: String,
    pub resource_type: ResourceType,
    pub resource_id: String,
    /// The policy with the largest saving for it.
    pub policy: String,
    /// What the policy does, in words.
    pub action: String,
    /// The change acting makes (`stop`, `delete`, `resize`), suggested
    /// when the policy only reports.
    pub change: Option<String>,
    pub monthly_saving_usd: f64,
    /// Whether it runs by itself or waits for a person.
    pub standing: Standing,
    pub status: Status,
    /// Why it was skipped or held, or what was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The policy only reports: what acting takes is the change its type
    /// would make (a person makes it).
    pub suggested: bool,
    /// What acting takes.
    pub effort: Option<crate::resources::Effort>,
    pub restart_needed: Option<bool>,
    pub reversible: Option<bool>,
    /// What `costguard restore` brings back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
    /// Days (and hours) of data behind it; `None`: settings read now.
    pub confidence: Option<Confidence>,
    pub owner: Option<String>,
}

/// The findings to act on first, of `resources` (each resource once, at
/// its largest saving: [`once_per_resource`]): not left alone, priced
/// above zero, largest first; at most [`ACT_FIRST`], kept as they come
/// (no sort of the whole estate).
pub fn act_first(resources: &[&Finding]) -> Vec<ActFirst> {
    let before = |a: &Finding, b: &Finding| {
        let (x, y) = (a.monthly_saving_usd.unwrap_or(0.0), b.monthly_saving_usd.unwrap_or(0.0));
        y.total_cmp(&x).then_with(|| a.resource_id.cmp(&b.resource_id)).then_with(|| a.policy.cmp(&b.policy))
    };
    let mut ranked: Vec<&Finding> = Vec::with_capacity(ACT_FIRST + 1);
    for f in resources.iter().copied() {
        if f.standing == Standing::LeftAlone || !f.monthly_saving_usd.is_some_and(|usd| usd > 0.0) {
            continue;
        }
        let at = ranked.partition_point(|r| before(r, f).is_lt());
        if at < ACT_FIRST {
            ranked.insert(at, f);
            ranked.truncate(ACT_FIRST);
        }
    }
    ranked
        .into_iter()
        .map(|f| {
            let (remedy, suggested) = match &f.remedy {
                Some(r) => (Some(Remedy::clone(r)), false),
                None => (Remedy::suggested(f.resource_type, f.recommendation.as_ref().map(|r| r.verdict)), true),
            };
            let remedy = remedy.as_ref();
            ActFirst {
                account_id: f.account_id.to_string(),
                region: f.region.to_string(),
                resource_type: f.resource_type,
                resource_id: f.resource_id.clone(),
                policy: f.policy.to_string(),
                action: f.action_description.to_string(),
                change: remedy.map(|r| r.changes.to_string()),
                monthly_saving_usd: f.monthly_saving_usd.unwrap_or(0.0),
                standing: f.standing,
                status: f.status,
                detail: f.detail.as_deref().map(str::to_string),
                suggested,
                effort: remedy.map(|r| r.effort),
                restart_needed: remedy.map(|r| r.restart_needed),
                reversible: remedy.map(|r| r.reversible),
                restores: remedy.and_then(|r| r.restores.as_deref()).map(str::to_string),
                confidence: f.confidence.as_deref().cloned(),
                owner: f.owner.as_deref().map(str::to_string),
            }
        })
        .collect()
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
    /// What changed since the last report (the state folder's history).
    pub since_last_run: Option<history::SinceLastRun>,
    /// The sleeps of off-hours policies, and what this run did about them.
    pub sleeping: Vec<crate::engine::wake::SleepLine>,
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
            since_last_run,
            sleeping,
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
        // A resource matched by several policies counts once, with its largest saving.
        let resources = once_per_resource(&findings);
        let saving_usd = SavingSplit::of(resources.iter().copied());
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
            monthly_saving_usd: saving_usd.sum(),
            saving_usd,
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
            act_first: act_first(&resources),
            since_last_run,
            sleeping,
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

/// Each resource once (by its ARN, which names its account and region),
/// as its finding with the largest saving (an unknown saving counts
/// least), in the findings' order.
pub fn once_per_resource(findings: &[Finding]) -> Vec<&Finding> {
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(findings.len());
    let mut kept: Vec<&Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match at.entry(f.arn.as_str()) {
            std::collections::hash_map::Entry::Occupied(slot) => {
                let was = &mut kept[*slot.get()];
                if f.monthly_saving_usd.unwrap_or(-1.0) > was.monthly_saving_usd.unwrap_or(-1.0) {
                    *was = f;
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(f);
            }
        }
    }
    kept
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
        let page = |id: &str| self.account_page(dir, id);
        let md = crate::files::write_atomic(dir, "report.md", |w| stream(w, |out| markdown::organization(self, &page, out)))?;
        crate::files::write_atomic(dir, "report.html", |w| stream(w, |out| html::organization(self, &page, out)))?;
        Ok((json, md))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(policy: &str, arn: &str, standing: Standing, saving: Option<f64>) -> Finding {
        Finding {
            entry: Default::default(),
            policy: policy.into(),
            resource_type: ResourceType::SagemakerEndpoint,
            resource_id: arn.rsplit('/').next().unwrap_or(arn).to_string(),
            arn: arn.to_string(),
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            reason: "idle".into(),
            action: "delete".into(),
            action_description: "delete".into(),
            status: Status::Planned,
            standing,
            detail: None,
            monthly_cost_usd: saving,
            cost_kind: None,
            cost_basis: None,
            monthly_saving_usd: saving,
            recommendation: None,
            remedy: None,
            confidence: None,
            owner: None,
        }
    }

    #[test]
    fn act_first_ranks_by_saving_counts_a_resource_once_and_leaves_out_what_is_left_alone() {
        let mut findings = vec![
            finding("a", "arn:e/small", Standing::WillChange, Some(10.0)),
            finding("a", "arn:e/big", Standing::NeedsDecision, Some(900.0)),
            // The same resource under a second policy, with a larger saving: counted once, at that.
            finding("b", "arn:e/small", Standing::NeedsDecision, Some(50.0)),
            finding("a", "arn:e/protected", Standing::LeftAlone, Some(5000.0)),
            finding("a", "arn:e/unpriced", Standing::WillChange, None),
        ];
        for i in 0..20 {
            findings.push(finding("c", &format!("arn:e/many-{i:02}"), Standing::WillChange, Some(1.0 + f64::from(i))));
        }
        let once = once_per_resource(&findings);
        let ranked = act_first(&once);
        assert_eq!(ranked.len(), ACT_FIRST);
        assert_eq!((ranked[0].resource_id.as_str(), ranked[0].monthly_saving_usd), ("big", 900.0));
        assert_eq!((ranked[1].resource_id.as_str(), ranked[1].policy.as_str(), ranked[1].monthly_saving_usd), ("small", "b", 50.0));
        assert!(ranked.windows(2).all(|w| w[0].monthly_saving_usd >= w[1].monthly_saving_usd));
        assert!(!ranked.iter().any(|a| a.resource_id == "protected" || a.resource_id == "unpriced"));
        // A report-only finding says what acting would take.
        assert!(ranked[0].suggested && ranked[0].effort == Some(crate::resources::Effort::Medium) && ranked[0].reversible == Some(true));

        let split = SavingSplit::of(once.iter().copied());
        assert_eq!(split.left_alone, 5000.0);
        assert_eq!(split.needs_decision, 950.0, "the shared resource counts once, at its largest saving");
        assert_eq!(split.unpriced.will_change, 1);
        let all: f64 = once.iter().filter_map(|f| f.monthly_saving_usd).sum();
        assert!((split.sum() - all).abs() < 1e-9, "the three parts add up to the findings' savings");
    }
}
