//! Which daemon a command talks to, decided as the docker CLI decides it: `-c/--context` names
//! a context; otherwise `-H` or `BERTH_HOST`/`DOCKER_HOST` mean the implicit `default` context
//! (host and TLS from flags and environment); otherwise `DOCKER_CONTEXT`, then config.json's
//! `currentContext`. A named context comes from the docker CLI's store (`context_store/`):
//! its host, and its TLS material checked as its `skip-tls-verify` says. No requests here.

use anyhow::{anyhow, bail, Result};

use crate::client::{Client, Host, DEFAULT_HOST};
use crate::context_store::{Context, DockerEndpoint, Store, DEFAULT_CONTEXT};
use crate::tls::{self, ClientTls, ServerCheck, TlsFlags};

/// What the environment is read through (a real one, or a test's table).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The options before the command that pick the daemon.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `-H/--host`.
    pub host: Option<String>,
    /// `-c/--context`.
    pub context: Option<String>,
    /// `--tls*`.
    pub tls: TlsFlags,
}

/// A variable's value, when set and not empty.
fn set(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// The variable that overrides contexts with a host, when one is set (berth's first).
pub fn host_override(env: Env<'_>) -> Option<&'static str> {
    ["BERTH_HOST", "DOCKER_HOST"]
        .into_iter()
        .find(|v| set(env, v).is_some())
}

/// The name of the context in use (not checked to exist, as docker does not check it).
pub fn current_context(g: &Globals, env: Env<'_>, store: &Store) -> Result<String> {
    let context = g.context.as_deref().filter(|c| !c.is_empty());
    if context.is_some() && g.host.is_some() {
        bail!("conflicting options: cannot specify both --host and --context");
    }
    if let Some(c) = context {
        return Ok(c.to_string());
    }
    if g.host.is_some() || host_override(env).is_some() {
        return Ok(DEFAULT_CONTEXT.to_string());
    }
    if let Some(c) = set(env, "DOCKER_CONTEXT") {
        return Ok(c);
    }
    // Docker reads on without its config file when the file is broken, and says so.
    match store.current() {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Ok(DEFAULT_CONTEXT.to_string()),
        Err(e) => {
            eprintln!("WARNING: Error loading config file: {e:#}");
            Ok(DEFAULT_CONTEXT.to_string())
        }
    }
}

/// The `default` context's endpoint: the host of `-H`, `BERTH_HOST`, `DOCKER_HOST` or berth's
/// socket, and TLS from the flags and environment.
pub fn default_endpoint(g: &Globals, env: Env<'_>) -> Result<(String, Option<ClientTls>)> {
    let tls = tls::resolve(&g.tls, env)?;
    let raw = g
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| set(env, "BERTH_HOST"))
        .or_else(|| set(env, "DOCKER_HOST"))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    // Shown normalised, as docker shows its default host.
    let host = Host::parse(&raw, tls.is_some()).map_or(raw, |h| h.to_string());
    Ok((host, tls))
}

/// The `default` context as `context ls/inspect` and `create` (copying it) see it.
pub fn default_context(g: &Globals, env: Env<'_>) -> Result<(Context, Option<ClientTls>)> {
    let (host, tls) = default_endpoint(g, env)?;
    let skip = tls.as_ref().is_some_and(|t| t.verify == ServerCheck::Skip);
    let ctx = Context::new(
        DEFAULT_CONTEXT,
        "",
        &DockerEndpoint {
            host,
            skip_tls_verify: skip,
        },
    );
    Ok((ctx, tls))
}

/// The TLS of a stored context: none without material and without `skip-tls-verify`;
/// otherwise its CA (or the system's roots when it has none) unless told to skip the check,
/// and its certificate and key when it has both.
pub fn context_tls(store: &Store, name: &str, ep: &DockerEndpoint) -> Option<ClientTls> {
    let [ca, cert, key] = ["ca.pem", "cert.pem", "key.pem"].map(|f| store.tls_file(name, f));
    if ca.is_none() && cert.is_none() && key.is_none() && !ep.skip_tls_verify {
        return None;
    }
    let verify = match (ep.skip_tls_verify, ca) {
        (true, _) => ServerCheck::Skip,
        (false, Some(ca)) => ServerCheck::Ca(ca),
        (false, None) => ServerCheck::SystemRoots,
    };
    Some(ClientTls {
        verify,
        identity: cert.zip(key),
    })
}

/// The client for the context in use.
pub fn client(g: &Globals, env: Env<'_>) -> Result<Client> {
    let store = Store::from_env(env);
    let name = current_context(g, env, &store)?;
    let (host, tls) = if name == DEFAULT_CONTEXT {
        let (host, tls) = default_endpoint(g, env)?;
        (Host::parse(&host, tls.is_some())?, tls)
    } else {
        let ep = store
            .get(&name)
            .and_then(|ctx| ctx.docker_endpoint())
            .map_err(|e| {
                anyhow!("Failed to initialize: unable to resolve docker endpoint: {e:#}")
            })?;
        let tls = context_tls(&store, &name, &ep);
        let raw = if ep.host.is_empty() {
            DEFAULT_HOST
        } else {
            &ep.host
        };
        let host = Host::parse(raw, tls.is_some()).map_err(|e| anyhow!("context {name:?}: {e}"))?;
        (host, tls)
    };
    let tls = match (&host, tls) {
        (Host::Tcp(_), Some(t)) => Some(tls::client_config(&t)?),
        _ => None,
    };
    Ok(Client {
        host,
        tls,
        context: name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_and_host_variables_beat_contexts_as_in_docker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        store.set_current(Some("cfg")).unwrap();
        let name = |g: &Globals, vars: &[(&str, &str)]| current_context(g, &env(vars), &store);
        let plain = Globals::default();
        assert_eq!(name(&plain, &[]).unwrap(), "cfg");
        assert_eq!(
            name(&plain, &[("DOCKER_CONTEXT", "envctx")]).unwrap(),
            "envctx"
        );
        for host in ["DOCKER_HOST", "BERTH_HOST"] {
            let vars = [(host, "unix:///x"), ("DOCKER_CONTEXT", "envctx")];
            assert_eq!(name(&plain, &vars).unwrap(), "default");
        }
        let flag = Globals {
            context: Some("flagctx".into()),
            ..Globals::default()
        };
        assert_eq!(
            name(&flag, &[("DOCKER_HOST", "unix:///x")]).unwrap(),
            "flagctx"
        );
        let host = Globals {
            host: Some("unix:///h".into()),
            ..Globals::default()
        };
        assert_eq!(
            name(&host, &[("DOCKER_CONTEXT", "envctx")]).unwrap(),
            "default"
        );
        let both = Globals {
            host: Some("unix:///h".into()),
            context: Some("c".into()),
            ..Globals::default()
        };
        assert_eq!(
            name(&both, &[]).unwrap_err().to_string(),
            "conflicting options: cannot specify both --host and --context"
        );
    }

    #[test]
    fn the_default_host_is_the_flag_then_berth_host_then_docker_host() {
        let host = |flag: Option<&str>, vars: &[(&str, &str)]| {
            let g = Globals {
                host: flag.map(str::to_string),
                ..Globals::default()
            };
            default_endpoint(&g, &env(vars)).unwrap().0
        };
        let both = [
            ("BERTH_HOST", "unix:///b.sock"),
            ("DOCKER_HOST", "unix:///d.sock"),
        ];
        assert_eq!(
            host(Some("tcp://1.2.3.4:2375"), &both),
            "tcp://1.2.3.4:2375"
        );
        assert_eq!(host(None, &both), "unix:///b.sock");
        assert_eq!(
            host(
                None,
                &[("BERTH_HOST", ""), ("DOCKER_HOST", "unix:///d.sock")]
            ),
            "unix:///d.sock"
        );
        assert_eq!(host(None, &[]), DEFAULT_HOST);
        assert_eq!(host(Some("tcp://h"), &[]), "tcp://h:2375");
    }

    #[test]
    fn a_named_context_gives_its_host_and_tls() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("DOCKER_CONFIG", dir.path().to_str().unwrap())];
        let store = Store::at(dir.path());
        let ep = DockerEndpoint {
            host: "unix:///run/other.sock".into(),
            skip_tls_verify: false,
        };
        store.write(&Context::new("sock", "", &ep)).unwrap();
        let g = Globals {
            context: Some("sock".into()),
            ..Globals::default()
        };
        let c = client(&g, &env(&vars)).unwrap();
        assert_eq!(c.host, Host::Unix("/run/other.sock".into()));
        assert_eq!(c.context, "sock");
        let missing = Globals {
            context: Some("nope".into()),
            ..Globals::default()
        };
        let err = client(&missing, &env(&vars)).unwrap_err().to_string();
        assert!(
            err.starts_with("Failed to initialize: unable to resolve docker endpoint: context \"nope\": context not found"),
            "{err}"
        );
        let tcp = DockerEndpoint {
            host: "tcp://h".into(),
            skip_tls_verify: true,
        };
        assert_eq!(
            context_tls(&store, "x", &tcp),
            Some(ClientTls {
                verify: ServerCheck::Skip,
                identity: None
            })
        );
        store
            .reset_tls("x", &[("cert.pem".into(), vec![1])])
            .unwrap();
        let checked = DockerEndpoint {
            skip_tls_verify: false,
            ..tcp
        };
        assert_eq!(
            context_tls(&store, "x", &checked).map(|t| t.verify),
            Some(ServerCheck::SystemRoots)
        );
        assert_eq!(context_tls(&store, "none", &checked), None);
    }
}
