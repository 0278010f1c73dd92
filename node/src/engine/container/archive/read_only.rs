//! Whether a copy into a container may write where it asks, decided up front as Docker does
//! (moby's `checkIfPathIsInAVolume`): a destination inside one of the container's mounts takes
//! that mount's mode; anywhere else, the root filesystem's. Refused before anything is read,
//! so even an empty archive gets the same answer. A `HostConfig.Tmpfs` mount is not among
//! moby's mount points, so a copy into it follows the root's mode, as in Docker.

use crate::engine::container::types::ContainerRecord;

/// Docker's words (a 500 in Docker 20.10) for a destination in a read-only root filesystem.
pub const ROOTFS_READ_ONLY: &str = "container rootfs is marked read-only";
/// Docker's words for a destination in a read-only mount.
pub const VOLUME_READ_ONLY: &str = "mounted volume is marked read-only";

/// Why a copy into `path` (absolute, in the container) is refused, if it is. The path is
/// taken as written, as Docker takes it; the deepest mount holding it decides (Docker takes the
/// first its map gives).
pub fn refusal(rec: &ContainerRecord, path: &str) -> Option<&'static str> {
    let path = lexical(path);
    let holder = rec
        .host
        .mounts
        .iter()
        .filter(|m| !m.origin.is_host_config_tmpfs())
        .map(|m| (m, lexical(&m.target)))
        .filter(|(_, target)| within(&path, target))
        .max_by_key(|(_, target)| target.len());
    match holder {
        Some((m, _)) if m.read_only => Some(VOLUME_READ_ONLY),
        Some(_) => None,
        None if rec.host.read_only => Some(ROOTFS_READ_ONLY),
        None => None,
    }
}

/// `path`'s components without `.`, `..` (none above the root) and empty ones.
fn lexical(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out
}

fn within(path: &[&str], dir: &[&str]) -> bool {
    path.starts_with(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::volume::{MountKind, MountOrigin, MountSpec};

    fn rec(read_only: bool, mounts: &[(&str, bool)]) -> ContainerRecord {
        let mut r = ContainerRecord::default();
        r.host.read_only = read_only;
        r.host.mounts = mounts
            .iter()
            .map(|(target, ro)| MountSpec {
                kind: MountKind::Volume,
                target: (*target).into(),
                read_only: *ro,
                ..Default::default()
            })
            .collect();
        r
    }

    #[test]
    fn the_mount_holding_the_destination_decides_else_the_root() {
        let r = rec(
            true,
            &[("/data", false), ("/data/ro", true), ("/cfg/", true)],
        );
        assert_eq!(refusal(&r, "/"), Some(ROOTFS_READ_ONLY));
        assert_eq!(refusal(&r, "/tmp"), Some(ROOTFS_READ_ONLY));
        assert_eq!(refusal(&r, "/database"), Some(ROOTFS_READ_ONLY));
        assert_eq!(refusal(&r, "/data"), None);
        assert_eq!(refusal(&r, "/data/x/"), None);
        assert_eq!(refusal(&r, "/data/ro/x"), Some(VOLUME_READ_ONLY));
        assert_eq!(refusal(&r, "/data/./ro"), Some(VOLUME_READ_ONLY));
        assert_eq!(refusal(&r, "/data/ro/../x"), None);
        assert_eq!(refusal(&r, "/../../cfg"), Some(VOLUME_READ_ONLY));

        let rw = rec(false, &[("/cfg", true)]);
        assert_eq!(refusal(&rw, "/etc"), None);
        assert_eq!(refusal(&rw, "/cfg/a"), Some(VOLUME_READ_ONLY));
    }

    #[test]
    fn a_tmpfs_from_host_config_follows_the_root_as_in_moby() {
        let mut r = rec(true, &[]);
        r.host.mounts.push(MountSpec {
            kind: MountKind::Tmpfs,
            target: "/t".into(),
            origin: MountOrigin::TmpfsEntry {
                target: "/t/".into(),
                options: String::new(),
            },
            ..Default::default()
        });
        // A record from before the target was kept.
        r.host.mounts.push(MountSpec {
            kind: MountKind::Tmpfs,
            target: "/u".into(),
            origin: MountOrigin::Tmpfs(String::new()),
            ..Default::default()
        });
        r.host.mounts.push(MountSpec {
            kind: MountKind::Tmpfs,
            target: "/m".into(),
            ..Default::default()
        });
        assert_eq!(refusal(&r, "/t/x"), Some(ROOTFS_READ_ONLY));
        assert_eq!(refusal(&r, "/u/x"), Some(ROOTFS_READ_ONLY));
        assert_eq!(
            refusal(&r, "/m/x"),
            None,
            "a --mount type=tmpfs is a mount point"
        );
    }
}
