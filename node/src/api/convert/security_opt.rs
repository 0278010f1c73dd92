//! `HostConfig.SecurityOpt` → `SecurityOptions`, read as dockerd reads it: `key=value`, the old
//! `key:value`, bare `no-new-privileges`; `seccomp=` carries the profile's JSON (the docker CLI
//! reads the file). Whether the host can do what is asked (AppArmor, SELinux) is the engine's
//! check at create.

use crate::api::error::ApiError;
use crate::engine::container::seccomp::profile;
use crate::engine::container::{SeccompChoice, SecurityOptions};

/// The options, and whether `systempaths=unconfined` asked for no masked or read-only paths
/// (the docker CLI sends that as empty `MaskedPaths`/`ReadonlyPaths` instead).
#[derive(Debug, Default)]
pub struct Parsed {
    pub security: SecurityOptions,
    pub unconfined_paths: bool,
}

/// Parses the options; anything dockerd does not know is refused with its message.
pub fn parse(opts: &[String]) -> Result<Parsed, ApiError> {
    let mut out = Parsed::default();
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                out.security.no_new_privileges = true;
                continue;
            }
            "disable" => {
                out.security.labels.push("disable".into());
                continue;
            }
            "writable-cgroups" => return Err(writable_cgroups()),
            _ => {}
        }
        let Some((key, value)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            return Err(invalid(1, opt));
        };
        match key {
            "label" => out.security.labels.push(value.into()),
            // An empty value is the host's default, as in dockerd.
            "apparmor" => out.security.apparmor = (!value.is_empty()).then(|| value.to_string()),
            "seccomp" => out.security.seccomp = seccomp(value)?,
            "no-new-privileges" => {
                out.security.no_new_privileges = go_bool(value).ok_or_else(|| invalid(2, opt))?;
            }
            // berth mounts /sys/fs/cgroup read-only and cannot do otherwise yet.
            "writable-cgroups" => match go_bool(value) {
                Some(false) => {}
                Some(true) => return Err(writable_cgroups()),
                None => return Err(invalid(2, opt)),
            },
            "systempaths" if value == "unconfined" => out.unconfined_paths = true,
            _ => return Err(invalid(2, opt)),
        }
    }
    Ok(out)
}

/// `seccomp=`: Docker's profile names (`builtin` is the default profile), or a profile's JSON.
fn seccomp(value: &str) -> Result<SeccompChoice, ApiError> {
    Ok(match value {
        "" | "builtin" => SeccompChoice::Default,
        "unconfined" => SeccompChoice::Unconfined,
        json => SeccompChoice::Custom(Box::new(
            profile::parse(json).map_err(ApiError::bad_request)?,
        )),
    })
}

/// dockerd's wording, numbered as it numbers them (1: no value, 2: unknown key or bad value).
fn invalid(n: u8, opt: &str) -> ApiError {
    ApiError::bad_request(format!("invalid --security-opt {n}: {opt:?}"))
}

fn writable_cgroups() -> ApiError {
    ApiError::bad_request("invalid --security-opt: writable-cgroups is not supported by berth")
}

/// Go's `strconv.ParseBool`, which dockerd uses for these values.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Result<Parsed, ApiError> {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_new_privileges_reads_every_docker_spelling() {
        for (list, wanted) in [
            (&["no-new-privileges"][..], true),
            (&["no-new-privileges=true"], true),
            (&["no-new-privileges:true"], true),
            (&["no-new-privileges=1"], true),
            (&["no-new-privileges", "no-new-privileges=false"], false),
            (&[], false),
        ] {
            assert_eq!(
                opts(list).unwrap().security.no_new_privileges,
                wanted,
                "{list:?}"
            );
        }
    }

    #[test]
    fn seccomp_takes_docker_names_and_profiles() {
        let s = |v: &str| opts(&[v]).unwrap().security.seccomp;
        assert_eq!(s("seccomp=unconfined"), SeccompChoice::Unconfined);
        assert_eq!(s("seccomp:unconfined"), SeccompChoice::Unconfined);
        assert_eq!(s("seccomp=builtin"), SeccompChoice::Default);
        let custom = s(
            r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let SeccompChoice::Custom(p) = custom else {
            panic!("{custom:?}")
        };
        assert_eq!(p.syscalls[0].names, vec!["mkdir"]);
        let err = opts(&["seccomp=/path/to/profile.json"]).unwrap_err();
        assert!(
            err.message.contains("Decoding seccomp profile failed"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_options_are_refused_with_dockers_message() {
        for (opt, wanted) in [
            ("bogus", r#"invalid --security-opt 1: "bogus""#),
            ("foo=bar", r#"invalid --security-opt 2: "foo=bar""#),
            (
                "no-new-privileges=maybe",
                r#"invalid --security-opt 2: "no-new-privileges=maybe""#,
            ),
            (
                "systempaths=confined",
                r#"invalid --security-opt 2: "systempaths=confined""#,
            ),
            ("writable-cgroups=true", "writable-cgroups is not supported"),
        ] {
            let err = opts(&[opt]).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(err.message.contains(wanted), "{opt}: {}", err.message);
        }
    }

    #[test]
    fn labels_apparmor_and_system_paths_are_recorded_for_the_engine() {
        let p = opts(&[
            "label=disable",
            "label:type:svirt_t",
            "apparmor=docker-default",
            "systempaths=unconfined",
            "writable-cgroups=false",
        ])
        .unwrap();
        assert_eq!(p.security.labels, vec!["disable", "type:svirt_t"]);
        assert_eq!(p.security.apparmor.as_deref(), Some("docker-default"));
        assert!(p.unconfined_paths);
    }
}
