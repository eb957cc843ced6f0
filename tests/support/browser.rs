//! A real headless browser (Debian's chromium, installed by
//! `scripts/setup-test-deps.sh`) loading a report page.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    let path = std::env::var_os("COSTGUARD_TEST_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(path.exists(), "{} is missing: run `scripts/test.sh` (it installs Debian's chromium) or set COSTGUARD_TEST_CHROMIUM", path.display());
    path
}

/// Loads `page` headless; returns (the DOM after scripts ran, console lines).
pub fn render(page: &Path) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().expect("temp dir");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=390,844",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let console = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("CONSOLE")).map(str::to_string).collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}
