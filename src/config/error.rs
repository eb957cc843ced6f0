//! Configuration errors: file, line, column, path, and what was expected.

use std::fmt;
use std::path::PathBuf;

use crate::yaml::{DecodeError, Loc};

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub loc: Option<Loc>,
    /// Where in the document, e.g. `policies[3].filters[1].op`.
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn from_decode(file: &std::path::Path, e: DecodeError) -> Self {
        ConfigError { file: file.to_path_buf(), loc: e.loc, path: e.path, message: e.message }
    }

    pub fn whole_file(file: &std::path::Path, message: impl Into<String>) -> Self {
        ConfigError { file: file.to_path_buf(), loc: None, path: String::new(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = self.loc {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, not only the first.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// In file and line order, each problem once.
    pub fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| (&a.file, a.loc, &a.path, &a.message).cmp(&(&b.file, b.loc, &b.path, &b.message)));
        errors.dedup();
        ConfigErrors(errors)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
