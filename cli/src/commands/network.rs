//! `berth network create|ls|inspect|rm|prune|connect|disconnect`: docker's flags, columns,
//! `--format` fields (`.ID .Name .Driver .Scope .IPv6 .Internal .Labels .CreatedAt`) and
//! messages. What berthd cannot do it refuses itself, by name.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::PruneNetworksOptionsBuilder;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::inspect::print_raw;
use super::prune::confirm;
use super::ps::filters;
use crate::client::Client;
use crate::output::{render_rows, Template};
use crate::stream::escape;

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// `berth network …`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

/// `berth network create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    pub subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    pub ip_range: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    pub gateway: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Control the network's scope
    #[arg(long)]
    pub scope: Option<String>,
    /// NETWORK
    pub name: String,
}

/// `berth network ls`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

/// `berth network inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `berth network rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK...
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `berth network prune`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth network connect`
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_name = "list")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings")]
    pub link_local_ip: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings")]
    pub driver_opt: Vec<String>,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

/// `berth network disconnect`
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK
    pub network: String,
    /// CONTAINER
    pub container: String,
}

/// Runs one `network` subcommand.
pub async fn run(client: &Client, command: NetworkCommand) -> Result<i32> {
    match command {
        NetworkCommand::Create(a) => create(client, a).await,
        NetworkCommand::Ls(a) => list(client, a).await,
        NetworkCommand::Inspect(a) => inspect(client, a).await,
        NetworkCommand::Rm(a) => remove(client, a).await,
        NetworkCommand::Prune(a) => prune(client, a).await,
        NetworkCommand::Connect(a) => connect(client, a).await,
        NetworkCommand::Disconnect(a) => {
            let request = NetworkDisconnectRequest {
                container: a.container,
                force: Some(a.force),
            };
            client
                .docker()?
                .disconnect_network(&a.network, request)
                .await?;
            Ok(0)
        }
    }
}

/// `key=value` pairs of a repeatable map flag, refusing a pair without `=`.
fn map_of(flag: &str, pairs: &[String]) -> Result<HashMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => bail!("invalid argument {p:?} for \"--{flag}\" flag: bad format"),
        })
        .collect()
}

/// Docker's `consolidateIpam`: each `--ip-range`, `--gateway` and `--aux-address` goes to the
/// subnet that contains it, one range and one gateway a subnet; subnets must not overlap.
fn consolidate_ipam(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &HashMap<String, String>,
) -> Result<Vec<IpamConfig>> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let nets = subnets
        .iter()
        .map(|s| Cidr::parse(s).ok_or_else(|| anyhow!("invalid subnet {s}")))
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in nets.iter().enumerate() {
        if nets[..i].iter().any(|b| a.overlaps(b)) {
            bail!("multiple overlapping subnet configuration is not supported");
        }
    }
    let mut out: Vec<IpamConfig> = subnets
        .iter()
        .map(|s| IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        })
        .collect();
    let owner = |what: &str, value: &str| -> Result<usize> {
        let inner = Cidr::parse(value).ok_or_else(|| anyhow!("invalid {what} {value}"))?;
        nets.iter()
            .position(|n| n.contains(&inner))
            .ok_or_else(|| anyhow!("no matching subnet for {what} {value}"))
    };
    for r in ranges {
        let c = &mut out[owner("range", r)?];
        if let Some(other) = &c.ip_range {
            bail!(
                "cannot configure multiple ranges ({r}, {other}) on the same subnet ({})",
                c.subnet.clone().unwrap_or_default()
            );
        }
        c.ip_range = Some(r.clone());
    }
    for g in gateways {
        let c = &mut out[owner("gateway", g)?];
        if let Some(other) = &c.gateway {
            bail!(
                "cannot configure multiple gateways ({g}, {other}) for the same subnet ({})",
                c.subnet.clone().unwrap_or_default()
            );
        }
        c.gateway = Some(g.clone());
    }
    for (key, addr) in aux {
        let c = &mut out[owner("aux-address", addr)?];
        c.auxiliary_addresses
            .get_or_insert_with(HashMap::new)
            .insert(key.clone(), addr.clone());
    }
    Ok(out)
}

/// An address or a CIDR block, as 128-bit numbers (IPv4 mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    base: u128,
    /// Prefix length over the 128 bits.
    prefix: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = s.split_once('/').map_or((s, None), |(a, l)| (a, Some(l)));
        let (base, bits) = match addr.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 32),
            std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        let len: u32 = match len {
            Some(l) => l.parse().ok().filter(|l| *l <= bits)?,
            None => bits,
        };
        let prefix = 128 - bits + len;
        Some(Cidr {
            base: base & Self::mask(prefix),
            prefix,
        })
    }

    fn mask(prefix: u32) -> u128 {
        u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
    }

    fn contains(&self, inner: &Cidr) -> bool {
        inner.prefix >= self.prefix && inner.base & Self::mask(self.prefix) == self.base
    }

    fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

async fn create(client: &Client, a: CreateArgs) -> Result<i32> {
    let aux = map_of("aux-address", &a.aux_address)?;
    let config = consolidate_ipam(&a.subnet, &a.ip_range, &a.gateway, &aux)?;
    let request = NetworkCreateRequest {
        name: a.name,
        driver: Some(a.driver),
        options: Some(map_of("opt", &a.opt)?),
        labels: Some(map_of("label", &label_pairs(&a.label))?),
        internal: Some(a.internal),
        attachable: Some(a.attachable),
        ingress: Some(a.ingress),
        enable_ipv6: Some(a.ipv6),
        scope: a.scope,
        ipam: Some(Ipam {
            driver: Some(a.ipam_driver),
            config: Some(config),
            options: Some(map_of("ipam-opt", &a.ipam_opt)?),
        }),
        ..Default::default()
    };
    let created = client.docker()?.create_network(request).await?;
    println!("{}", created.id);
    Ok(0)
}

/// Labels as `key=value`; a bare key is an empty value, as docker's.
fn label_pairs(labels: &[String]) -> Vec<String> {
    labels
        .iter()
        .map(|l| {
            if l.contains('=') {
                l.clone()
            } else {
                format!("{l}=")
            }
        })
        .collect()
}

async fn list(client: &Client, a: ListArgs) -> Result<i32> {
    let filters = serde_json::to_string(&filters(&a.filter))?;
    let path = format!("/networks?filters={}", escape(&filters));
    let Value::Array(mut nets) = client.get_json(&path).await? else {
        bail!("bad response to GET /networks");
    };
    nets.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let rows: Vec<Value> = nets.iter().map(|n| row(n, a.no_trunc)).collect();
    let format = match (a.quiet, a.format.as_deref()) {
        (true, _) => "{{.ID}}",
        (false, Some(f)) if !f.is_empty() && f != "table" => f,
        _ => DEFAULT_FORMAT,
    };
    let header = json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
    });
    print!("{}", render_rows(format, &header, &rows)?);
    Ok(0)
}

fn row(n: &Value, no_trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or_default();
    let id = if no_trunc {
        id
    } else {
        &id[..id.len().min(12)]
    };
    let labels = n["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "ID": id, "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false),
        "Internal": n["Internal"].as_bool().unwrap_or(false),
        "Labels": labels, "CreatedAt": n["Created"],
    })
}

async fn inspect(client: &Client, a: InspectArgs) -> Result<i32> {
    let template = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut code = 0;
    for name in &a.networks {
        let verbose = if a.verbose { "?verbose=true" } else { "" };
        match client
            .get_raw(&format!("/networks/{}{verbose}", escape(name)))
            .await
        {
            Ok(raw) => found.push(raw),
            Err(e) => {
                eprintln!("{}", client.describe(&e));
                code = 1;
            }
        }
    }
    print_raw(&found, template.as_ref())?;
    Ok(code)
}

/// Docker's warning before the routing mesh's network goes (the question follows it).
const INGRESS_WARNING: &str = "WARNING! Before removing the routing-mesh network, make sure all \
    the nodes in your swarm run the same docker engine version. Otherwise, removal may not be \
    effective and functionality of newly create ingress networks will be impaired.";

async fn remove(client: &Client, a: RmArgs) -> Result<i32> {
    let docker = client.docker()?;
    let mut code = 0;
    for name in &a.networks {
        // As docker's: an ingress network goes only when the user says yes; a no skips it.
        let ingress = docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_ok_and(|n| n.ingress == Some(true));
        if ingress && !confirm(INGRESS_WARNING)? {
            continue;
        }
        match docker.remove_network(name).await {
            Ok(()) => println!("{name}"),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) if a.force => {}
            Err(e) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn prune(client: &Client, a: PruneArgs) -> Result<i32> {
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.";
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let options = PruneNetworksOptionsBuilder::new()
        .filters(&filters(&a.filter))
        .build();
    let report = client.docker()?.prune_networks(Some(options)).await?;
    let deleted = report.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for name in deleted {
            println!("{name}");
        }
        println!();
    }
    Ok(0)
}

async fn connect(client: &Client, a: ConnectArgs) -> Result<i32> {
    let ipam = (a.ip.is_some() || a.ip6.is_some() || !a.link_local_ip.is_empty()).then(|| {
        EndpointIpamConfig {
            ipv4_address: a.ip.clone(),
            ipv6_address: a.ip6.clone(),
            link_local_ips: (!a.link_local_ip.is_empty()).then(|| a.link_local_ip.clone()),
        }
    });
    let request = NetworkConnectRequest {
        container: a.container,
        endpoint_config: Some(EndpointSettings {
            ipam_config: ipam,
            aliases: (!a.alias.is_empty()).then_some(a.alias),
            links: (!a.link.is_empty()).then_some(a.link),
            driver_opts: Some(map_of("driver-opt", &a.driver_opt)?),
            ..Default::default()
        }),
    };
    client
        .docker()?
        .connect_network(&a.network, request)
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ranges_gateways_and_aux_addresses_go_to_the_subnet_that_holds_them() {
        let aux: HashMap<String, String> = [("router".to_string(), "10.2.0.5".to_string())].into();
        let c = consolidate_ipam(
            &strings(&["10.1.0.0/16", "10.2.0.0/16"]),
            &strings(&["10.2.1.0/24"]),
            &strings(&["10.2.0.1", "10.1.0.1"]),
            &aux,
        )
        .unwrap();
        assert_eq!(c[0].gateway.as_deref(), Some("10.1.0.1"));
        assert_eq!(c[0].ip_range, None);
        assert!(c[0].auxiliary_addresses.is_none());
        assert_eq!(c[1].gateway.as_deref(), Some("10.2.0.1"));
        assert_eq!(c[1].ip_range.as_deref(), Some("10.2.1.0/24"));
        assert_eq!(
            c[1].auxiliary_addresses.as_ref().unwrap()["router"],
            "10.2.0.5"
        );
        let err = |s: &[&str], r: &[&str], g: &[&str]| {
            consolidate_ipam(&strings(s), &strings(r), &strings(g), &HashMap::new())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["10.1.0.0/16"], &[], &["10.9.0.1"]),
            "no matching subnet for gateway 10.9.0.1"
        );
        assert_eq!(
            err(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert!(err(&["10.1.0.0/16"], &[], &["10.1.0.1", "10.1.0.2"])
            .starts_with("every ip-range or gateway must have a corresponding subnet"));
        assert_eq!(
            err(&["10.1.0.0/16", "10.2.0.0/16"], &[], &["10.1.0.1", "10.1.0.2"]),
            "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)"
        );
        assert!(consolidate_ipam(
            &strings(&["fd00:1::/64"]),
            &[],
            &strings(&["fd00:1::1"]),
            &HashMap::new()
        )
        .is_ok());
    }
}
