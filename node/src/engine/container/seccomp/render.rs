//! Resolves a Docker-format profile for one container, as dockerd does before handing it to the
//! runtime: keeps the rules whose conditions hold for the container's capabilities and the
//! host's architecture and kernel, expands the `archMap`, and writes OCI `linux.seccomp` JSON
//! (the monitor compiles it: `runtime::seccomp_bpf`). Pure: the caller supplies capabilities,
//! arch and kernel.

use oci_spec::runtime::Arch;
use serde_json::{json, Value};

use super::profile::{Arg, Filter, Profile, Rule};

/// What a profile is resolved against.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The container's capabilities (`CAP_*`): after cap-add/drop and the host's bounding set,
    /// the set Docker reads from the spec's bounding capabilities.
    pub caps: &'a [String],
    /// The host's architecture in libseccomp's names (`amd64`, `arm64`, …): see `native_arch`.
    pub arch: &'a str,
    /// The host kernel's version and major revision (`6.1.x` is `(6, 1)`).
    pub kernel: (u32, u32),
}

/// The OCI `linux.seccomp` section, or `None` for a profile that asks for no filter (no default
/// action and no rules, as Docker reads it). `profile` has passed `profile::parse` or is the
/// default profile.
pub fn render(profile: &Profile, target: &Target<'_>) -> Option<Value> {
    let default_action = profile.default_action?;
    let rules: Vec<Value> = profile
        .syscalls
        .iter()
        .filter(|r| applies(r, target))
        .filter_map(oci_rule)
        .collect();
    let mut out = json!({
        "defaultAction": default_action,
        "architectures": architectures(profile, target.arch),
        "syscalls": rules,
    });
    if let Some(errno) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(errno);
    }
    if !profile.flags.is_empty() {
        out["flags"] = json!(profile.flags);
    }
    Some(out)
}

/// This build's architecture in libseccomp's names, which Docker's `includes.arches` use.
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips" if cfg!(target_endian = "little") => "mipsel",
        "mips64" if cfg!(target_endian = "little") => "mipsel64",
        other => other,
    }
}

/// The seccomp architecture of a native one, to find it in an `archMap`.
fn seccomp_arch(native: &str) -> Option<Arch> {
    Some(match native {
        "x86" => Arch::ScmpArchX86,
        "amd64" => Arch::ScmpArchX86_64,
        "arm" => Arch::ScmpArchArm,
        "arm64" => Arch::ScmpArchAarch64,
        "mips" => Arch::ScmpArchMips,
        "mipsel" => Arch::ScmpArchMipsel,
        "mips64" => Arch::ScmpArchMips64,
        "mipsel64" => Arch::ScmpArchMipsel64,
        "ppc" => Arch::ScmpArchPpc,
        "ppc64" => Arch::ScmpArchPpc64,
        "ppc64le" => Arch::ScmpArchPpc64le,
        "s390" => Arch::ScmpArchS390,
        "s390x" => Arch::ScmpArchS390x,
        "riscv64" => Arch::ScmpArchRiscv64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// The profile's explicit architectures, or the host's entry of its `archMap` (none: the
/// runtime filters the native architecture only).
fn architectures(profile: &Profile, native: &str) -> Vec<Arch> {
    if !profile.architectures.is_empty() {
        return profile.architectures.clone();
    }
    let Some(host) = seccomp_arch(native) else {
        return Vec::new();
    };
    profile
        .arch_map
        .iter()
        .find(|m| m.architecture == host)
        .map(|m| {
            std::iter::once(m.architecture)
                .chain(m.sub_architectures.iter().copied())
                .collect()
        })
        .unwrap_or_default()
}

/// Docker's conditions: any `excludes` condition that holds drops the rule; every `includes`
/// condition must hold.
fn applies(rule: &Rule, t: &Target<'_>) -> bool {
    let has_cap = |c: &String| t.caps.contains(c);
    let new_enough = |k: &(u32, u32)| t.kernel >= *k;
    let Filter {
        caps,
        arches,
        min_kernel,
    } = &rule.excludes;
    if arches.iter().any(|a| a == t.arch)
        || caps.iter().any(has_cap)
        || min_kernel.as_ref().is_some_and(new_enough)
    {
        return false;
    }
    let Filter {
        caps,
        arches,
        min_kernel,
    } = &rule.includes;
    (arches.is_empty() || arches.iter().any(|a| a == t.arch))
        && caps.iter().all(has_cap)
        && min_kernel.as_ref().is_none_or(new_enough)
}

fn oci_rule(rule: &Rule) -> Option<Value> {
    let names = if rule.name.is_empty() {
        rule.names.clone()
    } else {
        vec![rule.name.clone()]
    };
    if names.is_empty() {
        return None;
    }
    let mut out = json!({"names": names, "action": rule.action});
    if let Some(errno) = rule.errno_ret {
        out["errnoRet"] = json!(errno);
    }
    if !rule.args.is_empty() {
        out["args"] = rule.args.iter().map(oci_arg).collect();
    }
    Some(out)
}

fn oci_arg(arg: &Arg) -> Value {
    json!({"index": arg.index, "value": arg.value, "valueTwo": arg.value_two, "op": arg.op})
}

#[cfg(test)]
mod tests {
    use super::super::{default_profile, profile};
    use super::*;
    use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    fn resolved(caps: &[String], arch: &str) -> LinuxSeccomp {
        let target = Target {
            caps,
            arch,
            kernel: (6, 1),
        };
        let v = render(&default_profile::profile(), &target).unwrap();
        serde_json::from_value(v).unwrap()
    }

    /// The rules naming `call`.
    fn rules_for<'a>(s: &'a LinuxSeccomp, call: &str) -> Vec<&'a oci_spec::runtime::LinuxSyscall> {
        s.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|r| r.names().iter().any(|n| n == call))
            .collect()
    }

    fn docker_default_caps() -> Vec<String> {
        crate::engine::container::caps::effective(false, &[], &[], u64::MAX).0
    }

    #[test]
    fn the_default_is_an_allow_list_refusing_the_rest_with_eperm() {
        let s = resolved(&docker_default_caps(), "amd64");
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().as_ref().unwrap(),
            &vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        assert!(s
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow
                || r.names() == &vec!["clone3".to_string()]));
        for refused in [
            "mount",
            "unshare",
            "setns",
            "fsopen",
            "io_uring_setup",
            "keyctl",
        ] {
            assert!(rules_for(&s, refused).is_empty(), "{refused}");
        }
        assert_eq!(rules_for(&s, "arch_prctl").len(), 1);
        assert!(rules_for(&s, "cacheflush").is_empty(), "an arm-only call");
        assert_eq!(
            resolved(&docker_default_caps(), "arm64").architectures(),
            &Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm])
        );
    }

    #[test]
    fn capability_gated_calls_appear_only_with_the_capability() {
        let plain = resolved(&docker_default_caps(), "amd64");
        for call in [
            "reboot",
            "settimeofday",
            "init_module",
            "acct",
            "kcmp",
            "vhangup",
            "mbind",
        ] {
            assert!(rules_for(&plain, call).is_empty(), "{call}");
        }
        assert_eq!(
            rules_for(&plain, "chroot").len(),
            1,
            "CAP_SYS_CHROOT is a default"
        );
        let mut more = docker_default_caps();
        more.extend(caps(&["CAP_SYS_TIME", "CAP_SYS_PTRACE", "CAP_SYS_BOOT"]));
        let s = resolved(&more, "amd64");
        for call in ["settimeofday", "kcmp", "reboot"] {
            assert_eq!(rules_for(&s, call).len(), 1, "{call}");
        }
        let no_chroot: Vec<String> = docker_default_caps()
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        assert!(rules_for(&resolved(&no_chroot, "amd64"), "chroot").is_empty());
    }

    #[test]
    fn clone_is_filtered_on_namespace_flags_and_clone3_is_enosys_without_sys_admin() {
        let s = resolved(&docker_default_caps(), "amd64");
        let clone = rules_for(&s, "clone");
        assert_eq!(clone.len(), 1);
        let arg = clone[0].args().as_ref().unwrap()[0];
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        // OCI's meaning: the mask in value, what the masked flags must equal (none) in valueTwo.
        assert_eq!(
            (arg.index(), arg.value(), arg.value_two()),
            (0, default_profile::CLONE_NAMESPACES, Some(0))
        );
        let clone3 = rules_for(&s, "clone3");
        assert_eq!(
            (clone3.len(), clone3[0].action(), clone3[0].errno_ret()),
            (1, LinuxSeccompAction::ScmpActErrno, Some(38))
        );
        let s390 = resolved(&docker_default_caps(), "s390x");
        let arg = rules_for(&s390, "clone")[0].args().as_ref().unwrap()[0];
        assert_eq!(arg.index(), 1, "s390 passes the flags second");

        let mut admin = docker_default_caps();
        admin.push("CAP_SYS_ADMIN".into());
        let s = resolved(&admin, "amd64");
        for call in ["clone", "clone3", "mount", "unshare", "setns"] {
            let rules = rules_for(&s, call);
            assert_eq!(rules.len(), 1, "{call}");
            assert_eq!(rules[0].action(), LinuxSeccompAction::ScmpActAllow);
            assert!(rules[0].args().is_none(), "{call}");
        }
    }

    #[test]
    fn socket_and_personality_are_allowed_by_argument() {
        let s = resolved(&docker_default_caps(), "amd64");
        let families: Vec<(u64, LinuxSeccompOperator)> = rules_for(&s, "socket")
            .iter()
            .map(|r| {
                let a = r.args().as_ref().unwrap()[0];
                (a.value(), a.op())
            })
            .collect();
        assert_eq!(
            families,
            vec![
                (38, LinuxSeccompOperator::ScmpCmpLt),
                (39, LinuxSeccompOperator::ScmpCmpEq),
                (40, LinuxSeccompOperator::ScmpCmpGt)
            ],
            "every family but AF_ALG (38) and AF_VSOCK (40)"
        );
        let personas: Vec<u64> = rules_for(&s, "personality")
            .iter()
            .map(|r| r.args().as_ref().unwrap()[0].value())
            .collect();
        assert_eq!(personas, vec![0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn min_kernel_and_custom_profiles_resolve_like_dockers() {
        let old = Target {
            caps: &[],
            arch: "amd64",
            kernel: (4, 4),
        };
        let v = render(&default_profile::profile(), &old).unwrap();
        let s: LinuxSeccomp = serde_json::from_value(v).unwrap();
        assert!(rules_for(&s, "ptrace").is_empty(), "ptrace needs 4.8");

        let custom = profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":13},
                            {"names":["chown"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_CHOWN"]}},
                            {"names":["uname"],"action":"SCMP_ACT_ERRNO","includes":{"arches":["arm64"]}}]}"#,
        )
        .unwrap();
        let target = Target {
            caps: &caps(&["CAP_CHOWN"]),
            arch: "amd64",
            kernel: (6, 1),
        };
        let s: LinuxSeccomp = serde_json::from_value(render(&custom, &target).unwrap()).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        let rules = s.syscalls().as_ref().unwrap();
        assert_eq!(
            rules.len(),
            1,
            "chown excluded by CAP_CHOWN, uname is arm64 only"
        );
        assert_eq!(
            (rules[0].names(), rules[0].errno_ret()),
            (&vec!["mkdir".to_string()], Some(13))
        );
        assert_eq!(
            render(&profile::parse("{}").unwrap(), &target),
            None,
            "an empty profile means no filter, as in Docker"
        );
    }
}
