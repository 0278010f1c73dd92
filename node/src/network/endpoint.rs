//! A container's endpoints: at start a named network namespace, then per attached network an
//! address, a veth pair (host end on the bridge, the other moved in and named `ethN`), the
//! default route of the primary network, published ports; at exit all of it undone. A failed
//! attach undoes what it did, so nothing is half-set-up.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_overlay::sandbox::ContainerEnd;
use berth_overlay::{LinkChange, LocalEndpoint, NetlinkOps, OverlayError, Sandbox};

use super::ipv6::{allocations_key, Allocations6};
use super::manager::Networks;
use super::net_err;
use super::types::{Attachments, EndpointRecord, EndpointRequest, NetworkRecord, PortMapping};
use crate::error::{EngineError, Result};
use berth_overlay::ipam::{mac_for, mac_text, Allocations};

/// What `attach` hands back to the start path.
#[derive(Debug, Clone, Default)]
pub struct Attached {
    /// The namespace the runtime joins; `None`: let the runtime make one (loopback only).
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<EndpointRecord>,
}

impl Networks {
    /// The namespace file of container `id`.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(crate::engine::short_id(id))
    }

    /// The container's attachments: kept ones, else derived from its mode and create request.
    pub fn attachments(
        &self,
        id: &str,
        mode: &str,
        asked: &std::collections::BTreeMap<String, EndpointRequest>,
    ) -> Result<Attachments> {
        self.attachments_with(id, mode, asked, &|key| self.get(key).map(|n| n.id))
            .map(Arc::unwrap_or_clone)
    }

    /// `attachments`, with `network_id` finding a network's id by key (from a `NetworkIndex`,
    /// for many containers).
    pub fn attachments_with(
        &self,
        id: &str,
        mode: &str,
        asked: &std::collections::BTreeMap<String, EndpointRequest>,
        network_id: &dyn Fn(&str) -> Result<String>,
    ) -> Result<Arc<Attachments>> {
        if let Some(a) = self.attachments.get(id)? {
            return Ok(a);
        }
        let mut a = Attachments::default();
        let primary = match mode {
            "" | "default" => "bridge",
            m => m,
        };
        if matches!(primary, "host" | "none") || primary.starts_with("container:") {
            return Ok(Arc::new(a));
        }
        let primary_id = network_id(primary)?;
        a.primary = primary_id.clone();
        a.networks.insert(
            primary_id,
            asked
                .get(primary)
                .or(asked.get(mode))
                .or(asked.get(&a.primary))
                .cloned()
                .unwrap_or_default(),
        );
        for (key, req) in asked {
            if key == primary || (key == "default" && primary == "bridge") {
                continue;
            }
            a.networks
                .entry(network_id(key)?)
                .or_insert_with(|| req.clone());
        }
        Ok(Arc::new(a))
    }

    /// Saves the container's attachments (connect, disconnect, create).
    pub fn save_attachments(&self, id: &str, a: &Attachments) -> Result<()> {
        self.attachments.put(id, a)
    }

    /// Forgets a removed container.
    pub fn forget(&self, id: &str) -> Result<()> {
        self.attachments.remove(id)
    }

    /// Creates container `id`'s network namespace, which the runtime joins while `attach`
    /// sets it up; `detach` removes it.
    pub fn create_netns(&self, id: &str) -> Result<()> {
        match &self.kernel {
            Some(k) => k.netns.create(&self.netns_path(id)),
            None => Ok(()),
        }
    }

    /// Sets up the endpoints in the container's namespace (`create_netns` made it).
    pub async fn attach(
        &self,
        id: &str,
        name: &str,
        a: &Attachments,
        ports: &[PortMapping],
    ) -> Result<Attached> {
        if self.kernel.is_none() || a.networks.is_empty() {
            return Ok(Attached::default());
        }
        let _g = self.changes.lock().await;
        let result = self.attach_locked(id, name, a, ports).await;
        if result.is_err() {
            self.detach_locked(id).await;
        }
        result
    }

    async fn attach_locked(
        &self,
        id: &str,
        name: &str,
        a: &Attachments,
        ports: &[PortMapping],
    ) -> Result<Attached> {
        let Some(k) = &self.kernel else {
            return Ok(Attached::default());
        };
        let netns = self.netns_path(id);
        let inside = k.netlink.in_netns(&netns).await.map_err(net_err)?;
        let mut out = Attached {
            netns: Some(netns.clone()),
            endpoints: Vec::new(),
        };
        let mut order: Vec<&String> = a.networks.keys().filter(|n| **n == a.primary).collect();
        order.extend(a.networks.keys().filter(|n| **n != a.primary));
        // The default route and the published ports go through the first network that is a
        // way out, the primary first (a task on an overlay: its gateway bridge; a container
        // whose first network is internal: the next one, as a compose file's `internal: true`
        // back end beside a front end).
        let nets = order
            .iter()
            .map(|net_id| self.get(net_id))
            .collect::<Result<Vec<_>>>()?;
        let exit = nets.iter().position(is_way_out);
        for (i, (net_id, n)) in order.iter().zip(&nets).enumerate() {
            let req = a.networks.get(*net_id).cloned().unwrap_or_default();
            let is_exit = exit == Some(i);
            let ports = if is_exit { ports } else { &[] };
            let ep = self
                .add_endpoint(&inside, &netns, (id, name), n, &req, i, is_exit, ports)
                .await?;
            out.endpoints.push(ep);
        }
        self.apply_rules()?;
        Ok(out)
    }

    /// One endpoint: address, veth pair, the inside end named `eth{index}`, ports, and the
    /// default route when it is the container's way out (`exit`).
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per caller, all needed"
    )]
    async fn add_endpoint(
        &self,
        inside: &Arc<dyn NetlinkOps>,
        netns: &Path,
        (id, name): (&str, &str),
        n: &NetworkRecord,
        req: &EndpointRequest,
        index: usize,
        exit: bool,
        ports: &[PortMapping],
    ) -> Result<EndpointRecord> {
        let Some(k) = &self.kernel else {
            return Err(EngineError::Internal("networking is off".into()));
        };
        let mut ep = self.endpoint_for(n, id, name, req)?;
        ep.ports = ports.to_vec();
        if let Some(host_ip) = n.default_host_ip() {
            for p in ep.ports.iter_mut().filter(|p| p.host_ip.is_empty()) {
                p.host_ip = host_ip.to_string();
            }
        }
        let key = format!("{id}/{}", n.id);
        self.endpoints.put(&key, &ep)?;
        let ip = ep.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        if let Some(spec) = n.overlay_spec() {
            // A swarm overlay: the container's link is made from the network's sandbox
            // namespace (`Sandbox::attach`). No default route and no published ports through
            // it: it has no way out of the overlay (Docker adds a second, bridged interface
            // for that).
            let sb = Sandbox::ensure(k.netlink.as_ref(), &self.netns_dir, spec)
                .await
                .map_err(net_err)?;
            let mac = req.mac.unwrap_or(mac_for(ip));
            let eth = format!("eth{index}");
            let index = sb
                .attach(netns, &eth, &ep.host_veth, LocalEndpoint { ip, mac })
                .await
                .map_err(net_err)?;
            ep.link_index = Some(index);
            k.netns.disable_ipv6(netns, &eth)?;
            add_link_local(inside, &eth, req).await?;
            self.start_overlay_dns(n, sb.path());
            ep.gateway = None;
            ep.ports = Vec::new();
            self.endpoints.put(&key, &ep)?;
            return Ok(ep);
        }
        // The inside end is born in the container's namespace with its final name and MAC.
        let eth = format!("eth{index}");
        k.netlink
            .add_veth_into(
                &ep.host_veth,
                &eth,
                netns,
                req.mac.unwrap_or(mac_for(ip)),
                n.mtu,
            )
            .await
            .map_err(net_err)?;
        // Before they are up: an IPv4-only network's interface must never speak IPv6, and the
        // host end, a bridge port, needs no address of its own (see `netns_sysctl`).
        if ep.ip6.is_none() {
            k.netns.disable_ipv6(netns, &eth)?;
        }
        k.netns.disable_ipv6_here(&ep.host_veth)?;
        let mut changes = vec![LinkChange::Master(n.bridge.clone()), LinkChange::Up];
        if !n.icc() {
            changes.push(LinkChange::Isolated);
        }
        k.netlink
            .set_link(&ep.host_veth, changes)
            .await
            .map_err(|e| join_bridge_err(e, name, n, &ep.host_veth))?;
        inside
            .add_address(&eth, IpAddr::V4(ip), ep.prefix)
            .await
            .map_err(net_err)?;
        if let Some(ip6) = ep.ip6 {
            inside
                .add_address(&eth, IpAddr::V6(ip6), ep.prefix6)
                .await
                .map_err(net_err)?;
        }
        add_link_local(inside, &eth, req).await?;
        inside
            .set_link(&eth, vec![LinkChange::Up])
            .await
            .map_err(net_err)?;
        if exit {
            for gw in gateways(&ep) {
                inside.add_default_route(gw).await.map_err(net_err)?;
            }
        }
        ep.ports = self.start_proxies(&ep).await?;
        self.endpoints.put(&key, &ep)?;
        Ok(ep)
    }

    /// Records container `id`'s `--dns` servers (`resolvers`) on its endpoints, where the
    /// networks' DNS servers relay its other names (none: the host's resolvers).
    pub fn set_resolvers(&self, id: &str, resolvers: &[std::net::IpAddr]) -> Result<()> {
        for mut ep in self.endpoints.of_container(id)? {
            if ep.resolvers != resolvers {
                ep.resolvers = resolvers.to_vec();
                self.endpoints
                    .put(&super::endpoint_table::key(id, &ep.network_id), &ep)?;
            }
        }
        Ok(())
    }

    /// Connects a running container to network `net_id` (already in `a`).
    pub async fn attach_one(
        &self,
        id: &str,
        name: &str,
        net_id: &str,
        a: &Attachments,
        ports: &[PortMapping],
    ) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        let _g = self.changes.lock().await;
        let netns = self.netns_path(id);
        let inside = k.netlink.in_netns(&netns).await.map_err(net_err)?;
        let n = self.get(net_id)?;
        let req = a.networks.get(net_id).cloned().unwrap_or_default();
        let endpoints = self.endpoints_of(id)?;
        let index = endpoints.len();
        // A container without a way out gets its default route and published ports through
        // the first network that is one, as Docker moves its gateway endpoint there.
        let had_exit = endpoints
            .iter()
            .any(|ep| self.get(&ep.network_id).is_ok_and(|n| is_way_out(&n)));
        let exit = !had_exit && is_way_out(&n);
        let ports = if exit { ports } else { &[] };
        let r = self
            .add_endpoint(&inside, &netns, (id, name), &n, &req, index, exit, ports)
            .await;
        if r.is_err() {
            if let Some(ep) = self
                .endpoints_of(id)?
                .into_iter()
                .find(|e| e.network_id == n.id)
            {
                self.release_endpoint(&ep).await;
            }
        }
        self.apply_rules()?;
        r.map(|_| ())
    }

    /// Disconnects one endpoint of a running container. When it carried the default route,
    /// the route moves to the endpoint on `next_primary`, as Docker moves the gateway.
    pub async fn release_one(&self, ep: &EndpointRecord, next_primary: Option<&str>) {
        let _g = self.changes.lock().await;
        self.release_endpoint(ep).await;
        let _ = self.apply_rules();
        if let Some(net_id) = next_primary {
            if let Err(e) = self.route_default_via(&ep.container_id, net_id).await {
                tracing::warn!(container = %ep.container_id, error = %e, "default route not moved");
            }
        }
    }

    /// Adds the container's default route through the first of its endpoints that has a way
    /// out, the one on `net_id` first: Docker's sandbox likewise moves the gateway to the next
    /// endpoint with a gateway, skipping internal networks.
    async fn route_default_via(&self, id: &str, net_id: &str) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        let mut eps = self.endpoints_of(id)?;
        eps.sort_by_key(|e| e.network_id != net_id);
        let mut via = None;
        for ep in eps {
            if ep.gateway.is_some() && !self.get(&ep.network_id)?.internal {
                via = Some(ep);
                break;
            }
        }
        let Some(ep) = via else { return Ok(()) };
        let inside = k
            .netlink
            .in_netns(&self.netns_path(id))
            .await
            .map_err(net_err)?;
        for gw in gateways(&ep) {
            inside.add_default_route(gw).await.map_err(net_err)?;
        }
        Ok(())
    }

    fn endpoint_for(
        &self,
        n: &NetworkRecord,
        id: &str,
        name: &str,
        req: &EndpointRequest,
    ) -> Result<EndpointRecord> {
        let space = n
            .address_space()
            .ok_or_else(|| EngineError::Internal(format!("bad subnet {}", n.subnet)))?;
        // IPv6 first, which writes nothing: a refusal there leaves the IPv4 allocations as
        // they were.
        let v6 = self.ipv6_for(n, req)?;
        let mut alloc: Allocations = self.ipam.get(&n.id)?.unwrap_or_default();
        let ip =
            super::pool_check::take_address(
                &n.name,
                space.subnet,
                req.ipv4,
                |asked| match asked {
                    Some(want) => alloc.reserve(&space, want).then_some(want),
                    None => alloc.allocate(&space),
                },
            )?;
        self.ipam.put(&n.id, &alloc)?;
        if let Some((_, alloc6)) = &v6 {
            if let Err(e) = self.ipam.put(&allocations_key(&n.id), alloc6) {
                alloc.release(ip);
                let _ = self.ipam.put(&n.id, &alloc);
                return Err(e);
            }
        }
        let ep_id = hex::encode(rand::random::<[u8; 32]>());
        Ok(EndpointRecord {
            host_veth: format!("veth{}", &ep_id[..7]),
            link_index: None,
            id: ep_id,
            network_id: n.id.clone(),
            container_id: id.to_string(),
            container_name: name.to_string(),
            ip: Some(ip),
            prefix: space.subnet.prefix,
            gateway: n.gateway.parse().ok(),
            ip6: v6.as_ref().map(|(a, _)| a.ip),
            prefix6: v6.as_ref().map_or(0, |(a, _)| a.prefix),
            gateway6: v6.as_ref().and_then(|(a, _)| a.gateway),
            mac: mac_text(req.mac.unwrap_or(mac_for(ip))),
            aliases: req.aliases.clone(),
            ports: Vec::new(),
            links: req.links.clone(),
            resolvers: Vec::new(),
        })
    }

    /// The container's endpoints now.
    pub fn endpoints_of(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        self.endpoints.of_container(id)
    }

    /// Grows with every write of the networks, their endpoints and the containers' choices of
    /// them, each after the write shows (`Cached::version`): what a container's networks look
    /// like is as read after it while it gives the same.
    pub fn version(&self) -> u64 {
        self.network_writes
            .load(std::sync::atomic::Ordering::Acquire)
            .wrapping_add(self.endpoints.version())
            .wrapping_add(self.attachments.version())
    }

    /// Container `id`'s endpoint on network `net_id`, while it has one.
    pub fn endpoint_on(&self, id: &str, net_id: &str) -> Result<Option<Arc<EndpointRecord>>> {
        self.endpoints.get(id, net_id)
    }

    /// Endpoints on network `network_id` of the container named `container` (an id, an id
    /// prefix or a name), whatever became of the container: `disconnect --force`'s targets.
    pub fn endpoints_named(
        &self,
        network_id: &str,
        container: &str,
    ) -> Result<Vec<EndpointRecord>> {
        self.endpoints.named_on(network_id, container)
    }

    /// Undoes `attach`: proxies, veths, addresses, rules, the namespace. Never fails: each
    /// step is tried and logged.
    pub async fn detach(&self, id: &str) {
        if self.kernel.is_none() {
            return;
        }
        let _g = self.changes.lock().await;
        self.detach_locked(id).await;
    }

    pub(crate) async fn detach_locked(&self, id: &str) {
        let Some(k) = &self.kernel else { return };
        let removed = match k.netns.remove(&self.netns_path(id)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "removing network namespace failed");
                false
            }
        };
        for ep in self.endpoints_of(id).unwrap_or_default() {
            // With its namespace gone the kernel deletes the inside end, and the host end
            // with it, in its own namespace clean-up work: deleting the link here instead
            // waits ~20 ms for RCU on the path of every container exit.
            self.release_endpoint_with(&ep, !removed).await;
        }
        if let Err(e) = self.apply_rules() {
            tracing::warn!(container = %id, error = %e, "updating firewall failed");
        }
    }

    /// Removes one endpoint: proxies, host veth (its peer goes with it), address, record.
    pub(crate) async fn release_endpoint(&self, ep: &EndpointRecord) {
        self.release_endpoint_with(ep, true).await;
    }

    /// `release_endpoint`, deleting the veth only with `delete_link`.
    async fn release_endpoint_with(&self, ep: &EndpointRecord, delete_link: bool) {
        if let Ok(mut p) = self.proxies.lock() {
            p.remove(&ep.id);
        }
        if let Some(k) = self.kernel.as_ref().filter(|_| delete_link) {
            let vni = self.get(&ep.network_id).ok().and_then(|n| n.vni);
            let deleted = match vni {
                Some(vni) => {
                    let netns = self.netns_path(&ep.container_id);
                    let end = ContainerEnd {
                        netns: &netns,
                        index: ep.link_index,
                        ip: ep.ip,
                        bridge_side: &ep.host_veth,
                    };
                    Sandbox::detach(k.netlink.as_ref(), &self.netns_dir, vni, &end).await
                }
                None => k.netlink.delete_link(&ep.host_veth).await,
            };
            if let Err(e) = deleted {
                tracing::warn!(endpoint = %ep.id, error = %e, "deleting the endpoint's link failed");
            }
        }
        if let Some(ip) = ep.ip {
            if let Ok(Some(mut alloc)) = self.ipam.get::<Allocations>(&ep.network_id) {
                alloc.release(ip);
                let _ = self.ipam.put(&ep.network_id, &alloc);
            }
        }
        if let Some(ip) = ep.ip6 {
            let key = allocations_key(&ep.network_id);
            if let Ok(Some(mut alloc)) = self.ipam.get::<Allocations6>(&key) {
                alloc.release(ip);
                let _ = self.ipam.put(&key, &alloc);
            }
        }
        let _ = self
            .endpoints
            .remove(&format!("{}/{}", ep.container_id, ep.network_id));
    }
}

/// The endpoint's gateways, IPv4 first: its default routes when it is the way out.
fn gateways(ep: &EndpointRecord) -> impl Iterator<Item = IpAddr> {
    let v4 = ep.gateway.map(IpAddr::V4);
    let v6 = ep.gateway6.map(IpAddr::V6);
    v4.into_iter().chain(v6)
}

/// Whether a container can reach beyond the host through network `n`: not through an overlay
/// (Docker gives a task a second, bridged interface for that) nor an internal network.
fn is_way_out(n: &NetworkRecord) -> bool {
    n.vni.is_none() && !n.internal
}

/// A bridge has at most 1,023 ports (the kernel's `BR_MAX_PORTS`, less its reserved port 0);
/// joining a full one fails with EXFULL, which alone says little: Docker's words, and why.
fn join_bridge_err(e: OverlayError, container: &str, n: &NetworkRecord, veth: &str) -> EngineError {
    if e.errno() != Some(libc::EXFULL) {
        return net_err(e);
    }
    EngineError::Internal(format!(
        "failed to create endpoint {container} on network {}: adding interface {veth} to bridge \
         {} failed: exchange full: a bridge takes at most 1023 interfaces (the kernel's limit); \
         connect more containers to another network",
        n.name, n.bridge
    ))
}

/// The endpoint's `--link-local-ip` addresses on its interface, each in a /16 (libnetwork's
/// link-local mask).
async fn add_link_local(
    inside: &Arc<dyn NetlinkOps>,
    eth: &str,
    req: &EndpointRequest,
) -> Result<()> {
    for ip in &req.link_local {
        inside
            .add_address(eth, IpAddr::V4(*ip), 16)
            .await
            .map_err(net_err)?;
    }
    Ok(())
}
