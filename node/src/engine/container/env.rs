//! A process's environment as Docker builds it (moby's `CreateDaemonEnvironment` and
//! `ReplaceOrAppendEnvValues`): `PATH` and `HOSTNAME` (and `TERM` with a terminal) first,
//! then each variable of the container (and an exec's) replacing the one of its name or added
//! after them, so a container's own `HOSTNAME` or `TERM` wins; `HOME` last, when nothing set
//! it and the user has one, as runc adds it.

/// Docker's `PATH` for an image that sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn key(var: &str) -> &str {
    var.split_once('=').map_or(var, |(k, _)| k)
}

/// The daemon's variables for a process of a container named `hostname`.
pub fn daemon_env(hostname: &str, tty: bool) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        env.push("TERM=xterm".into());
    }
    env
}

/// `over` applied to `base`: a variable replaces the one of its name in place, or is added;
/// a name without `=` removes it.
pub fn replace_or_append(mut base: Vec<String>, over: &[String]) -> Vec<String> {
    for var in over {
        let name = key(var);
        let at = base.iter().position(|e| key(e) == name);
        match (at, var.contains('=')) {
            (Some(i), true) => base[i] = var.clone(),
            (Some(i), false) => {
                base.remove(i);
            }
            (None, true) => base.push(var.clone()),
            (None, false) => {}
        }
    }
    base
}

/// `HOME` of the process's user added unless the environment has one. Left unset,
/// libcontainer looks the user up itself inside the container, where a FIFO at /etc/passwd
/// would hang the start for ever.
pub fn with_home(mut env: Vec<String>, home: &str) -> Vec<String> {
    if !home.is_empty() && !env.iter().any(|e| key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_containers_variables_replace_the_daemons_in_place() {
        let env = replace_or_append(
            daemon_env("abc", true),
            &strings(&["PATH=/bin", "TERM=dumb", "A=1", "HOSTNAME=mine"]),
        );
        assert_eq!(
            env,
            strings(&["PATH=/bin", "HOSTNAME=mine", "TERM=dumb", "A=1"])
        );
        let env = replace_or_append(env, &strings(&["A=2", "TERM", "B=3"]));
        assert_eq!(env, strings(&["PATH=/bin", "HOSTNAME=mine", "A=2", "B=3"]));
        assert_eq!(
            with_home(env.clone(), "/root").last().unwrap(),
            "HOME=/root"
        );
        let set = replace_or_append(env, &strings(&["HOME=/srv"]));
        assert_eq!(with_home(set.clone(), "/root"), set);
        assert_eq!(
            daemon_env("h", false),
            strings(&[DEFAULT_PATH, "HOSTNAME=h"])
        );
    }
}
