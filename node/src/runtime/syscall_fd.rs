//! Descriptors that raw syscalls return (those libc has numbers for, not wrappers).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A new descriptor from a syscall's return, or its error.
pub fn fd_of(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
