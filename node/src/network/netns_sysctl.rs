//! Per-interface IPv6 switches, inside a container's network namespace and on the host end of
//! its veth. `/proc/sys/net` shows the namespace of the thread that opens it, so a short-lived
//! thread joins the container's namespace, writes, and ends; berthd's own threads never change
//! namespace.
//!
//! Inside a namespace the write goes through a procfs instance of the thread's own, not
//! `/proc`: under one procfs instance, every network namespace that looked up `sys/net/ipv6`
//! keeps a dentry of that name under the one `net` directory, all in one hash chain, and the
//! kernel walks the chain (comparing each entry under its lock) twice on a namespace's first
//! lookup. With 1,000 containers running that was 1.6 ms of CPU per start, growing with every
//! container; a fresh instance's chain holds one entry.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::error::{EngineError, Result};
use crate::runtime::mount_api::FsContext;
use crate::runtime::syscall_fd::fd_of;

/// Turns IPv6 off on `link` in the namespace bound at `netns` (before the link is up, so it
/// never sends a packet). berth's networks are IPv4 only; with IPv6 on, each new interface
/// sent seven multicast packets (router solicitations, duplicate address detection, MLD
/// reports) that the bridge floods to every other container on it, so each start cost more
/// with every running container. Docker does the same since 26.0.2 (CVE-2024-32473). A kernel
/// without IPv6 has nothing to turn off.
pub fn disable_ipv6(netns: &Path, link: &str) -> Result<()> {
    check_name(link)?;
    let netns = netns.to_path_buf();
    let rel = switch_path(link);
    let what = format!("disable IPv6 on {link} in {}", netns.display());
    let written = std::thread::spawn(move || -> std::io::Result<()> {
        let ns = std::fs::File::open(&netns)?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let file = match own_proc() {
            Ok(proc) => open_at(&proc, &rel),
            // A kernel without the new mount API, or a seccomp profile that refuses it.
            Err(_) => std::fs::OpenOptions::new()
                .write(true)
                .open(Path::new("/proc").join(&rel)),
        };
        switch_off(file)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("namespace thread panicked")));
    written.map_err(|e| EngineError::io(what, e))
}

/// Turns IPv6 off on `link` in berthd's own namespace: the host end of a container's veth,
/// a bridge port that needs no address. With IPv6 on, each new host end got a link-local
/// address, two routes and duplicate address detection, and every link event walked the host's
/// IPv6 routes, which grew by three per running container: with 1,000 running that was ~2 ms
/// of CPU per start in the kernel's workers and in berthd waiting for the routing lock.
pub fn disable_ipv6_here(link: &str) -> Result<()> {
    check_name(link)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(Path::new("/proc").join(switch_path(link)));
    switch_off(file).map_err(|e| EngineError::io(format!("disable IPv6 on {link}"), e))
}

/// Turns IPv6 on for `link` in berthd's own namespace: the bridge of a network with IPv6 on,
/// which carries the IPv6 gateway (a host may turn IPv6 off by default for new links; Docker's
/// bridge driver turns it on likewise). And forwarding, which routing beyond the bridge needs,
/// as Docker turns it on: `true` when this turned it on.
pub fn enable_ipv6_here(link: &str) -> Result<bool> {
    check_name(link)?;
    let path = Path::new("/proc").join(switch_path(link));
    std::fs::write(&path, "0").map_err(|e| EngineError::io(format!("enable IPv6 on {link}"), e))?;
    let forwarding = "/proc/sys/net/ipv6/conf/all/forwarding";
    match std::fs::read_to_string(forwarding) {
        Ok(v) if v.trim() != "1" => std::fs::write(forwarding, "1")
            .map(|()| true)
            .map_err(|e| EngineError::io("turn on IPv6 forwarding", e)),
        _ => Ok(false),
    }
}

fn check_name(link: &str) -> Result<()> {
    if link.is_empty() || link.contains('/') || link.starts_with('.') {
        return Err(EngineError::Internal(format!(
            "bad interface name {link:?}"
        )));
    }
    Ok(())
}

fn switch_path(link: &str) -> String {
    format!("sys/net/ipv6/conf/{link}/disable_ipv6")
}

/// Writes "1" to an opened switch; a kernel without IPv6 has no file, which is fine.
fn switch_off(file: std::io::Result<std::fs::File>) -> std::io::Result<()> {
    match file {
        Ok(mut f) => f.write_all(b"1"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A procfs instance of its own, mounted nowhere (a detached mount that goes away with the
/// descriptor).
fn own_proc() -> std::io::Result<OwnedFd> {
    let fs = FsContext::open(c"proc")?;
    fs.create()?;
    fs.mount(libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC)
}

/// Opens `rel` below `dir` for writing, following no symlink.
fn open_at(dir: &OwnedFd, rel: &str) -> std::io::Result<std::fs::File> {
    let path = std::ffi::CString::new(rel).map_err(std::io::Error::other)?;
    let flags = libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: a valid directory descriptor and NUL-terminated path; the result is checked.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), path.as_ptr(), flags) };
    Ok(std::fs::File::from(fd_of(libc::c_long::from(fd))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_conf_directory_are_refused() {
        for bad in ["", "../all", "a/b", ".", ".."] {
            assert!(disable_ipv6_here(bad).is_err(), "{bad:?}");
            assert!(enable_ipv6_here(bad).is_err(), "{bad:?}");
        }
    }
}
