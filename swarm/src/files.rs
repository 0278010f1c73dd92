//! Atomic small-file writes shared by the daemon and the monitor: write a temp file, fsync,
//! rename, fsync the directory. A crash leaves either the old or the new content, never half.
//! These are berth's state (keys, specs with environment variables, records): readable by root
//! only, whatever the umask; a file meant for others is made so by its caller.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the state files written here.
const PRIVATE_FILE: u32 = 0o600;

/// Makes `dir` (and missing parents) and gives `dir` itself `mode`, also when it existed: a
/// data root made by an older release gets its mode fixed at the next start.
pub fn ensure_dir_mode(dir: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, Permissions::from_mode(mode))
}

/// A new file (replacing a stale temp file) readable by root only.
fn create_private(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE)
        .open(path)?;
    // A stale temp file keeps its old mode through O_CREAT: set it.
    f.set_permissions(Permissions::from_mode(PRIVATE_FILE))?;
    Ok(f)
}

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tmp_path(path);
    {
        let mut f = create_private(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Writes `value` as JSON atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Replaces `path` atomically (readers see the old or the new content) without waiting for
/// the disk: for files that describe processes of this boot (a runtime spec, a monitor's
/// config, pids, an exit). A killed daemon or monitor still leaves the old or the new
/// content; only a machine crash can lose them, and it takes the processes with it.
pub fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    create_private(&tmp)?.write_all(bytes)?;
    fs::rename(&tmp, path)
}

/// The temp file beside `path` that a write goes to before it is renamed over `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `value` as JSON with `write_replace`.
pub fn write_json_replace<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_replace(path, &bytes)
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_private_whatever_the_umask_and_dirs_get_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_atomic(&a, b"key").unwrap();
        write_replace(&b, b"spec").unwrap();
        for f in [&a, &b] {
            let mode = fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
        let d = dir.path().join("x/root");
        ensure_dir_mode(&d, 0o710).unwrap();
        fs::set_permissions(&d, Permissions::from_mode(0o755)).unwrap();
        ensure_dir_mode(&d, 0o710).unwrap();
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o710
        );
    }

    #[test]
    fn atomic_write_replaces_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exit.json");
        write_json_atomic(&p, &vec![1, 2]).unwrap();
        write_json_atomic(&p, &vec![3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), Some(vec![3]));
        assert_eq!(
            read_json::<Vec<i32>>(&dir.path().join("none")).unwrap(),
            None
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
