//! The kernel's new mount API, as raw syscalls (libc has the numbers, not wrappers): a
//! filesystem configured one parameter at a time (`fsopen`, `fsconfig`), mounted detached
//! (`fsmount`) and attached where wanted (`move_mount`). No option string has to fit in the
//! page `mount(2)` copies, and a detached mount is in no one's mount table until attached.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::syscall_fd::fd_of;

/// `move_mount`'s flag for a source given by descriptor alone.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// A filesystem being configured (`fsopen`).
pub struct FsContext(OwnedFd);

impl FsContext {
    /// A context for filesystem type `fs` ("overlay", "proc").
    pub fn open(fs: &CStr) -> io::Result<FsContext> {
        // SAFETY: a NUL-terminated name and flags; the result is checked.
        let ret = unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), libc::FSOPEN_CLOEXEC) };
        Ok(FsContext(fd_of(ret)?))
    }

    /// Sets parameter `key` to the string `value` (the kernel takes at most 255 bytes).
    pub fn set(&self, key: &CStr, value: &[u8]) -> io::Result<()> {
        let value = CString::new(value)?;
        self.config(libc::FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr())
    }

    /// Makes the superblock from the parameters set.
    pub fn create(&self) -> io::Result<()> {
        let none = std::ptr::null::<libc::c_char>();
        self.config(libc::FSCONFIG_CMD_CREATE, none, none)
    }

    /// A detached mount of the created superblock, with `MOUNT_ATTR_*` flags `attrs`.
    pub fn mount(&self, attrs: u64) -> io::Result<OwnedFd> {
        // SAFETY: an fs context descriptor and flags; the result is checked.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                attrs,
            )
        };
        fd_of(ret)
    }

    fn config(
        &self,
        cmd: libc::c_uint,
        key: *const libc::c_char,
        value: *const libc::c_char,
    ) -> io::Result<()> {
        // SAFETY: an fs context descriptor, and a key and value that are null or
        // NUL-terminated strings outliving the call; the result is checked.
        let ret =
            unsafe { libc::syscall(libc::SYS_fsconfig, self.0.as_raw_fd(), cmd, key, value, 0) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Attaches the detached mount `tree` (from `fsmount` or `open_tree`) at `path`, in the
/// caller's mount namespace.
pub fn attach(tree: &OwnedFd, path: &Path) -> io::Result<()> {
    let to = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: both strings are NUL-terminated and outlive the call; `tree` is a mount fd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
