//! Per-interface sysctls inside a container's network namespace. `/proc/sys/net` shows the
//! namespace of the thread that opens it, so a short-lived thread joins the namespace, writes,
//! and ends; berthd's own threads never change namespace.

use std::path::Path;

use crate::error::{EngineError, Result};

/// Turns IPv6 off on `link` in the namespace bound at `netns` (before the link is up, so it
/// never sends a packet). berth's networks are IPv4 only; with IPv6 on, each new interface
/// sent seven multicast packets (router solicitations, duplicate address detection, MLD
/// reports) that the bridge floods to every other container on it, so each start cost more
/// with every running container. Docker does the same since 26.0.2 (CVE-2024-32473). A kernel
/// without IPv6 has nothing to turn off.
pub fn disable_ipv6(netns: &Path, link: &str) -> Result<()> {
    if link.contains('/') || link.starts_with('.') {
        return Err(EngineError::Internal(format!(
            "bad interface name {link:?}"
        )));
    }
    let netns = netns.to_path_buf();
    let file = format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6");
    let what = format!("disable IPv6 on {link} in {}", netns.display());
    let written = std::thread::spawn(move || -> std::io::Result<()> {
        let ns = std::fs::File::open(&netns)?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        match std::fs::write(&file, "1") {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("namespace thread panicked")));
    written.map_err(|e| EngineError::io(what, e))
}
