//! Everything costguard writes is private whatever the umask, and nothing
//! is written through a symlink: a real `costguard sweep` (the release
//! binary under test) against the moto server, started with umask 022 as
//! a shared host's default would have it.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn sweep(moto: &support::Moto, state: &Path, reports: &Path, extra: &[&str]) -> std::process::Output {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/log-groups.yaml");
    let mut args: Vec<String> = ["sweep", "--dry-run", "--skip-guardrails", "--prices", "builtin", "--policies"].iter().map(|s| s.to_string()).collect();
    args.push(policies.display().to_string());
    args.extend(["--state-dir".to_string(), state.display().to_string(), "--report-dir".to_string(), reports.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    // umask 022: what most hosts give a service by default.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("umask 022 && exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_costguard")).args(&args).env("COSTGUARD_LOG", "warn");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.output().expect("run costguard")
}

#[tokio::test]
async fn reports_plans_and_the_journal_are_private_under_umask_022() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/a", None, &[]), ("/app/b", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, reports) = (dir.path().join("state"), dir.path().join("out/reports"));
    let plan = dir.path().join("plans/plan.json");
    let out = sweep(&moto, &state, &reports, &["--save-plan", &plan.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["report.json", "report.md", "report.html"] {
        assert_eq!(mode(&reports.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&plan), 0o600, "the saved plan");
    assert_eq!((mode(&reports), mode(&dir.path().join("out")), mode(plan.parent().expect("folder"))), (0o700, 0o700, 0o700), "the folders it made");
    assert_eq!(mode(&state), 0o700);
    let private: Vec<_> = std::fs::read_dir(&state).expect("state folder").filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    assert!(!private.is_empty(), "the journal and the lock are there");
    for path in private {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[tokio::test]
async fn a_symlink_planted_at_a_report_is_refused_and_its_target_untouched() {
    let moto = support::moto().await;
    support::seed_log_groups(&moto, &[("/app/a", None, &[])]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, reports) = (dir.path().join("state"), dir.path().join("reports"));
    std::fs::create_dir_all(&reports).expect("folder");
    let victim = dir.path().join("someone-elses-file");
    std::fs::write(&victim, "precious").expect("write");
    std::os::unix::fs::symlink(&victim, reports.join("report.md")).expect("plant");
    let out = sweep(&moto, &state, &reports, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("symbolic link"), "refused with the reason: {stderr}");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
}
