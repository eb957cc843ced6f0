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

/// The layers of `src/lib.rs`'s module map, lowest first: a module may
/// import only from layers below its own (the leaves import nothing).
const LAYERS: &[&[&str]] = &[
    &["clock", "files", "outcome", "progress", "schedule", "shutdown", "small_map", "text", "yaml"],
    &["state_lock"],
    &["aws"],
    &["pricing"],
    &["resources"],
    &["filters"],
    &["actions"],
    &["config"],
    &["engine"],
    &["guardrails"],
    &["notify"],
    &["report"],
    &["iam"],
    &["sweep"],
    &["events"],
    // The one-shot CLI and the daemon side by side: neither imports the
    // other; both build a sweep `Request` and call `sweep::execute`.
    &["service", "commands"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Layers import only downward: no circle, report and notify apart, the
/// YAML reader and the outcome types leaves.
#[test]
fn layers_import_only_downward() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("src/main.rs") && !f.ends_with("src/lib.rs")) {
        let relative = file.strip_prefix(src()).expect("under src");
        let module = relative.components().next().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string()).unwrap_or_default();
        let Some(own) = layer(&module) else {
            problems.push(format!("{}: module `{module}` is not in the layer map (tests/layout.rs and src/lib.rs)", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            let code = code(line);
            for (at, _) in code.match_indices("crate::") {
                let used: String = code[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used == module || used.is_empty() {
                    continue;
                }
                match layer(&used) {
                    Some(l) if l < own => {}
                    _ => problems.push(format!("{}:{}: `{module}` imports `{used}`, which is not below it", file.display(), n + 1)),
                }
            }
        }
    }
    assert!(problems.is_empty(), "imports against the layer map:\n{}", problems.join("\n"));
}

/// The sibling modules of a folder that `text` (one of its files) refers
/// to: `super::NAME`, `super::{NAME, ...}` and `crate::FOLDER::NAME`.
fn sibling_uses(text: &str, folder: &str, siblings: &[String]) -> Vec<String> {
    let mut used = Vec::new();
    let by_crate = format!("crate::{}::", folder.replace('/', "::"));
    for line in text.lines().map(code) {
        for prefix in ["super::", by_crate.as_str()] {
            for (at, _) in line.match_indices(prefix) {
                // `super::super::` and the like reach outside the folder.
                if prefix == "super::" && at >= 7 && line[..at].ends_with("super::") {
                    continue;
                }
                let rest = &line[at + prefix.len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").split(',').map(|n| n.trim().split("::").next().unwrap_or("")).collect(),
                    None => vec![rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("")],
                };
                used.extend(names.into_iter().filter(|n| siblings.iter().any(|s| s == n)).map(str::to_string));
            }
        }
    }
    used.sort();
    used.dedup();
    used
}

/// Within each folder, its files (and subfolders) import each other
/// without a circle: `mod.rs` (the folder's own module, which declares
/// them) aside, there is an order in which each uses only earlier ones.
#[test]
fn no_import_circle_among_the_files_of_a_folder() {
    let mut folders = vec![src()];
    let mut problems = Vec::new();
    while let Some(dir) = folders.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir).expect("read a folder").map(|e| e.expect("an entry").path()).collect();
        entries.sort();
        folders.extend(entries.iter().filter(|p| p.is_dir()).cloned());
        let folder = dir.strip_prefix(src()).expect("under src").to_string_lossy().to_string();
        let name = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let members: Vec<&PathBuf> = entries
            .iter()
            .filter(|p| (p.is_dir() || p.extension().is_some_and(|e| e == "rs")) && !p.ends_with("mod.rs") && !p.ends_with("lib.rs") && !p.ends_with("main.rs"))
            .collect();
        let siblings: Vec<String> = members.iter().map(|p| name(p)).collect();
        let mut edges: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for member in &members {
            let mut files = Vec::new();
            if member.is_dir() {
                rust_files(member, &mut files);
            } else {
                files.push((*member).clone());
            }
            let own = name(member);
            let mut used: Vec<String> = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file).expect("read a source file");
                // Only a member's own top-level file speaks of its siblings as `super::`.
                let nested = file != *member && !file.ends_with(format!("{own}/mod.rs"));
                let uses = if nested && folder.is_empty() {
                    Vec::new()
                } else if nested {
                    sibling_uses(&text.replace("super::super::", "super::"), &folder, &siblings)
                } else {
                    sibling_uses(&text, &folder, &siblings)
                };
                used.extend(uses.into_iter().filter(|u| *u != own));
            }
            used.sort();
            used.dedup();
            edges.insert(own, used);
        }
        // A circle: a path that comes back to where it started.
        for start in edges.keys() {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            while let Some((at, path)) = stack.pop() {
                for next in edges.get(&at).into_iter().flatten() {
                    if next == start {
                        let circle = format!("{}/: {} -> {start}", if folder.is_empty() { "src" } else { &folder }, path.join(" -> "));
                        if !problems.contains(&circle) && start == path.iter().min().unwrap_or(start) {
                            problems.push(circle);
                        }
                    } else if !path.contains(next) && path.len() < 8 {
                        let mut longer = path.clone();
                        longer.push(next.clone());
                        stack.push((next.clone(), longer));
                    }
                }
            }
        }
    }
    problems.sort();
    assert!(problems.is_empty(), "import circles among the files of a folder:\n{}", problems.join("\n"));
}

/// String literals library code may compare with (`==`, `!=`,
/// `starts_with`), file by file, and why. Each is a value from outside:
/// AWS's own states, codes and enums as it sends them, the syntax of an
/// input (ARNs, URLs, OU ids, region and type-name prefixes), a resource
/// module's own action names as the journal stores them. Any other such
/// comparison stands for one of costguard's own states, and that is an
/// enum (`Status`, `ActionState`, `NoticeState`, `Delivery`,
/// `AccountStatus`, `GuardrailKind`, `Effect`, ...), text only where it is
/// stored or printed.
const ALLOWED_LITERALS: &[(&str, &[&str], &str)] = &[
    ("aws/budgets.rs", &["GREATER_THAN"], "a Budgets API enum value"),
    (
        "aws/error.rs",
        &["other", "InternalFailure", "RequestLimitExceeded", "ServiceUnavailable", "ServiceUnavailableException", "TooManyRequestsException", "Unknown"],
        "AWS error codes; `other` is the SDK's own filler text in an error chain",
    ),
    ("aws/mod.rs", &["NoCredentials", "CredentialsUnusable"], "the error codes `AwsError::from_sdk` gives a request that never left for want of credentials"),
    ("aws/tags.rs", &["ValidationException"], "an AWS error code"),
    ("schedule.rs", &["off"], "Cloud Custodian's tag value for opting out (input syntax)"),
    ("commands.rs", &["HTTP/1.1 200"], "the status line `costguard health` reads from the listener"),
    ("config/accounts.rs", &["arn:"], "ARN syntax"),
    ("config/channels.rs", &["arn", "sns", "localhost"], "ARN and URL syntax"),
    // `https://`: a line's code is cut at `//`, so a URL scheme shows as `https:`.
    ("config/daemon.rs", &["ou-", "r-", "https:", "http:"], "Organizations id syntax; URL schemes"),
    ("config/guardrails.rs", &["arn:"], "ARN syntax"),
    ("config/mod.rs", &["example"], "a reserved domain name (RFC 2606)"),
    ("config/velocity.rs", &["arn:"], "ARN syntax"),
    ("engine/accounts.rs", &["ACTIVE", "cn-", "us-gov-"], "an Organizations account status; partition region prefixes"),
    ("guardrails/anomaly.rs", &["DIMENSIONAL"], "a Cost Explorer monitor type"),
    ("guardrails/budgets.rs", &["COST"], "a Budgets budget type"),
    ("iam.rs", &["Describe", "s3:"], "IAM action name syntax"),
    ("notify/channel.rs", &["https:", "http:"], "URL schemes"),
    ("aws/pace.rs", &["Describe"], "EC2's documented bucket for its Describe* API actions, named as AWS names them"),
    ("resources/ebs_volume.rs", &["available", "delete", "gp3", "standard"], "EC2 volume states and types; its own action name"),
    (
        "resources/ec2_instance.rs",
        &["Linux/UNIX", "pending", "running", "stopped", "terminated", "InstanceId", "enabled", "index", "stop", "ml."],
        "EC2 instance states, platform and monitoring values, metric dimension names; its own action name; SageMaker type prefix",
    ),
    ("resources/log_group.rs", &["set-retention"], "its own action name"),
    (
        "resources/s3_bucket.rs",
        &["set-lifecycle", "BucketName", "NoSuchLifecycleConfiguration", "NoSuchTagSet", "NumberOfObjects", "StorageType"],
        "its own action name; S3 metric and dimension names and error codes",
    ),
    ("resources/sagemaker_app.rs", &["InService"], "a Studio app status, as AWS spells it"),
    ("resources/sagemaker_endpoint.rs", &["delete", "Deleting"], "its own action name; an endpoint status"),
    ("resources/sagemaker_mlflow_tracking_server.rs", &["stop"], "its own action name"),
    ("resources/sagemaker_notebook.rs", &["InService", "Pending", "stop", "Stopped", "Stopping"], "notebook statuses; its own action name"),
    ("resources/sagemaker_training_job.rs", &["InProgress", "ValidationException"], "a training job status; an error code"),
    ("resources/sizes.rs", &["inf", "trn"], "instance family prefixes"),
    ("service/mod.rs", &["plan-"], "the saved plans' file names"),
    ("yaml.rs", &["key", "resource", "aws."], "words of serde's messages, rewritten for people; Custodian's `aws.` type spelling"),
];

/// Comparisons with string literals in library code (tests excluded):
/// each allowed above, or it is a state that should be an enum.
#[test]
fn states_are_enums_not_string_literals() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("src/main.rs")) {
        let relative = file.strip_prefix(src()).expect("under src").to_string_lossy().to_string();
        let allowed: Vec<&str> = ALLOWED_LITERALS.iter().filter(|(f, _, _)| *f == relative).flat_map(|(_, literals, _)| literals.iter().copied()).collect();
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = code(line);
            for pattern in ["starts_with(\"", "== \"", "!= \""] {
                for (at, _) in code.match_indices(pattern) {
                    let literal: String = code[at + pattern.len()..].chars().take_while(|c| *c != '"').collect();
                    if !allowed.contains(&literal.as_str()) {
                        problems.push(format!(
                            "{relative}:{}: compares with \"{literal}\": make the state an enum, or allow it in tests/layout.rs with its reason",
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "string literals standing for states:\n{}", problems.join("\n"));
}
