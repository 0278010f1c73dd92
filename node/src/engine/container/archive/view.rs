//! What `cp` sees of a container: its root filesystem with its volumes and binds, as the
//! container sees them. Running: the container's own mount namespace, through
//! `/proc/<pid>/root`. Stopped: the rootfs mounted for the operation with each volume and bind
//! mounted over its target, the target made and opened inside the root first and the mount
//! made onto that handle, so a symlink in the image cannot send a bind elsewhere on the host.
//! Unmounting the rootfs (lazily) takes the binds with it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::stat::SFlag;

use super::rootfs::Rootfs;
use crate::engine::container::types::ContainerRecord;
use crate::engine::inroot;
use crate::engine::volume::{subpath, MountKind, MountSpec};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// The container's filesystem for `cp`, volumes and binds included.
    pub(crate) async fn cp_view(&self, key: &str) -> Result<Rootfs> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        if rec.state.status.is_running() && rec.state.pid > 0 {
            return Ok(Rootfs::view_of(PathBuf::from(format!(
                "/proc/{}/root",
                rec.state.pid
            ))));
        }
        let rootfs = self.rootfs(key).await?;
        if rootfs.is_borrowed() {
            // It started meanwhile: its own namespace, as above.
            let pid = handle.snapshot().await.state.pid;
            return Ok(Rootfs::view_of(PathBuf::from(format!("/proc/{pid}/root"))));
        }
        let binds = self.bind_sources(&rec);
        let root = rootfs.root.clone();
        tokio::task::spawn_blocking(move || {
            for (source, target, is_dir) in &binds {
                mount_inside(&root, &source.path(), target, *is_dir)?;
            }
            Ok::<_, EngineError>(())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("cp mounts task: {e}")))??;
        Ok(rootfs)
    }

    /// (host source, target in the container, source is a directory) of the container's
    /// volumes and binds, in mount order. tmpfs mounts hold nothing while it is stopped; a
    /// volume's subpath is opened as its start opens it (one that cannot be is left out).
    fn bind_sources(&self, rec: &ContainerRecord) -> Vec<(CpSource, PathBuf, bool)> {
        rec.host
            .mounts
            .iter()
            .filter_map(|m: &MountSpec| {
                let source = match m.kind {
                    MountKind::Volume if !m.subpath.is_empty() => CpSource::Opened(
                        subpath::open(&self.volume_mountpoint(&m.source), &m.subpath).ok()?,
                    ),
                    MountKind::Volume => CpSource::Path(self.volume_mountpoint(&m.source)),
                    MountKind::Bind => CpSource::Path(PathBuf::from(&m.source)),
                    MountKind::Tmpfs => return None,
                };
                let is_dir = std::fs::metadata(source.path()).ok()?.is_dir();
                Some((source, PathBuf::from(&m.target), is_dir))
            })
            .collect()
    }
}

/// Where a mount for `cp` comes from: a host path, or a handle opened safely.
enum CpSource {
    Path(PathBuf),
    Opened(OwnedFd),
}

impl CpSource {
    /// A path to it; a handle's own, which stays it while the handle is open.
    fn path(&self) -> PathBuf {
        match self {
            CpSource::Path(p) => p.clone(),
            CpSource::Opened(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        }
    }
}

/// Binds `source` over `target` inside `root`, onto a handle of the target opened in the root.
fn mount_inside(root: &Path, source: &Path, target: &Path, is_dir: bool) -> Result<()> {
    let io = |e: std::io::Error| EngineError::io(format!("mount {} for cp", target.display()), e);
    let anchor = inroot::open_root(root).map_err(io)?;
    if is_dir {
        inroot::mkdir_all(root, target, 0o755).map_err(io)?;
    } else if let Some(parent) = target.parent() {
        inroot::mkdir_all(root, parent, 0o755).map_err(io)?;
        let flags = nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_WRONLY;
        let _ = inroot::open_at(
            &anchor,
            target,
            flags,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        );
    }
    let handle = inroot::open_path(&anchor, target, true).map_err(io)?;
    let kind = inroot::file_type(&handle).map_err(io)?;
    if (kind == SFlag::S_IFDIR) != is_dir {
        return Err(EngineError::InvalidArgument(format!(
            "cannot mount {} over {}: one is a directory, the other is not",
            source.display(),
            target.display()
        )));
    }
    let onto = format!("/proc/self/fd/{}", handle.as_raw_fd());
    mount(
        Some(source),
        onto.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| io(e.into()))
}
