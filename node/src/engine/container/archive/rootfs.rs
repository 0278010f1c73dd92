//! A container's root filesystem for `cp`, `export` and copy-up: the running container's own
//! mount, or the overlay mounted for the operation when it is not running. A start waits for
//! such a mount to go (the handle's mount lock), so two overlays never share one upper
//! directory.

use std::path::PathBuf;

use nix::mount::{umount2, MntFlags};
use tokio::sync::OwnedMutexGuard;

use crate::engine::Engine;
use crate::error::Result;
use crate::runtime::overlay::{mount_layers, Writes};

/// A container's root filesystem, mounted for as long as this lives when the container was
/// not running.
pub struct Rootfs {
    pub root: PathBuf,
    /// Held while berthd's own mount is up; `None` for a running container's rootfs.
    mounted_here: Option<OwnedMutexGuard<()>>,
}

impl Rootfs {
    /// A filesystem someone else keeps mounted (a running container's namespace).
    pub(super) fn view_of(root: PathBuf) -> Rootfs {
        Rootfs {
            root,
            mounted_here: None,
        }
    }

    /// Whether this is the running container's own mount, not one made for the operation.
    pub(super) fn is_borrowed(&self) -> bool {
        self.mounted_here.is_none()
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        if self.mounted_here.is_some() {
            let _ = umount2(&self.root, MntFlags::MNT_DETACH);
        }
    }
}

impl Engine {
    /// The container's rootfs, mounting it when the container is not running.
    pub(crate) async fn rootfs(&self, key: &str) -> Result<Rootfs> {
        let handle = self.lookup(key)?;
        let rec = handle.lock().await;
        if rec.state.status.is_running() {
            return Ok(Rootfs {
                root: self.paths.running_rootfs(&rec.id),
                mounted_here: None,
            });
        }
        let dir = self.paths.container_dir(&rec.id);
        let root = self.paths.rootfs_dir(&rec.id);
        // Taken under the record lock, as `start` takes it: the lock order is record, mount.
        let guard = handle.mount_lock().await;
        let image = self.images.resolve(&rec.config.image_id)?;
        let layers = self.images.layer_dirs(&image)?;
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let writes = Writes::To {
            upper: &upper,
            work: &work,
        };
        mount_layers(&root, &layers, writes)?;
        Ok(Rootfs {
            root,
            mounted_here: Some(guard),
        })
    }
}
