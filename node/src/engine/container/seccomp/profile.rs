//! Docker's seccomp profile format, the one `--security-opt seccomp=<json>` sends and Docker's
//! `default.json` is written in: OCI rules plus conditions (`includes`/`excludes` on the
//! container's capabilities, the host's architecture and kernel) and an `archMap`. The data model
//! and its validation only; resolving a profile for one container is `render.rs`.

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A profile as Docker reads it (`seccomp.Seccomp` in moby's profiles package).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// What a call no rule matches gets; `None` with no rules means "no filter at all".
    #[serde(default)]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Explicit architectures; a profile gives these or `arch_map`, not both.
    #[serde(default, deserialize_with = "null_as_default")]
    pub architectures: Vec<Arch>,
    /// Per native architecture, the sub-architectures to add (x86_64 → x86, x32).
    #[serde(default, deserialize_with = "null_as_default")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// Seccomp notify's agent socket: berth has no such agent, so a profile naming one is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub listener_path: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<Rule>,
}

/// One architecture and its sub-architectures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: Arch,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<Arch>,
}

/// A rule: calls, what they get, argument conditions, and when the rule applies at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// The old single-call form; a rule gives `name` or `names`, not both.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The rule applies only when all of these hold.
    #[serde(default, deserialize_with = "null_as_default")]
    pub includes: Filter,
    /// The rule is dropped when any of these holds.
    #[serde(default, deserialize_with = "null_as_default")]
    pub excludes: Filter,
}

/// A condition on one argument, OCI's meaning: for `SCMP_CMP_MASKED_EQ`, `value` is the mask and
/// `value_two` what the masked argument must equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: LinuxSeccompOperator,
}

/// Conditions of a rule: capabilities (`CAP_*`), native architectures in libseccomp's names
/// (`amd64`, `arm64`, `s390x`, …) and a minimum kernel version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, deserialize_with = "null_as_default")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub arches: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "kernel_out",
        deserialize_with = "kernel_in"
    )]
    pub min_kernel: Option<(u32, u32)>,
}

impl Filter {
    /// True when the filter says nothing.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// The highest argument index a seccomp condition can name (calls have six arguments).
const MAX_ARG_INDEX: u32 = 5;

/// Decodes and checks a profile sent with `--security-opt seccomp=<json>`; the error is the
/// message for the client (Docker's wording where Docker has one).
pub fn parse(json: &str) -> Result<Profile, String> {
    let profile: Profile =
        serde_json::from_str(json).map_err(|e| format!("Decoding seccomp profile failed: {e}"))?;
    validate(&profile)?;
    Ok(profile)
}

fn validate(p: &Profile) -> Result<(), String> {
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into());
    }
    if !p.listener_path.is_empty() {
        return Err(
            "seccomp profile: listenerPath (seccomp notify) is not supported by berth".into(),
        );
    }
    if p.default_action.is_none() && !p.syscalls.is_empty() {
        return Err("seccomp profile: syscall rules need a defaultAction".into());
    }
    if p.flags
        .contains(&LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv)
    {
        return Err("seccomp profile: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs seccomp notify, which berth does not support".into());
    }
    let notify = LinuxSeccompAction::ScmpActNotify;
    if p.default_action == Some(notify) {
        return Err("seccomp profile: SCMP_ACT_NOTIFY is not supported by berth".into());
    }
    for rule in &p.syscalls {
        if !rule.name.is_empty() && !rule.names.is_empty() {
            return Err("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".into());
        }
        if rule.action == notify {
            return Err("seccomp profile: SCMP_ACT_NOTIFY is not supported by berth".into());
        }
        if let Some(arg) = rule.args.iter().find(|a| a.index > MAX_ARG_INDEX) {
            return Err(format!(
                "seccomp profile: argument index {} of {:?} is out of range (0-{MAX_ARG_INDEX})",
                arg.index,
                rule.names.first().unwrap_or(&rule.name)
            ));
        }
    }
    Ok(())
}

/// Reads JSON `null` as the type's default: Docker's own profiles write `"args": null`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Docker writes a minimum kernel as `"<kernel>.<major>"`; an empty string means none.
fn kernel_in<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u32, u32)>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        serde::de::Error::custom(format!(
            "invalid kernel version: {text:?}, expected \"<kernel>.<major>\""
        ))
    };
    let (kernel, major) = text.split_once('.').ok_or_else(bad)?;
    let kernel: u32 = kernel.parse().map_err(|_| bad())?;
    let major: u32 = major.parse().map_err(|_| bad())?;
    if (kernel, major) == (0, 0) {
        return Err(bad());
    }
    Ok(Some((kernel, major)))
}

fn kernel_out<S: Serializer>(v: &Option<(u32, u32)>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some((kernel, major)) => s.serialize_str(&format!("{kernel}.{major}")),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_old_and_new_rule_forms_decode() {
        let p = parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"name":"mkdir","action":"SCMP_ACT_ERRNO","args":null},
                {"names":["clone"],"action":"SCMP_ACT_ALLOW",
                 "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}],
                 "excludes":{"caps":["CAP_SYS_ADMIN"]},"includes":{"minKernel":"4.8"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.syscalls[0].name, "mkdir");
        assert_eq!(p.syscalls[1].args[0].value, 0x7E02_0000);
        assert_eq!(p.syscalls[1].includes.min_kernel, Some((4, 8)));
        assert_eq!(p.syscalls[1].excludes.caps, vec!["CAP_SYS_ADMIN"]);
    }

    #[test]
    fn profiles_docker_refuses_are_refused() {
        for (json, wanted) in [
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","#,
                "Decoding seccomp profile failed",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
                "both 'architectures' and 'archMap'",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#,
                "both 'name' and 'names'",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_NOPE"}"#,
                "Decoding seccomp profile failed",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "SCMP_ACT_NOTIFY",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "argument index 6",
            ),
            (
                r#"{"syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO"}]}"#,
                "need a defaultAction",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
                "needs seccomp notify",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4"}}]}"#,
                "invalid kernel version",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(wanted), "{json}: {err}");
        }
    }

    #[test]
    fn a_profile_survives_the_record_round_trip() {
        let p = parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
                "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],
                "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"5.10","arches":["amd64"]}}]}"#,
        )
        .unwrap();
        let back: Profile = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
