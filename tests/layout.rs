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
