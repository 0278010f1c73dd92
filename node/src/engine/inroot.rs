//! Opening files inside an untrusted root (a container's rootfs, an image layer) from berthd.
//! Every lookup is one `openat2(RESOLVE_IN_ROOT)`: the kernel resolves each symlink as if the
//! root were `/`, atomically, so a path can never leave the root, even while a container swaps
//! its components. Files are first opened `O_PATH` (no side effect, whatever the node is) and
//! only a regular file is ever read, so a FIFO, a device or `/dev/zero` can neither block nor
//! flood the daemon. Blocking calls: run them off the async workers.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

/// Tries of a scoped lookup the kernel gave up on (`EAGAIN`) before it is reported.
const RESOLVE_TRIES: usize = 64;

/// `openat2` with `RESOLVE_IN_ROOT` or `RESOLVE_BENEATH`, tried again when the kernel answers
/// `EAGAIN`: it does when a mount or a rename anywhere on the host races a `..` in the path
/// (it cannot then prove the walk stayed inside), and a busy host mounts all the time.
pub fn openat2_scoped<P: ?Sized + nix::NixPath>(
    dirfd: impl AsFd,
    path: &P,
    how: OpenHow,
) -> nix::Result<OwnedFd> {
    retry_eagain(|| openat2(dirfd.as_fd(), path, how))
}

/// `op` until it answers something else than `EAGAIN`, at most `RESOLVE_TRIES` times.
fn retry_eagain<T>(mut op: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    let mut tries = 1;
    loop {
        match op() {
            Err(Errno::EAGAIN) if tries < RESOLVE_TRIES => tries += 1,
            done => return done,
        }
    }
}

/// Opens `root` itself (a host path berthd chose) as the anchor of later lookups.
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
    Ok(openat2(nix::fcntl::AT_FDCWD, root, how)?)
}

/// Opens `path` (absolute or relative, read as inside the root) under `root` with `flags`
/// (`O_CLOEXEC` is added). Magic links (`/proc/self/…` inside a container) are refused.
pub fn open_at(root: impl AsFd, path: &Path, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    Ok(openat2_scoped(root, path, how)?)
}

/// An `O_PATH` handle on `path` in the root; a final symlink is followed (inside the root) only
/// when `follow_last`.
pub fn open_path(root: impl AsFd, path: &Path, follow_last: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlag::O_PATH;
    if !follow_last {
        flags |= OFlag::O_NOFOLLOW;
    }
    open_at(root, path, flags, Mode::empty())
}

/// What kind of node an open handle names.
pub fn file_type(fd: impl AsFd) -> io::Result<SFlag> {
    let st = fstat(fd)?;
    Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

/// Opens the very node an `O_PATH` handle names, for reading, through `/proc/self/fd` (the
/// handle, not a path, so nothing can be swapped in between). The caller has checked its type.
pub fn reopen_for_read(fd: &OwnedFd) -> io::Result<File> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK);
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(File::from(openat2(
        nix::fcntl::AT_FDCWD,
        path.as_str(),
        how,
    )?))
}

/// Opens the directory an `O_PATH` handle names, for listing, the same way.
pub fn reopen_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    let how = OpenHow::new().flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(openat2(nix::fcntl::AT_FDCWD, path.as_str(), how)?)
}

/// The names in the directory a handle names (not `.` and `..`), through `/proc/self/fd`: the
/// magic link is that very directory, whatever happened to its path since.
pub fn list_dir(fd: &OwnedFd) -> io::Result<Vec<std::ffi::OsString>> {
    std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect()
}

/// Makes directory `path` and its missing parents inside `root` (mode `mode`, the caller's
/// owner), each looked up inside the root; a component that exists and is not a directory is
/// `ENOTDIR`.
pub fn mkdir_all(root: &Path, path: &Path, mode: u32) -> io::Result<()> {
    let anchor = open_root(root)?;
    let mut done = std::path::PathBuf::from("/");
    for part in path.components() {
        let std::path::Component::Normal(part) = part else {
            continue;
        };
        let next = done.join(part);
        match open_path(&anchor, &next, true) {
            Ok(fd) if file_type(&fd)? == SFlag::S_IFDIR => {}
            Ok(_) => return Err(Errno::ENOTDIR.into()),
            Err(e) if is_missing(&e) => {
                let parent = open_path(&anchor, &done, true)?;
                match nix::sys::stat::mkdirat(&parent, part, Mode::from_bits_truncate(mode)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
        done = next;
    }
    Ok(())
}

/// What a rooted read of a small file found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A regular file's bytes.
    Bytes(Vec<u8>),
    /// Nothing there (or a parent is not a directory).
    Missing,
    /// Something that is not a regular file: a FIFO, a device, a socket, a directory, an
    /// overlay whiteout. Never opened for reading.
    NotRegular(SFlag),
}

/// Reads `path` inside `root` when it is a regular file of at most `limit` bytes (following
/// symlinks inside the root); larger files are an `InvalidData` error.
pub fn read_small_file(root: &Path, path: &Path, limit: u64) -> io::Result<Found> {
    let anchor = open_root(root)?;
    let handle = match open_path(&anchor, path, true) {
        Ok(fd) => fd,
        Err(e) if is_missing(&e) => return Ok(Found::Missing),
        Err(e) => return Err(e),
    };
    let kind = file_type(&handle)?;
    if kind != SFlag::S_IFREG {
        return Ok(Found::NotRegular(kind));
    }
    let mut bytes = Vec::new();
    reopen_for_read(&handle)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(Found::Bytes(bytes))
}

/// Whether a lookup failed because the path is not there (ENOENT, or a parent that is not a
/// directory).
pub fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::ENOENT | Errno::ENOTDIR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_the_kernel_gave_up_on_is_tried_again_then_reported() {
        let mut calls = 0;
        let got = retry_eagain(|| {
            calls += 1;
            if calls < 3 {
                Err(Errno::EAGAIN)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(got, Ok(3), "two races, then the answer");
        let mut calls = 0;
        let got: nix::Result<()> = retry_eagain(|| {
            calls += 1;
            Err(Errno::EAGAIN)
        });
        assert_eq!((got, calls), (Err(Errno::EAGAIN), RESOLVE_TRIES));
        assert_eq!(
            retry_eagain(|| Err::<(), _>(Errno::ENOENT)),
            Err(Errno::ENOENT)
        );
    }
    use std::os::unix::fs::symlink;

    fn root_with_etc() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        (dir, root)
    }

    #[test]
    fn a_regular_file_is_read_through_symlinks_inside_the_root() {
        let (_dir, root) = root_with_etc();
        std::fs::write(root.join("etc/real"), "root:x:0:0::/:/bin/sh\n").unwrap();
        symlink("/etc/real", root.join("etc/passwd")).unwrap();
        let got = read_small_file(&root, Path::new("/etc/passwd"), 1024).unwrap();
        assert_eq!(got, Found::Bytes(b"root:x:0:0::/:/bin/sh\n".to_vec()));
    }

    #[test]
    fn a_symlink_to_a_host_file_resolves_inside_the_root() {
        let (dir, root) = root_with_etc();
        let host_secret = dir.path().join("secret");
        std::fs::write(&host_secret, "host only").unwrap();
        symlink(&host_secret, root.join("etc/passwd")).unwrap();
        symlink("../../../../../../..", root.join("etc/up")).unwrap();
        assert_eq!(
            read_small_file(&root, Path::new("/etc/passwd"), 1024).unwrap(),
            Found::Missing
        );
        let via_dotdot = Path::new("/etc/up").join(host_secret.strip_prefix("/").unwrap());
        assert_eq!(
            read_small_file(&root, &via_dotdot, 1024).unwrap(),
            Found::Missing
        );
    }

    #[test]
    fn mkdir_all_stays_inside_the_root() {
        let (dir, root) = root_with_etc();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        symlink(&outside, root.join("escape")).unwrap();
        // The link resolves inside the root: to a dangling path there, an error; to a
        // directory there, below it.
        assert!(mkdir_all(&root, Path::new("/escape/a/b"), 0o755).is_err());
        std::fs::create_dir_all(root.join(outside.strip_prefix("/").unwrap())).unwrap();
        mkdir_all(&root, Path::new("/escape/a/b"), 0o755).unwrap();
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("a/b")
            .is_dir());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        std::fs::write(root.join("file"), "").unwrap();
        assert!(mkdir_all(&root, Path::new("/file/x"), 0o755).is_err());
    }

    #[test]
    fn a_fifo_is_never_opened_for_reading() {
        let (_dir, root) = root_with_etc();
        nix::unistd::mkfifo(&root.join("etc/passwd"), Mode::from_bits_truncate(0o644)).unwrap();
        // A blocking open or read would hang this test forever.
        let got = read_small_file(&root, Path::new("/etc/passwd"), 1024).unwrap();
        assert_eq!(got, Found::NotRegular(SFlag::S_IFIFO));
    }

    #[test]
    fn a_file_over_the_limit_is_an_error_and_missing_parents_are_missing() {
        let (_dir, root) = root_with_etc();
        std::fs::write(root.join("etc/group"), vec![b'x'; 2048]).unwrap();
        let e = read_small_file(&root, Path::new("/etc/group"), 1024).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        std::fs::write(root.join("file"), "").unwrap();
        assert_eq!(
            read_small_file(&root, Path::new("/file/passwd"), 1024).unwrap(),
            Found::Missing
        );
        assert_eq!(
            read_small_file(&root, Path::new("/nope/passwd"), 1024).unwrap(),
            Found::Missing
        );
    }
}
