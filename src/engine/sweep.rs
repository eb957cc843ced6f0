//! One sweep: collect, plan, apply (unless dry run), report.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{apply, inventory, plan};
use crate::aws::Aws;
use crate::config::Policy;
use crate::progress::Progress;
use crate::report::{self, Report, RunInfo};

#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub dry_run: bool,
    /// Empty: the SDK's default region.
    pub regions: Vec<String>,
    pub report_dir: PathBuf,
    pub settings: plan::PlanSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("no region: pass --region or set AWS_REGION (or a profile region)")]
    NoRegion,
    #[error("cannot write the report to {path}: {source}")]
    Report { path: PathBuf, source: std::io::Error },
}

#[derive(Debug)]
pub struct SweepResult {
    pub report: Report,
    pub report_json: PathBuf,
    pub report_md: PathBuf,
}

/// Runs every enabled policy once. `now` is the sweep's clock (tests move it).
pub async fn run(
    aws: &Aws,
    policies: &[Policy],
    options: &SweepOptions,
    now: DateTime<Utc>,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<SweepResult, SweepError> {
    let started_at = Utc::now();
    let regions = if options.regions.is_empty() {
        vec![aws.default_region().ok_or(SweepError::NoRegion)?]
    } else {
        options.regions.clone()
    };
    let run_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(run_id = %run_id, dry_run = options.dry_run, regions = ?regions, policies = policies.len(), "sweep started");

    let inventory = inventory::collect(aws, policies, &regions, progress).await;
    let plan = {
        let _task = progress.task("evaluating policies");
        plan::plan(policies, &inventory, now, &options.settings)
    };
    let outcomes = if options.dry_run {
        apply::dry_run(&plan)
    } else {
        let task = progress.task("applying");
        let outcomes = apply::apply(&plan, aws, cancel).await;
        task.finish();
        outcomes
    };

    let info = RunInfo { run_id, dry_run: options.dry_run, started_at, finished_at: Utc::now(), regions };
    let report = Report::build(info, &plan, &outcomes, &inventory, aws.counter());
    let (report_json, report_md) = report::write(&report, &options.report_dir)
        .map_err(|source| SweepError::Report { path: options.report_dir.clone(), source })?;
    tracing::info!(
        run_id = %report.run_id,
        findings = report.findings.len(),
        api_calls = report.totals.api_calls,
        report = %report_json.display(),
        "sweep finished"
    );
    Ok(SweepResult { report, report_json, report_md })
}
