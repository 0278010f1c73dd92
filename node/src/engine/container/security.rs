//! What the security settings mean for a container's runtime spec: the seccomp section, and
//! what is known of the host's kernel. Loading the filter is the monitor's.

use serde_json::Value;

use super::seccomp::{default_profile, native_arch, render, Target};
use super::spec::HostFacts;
use super::types::ContainerRecord;

/// The spec's `linux.seccomp` for `rec`, whose capabilities are `caps` (`Null`: no filter).
/// As in Docker, `--privileged` means no filter.
pub fn seccomp_section(rec: &ContainerRecord, caps: &[String], host: HostFacts) -> Value {
    if !host.seccomp || rec.host.privileged {
        return Value::Null;
    }
    let target = Target {
        caps,
        arch: native_arch(),
        kernel: host.kernel,
    };
    render(&default_profile::profile(), &target).unwrap_or(Value::Null)
}

/// The kernel's version and major revision from its release string (`6.1.0-18-amd64` is
/// `(6, 1)`); `(0, 0)` when it cannot be read, which satisfies no minimum.
pub fn kernel_version(release: &str) -> (u32, u32) {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(kernel), Some(major)) => (kernel, major),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse_from_release_strings() {
        assert_eq!(kernel_version("6.18.44-fc-v1272\n"), (6, 18));
        assert_eq!(kernel_version("3.12-1-amd64"), (3, 12));
        assert_eq!(kernel_version("garbage"), (0, 0));
    }
}
