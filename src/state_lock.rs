//! One sweep at a time per state folder: an OS file lock (`flock`) on
//! `<state folder>/costguard.lock`, held for the whole sweep or restore and
//! released by the OS when the process ends, however it ends (no stale lock
//! after a SIGKILL). A second sweep beside the daemon, or two CLIs, would
//! otherwise take each other's in-progress journal rows for crash leftovers
//! and make the same change twice. On NFS (EFS) Linux carries `flock` as an
//! NFSv4 lock, so it holds across hosts too. A leaf.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub const FILE_NAME: &str = "costguard.lock";
/// How often a waiting sweep tries again.
const POLL: Duration = Duration::from_millis(200);
/// The holder's note is one line; never read more.
const MAX_NOTE_BYTES: u64 = 1024;

/// Held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot lock the state folder ({path}): {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another costguard is sweeping with this state folder ({holder}; lock {path}){waited}; nothing was listed or changed")]
    Held { path: PathBuf, holder: String, waited: String },
    #[error("stopped while waiting for the state folder's lock ({path}); nothing was listed or changed")]
    Stopped { path: PathBuf },
}

impl StateLock {
    /// Takes the lock of the folder `dir` (created if missing), waiting up
    /// to `wait` for another holder to finish. `holder` is written in the
    /// file for whoever waits next (e.g. `pid 42, sweep since ...`).
    pub async fn acquire(dir: &Path, holder: &str, wait: Duration, cancel: &CancellationToken) -> Result<Self, LockError> {
        let path = dir.join(FILE_NAME);
        let io = |source| LockError::Io { path: path.clone(), source };
        crate::files::create_private_dir(dir).map_err(io)?;
        let mut file = crate::files::open_private(&path).map_err(io)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::Error(e)) => return Err(io(e)),
                Err(TryLockError::WouldBlock) if started.elapsed() >= wait => {
                    let waited = if wait.is_zero() { String::new() } else { format!("; waited {} s", wait.as_secs()) };
                    return Err(LockError::Held { holder: read_note(&mut file), path, waited });
                }
                Err(TryLockError::WouldBlock) => {
                    tokio::select! {
                        _ = tokio::time::sleep(POLL) => {}
                        _ = cancel.cancelled() => return Err(LockError::Stopped { path }),
                    }
                }
            }
        }
        // Only the holder writes the note; a failure to write it is cosmetic.
        let note = format!("{holder}\n");
        let written = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(note.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(lock = %path.display(), error = %e, "cannot write the lock holder's note");
        }
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_note(file: &mut File) -> String {
    let mut note = String::new();
    let read = file.rewind().and_then(|()| file.take(MAX_NOTE_BYTES).read_to_string(&mut note));
    match read {
        Ok(_) if !note.trim().is_empty() => note.trim().to_string(),
        _ => "holder unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_or_waits_and_the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cancel = CancellationToken::new();
        let first = StateLock::acquire(dir.path(), "pid 1, sweep", Duration::ZERO, &cancel).await.expect("free");
        let refused = StateLock::acquire(dir.path(), "pid 2, sweep", Duration::ZERO, &cancel).await;
        assert!(matches!(&refused, Err(LockError::Held { holder, .. }) if holder == "pid 1, sweep"), "{refused:?}");
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("another costguard") && message.contains("pid 1"), "{message}");

        let waiting = tokio::spawn({
            let dir = dir.path().to_path_buf();
            let cancel = cancel.clone();
            async move { StateLock::acquire(&dir, "pid 3, sweep", Duration::from_secs(10), &cancel).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
        assert!(matches!(waiting.await, Ok(Ok(()))), "the waiter gets the lock once it is released");

        let _held = StateLock::acquire(dir.path(), "pid 4", Duration::ZERO, &cancel).await.expect("free again");
        let stop = CancellationToken::new();
        stop.cancel();
        let stopped = StateLock::acquire(dir.path(), "pid 5", Duration::from_secs(60), &stop).await;
        assert!(matches!(stopped, Err(LockError::Stopped { .. })), "{stopped:?}");
    }
}
