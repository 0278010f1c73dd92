//! Disk faults: a node's data root on a small tmpfs (`NodeOptions::data_root_mib`) that a
//! test fills up with a file of its own, and frees again. The tmpfs is mounted under the
//! cluster's directory, so the teardown (and a sweep) unmounts it with everything else.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::error::ClusterError;
use crate::harness::Cluster;

/// The filler's name in the data root (berthd never makes such a file).
const FILLER: &str = "chaos-disk-filler";

/// Mounts a tmpfs of `mib` MiB on `dir` (private to the host's mount namespace).
pub(crate) fn mount_tmpfs(dir: &Path, mib: u64) -> Result<(), ClusterError> {
    let options = format!("size={mib}m,mode=0711");
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| ClusterError::io("mount tmpfs on", dir)(e.into()))
}

/// A full data root; `free` (or dropping it) removes the filler.
#[derive(Debug)]
pub struct DiskFill {
    path: PathBuf,
    bytes: u64,
}

impl DiskFill {
    /// How many bytes the filler took.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Removes the filler: the space is free again.
    pub fn free(mut self) -> Result<(), ClusterError> {
        let path = std::mem::take(&mut self.path);
        std::fs::remove_file(&path).map_err(ClusterError::io("remove", &path))
    }
}

impl Drop for DiskFill {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Cluster {
    /// Fills node `index`'s data root until a write fails with ENOSPC (in big chunks, then
    /// in small ones, so even a small write of berthd's fails afterwards).
    pub fn fill_disk(&self, index: usize) -> Result<DiskFill, ClusterError> {
        let path = self.try_node(index)?.data_root().join(FILLER);
        let mut file = File::create(&path).map_err(ClusterError::io("create", &path))?;
        let mut fill = DiskFill {
            path: path.clone(),
            bytes: 0,
        };
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0xa5u8; chunk];
            loop {
                match file.write(&block) {
                    Ok(0) => break,
                    Ok(n) => fill.bytes += n as u64,
                    Err(e) if e.kind() == ErrorKind::StorageFull => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(ClusterError::io("fill", &path)(e)),
                }
            }
        }
        Ok(fill)
    }
}
