//! `diff`: what a container changed in its filesystem, read from its overlay upper directory.
//! A whiteout (a 0/0 character device) is a deletion; a path that also exists in an image layer
//! is a change; anything else was added. Parents of a change are changed too, as Docker shows.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::Result;

/// Docker's change kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl Engine {
    /// The container's changes, sorted by path.
    pub async fn changes(&self, key: &str) -> Result<Vec<(String, ChangeKind)>> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        let image = self.images.resolve(&rec.config.image_id)?;
        let layers = self.images.layer_dirs(&image)?;
        let upper = self.paths.container_dir(&rec.id).join("upper");
        tokio::task::spawn_blocking(move || changes_in(&upper, &layers))
            .await
            .map_err(|e| crate::EngineError::Internal(format!("changes task: {e}")))
    }
}

/// Walks `upper` against the image `layers` (bottom first).
pub fn changes_in(upper: &Path, layers: &[PathBuf]) -> Vec<(String, ChangeKind)> {
    let mut out: BTreeMap<String, ChangeKind> = BTreeMap::new();
    walk(upper, Path::new("/"), layers, &mut out);
    // The runtime's mount points for the files berth generates are not the user's changes
    // (Docker leaves them out too)…
    for p in RUNTIME_MOUNT_POINTS {
        if std::fs::metadata(upper.join(&p[1..])).is_ok_and(|m| m.len() == 0) {
            out.remove(*p);
        }
    }
    // …and a directory is only changed because of what it holds when something is left in it.
    let paths: Vec<String> = out.keys().cloned().collect();
    out.retain(|p, kind| {
        let is_dir = upper.join(&p[1..]).is_dir();
        let prefix = format!("{p}/");
        *kind != ChangeKind::Modified || !is_dir || paths.iter().any(|q| q.starts_with(&prefix))
    });
    out.into_iter().collect()
}

/// Files the runtime bind-mounts over, created empty in the upper directory.
const RUNTIME_MOUNT_POINTS: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

fn walk(dir: &Path, at: &Path, layers: &[PathBuf], out: &mut BTreeMap<String, ChangeKind>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = at.join(e.file_name());
        let Ok(md) = e.metadata() else { continue };
        let rel = path.strip_prefix("/").unwrap_or(&path);
        let in_image = layers
            .iter()
            .any(|l| l.join(rel).symlink_metadata().is_ok());
        let kind = if md.file_type().is_char_device() && md.rdev() == 0 {
            ChangeKind::Deleted
        } else if in_image {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        // A directory that only exists in upper because something below it changed is shown
        // as changed once, not re-reported for every child.
        out.entry(path.display().to_string()).or_insert(kind);
        if md.is_dir() && kind != ChangeKind::Deleted {
            walk(&e.path(), &path, layers, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_and_deleted_paths_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let (layer, upper) = (tmp.path().join("layer"), tmp.path().join("upper"));
        std::fs::create_dir_all(layer.join("etc")).unwrap();
        std::fs::write(layer.join("etc/passwd"), "root").unwrap();
        std::fs::write(layer.join("etc/gone"), "x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "root2").unwrap();
        std::fs::write(upper.join("new"), "n").unwrap();
        nix::sys::stat::mknod(
            &upper.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .ok();
        let c = changes_in(&upper, &[layer]);
        let get = |p: &str| c.iter().find(|(x, _)| x == p).map(|(_, k)| *k);
        assert_eq!(get("/etc"), Some(ChangeKind::Modified));
        assert_eq!(get("/etc/passwd"), Some(ChangeKind::Modified));
        assert_eq!(get("/new"), Some(ChangeKind::Added));
        if nix::unistd::geteuid().is_root() {
            assert_eq!(get("/etc/gone"), Some(ChangeKind::Deleted));
        }
    }
}
