//! What `--security-opt` means for a container: the checks against the host at create (AppArmor,
//! SELinux, seccomp support), the seccomp section and AppArmor profile of its runtime spec, and
//! how the host's security modules are detected. Parsing the options' text is the API's
//! (`api::convert::security_opt`); loading the filter is the monitor's.

use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::seccomp::{default_profile, native_arch, render, Target};
use super::spec::HostFacts;
use super::types::{ContainerRecord, SeccompChoice, SecurityOptions};
use crate::error::{EngineError, Result};

/// Refuses what this host cannot do rather than running the container without it. dockerd
/// ignores `apparmor=` and `label=` where the module is absent; berth says so instead.
pub fn check(s: &SecurityOptions, host: HostFacts) -> Result<()> {
    if let Some(profile) = s.apparmor.as_deref().filter(|p| *p != "unconfined") {
        if !host.apparmor {
            return Err(invalid(format!(
                "apparmor={profile}: AppArmor is not enabled on this host"
            )));
        }
    }
    // `label=disable` asks for no labels, which is what berth does everywhere.
    if let Some(label) = s.labels.iter().find(|l| *l != "disable") {
        let why = if host.selinux {
            "berth does not apply SELinux labels"
        } else {
            "SELinux is not enabled on this host"
        };
        return Err(invalid(format!("label={label}: {why}")));
    }
    if matches!(s.seccomp, SeccompChoice::Custom(_)) && !host.seccomp {
        return Err(EngineError::InvalidArgument(
            "seccomp is not enabled in your kernel, cannot run a custom seccomp profile".into(),
        ));
    }
    Ok(())
}

fn invalid(what: String) -> EngineError {
    EngineError::InvalidArgument(format!("invalid --security-opt: {what}"))
}

/// The spec's `linux.seccomp` for `rec`, whose capabilities are `caps`, as the JSON
/// `config.json` gets (`None`: no filter). As in Docker, `--privileged` means no filter unless
/// the container names its own profile.
pub fn seccomp_section(
    rec: &ContainerRecord,
    caps: &[String],
    host: HostFacts,
) -> Result<Option<SeccompJson>> {
    if !host.seccomp {
        return Ok(None);
    }
    let target = Target {
        caps,
        arch: native_arch(),
        kernel: host.kernel,
    };
    match &rec.host.security.seccomp {
        SeccompChoice::Unconfined => Ok(None),
        SeccompChoice::Custom(profile) => render(profile, &target).map(to_json).transpose(),
        SeccompChoice::Default if rec.host.privileged => Ok(None),
        SeccompChoice::Default => default_rendered(&target),
    }
}

/// A rendered `linux.seccomp`, serialized: shared by every container with the same
/// capabilities (`spec::RuntimeSpec` writes it into `config.json` as it is).
pub type SeccompJson = Arc<str>;

/// Checks a rendered section against the runtime spec's type, and serializes it.
fn to_json(section: Value) -> Result<SeccompJson> {
    let typed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(section)
        .map_err(|e| EngineError::Internal(format!("runtime spec: seccomp: {e}")))?;
    serde_json::to_string(&typed)
        .map(Arc::from)
        .map_err(|e| EngineError::Internal(format!("runtime spec: seccomp: {e}")))
}

/// Docker's default profile as last rendered, for its capabilities and kernel (the arch is
/// this build's). Nearly every container has the default capabilities: building and
/// filtering the ~350 rules again took ~0.5 ms of each start's CPU at 1,000 running, and
/// copying and converting the ~350 names a quarter of each start's allocations.
static LAST_DEFAULT: Mutex<Option<Rendered>> = Mutex::new(None);

/// A rendering of the default profile and what it was rendered for.
struct Rendered {
    caps: Vec<String>,
    kernel: (u32, u32),
    section: Option<SeccompJson>,
}

fn default_rendered(target: &Target<'_>) -> Result<Option<SeccompJson>> {
    let fresh = || {
        render(&default_profile::profile(), target)
            .map(to_json)
            .transpose()
    };
    let Ok(mut last) = LAST_DEFAULT.lock() else {
        return fresh();
    };
    if let Some(r) = last.as_ref() {
        if r.caps.as_slice() == target.caps && r.kernel == target.kernel {
            return Ok(r.section.clone());
        }
    }
    let section = fresh()?;
    *last = Some(Rendered {
        caps: target.caps.to_vec(),
        kernel: target.kernel,
        section: section.clone(),
    });
    Ok(section)
}

/// The process's AppArmor profile: only on a host with AppArmor (elsewhere `check` refused
/// anything but `unconfined`, which there is the state of every process anyway).
pub fn apparmor_profile(s: &SecurityOptions, host: HostFacts) -> Option<&str> {
    s.apparmor.as_deref().filter(|_| host.apparmor)
}

/// Whether the kernel has AppArmor enabled (`sys` is where sysfs is mounted).
pub fn host_has_apparmor(sys: &Path) -> bool {
    std::fs::read_to_string(sys.join("module/apparmor/parameters/enabled"))
        .is_ok_and(|v| v.starts_with('Y'))
}

/// Whether SELinux is enabled: its filesystem is mounted (`sys` is where sysfs is mounted).
pub fn host_has_selinux(sys: &Path) -> bool {
    sys.join("fs/selinux/enforce").exists()
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

    fn host() -> HostFacts {
        HostFacts {
            seccomp: true,
            kernel: (6, 1),
            ..HostFacts::default()
        }
    }

    #[test]
    fn apparmor_and_labels_are_refused_where_the_module_is_absent() {
        let apparmor = SecurityOptions {
            apparmor: Some("my-profile".into()),
            ..SecurityOptions::default()
        };
        let err = check(&apparmor, host()).unwrap_err().to_string();
        assert!(err.contains("AppArmor is not enabled"), "{err}");
        let with_apparmor = HostFacts {
            apparmor: true,
            ..host()
        };
        check(&apparmor, with_apparmor).unwrap();
        assert_eq!(
            apparmor_profile(&apparmor, with_apparmor),
            Some("my-profile")
        );
        assert_eq!(apparmor_profile(&apparmor, host()), None);
        let unconfined = SecurityOptions {
            apparmor: Some("unconfined".into()),
            labels: vec!["disable".into()],
            ..SecurityOptions::default()
        };
        check(&unconfined, host()).unwrap();
        let label = SecurityOptions {
            labels: vec!["type:svirt_t".into()],
            ..SecurityOptions::default()
        };
        let err = check(&label, host()).unwrap_err().to_string();
        assert!(err.contains("SELinux is not enabled"), "{err}");
    }

    /// The section as JSON (`Null`: no filter).
    fn section(rec: &ContainerRecord, caps: &[String], host: HostFacts) -> Value {
        seccomp_section(rec, caps, host)
            .unwrap()
            .map_or(Value::Null, |s| serde_json::from_str(&s).unwrap())
    }

    #[test]
    fn unconfined_and_privileged_containers_get_no_filter() {
        let mut rec = ContainerRecord::default();
        let caps = vec!["CAP_CHOWN".to_string()];
        assert_eq!(
            section(&rec, &caps, host())["defaultAction"],
            "SCMP_ACT_ERRNO"
        );
        rec.host.privileged = true;
        assert_eq!(section(&rec, &caps, host()), Value::Null);
        rec.host.security.seccomp = SeccompChoice::Custom(Box::new(
            super::super::seccomp::profile::parse(r#"{"defaultAction":"SCMP_ACT_LOG"}"#).unwrap(),
        ));
        assert_eq!(
            section(&rec, &caps, host())["defaultAction"],
            "SCMP_ACT_LOG",
            "a privileged container still gets the profile it names"
        );
        rec.host.privileged = false;
        rec.host.security.seccomp = SeccompChoice::Unconfined;
        assert_eq!(section(&rec, &caps, host()), Value::Null);
    }

    /// Whether the rendered filter lets `name` through.
    fn allows(section: &Value, name: &str) -> bool {
        section["syscalls"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| {
                r["action"] == "SCMP_ACT_ALLOW"
                    && r["names"]
                        .as_array()
                        .is_some_and(|n| n.iter().any(|n| n == name))
            })
    }

    #[test]
    fn the_kept_default_filter_is_the_one_for_these_capabilities_and_kernel() {
        let rec = ContainerRecord::default();
        let plain = vec!["CAP_CHOWN".to_string()];
        let admin = vec!["CAP_CHOWN".to_string(), "CAP_SYS_ADMIN".to_string()];
        for _ in 0..2 {
            assert!(!allows(&section(&rec, &plain, host()), "mount"));
            assert!(allows(&section(&rec, &admin, host()), "mount"));
        }
        // Rules with a minimum kernel: the same capabilities on an older kernel differ.
        let old = HostFacts {
            kernel: (3, 10),
            ..host()
        };
        let new_filter = section(&rec, &plain, host());
        let old_filter = section(&rec, &plain, old);
        assert_ne!(new_filter, old_filter);
        assert_eq!(section(&rec, &plain, host()), new_filter);
    }

    #[test]
    fn kernel_versions_parse_from_release_strings() {
        assert_eq!(kernel_version("6.18.44-fc-v1272\n"), (6, 18));
        assert_eq!(kernel_version("3.12-1-amd64"), (3, 12));
        assert_eq!(kernel_version("garbage"), (0, 0));
    }
}
