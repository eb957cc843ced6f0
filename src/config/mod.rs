//! Configuration: policy files parsed with locations, compiled into typed
//! [`Policy`] values, every error reported at once.

pub mod accounts;
pub mod channels;
pub mod daemon;
pub mod error;
pub mod events;
pub mod guardrails;
pub mod numbers;
pub mod offhours;
pub mod policy;
pub mod schedule;
pub mod secret;
pub mod velocity;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::yaml;

pub use daemon::{DaemonConfig, EmailSettings};
pub use error::{ConfigError, ConfigErrors};
pub use guardrails::Guardrails;
pub use policy::{Limits, Policy};

/// Files larger than this are refused (read with a hard limit, whatever
/// size the file system reports).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The addresses of a list, sorted and once each; each bad one is an error at its place.
pub(crate) fn check_emails(list: &[yaml::Located<String>], path: &str, errors: &mut Vec<yaml::DecodeError>) -> Vec<String> {
    let mut emails = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let v = e.value.trim();
        if crate::actions::notify::is_email_address(v) {
            emails.push(v.to_string());
        } else {
            errors.push(yaml::DecodeError::new(e.loc, format!("{path}[{i}]"), format!("expected an email address, found {:?}", e.value)));
        }
    }
    emails.sort();
    emails.dedup();
    emails
}

/// Names reserved for documentation (RFC 2606), as the shipped examples
/// use them: mail to them reaches nobody.
pub fn is_placeholder_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    ["example.com", "example.org", "example.net"].iter().any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || domain == "example"
        || domain.ends_with(".example")
        || domain.ends_with(".invalid")
}

/// Everything the policy files under some paths declare.
#[derive(Debug)]
pub struct PolicySet {
    pub policies: Vec<Policy>,
    pub guardrails: Option<Guardrails>,
    /// The files read, each once.
    pub files: Vec<PathBuf>,
    /// Worth saying, not worth refusing (a file that declares nothing).
    pub warnings: Vec<ConfigError>,
}

/// The YAML files named by `paths`: files as given, folders searched for
/// `*.yaml` and `*.yml` (not recursively), in name order. A file named
/// twice (directly, through its folder, or by another spelling) is listed once.
pub fn policy_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push(ConfigError::whole_file(path, "no .yaml or .yml files in this folder"));
                    }
                    files.extend(found);
                }
                Err(e) => errors.push(ConfigError::whole_file(path, format!("cannot read folder: {e}"))),
            },
            Ok(_) => files.push(path.clone()),
            Err(e) => errors.push(ConfigError::whole_file(path, format!("cannot read: {e}"))),
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads and compiles every file under `paths`, each once: all policies
/// (names unique across files), the `guardrails:` section (at most one
/// file declares it), and every problem at once, sorted by file and line.
pub fn load(paths: &[PathBuf]) -> Result<PolicySet, ConfigErrors> {
    check(paths).into_result()
}

/// What [`load`] finds, with the warnings also when there are errors
/// (`validate` shows both).
pub struct Checked {
    pub set: Result<PolicySet, ConfigErrors>,
    pub warnings: Vec<ConfigError>,
}

impl Checked {
    pub fn into_result(self) -> Result<PolicySet, ConfigErrors> {
        self.set.map(|set| PolicySet { warnings: self.warnings, ..set })
    }
}

/// [`load`], keeping the warnings beside the errors.
pub fn check(paths: &[PathBuf]) -> Checked {
    let files = match policy_files(paths) {
        Ok(files) => files,
        Err(errors) => return Checked { set: Err(errors), warnings: Vec::new() },
    };
    let mut doc = Document::default();
    for file in &files {
        match read_text(file) {
            Ok(text) => doc.compile(file, &text),
            Err(e) => doc.errors.push(e),
        }
    }
    doc.finish(files)
}

/// Compiles policies from text, as if read from `file` (for tests and fuzzing).
pub fn compile_text(file: &Path, text: &str) -> Result<Vec<Policy>, ConfigErrors> {
    let mut doc = Document::default();
    doc.compile(file, text);
    doc.finish(vec![file.to_path_buf()]).into_result().map(|set| set.policies)
}

/// The `guardrails:` section of one file's text, if it has one.
pub fn compile_guardrails_text(file: &Path, text: &str) -> Result<Option<Guardrails>, ConfigErrors> {
    let mut doc = Document::default();
    doc.compile(file, text);
    doc.finish(vec![file.to_path_buf()]).into_result().map(|set| set.guardrails)
}

/// What the files compiled so far declare.
#[derive(Default)]
struct Document {
    policies: Vec<(Policy, yaml::Located<String>)>,
    guardrails: Vec<(PathBuf, Guardrails)>,
    schedules: crate::schedule::Book,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Document {
    /// One file: `policies:` and a list, and maybe `guardrails:`.
    fn compile(&mut self, file: &Path, text: &str) {
        let root = match yaml::parse(text) {
            Ok(root) => root,
            Err(e) => return self.errors.push(ConfigError::from_decode(file, e)),
        };
        let entries = match &root.value {
            yaml::Value::Map(entries) => entries,
            yaml::Value::Null => return self.warnings.push(ConfigError::whole_file(file, "the file is empty: it declares no policies")),
            other => {
                let e = yaml::DecodeError::new(root.loc, "", format!("expected a map with `policies:`, found {}", other.kind()));
                return self.errors.push(ConfigError::from_decode(file, e));
            }
        };
        let mut declared = 0;
        for (key, value) in entries {
            match key.as_str() {
                Some("policies") => declared += policy::compile_policies(file, value, &mut self.policies, &mut self.errors),
                Some("schedules") => {
                    let mut problems = Vec::new();
                    declared += offhours::compile(file, value, &mut self.schedules, &mut problems);
                    self.errors.extend(problems.into_iter().map(|e| ConfigError::from_decode(file, e)));
                }
                Some("guardrails") => {
                    declared += 1;
                    match yaml::decode::<guardrails::GuardrailsSpec>(value, "guardrails") {
                        Ok(spec) => {
                            let mut problems = Vec::new();
                            match spec.compile(&mut problems) {
                                Some(g) if problems.is_empty() => self.guardrails.push((file.to_path_buf(), g)),
                                _ => self.errors.extend(problems.into_iter().map(|e| ConfigError::from_decode(file, e))),
                            }
                        }
                        Err(e) => self.errors.push(ConfigError::from_decode(file, e)),
                    }
                }
                other => {
                    let name = other.unwrap_or("?");
                    let hint = yaml::closest_name(name, ["policies", "guardrails", "schedules"]).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                    let e = yaml::DecodeError::new(
                        key.loc,
                        name,
                        format!("unknown top-level key `{name}`, expected `policies`, `guardrails` or `schedules`{hint}"),
                    );
                    self.errors.push(ConfigError::from_decode(file, e));
                }
            }
        }
        if declared == 0 {
            self.warnings.push(ConfigError::whole_file(file, "declares no policies (and no guardrails)"));
        }
    }

    fn finish(mut self, files: Vec<PathBuf>) -> Checked {
        check_unique_names(&self.policies, &mut self.errors);
        // Schedules may be declared in any file: bound once all are read.
        let book = std::sync::Arc::new(std::mem::take(&mut self.schedules));
        for (policy, name) in &mut self.policies {
            let mut problems = Vec::new();
            for (i, filter) in policy.filters.iter_mut().enumerate() {
                let path = format!("{}.filters[{i}]", name.value.strip_suffix(".name").unwrap_or(&name.value));
                filter.bind_schedules(&book, &path, &mut problems);
            }
            self.errors.extend(problems.into_iter().map(|e| ConfigError::from_decode(&policy.source, e)));
        }
        check_regex_budget(&self.policies, &mut self.errors);
        if let [(first, _), rest @ ..] = self.guardrails.as_slice() {
            for (file, _) in rest {
                self.errors.push(ConfigError::whole_file(file, format!("`guardrails:` is already declared in {}", first.display())));
            }
        }
        let warnings = ConfigErrors::sorted(self.warnings).0;
        if !self.errors.is_empty() {
            return Checked { set: Err(ConfigErrors::sorted(self.errors)), warnings };
        }
        let set = PolicySet {
            policies: self.policies.into_iter().map(|(p, _)| p).collect(),
            guardrails: self.guardrails.into_iter().next().map(|(_, g)| g),
            files,
            warnings: Vec::new(),
        };
        Checked { set: Ok(set), warnings }
    }
}

/// Loads and compiles every policy under `paths` (see [`load`]).
pub fn load_policies(paths: &[PathBuf]) -> Result<Vec<Policy>, ConfigErrors> {
    load(paths).map(|set| set.policies)
}

/// Each regular expression may take [`REGEX_SIZE_LIMIT`] compiled; a
/// config holds at most [`MAX_REGEXES`], so all of them together stay
/// bounded. The first one past the budget is named, with its place.
fn check_regex_budget(compiled: &[(Policy, yaml::Located<String>)], errors: &mut Vec<ConfigError>) {
    use crate::filters::value::{MAX_REGEXES, REGEX_SIZE_LIMIT};
    let mut seen = 0;
    for (policy, _) in compiled {
        let mut at = Vec::new();
        policy.filters.iter().for_each(|f| f.regexes(&mut at));
        for loc in at {
            seen += 1;
            if seen == MAX_REGEXES + 1 {
                let message = format!(
                    "more than {MAX_REGEXES} regular expressions in the policies (each may take {} KiB compiled): this is the first past the budget",
                    REGEX_SIZE_LIMIT / 1024
                );
                errors.push(ConfigError { file: policy.source.clone(), loc: Some(loc), path: format!("policy {}", policy.name), message });
            }
        }
    }
}

/// Policy names key the journal, tags and reports: they must be unique.
/// Each duplicate is reported once, where it is, naming the first.
fn check_unique_names(compiled: &[(Policy, yaml::Located<String>)], errors: &mut Vec<ConfigError>) {
    let mut first_seen: HashMap<String, (PathBuf, yaml::Loc)> = HashMap::new();
    for (policy, name_path) in compiled {
        if let Some((file, loc)) = first_seen.get(&policy.name) {
            errors.push(ConfigError {
                file: policy.source.clone(),
                loc: Some(name_path.loc),
                path: name_path.value.clone(),
                message: format!("duplicate policy name `{}`; first defined at {}:{}", policy.name, file.display(), loc),
            });
        } else {
            first_seen.insert(policy.name.clone(), (policy.source.clone(), name_path.loc));
        }
    }
}

/// A file's text, read with a hard limit of [`MAX_FILE_BYTES`] (whatever
/// size the file system reports); only regular files are read, so a FIFO
/// or a device cannot hang or flood `validate`.
pub fn read_text(file: &Path) -> Result<String, ConfigError> {
    crate::files::read_text_bounded(file, MAX_FILE_BYTES).map_err(|e| ConfigError::whole_file(file, format!("cannot read: {e}")))
}
