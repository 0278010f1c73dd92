//! A task's secret and config files: one small tmpfs per task under the exec root
//! (`<exec-root>/swarm-files/<task-id>`, never the data root's disk), holding secrets under
//! `secrets/` (bound read-only at `/run/secrets`) and every file with an absolute target
//! under `files/` (each bound read-only at its target), with the owner and mode asked for.
//! Unmounted and removed with the task's container.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_swarm::executor::{ExecError, TaskFile};
use bollard_stubs::models::{Mount, MountType};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Where the secrets of a task appear in its container when their targets are relative.
const SECRETS_DIR: &str = "/run/secrets";

/// The directory of every task's files under `exec_root`.
pub fn files_root(exec_root: &Path) -> PathBuf {
    exec_root.join("swarm-files")
}

fn task_dir(exec_root: &Path, task_id: &str) -> Result<PathBuf, ExecError> {
    let plain = !task_id.is_empty() && task_id.chars().all(|c| c.is_ascii_alphanumeric());
    if !plain {
        return Err(ExecError::Rejected(format!("invalid task id {task_id:?}")));
    }
    Ok(files_root(exec_root).join(task_id))
}

/// The tmpfs size for `files`: their bytes plus room for inodes, at least 1 MiB.
fn tmpfs_size(files: &[TaskFile]) -> usize {
    let bytes: usize = files
        .iter()
        .map(|f| f.data.len().div_ceil(4096) * 4096 + 4096)
        .sum();
    (bytes + 64 * 1024).max(1 << 20)
}

/// The path under `dir` of a secret's target relative to `/run/secrets`, if it is there.
fn under_secrets(target: &str) -> Option<PathBuf> {
    let rel = Path::new(target).strip_prefix(SECRETS_DIR).ok()?;
    let clean = rel.components().all(|c| matches!(c, Component::Normal(_)));
    (clean && !rel.as_os_str().is_empty()).then(|| rel.to_path_buf())
}

fn failed(what: &str, path: &Path, e: impl std::fmt::Display) -> ExecError {
    ExecError::Failed(format!("{what} {}: {e}", path.display()))
}

fn write_file(path: &Path, f: &TaskFile) -> Result<(), ExecError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| failed("creating", parent, e))?;
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| failed("creating", path, e))?;
    out.write_all(&f.data)
        .map_err(|e| failed("writing", path, e))?;
    std::os::unix::fs::chown(path, Some(f.uid), Some(f.gid))
        .map_err(|e| failed("chown", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(f.mode & 0o7777))
        .map_err(|e| failed("chmod", path, e))
}

fn bind(source: &Path, target: &str) -> Mount {
    Mount {
        target: Some(target.to_string()),
        source: Some(source.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Mount::default()
    }
}

/// Makes the task's tmpfs, writes its files and returns the mounts that show them in the
/// container; nothing when the task has no files.
pub fn prepare(
    exec_root: &Path,
    task_id: &str,
    files: &[TaskFile],
) -> Result<Vec<Mount>, ExecError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let dir = task_dir(exec_root, task_id)?;
    // A tmpfs left by a start that failed half-way is replaced, not reused.
    release(exec_root, task_id);
    std::fs::create_dir_all(&dir).map_err(|e| failed("creating", &dir, e))?;
    let options = format!("size={},mode=0755", tmpfs_size(files));
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        flags,
        Some(options.as_str()),
    )
    .map_err(|e| failed("mounting a tmpfs on", &dir, e))?;
    match fill(&dir, files) {
        Ok(mounts) => Ok(mounts),
        Err(e) => {
            release(exec_root, task_id);
            Err(e)
        }
    }
}

fn fill(dir: &Path, files: &[TaskFile]) -> Result<Vec<Mount>, ExecError> {
    let mut mounts = Vec::new();
    let secrets = dir.join("secrets");
    let mut any_secret_dir = false;
    for (i, f) in files.iter().enumerate() {
        match under_secrets(&f.target).filter(|_| f.secret) {
            Some(rel) => {
                any_secret_dir = true;
                write_file(&secrets.join(rel), f)?;
            }
            None => {
                let path = dir.join("files").join(i.to_string());
                write_file(&path, f)?;
                mounts.push(bind(&path, &f.target));
            }
        }
    }
    if any_secret_dir {
        mounts.insert(0, bind(&secrets, SECRETS_DIR));
    }
    Ok(mounts)
}

/// Unmounts and removes a task's files (nothing to do when it has none).
pub fn release(exec_root: &Path, task_id: &str) {
    let Ok(dir) = task_dir(exec_root, task_id) else {
        return;
    };
    if !dir.exists() {
        return;
    }
    if let Err(e) = umount2(&dir, MntFlags::MNT_DETACH) {
        // EINVAL: nothing mounted there (a start that failed before the mount).
        if e != nix::errno::Errno::EINVAL {
            tracing::warn!(task = %task_id, error = %e, "unmounting a task's secrets");
        }
    }
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(task = %task_id, error = %e, "removing a task's secrets directory");
    }
}

/// Releases the files of every task not in `live` (their containers are gone).
pub fn sweep(exec_root: &Path, live: &std::collections::HashSet<&str>) {
    let Ok(entries) = std::fs::read_dir(files_root(exec_root)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(task_id) = name.to_str() else {
            continue;
        };
        if !live.contains(task_id) {
            tracing::info!(task = %task_id, "removing the secrets of a task whose container is gone");
            release(exec_root, task_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_secret_targets_go_under_run_secrets() {
        assert_eq!(under_secrets("/run/secrets/db"), Some(PathBuf::from("db")));
        assert_eq!(
            under_secrets("/run/secrets/a/b"),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(under_secrets("/run/secrets"), None);
        assert_eq!(under_secrets("/etc/app.conf"), None);
        assert_eq!(under_secrets("/run/secrets/../x"), None);
    }

    #[test]
    fn a_task_id_must_be_plain_to_name_a_directory() {
        assert!(task_dir(Path::new("/x"), "../etc").is_err());
        assert!(task_dir(Path::new("/x"), "").is_err());
        assert!(task_dir(Path::new("/x"), "abc123").is_ok());
    }

    #[test]
    fn the_tmpfs_has_room_for_its_files() {
        let f = TaskFile {
            secret: true,
            target: "/run/secrets/x".into(),
            uid: 0,
            gid: 0,
            mode: 0o444,
            data: vec![0; 3 << 20],
        };
        assert!(tmpfs_size(&[f]) > 3 << 20);
        assert_eq!(tmpfs_size(&[]), 1 << 20);
    }
}
