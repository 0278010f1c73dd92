//! Mount attributes libcontainer 0.7 leaves unset, applied inside the container's mount
//! namespace between create and start, while the monitor is single-threaded and the container
//! has run none of its own code:
//! - the cgroup hierarchies read-only, as Docker's runc mounts them (the spec's cgroup mount
//!   says `ro` unless the container is privileged; libcontainer mounts each cgroup v1
//!   hierarchy writable, so a container's root could raise its own limits or make cgroups);
//! - each bind's propagation (`rprivate` unless asked otherwise): libcontainer clones a bind
//!   with `open_tree` and ignores the propagation in its options, so a bind of a shared host
//!   mount came out as its slave, and `rshared` never reached the host.
//!
//! One forked child enters the namespace and makes every change with `mount_setattr`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};

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

/// A bind's propagation type, as `mount_setattr` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropagationType {
    Private,
    Shared,
    Slave,
}

/// The propagation one bind gets, at its path inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindPropagation {
    pub target: PathBuf,
    pub kind: PropagationType,
    /// The mounts below the bind too (`rprivate`, `rshared`, `rslave`).
    pub recursive: bool,
}

/// Applies the changes in the mount namespace of `pid`: `/sys/fs/cgroup` and the mounts below
/// it read-only when `cgroups_read_only`, then each bind's propagation. Must run while the
/// caller is single-threaded (it forks).
pub fn apply_in(pid: i32, cgroups_read_only: bool, binds: &[BindPropagation]) -> io::Result<()> {
    if !cgroups_read_only && binds.is_empty() {
        return Ok(());
    }
    let ns = File::open(format!("/proc/{pid}/ns/mnt"))?;
    // Prepared before the fork: the child only makes system calls.
    let targets = binds
        .iter()
        .map(|b| path_c(&b.target))
        .collect::<io::Result<Vec<_>>>()?;
    // A child, as entering a mount namespace also moves the caller's root and working
    // directory, which the monitor keeps.
    // SAFETY: the monitor is single-threaded here; the child only makes system calls and
    // leaves with `_exit`.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            let code = match in_namespace(&ns, cgroups_read_only, binds, &targets) {
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

fn path_c(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn in_namespace(
    ns: &File,
    cgroups_read_only: bool,
    binds: &[BindPropagation],
    targets: &[CString],
) -> io::Result<()> {
    // The namespace's root is the container's: its paths resolve inside it, symlinks too, as
    // libcontainer resolved them to place the mounts.
    setns(ns, CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
    if cgroups_read_only {
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        set_attr(
            c"/sys/fs/cgroup",
            AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            &attr,
        )?;
    }
    for (b, target) in binds.iter().zip(targets) {
        let propagation = match b.kind {
            PropagationType::Private => libc::MS_PRIVATE,
            PropagationType::Shared => libc::MS_SHARED,
            PropagationType::Slave => libc::MS_SLAVE,
        };
        let attr = MountAttr {
            attr_set: 0,
            attr_clr: 0,
            propagation,
            userns_fd: 0,
        };
        set_attr(target, if b.recursive { AT_RECURSIVE } else { 0 }, &attr)?;
    }
    Ok(())
}

fn set_attr(path: &std::ffi::CStr, flags: libc::c_uint, attr: &MountAttr) -> io::Result<()> {
    // SAFETY: a NUL-terminated path, flags, and a `mount_attr` that outlives the call, with
    // its size; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
