//! The CLI's subcommands, as library functions returning exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::aws::{ApiCallCounter, Aws};
use crate::clock::Clock;
use crate::config;
use crate::config::daemon::TimeLimits;
use crate::notify::EmailSetup;
use crate::progress::Progress;
use crate::report::Verdict;
use crate::sweep::{self, SweepOptions};

pub use crate::outcome::exit;

/// `costguard validate`: the policy files, and with `--config` everything
/// `run --config` reads, found as `run` finds it: the config, its policy
/// paths (unless PATHS are given), templates, and state and report folders.
pub fn validate(paths: &[PathBuf], daemon_config: Option<&Path>) -> ExitCode {
    let mut problems: Vec<String> = Vec::new();
    let daemon = match daemon_config.map(|file| (file, config::daemon::load(file))) {
        Some((file, Err(errors))) => {
            problems.extend(errors.0.iter().map(ToString::to_string));
            problems.push(format!("{}: invalid config", file.display()));
            None
        }
        Some((file, Ok(d))) => Some((file, d)),
        None => None,
    };
    let policy_paths = match (&daemon, paths.is_empty()) {
        (_, false) => paths.to_vec(),
        (Some((_, d)), true) => d.policies.clone(),
        (None, true) => vec![PathBuf::from("policies")],
    };
    let checked = config::check(&policy_paths);
    for w in &checked.warnings {
        eprintln!("costguard: warning: {w}");
    }
    let set = match checked.set {
        Ok(set) => Some(set),
        Err(errors) => {
            problems.extend(errors.0.iter().map(ToString::to_string));
            if let Some((file, _)) = daemon.as_ref().filter(|_| paths.is_empty()) {
                let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                problems.push(format!(
                    "{}: its `policies:` are read relative to {} (as `run` reads them); install the config with its policies beside it",
                    file.display(),
                    folder.display()
                ));
            }
            None
        }
    };
    let mut email = None;
    if let Some((file, d)) = &daemon {
        match d.email.as_ref().map(EmailSetup::load).transpose() {
            Ok(e) => email = e,
            Err(e) => problems.push(format!("{}: {e}", file.display())),
        }
        // `run` reads the token at start and refuses to start without it.
        if let Some(Err(e)) = d.http_token.as_ref().map(config::daemon::read_http_token) {
            problems.push(format!("{}: the HTTP token: {e}", file.display()));
        }
        for folder in [d.state_dir(), d.report_dir()] {
            if let Err(e) = config::daemon::check_writable(&folder) {
                problems.push(format!("{}: {e}", file.display()));
            }
        }
    }
    if let (Some(set), Some(email)) = (&set, &email) {
        problems.extend(crate::notify::channel_problems(&set.policies, &email.settings));
    }
    if let Some(set) = &set {
        Notes::of(set.guardrails.as_ref(), email.as_deref()).print();
        if let Some(note) = unsent_notify_note(&set.policies, email.as_deref()) {
            eprintln!("costguard: note: {note}");
        }
    }
    match (set, problems.is_empty()) {
        (Some(set), true) => {
            let budgets = set.guardrails.as_ref().map_or(String::new(), |g| format!(", {} budgets", g.budgets.len()));
            let files = set.files.len();
            println!("ok: {} policies{budgets} in {files} file{}", set.policies.len(), if files == 1 { "" } else { "s" });
            ExitCode::from(exit::OK)
        }
        _ => {
            for p in &problems {
                eprintln!("{p}");
            }
            let n = problems.len();
            eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
            ExitCode::from(exit::FAILED)
        }
    }
}

/// Alerts and email to example.com reach nobody: said on every run.
struct Notes(Vec<String>);

impl Notes {
    fn of(guardrails: Option<&config::Guardrails>, email: Option<&EmailSetup>) -> Self {
        let mut notes = Vec::new();
        let found = guardrails.map(config::Guardrails::placeholder_addresses).unwrap_or_default();
        if !found.is_empty() {
            notes.push(format!(
                "costguard: warning: guardrail alerts go to placeholder addresses that reach nobody ({}); set guardrails.email",
                found.join(", ")
            ));
        }
        let found = email.map(|e| e.settings.placeholders()).unwrap_or_default();
        if !found.is_empty() {
            notes.push(format!(
                "costguard: warning: the email settings still name placeholders that reach nobody ({}); set email.from, email.to and the relay",
                found.join(", ")
            ));
        }
        Notes(notes)
    }

    fn print(&self) {
        for note in &self.0 {
            eprintln!("{note}");
        }
    }
}

pub struct SweepArgs {
    pub policies: Vec<PathBuf>,
    pub options: SweepOptions,
    pub progress: Progress,
    pub skip_guardrails: bool,
    /// The daemon config file.
    pub config: Option<PathBuf>,
    pub no_email: bool,
    /// An organization's accounts instead of the credentials' own.
    pub org: Option<crate::config::accounts::OrgSettings>,
}

/// What `sweep` takes from a daemon config file: the email settings and
/// templates, checked, and the time limits. `Err` is the message to print.
pub fn load_sweep_config(file: &Path) -> Result<SweepConfig, String> {
    let daemon = config::daemon::load(file).map_err(|e| format!("{e}\ncostguard: invalid config {}", file.display()))?;
    let email = daemon.email.as_ref().map(EmailSetup::load).transpose().map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(SweepConfig { email, limits: daemon.time_limits, state_keep: daemon.state_keep })
}

/// What `sweep --config` takes from the daemon config.
pub struct SweepConfig {
    pub email: Option<Arc<EmailSetup>>,
    pub limits: TimeLimits,
    pub state_keep: chrono::Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self { email: None, limits: TimeLimits::default(), state_keep: chrono::Duration::days(config::daemon::DEFAULT_STATE_KEEP_DAYS) }
    }
}

/// `notify` without email set up only reports: the note that says so.
fn unsent_notify_note(policies: &[config::Policy], email: Option<&EmailSetup>) -> Option<String> {
    let notifying: Vec<&str> =
        policies.iter().filter(|p| p.enabled && p.actions.iter().any(|a| a.name() == crate::actions::notify::NAME)).map(|p| p.name.as_str()).collect();
    (email.is_none() && !notifying.is_empty())
        .then(|| format!("no email is set up (--config with an `email:` section), so notify findings of {} are only reported", notifying.join(", ")))
}

pub async fn sweep(args: SweepArgs, clock: &Clock, cancel: CancellationToken) -> ExitCode {
    let set = match config::load(&args.policies) {
        Ok(set) => set,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("costguard: invalid policies; nothing was listed or changed");
            return ExitCode::from(exit::FAILED);
        }
    };
    for w in &set.warnings {
        eprintln!("costguard: warning: {w}");
    }
    let (policies, guardrails) = (set.policies, if args.skip_guardrails { None } else { set.guardrails });
    let (email, limits, state_keep) = match args.config.as_deref().map(load_sweep_config).transpose() {
        Err(message) => {
            eprintln!("{message}");
            eprintln!("costguard: nothing was listed or changed");
            return ExitCode::from(exit::FAILED);
        }
        Ok(loaded) => {
            let SweepConfig { email, limits, state_keep } = loaded.unwrap_or_default();
            (email.filter(|_| !args.no_email), limits, state_keep)
        }
    };
    // Said once the sweep could start: a first run without credentials
    // prints the one line that says so, nothing before it.
    let notes = (Notes::of(guardrails.as_ref(), email.as_deref()), unsent_notify_note(&policies, email.as_deref()));
    let mut options = args.options;
    (options.features.guardrails, options.features.email) = (guardrails, email);
    // --max-duration, else the config's limit, else the default.
    options.limits.max_duration = Some(options.limits.max_duration.unwrap_or(limits.sweep));
    (options.limits.state_keep, options.limits.aws) = (state_keep, limits.aws);
    let request = sweep::Request { policies, options, organization: args.org };
    let swept = sweep::execute(request, clock, &args.progress, &cancel).await;
    if swept.is_ok() {
        notes.0.print();
        if let Some(note) = notes.1 {
            tracing::info!("{note}");
        }
    }
    summarize_swept(swept)
}

/// `costguard run --once`: the daemon config's sweep of every enabled
/// policy and the guardrails, once, as the daemon would run it.
pub async fn run_once(source: &sweep::loaded::Source, clock: &Clock, cancel: CancellationToken) -> ExitCode {
    let loaded = match source.load() {
        Ok(loaded) => loaded,
        Err(e) => return summarize(Err(sweep::SweepError::Config(e.to_string()))),
    };
    summarize_swept(sweep::execute(loaded.request(None, clock.now()), clock, &Progress::hidden(), &cancel).await)
}

/// An organization's sweep on the terminal: the totals, the accounts that
/// failed, the reports; the exit code.
pub fn summarize_organization(result: Result<sweep::organization::OrgResult, sweep::SweepError>) -> ExitCode {
    match result {
        Ok(result) => {
            let t = &result.report.totals;
            println!(
                "{}: {} accounts ({} failed), {} findings, {}/month at stake, {} AWS calls",
                if result.report.dry_run { "dry run" } else { "sweep" },
                t.accounts,
                t.accounts_failed,
                t.findings,
                crate::text::usd_with_unpriced(t.monthly_saving_usd, t.unpriced),
                t.api_calls
            );
            for a in result.report.accounts.iter().filter(|a| a.status == crate::outcome::AccountStatus::Failed) {
                eprintln!("costguard: account {} ({}): {}", a.account_id, a.name, a.error.as_deref().unwrap_or("failed"));
            }
            for e in &result.report.email_errors {
                eprintln!("costguard: error: {e}");
            }
            println!("report: {}\nreport: {}", result.report_json.display(), result.report_md.display());
            ExitCode::from(result.exit_code())
        }
        Err(e) => {
            eprintln!("costguard: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// One account's sweep or an organization's, on the terminal.
pub fn summarize_swept(result: Result<sweep::Swept, sweep::SweepError>) -> ExitCode {
    match result {
        Ok(sweep::Swept::Account(r)) => summarize(Ok(*r)),
        Ok(sweep::Swept::Organization(r)) => summarize_organization(Ok(*r)),
        Err(e) => summarize(Err(e)),
    }
}

pub struct ApplyArgs {
    pub file: PathBuf,
    /// The daemon config: its policies, regions, state and report folders,
    /// protection tag and time limits (instead of the flags).
    pub config: Option<PathBuf>,
    pub policies: Vec<PathBuf>,
    pub max_age: chrono::Duration,
    /// From the flags; with `config`, only the time limit and the lock wait count.
    pub options: SweepOptions,
    pub progress: Progress,
}

/// `costguard apply FILE`: a reviewed plan's changes that still hold.
pub async fn apply(args: ApplyArgs, clock: &Clock, cancel: CancellationToken) -> ExitCode {
    let file = match sweep::read_plan(&args.file) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("costguard: {e}\ncostguard: nothing was changed");
            return ExitCode::from(exit::FAILED);
        }
    };
    let loaded = match &args.config {
        Some(config) => sweep::Loaded::load(config).map_err(|e| e.to_string()).map(|l| {
            let request = l.request(None, clock.now());
            (request.policies, request.options, l.config.time_limits)
        }),
        None => config::load(&args.policies).map(|set| (set.policies, args.options.clone(), TimeLimits::default())).map_err(|e| e.to_string()),
    };
    let (policies, options, limits) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}\ncostguard: invalid policies or config; nothing was changed");
            return ExitCode::from(exit::FAILED);
        }
    };
    // A plan's apply changes only what the plan names: no guardrails, no email.
    let options = SweepOptions {
        dry_run: false,
        scope: sweep::Scope { regions: options.scope.regions, ..sweep::Scope::default() },
        features: sweep::Features { settings: options.features.settings, price_list_api: options.features.price_list_api, ..sweep::Features::default() },
        paths: sweep::Paths { save_plan: None, ..options.paths },
        limits: sweep::Limits {
            max_duration: Some(args.options.limits.max_duration.unwrap_or(limits.sweep)),
            wait_lock: args.options.limits.wait_lock,
            ..options.limits
        },
    };
    let aws = Aws::from_env(ApiCallCounter::new()).await.with_limits(limits.aws);
    let ctx = sweep::Context { aws: &aws, clock, progress: &args.progress, cancel: &cancel };
    summarize(sweep::apply_plan(&ctx, &policies, &sweep::Reviewed { path: &args.file, file: &file, max_age: args.max_age }, &options).await)
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PlanFormat {
    Markdown,
    Json,
}

/// `costguard plan show FILE`: the plan for review.
pub fn plan_show(path: &Path, format: PlanFormat, clock: &Clock) -> ExitCode {
    let file = match sweep::read_plan(path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match format {
        PlanFormat::Markdown => print!("{}", crate::report::plan_review::markdown(&file, clock.now())),
        PlanFormat::Json => match serde_json::to_string_pretty(&file) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("costguard: {e}");
                return ExitCode::from(exit::FAILED);
            }
        },
    }
    ExitCode::from(exit::OK)
}

/// Prints a sweep's one-line summary, errors and report paths; returns the
/// exit code its report calls for.
pub fn summarize(result: Result<sweep::SweepResult, sweep::SweepError>) -> ExitCode {
    match result {
        Ok(result) => {
            let r = &result.report;
            println!(
                "{}: {} findings ({} planned, {} done, {} skipped, {} failed); a month: {} will change, {} needs a decision, {} left alone; {} AWS calls",
                if r.dry_run { "dry run" } else { "sweep" },
                r.totals.findings,
                r.totals.planned,
                r.totals.done,
                r.totals.skipped,
                r.totals.failed,
                crate::text::usd_with_unpriced(r.totals.saving_usd.will_change, r.totals.saving_usd.unpriced.will_change),
                crate::text::usd_with_unpriced(r.totals.saving_usd.needs_decision, r.totals.saving_usd.unpriced.needs_decision),
                crate::text::usd_with_unpriced(r.totals.saving_usd.left_alone, r.totals.saving_usd.unpriced.left_alone),
                r.totals.api_calls
            );
            if let Some(e) = &r.emails {
                println!(
                    "email: {} sent, {} kept for the next sweep, {} refused, {} from the outbox; {} findings held back (quiet period)",
                    e.sent, e.queued, e.failed, e.outbox_sent, e.held_back
                );
            }
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
            ExitCode::from(e.exit_code())
        }
    }
}

/// A member account of an organization, reached through its role.
pub struct Member {
    pub account: String,
    pub role: String,
    pub external_id: Option<String>,
}

pub async fn restore(resource_type: crate::resources::ResourceType, name: &str, journal: &std::path::Path, member: Option<Member>, clock: &Clock) -> ExitCode {
    if !journal.exists() {
        eprintln!("costguard: no journal at {}; pass --state-dir or --journal", journal.display());
        return ExitCode::from(exit::FAILED);
    }
    // A restore is a change: never beside a sweep of the same state folder.
    let dir = journal.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let holder = format!("pid {}, restore of {name} since {}", std::process::id(), crate::text::utc(clock.now()));
    let _lock = match crate::state_lock::StateLock::acquire(dir, &holder, std::time::Duration::ZERO, &CancellationToken::new()).await {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let journal = match crate::engine::journal::Journal::open(journal) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let hub = Aws::from_env(ApiCallCounter::new()).await;
    let aws = match &member {
        None => hub,
        Some(m) => {
            let partition = crate::engine::accounts::partition(&hub.default_region().unwrap_or_default());
            let role = crate::config::accounts::MemberAccount::new(&m.account, &m.account).role(partition, &m.role);
            let aws = hub.assuming(&role, m.external_id.as_deref(), Default::default());
            match aws.account_id().await {
                Ok(id) if id == m.account => aws,
                Ok(id) => {
                    eprintln!("costguard: {role} answered for account {id}, not {}; nothing was restored", m.account);
                    return ExitCode::from(exit::FAILED);
                }
                Err(e) => {
                    eprintln!("costguard: cannot act as {role}: {e}; nothing was restored");
                    return ExitCode::from(exit::FAILED);
                }
            }
        }
    };
    match crate::engine::restore::restore(&aws, &journal, resource_type, name, clock).await {
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

/// `costguard iam-policy`: the policy document on stdout.
/// Prints a JSON document, pretty.
pub fn print_json(doc: &serde_json::Value) -> ExitCode {
    match serde_json::to_string_pretty(doc) {
        Ok(text) => {
            println!("{text}");
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("costguard: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `costguard iam-policy`: the permissions the policies need; with
/// `trust`, as a member role's `{PermissionsPolicy, TrustPolicy}`.
pub fn iam_policy(
    paths: &[PathBuf],
    daemon_config: Option<&Path>,
    require_tag: Option<&str>,
    events_queue: Option<&str>,
    trust: Option<serde_json::Value>,
) -> ExitCode {
    let mut daemon = match daemon_config.map(config::daemon::load) {
        Some(Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(exit::FAILED);
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    let events_only = events_queue.filter(|_| daemon.is_none()).map(config::events::EventsSettings::for_queue);
    if let (Some(queue), Some(d)) = (events_queue, daemon.as_mut()) {
        d.with_events_queue(queue);
    }
    let paths = match (&daemon, paths.is_empty()) {
        (_, false) => paths.to_vec(),
        (Some(d), true) => d.policies.clone(),
        (None, true) => vec![PathBuf::from("policies")],
    };
    let (policies, guardrails) = match config::load(&paths) {
        Ok(set) => (set.policies, set.guardrails),
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let needs = crate::iam::Needs {
        events: daemon.as_ref().and_then(|d| d.events.as_ref()).or(events_only.as_ref()),
        protect_tag: daemon.as_ref().map(|d| d.protect_tag.as_str()),
        guardrails: guardrails.as_ref(),
        price_list_api: daemon.as_ref().is_none_or(|d| d.prices == config::daemon::PriceSource::Api),
        ses: daemon
            .as_ref()
            .and_then(|d| d.email.as_ref())
            .filter(|e| matches!(e.transport, config::daemon::TransportSettings::Ses(_)))
            .map(|e| e.from.clone()),
        sns_topics: daemon
            .as_ref()
            .and_then(|d| d.email.as_ref())
            .map(|e| {
                e.channels
                    .values()
                    .filter_map(|c| match &c.target {
                        config::channels::ChannelTarget::Sns { topic_arn, .. } => Some(topic_arn.clone()),
                        config::channels::ChannelTarget::Http { .. } => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        require_tag,
    };
    let document = crate::iam::document(&policies, &needs);
    match trust {
        Some(trust) => print_json(&serde_json::json!({"PermissionsPolicy": document, "TrustPolicy": trust})),
        None => print_json(&document),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SavingsFormat {
    Table,
    Json,
    Csv,
}

/// `costguard savings`: the ledger, summed by month, policy and type.
/// Whose savings ledger `costguard savings` reads.
pub enum Ledgers {
    /// One account's journal.
    Journal(PathBuf),
    /// An organization's: every account's journal under each of these
    /// state folders (one per shard).
    Organization(Vec<PathBuf>),
}

pub fn savings(ledgers: &Ledgers, since: Option<chrono::DateTime<chrono::Utc>>, format: SavingsFormat) -> ExitCode {
    let read = match ledgers {
        Ledgers::Journal(journal) if !journal.exists() => {
            eprintln!("costguard: no journal at {}; pass --state-dir or --journal", journal.display());
            return ExitCode::from(exit::FAILED);
        }
        Ledgers::Journal(journal) => {
            crate::engine::journal::Journal::open(journal).and_then(|j| Ok((j.savings().rows(since)?, j.sleeps().scheduled(since)?))).map_err(|e| e.to_string())
        }
        Ledgers::Organization(dirs) => crate::engine::org_ledger::organization_rows(dirs, since)
            .map(|org| {
                tracing::info!(journals = org.journals.len(), rows = org.rows.len(), "the organization's ledgers read");
                (org.rows, org.scheduled)
            })
            .map_err(|e| e.to_string()),
    };
    let rows = match read {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let format = match format {
        SavingsFormat::Table => crate::engine::ledger::Format::Table,
        SavingsFormat::Json => crate::engine::ledger::Format::Json,
        SavingsFormat::Csv => crate::engine::ledger::Format::Csv,
    };
    print!("{}", crate::engine::ledger::render(&rows.0, &rows.1, format));
    ExitCode::from(exit::OK)
}

/// `costguard health`: GET /healthz, for images without a shell or curl.
pub fn health(address: &str) -> ExitCode {
    use std::io::{Read, Write};
    let answer = (|| -> std::io::Result<String> {
        let addr = address.parse::<std::net::SocketAddr>().map_err(std::io::Error::other)?;
        let mut stream = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())?;
        let mut response = String::new();
        // The status line is all that matters: never read more than a page.
        stream.take(64 * 1024).read_to_string(&mut response)?;
        Ok(response)
    })();
    match answer {
        Ok(r) if r.starts_with("HTTP/1.1 200") => ExitCode::from(exit::OK),
        Ok(r) => {
            eprintln!("costguard: unhealthy: {}", r.lines().next().unwrap_or(""));
            ExitCode::from(exit::FAILED)
        }
        Err(e) => {
            eprintln!("costguard: unhealthy: {address}: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccountsFormat {
    Table,
    Json,
}

/// What `costguard accounts` is asked.
pub struct AccountsArgs {
    pub org: crate::config::accounts::OrgSettings,
    pub check: bool,
    pub format: AccountsFormat,
}

/// `costguard accounts`: the accounts an organization sweep would cover,
/// and (unless `--no-check`) whether each member role can be assumed.
/// Exit 0 when every account was reached, 3 when some were not, 1 when
/// the accounts could not be listed.
pub async fn accounts(args: AccountsArgs) -> ExitCode {
    use crate::engine::accounts::{self, Reached};
    let hub = Aws::from_env(ApiCallCounter::new()).await;
    let (selection, how) = match crate::engine::accounts::resolve(args.org, &hub.default_region().unwrap_or_default()) {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let hub_account = match hub.check_access().await {
        Ok(id) => id,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let found = match accounts::discover(&hub, &selection).await {
        Ok(found) => found,
        Err(e) => {
            eprintln!("costguard: cannot list the accounts: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let reached: Vec<Reached> = if args.check {
        accounts::reach(&hub, &hub_account, found.accounts, &how).await
    } else {
        found
            .accounts
            .into_iter()
            .map(|a| Reached {
                role: how.role_for(&a, &hub_account),
                account_id: a.id,
                name: a.name,
                ou: a.ou,
                status: crate::outcome::AccountStatus::NotChecked,
                error: None,
                aws: None,
            })
            .collect()
    };
    match args.format {
        AccountsFormat::Json => {
            let left_out: Vec<serde_json::Value> =
                found.left_out.iter().map(|(a, why)| serde_json::json!({"account_id": a.id, "name": a.name, "why": why})).collect();
            let doc = serde_json::json!({"hub_account": hub_account, "accounts": reached, "left_out": left_out, "api_calls": hub.counter().snapshot()});
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        AccountsFormat::Table => {
            println!("{:<14} {:<28} {:<28} {:<12} ROLE / ERROR", "ACCOUNT", "NAME", "OU", "STATUS");
            for r in &reached {
                let detail = r.error.clone().or_else(|| r.role.clone()).unwrap_or_else(|| "(the hub's own credentials)".to_string());
                let ou = crate::text::clean(r.ou.as_deref().unwrap_or("-"), 28);
                println!("{:<14} {:<28} {:<28} {:<12} {}", r.account_id, crate::text::clean(&r.name, 28), ou, r.status, crate::text::clean(&detail, 300));
            }
            for (a, why) in &found.left_out {
                let ou = crate::text::clean(a.ou.as_deref().unwrap_or("-"), 28);
                println!("{:<14} {:<28} {:<28} {:<12} {}", a.id, crate::text::clean(&a.name, 28), ou, "left out", why);
            }
            let failed = reached.iter().filter(|r| r.status == crate::outcome::AccountStatus::Failed).count();
            println!(
                "{} account(s), {} reached, {failed} failed, {} left out",
                reached.len(),
                reached.iter().filter(|r| r.status == crate::outcome::AccountStatus::Ok).count(),
                found.left_out.len()
            );
        }
    }
    if reached.iter().any(|r| r.status == crate::outcome::AccountStatus::Failed) {
        ExitCode::from(exit::ERRORS)
    } else {
        ExitCode::from(exit::OK)
    }
}

/// A report is read whole; a shard's is at most this big.
const MAX_REPORT_BYTES: u64 = 512 * 1024 * 1024;

/// `costguard report merge DIR... --out DIR`.
pub fn report_merge(dirs: &[PathBuf], out: &Path) -> ExitCode {
    match merged(dirs) {
        Ok(merged) => write_merged(&merged, dirs, out),
        Err(e) => {
            eprintln!("costguard: {e}; nothing was written");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `report merge ... --config FILE`: the merged report, and the digests
/// the shards held sent as one per person across every shard's accounts,
/// with the config's email, quiet period and outbox (the state folder the
/// shards shared: each account's journal records what was told).
pub async fn report_merge_and_tell(dirs: &[PathBuf], out: &Path, config: &Path, clock: &Clock, cancel: &CancellationToken) -> ExitCode {
    let loaded = match crate::sweep::Loaded::load(config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let Some(email) = loaded.email.clone() else {
        eprintln!("costguard: {}: no email: section, so no digest to send; merge without --config", config.display());
        return ExitCode::from(exit::FAILED);
    };
    let read = merged(dirs).and_then(|m| crate::sweep::organization::read_held(dirs).map(|h| (m, h)).map_err(MergeInputError::Held));
    let (mut merged, held) = match read {
        Ok(both) => both,
        Err(e) => {
            eprintln!("costguard: {e}; nothing was written or sent");
            return ExitCode::from(exit::FAILED);
        }
    };
    let options = loaded.request(None, clock.now()).options;
    let hub = Aws::from_env(ApiCallCounter::new()).await;
    let teller = crate::sweep::organization::Teller {
        hub: &hub,
        email: &email,
        state: &options.paths.journal,
        dry_run: merged.dry_run,
        protect_tag: &options.features.settings.protect_tag,
    };
    let (digests, errors) = teller.tell(&merged, held, clock, cancel).await;
    merged.digests = digests;
    merged.email_errors.extend(errors);
    let code = write_merged(&merged, dirs, out);
    if merged.email_errors.is_empty() {
        code
    } else {
        for e in &merged.email_errors {
            eprintln!("costguard: {e}");
        }
        ExitCode::from(exit::ERRORS)
    }
}

/// Why shards' reports (or their digests) cannot be merged.
#[derive(Debug, thiserror::Error)]
enum MergeInputError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not an organization report ({source})", path.display())]
    NotAReport { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Merge(#[from] crate::report::organization::MergeError),
    #[error(transparent)]
    Held(crate::sweep::organization::HeldError),
}

/// The shards' reports in `dirs`, merged.
fn merged(dirs: &[PathBuf]) -> Result<crate::report::organization::OrgReport, MergeInputError> {
    use crate::report::organization::OrgReport;
    let mut shards = Vec::new();
    for dir in dirs {
        let path = dir.join("report.json");
        let bytes = crate::files::read_bounded(&path, MAX_REPORT_BYTES).map_err(|source| MergeInputError::Read { path: path.clone(), source })?;
        shards.push(serde_json::from_slice::<OrgReport>(&bytes).map_err(|source| MergeInputError::NotAReport { path, source })?);
    }
    Ok(OrgReport::merge(shards)?)
}

fn write_merged(merged: &crate::report::organization::OrgReport, dirs: &[PathBuf], out: &Path) -> ExitCode {
    match merged.write(out) {
        Ok((json, md)) => {
            let t = &merged.totals;
            println!("merged {} reports: {} accounts ({} failed), {} findings", dirs.len(), t.accounts, t.accounts_failed, t.findings);
            println!("report: {}\nreport: {}", json.display(), md.display());
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("costguard: cannot write the merged report to {}: {e}", out.display());
            ExitCode::from(exit::FAILED)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleFormat {
    Table,
    Json,
}

/// What `costguard schedule show` is asked.
pub struct ScheduleArgs {
    pub policies: Vec<PathBuf>,
    pub regions: Vec<String>,
    pub hours: u32,
    pub format: ScheduleFormat,
}

/// One resource's line in `costguard schedule show`.
#[derive(serde::Serialize)]
struct ScheduleLine {
    policy: String,
    resource_type: crate::resources::ResourceType,
    region: String,
    resource_id: String,
    #[serde(flatten)]
    upcoming: crate::filters::offhours::Upcoming,
}

/// `costguard schedule show`: every resource an off-hours policy covers
/// (by its tag or the policy's default schedule), where it stands now and
/// its switches in the next `hours`, in its schedule's own time. Lists
/// and reads tags only; changes nothing. Exit 1 when the policies are
/// invalid or nothing could be listed, 3 when a listing failed.
pub async fn schedule_show(args: ScheduleArgs, clock: &Clock, cancel: CancellationToken) -> ExitCode {
    let policies = match config::load(&args.policies) {
        Ok(set) => set.policies,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(exit::FAILED);
        }
    };
    // Only what the schedules read: listings and their tags, no metrics.
    let scheduled: Vec<config::Policy> = policies
        .iter()
        .filter(|p| p.enabled)
        .filter_map(|p| {
            let off_hours = p.off_hours()?.clone();
            Some(config::Policy { filters: vec![crate::filters::Filter::OffHours(off_hours)], actions: Vec::new(), ..p.clone() })
        })
        .collect();
    if scheduled.is_empty() {
        eprintln!("costguard: no enabled policy has an `off-hours` filter");
        return ExitCode::from(exit::FAILED);
    }
    let aws = Aws::from_env(ApiCallCounter::new()).await;
    let regions = if args.regions.is_empty() { aws.default_region().into_iter().collect() } else { args.regions };
    if regions.is_empty() {
        eprintln!("costguard: {}", sweep::SweepError::NoRegion);
        return ExitCode::from(exit::FAILED);
    }
    let now = clock.now();
    let prices = crate::pricing::PriceBook::new(None, None);
    let progress = Progress::hidden();
    let ctx = crate::engine::inventory::CollectContext { now, price_serving: false, prices: &prices, progress: &progress, cancel: &cancel };
    let inventory = crate::engine::inventory::collect(&aws, &scheduled, &regions, &ctx).await;
    let until = now + chrono::Duration::hours(i64::from(args.hours));
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for policy in &scheduled {
        let Some(off_hours) = policy.off_hours() else { continue };
        for r in inventory.of(policy.resource_type) {
            if !seen.insert((policy.resource_type, r.region.clone(), r.id.clone())) {
                continue;
            }
            if let Some(upcoming) = off_hours.upcoming(r, now, until) {
                lines.push(ScheduleLine {
                    policy: policy.name.clone(),
                    resource_type: policy.resource_type,
                    region: r.region.to_string(),
                    resource_id: r.id.clone(),
                    upcoming,
                });
            }
        }
    }
    match args.format {
        ScheduleFormat::Json => println!("{}", serde_json::json!({ "now": now, "until": until, "resources": lines })),
        ScheduleFormat::Table => print!("{}", schedule_table(&lines, args.hours)),
    }
    for e in &inventory.errors {
        eprintln!("costguard: listing {} in {} failed: {}", e.resource_type, e.region, e.error);
    }
    ExitCode::from(if inventory.errors.is_empty() { exit::OK } else { exit::ERRORS })
}

fn schedule_table(lines: &[ScheduleLine], hours: u32) -> String {
    use crate::text::clean;
    if lines.is_empty() {
        return "No resource carries a schedule (a costguard:schedule or Custodian offhours tag, or a policy's default).\n".to_string();
    }
    let mut out = format!("{:<20} {:<36} {:<14} {:<24} {:<10} next {hours} h (the schedule's time)\n", "type", "resource", "region", "schedule", "now");
    for l in lines {
        let u = &l.upcoming;
        let next: Vec<String> = u.switches.iter().map(|s| format!("{} {}", s.to.as_str(), s.local)).collect();
        let next = match (&u.detail, next.is_empty()) {
            (Some(d), true) => clean(d, 200),
            (Some(d), false) => format!("{}; {}", clean(d, 120), next.join(", ")),
            (None, true) => "no switch".to_string(),
            (None, false) => next.join(", "),
        };
        let now = u.now.as_str();
        out.push_str(&format!(
            "{:<20} {:<36} {:<14} {:<24} {:<10} {next}\n",
            l.resource_type.name(),
            clean(&l.resource_id, 36),
            clean(&l.region, 14),
            clean(u.schedule.as_deref().unwrap_or("-"), 24),
            now
        ));
    }
    out
}

/// What `costguard events drain` reads, as the CLI gives it.
pub struct DrainArgs {
    /// `--queue`: overrides the config's `events.queue`.
    pub queue: Option<String>,
    pub config: Option<PathBuf>,
    /// The state folder (the config's `state-dir` wins).
    pub state_dir: PathBuf,
    pub price_list_api: bool,
    pub json: bool,
}

/// `costguard events drain`: handles what the events queue holds (each
/// CloudTrail event of a creation read, priced, tagged and told once),
/// prints what it did, and exits: 0 when every message was settled, 3 when
/// some failed (left in the queue to come back) or could not be read.
pub async fn events_drain(args: DrainArgs, clock: &Clock, cancel: &CancellationToken) -> ExitCode {
    // With a config: its policies (the `on-create` ones judge creations),
    // email, channels and state folder, checked as the daemon checks them.
    let loaded = match args.config.as_deref().map(crate::sweep::Loaded::load).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let daemon = loaded.as_ref().map(|l| &l.config);
    let settings = match (daemon.and_then(|d| d.events.clone()), &args.queue) {
        (Some(mut s), Some(queue)) => {
            s.queue = queue.clone();
            s
        }
        (Some(s), None) => s,
        (None, Some(queue)) => config::events::EventsSettings::for_queue(queue),
        (None, None) => {
            eprintln!("costguard: no queue: pass --queue URL, or a --config with an `events:` section");
            return ExitCode::from(exit::FAILED);
        }
    };
    let state_dir = daemon.and_then(|d| d.state_dir.clone()).unwrap_or(args.state_dir);
    let aws = Aws::from_env(ApiCallCounter::new()).await;
    let protect_tag = daemon.map_or(config::daemon::DEFAULT_PROTECT_TAG, |d| d.protect_tag.as_str());
    let setup = match crate::events::Setup::open(&state_dir, daemon.and_then(|d| d.email.as_ref()), args.price_list_api.then(|| aws.pricing()), protect_tag) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let dry_run = daemon.is_some_and(|d| d.dry_run || d.approval == config::daemon::Approval::Required);
    let consumer = crate::events::Consumer {
        setup: &setup,
        aws: &aws,
        settings: &settings,
        email: loaded.as_ref().and_then(|l| l.email.as_deref()),
        policies: loaded.as_ref().map_or(&[], |l| l.policies.as_slice()),
        dry_run,
        clock,
        cancel,
    };
    let report = match consumer.drain().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("costguard: events queue {}: {e}", settings.queue);
            return ExitCode::from(exit::FAILED);
        }
    };
    if args.price_list_api {
        if let Err(e) = setup.prices.save() {
            tracing::warn!(error = %e, "price cache not saved");
        }
    }
    match args.json {
        true => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("costguard: {e}"),
        },
        false => print!("{}", drain_text(&report)),
    }
    let clean = report.retried.is_empty() && report.unreadable.is_empty() && report.errors.is_empty();
    ExitCode::from(if clean { exit::OK } else { exit::ERRORS })
}

/// The drain's summary for people.
fn drain_text(r: &crate::events::DrainReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} message(s): {} resource(s) told, {} duplicate(s), {} settled quietly, {} left to retry, {} unreadable",
        r.received,
        r.told.len(),
        r.duplicates.len(),
        r.settled_quietly.len(),
        r.retried.len(),
        r.unreadable.len()
    );
    for t in &r.told {
        let to = if t.to.is_empty() { "nobody".to_string() } else { t.to.join(", ") };
        let _ = writeln!(
            out,
            "  told {to}: {} {} ({}) by {}, {} a month{}",
            t.resource_type,
            crate::text::clean(&t.resource_id, 200),
            t.region,
            t.creator.as_deref().map_or_else(|| "?".to_string(), |c| crate::text::clean(c, 100)),
            crate::text::usd(t.monthly_cost_usd),
            if t.missing_tags.is_empty() { String::new() } else { format!("; missing tags: {}", t.missing_tags.join(", ")) }
        );
    }
    for h in r.retried.iter().chain(&r.unreadable) {
        let _ = writeln!(
            out,
            "  held message {} (event {}, receive {}): back in {} s: {}",
            h.message_id,
            h.event_id.as_deref().unwrap_or("?"),
            h.receive_count,
            h.back_in_secs,
            crate::text::clean(&h.why, 300)
        );
    }
    for e in &r.errors {
        let _ = writeln!(out, "  error: {}", crate::text::clean(e, 500));
    }
    out
}
