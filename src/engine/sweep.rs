//! One sweep: collect, plan, apply (unless dry run), report.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::journal::{Journal, JournalError};
use super::{apply, inventory, plan};
use crate::aws::Aws;
use crate::clock::Clock;
use crate::config::Policy;
use crate::pricing::PriceBook;
use crate::progress::Progress;
use crate::report::{self, Report, RunInfo};

#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub dry_run: bool,
    /// Empty: the SDK's default region.
    pub regions: Vec<String>,
    pub report_dir: PathBuf,
    pub settings: plan::PlanSettings,
    /// The journal (SQLite). A dry run reads it when it exists and never
    /// creates it.
    pub journal: PathBuf,
    /// Where Price List answers are cached; `None` keeps them in memory.
    pub price_cache: Option<PathBuf>,
    /// Ask the AWS Price List API (else the cache and built-in table only).
    pub price_list_api: bool,
    /// Budgets to reconcile; `None` skips them.
    pub guardrails: Option<crate::config::Guardrails>,
    /// Email for `notify` findings; `None`: they are only reported.
    pub email: Option<Arc<EmailSetup>>,
}

/// Email settings with their templates, loaded (and checked) once.
#[derive(Debug)]
pub struct EmailSetup {
    pub settings: crate::config::EmailSettings,
    pub templates: crate::notify::template::Templates,
}

impl EmailSetup {
    /// Loads the templates the settings name (or the shipped ones).
    pub fn load(settings: &crate::config::EmailSettings) -> Result<Arc<Self>, crate::notify::template::TemplateError> {
        let templates = crate::notify::template::Templates::load(settings.templates.as_deref())?;
        Ok(Arc::new(EmailSetup { settings: settings.clone(), templates }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("no region: pass --region or set AWS_REGION (or a profile region)")]
    NoRegion,
    /// The credentials or the endpoint did not answer the access check.
    #[error("{0}; nothing was listed or changed")]
    NoAccess(String),
    #[error("cannot write the report to {path}: {source}")]
    Report { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

#[derive(Debug)]
pub struct SweepResult {
    pub report: Report,
    pub report_json: PathBuf,
    pub report_md: PathBuf,
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
    let started_at = now;
    let regions = if options.regions.is_empty() {
        vec![aws.default_region().ok_or(SweepError::NoRegion)?]
    } else {
        options.regions.clone()
    };
    // One check of the credentials and the endpoint before anything else.
    aws.check_access().await.map_err(SweepError::NoAccess)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(run_id = %run_id, dry_run = options.dry_run, regions = ?regions, policies = policies.len(), "sweep started");

    // A dry run does not create the journal, unless it sends email: what
    // was sent must be remembered, or the quiet period cannot hold.
    let journal = if options.dry_run && !options.journal.exists() && options.email.is_none() {
        None
    } else {
        Some(Journal::open(&options.journal)?)
    };
    if let Some(journal) = &journal {
        journal.begin_run(&run_id, started_at, options.dry_run)?;
        if !options.dry_run {
            for note in apply::settle_unsettled(aws, journal, policies, clock).await {
                tracing::warn!(journal = %journal.path().display(), "{note}");
            }
        }
    }

    let prices = PriceBook::new(options.price_list_api.then(|| aws.pricing()), options.price_cache.clone());
    let ctx = inventory::CollectContext { now, prices: &prices, progress };
    let inventory = inventory::collect(aws, policies, &regions, &ctx).await;
    if let Err(e) = prices.save() {
        tracing::warn!(error = %e, "could not save the price cache");
    }
    let marks = match &journal {
        Some(journal) => journal.marks()?,
        None => Vec::new(),
    };
    let plan = {
        let _task = progress.task("evaluating policies");
        plan::plan(policies, &inventory, &marks, now, &options.settings)
    };
    let outcomes = match (&journal, options.dry_run) {
        (Some(journal), false) => {
            let task = progress.task("applying");
            let ctx = apply::ApplyContext { aws, journal, policies, settings: &options.settings, run_id: &run_id, cancel, clock };
            let outcomes = apply::apply(&plan, &ctx).await;
            task.finish();
            outcomes
        }
        _ => apply::dry_run(&plan),
    };

    // Guardrails are account-wide: reconciled once per sweep, dry run or not.
    let guardrails = match &options.guardrails {
        Some(g) if !cancel.is_cancelled() => {
            let _task = progress.task("reconciling guardrails");
            Some(crate::guardrails::reconcile(aws, g, options.dry_run).await)
        }
        _ => None,
    };
    let spend = match options.guardrails.as_ref().and_then(|g| g.spend.as_ref()) {
        Some(settings) if !cancel.is_cancelled() => {
            let _task = progress.task("reading the account's spend");
            Some(crate::guardrails::spend::fetch(&aws.cost_explorer(), journal.as_ref(), now, settings).await)
        }
        _ => None,
    };

    let info = RunInfo { run_id, dry_run: options.dry_run, started_at, finished_at: clock.now(), regions };
    let mut report = Report::build(info, &plan, &outcomes, &inventory, aws.counter());
    match spend {
        Some(Ok(summary)) => report.spend = Some(summary),
        Some(Err(e)) => {
            tracing::error!(error = %e, "the account's spend could not be read");
            report.errors.push(report::ReportError { region: None, resource_type: None, message: format!("spend: {e}") });
        }
        None => {}
    }
    if let Some((changes, errors)) = guardrails {
        report.set_guardrails(changes);
        for e in errors {
            tracing::error!(error = %e, "guardrails could not be reconciled");
            report.errors.push(report::ReportError { region: None, resource_type: None, message: format!("guardrails: {e}") });
        }
    }
    if let Some(email) = &options.email {
        let _task = progress.task("sending email");
        let transport = crate::notify::transport::Transport::build(&email.settings.transport, aws).map_err(|e| e.to_string());
        let mailer = crate::notify::Mailer {
            settings: &email.settings,
            templates: &email.templates,
            transport: transport.as_ref().map_err(Clone::clone),
            journal: journal.as_ref(),
            cancel,
        };
        let sweep = crate::notify::Sweep {
            plan: &plan,
            findings: &report.findings,
            policies,
            run_id: &report.run_id,
            dry_run: options.dry_run,
            protect_tag: &options.settings.protect_tag,
            now,
        };
        let (emails, errors) = mailer.deliver(&sweep).await;
        for e in errors {
            tracing::error!(error = %e, "email");
            report.errors.push(report::ReportError { region: None, resource_type: None, message: e });
        }
        report.emails = Some(emails);
        report.refresh_api_calls(aws.counter());
    }
    let (report_json, report_md) = report::write(&report, &options.report_dir)
        .map_err(|source| SweepError::Report { path: options.report_dir.clone(), source })?;
    if let Some(journal) = &journal {
        let summary = format!("{} findings, {} done, {} failed", report.totals.findings, report.totals.done, report.totals.failed);
        journal.finish_run(&report.run_id, clock.now(), &summary)?;
    }
    tracing::info!(
        run_id = %report.run_id,
        findings = report.findings.len(),
        api_calls = report.totals.api_calls,
        report = %report_json.display(),
        "sweep finished"
    );
    Ok(SweepResult { report, report_json, report_md })
}
