//! Wakes log followers (`logs -f`, attach) when their container's directory changes: the
//! monitor appended to `container.log`, rotated it or started a new one. Docker's json-file
//! follower waits on inotify the same way. One inotify instance serves the whole daemon (an
//! instance per follower would use up root's 128 instances and fail other programs), with a
//! watch per followed directory, shared by its followers.
//!
//! Best effort: without inotify, or once a watch is gone (its directory removed, the event
//! queue overflowed), followers go on looking on their own, as before.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

/// What changes a followed directory: appends, and the renames and creations of a rotation.
const EVENTS: u32 =
    libc::IN_MODIFY | libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_MOVED_FROM | libc::IN_DELETE;

/// The daemon's instance, made by the first follower (inside the runtime), and again if the
/// runtime it read its events on went (tests run one runtime after another).
static WATCHER: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

struct Shared {
    fd: AsyncFd<OwnedFd>,
    /// Whether the task reading the events still runs.
    reading: AtomicBool,
    /// The directories watched, by watch descriptor.
    dirs: Mutex<HashMap<i32, Dir>>,
}

struct Dir {
    /// Counts the directory's changes; each follower holds a receiver.
    changes: watch::Sender<u64>,
    followers: usize,
}

/// One follower's watch of a directory; ends the kernel's watch with the last follower.
pub struct Watch {
    shared: Arc<Shared>,
    wd: i32,
    changes: watch::Receiver<u64>,
}

/// Watches `dir` for a follower; `None` when inotify is unavailable (the follower polls).
pub fn watch_dir(dir: &Path) -> Option<Watch> {
    let shared = {
        let mut current = WATCHER.lock().ok()?;
        match current.as_ref() {
            Some(s) if s.reading.load(Ordering::Acquire) => Arc::clone(s),
            _ => {
                let s = start()?;
                *current = Some(Arc::clone(&s));
                s
            }
        }
    };
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut dirs = shared.dirs.lock().ok()?;
    // SAFETY: a valid descriptor and a NUL-terminated path that outlives the call. Adding a
    // directory already watched returns its existing descriptor.
    let wd = unsafe { libc::inotify_add_watch(shared.fd.as_raw_fd(), path.as_ptr(), EVENTS) };
    if wd < 0 {
        tracing::debug!(dir = %dir.display(), error = %std::io::Error::last_os_error(), "log watch not added");
        return None;
    }
    let entry = dirs.entry(wd).or_insert_with(|| Dir {
        changes: watch::channel(0).0,
        followers: 0,
    });
    entry.followers += 1;
    let changes = entry.changes.subscribe();
    drop(dirs);
    Some(Watch {
        shared,
        wd,
        changes,
    })
}

impl Watch {
    /// Whether changes still wake `changed`: not once the directory went or the events stopped
    /// being read (the follower then looks on its own as often as without a watch).
    pub fn live(&self) -> bool {
        self.shared.reading.load(Ordering::Acquire) && self.changes.has_changed().is_ok()
    }

    /// Returns after the directory changed since the last return (at once if it did
    /// meanwhile); never, once the watch is gone.
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Ok(mut dirs) = self.shared.dirs.lock() else {
            return;
        };
        let Some(dir) = dirs.get_mut(&self.wd) else {
            return; // the kernel ended it (the directory went)
        };
        // The same descriptor number, reused for another directory after the kernel ended this
        // one, would have a channel this follower does not share.
        if !self.changes.same_channel(&dir.changes.subscribe()) {
            return;
        }
        dir.followers = dir.followers.saturating_sub(1);
        if dir.followers == 0 {
            dirs.remove(&self.wd);
            // SAFETY: plain system call on our own descriptor.
            unsafe { libc::inotify_rm_watch(self.shared.fd.as_raw_fd(), self.wd) };
        }
    }
}

/// Makes the instance and the task that reads its events.
fn start() -> Option<Arc<Shared>> {
    tokio::runtime::Handle::try_current().ok()?;
    // SAFETY: plain system call; its descriptor is owned from here on.
    let fd = crate::runtime::syscall_fd::fd_of(libc::c_long::from(unsafe {
        libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC)
    }));
    let fd = match fd {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!(error = %e, "no inotify: log followers poll");
            return None;
        }
    };
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open and the same for the
    // AsyncFd's whole life.
    let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()?;
    let shared = Arc::new(Shared {
        fd,
        reading: AtomicBool::new(true),
        dirs: Mutex::new(HashMap::new()),
    });
    tokio::spawn(read_events(Arc::clone(&shared)));
    Some(shared)
}

/// Marks the reading over however the task ends, also dropped with its runtime.
struct Reading(Arc<Shared>);

impl Drop for Reading {
    fn drop(&mut self) {
        self.0.reading.store(false, Ordering::Release);
    }
}

async fn read_events(shared: Arc<Shared>) {
    let reading = Reading(shared);
    let shared = &reading.0;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(mut ready) = shared.fd.readable().await else {
            return;
        };
        // SAFETY: reads into a buffer we own, at most its length.
        let n = unsafe { libc::read(shared.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                ready.clear_ready();
                continue;
            }
            tracing::warn!(error = %e, "log watch failed: followers poll");
            return;
        }
        let Ok(mut dirs) = shared.dirs.lock() else {
            return;
        };
        for (wd, mask) in events(buf.get(..usize::try_from(n).unwrap_or(0)).unwrap_or(&[])) {
            if mask & libc::IN_Q_OVERFLOW != 0 {
                // Events were lost: wake every follower to look.
                for dir in dirs.values() {
                    dir.changes.send_modify(|c| *c += 1);
                }
            } else if mask & libc::IN_IGNORED != 0 {
                // The directory went: its followers see the channel close.
                dirs.remove(&wd);
            } else if let Some(dir) = dirs.get(&wd) {
                dir.changes.send_modify(|c| *c += 1);
            }
        }
    }
}

/// The watch descriptor and mask of each event in `buf` (`struct inotify_event`: wd, mask,
/// cookie, len, then `len` bytes of name).
fn events(buf: &[u8]) -> impl Iterator<Item = (i32, u32)> + '_ {
    const HEADER: usize = 16;
    let mut rest = buf;
    std::iter::from_fn(move || {
        let header = rest.get(..HEADER)?;
        let word = |i: usize| -> Option<[u8; 4]> { header.get(i..i + 4)?.try_into().ok() };
        let wd = i32::from_ne_bytes(word(0)?);
        let mask = u32::from_ne_bytes(word(4)?);
        let len = usize::try_from(u32::from_ne_bytes(word(12)?)).ok()?;
        rest = rest.get(HEADER.checked_add(len)?..).unwrap_or(&[]);
        Some((wd, mask))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_a_rename_and_a_new_file_each_wake_every_follower_of_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("container.log");
        std::fs::write(&log, b"").unwrap();
        let mut first = watch_dir(dir.path()).unwrap();
        let mut second = watch_dir(dir.path()).unwrap();
        assert_eq!(first.wd, second.wd, "one kernel watch, shared");

        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"line\n"))
            .unwrap();
        first.changed().await;
        second.changed().await;

        std::fs::rename(&log, dir.path().join("container.log.1")).unwrap();
        first.changed().await;
        std::fs::write(&log, b"").unwrap();
        first.changed().await;

        // The last follower ends the kernel's watch.
        let (shared, wd) = (Arc::clone(&first.shared), first.wd);
        drop(first);
        assert_eq!(followers(&shared).get(&wd), Some(&1));
        drop(second);
        assert!(!followers(&shared).contains_key(&wd));
    }

    #[tokio::test]
    async fn a_removed_directory_ends_its_watch_without_waking_anyone_forever() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let mut w = watch_dir(&path).unwrap();
        let (shared, wd) = (Arc::clone(&w.shared), w.wd);
        assert!(w.live());
        drop(dir);
        // The kernel ends the watch.
        while followers(&shared).contains_key(&wd) {
            tokio::task::yield_now().await;
        }
        // Gone: the follower waits no more on it (its own look takes over).
        let woken = tokio::select! {
            () = w.changed() => true,
            () = tokio::task::yield_now() => false,
        };
        assert!(!woken);
        assert!(!w.live(), "its follower goes back to looking often");
        drop(w);
    }

    #[test]
    fn events_are_read_one_after_the_other_and_a_short_buffer_ends_them() {
        let mut buf = Vec::new();
        for (wd, mask, name) in [
            (3i32, libc::IN_MODIFY, &b"container.log\0\0\0"[..]),
            (4, libc::IN_IGNORED, &b""[..]),
        ] {
            buf.extend_from_slice(&wd.to_ne_bytes());
            buf.extend_from_slice(&mask.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&u32::try_from(name.len()).unwrap().to_ne_bytes());
            buf.extend_from_slice(name);
        }
        let got: Vec<_> = events(&buf).collect();
        assert_eq!(got, vec![(3, libc::IN_MODIFY), (4, libc::IN_IGNORED)]);
        assert_eq!(events(&buf[..10]).count(), 0);
        // A length past the end: that event, and nothing after it.
        let mut bad = buf[..16].to_vec();
        bad[12..16].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(events(&bad).count(), 1);
    }

    fn followers(shared: &Shared) -> HashMap<i32, usize> {
        shared
            .dirs
            .lock()
            .unwrap()
            .iter()
            .map(|(wd, d)| (*wd, d.followers))
            .collect()
    }
}
