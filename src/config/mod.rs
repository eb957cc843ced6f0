//! Configuration: policy files parsed with locations, compiled into typed
//! [`Policy`] values, every error reported at once.

pub mod daemon;
pub mod error;
pub mod guardrails;
pub mod policy;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use daemon::{DaemonConfig, EmailSettings};
pub use error::{ConfigError, ConfigErrors};
pub use guardrails::Guardrails;
pub use policy::{Limits, Policy};

/// Policy files larger than this are refused before parsing.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The YAML files named by `paths`: files as given, folders searched for
/// `*.yaml` and `*.yml` (not recursively), in name order.
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
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Loads and compiles every policy under `paths`. Policy names are unique
/// across all files.
pub fn load_policies(paths: &[PathBuf]) -> Result<Vec<Policy>, ConfigErrors> {
    let files = policy_files(paths)?;
    let mut errors = Vec::new();
    let mut compiled = Vec::new();
    for file in &files {
        match read_text(file) {
            Ok(text) => policy::compile_file(file, &text, &mut compiled, &mut errors),
            Err(e) => errors.push(e),
        }
    }
    check_unique_names(&compiled, &mut errors);
    if errors.is_empty() {
        Ok(compiled.into_iter().map(|(p, _)| p).collect())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Compiles policies from text, as if read from `file` (for tests and fuzzing).
pub fn compile_text(file: &Path, text: &str) -> Result<Vec<Policy>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut compiled = Vec::new();
    policy::compile_file(file, text, &mut compiled, &mut errors);
    check_unique_names(&compiled, &mut errors);
    if errors.is_empty() {
        Ok(compiled.into_iter().map(|(p, _)| p).collect())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The `guardrails:` section of the files under `paths`, if one declares
/// it; declaring it in two files is an error.
pub fn load_guardrails(paths: &[PathBuf]) -> Result<Option<Guardrails>, ConfigErrors> {
    let files = policy_files(paths)?;
    let mut errors = Vec::new();
    let mut found: Option<(PathBuf, Guardrails)> = None;
    for file in &files {
        let text = match read_text(file) {
            Ok(text) => text,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match compile_guardrails_text(file, &text) {
            Ok(None) => {}
            Ok(Some(g)) => match &found {
                Some((first, _)) => errors.push(ConfigError::whole_file(file, format!("`guardrails:` is already declared in {}", first.display()))),
                None => found = Some((file.clone(), g)),
            },
            Err(ConfigErrors(e)) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(found.map(|(_, g)| g))
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The `guardrails:` section of one file's text, if it has one.
pub fn compile_guardrails_text(file: &Path, text: &str) -> Result<Option<Guardrails>, ConfigErrors> {
    let Ok(root) = yaml::parse(text) else { return Ok(None) }; // the policy pass reports parse errors
    let yaml::Value::Map(entries) = &root.value else { return Ok(None) };
    let Some((_, node)) = entries.iter().find(|(k, _)| k.as_str() == Some("guardrails")) else { return Ok(None) };
    let spec: guardrails::GuardrailsSpec = yaml::decode(node, "guardrails").map_err(|e| ConfigErrors(vec![ConfigError::from_decode(file, e)]))?;
    let mut problems = Vec::new();
    match spec.compile(&mut problems) {
        Some(g) if problems.is_empty() => Ok(Some(g)),
        _ => Err(ConfigErrors(problems.into_iter().map(|e| ConfigError::from_decode(file, e)).collect())),
    }
}

/// Policy names key the journal, tags and reports: they must be unique.
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

fn read_text(file: &Path) -> Result<String, ConfigError> {
    let meta = std::fs::metadata(file).map_err(|e| ConfigError::whole_file(file, format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::whole_file(file, format!("file is {} bytes; the limit is {MAX_FILE_BYTES}", meta.len())));
    }
    let bytes = std::fs::read(file).map_err(|e| ConfigError::whole_file(file, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ConfigError::whole_file(file, format!("not UTF-8 text: {e}")))
}
