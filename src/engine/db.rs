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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

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
    /// The stores' tables made or brought up to date by this connection.
    prepared: Mutex<BTreeSet<&'static str>>,
}

/// A store's table, as the store declares it: its definition, the
/// columns added since it was first made, and how its history is pruned.
/// The database remembers each table's history rule (`store_tables`), so
/// pruning covers every store that ever wrote to the file without naming
/// one.
pub struct Table {
    pub name: &'static str,
    /// `CREATE TABLE IF NOT EXISTS` and its indexes.
    pub schema: &'static str,
    /// Columns added since: (name, declaration).
    pub added: &'static [(&'static str, &'static str)],
    /// Run once the added columns exist (an index on one of them).
    pub then: &'static str,
    pub history: History,
}

/// How a table's old rows leave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// Never pruned (the savings ledger; marks, which are open by nature).
    Kept,
    /// Rows dated (by this column) before the cutoff go.
    Dated(&'static str),
    /// Rows dated before the cutoff go once settled: what is still open
    /// (`intent`, `incomplete`) stays.
    Settled(&'static str),
}

impl History {
    fn kind(self) -> &'static str {
        match self {
            History::Kept => "kept",
            History::Dated(_) => "dated",
            History::Settled(_) => "settled",
        }
    }

    fn column(self) -> Option<&'static str> {
        match self {
            History::Kept => None,
            History::Dated(c) | History::Settled(c) => Some(c),
        }
    }
}

/// Where the stores' tables and their history rules are listed.
const STORE_TABLES: &str = "CREATE TABLE IF NOT EXISTS store_tables (name TEXT PRIMARY KEY, history TEXT NOT NULL, dated_by TEXT);";

/// `PRAGMA auto_vacuum`'s answer for incremental.
pub(crate) const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Makes `table` or brings it up to date, and lists its history rule.
fn prepare(conn: &Connection, table: &Table) -> rusqlite::Result<()> {
    conn.execute_batch(table.schema)?;
    add_missing_columns(conn, table.name, table.added)?;
    conn.execute_batch(table.then)?;
    // Written only when missing or changed: opening a journal to read it
    // writes nothing.
    let listed: Option<(String, Option<String>)> =
        conn.query_row("SELECT history, dated_by FROM store_tables WHERE name = ?1", params![table.name], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    let rule = (table.history.kind().to_string(), table.history.column().map(str::to_string));
    if listed.as_ref() != Some(&rule) {
        conn.execute(
            "INSERT INTO store_tables (name, history, dated_by) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET history = ?2, dated_by = ?3",
            params![table.name, rule.0, rule.1],
        )?;
    }
    Ok(())
}

/// A name read back from `store_tables`, safe to put in SQL.
fn identifier(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Db {
    /// Opens (or creates) the database and lets each store `prepare` its
    /// tables: create what is missing, add columns a newer version has.
    pub fn open(path: &Path, tables: &[&'static Table]) -> Result<Self, JournalError> {
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
        conn.execute_batch(STORE_TABLES).map_err(err)?;
        for table in tables {
            prepare(&conn, table).map_err(err)?;
        }
        let prepared = Mutex::new(tables.iter().map(|t| t.name).collect());
        Ok(Self { path: path.to_path_buf(), conn: Mutex::new(conn), prepared })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, `table` made first if this connection
    /// has not yet (a store of a layer above the journal makes its own
    /// table on first use).
    pub(crate) fn with<T>(&self, table: &'static Table, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let sqlite = |source| JournalError::Sqlite { path: self.path.clone(), source };
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        if !prepared.contains(table.name) {
            prepare(&conn, table).map_err(sqlite)?;
            prepared.insert(table.name);
        }
        drop(prepared);
        f(&conn).map_err(sqlite)
    }

    /// Removes history older than `before` from every store's table, as
    /// each declared it (`History`), in one transaction. The freed pages
    /// go back to the file system (incremental auto-vacuum; an older
    /// database is converted once, with `VACUUM`). Returns how many rows
    /// went.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
        let before = before.to_rfc3339();
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let pruned = || -> rusqlite::Result<usize> {
            let tx = conn.unchecked_transaction()?;
            let rules: Vec<(String, String, Option<String>)> = {
                let mut stmt = tx.prepare("SELECT name, history, dated_by FROM store_tables ORDER BY name")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut rows = 0;
            for (name, history, column) in rules {
                let Some(column) = column.filter(|c| identifier(c) && identifier(&name)) else { continue };
                let open = match history.as_str() {
                    "dated" => "",
                    "settled" => " AND state NOT IN ('intent', 'incomplete')",
                    _ => continue,
                };
                rows += tx.execute(&format!("DELETE FROM {name} WHERE {column} < ?1{open}"), params![before])?;
            }
            tx.commit()?;
            if rows > 0 {
                let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
                if mode == AUTO_VACUUM_INCREMENTAL {
                    conn.execute_batch("PRAGMA incremental_vacuum;")?;
                } else {
                    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
                }
            }
            Ok(rows)
        };
        pruned().map_err(|source| JournalError::Sqlite { path: self.path.clone(), source })
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
fn add_missing_columns(conn: &Connection, table: &str, added: &[(&str, &str)]) -> rusqlite::Result<()> {
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
