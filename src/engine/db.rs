//! The state database: one SQLite file, one connection, shared by the
//! stores that each own their tables (the journal's actions and marks, the
//! savings ledger, notices, the outbox, AI spend alerts).
//!
//! # Guarantees
//! - The file is created 0600 before SQLite opens it (its rollback journal
//!   takes the database's mode), never through a symlink.
//! - Writes use SQLite's rollback journal, which works wherever file locks
//!   do, EFS included (WAL needs memory shared by every process on one
//!   host, which a network file system cannot give). A second connection
//!   waits (busy timeout) instead of failing.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use crate::resources::ResourceType;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("journal {path}: cannot create its folder: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("journal {path}: a recorded resource is unreadable: {source}")]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error("journal {path}: row {id} {problem}")]
    Row { path: PathBuf, id: i64, problem: String },
}

pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (or creates) the database and lets each store `prepare` its
    /// tables: create what is missing, add columns a newer version has.
    pub fn open(path: &Path, prepare: &[fn(&Connection) -> rusqlite::Result<()>]) -> Result<Self, JournalError> {
        let folder = |source| JournalError::Folder { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            crate::files::create_private_dir(dir).map_err(folder)?;
        }
        crate::files::open_private(path).map_err(folder)?;
        let err = |source| JournalError::Sqlite { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "DELETE").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        // Takes effect on a new, empty database only (an older one is
        // converted by its first prune).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(err)?;
        for step in prepare {
            step(&conn).map_err(err)?;
        }
        Ok(Self { path: path.to_path_buf(), conn: Mutex::new(conn) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn).map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
    }

    pub(crate) fn corrupt(&self, source: serde_json::Error) -> JournalError {
        JournalError::Corrupt { path: self.path.clone(), source }
    }

    pub(crate) fn row_problem(&self, id: i64, problem: String) -> JournalError {
        JournalError::Row { path: self.path.clone(), id, problem }
    }
}

/// Columns added to a table since it was first made: an older database
/// gains them (with their defaults) when opened.
pub(crate) fn add_missing_columns(conn: &Connection, table: &str, added: &[(&str, &str)]) -> rusqlite::Result<()> {
    for (column, decl) in added {
        let mut stmt = conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?;
        if !stmt.exists(params![column])? {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A stored type name; `None` for one this version does not know (a newer version wrote it).
pub(crate) fn parse_type(s: &str) -> Option<ResourceType> {
    ResourceType::ALL.iter().copied().find(|t| t.name() == s)
}
