//! The CLI's subcommands, as library functions returning exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::aws::{ApiCallCounter, Aws};
use crate::config;
use crate::engine::sweep::{self, SweepOptions};
use crate::progress::Progress;
use crate::report::Verdict;

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: u8 = 0;
    /// Invalid policies, or the sweep could not run at all.
    pub const FAILED: u8 = 1;
    /// A listing or an action failed; the report says which.
    pub const ERRORS: u8 = 3;
    /// A policy's circuit breaker tripped; it applied nothing.
    pub const BREAKER: u8 = 4;
}

pub fn validate(paths: &[PathBuf]) -> ExitCode {
    let loaded = config::load_policies(paths).and_then(|policies| Ok((policies, config::load_guardrails(paths)?)));
    match loaded {
        Ok((policies, guardrails)) => {
            let files = config::policy_files(paths).map(|f| f.len()).unwrap_or(0);
            warn_placeholders(guardrails.as_ref());
            let budgets = guardrails.map_or(String::new(), |g| format!(", {} budgets", g.budgets.len()));
            println!("ok: {} policies{budgets} in {} files", policies.len(), files);
            ExitCode::from(exit::OK)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} error{} found", errors.0.len(), if errors.0.len() == 1 { "" } else { "s" });
            ExitCode::from(exit::FAILED)
        }
    }
}

/// Budget alerts to example.com reach nobody: say so on every run.
fn warn_placeholders(guardrails: Option<&config::Guardrails>) {
    let found = guardrails.map(config::Guardrails::placeholder_addresses).unwrap_or_default();
    if !found.is_empty() {
        eprintln!("costguard: warning: guardrail alerts go to placeholder addresses that reach nobody ({}); set guardrails.email", found.join(", "));
    }
}

pub struct SweepArgs {
    pub policies: Vec<PathBuf>,
    pub options: SweepOptions,
    pub progress: Progress,
    pub skip_guardrails: bool,
}

pub async fn sweep(args: SweepArgs, cancel: CancellationToken) -> ExitCode {
    let loaded = config::load_policies(&args.policies).and_then(|policies| {
        let guardrails = if args.skip_guardrails { None } else { config::load_guardrails(&args.policies)? };
        Ok((policies, guardrails))
    });
    let (policies, guardrails) = match loaded {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("costguard: invalid policies; nothing was listed or changed");
            return ExitCode::from(exit::FAILED);
        }
    };
    warn_placeholders(guardrails.as_ref());
    let aws = Aws::from_env(ApiCallCounter::new()).await;
    let options = SweepOptions { guardrails, ..args.options };
    match sweep::run(&aws, &policies, &options, Utc::now(), &args.progress, &cancel).await {
        Ok(result) => {
            let r = &result.report;
            println!(
                "{}: {} findings ({} planned, {} done, {} skipped, {} failed), ${:.2}/month at stake, {} AWS calls",
                if r.dry_run { "dry run" } else { "sweep" },
                r.totals.findings,
                r.totals.planned,
                r.totals.done,
                r.totals.skipped,
                r.totals.failed,
                r.totals.monthly_cost_usd,
                r.totals.api_calls
            );
            for p in r.policies.iter().filter(|p| p.breaker.is_some()) {
                eprintln!("costguard: policy {}: circuit breaker tripped: {}", p.name, p.breaker.as_deref().unwrap_or(""));
            }
            for e in &r.errors {
                eprintln!("costguard: error: {}", e.message);
            }
            println!("report: {}", result.report_json.display());
            println!("report: {}", result.report_md.display());
            ExitCode::from(match r.verdict() {
                Verdict::Clean => exit::OK,
                Verdict::Errors => exit::ERRORS,
                Verdict::BreakerTripped => exit::BREAKER,
            })
        }
        Err(e) => {
            eprintln!("costguard: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

pub async fn restore(resource_type: crate::resources::ResourceType, name: &str, journal: &std::path::Path) -> ExitCode {
    if !journal.exists() {
        eprintln!("costguard: no journal at {}; pass --state-dir or --journal", journal.display());
        return ExitCode::from(exit::FAILED);
    }
    let journal = match crate::engine::journal::Journal::open(journal) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let aws = Aws::from_env(ApiCallCounter::new()).await;
    match crate::engine::restore::restore(&aws, &journal, resource_type, name).await {
        Ok(done) => {
            println!("{done}");
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("costguard: restore failed: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}
