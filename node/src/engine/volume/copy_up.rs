//! Docker's copy-up: a new, empty volume mounted over a directory of the image first gets that
//! directory's content, with owners, modes, times and symlinks (special files are left out).
//! Both sides are untrusted: the source is the container's rootfs, and the volume may already
//! be mounted in a running container that plants symlinks in it. So the source is walked by
//! handles (`engine::tree_walk`) and every node is made under its destination parent's handle,
//! `O_NOFOLLOW|O_EXCL`, its parent looked up without following any symlink. Blocking.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{openat, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fstat, futimens, mkdirat, FileStat, Mode};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use crate::engine::{inroot, tree_walk};

/// Copies the directory `target` of the rootfs at `root` into the empty directory `volume`.
/// A `target` that is missing or not a directory copies nothing.
pub fn copy_up(root: &Path, target: &str, volume: &Path) -> io::Result<()> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dst = openat(nix::fcntl::AT_FDCWD, volume, flags, Mode::empty())?;
    copy_up_to(root, target, dst)
}

/// As [`copy_up`], into the directory open as `dst` (a volume's subpath, opened safely).
pub fn copy_up_to(root: &Path, target: &str, dst: OwnedFd) -> io::Result<()> {
    let anchor = inroot::open_root(root)?;
    let src = match inroot::open_path(&anchor, Path::new(target), true) {
        Ok(fd) => fd,
        Err(e) if inroot::is_missing(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = fstat(src.as_fd())?;
    if !tree_walk::is_dir(&st) {
        return Ok(());
    }
    take_metadata(&dst, &st)?;
    tree_walk::walk(&src, Path::new(""), &mut |fd, st, rel| {
        copy_node(&dst, fd, st, rel)
    })
}

fn copy_node(dst: &OwnedFd, src: &OwnedFd, st: &FileStat, rel: &Path) -> io::Result<()> {
    let (Some(parent_rel), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(());
    };
    let parent = beneath_no_symlinks(dst, parent_rel)?;
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o700))?;
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
            let dir = openat(
                parent.as_fd(),
                name,
                flags | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            take_metadata(&dir, st)
        }
        libc::S_IFREG => {
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
            let out = openat(
                parent.as_fd(),
                name,
                flags | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )?;
            let size = u64::try_from(st.st_size).unwrap_or(0);
            io::copy(
                &mut inroot::reopen_for_read(src)?.take(size),
                &mut File::from(out.try_clone()?),
            )?;
            take_metadata(&out, st)
        }
        libc::S_IFLNK => {
            let target = readlinkat(src.as_fd(), "")?;
            symlinkat(target.as_os_str(), parent.as_fd(), name)?;
            fchownat(
                parent.as_fd(),
                name,
                Some(uid),
                Some(gid),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            Ok(())
        }
        // Devices, FIFOs and sockets: Docker's copy-up leaves them out too.
        _ => Ok(()),
    }
}

/// Owner before mode (chown clears setuid bits), then times.
fn take_metadata(fd: &OwnedFd, st: &FileStat) -> io::Result<()> {
    fchown(
        fd.as_fd(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    fchmod(fd.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    Ok(futimens(fd.as_fd(), &atime, &mtime)?)
}

/// The directory `rel` under `dir`, reached without following any symlink.
fn beneath_no_symlinks(dir: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    Ok(crate::engine::inroot::openat2_scoped(
        dir.as_fd(),
        rel,
        how,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copy_up_keeps_modes_and_links_and_leaves_fifos_out() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, dst) = (tmp.path().join("root"), tmp.path().join("dst"));
        let src = root.join("data");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "x").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o604))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("link")).unwrap();
        nix::unistd::mkfifo(&src.join("pipe"), Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        copy_up(&root, "/data", &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("sub/f")).unwrap(), "x");
        assert_eq!(
            std::fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o777,
            0o604
        );
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("sub/f")
        );
        assert!(!dst.join("pipe").exists());
    }

    #[test]
    fn a_symlink_planted_in_the_volume_is_never_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, dst, host) = (
            tmp.path().join("root"),
            tmp.path().join("dst"),
            tmp.path().join("host"),
        );
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::write(root.join("data/passwd"), "image").unwrap();
        std::fs::write(root.join("data/sub/f"), "image").unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("passwd"), "host").unwrap();
        // What a running container sharing the volume could plant meanwhile.
        std::os::unix::fs::symlink(host.join("passwd"), dst.join("passwd")).unwrap();
        std::os::unix::fs::symlink(&host, dst.join("sub")).unwrap();
        assert!(copy_up(&root, "/data", &dst).is_err());
        assert_eq!(
            std::fs::read_to_string(host.join("passwd")).unwrap(),
            "host"
        );
        assert!(!host.join("f").exists());
    }

    #[test]
    fn a_source_symlink_to_the_host_is_read_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, dst, host) = (
            tmp.path().join("root"),
            tmp.path().join("dst"),
            tmp.path().join("host"),
        );
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "host").unwrap();
        std::os::unix::fs::symlink(&host, root.join("data")).unwrap();
        copy_up(&root, "/data", &dst).unwrap();
        assert!(!dst.join("secret").exists());
    }
}
