//! Crash consistency: real sweeps, plan applies and restores, through the
//! binary, SIGKILLed at random points many times on one state folder,
//! then run to the end. Afterwards every intended change is made, each
//! changing call reached AWS once, nothing that should not change did,
//! the journal passes `PRAGMA integrity_check`, and the savings ledger
//! holds exactly the changes done.
//!
//! A loopback proxy between costguard and the moto server holds every
//! answer back (80 ms) and counts the changing calls, so a kill can land
//! right after a change AWS took and before costguard recorded it.
//!
//! `COSTGUARD_CRASH_KILLS` (default 8 per phase) and `COSTGUARD_CRASH_SEED`
//! choose how many kills and where; the README's crash test runs many.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::slow_proxy::SlowProxy;
use support::Moto;

/// Idle endpoints deleted at once (no grace period), beside the log
/// groups that never expire.
fn crash_policies() -> String {
    format!("{}{}", support::idle_endpoints_at_once(), support::NEVER_EXPIRE.trim_start_matches("policies:\n"))
}

const CHANGES: &[&str] = &["DeleteEndpoint", "PutRetentionPolicy", "CreateEndpoint"];

/// A small deterministic generator (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Setup<'a> {
    moto: &'a Moto,
    proxy: SlowProxy,
    dir: tempfile::TempDir,
}

impl Setup<'_> {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().to_string()
    }

    /// `costguard ARGS` through the proxy, with the test's state folder.
    fn costguard(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_costguard"));
        command
            .args(args)
            .args(["--state-dir", &self.path("state")])
            .envs(self.moto.env())
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    fn sweep(&self, policies: &str) -> Command {
        self.costguard(&["sweep", "--policies", policies, "--report-dir", &self.path("report"), "--region", support::REGION, "--prices", "builtin"])
    }

    /// Runs `command` to its end: (exit code, stderr).
    fn finish(&self, mut command: Command) -> (Option<i32>, String) {
        let out = command.output().expect("run costguard");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    }

    /// Runs `command` and SIGKILLs it where `rng` says: right after the
    /// proxy answered one to three changes (plus up to 150 ms), or at a
    /// time within `window`. Returns whether the kill came first.
    fn kill_at_random(&self, mut command: Command, rng: &mut Rng, window: Duration) -> bool {
        let before = self.proxy.changes_answered();
        let mut child = command.stderr(Stdio::null()).spawn().expect("start costguard");
        let started = Instant::now();
        let after_changes = rng.below(2) == 0;
        let changes = 1 + rng.below(3) as usize;
        let extra = Duration::from_millis(rng.below(150));
        let at = Duration::from_millis(50 + rng.below(window.as_millis() as u64));
        loop {
            if child.try_wait().expect("wait").is_some() {
                return false;
            }
            let due = if after_changes { self.proxy.changes_answered() >= before + changes } else { started.elapsed() >= at };
            if due {
                if after_changes {
                    std::thread::sleep(extra);
                }
                let _ = child.kill();
                let _ = child.wait();
                return true;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "costguard ran for 3 minutes");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn journal(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("state/journal.sqlite")).expect("open the journal")
    }

    fn number(&self, sql: &str) -> i64 {
        self.journal().query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The journal is whole, nothing is left open, and the ledger is
    /// exactly the done changes that had a saving, each once.
    fn check_journal_and_ledger(&self, seed: u64) {
        let integrity: String = self.journal().query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity check");
        assert_eq!(integrity, "ok", "seed {seed}");
        assert_eq!(self.number("SELECT COUNT(*) FROM actions WHERE state IN ('intent', 'incomplete')"), 0, "nothing left open (seed {seed})");
        let with_saving = self.number("SELECT COUNT(*) FROM actions WHERE state = 'done' AND saving_usd > 0");
        let ledger = self.number("SELECT COUNT(*) FROM savings");
        let joined = self.number("SELECT COUNT(*) FROM savings s JOIN actions a ON a.id = s.action_id AND a.state = 'done'");
        assert_eq!((ledger, joined), (with_saving, with_saving), "the ledger equals the done changes (seed {seed})");
        assert_eq!(self.number("SELECT COUNT(*) - COUNT(DISTINCT action_id) FROM savings"), 0, "none counted twice (seed {seed})");
    }

    /// Each change's call reached AWS exactly once, and none of the others did.
    fn check_calls(&self, operation: &str, once: &[String], never: &[&str], seed: u64) {
        for name in once {
            assert_eq!(self.proxy.count(operation, name), 1, "{operation} {name}: once (seed {seed})");
        }
        for name in never {
            assert_eq!(self.proxy.count(operation, name), 0, "{operation} {name}: never (seed {seed})");
        }
    }

    /// One done action per resource named.
    fn check_done_once(&self, action: &str, names: &[String], seed: u64) {
        let db = self.journal();
        for name in names {
            let done: i64 = db
                .query_row("SELECT COUNT(*) FROM actions WHERE action = ?1 AND resource_id = ?2 AND state = 'done'", [action, name], |r| r.get(0))
                .expect("count");
            assert_eq!(done, 1, "{action} {name} journaled done once (seed {seed})");
        }
    }
}

async fn seed_fleet(moto: &Moto, prefix: &str, idle: usize, groups: usize) -> (Vec<String>, Vec<String>) {
    let endpoints: Vec<String> = (1..=idle).map(|i| format!("{prefix}idle-{i}")).collect();
    for name in &endpoints {
        support::seed_endpoint(moto, name, &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    }
    let names: Vec<String> = (1..=groups).map(|i| format!("/crash/{prefix}g{i}")).collect();
    let seeded: Vec<support::SeedGroup<'_>> = names.iter().map(|n| (n.as_str(), None, &[][..])).collect();
    support::seed_log_groups(moto, &seeded).await;
    (endpoints, names)
}

/// What must never change, whatever the kills: a busy endpoint, a
/// protected one, a protected group and a group with its own retention.
async fn seed_bystanders(moto: &Moto) {
    support::seed_endpoint(moto, "busy", &[("AllTraffic", "ml.m5.large", 1)], &[], 30.0).await;
    support::put_invocations(moto, "busy", "AllTraffic", 42.0, 5).await;
    support::seed_endpoint(moto, "kept", &[("AllTraffic", "ml.m5.large", 1)], &[("costguard:protect", "yes")], 30.0).await;
    support::seed_log_groups(moto, &[("/crash/protected", None, &[("costguard:protect", "yes")]), ("/crash/week", Some(7), &[])]).await;
}

async fn retention(moto: &Moto, name: &str) -> Option<i32> {
    let found = moto.logs().await.describe_log_groups().log_group_name_prefix(name).send().await.expect("describe log groups");
    found.log_groups().iter().find(|g| g.log_group_name() == Some(name)).and_then(|g| g.retention_in_days())
}

const NEVER: &[&str] = &["busy", "kept", "/crash/protected", "/crash/week"];

#[tokio::test]
async fn sweeps_and_restores_killed_at_random_lose_no_change_and_no_saving_and_repeat_none() {
    let moto = support::moto().await;
    let seed = env_number("COSTGUARD_CRASH_SEED", 20_261_203);
    let kills = env_number("COSTGUARD_CRASH_KILLS", 8);
    let mut rng = Rng(seed);
    let (idle, groups) = seed_fleet(&moto, "", 5, 12).await;
    seed_bystanders(&moto).await;
    let setup = Setup { moto: &moto, proxy: SlowProxy::start(&moto.endpoint, Duration::from_millis(80), CHANGES), dir: tempfile::tempdir().expect("dir") };
    let policies = setup.path("policies.yaml");
    std::fs::write(&policies, crash_policies()).expect("write policies");

    let mut killed = 0;
    for _ in 0..kills {
        killed += usize::from(setup.kill_at_random(setup.sweep(&policies), &mut rng, Duration::from_millis(4000)));
    }
    assert!(killed > 0, "at least one sweep was killed part way (seed {seed})");
    let (code, stderr) = setup.finish(setup.sweep(&policies));
    assert_eq!(code, Some(0), "the run after the kills finishes the work (seed {seed}): {stderr}");
    let (code, stderr) = setup.finish(setup.sweep(&policies));
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(setup.dir.path().join("report/report.json")).expect("report")).expect("JSON");
    let totals = &report["totals"];
    assert_eq!((&totals["done"], &totals["planned"], &totals["failed"]), (&0.into(), &0.into(), &0.into()), "nothing left to do (seed {seed}): {totals}");

    assert_eq!(support::endpoint_names(&moto).await, ["busy", "kept"], "every idle endpoint deleted, the others kept (seed {seed})");
    for g in &groups {
        assert_eq!(retention(&moto, g).await, Some(30), "{g} (seed {seed})");
    }
    assert_eq!(retention(&moto, "/crash/protected").await, None);
    assert_eq!(retention(&moto, "/crash/week").await, Some(7));
    setup.check_calls("DeleteEndpoint", &idle, NEVER, seed);
    setup.check_calls("PutRetentionPolicy", &groups, NEVER, seed);
    setup.check_done_once("delete", &idle, seed);
    setup.check_done_once("set-retention", &groups, seed);
    setup.check_journal_and_ledger(seed);
    assert_eq!(setup.number("SELECT COUNT(*) FROM savings WHERE resource_type = 'sagemaker-endpoint' AND state = 'saved'"), 5, "seed {seed}");
    let out = setup.costguard(&["savings", "--format", "json"]).stdout(Stdio::piped()).output().expect("savings");
    let ledger: serde_json::Value = serde_json::from_slice(&out.stdout).expect("savings JSON");
    assert_eq!(ledger["total"]["changes"], 5, "`costguard savings` counts each deletion once (seed {seed})");

    // Restores, killed too: one finished by the next sweep, one by running it again.
    let (first, second) = (&idle[0], &idle[1]);
    for _ in 0..2 {
        setup.kill_at_random(setup.costguard(&["restore", "sagemaker-endpoint", second]), &mut rng, Duration::from_millis(500));
    }
    // Killed once the re-creation was answered: the restore is journaled but maybe not settled.
    let before = setup.proxy.changes_answered();
    let mut child = setup.costguard(&["restore", "sagemaker-endpoint", first]).stderr(Stdio::null()).spawn().expect("restore");
    let started = Instant::now();
    while setup.proxy.changes_answered() == before && child.try_wait().expect("wait").is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "the restore made no call");
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The next sweep (log groups only: the idle endpoints would be deleted again) finishes it.
    let groups_only = setup.path("groups.yaml");
    std::fs::write(&groups_only, support::NEVER_EXPIRE).expect("write");
    let (code, stderr) = setup.finish(setup.sweep(&groups_only));
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = setup.finish(setup.costguard(&["restore", "sagemaker-endpoint", second]));
    assert!(code == Some(0) || stderr.contains("already exists"), "{code:?} {stderr}");

    let listed = support::endpoint_names(&moto).await;
    for name in [first, second] {
        assert!(listed.contains(name), "{name} restored (seed {seed}): {listed:?}");
        assert_eq!(setup.proxy.count("CreateEndpoint", name), 1, "{name} re-created once (seed {seed})");
    }
    setup.check_journal_and_ledger(seed);
    assert_eq!(setup.number("SELECT COUNT(*) FROM savings WHERE state = 'restored'"), 2, "both restores took their saving back (seed {seed})");
    assert_eq!(setup.number("SELECT COUNT(*) FROM actions WHERE action = 'restore' AND state = 'done'"), 2, "seed {seed}");
}

#[tokio::test]
async fn a_reviewed_plan_applied_with_kills_makes_each_change_once_and_counts_each_saving_once() {
    let moto = support::moto().await;
    let seed = env_number("COSTGUARD_CRASH_SEED", 20_261_203) ^ 0x5eed;
    let kills = env_number("COSTGUARD_CRASH_KILLS", 8);
    let mut rng = Rng(seed);
    let (idle, groups) = seed_fleet(&moto, "p", 4, 8).await;
    seed_bystanders(&moto).await;
    let setup = Setup { moto: &moto, proxy: SlowProxy::start(&moto.endpoint, Duration::from_millis(80), CHANGES), dir: tempfile::tempdir().expect("dir") };
    let policies = setup.path("policies.yaml");
    std::fs::write(&policies, crash_policies()).expect("write policies");
    let plan = setup.path("plan.json");
    let mut dry = setup.sweep(&policies);
    dry.args(["--dry-run", "--save-plan", &plan]);
    let (code, stderr) = setup.finish(dry);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(Path::new(&plan).exists());

    let apply = || setup.costguard(&["apply", &plan, "--policies", &policies, "--report-dir", &setup.path("report"), "--region", support::REGION]);
    let mut killed = 0;
    for _ in 0..kills {
        killed += usize::from(setup.kill_at_random(apply(), &mut rng, Duration::from_millis(3000)));
    }
    assert!(killed > 0, "seed {seed}");
    let (code, stderr) = setup.finish(apply());
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = setup.finish(setup.sweep(&policies));
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(setup.dir.path().join("report/report.json")).expect("report")).expect("JSON");
    let totals = &report["totals"];
    assert_eq!((&totals["done"], &totals["planned"], &totals["failed"]), (&0.into(), &0.into(), &0.into()), "nothing left to do (seed {seed}): {totals}");

    assert_eq!(support::endpoint_names(&moto).await, ["busy", "kept"], "seed {seed}");
    setup.check_calls("DeleteEndpoint", &idle, NEVER, seed);
    setup.check_calls("PutRetentionPolicy", &groups, NEVER, seed);
    setup.check_done_once("delete", &idle, seed);
    setup.check_done_once("set-retention", &groups, seed);
    setup.check_journal_and_ledger(seed);
    assert_eq!(setup.number("SELECT COUNT(*) FROM savings WHERE state = 'saved'"), 4, "seed {seed}");
}
