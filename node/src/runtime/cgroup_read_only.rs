//! The cgroup hierarchies read-only inside a container, as Docker's runc mounts them (the
//! spec's cgroup mount says `ro` unless the container is privileged). libcontainer 0.7 mounts
//! each cgroup v1 hierarchy writable whatever the spec says, so a container's root could raise
//! its own limits (`memory.limit_in_bytes`, `pids.max`) or make cgroups of its own. Between
//! create and start, while the monitor is single-threaded and the container has run none of
//! its own code, a child process enters the container's mount namespace and makes
//! `/sys/fs/cgroup` and every mount below it read-only in one `mount_setattr`.

use std::fs::File;
use std::io;

use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// `MOUNT_ATTR_RDONLY` and `AT_RECURSIVE` (linux/mount.h, linux/fcntl.h).
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes `/sys/fs/cgroup` and the mounts below it read-only in the mount namespace of `pid`.
/// Must run while the caller is single-threaded (it forks).
pub fn make_read_only_in(pid: i32) -> io::Result<()> {
    let ns = File::open(format!("/proc/{pid}/ns/mnt"))?;
    // A child, as entering a mount namespace also moves the caller's root and working
    // directory, which the monitor keeps.
    // SAFETY: the monitor is single-threaded here; the child only makes system calls and
    // leaves with `_exit`.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            let code = match in_namespace(&ns) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
            };
            // SAFETY: ends the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(WaitStatus::Exited(_, code)) => return Err(io::Error::from_raw_os_error(code)),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Err(io::Error::other(format!("killed by {sig}")))
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        },
    }
}

fn in_namespace(ns: &File) -> io::Result<()> {
    setns(ns, CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a NUL-terminated path, flags, and a `mount_attr` that outlives the call, with
    // its size; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/sys/fs/cgroup".as_ptr(),
            AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
