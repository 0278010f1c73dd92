//! Legacy links on the default bridge (`--link name:alias`), as Docker made them before
//! user-defined networks: the linked container must exist at create and run at start; the
//! linking container then gets a hosts line `ip alias id name` and the variables
//! `ALIAS_PORT…`, `ALIAS_NAME`, `ALIAS_ENV_…`. (On a user-defined network a link is a name only
//! the linking container resolves: the DNS server's part, see `network/dns/server.rs`.)
//! The linked container's record is read from the store, never locked: two containers linked
//! both ways may start at once.

use std::net::Ipv4Addr;

use super::types::ContainerRecord;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::network::Link;

/// What a container's links give it at start.
#[derive(Debug, Default, PartialEq)]
pub struct LinkFiles {
    /// `/etc/hosts` lines.
    pub hosts: Vec<String>,
    /// Environment variables (the container's own win over them).
    pub env: Vec<String>,
}

fn not_found(name: &str) -> String {
    format!("could not get container for {name}: No such container: {name}")
}

impl Engine {
    /// At create: every link names an existing container (Docker's wording; a 400, not its
    /// 404, which makes the docker CLI pull the image first, as for a missing network).
    pub(crate) fn check_links(&self, links: &[Link]) -> Result<()> {
        for l in links {
            self.lookup(&l.name)
                .map_err(|_| EngineError::InvalidArgument(not_found(&l.name)))?;
        }
        Ok(())
    }

    /// At start: each linked container must run and be on the default bridge.
    pub(crate) fn link_files(&self, rec: &ContainerRecord) -> Result<LinkFiles> {
        let mut out = LinkFiles::default();
        if rec.host.net.links.is_empty() {
            return Ok(out);
        }
        let bridge = self
            .network
            .find("bridge")?
            .ok_or_else(|| EngineError::Internal("the default bridge network is missing".into()))?;
        for l in &rec.host.net.links {
            let gone = || EngineError::NotFound(not_found(&l.name));
            let handle = self.lookup(&l.name).map_err(|_| gone())?;
            let child: ContainerRecord = self.records.get(&handle.id)?.ok_or_else(gone)?;
            let as_seen = format!("/{} AS /{}/{}", child.name, rec.name, l.alias);
            if !child.state.status.is_running() {
                return Err(EngineError::Internal(format!(
                    "Cannot link to a non running container: {as_seen}"
                )));
            }
            let ip = self
                .network
                .endpoints_of(&child.id)?
                .into_iter()
                .find(|e| e.network_id == bridge.id)
                .and_then(|e| e.ip)
                .ok_or_else(|| {
                    EngineError::InvalidArgument(format!(
                        "Cannot link to /{}, as it does not belong to the default network",
                        child.name
                    ))
                })?;
            let short = crate::engine::short_id(&child.id);
            out.hosts
                .push(format!("{ip}\t{} {short} {}", l.alias, child.name));
            let name = format!("/{}/{}", rec.name, l.alias);
            out.env.extend(link_env(
                &l.alias,
                &name,
                ip,
                &child.config.exposed_ports,
                &child.config.env,
            ));
        }
        Ok(out)
    }
}

impl Engine {
    /// `DELETE /containers/{/parent/alias}?link=1` (`docker rm --link`): the parent forgets the
    /// link; both containers stay. Takes effect at the parent's next start, as in Docker.
    pub async fn remove_link(&self, name: &str) -> Result<()> {
        let full = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        let (parent, alias) = full.rsplit_once('/').unwrap_or(("", ""));
        if parent.is_empty() {
            return Err(EngineError::Conflict(
                "Conflict, cannot remove the default link name.".into(),
            ));
        }
        let handle = self.lookup(parent).map_err(|_| {
            EngineError::NotFound(format!("Cannot get parent {parent} for link name {full}"))
        })?;
        let mut rec = handle.lock().await;
        let before = rec.host.net.links.len();
        rec.host.net.links.retain(|l| l.alias != alias);
        if rec.host.net.links.len() == before {
            return Err(EngineError::NotFound(format!("no such link: {full}")));
        }
        self.records.put(&rec.id, &*rec)
    }
}

/// Docker's link variables for a container at `ip` exposing `ports` (`80/tcp`), with its
/// environment `child_env`, linked as `alias` (`name` is `/linking/alias`).
pub fn link_env(
    alias: &str,
    name: &str,
    ip: Ipv4Addr,
    ports: &[String],
    child_env: &[String],
) -> Vec<String> {
    let prefix = alias.to_uppercase().replace('-', "_");
    let mut parsed: Vec<(u16, String)> = ports
        .iter()
        .filter_map(|p| {
            let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
            Some((port.parse().ok()?, proto.to_lowercase()))
        })
        .collect();
    // Docker's order: TCP ports first, then by number; the first is `ALIAS_PORT`.
    parsed.sort_by_key(|(port, proto)| (proto != "tcp", *port, proto.clone()));
    let mut env = Vec::new();
    if let Some((port, proto)) = parsed.first() {
        env.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in &parsed {
        let key = format!("{prefix}_PORT_{port}_{}", proto.to_uppercase());
        env.push(format!("{key}={proto}://{ip}:{port}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={port}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    env.push(format!("{prefix}_NAME={name}"));
    for e in child_env {
        let Some((k, v)) = e.split_once('=') else {
            continue;
        };
        // Docker leaves out what a build sets for every image.
        if k != "HOME" && k != "PATH" {
            env.push(format!("{prefix}_ENV_{k}={v}"));
        }
    }
    env
}

/// `env` with `links` added before it, a variable the container sets itself winning.
pub fn with_link_env(env: &[String], links: &[String]) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let own: std::collections::HashSet<String> = env.iter().map(|e| key(e)).collect();
    links
        .iter()
        .filter(|l| !own.contains(&key(l)))
        .chain(env.iter())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_variables_are_dockers() {
        let env = link_env(
            "my-db",
            "/web/my-db",
            Ipv4Addr::new(172, 17, 0, 2),
            &["6379/tcp".into(), "53/udp".into()],
            &["PATH=/bin".into(), "PASSWORD=x".into()],
        );
        assert_eq!(
            env,
            [
                "MY_DB_PORT=tcp://172.17.0.2:6379",
                "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
                "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_NAME=/web/my-db",
                "MY_DB_ENV_PASSWORD=x",
            ]
        );
        let merged = with_link_env(&["MY_DB_NAME=mine".into()], &env);
        assert!(merged.contains(&"MY_DB_NAME=mine".to_string()));
        assert!(!merged.contains(&"MY_DB_NAME=/web/my-db".to_string()));
    }
}
