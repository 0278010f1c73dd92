//! Rotation of a container's json-file log, as Docker's `max-size`, `max-file` and `compress`
//! options do: when the next entry would take the file past `max_size`, `container.log` is
//! renamed `container.log.<seq>` (seq one more than the last rotated file's) and a new file
//! starts; files beyond `max_file` go, oldest first, and with `compress` every rotated file but
//! the newest is gzipped (`.<seq>.gz`). Names never change once given (Docker shifts `.1`,
//! `.2`, …): a follower knows which file comes after the one it read, however many rotations
//! happened meanwhile. A follower (attach, `logs -f`) holds the log while it reads (a
//! `container.log.hold.*` marker): rotation then drops and compresses nothing, so it misses no
//! output however fast the container writes; the first rotation after the hold trims back.
//! With `max_file` 1 and no hold the old file is simply dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The rotation a container's log gets; `max_size` 0 means none (the file grows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub max_size: u64,
    /// Files kept, the current one included (at least 1).
    pub max_file: u32,
    pub compress: bool,
}

impl Rotation {
    /// Whether `written` bytes already in the file plus `next` call for a rotation first.
    pub fn is_due(&self, written: u64, next: usize) -> bool {
        self.max_size > 0 && written > 0 && written + next as u64 > self.max_size
    }
}

/// The rotated file `seq` of the log at `path` (higher is newer).
pub fn rotated(path: &Path, seq: u32, gz: bool) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{seq}"));
    if gz {
        name.push(".gz");
    }
    PathBuf::from(name)
}

/// The rotated files beside the log at `path`: (seq, gzipped), oldest first.
pub fn rotated_files(path: &Path) -> Vec<(u32, bool)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut out: Vec<(u32, bool)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let rest = file.strip_prefix(&prefix)?;
            let gz = rest.ends_with(".gz");
            rest.strip_suffix(".gz")
                .unwrap_or(rest)
                .parse()
                .ok()
                .map(|n| (n, gz))
        })
        .collect();
    out.sort_unstable();
    out.dedup_by_key(|(n, _)| *n);
    out
}

/// The marker a follower of the log at `path` leaves while it reads.
pub fn hold_marker(path: &Path, id: u64) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".hold.{id:016x}"));
    PathBuf::from(name)
}

/// Removes the holds of followers that are gone (berthd's start: none of its old ones live).
pub fn clear_holds(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!("{}.hold.", name.to_string_lossy());
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Woken each time one of this process's followers lets go of a log: `--rm` removes the
/// container as soon as the last one has, instead of finding out at its next look.
static RELEASED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Waits until no follower holds the log at `path`, or `patience` has passed.
pub async fn wait_unheld(path: &Path, patience: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        // Registered before the look, so a release between the two is not missed.
        let released = RELEASED.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if !is_held(path) {
            return;
        }
        // A hold left by another process (none today) is found by looking again.
        let look_again = tokio::time::Instant::now() + std::time::Duration::from_millis(100);
        tokio::select! {
            () = released => {}
            () = tokio::time::sleep_until(look_again.min(deadline)) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
    }
}

/// A follower's hold on the log at a path, released when dropped: the last one to go trims
/// what the holds kept.
pub struct Hold {
    marker: PathBuf,
    log: PathBuf,
    rotation: Rotation,
}

impl Hold {
    /// Holds the log at `path`, rotated as `rotation` says (best effort: without the marker,
    /// a slow follower may miss files rotation drops).
    pub fn new(path: &Path, rotation: Rotation) -> Hold {
        let marker = hold_marker(path, rand::random());
        let _ = fs::write(&marker, b"");
        Hold {
            marker,
            log: path.to_path_buf(),
            rotation,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.marker);
        if self.rotation.max_size > 0 && !is_held(&self.log) {
            let _ = trim(&self.log, &self.rotation);
        }
        RELEASED.notify_waiters();
    }
}

/// Whether a follower holds the log at `path`.
pub fn is_held(path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let prefix = format!("{}.hold.", name.to_string_lossy());
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
    })
}

/// Rotates the log at `path` and returns the new, empty file to append to.
pub fn rotate(path: &Path, r: &Rotation) -> io::Result<File> {
    let seq = rotated_files(path).last().map_or(1, |(n, _)| n + 1);
    fs::rename(path, rotated(path, seq, false))?;
    if !is_held(path) {
        trim(path, r)?;
    }
    open_log(path)
}

/// Brings the rotated files back to what `r` keeps: the oldest beyond `max_file - 1` go, and
/// with `compress` all but the newest are gzipped. Done at each rotation, and by the last
/// follower letting go of its hold.
pub fn trim(path: &Path, r: &Rotation) -> io::Result<()> {
    let all = rotated_files(path);
    let keep = usize::try_from(r.max_file.saturating_sub(1)).unwrap_or(usize::MAX);
    let drop = all.len().saturating_sub(keep);
    for (n, gz) in &all[..drop] {
        let _ = fs::remove_file(rotated(path, *n, *gz));
    }
    if r.compress {
        // All kept files but the newest, which a follower may still be reading plain.
        let kept = &all[drop..];
        for (n, gz) in kept.iter().take(kept.len().saturating_sub(1)) {
            if !gz {
                compress(&rotated(path, *n, false))?;
            }
        }
    }
    Ok(())
}

/// Opens (creating) a container log for appending, readable by root only.
pub fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// `file` → `file.gz` (written aside and renamed), then `file` goes.
fn compress(file: &Path) -> io::Result<()> {
    let mut gz_name = file.as_os_str().to_os_string();
    gz_name.push(".gz");
    let gz = PathBuf::from(gz_name);
    // Unique: the monitor and a follower letting go of its hold may trim at once.
    let mut tmp_name = gz.as_os_str().to_os_string();
    tmp_name.push(format!(
        ".tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let tmp = PathBuf::from(tmp_name);
    {
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::fast());
        io::copy(&mut File::open(file)?, &mut enc)?;
        enc.finish()?.flush()?;
    }
    fs::rename(&tmp, &gz)?;
    fs::remove_file(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn rotate_rounds(log: &Path, r: &Rotation, rounds: std::ops::RangeInclusive<u32>) {
        for round in rounds {
            fs::write(log, format!("round {round}\n")).unwrap();
            rotate(log, r).unwrap();
        }
    }

    #[test]
    fn rotation_names_files_by_sequence_drops_the_oldest_and_compresses() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        let r = Rotation {
            max_size: 10,
            max_file: 3,
            compress: true,
        };
        rotate_rounds(&log, &r, 1..=4);
        assert_eq!(fs::read(&log).unwrap(), b"");
        assert_eq!(rotated_files(&log), vec![(3, true), (4, false)]);
        assert_eq!(
            fs::read_to_string(rotated(&log, 4, false)).unwrap(),
            "round 4\n"
        );
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(rotated(&log, 3, true)).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "round 3\n");
    }

    #[test]
    fn a_held_log_keeps_every_file_until_the_hold_goes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        let r = Rotation {
            max_size: 10,
            max_file: 2,
            compress: true,
        };
        let hold = Hold::new(&log, r);
        rotate_rounds(&log, &r, 1..=4);
        assert_eq!(
            rotated_files(&log),
            vec![(1, false), (2, false), (3, false), (4, false)]
        );
        drop(hold);
        assert_eq!(
            rotated_files(&log),
            vec![(4, false)],
            "trimmed as the hold goes"
        );
        rotate_rounds(&log, &r, 5..=5);
        assert_eq!(rotated_files(&log), vec![(5, false)], "back to max-file");
    }

    #[test]
    fn a_single_file_is_just_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        let r = Rotation {
            max_size: 1,
            max_file: 1,
            compress: false,
        };
        rotate_rounds(&log, &r, 1..=2);
        assert_eq!(fs::read(&log).unwrap(), b"");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(r.is_due(4, 1) && !r.is_due(0, 100));
        assert!(!Rotation::default().is_due(u64::MAX / 2, 1));
    }

    /// `--rm` waits for attached clients: it goes on the moment the last one lets go. The
    /// clock is tokio's paused one, so "no time passed" means no timer woke the wait (it used
    /// to look every 20 ms, which was 20 ms on most `run --rm`).
    #[tokio::test(start_paused = true)]
    async fn the_wait_for_followers_ends_when_the_last_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        fs::write(&log, b"").unwrap();
        let holds = [
            Hold::new(&log, Rotation::default()),
            Hold::new(&log, Rotation::default()),
        ];
        let path = log.clone();
        let waiter = tokio::spawn(async move {
            wait_unheld(&path, std::time::Duration::from_secs(10)).await;
            tokio::time::Instant::now()
        });
        tokio::task::yield_now().await;
        let [first, last] = holds;
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one follower still reads");
        let released = tokio::time::Instant::now();
        drop(last);
        assert_eq!(waiter.await.unwrap(), released);
        assert!(!is_held(&log));
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_for_followers_gives_up_after_its_patience() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        let _hold = Hold::new(&log, Rotation::default());
        let started = tokio::time::Instant::now();
        wait_unheld(&log, std::time::Duration::from_secs(10)).await;
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(10));
    }
}
