//! The `costguard` binary: parses arguments, sets up logging, and calls the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use costguard::clock::Clock;
use costguard::commands::{self, SweepArgs};
use costguard::engine::plan::PlanSettings;
use costguard::progress::Progress;
use costguard::report::DEFAULT_REPORT_DIR;
use costguard::shutdown::Shutdown;
use costguard::sweep::{Features, Limits, Paths, Scope, SweepOptions};

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

    /// Log filter, e.g. `info` or `costguard=debug` (RUST_LOG syntax); the
    /// AWS SDK's own logs show at `debug`, `trace` or when named.
    #[arg(long, global = true, default_value = "info", env = "COSTGUARD_LOG")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct StateArgs {
    /// Folder for the journal and caches. Default: $STATE_DIRECTORY
    /// (systemd), else $XDG_STATE_HOME/costguard, else ~/.local/state/costguard.
    #[arg(long, value_name = "DIR", env = "COSTGUARD_STATE_DIR")]
    state_dir: Option<PathBuf>,

    /// The journal database. Default: STATE_DIR/journal.sqlite.
    #[arg(long, value_name = "PATH", env = "COSTGUARD_JOURNAL")]
    journal: Option<PathBuf>,
}

impl StateArgs {
    fn dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(costguard::config::daemon::default_state_dir)
    }

    fn journal(&self) -> PathBuf {
        self.journal.clone().unwrap_or_else(|| self.dir().join(costguard::config::daemon::JOURNAL_FILE))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Prices {
    Api,
    Builtin,
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

        /// Sweep these accounts of an organization (each through its member
        /// role, its own state and report under accounts/<id>/) instead of
        /// the credentials' own account.
        #[command(flatten)]
        org: OrgArgs,

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
        #[arg(long, value_name = "KEY", default_value = costguard::engine::plan::DEFAULT_PROTECT_TAG, value_parser = protect_tag)]
        protect_tag: String,

        /// Stop the sweep after this long (90s, 30m, 2h) as on SIGTERM: the
        /// change under way finishes, the rest is skipped, the report is
        /// written. Default: the config's `time-limits.sweep-minutes`, else 60m.
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        max_duration: Option<std::time::Duration>,

        /// When another sweep holds the state folder, wait this many seconds
        /// for it to finish; 0 (the default) refuses at once (exit 1).
        #[arg(long, value_name = "SECONDS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
        wait_lock: u64,

        #[command(flatten)]
        state: StateArgs,

        /// Where prices come from: the AWS Price List API (cached in the
        /// state folder), or only the built-in table.
        #[arg(long, value_enum, default_value_t = Prices::Api)]
        prices: Prices,

        /// Run the resource policies only: leave the `guardrails:` (budgets,
        /// billing alarms, anomaly detection, spend summary) for another run.
        #[arg(long)]
        skip_guardrails: bool,

        /// The daemon config file (email settings); see the README.
        #[arg(long, value_name = "FILE", env = "COSTGUARD_CONFIG")]
        config: Option<PathBuf>,

        /// Send no email even if the config sets it up (notify findings are
        /// still in the report).
        #[arg(long)]
        no_email: bool,

        /// With --dry-run: write the planned changes, with what made each
        /// match, to FILE for review and `costguard apply FILE`.
        #[arg(long, value_name = "FILE", requires = "dry_run")]
        save_plan: Option<PathBuf>,

        /// With --dry-run: sweep as if it were this moment (RFC 3339, such as
        /// 2026-12-07T19:05:00+01:00): what the off-hours schedules would
        /// put to sleep or wake then, and the rest of the sweep as it would be.
        #[arg(long, value_name = "TIME", requires = "dry_run", value_parser = instant)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Apply a plan saved by `sweep --dry-run --save-plan`: each change is
    /// re-read and done only if what made it match still holds (skipped
    /// with the reason otherwise). Refuses a plan older than --max-age,
    /// made for another account or regions, or whose policies changed.
    ///
    /// Exit codes as `sweep`.
    Apply {
        /// The plan file.
        file: PathBuf,

        /// The daemon config: its policies, regions, state and report
        /// folders and protection tag are used (not the flags below).
        #[arg(long, value_name = "FILE", env = "COSTGUARD_CONFIG", conflicts_with_all = ["policies", "report_dir", "regions", "state_dir", "journal"])]
        config: Option<PathBuf>,

        /// Policy files or folders: those the plan was made with.
        #[arg(long = "policies", value_name = "PATH", default_value = "policies")]
        policies: Vec<PathBuf>,

        #[arg(long, value_name = "DIR", default_value = DEFAULT_REPORT_DIR)]
        report_dir: PathBuf,

        /// Only if the plan's regions are among these (repeatable).
        #[arg(long = "region", value_name = "R")]
        regions: Vec<String>,

        #[arg(long, value_name = "KEY", default_value = costguard::engine::plan::DEFAULT_PROTECT_TAG, value_parser = protect_tag)]
        protect_tag: String,

        /// Refuse a plan older than this (90m, 24h).
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
        max_age: std::time::Duration,

        /// Stop after this long, as `sweep --max-duration`.
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        max_duration: Option<std::time::Duration>,

        /// Wait this many seconds for another sweep holding the state folder.
        #[arg(long, value_name = "SECONDS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
        wait_lock: u64,

        #[command(flatten)]
        state: StateArgs,
    },
    /// Saved plans.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// Off-hours schedules: what sleeps when.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Work with organization reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Creation time: CloudTrail events of what was just created or
    /// started, from the SQS queue an EventBridge rule feeds.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Run as a service: sweeps on the config's cron schedules, an HTTP
    /// listener (/healthz, /readyz, /metrics, /report), reload on SIGHUP or
    /// a changed file, clean stop on SIGTERM.
    Run {
        /// The daemon config file (policies, regions, schedule, listen, email).
        #[arg(long, value_name = "FILE", env = "COSTGUARD_CONFIG")]
        config: PathBuf,

        /// Run every enabled policy once and exit (ECS scheduled tasks,
        /// cron); exit codes as `sweep`.
        #[arg(long)]
        once: bool,

        /// Region to sweep (repeatable) instead of the config's `regions`,
        /// as for `sweep`.
        #[arg(long = "region", value_name = "R")]
        regions: Vec<String>,

        /// Change nothing, whatever the config says: report what would be
        /// done, as for `sweep`.
        #[arg(long)]
        dry_run: bool,

        /// Read creation events from this SQS queue instead of the
        /// config's `events.queue` (the rest of `events:` kept).
        #[arg(long, value_name = "URL", env = "COSTGUARD_EVENTS_QUEUE")]
        events_queue: Option<String>,
    },
    /// The soak benchmark's daemon (scripts/bench.sh soak): its listener,
    /// sweeps and spend-velocity checks back to back on a simulated clock.
    #[command(hide = true)]
    Soak {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Simulated steps.
        #[arg(long, default_value_t = 2000)]
        ticks: u64,
        /// Simulated minutes per step.
        #[arg(long, default_value_t = 5)]
        tick_minutes: i64,
        /// A sweep every this many steps.
        #[arg(long, default_value_t = 12)]
        sweep_every: u64,
    },
    /// Print the least-privilege IAM policy (JSON) for the enabled policies:
    /// only the actions they use, mutations scoped to resource ARNs.
    IamPolicy {
        /// Policy files or folders (default: the config's, else `policies`).
        #[arg(long = "policies", value_name = "PATH")]
        policies: Vec<PathBuf>,

        /// The daemon config: its policies, guardrails, prices and email transport.
        #[arg(long, value_name = "FILE", env = "COSTGUARD_CONFIG")]
        config: Option<PathBuf>,

        /// Allow changes only to resources carrying this tag key.
        #[arg(long, value_name = "KEY")]
        require_tag: Option<String>,

        /// Grant reading this events queue (and what handling its events
        /// calls), as `run --events-queue` would read it.
        #[arg(long, value_name = "URL")]
        events_queue: Option<String>,

        /// For an organization: the hub's policy (list the accounts, assume
        /// the member role) instead of the member's.
        #[arg(long, conflicts_with = "member")]
        hub: bool,
        /// For an organization: the member role's permissions and its trust
        /// policy (trusting --hub-role), as `{PermissionsPolicy, TrustPolicy}`.
        #[arg(long, requires = "hub_role")]
        member: bool,
        /// The hub's role ARN the member role trusts.
        #[arg(long, value_name = "ARN")]
        hub_role: Option<String>,
        /// The environment variable holding the external id the trust policy requires.
        #[arg(long, value_name = "VAR")]
        external_id_env: Option<String>,
        /// The member role's name (for --hub).
        #[arg(long, value_name = "NAME", default_value = costguard::config::accounts::DEFAULT_MEMBER_ROLE)]
        member_role: String,
    },
    /// Exit 0 when the daemon answers on /healthz (for container health checks).
    Health {
        /// The daemon's listen address.
        #[arg(long, default_value = "127.0.0.1:9464")]
        address: String,
    },
    /// Undo a deletion, stop or resize recorded in the journal: re-create a
    /// deleted SageMaker endpoint (same name, endpoint config and tags), start
    /// a stopped notebook or EC2 instance, or give a resized EC2 instance its
    /// old type back.
    Restore {
        /// sagemaker-endpoint, sagemaker-notebook or ec2-instance.
        resource_type: costguard::resources::ResourceType,
        /// The endpoint or notebook name, or the EC2 instance id.
        name: String,

        /// In this member account of an organization's sweep: its journal
        /// (accounts/ID/ in the state folder), through its member role.
        #[arg(long, value_name = "ID", value_parser = account_id)]
        account: Option<String>,
        /// The role assumed in that account.
        #[arg(long, value_name = "NAME", default_value = costguard::config::accounts::DEFAULT_MEMBER_ROLE)]
        member_role: String,
        /// The environment variable holding the member role's external id.
        #[arg(long, value_name = "VAR")]
        external_id_env: Option<String>,

        #[command(flatten)]
        state: StateArgs,
    },
    /// What costguard's changes saved: the savings ledger (every change done,
    /// with the monthly cost it took off; restored and recreated resources
    /// no longer count), by month, policy and resource type.
    Savings {
        /// Only changes done on or after this day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE", value_parser = day)]
        since: Option<chrono::DateTime<chrono::Utc>>,

        #[arg(long, value_enum, default_value = "table")]
        format: costguard::commands::SavingsFormat,

        /// The organization's ledger: every account's journal under the
        /// state folder (`accounts/<id>/`), by month, account, policy and
        /// type.
        #[arg(long, conflicts_with = "journal")]
        organization: bool,

        /// Another shard's state folder, read with this one (repeatable;
        /// implies --organization).
        #[arg(long, value_name = "DIR")]
        shard_state: Vec<PathBuf>,

        #[command(flatten)]
        state: StateArgs,
    },
    /// The accounts an organization sweep covers, and whether costguard can
    /// reach each one (its member role assumed, session `costguard`): the
    /// check to run before sweeping an organization.
    Accounts {
        #[command(flatten)]
        org: OrgArgs,
        /// Only list the accounts; assume no role.
        #[arg(long)]
        no_check: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: costguard::commands::AccountsFormat,
    },
    /// Check policy files without calling AWS: every error, with
    /// file:line:column and the offending key. Exit 0 when all are valid.
    Validate {
        /// Policy files or folders of *.yaml files. Default: the config's
        /// `policies:` with --config, else `policies`.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,

        /// Policy files or folders (repeatable), as for `sweep` and `apply`:
        /// the same as naming them as arguments.
        #[arg(long = "policies", value_name = "PATH")]
        policies: Vec<PathBuf>,

        /// Check this daemon config file and everything `run --config`
        /// reads from it, found the way `run` finds it: its policy paths,
        /// email templates, state and report folders.
        #[arg(long, value_name = "FILE", env = "COSTGUARD_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Every resource an off-hours policy covers (by its schedule tag, its
    /// Custodian offhours tag, or the policy's default schedule): where it
    /// stands now and when it sleeps and wakes next, in its schedule's time
    /// zone. Lists and reads tags only; changes nothing.
    Show {
        /// Policy files or folders of *.yaml files (repeatable).
        #[arg(long = "policies", value_name = "PATH", default_value = "policies")]
        policies: Vec<PathBuf>,

        /// Region to list (repeatable); default: the SDK's region.
        #[arg(long = "region", value_name = "R")]
        regions: Vec<String>,

        /// How far ahead to list switches.
        #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=336))]
        hours: u32,

        #[arg(long, value_enum, default_value = "table")]
        format: costguard::commands::ScheduleFormat,
    },
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Print a saved plan for review: every change, its cost, why it
    /// matched and the evidence `apply` will check.
    Show {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "markdown")]
        format: costguard::commands::PlanFormat,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Handle what the queue holds, then exit: each event's resources read,
    /// priced, tagged with their creator when they have no owner, and told
    /// to their owner or creator once. Messages that fail stay in the queue
    /// to come back (and reach its dead-letter queue after the last try).
    ///
    /// Exit codes: 0 every message settled; 1 the queue or the config could
    /// not be read; 3 some messages failed or could not be read.
    Drain {
        /// The queue's URL; default: the config's `events.queue`.
        #[arg(long, value_name = "URL")]
        queue: Option<String>,

        /// The daemon config file (`events:`, `email:`, `state-dir`).
        #[arg(long, value_name = "FILE", env = "COSTGUARD_CONFIG")]
        config: Option<PathBuf>,

        #[command(flatten)]
        state: StateArgs,

        /// Where prices come from: the AWS Price List API (cached in the
        /// state folder), or only the built-in table.
        #[arg(long, value_enum, default_value_t = Prices::Api)]
        prices: Prices,

        /// Print what was done as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Combine the reports of an organization's shards (`sweep --shard`)
    /// into the one report a single process would have written.
    Merge {
        /// Each shard's report folder (holding its report.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged report.json and report.md go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The daemon config whose email sends the digests the shards held:
        /// one per person across every shard's accounts.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `--account`: 12 digits, since it names a folder in the state folder.
fn account_id(text: &str) -> Result<String, String> {
    if costguard::config::accounts::is_account_id(text) {
        Ok(text.to_string())
    } else {
        Err(format!("an account id is 12 digits, found {text:?}"))
    }
}

/// The AWS SDK's own crates: what they log (every provider a credentials
/// chain tried, with its raw response) is for `--log debug`; costguard
/// says what failed, and what to do, in one line of its own.
const SDK_TARGETS: &[&str] = &["aws_config", "aws_runtime", "aws_credential_types", "aws_smithy_runtime", "aws_smithy_http_client", "hyper_util"];

/// `filter` as given, with the SDK quiet unless it asks for debug or
/// names targets itself.
fn log_filter(filter: &str) -> String {
    let verbose = ["debug", "trace"].contains(&filter.trim().to_ascii_lowercase().as_str());
    if verbose || filter.contains('=') {
        return filter.to_string();
    }
    let quiet: Vec<String> = SDK_TARGETS.iter().map(|t| format!("{t}=off")).collect();
    format!("{filter},{}", quiet.join(","))
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(filter)).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter("info")));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal());
    match format {
        // Names and tags come from AWS: one event is one line, whatever they hold.
        LogFormat::Text => builder.with_writer(|| costguard::text::OneLine(std::io::stderr())).init(),
        // JSON escapes them itself.
        LogFormat::Json => builder.with_writer(std::io::stderr).json().init(),
    }
}

/// The one place that reads the system clock; the library is handed it.
fn system_clock() -> Clock {
    Clock::from_fn(chrono::Utc::now)
}

/// One thread: a sweep waits on AWS far more than it computes, and
/// worker threads handing each answer to one another cost more CPU than
/// they save (the mixed benchmark's two jobs: 0.42 s of CPU on two
/// workers, 0.33 s on one; README). Blocking work (DNS) keeps its pool.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("costguard: cannot start the async runtime: {e}");
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    let command = match cli.command {
        Command::Validate { mut paths, policies, config } => {
            paths.extend(policies);
            return commands::validate(&paths, config.as_deref());
        }
        Command::IamPolicy { hub: true, member_role, .. } => return commands::print_json(&costguard::iam::hub_document(&member_role, None)),
        Command::IamPolicy { policies, config, require_tag, member: true, hub_role, external_id_env, events_queue, .. } => {
            let external_id =
                match external_id_env.map(|var| std::env::var(&var).map_err(|_| format!("costguard: {var} is not set (the external id)"))).transpose() {
                    Ok(id) => id,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(commands::exit::FAILED);
                    }
                };
            let trust = costguard::iam::member_trust(hub_role.as_deref().unwrap_or_default(), external_id.as_deref());
            return commands::iam_policy(&policies, config.as_deref(), require_tag.as_deref(), events_queue.as_deref(), Some(trust));
        }
        Command::IamPolicy { policies, config, require_tag, events_queue, .. } => {
            return commands::iam_policy(&policies, config.as_deref(), require_tag.as_deref(), events_queue.as_deref(), None)
        }
        Command::Health { address } => return commands::health(&address),
        Command::Savings { since, format, organization, shard_state, state } => {
            let ledgers = if organization || !shard_state.is_empty() {
                commands::Ledgers::Organization(std::iter::once(state.dir()).chain(shard_state).collect())
            } else {
                commands::Ledgers::Journal(state.journal())
            };
            return commands::savings(&ledgers, since, format);
        }
        Command::Plan { command: PlanCommand::Show { file, format } } => return commands::plan_show(&file, format, &system_clock()),
        Command::Report { command: ReportCommand::Merge { dirs, out, config: None } } => return commands::report_merge(&dirs, &out),
        command => command,
    };
    let Some(runtime) = runtime() else { return ExitCode::from(commands::exit::FAILED) };
    runtime.block_on(async {
        // Before anything else: the first SIGTERM or Ctrl-C stops work in
        // good order, the second exits at once, whatever state we are in.
        let shutdown = Shutdown::new();
        shutdown.listen_for_signals();
        run_async(command, cli.log_format, shutdown).await
    })
}

/// Which accounts of an organization, and how to reach them.
#[derive(clap::Args)]
struct OrgArgs {
    /// Every active account of the organization (organizations:ListAccounts).
    #[arg(long)]
    organization: bool,
    /// Only the accounts under this organizational unit, child OUs
    /// included (repeatable; implies --organization).
    #[arg(long = "ou", value_name = "ID")]
    ous: Vec<String>,
    /// The accounts of this file instead (c7n-org's accounts.yml is read as it is).
    #[arg(long = "accounts", value_name = "FILE")]
    accounts_file: Option<PathBuf>,
    /// Only this account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    only: Vec<String>,
    /// Leave this account out (repeatable).
    #[arg(long = "exclude-account", value_name = "ID")]
    exclude: Vec<String>,
    /// The role assumed in each member account.
    #[arg(long, value_name = "NAME", default_value = costguard::config::accounts::DEFAULT_MEMBER_ROLE)]
    member_role: String,
    /// The environment variable holding the external id the member
    /// role's trust policy asks for.
    #[arg(long, value_name = "VAR", conflicts_with = "external_id_file")]
    external_id_env: Option<String>,
    /// The file holding that external id.
    #[arg(long, value_name = "FILE")]
    external_id_file: Option<PathBuf>,
    /// Accounts reached (and swept) at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    max_accounts: u16,
    /// Only shard K of N (0-based): the accounts whose id hashes to K,
    /// stable across runs and machines.
    #[arg(long, value_name = "K/N", value_parser = shard, conflicts_with = "shard_count")]
    shard: Option<(u32, u32)>,
    /// N shards, this one's K from JOB_COMPLETION_INDEX (a Kubernetes
    /// Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    shard_count: Option<u32>,
}

/// `--shard K/N`.
fn shard(text: &str) -> Result<(u32, u32), String> {
    let (k, n) = text.split_once('/').ok_or_else(|| format!("expected K/N such as 0/4, found {text:?}"))?;
    let (k, n): (u32, u32) =
        (k.trim().parse().map_err(|_| format!("K in {text:?} is not a number"))?, n.trim().parse().map_err(|_| format!("N in {text:?} is not a number"))?);
    if n == 0 || k >= n {
        return Err(format!("expected 0 <= K < N, found {text:?}"));
    }
    Ok((k, n))
}

/// This process's shard under `--shard-count`: the index the engine gives.
fn shard_from_env(n: u32) -> Result<(u32, u32), String> {
    let (name, value) = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"]
        .iter()
        .find_map(|name| std::env::var(name).ok().map(|v| (*name, v)))
        .ok_or("--shard-count needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job)")?;
    shard(&format!("{}/{n}", value.trim())).map_err(|e| format!("{name}: {e}"))
}

impl OrgArgs {
    /// `None` unless some account option is given: the credentials' own account.
    fn into_args(self) -> Result<Option<costguard::config::accounts::OrgSettings>, String> {
        use costguard::config::daemon::SecretSource;
        let sharded = self.shard.is_some() || self.shard_count.is_some();
        if !self.organization && self.ous.is_empty() && self.accounts_file.is_none() && self.only.is_empty() && self.exclude.is_empty() && !sharded {
            return Ok(None);
        }
        let shard = match (self.shard, self.shard_count) {
            (Some(s), _) => Some(s),
            (None, Some(n)) => Some(shard_from_env(n)?),
            (None, None) => None,
        };
        Ok(Some(costguard::config::accounts::OrgSettings {
            // Without --accounts FILE: the organization's accounts.
            organization: self.organization || !self.ous.is_empty() || self.accounts_file.is_none(),
            ous: self.ous,
            accounts_file: self.accounts_file,
            only: self.only,
            exclude: self.exclude,
            shard,
            member_role: self.member_role,
            external_id: self.external_id_env.map(SecretSource::Env).or(self.external_id_file.map(SecretSource::File)),
            max_accounts: usize::from(self.max_accounts),
        }))
    }
}

/// `--since`: a day, `2026-11-01`, from its first second UTC.
fn day(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| format!("expected a day such as 2026-11-01, found {text:?}"))?;
    Ok(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// `--at`: a moment with its offset (RFC 3339).
fn instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("expected a moment with its offset such as 2026-12-07T19:05:00+01:00, found {text:?}"))
}

/// `--protect-tag`: a tag key; empty would protect nothing.
fn protect_tag(text: &str) -> Result<String, String> {
    let key = text.trim();
    if key.is_empty() {
        return Err("the protection tag cannot be empty (that would protect nothing)".to_string());
    }
    Ok(key.to_string())
}

/// `--max-duration`: a number with a unit, `s`, `m` or `h` (`90s`, `30m`, `2h`).
fn duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let value: f64 = number.trim().parse().map_err(|_| format!("expected a duration such as 90s, 30m or 2h, found {text:?}"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("expected a duration with a unit, s, m or h (90s, 30m, 2h), found {text:?}")),
    };
    if !(1.0..=7.0 * 86_400.0).contains(&seconds) {
        return Err(format!("expected a duration from 1s to 168h, found {text:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

fn progress(log_format: LogFormat) -> Progress {
    match log_format {
        LogFormat::Text => Progress::on_terminal(),
        LogFormat::Json => Progress::hidden(),
    }
}

async fn run_async(command: Command, log_format: LogFormat, shutdown: Shutdown) -> ExitCode {
    match command {
        Command::Run { config, once, regions, dry_run, events_queue } => {
            let source = costguard::sweep::loaded::Source { file: config, regions, dry_run, events_queue };
            match once {
                true => commands::run_once(&source, &system_clock(), shutdown.token().clone()).await,
                false => costguard::service::run(source, system_clock(), shutdown).await,
            }
        }
        Command::Soak { config, ticks, tick_minutes, sweep_every } => {
            let sim = costguard::service::Simulation { ticks, tick: chrono::Duration::minutes(tick_minutes), sweep_every };
            costguard::service::soak(&config, system_clock().now(), sim, shutdown.token().clone()).await
        }
        Command::Restore { resource_type, name, account, member_role, external_id_env, state } => {
            let member = account.map(|id| {
                let journal = state.dir().join(costguard::sweep::organization::ACCOUNTS_DIR).join(&id).join(costguard::config::daemon::JOURNAL_FILE);
                let external_id = external_id_env.and_then(|var| std::env::var(var).ok());
                (commands::Member { account: id, role: member_role, external_id }, journal)
            });
            match member {
                Some((member, journal)) => commands::restore(resource_type, &name, &journal, Some(member), &system_clock()).await,
                None => commands::restore(resource_type, &name, &state.journal(), None, &system_clock()).await,
            }
        }
        Command::Apply { file, config, policies, report_dir, regions, protect_tag, max_age, max_duration, wait_lock, state } => {
            let options = SweepOptions {
                dry_run: false,
                scope: Scope { regions, ..Scope::default() },
                features: Features { settings: PlanSettings { protect_tag }, ..Features::default() },
                paths: Paths { report_dir, journal: state.journal(), ..Paths::default() },
                limits: Limits { max_duration, wait_lock: std::time::Duration::from_secs(wait_lock), ..Limits::default() },
            };
            let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::hours(24));
            let args = commands::ApplyArgs { file, config, policies, max_age, options, progress: progress(log_format) };
            commands::apply(args, &system_clock(), shutdown.token().clone()).await
        }
        Command::Sweep {
            dry_run,
            org,
            policies,
            report_dir,
            regions,
            protect_tag,
            max_duration,
            wait_lock,
            state,
            prices,
            skip_guardrails,
            config,
            no_email,
            save_plan,
            at,
        } => {
            let progress = progress(log_format);
            let options = SweepOptions {
                dry_run,
                scope: Scope { regions, ..Scope::default() },
                features: Features { settings: PlanSettings { protect_tag }, price_list_api: prices == Prices::Api, ..Features::default() },
                paths: Paths {
                    report_dir,
                    journal: state.journal(),
                    price_cache: Some(state.dir().join(costguard::config::daemon::PRICE_CACHE_FILE)),
                    save_plan,
                },
                limits: Limits { max_duration, wait_lock: std::time::Duration::from_secs(wait_lock), ..Limits::default() },
            };
            let org = match org.into_args() {
                Ok(org) => org,
                Err(e) => {
                    eprintln!("costguard: {e}");
                    return ExitCode::from(commands::exit::FAILED);
                }
            };
            let clock = match at {
                // The system clock, moved: the sweep's own time still passes.
                Some(at) => system_clock().shifted(at - chrono::Utc::now()),
                None => system_clock(),
            };
            commands::sweep(SweepArgs { policies, options, progress, skip_guardrails, config, no_email, org }, &clock, shutdown.token().clone()).await
        }
        Command::Accounts { org, no_check, format } => match org.into_args() {
            Ok(Some(org)) => commands::accounts(commands::AccountsArgs { org, check: !no_check, format }).await,
            Ok(None) => {
                eprintln!("costguard: name the accounts: --organization (with --ou ID to narrow), or --accounts FILE");
                ExitCode::from(commands::exit::FAILED)
            }
            Err(e) => {
                eprintln!("costguard: {e}");
                ExitCode::from(commands::exit::FAILED)
            }
        },
        Command::Report { command: ReportCommand::Merge { dirs, out, config: Some(config) } } => {
            commands::report_merge_and_tell(&dirs, &out, &config, &system_clock(), shutdown.token()).await
        }
        Command::Events { command: EventsCommand::Drain { queue, config, state, prices, json } } => {
            let args = commands::DrainArgs { queue, config, state_dir: state.dir(), price_list_api: prices == Prices::Api, json };
            commands::events_drain(args, &system_clock(), shutdown.token()).await
        }
        Command::Schedule { command: ScheduleCommand::Show { policies, regions, hours, format } } => {
            commands::schedule_show(commands::ScheduleArgs { policies, regions, hours, format }, &system_clock(), shutdown.token().clone()).await
        }
        Command::Validate { .. }
        | Command::IamPolicy { .. }
        | Command::Health { .. }
        | Command::Savings { .. }
        | Command::Plan { .. }
        | Command::Report { .. } => ExitCode::from(commands::exit::FAILED),
    }
}
