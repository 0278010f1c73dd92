//! Binds every `-H` address before the daemon starts its work: unix sockets with their mode and
//! group, tcp with TLS when configured, and unauthenticated tcp only where the rule allows it.

use std::net::ToSocketAddrs as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::addr::{parse_host, unauthenticated_tcp, HostAddr};
use super::error::ListenError;
use super::settings::ListenConfig;
use super::unix::{bind_unix, lookup_group, socket_gid};

/// A bound listener.
pub enum Listener {
    /// The unix socket and its path (removed at shutdown).
    Unix(tokio::net::UnixListener, PathBuf),
    /// Plain HTTP over tcp.
    Tcp(tokio::net::TcpListener),
    /// HTTPS over tcp with this configuration.
    Tls(tokio::net::TcpListener, Arc<rustls::ServerConfig>),
}

/// Binds `hosts` as `config` says. Must be called inside a tokio runtime, before anything else
/// runs (the unix socket is created under a temporary umask).
pub fn bind(hosts: &[String], config: &ListenConfig) -> Result<Vec<Listener>, ListenError> {
    let server_tls = match &config.tls {
        Some(t) => Some(super::tls::server_config(t)?),
        None => None,
    };
    let mut out = Vec::new();
    for host in hosts {
        let bind_err = |source| ListenError::Bind {
            host: host.clone(),
            source,
        };
        match parse_host(host, server_tls.is_some())? {
            HostAddr::Unix(path) => {
                let gid = socket_gid(&config.group, lookup_group)?;
                let l = bind_unix(host, &path, gid)?;
                l.set_nonblocking(true).map_err(bind_err)?;
                let l = tokio::net::UnixListener::from_std(l).map_err(bind_err)?;
                out.push(Listener::Unix(l, path));
            }
            HostAddr::Tcp(addr) => {
                let addrs: Vec<_> = addr.to_socket_addrs().map_err(bind_err)?.collect();
                if !config.authenticates_clients() {
                    let warning = unauthenticated_tcp(host, &addrs, config.insecure_tcp)?;
                    tracing::warn!(host = %host, "{warning}");
                }
                let l = std::net::TcpListener::bind(&addrs[..]).map_err(bind_err)?;
                l.set_nonblocking(true).map_err(bind_err)?;
                let l = tokio::net::TcpListener::from_std(l).map_err(bind_err)?;
                out.push(match &server_tls {
                    Some(tls) => Listener::Tls(l, tls.clone()),
                    None => Listener::Tcp(l),
                });
            }
        }
    }
    Ok(out)
}
