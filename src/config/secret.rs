//! Where a credential comes from (`*-env` or `*-file` in the config), and
//! reading it at start-up. The value never goes in a config file or a log.

use std::path::PathBuf;

use crate::yaml::{DecodeError, Located};

/// Where a credential comes from; the value itself is read at start-up.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// A secret is a line, not a document.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a secret could not be read: where it was looked for, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvNotSet(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{} is empty", .0.display())]
    FileEmpty(PathBuf),
    /// Read, but not acceptable (too short to be a token).
    #[error("the token is {chars} characters; at least {min} are required (make one with `openssl rand -hex 32`)")]
    TooShort { chars: usize, min: usize },
}

impl SecretSource {
    /// The value, without a trailing newline.
    pub fn read(&self) -> Result<String, SecretError> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| SecretError::EnvNotSet(name.clone()))?,
            SecretSource::File(path) => {
                crate::files::read_text_bounded(path, MAX_SECRET_BYTES).map_err(|source| SecretError::Unreadable { path: path.clone(), source })?
            }
        };
        let value = value.trim_end_matches(['\r', '\n']).to_string();
        if value.is_empty() {
            return Err(match self {
                SecretSource::Env(name) => SecretError::EnvEmpty(name.clone()),
                SecretSource::File(path) => SecretError::FileEmpty(path.clone()),
            });
        }
        Ok(value)
    }
}

fn is_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `-env` or `-file`, not both.
pub(crate) fn secret(
    env: &Option<Located<String>>,
    file: &Option<Located<String>>,
    path: &str,
    what: &str,
    errors: &mut Vec<DecodeError>,
) -> Option<SecretSource> {
    match (env, file) {
        (Some(e), Some(_)) => {
            errors.push(DecodeError::new(e.loc, format!("{path}.{what}-env"), format!("give {what}-env or {what}-file, not both")));
            None
        }
        (Some(e), None) if !is_env_name(e.value.trim()) => {
            errors.push(DecodeError::new(
                e.loc,
                format!("{path}.{what}-env"),
                "expected the name of an environment variable (the value itself never goes in this file)",
            ));
            None
        }
        (Some(e), None) => Some(SecretSource::Env(e.value.trim().to_string())),
        (None, Some(f)) => Some(SecretSource::File(PathBuf::from(f.value.trim()))),
        (None, None) => None,
    }
}
