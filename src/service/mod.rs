//! `costguard run`: the daemon. Sweeps on cron schedules, an HTTP listener
//! for health, metrics and the latest report, reload on SIGHUP or a changed
//! file, and one place that owns shutdown.
//!
//! - [`metrics`]: typed events feeding both the log and `/metrics`.
//! - [`http`]: the listener.
//!
//! # Guarantees
//! - Sweeps run one at a time, so two sweeps of the same policy never
//!   overlap; a schedule that fires while a sweep runs is remembered once
//!   and runs after it (a long sweep delays the next, never piles up).
//! - SIGTERM or SIGINT: no new sweep starts; a sweep that is applying
//!   finishes the resource it is changing (journaled), skips the rest,
//!   writes its report; the process exits 0. A second signal exits at once.
//! - An invalid config or policy change is rejected with its error in the
//!   log and `costguard_config_reloads_total{outcome="failed"}`; the last
//!   good version keeps running.

pub mod http;
pub mod metrics;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::aws::{ApiCallCounter, Aws};
use crate::clock::Clock;
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::sweep::loaded::Source;
use crate::sweep::{self, loaded::stamps, loaded::watched, Loaded, Swept};
use metrics::Metrics;

/// How long a stopping daemon waits for the sweep in flight.
const STOP_GRACE: Duration = Duration::from_secs(120);
/// How often the config and policy files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What the HTTP handlers read.
pub struct Shared {
    pub metrics: Metrics,
    health: Mutex<Health>,
    /// The config in force (replaced by a good reload).
    loaded: Current,
    clock: Clock,
}

#[derive(Default)]
struct Health {
    /// Why the last sweep failed; `None` when it did not (or none ran yet).
    last_sweep: Option<String>,
    /// Why AWS could not be reached at start; cleared by a good sweep.
    aws: Option<String>,
    /// The sweep in flight: when it started, and its time limit.
    running: Option<(std::time::Instant, Duration)>,
}

/// A sweep past its limit stops as on SIGTERM; the change under way may
/// still take its AWS calls' time. Past that too, something is wrong.
const STOP_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

impl Shared {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn not_ready(&self) -> Option<String> {
        let h = self.health();
        let overdue = h.running.filter(|(started, limit)| started.elapsed() > *limit + STOP_ALLOWANCE).map(|(started, limit)| {
            format!(
                "the sweep in flight has run {} min, past its time limit of {} min and {} min to stop",
                started.elapsed().as_secs() / 60,
                limit.as_secs() / 60,
                STOP_ALLOWANCE.as_secs() / 60
            )
        });
        overdue.or_else(|| h.last_sweep.clone()).or_else(|| h.aws.clone())
    }

    /// The token `/report` and `/metrics` require, if one is set.
    pub fn http_token(&self) -> Option<String> {
        current(&self.loaded).http_token.clone()
    }

    pub fn report_dir(&self) -> PathBuf {
        current(&self.loaded).report_dir()
    }
}

/// What the worker runs when a schedule fires.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DaemonJob {
    /// The policies of this cron schedule (the guardrails with the default one).
    Sweep(String),
    /// The spend-velocity check on its own schedule.
    SpendVelocity,
}

/// Jobs whose schedule fired, waiting for the worker, each at most once
/// (sweeps first).
#[derive(Default)]
struct Queue {
    pending: Mutex<BTreeSet<DaemonJob>>,
    wake: Notify,
}

impl Queue {
    fn push(&self, job: DaemonJob) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(job);
        self.wake.notify_one();
    }

    fn pop(&self) -> Option<DaemonJob> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).pop_first()
    }
}

type Current = Arc<Mutex<Arc<Loaded>>>;

fn current(c: &Current) -> Arc<Loaded> {
    c.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Plans kept in the state folder's `plans`; older ones are removed (a
/// plan is refused after a day anyway).
const PLANS_KEPT: usize = 50;

/// One sweep of a schedule's policies (all of them when `None`), as the
/// CLI's `run --once` does it, its old plans pruned first.
async fn sweep(loaded: &Loaded, schedule: Option<&str>, clock: &Clock, cancel: &CancellationToken) -> Result<Swept, sweep::SweepError> {
    let request = loaded.request(schedule, clock.now());
    if let Some(dir) = request.options.paths.save_plan.as_deref().and_then(std::path::Path::parent) {
        prune_plans(dir, PLANS_KEPT);
    }
    sweep::execute(request, clock, &Progress::hidden(), cancel).await
}

/// Keeps the newest `keep - 1` plans (names sort by time), making room for one more.
fn prune_plans(dir: &std::path::Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut plans: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("plan-") && n.ends_with(".json")))
        .collect();
    plans.sort();
    let excess = plans.len().saturating_sub(keep.saturating_sub(1));
    for old in plans.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(plan = %old.display(), error = %e, "could not remove an old plan");
        }
    }
}

/// A scheduled sweep, its outcome recorded in metrics and readiness.
async fn sweep_scheduled(loaded: &Loaded, schedule: &str, shared: &Shared, cancel: &CancellationToken) {
    let started = std::time::Instant::now();
    shared.health().running = Some((started, loaded.config.time_limits.sweep));
    let result = sweep(loaded, Some(schedule), &shared.clock, cancel).await;
    shared.health().running = None;
    match result {
        Ok(Swept::Organization(result)) => {
            shared.metrics.organization_finished(schedule, &result.report, started.elapsed().as_secs_f64());
            let failed: Vec<String> =
                result.report.accounts.iter().filter_map(|a| a.error.as_ref().map(|e| format!("account {} ({}): {e}", a.account_id, a.name))).collect();
            let mut health = shared.health();
            health.last_sweep =
                failed.first().map(|f| format!("the last sweep could not sweep {} of {} accounts, e.g. {f}", failed.len(), result.report.accounts.len()));
            if failed.is_empty() {
                health.aws = None;
            }
        }
        Ok(Swept::Account(result)) => {
            shared.metrics.sweep_finished(schedule, &result.report, started.elapsed().as_secs_f64());
            let listing_errors: Vec<&str> =
                result.report.errors.iter().filter(|e| e.kind == crate::report::ErrorKind::Listing).map(|e| e.message.as_str()).collect();
            let mut health = shared.health();
            health.last_sweep = (!listing_errors.is_empty()).then(|| format!("the last sweep could not list everything: {}", listing_errors[0]));
            if listing_errors.is_empty() {
                health.aws = None;
            }
        }
        Err(e) => {
            shared.metrics.sweep_failed(schedule, &e.to_string());
            shared.health().last_sweep = Some(format!("the last sweep failed: {e}"));
        }
    }
}

/// The spend-velocity check's name in the metrics' `schedule` label.
const AI_SPEND_JOB: &str = "spend-velocity";

/// The spend-velocity check alone: metrics and `ai-spend.json`.
async fn ai_spend_scheduled(loaded: &Loaded, shared: &Shared, cancel: &CancellationToken) {
    let options = loaded.request(Some(loaded.config.schedule.as_str()), shared.clock.now()).options;
    let aws = Aws::from_env(ApiCallCounter::new()).await.with_limits(options.limits.aws);
    match sweep::ai_spend_only(&aws, &options, &shared.clock, cancel).await {
        Ok(checked) => match &checked.spend {
            Ok(spend) => shared.metrics.ai_spend(spend),
            Err(e) => shared.metrics.sweep_failed(AI_SPEND_JOB, e),
        },
        Err(e) => shared.metrics.sweep_failed(AI_SPEND_JOB, &e.to_string()),
    }
}

/// The longest pause after the events queue failed (doubling from 5 s).
const EVENTS_MAX_PAUSE: Duration = Duration::from_secs(300);

/// `events:`: the queue read as events arrive, one long poll at a time,
/// each turn with the config as it is then (a reload takes effect at the
/// next turn), beside the scheduled sweeps, until `cancel` fires.
async fn events_listener(shared: Arc<Shared>, cancel: CancellationToken) {
    let aws = Aws::from_env(ApiCallCounter::new()).await;
    let mut pause = Duration::from_secs(5);
    while !cancel.is_cancelled() {
        let loaded = current(&shared.loaded);
        let Some(settings) = loaded.config.events.clone() else {
            // No queue in this config; a reload may bring one.
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(WATCH_EVERY * 15) => continue,
            }
        };
        // A handle per turn: its calls counted per turn, its caches (an
        // endpoint config read once) no older than the turn.
        let turn = Aws::from_config(aws.sdk_config().clone(), ApiCallCounter::new()).with_limits(loaded.config.time_limits.aws);
        match events_turn(&turn, &loaded, &settings, &shared.clock, &cancel).await {
            Ok(report) => {
                pause = Duration::from_secs(5);
                shared.metrics.events(&report);
            }
            Err(e) => {
                tracing::error!(queue = %settings.queue, error = %e, pause_secs = pause.as_secs(), "events queue failed; trying again");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(EVENTS_MAX_PAUSE);
            }
        }
    }
}

/// Why a turn of the events queue could not run.
#[derive(Debug, thiserror::Error)]
enum TurnError {
    #[error(transparent)]
    Setup(#[from] crate::events::SetupError),
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
}

async fn events_turn(
    aws: &Aws,
    loaded: &Loaded,
    settings: &crate::config::events::EventsSettings,
    clock: &Clock,
    cancel: &CancellationToken,
) -> Result<crate::events::DrainReport, TurnError> {
    let config = &loaded.config;
    let api = config.prices == crate::config::daemon::PriceSource::Api;
    let setup = crate::events::Setup::open(&loaded.state_dir(), config.email.as_ref(), api.then(|| aws.pricing()), &config.protect_tag)?;
    let dry_run = config.dry_run || config.approval == crate::config::daemon::Approval::Required;
    let consumer = crate::events::Consumer { setup: &setup, aws, settings, email: loaded.email.as_deref(), policies: &loaded.policies, dry_run, clock, cancel };
    Ok(consumer.listen_once().await?)
}

/// Runs queued schedules one at a time until `cancel` fires.
async fn worker(queue: Arc<Queue>, shared: Arc<Shared>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = queue.wake.notified() => {}
            _ = cancel.cancelled() => return,
        }
        while let Some(job) = queue.pop() {
            if cancel.is_cancelled() {
                return;
            }
            let loaded = current(&shared.loaded);
            // A schedule removed by a reload since it fired: nothing to run.
            match job {
                DaemonJob::SpendVelocity if loaded.ai_spend_schedule().is_some() => ai_spend_scheduled(&loaded, &shared, &cancel).await,
                DaemonJob::Sweep(schedule) if loaded.schedules().contains(&schedule) => sweep_scheduled(&loaded, &schedule, &shared, &cancel).await,
                DaemonJob::SpendVelocity | DaemonJob::Sweep(_) => {}
            }
        }
    }
}

async fn start_scheduler(loaded: &Loaded, queue: &Arc<Queue>) -> Result<JobScheduler, String> {
    let scheduler = JobScheduler::new().await.map_err(|e| format!("cannot start the scheduler: {e}"))?;
    for schedule in loaded.schedules() {
        let queue = queue.clone();
        let name = schedule.clone();
        let job = Job::new_async(schedule.as_str(), move |_, _| {
            let queue = queue.clone();
            let name = name.clone();
            Box::pin(async move { queue.push(DaemonJob::Sweep(name)) })
        })
        .map_err(|e| format!("schedule {schedule}: {e}"))?;
        scheduler.add(job).await.map_err(|e| format!("schedule {schedule}: {e}"))?;
    }
    if let Some(schedule) = loaded.ai_spend_schedule() {
        let queue = queue.clone();
        let job = Job::new_async(schedule, move |_, _| {
            let queue = queue.clone();
            Box::pin(async move { queue.push(DaemonJob::SpendVelocity) })
        })
        .map_err(|e| format!("spend-velocity schedule {schedule}: {e}"))?;
        scheduler.add(job).await.map_err(|e| format!("spend-velocity schedule {schedule}: {e}"))?;
    }
    scheduler.start().await.map_err(|e| format!("cannot start the scheduler: {e}"))?;
    Ok(scheduler)
}

/// The config loaded and the listener open (its address printed, the
/// first line a supervisor or test reads), or why not.
fn load_and_listen(source: &Source) -> Result<(Arc<Loaded>, tokio::net::TcpListener), ExitCode> {
    let failed = || ExitCode::from(crate::outcome::exit::FAILED);
    let loaded = source.load().map(Arc::new).map_err(|e| {
        eprintln!("{e}\ncostguard: invalid config; not started");
        failed()
    })?;
    let listener = http::listen(loaded.config.listen).map_err(|e| {
        eprintln!("costguard: cannot listen on {}: {e}", loaded.config.listen);
        failed()
    })?;
    println!("listening on http://{}", listener.local_addr().map_or_else(|_| loaded.config.listen.to_string(), |a| a.to_string()));
    Ok((loaded, listener))
}

/// How `costguard soak` compresses time.
#[derive(Clone, Copy, Debug)]
pub struct Simulation {
    /// Simulated steps; each runs the spend-velocity check (if declared).
    pub ticks: u64,
    /// Simulated time between steps (the velocity check's period).
    pub tick: chrono::Duration,
    /// A scheduled sweep every this many steps.
    pub sweep_every: u64,
}

/// `costguard soak` (the soak benchmark's driver): the daemon's listener,
/// sweeps and spend-velocity checks, exactly as scheduled ones run, back to
/// back on a simulated clock that moves `tick` per step, so that a year of
/// a daemon's life passes in minutes while its memory, descriptors,
/// threads and state database are watched from outside. Prints the
/// listener's address, then one line per step.
pub async fn soak(config_file: &Path, start: chrono::DateTime<chrono::Utc>, sim: Simulation, cancel: CancellationToken) -> ExitCode {
    use std::sync::atomic::{AtomicI64, Ordering};
    let (loaded, listener) = match load_and_listen(&Source::file(config_file)) {
        Ok(started) => started,
        Err(code) => return code,
    };
    let elapsed = Arc::new(AtomicI64::new(0));
    let seen = elapsed.clone();
    let clock = Clock::from_fn(move || start + chrono::Duration::seconds(seen.load(Ordering::Relaxed)));
    let shared = Arc::new(Shared { metrics: Metrics::new(), health: Mutex::default(), loaded: Arc::new(Mutex::new(loaded.clone())), clock });
    let server = tokio::spawn(http::serve(listener, shared.clone(), cancel.clone()));
    let schedule = loaded.config.schedule.clone();
    for step in 0..sim.ticks {
        if cancel.is_cancelled() {
            break;
        }
        elapsed.store(sim.tick.num_seconds().saturating_mul(step as i64), Ordering::Relaxed);
        let swept = step % sim.sweep_every.max(1) == 0;
        if swept {
            sweep_scheduled(&loaded, &schedule, &shared, &cancel).await;
        }
        if loaded.ai_spend_schedule().is_some() {
            ai_spend_scheduled(&loaded, &shared, &cancel).await;
        }
        println!("{}", serde_json::json!({ "step": step, "simulated": crate::text::utc(shared.clock.now()), "swept": swept }));
    }
    cancel.cancel();
    let _ = server.await;
    ExitCode::from(crate::outcome::exit::OK)
}

/// How long the start-up check of AWS may take before the daemon starts
/// anyway (not ready, saying why).
const START_CHECK: Duration = Duration::from_secs(20);

/// `costguard run`: the daemon, until `shutdown` begins (SIGTERM or SIGINT;
/// main's listener exits at once on a second signal).
pub async fn run(source: Source, clock: Clock, shutdown: Shutdown) -> ExitCode {
    let config_file = source.file.clone();
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        eprintln!("costguard: cannot install the SIGHUP handler");
        return ExitCode::from(crate::outcome::exit::FAILED);
    };
    let (loaded, listener) = match load_and_listen(&source) {
        Ok(started) => started,
        Err(code) => return code,
    };
    if !loaded.config.listen.ip().is_loopback() && loaded.http_token.is_none() {
        tracing::warn!(listen = %loaded.config.listen, "listening beyond loopback without http-token-file: /report and /metrics are open to whoever reaches the port");
    }

    let shared = Arc::new(Shared { metrics: Metrics::new(), health: Mutex::default(), loaded: Arc::new(Mutex::new(loaded.clone())), clock });
    let cancel = shutdown.token().clone();
    let server = shutdown.tracker().spawn(http::serve(listener, shared.clone(), cancel.clone()));
    // Can AWS be reached with these credentials? Readiness says so until a
    // sweep does. A check that hangs neither holds start-up nor a stop.
    shared.health().aws = Some("AWS has not been checked yet".to_string());
    let checked = tokio::select! {
        r = tokio::time::timeout(START_CHECK, async { Aws::from_env(ApiCallCounter::new()).await.with_limits(loaded.config.time_limits.aws).check_access().await }) => r,
        _ = cancel.cancelled() => return ExitCode::from(crate::outcome::exit::OK),
    };
    shared.health().aws = match checked {
        Ok(Ok(_)) => None,
        Ok(Err(why)) => Some(format!("AWS is not reachable: {why}")),
        Err(_) => Some(format!("AWS did not answer the access check within {} s", START_CHECK.as_secs())),
    };
    if let Some(why) = &shared.health().aws {
        tracing::warn!("{why}");
    }

    let queue = Arc::new(Queue::default());
    let current_config = shared.loaded.clone();
    let worker = shutdown.tracker().spawn(worker(queue.clone(), shared.clone(), cancel.clone()));
    let events = shutdown.tracker().spawn(events_listener(shared.clone(), cancel.clone()));
    let mut scheduler = match start_scheduler(&loaded, &queue).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("costguard: {e}");
            return ExitCode::from(crate::outcome::exit::FAILED);
        }
    };
    tracing::info!(schedules = ?loaded.schedules(), policies = loaded.policies.len(), dry_run = loaded.config.dry_run, "costguard running");

    // A rejected version is not tried again until its files change again.
    let mut rejected: Option<Vec<(PathBuf, Option<SystemTime>)>> = None;
    let mut watch = tokio::time::interval(WATCH_EVERY);
    loop {
        let reload = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = hup.recv() => true,
            _ = watch.tick() => {
                let active = current(&current_config);
                let now = stamps(&watched(&config_file, &active.config));
                now != active.stamps && rejected.as_ref() != Some(&now)
            }
        };
        if !reload {
            continue;
        }
        match source.load() {
            Ok(new) => {
                if new.config.listen != current(&current_config).config.listen {
                    tracing::warn!("a new `listen` address takes effect at the next start");
                }
                let new = Arc::new(new);
                *current_config.lock().unwrap_or_else(PoisonError::into_inner) = new.clone();
                rejected = None;
                let _ = scheduler.shutdown().await;
                match start_scheduler(&new, &queue).await {
                    Ok(s) => scheduler = s,
                    Err(e) => tracing::error!(error = %e, "the new schedules could not be started"),
                }
                shared.metrics.reloaded(true, &format!("{} policies, schedules {:?}", new.policies.len(), new.schedules()));
            }
            Err(e) => {
                rejected = Some(stamps(&watched(&config_file, &current(&current_config).config)));
                shared.metrics.reloaded(false, &e.to_string());
            }
        }
    }

    tracing::info!("stopping: no new sweeps; waiting for the one in flight");
    let _ = scheduler.shutdown().await;
    shutdown.begin();
    drop((worker, server, events));
    // A second signal exits at once (main's listener); else at most STOP_GRACE.
    let finished = shutdown.wait(STOP_GRACE).await;
    if finished {
        tracing::info!("stopped");
        ExitCode::from(crate::outcome::exit::OK)
    } else {
        ExitCode::from(crate::outcome::exit::FAILED)
    }
}
