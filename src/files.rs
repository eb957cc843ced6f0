//! Files, read and written safely: a read never takes more than its limit
//! (whatever size the file system reports) and never waits on a FIFO or a
//! device; a write replaces a file whole or not at all. Everything
//! costguard writes is private (files 0600, the folders it creates 0700,
//! whatever the umask: account IDs, owners and what will be deleted are
//! nobody else's business on a shared host), and nothing is written
//! through a symlink. A leaf.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files costguard creates: its owner reads and writes them, nobody else.
pub const FILE_MODE: u32 = 0o600;
/// Folders costguard creates.
pub const DIR_MODE: u32 = 0o700;

/// `open(2)`'s flag that refuses a symlink as the last part of a path.
fn no_follow() -> i32 {
    // The flag's bits fit an i32 on every platform rustix supports.
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// An error for a symlink where costguard keeps a file of its own: someone
/// planted it to make costguard write (or read) elsewhere.
fn symlink_refused(path: &Path) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} is a symbolic link: refused (costguard never writes through one)", path.display()))
}

/// Refuses `path` when it is a symlink; fine when it does not exist.
pub fn refuse_symlink(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink_refused(path)),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and whichever of its parents are missing, each 0700; a
/// folder that exists is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens (creating it 0600 if missing) a file of costguard's own for
/// reading and writing, never through a symlink; an existing file is made
/// 0600 too (one an older version left readable).
pub fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(FILE_MODE).custom_flags(no_follow()).open(path).map_err(|e| {
        // ELOOP: the last part of the path is a symlink.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            symlink_refused(path)
        } else {
            e
        }
    })?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} is not a regular file", path.display())));
    }
    if metadata.permissions().mode() & 0o777 != FILE_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    // Asked before opening: opening a FIFO for reading waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("larger than the limit of {limit} bytes")));
    }
    Ok(bytes)
}

/// The UTF-8 text of the regular file at `path`, at most `limit` bytes.
pub fn read_text_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
}

/// Writes `dir/name` through a temporary file and a rename, so a reader
/// never sees half a file and a failed write keeps the previous one. The
/// folder is created (0700) if missing; the file is 0600. The temporary
/// file has an unpredictable name and is created exclusively (a file or a
/// symlink planted there makes the write fail, never redirects it); a
/// symlink at `dir/name` itself is refused.
pub fn write_atomic(dir: &Path, name: &str, fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> std::io::Result<PathBuf> {
    create_private_dir(dir)?;
    let path = dir.join(name);
    refuse_symlink(&path)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let file = OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).custom_flags(no_follow()).open(&tmp)?;
    let written = (|| {
        let mut out = std::io::BufWriter::new(file);
        fill(&mut out)?;
        out.flush()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        // The mode asked for at creation is masked by the umask; this is not.
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_stops_at_its_limit_and_refuses_what_is_not_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a");
        std::fs::write(&path, b"0123456789").expect("write");
        assert_eq!(read_bounded(&path, 10).expect("fits"), b"0123456789");
        assert!(read_bounded(&path, 9).is_err(), "one byte over");
        assert!(read_bounded(dir.path(), 100).is_err(), "a folder is not a file");
        assert!(read_bounded(Path::new("/dev/zero"), 100).is_err(), "a device is refused, not read for ever");
    }

    #[test]
    fn written_files_are_private_and_never_written_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let folder = dir.path().join("a/b");
        let path = write_atomic(&folder, "report.json", |w| w.write_all(b"{}")).expect("written");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!((mode(&folder), mode(&dir.path().join("a"))), (0o700, 0o700), "the folders it creates");
        let leftovers: Vec<_> = std::fs::read_dir(&folder).expect("list").filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

        // A symlink planted at the report's name points at another file.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").expect("write");
        let planted = folder.join("report.md");
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        let refused = write_atomic(&folder, "report.md", |w| w.write_all(b"# report")).expect_err("refused");
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious", "the target is untouched");
        let opened = open_private(&planted).expect_err("refused too");
        assert!(opened.to_string().contains("symbolic link"), "{opened}");
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");

        // A state file an older version left 0644 becomes 0600.
        let journal = folder.join("journal.sqlite");
        std::fs::write(&journal, b"").expect("write");
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open_private(&journal).expect("opened");
        assert_eq!(mode(&journal), 0o600);
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        // Opened first, this would wait for ever: the test would hang, not fail.
        let error = read_bounded(&fifo, 100).expect_err("refused");
        assert_eq!(error.to_string(), "not a regular file");
    }
}
