//! The engine's side of networking: checks at create, endpoints at start and exit, connect and
//! disconnect, and what inspect shows. Container code calls these few methods and nothing else.

use std::path::PathBuf;

use super::files;
use super::manager::NetworkIndex;
use super::types::{EndpointRecord, EndpointRequest, NetworkRecord, PortMapping};
use crate::engine::container::{ContainerRecord, HostSettings};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// One network of a container as inspect shows it.
#[derive(Debug, Clone)]
pub struct ContainerNetwork {
    /// Shared with the `NetworkIndex` it came from (the list has a row per container).
    pub network: std::sync::Arc<NetworkRecord>,
    pub request: EndpointRequest,
    /// Present while the container runs; shared with the endpoint table.
    pub endpoint: Option<std::sync::Arc<EndpointRecord>>,
}

impl Engine {
    /// The network manager.
    pub fn networks(&self) -> &super::Networks {
        &self.network
    }

    /// Refuses a create naming a network that does not exist (Docker's 404 wording).
    /// A 400, not Docker's 404: the docker CLI answers a 404 at create by pulling the image,
    /// which reaches a registry for nothing.
    pub(crate) fn check_networks(&self, host: &HostSettings) -> Result<()> {
        self.check_networks_exist(host).map_err(|e| match e {
            EngineError::NotFound(m) => EngineError::InvalidArgument(m),
            other => other,
        })?;
        for (key, e) in host.net.endpoints.iter().filter(|(_, e)| e.ipv6.is_some()) {
            if let Ok(n) = self.network.get(key) {
                super::ipv6::check_request(&n, e)?;
            }
        }
        Ok(())
    }

    /// Brings this node a copy of each swarm network a standalone container names that it
    /// does not have yet (attachable networks only, as Docker allows); tasks get theirs from
    /// the executor.
    pub(crate) async fn bring_swarm_networks(
        &self,
        host: &HostSettings,
        is_task: bool,
    ) -> Result<Vec<crate::network::CopyHold>> {
        let mut holds = Vec::new();
        let Some(swarm) = self.network.swarm.get().filter(|_| !is_task) else {
            return Ok(holds);
        };
        let mode = host.network_mode.as_str();
        let named = std::iter::once(mode).chain(host.net.endpoints.keys().map(String::as_str));
        for key in named {
            if matches!(key, "" | "default" | "host" | "none" | "bridge")
                || key.starts_with("container:")
            {
                continue;
            }
            if let Some(hold) = self.network.hold_network(key).await? {
                holds.push(hold);
                continue;
            }
            if let Some(rec) = swarm.local_copy(key).await? {
                holds.push(self.network.keep_fetched_copy(&rec).await?);
            }
        }
        Ok(holds)
    }

    /// A fixed address (`--ip`) on a swarm network is refused: the swarm's allocator gives
    /// standalone containers theirs (it would otherwise be replaced without a word).
    pub(crate) fn check_swarm_fixed_ip(&self, host: &HostSettings) -> Result<()> {
        for (key, e) in &host.net.endpoints {
            if e.ipv4.is_none() {
                continue;
            }
            if let Some(n) = self.network.get(key).ok().filter(|n| n.vni.is_some()) {
                return Err(EngineError::InvalidArgument(format!(
                    "a fixed address (--ip) on swarm network {} is not supported: the swarm allocates it",
                    n.name
                )));
            }
        }
        Ok(())
    }

    /// A standalone container whose network is a swarm overlay with a way out also joins the
    /// node's gateway bridge, as tasks do (Docker's docker_gwbridge): its default route and
    /// published ports go there.
    pub(crate) async fn add_gateway_bridge(&self, host: &mut HostSettings) -> Result<()> {
        let Ok(n) = self.network.get(&host.network_mode) else {
            return Ok(());
        };
        if n.vni.is_none() || n.internal {
            return Ok(());
        }
        let gw = self.network.ensure_gateway_bridge().await?;
        host.net.endpoints.entry(gw.id).or_default();
        Ok(())
    }

    fn check_networks_exist(&self, host: &HostSettings) -> Result<()> {
        let mode = host.network_mode.as_str();
        if !(matches!(mode, "" | "default" | "host" | "none") || mode.starts_with("container:")) {
            self.network.get(mode)?;
        }
        for key in host.net.endpoints.keys() {
            if key != mode {
                self.network.get(key)?;
            }
        }
        Ok(())
    }

    /// Sets up the container's endpoints and writes its hosts (with `link_hosts`, its legacy
    /// links' lines) and resolv.conf; returns the namespace the runtime must join (`None`: the
    /// runtime makes one with loopback only).
    pub(crate) async fn network_up(
        &self,
        rec: &ContainerRecord,
        link_hosts: &[String],
    ) -> Result<Option<PathBuf>> {
        let mut a =
            self.network
                .attachments(&rec.id, &rec.host.network_mode, &rec.host.net.endpoints)?;
        // Swarm networks among them (one record read per network, on the start path).
        let swarm_nets: Vec<String> = a
            .networks
            .keys()
            .filter(|n| self.network.get(n).is_ok_and(|n| n.vni.is_some()))
            .cloned()
            .collect();
        if !swarm_nets.is_empty() {
            self.swarm_addresses(rec, &mut a, &swarm_nets).await?;
        }
        let ports = ports_to_publish(rec)?;
        let attached = self.network.attach(&rec.id, &rec.name, &a, &ports).await?;
        if let Err(e) = self.record_resolvers(rec) {
            self.network.detach(&rec.id).await;
            return Err(e);
        }
        if !swarm_nets.is_empty() {
            self.network.refresh_vips().await;
        }
        let Some(primary) = attached.endpoints.first() else {
            return Ok(attached.netns);
        };
        let n = self.network.get(&primary.network_id)?;
        let dir = self.paths.container_dir(&rec.id);
        let hostname = &rec.config.hostname;
        let own: Vec<std::net::IpAddr> = (primary.ip.map(Into::into).into_iter())
            .chain(primary.ip6.map(Into::into))
            .collect();
        let hosts = files::hosts(
            (hostname, &rec.config.domainname),
            &own,
            &rec.host.net.extra_hosts,
            link_hosts,
            primary.gateway,
        );
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let net = &rec.host.net;
        let resolv = files::resolv_conf(
            &host_resolv,
            // An overlay's DNS server is on its gateway, in its sandbox.
            if n.vni.is_some() {
                n.gateway.parse().ok()
            } else {
                primary.gateway.filter(|_| n.has_dns())
            },
            &net.dns,
            &net.dns_search,
            &net.dns_options,
        );
        let written = std::fs::write(dir.join("hosts"), hosts)
            .and_then(|()| std::fs::write(dir.join("resolv.conf"), resolv));
        if let Err(e) = written {
            self.network.detach(&rec.id).await;
            return Err(EngineError::io("write hosts and resolv.conf", e));
        }
        Ok(attached.netns)
    }

    /// Undoes `network_up` (idempotent).
    pub(crate) async fn network_down(&self, id: &str) {
        self.network.detach(id).await;
        self.release_swarm_addresses(id).await;
    }

    /// A standalone container on swarm networks gets its address there from the swarm.
    async fn swarm_addresses(
        &self,
        rec: &ContainerRecord,
        a: &mut super::types::Attachments,
        swarm_nets: &[String],
    ) -> Result<()> {
        if rec
            .config
            .labels
            .contains_key(berth_swarm::model::LABEL_TASK_ID)
        {
            return Ok(());
        }
        for (net_id, req) in a.networks.iter_mut() {
            if swarm_nets.contains(net_id) {
                req.ipv4 = Some(self.swarm_address(rec, net_id).await?);
            }
        }
        Ok(())
    }

    /// Standalone container `rec`'s address on swarm network `net_id`, from the swarm (held
    /// until `release_swarm_addresses`).
    async fn swarm_address(
        &self,
        rec: &ContainerRecord,
        net_id: &str,
    ) -> Result<std::net::Ipv4Addr> {
        let Some(swarm) = self.network.swarm.get() else {
            return Err(EngineError::InvalidArgument(format!(
                "network {net_id} belongs to a swarm this node is not in"
            )));
        };
        let ip = swarm.attach(net_id, &rec.id, &rec.name).await?;
        if let Ok(mut held) = self.network.swarm_attached.lock() {
            held.insert((net_id.to_string(), rec.id.clone()));
        }
        Ok(ip)
    }

    /// Gives back standalone container `id`'s swarm address on network `net_id`, if it has one.
    async fn release_swarm_address(&self, net_id: &str, id: &str) {
        let key = (net_id.to_string(), id.to_string());
        let held = self
            .network
            .swarm_attached
            .lock()
            .map(|mut h| h.remove(&key))
            .unwrap_or(false);
        if let (true, Some(swarm)) = (held, self.network.swarm.get()) {
            swarm.detach(net_id, id).await;
        }
    }

    /// Gives back the swarm addresses of standalone container `id`.
    async fn release_swarm_addresses(&self, id: &str) {
        let Some(swarm) = self.network.swarm.get() else {
            return;
        };
        let mine: Vec<(String, String)> = match self.network.swarm_attached.lock() {
            Ok(mut held) => {
                let mine = held
                    .iter()
                    .filter(|(_, c)| c == id)
                    .cloned()
                    .collect::<Vec<_>>();
                for m in &mine {
                    held.remove(m);
                }
                mine
            }
            Err(_) => Vec::new(),
        };
        for (net, container) in mine {
            swarm.detach(&net, &container).await;
        }
    }

    /// The container's networks with their endpoints.
    pub fn container_networks(&self, rec: &ContainerRecord) -> Vec<ContainerNetwork> {
        match self.network.index() {
            Ok(index) => self.container_networks_in(rec, &index),
            Err(_) => Vec::new(),
        }
    }

    /// The networks of every container, from one read of the network records.
    pub fn network_index(&self) -> Result<NetworkIndex> {
        self.network.index()
    }

    /// `container_networks` with the networks looked up in `index` (the container list's, for
    /// each of its rows).
    pub fn container_networks_in(
        &self,
        rec: &ContainerRecord,
        index: &NetworkIndex,
    ) -> Vec<ContainerNetwork> {
        let Ok(a) = self.network.attachments_with(
            &rec.id,
            &rec.host.network_mode,
            &rec.host.net.endpoints,
            &|key| index.get(key).map(|n| n.id.clone()),
        ) else {
            return Vec::new();
        };
        a.networks
            .iter()
            .filter_map(|(id, req)| {
                let network = index.find_shared(id)?;
                Some(ContainerNetwork {
                    endpoint: self.network.endpoint_on(&rec.id, id).ok().flatten(),
                    network,
                    request: req.clone(),
                })
            })
            .collect()
    }

    /// Attaches a container to one more network (running: takes effect at its next start).
    pub async fn connect_network(
        &self,
        net: &str,
        container: &str,
        req: EndpointRequest,
    ) -> Result<()> {
        // The container first, as moby's connect looks it up first.
        let handle = self.lookup(container)?;
        // Held until the endpoint is recorded: the swarm's sync removes copies nothing uses.
        let (n, _hold) = match self.network.hold_network(net).await? {
            Some(hold) => (self.network.get(net)?, hold),
            // An attachable swarm network this node has no copy of yet.
            None => {
                let missing = || crate::network::manager::network_not_found(net);
                let swarm = self.network.swarm.get().ok_or_else(missing)?;
                let rec = swarm.local_copy(net).await?.ok_or_else(missing)?;
                let hold = self.network.keep_fetched_copy(&rec).await?;
                (self.network.get(&rec.id)?, hold)
            }
        };
        let rec = handle.snapshot().await;
        let mut req = req;
        super::ipv6::check_request(&n, &req)?;
        if n.vni.is_some() && req.ipv4.is_some() {
            return Err(EngineError::InvalidArgument(format!(
                "a fixed address (--ip) on swarm network {} is not supported: the swarm allocates it",
                n.name
            )));
        }
        let swarm_net = n.vni.is_some() && rec.state.status.is_running();
        let mode = rec.host.network_mode.as_str();
        if mode == "none" {
            return Err(EngineError::InvalidArgument(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            ));
        }
        if mode == "host" || mode.starts_with("container:") {
            return Err(EngineError::InvalidArgument(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let mut a =
            self.network
                .attachments(&rec.id, &rec.host.network_mode, &rec.host.net.endpoints)?;
        if a.networks.contains_key(&n.id) {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, n.name
            )));
        }
        if swarm_net {
            req.ipv4 = Some(self.swarm_address(&rec, &n.id).await?);
        }
        a.networks.insert(n.id.clone(), req);
        if a.primary.is_empty() {
            a.primary = n.id.clone();
        }
        self.network.save_attachments(&rec.id, &a)?;
        if rec.state.status.is_running() {
            let ports = ports_to_publish(&rec)?;
            let attached = self
                .network
                .attach_one(&rec.id, &rec.name, &n.id, &a, &ports)
                .await;
            if let Err(e) = attached {
                if swarm_net {
                    self.release_swarm_address(&n.id, &rec.id).await;
                }
                return Err(e);
            }
            self.record_resolvers(&rec)?;
            self.use_embedded_dns(&rec, &n)?;
            self.network_endpoint_event("connect", &n, &rec.id);
        }
        Ok(())
    }

    /// Gives the container's `--dns` servers to its endpoints' DNS servers, which relay its
    /// names they do not know there (the file names the embedded server, as Docker's).
    fn record_resolvers(&self, rec: &ContainerRecord) -> Result<()> {
        if rec.host.net.dns.is_empty() {
            return Ok(());
        }
        // The API checked them at create.
        let servers: Vec<std::net::IpAddr> = rec
            .host
            .net
            .dns
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect();
        self.network.set_resolvers(&rec.id, &servers)
    }

    /// A container first on a network without name resolution gets the embedded DNS of a
    /// user network it joins (Docker's containers always ask 127.0.0.11). The file is
    /// rewritten in place: it is bind-mounted, so a rename would not be seen.
    fn use_embedded_dns(&self, rec: &ContainerRecord, n: &NetworkRecord) -> Result<()> {
        let primary_has_dns = self
            .network
            .attachments(&rec.id, &rec.host.network_mode, &rec.host.net.endpoints)
            .ok()
            .and_then(|a| self.network.find(&a.primary).ok().flatten())
            .is_some_and(|p| p.has_dns());
        if !n.has_dns() || primary_has_dns {
            return Ok(());
        }
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let gw = n.gateway.parse().ok();
        let net = &rec.host.net;
        let text = files::resolv_conf(&host, gw, &net.dns, &net.dns_search, &net.dns_options);
        let path = self.paths.container_dir(&rec.id).join("resolv.conf");
        std::fs::write(&path, text).map_err(|e| EngineError::io("rewrite resolv.conf", e))
    }

    /// Detaches a container from a network.
    /// `network disconnect`. With `force`, a container that no longer exists still loses the
    /// endpoints left under its name on the network (Docker's clean-up of stale endpoints);
    /// without any, it is the same 404.
    pub async fn disconnect_network(&self, net: &str, container: &str, force: bool) -> Result<()> {
        let n = self.network.get(net)?;
        let handle = match self.lookup(container) {
            Ok(h) => h,
            Err(e @ EngineError::NoSuchContainer(_)) if force => {
                let stale = self.network.endpoints_named(&n.id, container)?;
                if stale.is_empty() {
                    return Err(e);
                }
                for ep in &stale {
                    self.network.release_one(ep, None).await;
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let rec = handle.snapshot().await;
        let mut a =
            self.network
                .attachments(&rec.id, &rec.host.network_mode, &rec.host.net.endpoints)?;
        if a.networks.remove(&n.id).is_none() {
            return Err(EngineError::Forbidden(format!(
                "container {} is not connected to network {}",
                rec.id, n.name
            )));
        }
        let was_primary = a.primary == n.id;
        if was_primary {
            a.primary = a.networks.keys().next().cloned().unwrap_or_default();
        }
        self.network.save_attachments(&rec.id, &a)?;
        if let Some(ep) = self
            .network
            .endpoints_of(&rec.id)?
            .into_iter()
            .find(|e| e.network_id == n.id)
        {
            let next = (was_primary && !a.primary.is_empty()).then_some(a.primary.as_str());
            self.network.release_one(&ep, next).await;
            self.network_endpoint_event("disconnect", &n, &rec.id);
        }
        if n.vni.is_some() {
            self.release_swarm_address(&n.id, &rec.id).await;
        }
        Ok(())
    }

    /// Removes user networks no container is attached to; returns their names.
    pub async fn prune_networks(
        &self,
        f: &crate::engine::prune::PruneFilter,
    ) -> Result<Vec<String>> {
        let mut used = std::collections::HashSet::new();
        let index = self.network.index()?;
        for h in self.handles() {
            let rec = h.snapshot().await;
            for c in self.container_networks_in(&rec, &index) {
                used.insert(c.network.id.clone());
            }
        }
        let mut removed = Vec::new();
        for n in self.network.list()? {
            let created =
                chrono::DateTime::parse_from_rfc3339(&n.created).map_or(0, |t| t.timestamp());
            // Copies of swarm networks belong to the swarm, as in Docker.
            if n.builtin || n.vni.is_some() || used.contains(&n.id) || f.keeps(created, &n.labels) {
                continue;
            }
            if self.network.remove(&n.id).await.is_ok() {
                removed.push(n.name);
            }
        }
        Ok(removed)
    }

    /// Ids of the networks a running container is on (moby's endpoints).
    pub async fn networks_in_use(&self) -> Result<std::collections::HashSet<String>> {
        let index = self.network.index()?;
        let mut used = std::collections::HashSet::new();
        for h in self.handles() {
            let rec = h.snapshot().await;
            if rec.state.status.is_running() {
                used.extend(
                    self.container_networks_in(&rec, &index)
                        .into_iter()
                        .map(|c| c.network.id.clone()),
                );
            }
        }
        Ok(used)
    }

    /// Removes a network; refused while containers are attached, as Docker does.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let n = self.network.get(key)?;
        // moby refuses a predefined network before looking at its endpoints.
        if n.builtin {
            return self.network.remove(&n.id).await.map(|_| ());
        }
        let index = self.network.index()?;
        for h in self.handles() {
            let rec = h.snapshot().await;
            if rec.state.status.is_running()
                && self
                    .container_networks_in(&rec, &index)
                    .iter()
                    .any(|c| c.network.id == n.id)
            {
                return Err(EngineError::Forbidden(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                )));
            }
        }
        self.network.remove(&n.id).await.map(|_| ())
    }
}

/// The ports to publish: `-p` bindings, plus every exposed port on an ephemeral one with `-P`.
fn ports_to_publish(rec: &ContainerRecord) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for p in &rec.host.net.ports {
        let host_port = if p.host_port.is_empty() {
            0
        } else {
            p.host_port
                .split('-')
                .next()
                .unwrap_or("")
                .parse()
                .map_err(|_| {
                    EngineError::InvalidArgument(format!("invalid host port {}", p.host_port))
                })?
        };
        out.push(PortMapping {
            container_port: p.container_port,
            proto: p.proto.clone(),
            host_ip: p.host_ip.clone(),
            host_port,
            ipv6: false,
        });
    }
    if rec.host.net.publish_all {
        for e in &rec.config.exposed_ports {
            let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            if !out
                .iter()
                .any(|m| m.container_port == port && m.proto == proto)
            {
                out.push(PortMapping {
                    container_port: port,
                    proto: proto.to_string(),
                    host_ip: String::new(),
                    host_port: 0,
                    ipv6: false,
                });
            }
        }
    }
    Ok(out)
}

/// Points the spec's network namespace at `netns` (the runtime joins it instead of making one).
pub fn join_netns(spec: &mut oci_spec::runtime::Spec, netns: Option<&std::path::Path>) {
    let Some(path) = netns else { return };
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let Some(namespaces) = linux.namespaces_mut() else {
        return;
    };
    for ns in namespaces.iter_mut() {
        if ns.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
            ns.set_path(Some(path.to_path_buf()));
        }
    }
}

impl Engine {
    /// The namespace `network_up` will make for `rec`, if it makes one.
    pub fn netns_for(&self, rec: &ContainerRecord) -> Result<Option<PathBuf>> {
        if !self.network.is_enabled() {
            return Ok(None);
        }
        let a =
            self.network
                .attachments(&rec.id, &rec.host.network_mode, &rec.host.net.endpoints)?;
        Ok((!a.networks.is_empty()).then(|| self.network.netns_path(&rec.id)))
    }
}

impl Engine {
    /// Records a network event (`create`, `destroy`).
    pub fn network_event(&self, action: &str, n: &NetworkRecord) {
        let attrs = std::collections::BTreeMap::from([
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        self.events.emit("network", action, &n.id, attrs);
    }

    /// Records a container's endpoint event on a network (`connect`, `disconnect`).
    pub fn network_endpoint_event(&self, action: &str, n: &NetworkRecord, container: &str) {
        let attrs = std::collections::BTreeMap::from([
            ("container".to_string(), container.to_string()),
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        self.events.emit("network", action, &n.id, attrs);
    }
}
