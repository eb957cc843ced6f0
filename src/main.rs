//! The `costguard` binary: parses arguments, sets up logging, and calls the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use costguard::commands::{self, SweepArgs};
use costguard::engine::plan::PlanSettings;
use costguard::engine::sweep::SweepOptions;
use costguard::progress::Progress;
use costguard::report::DEFAULT_REPORT_DIR;

/// Keeps an AWS account's AI/ML spend under guardrails, as YAML policies say.
///
/// AWS credentials, region and endpoint come from the SDK's standard chain
/// (environment, profile, SSO, instance or task role); AWS_ENDPOINT_URL
/// points costguard at an emulator.
#[derive(Parser)]
#[command(name = "costguard", version, about, long_about)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "COSTGUARD_LOG_FORMAT")]
    log_format: LogFormat,

    /// Log filter, e.g. `info` or `costguard=debug` (RUST_LOG syntax).
    #[arg(long, global = true, default_value = "info", env = "COSTGUARD_LOG")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run every enabled policy once, now: list resources, plan, apply, and
    /// write report.json and report.md.
    ///
    /// Exit codes: 0 clean; 1 invalid policies or the sweep could not run;
    /// 3 a listing or an action failed; 4 a circuit breaker stopped a policy.
    Sweep {
        /// Plan and report only: change nothing in AWS.
        #[arg(long)]
        dry_run: bool,

        /// Policy files or folders of *.yaml files (repeatable).
        #[arg(long = "policies", value_name = "PATH", default_value = "policies")]
        policies: Vec<PathBuf>,

        /// Folder for report.json and report.md (created if missing).
        #[arg(long, value_name = "DIR", default_value = DEFAULT_REPORT_DIR)]
        report_dir: PathBuf,

        /// Region to sweep (repeatable); default: the SDK's region.
        #[arg(long = "region", value_name = "R")]
        regions: Vec<String>,

        /// Resources carrying this tag are never changed by any action.
        #[arg(long, value_name = "KEY", default_value = costguard::engine::plan::DEFAULT_PROTECT_TAG)]
        protect_tag: String,
    },
    /// Check policy files without calling AWS: every error, with
    /// file:line:column and the offending key. Exit 0 when all are valid.
    Validate {
        /// Policy files or folders of *.yaml files.
        #[arg(value_name = "PATH", default_value = "policies")]
        paths: Vec<PathBuf>,
    },
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    match cli.command {
        Command::Validate { paths } => commands::validate(&paths),
        Command::Sweep { dry_run, policies, report_dir, regions, protect_tag } => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("costguard: cannot start the async runtime: {e}");
                    return ExitCode::from(commands::exit::FAILED);
                }
            };
            let progress = match cli.log_format {
                LogFormat::Text => Progress::on_terminal(),
                LogFormat::Json => Progress::hidden(),
            };
            let options = SweepOptions {
                dry_run,
                regions,
                report_dir,
                settings: PlanSettings { protect_tag },
            };
            runtime.block_on(async {
                // One cancellation token: Ctrl-C or SIGTERM lets the resource
                // being changed finish, skips the rest, and still writes the report.
                let cancel = CancellationToken::new();
                tokio::spawn(cancel_on_signal(cancel.clone()));
                commands::sweep(SweepArgs { policies, options, progress }, cancel).await
            })
        }
    }
}

async fn cancel_on_signal(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                cancel.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::warn!("signal received: finishing the current resource, then stopping");
    cancel.cancel();
}
