//! Files, read and written safely: a read never takes more than its limit
//! (whatever size the file system reports) and never waits on a FIFO or a
//! device; a write replaces a file whole or not at all. A leaf.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
/// never sees half a file and a failed write keeps the previous one.
pub fn write_atomic(dir: &Path, name: &str, fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    fill(&mut out)?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
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
