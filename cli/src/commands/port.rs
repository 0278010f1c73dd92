//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published ports as docker
//! prints them (`8080/tcp -> 127.0.0.1:18080`), or the host addresses of one port.

use anyhow::{bail, Result};
use clap::Args;

use crate::client::Client;
use crate::stream::escape;

/// `berth port`
#[derive(Debug, Args)]
pub struct PortArgs {
    /// CONTAINER
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// Prints the port mappings.
pub async fn port(client: &Client, a: PortArgs) -> Result<i32> {
    let c = client
        .get_json(&format!("/containers/{}/json", escape(&a.container)))
        .await?;
    let ports = c["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let wanted = a.port.as_deref().map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k.as_str(), ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut printed = false;
    for key in keys {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in ports[key].as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let host_port = b["HostPort"].as_str().unwrap_or("");
            let addr = if ip.contains(':') {
                format!("[{ip}]:{host_port}")
            } else {
                format!("{ip}:{host_port}")
            };
            if wanted.is_some() {
                println!("{addr}");
            } else {
                println!("{key} -> {addr}");
            }
            printed = true;
        }
    }
    match (wanted, printed) {
        (Some(p), false) => bail!("Error: No public port '{p}' published for {}", a.container),
        _ => Ok(0),
    }
}
