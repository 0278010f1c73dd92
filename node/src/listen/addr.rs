//! `-H` addresses: `unix://PATH` and `tcp://[HOST][:PORT]` with Docker's defaults (host
//! 127.0.0.1, port 2375, or 2376 with TLS), and the rule for tcp without client authentication:
//! refused beyond loopback unless `--insecure-tcp`, a warning on loopback. No sockets here.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::error::ListenError;

/// Docker's plain-HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 2375;
/// Docker's TLS port.
pub const DEFAULT_TLS_PORT: u16 = 2376;

/// A parsed `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAddr {
    /// `unix://PATH`
    Unix(PathBuf),
    /// `tcp://HOST:PORT`, with the defaults filled in; an IPv6 host keeps its brackets.
    Tcp(String),
}

/// Parses a `-H` value; `tls` picks the default port.
pub fn parse_host(host: &str, tls: bool) -> Result<HostAddr, ListenError> {
    let invalid = |reason: &str| ListenError::InvalidHost {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(invalid("empty socket path"));
        }
        return Ok(HostAddr::Unix(PathBuf::from(path)));
    }
    let Some(rest) = host.strip_prefix("tcp://") else {
        return Err(invalid("use unix:///path or tcp://host:port"));
    };
    if rest.contains('/') {
        return Err(invalid("a tcp address takes no path"));
    }
    let default_port = if tls {
        DEFAULT_TLS_PORT
    } else {
        DEFAULT_HTTP_PORT
    };
    // `[v6]:port`, `[v6]`, `host:port`, `host`, `:port` or nothing.
    let (name, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (inner, after) = v6.split_once(']').ok_or_else(|| invalid("missing ']'"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| invalid("bad port"))?),
        };
        (format!("[{inner}]"), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p.parse().map_err(|_| invalid("bad port"))?,
    };
    let name = if name.is_empty() || name == "[]" {
        "127.0.0.1".to_string()
    } else {
        name
    };
    Ok(HostAddr::Tcp(format!("{name}:{port}")))
}

/// What serving tcp without client authentication on `addrs` means for `host`: an error when
/// any address is reachable from outside the machine (unspecified counts) unless
/// `insecure_tcp`, otherwise the warning to log.
pub fn unauthenticated_tcp(
    host: &str,
    addrs: &[SocketAddr],
    insecure_tcp: bool,
) -> Result<String, ListenError> {
    let beyond_loopback = addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback());
    if !beyond_loopback {
        return Ok(format!(
            "serving {host} without --tlsverify: every local user and process that can reach \
             it has root on this machine"
        ));
    }
    if insecure_tcp {
        return Ok(format!(
            "serving {host} without --tlsverify (--insecure-tcp): everyone who can reach this \
             address has root on this machine"
        ));
    }
    Err(ListenError::Refused(format!(
        "refusing to serve {host} without --tlsverify: everyone who can reach this address would \
         have root on this machine. Serve TLS with client certificates (`berth tls init`, then \
         berthd --tlsverify), listen on 127.0.0.1, or pass --insecure-tcp to accept the risk"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str, tls: bool) -> String {
        match parse_host(s, tls).unwrap() {
            HostAddr::Tcp(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tcp_hosts_get_dockers_defaults() {
        assert_eq!(tcp("tcp://10.0.0.1:99", false), "10.0.0.1:99");
        assert_eq!(tcp("tcp://10.0.0.1", false), "10.0.0.1:2375");
        assert_eq!(tcp("tcp://10.0.0.1", true), "10.0.0.1:2376");
        assert_eq!(tcp("tcp://:2380", false), "127.0.0.1:2380");
        assert_eq!(tcp("tcp://", true), "127.0.0.1:2376");
        assert_eq!(tcp("tcp://[::1]", true), "[::1]:2376");
        assert_eq!(tcp("tcp://[::]:1234", false), "[::]:1234");
        assert_eq!(
            parse_host("unix:///run/b.sock", false).unwrap(),
            HostAddr::Unix("/run/b.sock".into())
        );
        for bad in [
            "unix://",
            "fd://3",
            "tcp://h:port",
            "tcp://h:1/x",
            "tcp://[::1",
        ] {
            assert!(parse_host(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn unauthenticated_tcp_is_refused_beyond_loopback_unless_insecure() {
        let lo: Vec<SocketAddr> = vec![
            "127.0.0.1:2375".parse().unwrap(),
            "[::1]:2375".parse().unwrap(),
        ];
        let warning = unauthenticated_tcp("tcp://localhost:2375", &lo, false).unwrap();
        assert!(warning.contains("without --tlsverify"));
        for addr in ["0.0.0.0:2375", "10.1.2.3:2375", "[::]:2375"] {
            let addrs = vec![addr.parse().unwrap()];
            let e = unauthenticated_tcp("tcp://x", &addrs, false).unwrap_err();
            assert!(e.to_string().contains("--insecure-tcp"), "{e}");
            assert!(unauthenticated_tcp("tcp://x", &addrs, true).is_ok());
        }
        let mixed = vec![lo[0], "10.1.2.3:2375".parse().unwrap()];
        assert!(unauthenticated_tcp("tcp://x", &mixed, false).is_err());
    }
}
