//! Pausing a container with the cgroup freezer: v1's `freezer.state` or v2's `cgroup.freeze`,
//! whichever the container's cgroup directories have. Waits until the kernel says the whole
//! group is frozen, as runc does, so `paused` means no task runs any more.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a freeze may take before it is reported as failed (and undone).
const FREEZE_PATIENCE: Duration = Duration::from_secs(5);

/// Freezes every task of the container whose cgroup directories are `dirs`.
pub fn freeze(dirs: &[PathBuf]) -> io::Result<()> {
    let (dir, v2) = freezer_dir(dirs)?;
    let deadline = Instant::now() + FREEZE_PATIENCE;
    loop {
        if v2 {
            std::fs::write(dir.join("cgroup.freeze"), "1")?;
            let events = std::fs::read_to_string(dir.join("cgroup.events"))?;
            if events.lines().any(|l| l.trim() == "frozen 1") {
                return Ok(());
            }
        } else {
            std::fs::write(dir.join("freezer.state"), "FROZEN")?;
            if std::fs::read_to_string(dir.join("freezer.state"))?.trim() == "FROZEN" {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            let _ = thaw(dirs);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the cgroup did not freeze",
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Lets the container's tasks run again.
pub fn thaw(dirs: &[PathBuf]) -> io::Result<()> {
    let (dir, v2) = freezer_dir(dirs)?;
    if v2 {
        std::fs::write(dir.join("cgroup.freeze"), "0")
    } else {
        std::fs::write(dir.join("freezer.state"), "THAWED")
    }
}

/// The directory with a freezer and whether it is v2.
fn freezer_dir(dirs: &[PathBuf]) -> io::Result<(&Path, bool)> {
    dirs.iter()
        .find_map(|d| {
            if d.join("freezer.state").exists() {
                Some((d.as_path(), false))
            } else if d.join("cgroup.freeze").exists() {
                Some((d.as_path(), true))
            } else {
                None
            }
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no freezer cgroup for the container",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_directories_are_frozen_and_thawed_through_freezer_state() {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = tmp.path().join("freezer/berth/c");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("freezer.state"), "THAWED").unwrap();
        let dirs = vec![tmp.path().join("memory/berth/c"), v1.clone()];
        freeze(&dirs).unwrap();
        assert_eq!(
            std::fs::read_to_string(v1.join("freezer.state")).unwrap(),
            "FROZEN"
        );
        thaw(&dirs).unwrap();
        assert_eq!(
            std::fs::read_to_string(v1.join("freezer.state")).unwrap(),
            "THAWED"
        );
    }

    #[test]
    fn a_container_without_a_freezer_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(freeze(&[tmp.path().join("x")]).is_err());
    }
}
