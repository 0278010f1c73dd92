//! The OCI process an exec runs, built from the container's record and the exec's config. Pure:
//! the caller resolves the user; this decides env, cwd, capabilities, limits and terminal.

use serde_json::{json, Value};

use super::ExecConfig;
use crate::engine::container::spec::HostFacts;
use crate::engine::container::types::ContainerRecord;
use crate::engine::container::user::ResolvedUser;

/// The process JSON for libcontainer's tenant builder.
pub fn build(
    rec: &ContainerRecord,
    cfg: &ExecConfig,
    user: &ResolvedUser,
    host: HostFacts,
) -> Value {
    // As Docker's exec: the daemon's variables (TERM after the exec's terminal), the
    // container's over them, the exec's over those; HOME of the exec's user unless set.
    use crate::engine::container::env;
    let env = env::with_home(
        env::replace_or_append(
            env::replace_or_append(
                env::daemon_env(&rec.config.hostname, cfg.tty),
                &rec.config.env,
            ),
            &cfg.env,
        ),
        &user.home,
    );
    let cwd = [&cfg.working_dir, &rec.config.working_dir]
        .into_iter()
        .find(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".into());
    let h = &rec.host;
    let privileged = cfg.privileged || h.privileged;
    let caps = crate::engine::container::caps::effective(
        privileged,
        &h.cap_add,
        &h.cap_drop,
        host.cap_bounding,
    )
    .0;
    let groups =
        crate::engine::container::user::supplementary_gids(user.gid, &user.additional_gids);
    let mut process = json!({
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": groups},
        "args": cfg.cmd,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
    });
    // As in Docker (its exec starts from the container's OCI process), an exec inherits the
    // container's rlimits, OOM score adjustment, no_new_privileges and AppArmor profile,
    // `--privileged` or not.
    let r = &rec.host.runtime;
    process["rlimits"] = json!(crate::engine::container::spec_runtime::rlimits(
        r,
        host.nofile_hard
    ));
    if r.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(r.oom_score_adj);
    }
    let security = &rec.host.security;
    if security.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if let Some(profile) = crate::engine::container::security::apparmor_profile(security, host) {
        process["apparmorProfile"] = json!(profile);
    }
    if let (Some([height, width]), Some(obj)) = (cfg.console_size, process.as_object_mut()) {
        obj.insert(
            "consoleSize".into(),
            json!({"height": height, "width": width}),
        );
    }
    process
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ContainerRecord {
        let mut rec = ContainerRecord::default();
        rec.config.env = vec!["PATH=/bin".into(), "A=1".into()];
        rec.config.hostname = "abc".into();
        rec.config.working_dir = "/srv".into();
        rec
    }

    fn facts() -> HostFacts {
        HostFacts {
            cap_bounding: u64::MAX,
            ..HostFacts::default()
        }
    }

    #[test]
    fn exec_env_overrides_the_containers_and_cwd_defaults_to_the_containers() {
        let cfg = ExecConfig {
            cmd: vec!["sh".into()],
            env: vec!["A=2".into(), "B=3".into()],
            ..Default::default()
        };
        let user = ResolvedUser {
            home: "/home/app".into(),
            ..ResolvedUser::default()
        };
        let p = build(&record(), &cfg, &user, facts());
        let env: Vec<&str> = p["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            env,
            vec!["PATH=/bin", "HOSTNAME=abc", "A=2", "B=3", "HOME=/home/app"]
        );
        assert_eq!(p["cwd"], "/srv");
    }

    #[test]
    fn an_exec_inherits_the_containers_no_new_privileges() {
        let cfg = ExecConfig {
            cmd: vec!["sh".into()],
            ..Default::default()
        };
        let mut rec = record();
        let p = build(&rec, &cfg, &ResolvedUser::default(), facts());
        assert_eq!(
            p.get("noNewPrivileges"),
            None,
            "off by default, as in Docker"
        );
        rec.host.security.no_new_privileges = true;
        let privileged = ExecConfig {
            privileged: true,
            ..cfg
        };
        let p = build(&rec, &privileged, &ResolvedUser::default(), facts());
        assert_eq!(p["noNewPrivileges"], true);
    }

    #[test]
    fn a_tty_exec_gets_a_terminal_term_and_its_size() {
        let cfg = ExecConfig {
            cmd: vec!["sh".into()],
            tty: true,
            working_dir: "/etc".into(),
            console_size: Some([40, 120]),
            ..Default::default()
        };
        let p = build(
            &record(),
            &cfg,
            &ResolvedUser {
                uid: 65534,
                gid: 65534,
                additional_gids: vec![],
                home: "/nonexistent".into(),
            },
            facts(),
        );
        assert_eq!(p["terminal"], true);
        assert_eq!(p["cwd"], "/etc");
        assert_eq!(p["consoleSize"]["width"], 120);
        assert_eq!(p["user"]["uid"], 65534);
        assert!(p["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "TERM=xterm"));
    }

    #[test]
    fn a_privileged_exec_gets_every_capability() {
        let cfg = ExecConfig {
            cmd: vec!["sh".into()],
            privileged: true,
            ..Default::default()
        };
        let plain = build(
            &record(),
            &ExecConfig {
                privileged: false,
                ..cfg.clone()
            },
            &ResolvedUser::default(),
            facts(),
        );
        let p = build(&record(), &cfg, &ResolvedUser::default(), facts());
        let n = |v: &Value| v["capabilities"]["effective"].as_array().unwrap().len();
        assert!(n(&p) > n(&plain));
    }
}
