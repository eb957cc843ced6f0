//! Rules of the source tree that the compiler cannot check.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a line, without its `//` comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Only `main.rs` reads the system clock; the library is handed a `Clock`,
/// so every test chooses its date and none fails on the last day of a month.
#[test]
fn only_main_reads_the_system_clock() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("src/main.rs")) {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            let code = code(line);
            if ["Utc::now", "Local::now", "SystemTime::now"].iter().any(|call| code.contains(call)) {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "library code reads the system clock; take a `Clock` or a `now` instead:\n{}", offenders.join("\n"));
}

/// Each crate's features as `cargo tree` resolves them, keyed `name vX.Y.Z`.
fn resolved_features(edges: &str) -> std::collections::BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "--prefix", "none", "-f", "{p}|{f}", "-e", edges])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (package, features) = line.split_once('|')?;
            let package = package.split(" (").next()?.trim().to_string();
            Some((package, features.trim_end_matches(" (*)").trim().to_string()))
        })
        .collect()
}

/// `cargo build` (the demo, a release) and `cargo test` compile the AWS SDK
/// once between them only if every crate they share has the same features
/// in both: a dev-dependency that turns on a feature of a shared crate (as
/// aws-smithy-mocks' `test-util` did) makes cargo compile the SDK twice.
#[test]
fn tests_add_crates_but_change_no_shared_crate_features() {
    let build = resolved_features("normal,build");
    let test = resolved_features("normal,build,dev");
    let changed: Vec<String> = build
        .iter()
        .filter_map(|(package, features)| {
            let in_tests = test.get(package)?;
            (in_tests != features).then(|| format!("{package}: build [{features}], test [{in_tests}]"))
        })
        .collect();
    assert!(
        changed.is_empty(),
        "dev-dependencies change features of crates the build shares; name those features in [dependencies] (see getrandom there):\n{}",
        changed.join("\n")
    );
}
