//! One sweep, as it reads: check access, collect, plan, apply (unless a dry
//! run), reconcile the guardrails, read the spend, notify, report. Each step
//! is a function of its own; the report is built once from their results.
//! Whether anything changes is decided here, in one place: the run's `Mode`.

pub mod execute;
pub mod loaded;
pub mod organization;

pub use execute::{execute, Request, Swept};
pub use loaded::Loaded;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::aws::Aws;
use crate::clock::Clock;
use crate::config::{Guardrails, Policy};
use crate::engine::apply;
use crate::engine::findings::{self, Finding};
use crate::engine::inventory::{self, Inventory};
use crate::engine::journal::{Journal, JournalError};
use crate::engine::ledger;
use crate::engine::plan::{self, Plan, PlanSettings};
use crate::engine::plan_file;
use crate::engine::wake;
use crate::guardrails::velocity::{self, figures::AiSpend};
use crate::guardrails::{self, spend::SpendSummary, GuardrailChange};
use crate::notify::{self, EmailReport, EmailSetup};
use crate::outcome::Status;
use crate::pricing::PriceBook;
use crate::progress::Progress;
use crate::report::{self, Report, RunInfo};
use crate::state_lock::{LockError, StateLock};

/// What a sweep is asked to do: whether it may change anything, and its
/// scope, features, paths and limits. Built by the CLI's flags or the
/// daemon's config (`Loaded::request`), read by every step through `Run`.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Asked for a dry run: `Run`'s `Mode` decides from it once.
    pub dry_run: bool,
    pub scope: Scope,
    pub features: Features,
    pub paths: Paths,
    pub limits: Limits,
}

/// Which account and regions a sweep covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Empty: the SDK's default region.
    pub regions: Vec<String>,
    /// The account's tags, in an organization's sweep (policies' `accounts:`
    /// scopes match them); `None`: the credentials' own account.
    pub account_tags: Option<std::collections::BTreeMap<String, String>>,
    /// In an organization's sweep: which account this is, and the hub that
    /// its alerts go out through. Its digests are routed but not sent: the
    /// organization sends one per recipient across its accounts.
    pub member: Option<MemberOf>,
}

/// What a sweep does besides its policies, and how it plans them.
#[derive(Clone, Debug, Default)]
pub struct Features {
    pub settings: PlanSettings,
    /// Guardrails to reconcile; `None` skips them.
    pub guardrails: Option<Guardrails>,
    /// Email for `notify` findings; `None`: they are only reported.
    pub email: Option<Arc<EmailSetup>>,
    /// Ask the AWS Price List API (else the cache and built-in figures only).
    pub price_list_api: bool,
}

/// Where a sweep keeps its state and writes what it produced.
#[derive(Clone, Debug, Default)]
pub struct Paths {
    pub report_dir: PathBuf,
    /// The journal (SQLite). A dry run reads it when it exists and never
    /// creates it (unless it sends email, whose quiet period it keeps).
    pub journal: PathBuf,
    /// Where Price List answers are cached; `None` keeps them in memory.
    pub price_cache: Option<PathBuf>,
    /// Write the plan's changes here (`--save-plan`), for `apply`.
    pub save_plan: Option<PathBuf>,
}

/// How long a sweep may take, wait and remember.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long the sweep may take: past it, the sweep stops as on a
    /// signal (the change under way finishes, the rest is skipped, the
    /// report is written). `None`: no limit but the AWS calls' own.
    pub max_duration: Option<std::time::Duration>,
    /// How long to wait for another sweep holding the state folder's lock
    /// (zero: refuse at once).
    pub wait_lock: std::time::Duration,
    /// History older than this is pruned from the journal by each sweep
    /// that opens it (`state-keep-days`).
    pub state_keep: chrono::Duration,
    /// Each AWS call's own limits.
    pub aws: crate::aws::CallLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_duration: None,
            wait_lock: std::time::Duration::ZERO,
            state_keep: chrono::Duration::days(crate::config::daemon::DEFAULT_STATE_KEEP_DAYS),
            aws: crate::aws::CallLimits::default(),
        }
    }
}

/// One account of an organization's sweep, as its alerts name it; they go
/// out through the hub's email and SNS, as the digests do, so a member
/// account needs neither.
#[derive(Clone)]
pub struct MemberOf {
    /// "name (id)".
    pub label: String,
    pub hub: Aws,
}

impl std::fmt::Debug for MemberOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberOf").field("label", &self.label).finish_non_exhaustive()
    }
}

/// Where a command's work runs: the AWS clients, the clock, the progress
/// display and the caller's stop signal (signals).
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub aws: &'a Aws,
    pub clock: &'a Clock,
    pub progress: &'a Progress,
    pub cancel: &'a CancellationToken,
}

/// A reviewed plan file to apply: where it was read, what it holds, and
/// how old it may be.
#[derive(Clone, Copy)]
pub struct Reviewed<'a> {
    pub path: &'a Path,
    pub file: &'a plan_file::PlanFile,
    pub max_age: chrono::Duration,
}

/// What every step of one sweep needs, decided once: the clients, the
/// clock, the sweep's own stop signal (signals and its time limit), the
/// progress display, this run's id, start and regions, and the journal.
struct Run<'a> {
    aws: &'a Aws,
    options: &'a SweepOptions,
    clock: &'a Clock,
    progress: &'a Progress,
    cancel: &'a CancellationToken,
    run_id: &'a str,
    now: DateTime<Utc>,
    regions: &'a [String],
    mode: Mode<'a>,
}

/// Whether a run may change anything, decided once when it starts.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Changes nothing. Reads the journal when there is one (marks, the
    /// quiet period of what it tells), which it opens only to remember
    /// what it sent.
    DryRun { journal: Option<&'a Journal> },
    /// Changes AWS as the policies say, each change journaled.
    Real { journal: &'a Journal },
    /// Changes only what a reviewed plan file names (its path goes in the
    /// report), each change journaled.
    Review { journal: &'a Journal },
}

impl<'a> Mode<'a> {
    /// A sweep's mode: a dry run if asked for; else a real run, which
    /// always has its journal (opened before anything else).
    fn of_sweep(dry_run: bool, journal: Option<&'a Journal>) -> Self {
        match journal {
            Some(journal) if !dry_run => Mode::Real { journal },
            journal => Mode::DryRun { journal },
        }
    }

    fn journal(self) -> Option<&'a Journal> {
        match self {
            Mode::DryRun { journal } => journal,
            Mode::Real { journal } | Mode::Review { journal } => Some(journal),
        }
    }

    fn dry_run(self) -> bool {
        matches!(self, Mode::DryRun { .. })
    }
}

impl Run<'_> {
    /// The journal of a run that changes AWS and records it; `None` in a
    /// dry run. The one place a step asks whether it may change anything.
    fn changing(&self) -> Option<&Journal> {
        match self.mode {
            Mode::DryRun { .. } => None,
            Mode::Real { journal } | Mode::Review { journal } => Some(journal),
        }
    }

    fn journal(&self) -> Option<&Journal> {
        self.mode.journal()
    }

    /// What apply needs of this run, to change `account_id` with `journal`.
    fn apply_context<'b>(
        &'b self,
        journal: &'b Journal,
        policies: &'b [Policy],
        account_id: &'b str,
        fresh_sizes: Option<&'b PriceBook>,
    ) -> apply::ApplyContext<'b> {
        let Run { aws, options, clock, cancel, run_id, .. } = *self;
        apply::ApplyContext { aws, journal, policies, settings: &options.features.settings, run_id, account_id, cancel, clock, fresh_sizes }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("no region: pass --region or set AWS_REGION (or a profile region)")]
    NoRegion,
    /// The daemon config or policies could not be loaded.
    #[error("{0}")]
    Config(String),
    /// The credentials or the endpoint did not answer the access check.
    #[error("{0}; nothing was listed or changed")]
    NoAccess(String),
    #[error("cannot write the report to {path}: {source}")]
    Report { path: PathBuf, source: std::io::Error },
    /// AWS was changed, then the report could not be written: the
    /// changes are listed so they are not lost with it.
    #[error("cannot write the report to {path}: {source}; AWS was changed by this sweep:\n{}", changes.join("\n"))]
    ReportAfterChanges { path: PathBuf, source: std::io::Error, changes: Vec<String> },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("cannot write the plan to {path}: {source}")]
    SavePlan { path: PathBuf, source: std::io::Error },
    /// A saved plan that cannot be applied; nothing was changed.
    #[error("the plan is refused, nothing was changed:\n{0}")]
    PlanRefused(String),
}

impl SweepError {
    /// 1 when nothing was changed; 3 when AWS was changed and something
    /// then failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            SweepError::ReportAfterChanges { .. } => crate::outcome::exit::ERRORS,
            _ => crate::outcome::exit::FAILED,
        }
    }
}

#[derive(Debug)]
pub struct SweepResult {
    pub report: Report,
    pub report_json: PathBuf,
    pub report_md: PathBuf,
    /// The digests routed and not sent (an organization's member account).
    pub held_digests: Vec<notify::digest::Digest>,
}

/// Runs every enabled policy once. The plan is made at the clock's time
/// when the sweep starts (tests choose it).
pub async fn run(
    aws: &Aws,
    policies: &[Policy],
    options: &SweepOptions,
    clock: &Clock,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<SweepResult, SweepError> {
    let now = clock.now();
    let regions = regions_of(aws, options)?;
    let account_id = check_access(aws, cancel).await?;
    let scoped: Vec<Policy>;
    let policies = if policies.iter().all(|p| p.accounts.is_none()) {
        policies
    } else {
        scoped = policies.iter().filter(|p| p.applies_to(&account_id, options.scope.account_tags.as_ref())).cloned().collect();
        tracing::info!(account = %account_id, applying = scoped.len(), of = policies.len(), "policies limited to other accounts are left out");
        &scoped
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(run_id = %run_id, dry_run = options.dry_run, regions = ?regions, policies = policies.len(), "sweep started");
    let deadline = Deadline::start(options.limits.max_duration, cancel);
    let cancel = &deadline.cancel;
    let _lock = lock_state(options, now, cancel).await?;
    let journal = open_journal(options, &run_id, now)?;
    let mode = Mode::of_sweep(options.dry_run, journal.as_ref());
    let run = Run { aws, options, clock, progress, cancel, run_id: &run_id, now, regions: &regions, mode };
    let mut recovery = recover(&run, policies).await;
    prune(&run, &mut recovery);
    // First: a runaway model bill is told before the slower work.
    let ai_spend = check_ai_spend(&run).await;

    let mut inventory = collect(&run, policies).await;
    let ai_spend = ai_spend.map(|mut checked| {
        if let Ok(spend) = &mut checked.spend {
            spend.sagemaker_endpoints = serving_now(&inventory);
        }
        checked
    });
    let mut plan = plan(&run, policies, &inventory)?;
    let mut saved_plan = None;
    if let Some(path) = &options.paths.save_plan {
        let file = plan_file::from_plan(&plan, policies, &account_id, &regions, &options.features.settings.protect_tag, &run_id);
        save_plan(&file, path)?;
        tracing::info!(plan = %path.display(), changes = file.changes.len(), "plan saved");
        saved_plan = Some(report::PlanFileInfo { path: path.display().to_string(), role: "saved", changes: file.changes.len() });
    }
    // Deleted resources listed again: a real run's ledger takes their saving back.
    let recreated = match run.changing() {
        Some(journal) => journal.savings().rows(None).map(|rows| ledger::recreated(&rows, &inventory)),
        None => Ok(Vec::new()),
    };
    let (sleeping, sleep_problems) = wake_sleepers(&run, policies, &inventory).await;
    recovery.problems.extend(sleep_problems);
    // What no policy matched is not needed past here (the plan holds the
    // rest): freed before the findings, email and the report are built.
    inventory.resources.clear();
    let outcomes = match run.changing() {
        Some(journal) => {
            let _task = progress.task("applying");
            apply::apply(&plan, &run.apply_context(journal, policies, &account_id, None)).await
        }
        None => apply::dry_run(&plan),
    };
    let mut sleeping = sleeping;
    sleeping.extend(wake::put_to_sleep(&plan, &outcomes, policies));
    let (guardrails, guardrail_errors) = reconcile_guardrails(&run).await;
    let spend = read_spend(&run).await;
    let findings = findings::findings(&mut plan, outcomes, &findings_context(options, &account_id, saved_plan.is_some()));
    let savings = ledger_total(&mut recovery, update_ledger(&run, recreated));
    let since_last_run = since_last_report(&run, &plan, &findings, &mut recovery.problems);
    let (emails, held_digests) = send_email(&run, &plan, &findings, policies).await;
    let (ai_spend, emails) = with_alert_email(ai_spend, emails);

    let info = RunInfo { run_id, account_id, dry_run: mode.dry_run(), started_at: now, finished_at: clock.now(), regions };
    let parts = report::Parts {
        info,
        plan: &plan,
        findings,
        inventory: &inventory,
        guardrails,
        guardrail_errors,
        spend,
        ai_spend,
        emails,
        counter: aws.counter(),
        stopped: deadline.stopped(),
        journal_errors: recovery.problems,
        savings,
        plan_file: saved_plan,
        since_last_run,
        sleeping,
    };
    let result = write_report(parts, options, journal.as_ref(), clock)?;
    Ok(SweepResult { held_digests, ..result })
}

/// `costguard apply FILE`: the reviewed plan's changes whose evidence
/// still holds, with the sweep's guards (lock, journal, grace periods,
/// protection, re-read before each change); no guardrails and no email.
pub async fn apply_plan(ctx: &Context<'_>, policies: &[Policy], reviewed: &Reviewed<'_>, options: &SweepOptions) -> Result<SweepResult, SweepError> {
    let Context { aws, clock, progress, cancel } = *ctx;
    let Reviewed { path, file, max_age } = *reviewed;
    let now = clock.now();
    let account_id = check_access(aws, cancel).await?;
    let expect = plan_file::Expect {
        now,
        max_age,
        account_id: &account_id,
        regions: &options.scope.regions,
        protect_tag: &options.features.settings.protect_tag,
        policies,
    };
    plan_file::check(file, &expect).map_err(|refused| SweepError::PlanRefused(refused.to_string()))?;
    let run_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(run_id = %run_id, plan_run_id = %file.run_id, changes = file.changes.len(), "applying a saved plan");
    let deadline = Deadline::start(options.limits.max_duration, cancel);
    let cancel = &deadline.cancel;
    let real = SweepOptions { dry_run: false, ..options.clone() };
    let _lock = lock_state(&real, now, cancel).await?;
    let journal = open_journal(&real, &run_id, now)?.ok_or_else(|| SweepError::Config("the journal is needed to apply a plan".to_string()))?;
    let regions = file.regions.clone();
    let run = Run { aws, options: &real, clock, progress, cancel, run_id: &run_id, now, regions: &regions, mode: Mode::Review { journal: &journal } };
    let mut recovery = recover(&run, policies).await;

    let mut plan = plan_file::to_plan(file, policies, &journal.marks().all()?, now);
    // Sizes, prices and metric dimensions are read again, never the file's.
    let prices = PriceBook::new(options.features.price_list_api.then(|| aws.pricing()), options.paths.price_cache.clone());
    let outcomes = {
        let _task = progress.task("applying the plan");
        apply::apply(&plan, &run.apply_context(&journal, policies, &account_id, Some(&prices))).await
    };
    let findings = findings::findings(&mut plan, outcomes, &findings_context(options, &account_id, false));
    // Nothing was listed: the file's resources are as they were at plan
    // time, no listing to find recreated resources in (nor listing errors).
    let inventory = Inventory::default();
    let savings = ledger_total(&mut recovery, update_ledger(&run, Ok(Vec::new())));
    let info = RunInfo { run_id, account_id, dry_run: false, started_at: now, finished_at: clock.now(), regions: file.regions.clone() };
    let parts = report::Parts {
        info,
        plan: &plan,
        findings,
        inventory: &inventory,
        guardrails: Vec::new(),
        guardrail_errors: Vec::new(),
        spend: None,
        ai_spend: None,
        emails: None,
        counter: aws.counter(),
        stopped: deadline.stopped(),
        journal_errors: recovery.problems,
        savings,
        plan_file: Some(report::PlanFileInfo { path: path.display().to_string(), role: "applied", changes: file.changes.len() }),
        since_last_run: None,
        sleeping: Vec::new(),
    };
    write_report(parts, &real, Some(&journal), clock)
}

/// One check of the credentials and the endpoint before anything else,
/// answering the account id; a signal while it waits stops the sweep
/// there (nothing was changed).
async fn check_access(aws: &Aws, cancel: &CancellationToken) -> Result<String, SweepError> {
    tokio::select! {
        checked = aws.check_access() => checked.map_err(|e| SweepError::NoAccess(e.to_string())),
        _ = cancel.cancelled() => Err(SweepError::NoAccess("stopped (a signal) while AWS had not answered the access check".to_string())),
    }
}

/// A real run first settles what a crash left half done.
async fn recover(run: &Run<'_>, policies: &[Policy]) -> apply::Recovery {
    let Some(journal) = run.changing() else { return apply::Recovery::default() };
    let recovery = apply::settle_unsettled(run.aws, journal, policies, run.clock).await;
    for note in &recovery.notes {
        tracing::warn!(journal = %journal.path().display(), "{note}");
    }
    recovery
}

/// History past `state-keep-days` leaves the journal (the savings ledger
/// stays whole); a failure is a journal problem in the report.
fn prune(run: &Run<'_>, recovery: &mut apply::Recovery) {
    let (Some(journal), keep) = (run.journal(), run.options.limits.state_keep) else { return };
    match journal.prune(run.now - keep) {
        Ok(0) => {}
        Ok(rows) => tracing::info!(journal = %journal.path().display(), rows, keep_days = keep.num_days(), "old history pruned"),
        Err(e) => recovery.problems.push(format!("pruning history past {} days: {e}", keep.num_days())),
    }
}

/// The ledger's total for the report; a ledger that failed is a journal
/// problem in the report, not a failed sweep.
fn ledger_total(recovery: &mut apply::Recovery, total: Result<Option<ledger::SavingsTotal>, JournalError>) -> Option<ledger::SavingsTotal> {
    total.unwrap_or_else(|e| {
        recovery.problems.push(format!("savings ledger: {e}"));
        None
    })
}

/// Writes the plan file beside nothing else: atomically, so a reviewer
/// never reads half of one.
fn save_plan(file: &plan_file::PlanFile, path: &Path) -> Result<(), SweepError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| SweepError::Config(format!("--save-plan {}: not a file name", path.display())))?;
    crate::files::write_atomic(dir, name, |out| serde_json::to_writer_pretty(&mut *out, file).map_err(std::io::Error::other))
        .map(|_| ())
        .map_err(|source| SweepError::SavePlan { path: path.to_path_buf(), source })
}

/// Reads a plan file, bounded, with the place of any error in it.
pub fn read_plan(path: &Path) -> Result<plan_file::PlanFile, plan_file::ReadError> {
    plan_file::read(path)
}

/// Builds the report and writes it; if AWS was changed and the report
/// cannot be written, the error lists the changes so they are not lost.
fn write_report(parts: report::Parts<'_>, options: &SweepOptions, journal: Option<&Journal>, clock: &Clock) -> Result<SweepResult, SweepError> {
    let report = Report::build(parts);
    let (report_json, report_md) = report::write(&report, &options.paths.report_dir).map_err(|source| {
        let resources = report.findings.iter().filter(|f| f.status == Status::Done);
        let guardrails = report.guardrails.iter().filter(|g| g.status == Status::Done);
        let changes: Vec<String> = resources
            .map(|f| format!("  {} {} {}: {}", f.resource_type, f.region, f.resource_id, f.detail.as_deref().unwrap_or("done")))
            .chain(guardrails.map(|g| format!("  {} {}: {}", g.kind, g.name, g.detail.as_deref().unwrap_or("done"))))
            .collect();
        let path = options.paths.report_dir.clone();
        if changes.is_empty() {
            SweepError::Report { path, source }
        } else {
            SweepError::ReportAfterChanges { path, source, changes }
        }
    })?;
    if let Some(journal) = journal {
        let summary = format!("{} findings, {} done, {} failed", report.totals.findings, report.totals.done, report.totals.failed);
        journal.finish_run(&report.run_id, clock.now(), &summary)?;
    }
    tracing::info!(run_id = %report.run_id, findings = report.findings.len(), api_calls = report.totals.api_calls, report = %report_json.display(), "sweep finished");
    Ok(SweepResult { report, report_json, report_md, held_digests: Vec::new() })
}

/// What changed since the last report, recorded for the next one: a dry
/// run with a state folder keeps it too (the weekly audit is one).
fn since_last_report(run: &Run<'_>, plan: &Plan, findings: &[report::Finding], problems: &mut Vec<String>) -> Option<report::history::SinceLastRun> {
    let journal = run.journal()?;
    let policies = plan.policies.iter().map(|p| (p.policy.as_str(), &p.incomplete_regions[..])).collect();
    let scope = report::history::Scope { policies, regions: run.regions };
    match report::history::Reports::of(journal).compare_and_record(findings, &scope, run.run_id, run.now) {
        Ok(since) => Some(since),
        Err(e) => {
            problems.push(format!("the report's history: {e}"));
            None
        }
    }
}

/// What the findings of a sweep of `account_id` need: the owner tags
/// (the email's, else the default ones), and whether its plan waits for review.
fn findings_context<'a>(options: &'a SweepOptions, account_id: &'a str, held_for_review: bool) -> findings::FindingsContext<'a> {
    static DEFAULT_OWNER_TAGS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| crate::config::daemon::DEFAULT_OWNER_TAGS.iter().map(|t| t.to_string()).collect());
    let owner_tags = options.features.email.as_ref().map_or(&DEFAULT_OWNER_TAGS[..], |e| &e.settings.owner_tags[..]);
    findings::FindingsContext { account_id, owner_tags, protect_tag: &options.features.settings.protect_tag, held_for_review }
}

/// The regions to sweep: the options', else the SDK's default region.
fn regions_of(aws: &Aws, options: &SweepOptions) -> Result<Vec<String>, SweepError> {
    if options.scope.regions.is_empty() {
        Ok(vec![aws.default_region().ok_or(SweepError::NoRegion)?])
    } else {
        Ok(options.scope.regions.clone())
    }
}

/// The state folder's lock, for every sweep that opens the journal (a dry
/// run that sends email writes to it too).
async fn lock_state(options: &SweepOptions, now: DateTime<Utc>, cancel: &CancellationToken) -> Result<Option<StateLock>, SweepError> {
    if !opens_journal(options) {
        return Ok(None);
    }
    let dir = options.paths.journal.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let what = if options.dry_run { "dry run" } else { "sweep" };
    let holder = format!("pid {}, {what} since {}", std::process::id(), crate::text::utc(now));
    Ok(Some(StateLock::acquire(dir, &holder, options.limits.wait_lock, cancel).await?))
}

fn opens_journal(options: &SweepOptions) -> bool {
    let alerts_by_sns = options.features.guardrails.as_ref().and_then(|g| g.spend_velocity.as_ref()).is_some_and(|v| v.sns_topic.is_some());
    !options.dry_run || options.paths.journal.exists() || options.features.email.is_some() || alerts_by_sns
}

/// The journal, and this run in it. A dry run does not create it, unless
/// it sends email: what was sent must be remembered, or the quiet period
/// cannot hold.
fn open_journal(options: &SweepOptions, run_id: &str, now: DateTime<Utc>) -> Result<Option<Journal>, SweepError> {
    if !opens_journal(options) {
        return Ok(None);
    }
    let journal = Journal::open(&options.paths.journal)?;
    journal.begin_run(run_id, now, options.dry_run)?;
    Ok(Some(journal))
}

/// The sweep's own stop signal: the caller's (signals), and its time limit.
struct Deadline {
    cancel: CancellationToken,
    limit: Option<std::time::Duration>,
    reached: Arc<std::sync::atomic::AtomicBool>,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Deadline {
    fn start(limit: Option<std::time::Duration>, outer: &CancellationToken) -> Self {
        let cancel = outer.child_token();
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = limit.map(|limit| {
            let (cancel, reached) = (cancel.clone(), reached.clone());
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                tracing::warn!(limit_seconds = limit.as_secs(), "the sweep reached its time limit; stopping");
                reached.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
            })
        });
        Deadline { cancel, limit, reached, timer }
    }

    fn reached(&self) -> bool {
        self.reached.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The report's line when the limit stopped the sweep.
    fn stopped(&self) -> Option<String> {
        self.reached().then(|| format!("the sweep reached its time limit ({}) and stopped: what it had not done is skipped", self.describe()))
    }

    fn describe(&self) -> String {
        let seconds = self.limit.map_or(0, |l| l.as_secs());
        if seconds >= 60 && seconds.is_multiple_of(60) {
            format!("{} min", seconds / 60)
        } else {
            format!("{seconds} s")
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

/// Lists, describes, measures and prices what the policies could match.
async fn collect(run: &Run<'_>, policies: &[Policy]) -> Inventory {
    let (aws, options) = (run.aws, run.options);
    let prices = PriceBook::new(options.features.price_list_api.then(|| aws.pricing()), options.paths.price_cache.clone());
    // The AI spend check shows every serving endpoint's hourly cost.
    let price_serving = options.features.guardrails.as_ref().is_some_and(|g| g.spend_velocity.is_some());
    let ctx = inventory::CollectContext { now: run.now, price_serving, prices: &prices, progress: run.progress, cancel: run.cancel };
    let inventory = inventory::collect(aws, policies, run.regions, &ctx).await;
    if let Err(e) = prices.save() {
        tracing::warn!(error = %e, "could not save the price cache");
    }
    inventory
}

/// Wakes what off-hours policies put to sleep once their schedules want
/// it on (a dry run says what it would wake); the report's "Sleeping" lines.
async fn wake_sleepers(run: &Run<'_>, policies: &[Policy], inventory: &Inventory) -> (Vec<wake::SleepLine>, Vec<String>) {
    let Some(journal) = run.journal().filter(|_| policies.iter().any(|p| p.off_hours().is_some())) else { return (Vec::new(), Vec::new()) };
    let open = match run.changing() {
        Some(journal) => journal.sleeps().open(run.now),
        // A dry run reads, and settles nothing.
        None => journal.sleeps().asleep(),
    };
    let open = match open {
        Ok(open) => open,
        Err(e) => return (Vec::new(), vec![format!("the sleeps could not be read: {e}")]),
    };
    let wakes = wake::plan_wakes(open, policies, inventory, run.now);
    let ctx = run.changing().map(|journal| wake::WakeContext { aws: run.aws, journal, clock: run.clock, cancel: run.cancel });
    let _task = (!wakes.is_empty()).then(|| run.progress.task("waking"));
    wake::wake(wakes, ctx.as_ref(), run.now).await
}

/// The plan (pure), with the marks the journal remembers.
fn plan(run: &Run<'_>, policies: &[Policy], inventory: &Inventory) -> Result<Plan, SweepError> {
    let marks = match run.journal() {
        Some(journal) => journal.marks().all()?,
        None => Vec::new(),
    };
    let _task = run.progress.task("evaluating policies");
    let slept = match run.journal() {
        // An off window lasts a week at most (a weekly schedule).
        Some(journal) if policies.iter().any(|p| p.off_hours().is_some()) => journal.sleeps().slept(run.now - chrono::Duration::days(8))?,
        _ => Vec::new(),
    };
    let memory = plan::Memory { marks: &marks, slept: &slept };
    Ok(plan::plan(policies, inventory, &memory, run.now, &run.options.features.settings))
}

/// The guardrails planned, then applied unless a dry run; account-wide, so
/// once per sweep.
async fn reconcile_guardrails(run: &Run<'_>) -> (Vec<GuardrailChange>, Vec<String>) {
    let Some(g) = run.options.features.guardrails.as_ref().filter(|g| g.reconcile && !run.cancel.is_cancelled()) else { return (Vec::new(), Vec::new()) };
    let _task = run.progress.task("reconciling guardrails");
    let planned = guardrails::plan(run.aws, g, run.regions).await;
    // A real run always has its journal (it is opened before anything else).
    let (changes, errors) = match run.changing() {
        Some(journal) => guardrails::apply(run.aws, planned, &guardrails::JournalContext { journal, run_id: run.run_id, clock: run.clock }).await,
        None => guardrails::dry_run(planned),
    };
    for e in &errors {
        tracing::error!(error = %e, "guardrails could not be reconciled");
    }
    (changes, errors.iter().map(ToString::to_string).collect())
}

/// The savings ledger: a real run records the deleted resources it finds
/// recreated (its changes' savings were written as each was done); any run
/// with a journal reads the total that counts now, for the report.
fn update_ledger(run: &Run<'_>, recreated: Result<Vec<ledger::LedgerRow>, JournalError>) -> Result<Option<ledger::SavingsTotal>, JournalError> {
    let Some(journal) = run.journal() else { return Ok(None) };
    if let Some(journal) = run.changing() {
        ledger::record_recreated(journal.db(), &recreated?, run.clock.now())?;
    }
    Ok(Some(ledger::total(&journal.savings().rows(None)?)))
}

/// The account's spend, when the guardrails ask for it.
async fn read_spend(run: &Run<'_>) -> Option<Result<SpendSummary, String>> {
    let settings = run.options.features.guardrails.as_ref().and_then(|g| g.spend.as_ref()).filter(|_| !run.cancel.is_cancelled())?;
    let _task = run.progress.task("reading the account's spend");
    let spend = guardrails::spend::fetch(&run.aws.cost_explorer(), run.journal(), run.now, settings).await.map_err(|e| e.to_string());
    if let Err(e) = &spend {
        tracing::error!(error = %e, "the account's spend could not be read");
    }
    Some(spend)
}

/// What the listed model-serving resources (SageMaker endpoints in
/// service) cost per hour, where a policy had them listed and priced.
fn serving_now(inventory: &Inventory) -> Option<velocity::figures::EndpointsNow> {
    let serving: Vec<&crate::resources::Resource> =
        inventory.resources.iter().filter(|(t, _)| t.serves_models()).flat_map(|(_, list)| list.iter().map(|r| &**r)).collect();
    if serving.is_empty() {
        return None;
    }
    let priced: Vec<f64> = serving.iter().filter_map(|r| r.monthly_cost_usd).collect();
    Some(velocity::figures::EndpointsNow {
        endpoints: serving.len(),
        usd_per_hour: crate::text::total(priced.iter().map(|m| m / crate::pricing::HOURS_PER_MONTH)),
        unpriced: serving.len() - priced.len(),
    })
}

/// `ai-spend.json`: the AI spend figures of the last check on its own
/// schedule, beside the sweep reports.
pub const AI_SPEND_FILE: &str = "ai-spend.json";

/// The spend-velocity check alone, as the daemon runs it every few
/// minutes: no policies, no lock (it changes nothing in AWS, and must not
/// wait behind a long sweep), the alert state in the journal. Writes
/// `ai-spend.json` into the report folder.
pub async fn ai_spend_only(aws: &Aws, options: &SweepOptions, clock: &Clock, cancel: &CancellationToken) -> Result<AiSpendChecked, SweepError> {
    let now = clock.now();
    let regions = regions_of(aws, options)?;
    let journal = if opens_journal(options) { Some(Journal::open(&options.paths.journal)?) } else { None };
    let (progress, run_id) = (Progress::hidden(), uuid::Uuid::new_v4().to_string());
    // It changes nothing in AWS: a dry run's mode, whatever the sweeps'.
    let mode = Mode::DryRun { journal: journal.as_ref() };
    let run = Run { aws, options, clock, progress: &progress, cancel, run_id: &run_id, now, regions: &regions, mode };
    let checked = check_ai_spend(&run).await.ok_or_else(|| SweepError::Config("no spend-velocity guardrail is declared".to_string()))?;
    if let Ok(spend) = &checked.spend {
        crate::files::write_atomic(&options.paths.report_dir, AI_SPEND_FILE, |w| serde_json::to_writer_pretty(w, spend).map_err(std::io::Error::other))
            .map_err(|source| SweepError::Report { path: options.paths.report_dir.join(AI_SPEND_FILE), source })?;
    }
    Ok(checked)
}

/// What the AI spend check found, and what telling it did.
pub struct AiSpendChecked {
    pub spend: Result<AiSpend, String>,
    /// The alert's email outcomes and every delivery error (email, SNS, state).
    pub told: Option<(EmailReport, Vec<String>)>,
}

/// Email's outcomes and the errors worth the report's list.
type Delivered = Option<(EmailReport, Vec<String>)>;

/// The alert email's outcomes go with the digests' in the report.
fn with_alert_email(ai_spend: Option<AiSpendChecked>, emails: Delivered) -> (Option<Result<AiSpend, String>>, Delivered) {
    let Some(AiSpendChecked { spend, told }) = ai_spend else { return (None, emails) };
    let emails = match (emails, told) {
        (Some((mut report, mut errors)), Some((alert, alert_errors))) => {
            report.absorb(alert);
            errors.extend(alert_errors);
            Some((report, errors))
        }
        (emails, told) => emails.or(told),
    };
    (Some(spend), emails)
}

/// Reads what the models' token use costs now, and tells the
/// spend-velocity recipients (email, SNS) what crossed or went back under
/// a limit; the alert state is kept when they were told.
async fn check_ai_spend(run: &Run<'_>) -> Option<AiSpendChecked> {
    let Run { aws, options, regions, now, clock, cancel, progress, .. } = *run;
    let journal = run.journal();
    let settings = options.features.guardrails.as_ref()?.spend_velocity.as_ref().filter(|_| !cancel.is_cancelled())?;
    let _task = progress.task("reading AI spend");
    let mut checked = match velocity::check(aws, regions, settings, now).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "AI spend could not be read");
            return Some(AiSpendChecked { spend: Err(e.to_string()), told: None });
        }
    };
    let mut errors = Vec::new();
    let previous = match journal.map(|j| velocity::alerts::Alerts::of(j).standing()).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            // Better a repeat than silence.
            errors.push(format!("AI spend alerts: cannot read what was told before ({e}); telling everything"));
            Default::default()
        }
    };
    let notices = velocity::alerts::notices(&checked.evaluations, &previous, now, settings);
    // An organization's alert names its account and goes out through the hub.
    let teller = notify::ai_alert::Teller {
        settings,
        email: options.features.email.as_deref(),
        sender: options.scope.member.as_ref().map_or(aws, |m| &m.hub),
        account: options.scope.member.as_ref().map(|m| m.label.as_str()),
        journal,
        clock,
        cancel,
    };
    let (report, told, tell_errors) = teller.tell(&notices, &checked.spend, now).await;
    errors.extend(tell_errors);
    if told {
        let (standing, cleared) = velocity::alerts::settle(&notices, &checked.evaluations, &previous);
        if let Some(Err(e)) = journal.map(|j| velocity::alerts::Alerts::of(j).record(&standing, &cleared, now)) {
            errors.push(format!("AI spend alerts: told, but not remembered ({e}); they may be repeated"));
        }
    }
    for e in &errors {
        tracing::error!(error = %e, "AI spend alert");
    }
    checked.spend.told = notices;
    Some(AiSpendChecked { spend: Ok(checked.spend), told: Some((report, errors)) })
}

/// The email digests of the `notify` findings, when email is set up.
/// Notices are dated at the sweep's start (`now`), as its plan is; the
/// clock dates webhook signatures when they are sent.
async fn send_email(run: &Run<'_>, plan: &Plan, findings: &[Finding], policies: &[Policy]) -> (Delivered, Vec<notify::digest::Digest>) {
    let Run { aws, options, run_id, now, clock, cancel, progress, .. } = *run;
    let journal = run.journal();
    let Some(email) = options.features.email.as_ref() else { return (None, Vec::new()) };
    let review_plan = options.paths.save_plan.as_ref().map(|p| p.display().to_string());
    let sweep = notify::Sweep {
        plan,
        findings,
        policies,
        run_id,
        dry_run: run.mode.dry_run(),
        protect_tag: &options.features.settings.protect_tag,
        now,
        review_plan: review_plan.as_deref(),
    };
    if options.scope.member.is_some() {
        let routed = notify::route(&email.settings, journal, &sweep);
        let report = EmailReport {
            transport: "held for the organization's digest".to_string(),
            unroutable: routed.unroutable,
            held_back: routed.held_back,
            ..Default::default()
        };
        return (Some((report, routed.errors)), routed.digests);
    }
    let _task = progress.task("sending email");
    let outlets = notify::Outlets::new(email, aws, clock);
    let (emails, errors) = outlets.mailer(journal, cancel).deliver(&sweep).await;
    for e in &errors {
        tracing::error!(error = %e, "email");
    }
    (Some((emails, errors)), Vec::new())
}
