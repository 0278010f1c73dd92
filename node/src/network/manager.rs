//! `Networks`: the network records (sled trees `networks`, `endpoints`, `ipam`,
//! `net-attachments`), the default networks made at daemon start, create/remove/prune of user
//! networks, and the firewall rule set recomputed from the records after every change.
//! Container endpoints are in `endpoint.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};

use super::nft::{Dnat, FirewallNet, Ruleset};
use super::types::{EndpointRecord, NetConfig, NetworkRecord};
use super::{net_err, NetKernel};
use crate::error::{EngineError, Result};
use crate::store::{Records, Store};
use berth_overlay::ipam::{pick_subnet, Subnet};

pub use super::types::{OPT_BRIDGE_NAME, OPT_MTU};

/// A request to create a user-defined network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// `--ip-range` (inside the subnet).
    pub ip_range: Option<String>,
    /// `--aux-address name=ip` (inside the subnet).
    pub aux_addresses: BTreeMap<String, String>,
    pub attachable: bool,
    /// `--ipv6` (`EnableIPv6`).
    pub enable_ipv6: bool,
    /// The IPv6 subnet and its options, if one was given.
    pub ipv6: Option<super::ipv6::Ipv6Request>,
}

/// Local networks and their endpoints.
pub struct Networks {
    pub(crate) cfg: NetConfig,
    pub(crate) netns_dir: PathBuf,
    pub(crate) kernel: Option<NetKernel>,
    /// Read on every create and start (by name, which is not the key): kept in memory.
    pub(crate) networks: crate::store::Cached<NetworkRecord>,
    pub(crate) endpoints: super::endpoint_table::EndpointTable,
    pub(crate) ipam: Records,
    /// Each container's networks (`Attachments`), read by every row of a list.
    pub(crate) attachments: crate::store::Cached<super::types::Attachments>,
    /// Serialises changes (allocation, links, rules).
    pub(crate) changes: tokio::sync::Mutex<()>,
    /// Published-port proxies by endpoint id; dropping one closes its sockets.
    pub(crate) proxies: Mutex<HashMap<String, Vec<super::proxy::Proxy>>>,
    /// DNS servers by network id.
    pub(crate) dns: Mutex<HashMap<String, super::dns::DnsServer>>,
    /// What the swarm names on overlay networks (service names, aliases, `tasks.<service>`).
    pub(crate) swarm_names: super::dns::SwarmNames,
    /// The VIP rules last written into each container's namespace, by container id.
    pub(crate) vip_rules: Mutex<HashMap<String, String>>,
    /// The swarm's last view of the overlay networks this node serves.
    pub(crate) overlay_views: Mutex<Vec<super::OverlayView>>,
    /// The routing mesh's listeners.
    pub(crate) mesh: super::mesh::Mesh,
    /// The rule set last written to the kernel. Most endpoints publish no port, so most
    /// changes leave the rules as they were, and running `nft` again would only cost time.
    pub(crate) applied: Mutex<Option<Ruleset>>,
    /// The swarm, once berthd made it (standalone containers on attachable networks).
    pub(crate) swarm: std::sync::OnceLock<Arc<dyn super::SwarmNetworks>>,
    /// Standalone containers given a swarm address: (network id, container id).
    pub(crate) swarm_attached: Mutex<std::collections::HashSet<(String, String)>>,
    /// What the last probes of remote VXLAN endpoints found (`peer_health.rs`).
    pub(crate) health: Arc<Mutex<super::peer_health::HealthTable>>,
    /// Swarm network copies a container is about to use (`copy_hold.rs`).
    pub(crate) holds: super::copy_hold::CopyHolds,
    /// Counts the writes of `networks` (`version`).
    pub(crate) network_writes: AtomicU64,
}

fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A create naming a predefined network is refused first, for every driver, in moby's words
/// (its trailing space too); `default` is one of them.
pub fn refuse_predefined(name: &str) -> Result<()> {
    if matches!(name, "bridge" | "host" | "none" | "default") {
        return Err(EngineError::Forbidden(format!(
            "operation is not permitted on predefined {name} network "
        )));
    }
    Ok(())
}

impl Networks {
    /// Opens the trees; `kernel` is `None` where containers get loopback only (unit tests).
    pub fn open(
        store: &Store,
        cfg: NetConfig,
        netns_dir: PathBuf,
        kernel: Option<NetKernel>,
    ) -> Result<Networks> {
        Ok(Networks {
            cfg,
            netns_dir,
            kernel,
            networks: crate::store::Cached::open(store.records("networks")?)?,
            endpoints: super::endpoint_table::EndpointTable::open(store.records("endpoints")?)?,
            ipam: store.records("ipam")?,
            attachments: crate::store::Cached::open(store.records("net-attachments")?)?,
            changes: tokio::sync::Mutex::new(()),
            proxies: Mutex::new(HashMap::new()),
            dns: Mutex::new(HashMap::new()),
            swarm_names: super::dns::SwarmNames::default(),
            vip_rules: Mutex::new(HashMap::new()),
            overlay_views: Mutex::new(Vec::new()),
            mesh: super::mesh::Mesh::default(),
            applied: Mutex::new(None),
            swarm: std::sync::OnceLock::new(),
            swarm_attached: Mutex::new(std::collections::HashSet::new()),
            health: Arc::default(),
            holds: super::copy_hold::CopyHolds::default(),
            network_writes: AtomicU64::new(0),
        })
    }

    /// Whether containers get real network endpoints.
    pub fn is_enabled(&self) -> bool {
        self.kernel.is_some()
    }

    /// Makes `bridge`, `host` and `none`, sets every bridge up again, restarts the DNS servers
    /// and proxies of kept endpoints and installs the rule set. Returns `/info` warnings.
    pub async fn init(&self) -> Result<Vec<String>> {
        let _g = self.changes.lock().await;
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if self.find(name)?.is_none() {
                self.put_network(&NetworkRecord {
                    id: new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: now(),
                    builtin: true,
                    ..Default::default()
                })?;
            }
        }
        let Some(k) = &self.kernel else {
            return Ok(Vec::new());
        };
        std::fs::create_dir_all(&self.netns_dir)
            .map_err(|e| EngineError::io(format!("create {}", self.netns_dir.display()), e))?;
        if self.find("bridge")?.is_none() {
            let subnet = self.free_subnet(None).await?;
            let mut options = BTreeMap::new();
            options.insert(OPT_BRIDGE_NAME.to_string(), self.cfg.bridge_name.clone());
            self.put_network(&NetworkRecord {
                id: new_id(),
                name: "bridge".into(),
                driver: "bridge".into(),
                created: now(),
                subnet: subnet.to_string(),
                gateway: subnet.first_host().to_string(),
                bridge: self.cfg.bridge_name.clone(),
                options,
                builtin: true,
                ..Default::default()
            })?;
        }
        let mut warnings = forwarding_warning();
        if let Some(bridge) = self.find("bridge")? {
            let (_, warning) = self.configure_default_ipv6(bridge).await?;
            warnings.extend(warning);
        }
        for n in self.list()? {
            if n.driver == "bridge" {
                self.bring_up_bridge(&n).await?;
                if n.has_dns() {
                    self.start_dns(&n);
                }
            }
            // A swarm network's sandbox outlives berthd, like its containers.
            if let Some(vni) = n.vni {
                let sandbox = berth_overlay::sandbox::sandbox_path(&self.netns_dir, vni);
                if sandbox.exists() {
                    self.start_overlay_dns(&n, &sandbox);
                }
            }
        }
        for ep in self.endpoints.all()? {
            if let Err(e) = self.start_proxies(&ep).await {
                tracing::warn!(endpoint = %ep.id, error = %e, "restoring published ports failed");
            }
        }
        self.apply_rules()?;
        let _ = k;
        Ok(warnings)
    }

    pub(crate) async fn bring_up_bridge(&self, n: &NetworkRecord) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        let subnet = Subnet::parse(&n.subnet)
            .ok_or_else(|| EngineError::Internal(format!("bad subnet {}", n.subnet)))?;
        let gw: Ipv4Addr = n
            .gateway
            .parse()
            .map_err(|_| EngineError::Internal(format!("bad gateway {}", n.gateway)))?;
        k.netlink
            .add_bridge(&n.bridge, n.mtu)
            .await
            .map_err(net_err)?;
        k.netlink
            .add_address(&n.bridge, IpAddr::V4(gw), subnet.prefix)
            .await
            .map_err(net_err)?;
        self.bring_up_ipv6(k, n).await
    }

    /// Subnets used by berth's networks and by the host's links.
    async fn taken_subnets(&self, except_bridge: Option<&str>) -> Result<Vec<Subnet>> {
        let mut taken: Vec<Subnet> = self
            .list()?
            .iter()
            .filter_map(|n| Subnet::parse(&n.subnet))
            .collect();
        if let Some(k) = &self.kernel {
            for l in k.netlink.links().await.map_err(net_err)? {
                if Some(l.name.as_str()) == except_bridge {
                    continue;
                }
                for (ip, prefix) in l.addresses {
                    if let IpAddr::V4(v4) = ip {
                        if !v4.is_loopback() {
                            taken.extend(Subnet::parse(&format!("{v4}/{prefix}")));
                        }
                    }
                }
            }
        }
        Ok(taken)
    }

    async fn free_subnet(&self, except_bridge: Option<&str>) -> Result<Subnet> {
        let taken = self
            .taken_subnets(except_bridge.or(Some(&self.cfg.bridge_name)))
            .await?;
        pick_subnet(&self.cfg.pools, &taken).ok_or_else(|| {
            EngineError::InvalidArgument(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
    }

    /// Connects local networking to the swarm (once, at daemon start).
    pub fn set_swarm(&self, swarm: Arc<dyn super::SwarmNetworks>) {
        let _ = self.swarm.set(swarm);
    }

    /// Keeps this node's copy of a swarm overlay network (made when a task first needs it;
    /// the swarm owns the original). An existing copy is replaced when the swarm's view
    /// changed.
    pub fn ensure_overlay(&self, rec: &NetworkRecord) -> Result<()> {
        if let Some(kept) = self.networks.get(&rec.id)? {
            let mut kept = (*kept).clone();
            kept.created.clone_from(&rec.created);
            if kept == *rec {
                return Ok(());
            }
        }
        self.put_network(rec)
    }

    pub(crate) fn put_network(&self, n: &NetworkRecord) -> Result<()> {
        let res = self.networks.put(&n.id, n);
        self.network_writes.fetch_add(1, Ordering::Release);
        res
    }

    fn remove_network_record(&self, id: &str) -> Result<()> {
        let res = self.networks.remove(id);
        self.network_writes.fetch_add(1, Ordering::Release);
        res
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        Ok(self
            .shared_list()?
            .into_iter()
            .map(|n| (*n).clone())
            .collect())
    }

    /// Every network, by name, as the records kept in memory.
    fn shared_list(&self) -> Result<Vec<std::sync::Arc<NetworkRecord>>> {
        let mut all: Vec<std::sync::Arc<NetworkRecord>> =
            self.networks.read(|all| all.values().cloned().collect())?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// A network by full id, exact name, or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Option<NetworkRecord>> {
        if let Some(n) = self.networks.get(default_is_bridge(key))? {
            return Ok(Some((*n).clone()));
        }
        Ok(self.index()?.find(key).cloned())
    }

    /// Like `find`, with Docker's 404 message.
    pub fn get(&self, key: &str) -> Result<NetworkRecord> {
        self.find(key)?.ok_or_else(|| network_not_found(key))
    }

    /// Every network, to look many up from one read of the store (`find` by name reads all).
    pub fn index(&self) -> Result<NetworkIndex> {
        Ok(NetworkIndex(self.shared_list()?))
    }

    /// Endpoints of running containers on network `id`.
    pub fn endpoints_on(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        self.endpoints.on_network(id)
    }

    /// Creates a user-defined bridge network.
    pub async fn create(&self, req: CreateNetwork) -> Result<NetworkRecord> {
        let _g = self.changes.lock().await;
        refuse_predefined(&req.name)?;
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(EngineError::NotFound(format!(
                "plugin \"{}\" not found",
                req.driver
            )));
        }
        if self.find(&req.name)?.is_some_and(|n| n.name == req.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let bridge_opt = req.options.get(OPT_BRIDGE_NAME).cloned();
        let asked = super::pool_check::AskedPool {
            subnet: req.subnet.as_deref().unwrap_or_default(),
            gateway: req.gateway.as_deref(),
            ip_range: req.ip_range.as_deref(),
            aux: &req.aux_addresses,
        };
        // A gateway, range or address without a subnet is moby's empty subnet, refused.
        let parts = if req.subnet.is_some()
            || req.gateway.is_some()
            || req.ip_range.is_some()
            || !req.aux_addresses.is_empty()
        {
            super::pool_check::asked_pool(asked, &self.taken_subnets(None).await?)?
        } else {
            super::pool_check::PoolParts {
                subnet: self.free_subnet(None).await?,
                gateway: None,
                ip_range: String::new(),
                aux_addresses: BTreeMap::new(),
            }
        };
        let subnet = parts.subnet;
        let gateway = parts.gateway.unwrap_or(subnet.first_host());
        let (ip_range, aux_addresses) = (parts.ip_range, parts.aux_addresses);
        let ipv6 = self.ipv6_pool(&req)?;
        let mtu = match req.options.get(OPT_MTU) {
            Some(m) => Some(
                m.parse::<u32>()
                    .map_err(|_| EngineError::InvalidArgument(format!("invalid mtu {m}")))?,
            ),
            None => None,
        };
        let id = new_id();
        let bridge = bridge_opt.unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.len() > 15 {
            return Err(EngineError::InvalidArgument(format!(
                "bridge name {bridge} is longer than 15 characters"
            )));
        }
        let rec = NetworkRecord {
            id,
            name: req.name,
            driver: "bridge".into(),
            created: now(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            bridge,
            internal: req.internal,
            mtu,
            labels: req.labels,
            options: req.options,
            builtin: false,
            ip_range,
            aux_addresses,
            attachable: req.attachable,
            vni: None,
            vxlan_port: None,
            enable_ipv6: req.enable_ipv6,
            ipv6,
            gateway_implied: req.subnet.is_some() && req.gateway.is_none(),
        };
        self.bring_up_bridge(&rec).await?;
        self.put_network(&rec)?;
        if let Err(e) = self.apply_rules() {
            let _ = self.delete_bridge(&rec).await;
            let _ = self.remove_network_record(&rec.id);
            return Err(e);
        }
        self.start_dns(&rec);
        Ok(rec)
    }

    async fn delete_bridge(&self, n: &NetworkRecord) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        match n.vni {
            // A swarm network's copy: its sandbox namespace holds the bridge and VXLAN device.
            Some(vni) => {
                let port = n.vxlan_port.unwrap_or(berth_overlay::sandbox::DEFAULT_PORT);
                berth_overlay::Sandbox::remove(k.netlink.as_ref(), &self.netns_dir, vni, port)
                    .await
                    .map_err(net_err)
            }
            None => k.netlink.delete_link(&n.bridge).await.map_err(net_err),
        }
    }

    /// Removes a user network; refused while a running container is attached.
    pub async fn remove(&self, key: &str) -> Result<NetworkRecord> {
        let _g = self.changes.lock().await;
        let n = self.get(key)?;
        if n.builtin {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if !self.endpoints_on(&n.id)?.is_empty() {
            return Err(EngineError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.remove_locked(&n).await?;
        Ok(n)
    }

    /// Removes network `n`, its DNS server, bridge or sandbox and addresses; the caller holds
    /// the changes lock and has checked that nothing uses it.
    pub(crate) async fn remove_locked(&self, n: &NetworkRecord) -> Result<()> {
        if let Ok(mut dns) = self.dns.lock() {
            dns.remove(&n.id);
        }
        self.delete_bridge(n).await?;
        self.remove_network_record(&n.id)?;
        self.ipam.remove(&n.id)?;
        self.ipam.remove(&super::ipv6::allocations_key(&n.id))?;
        self.apply_rules()
    }

    /// The rule set for the current records.
    pub fn ruleset(&self) -> Result<Ruleset> {
        let networks = self
            .shared_list()?
            .iter()
            .filter(|n| n.driver == "bridge")
            .map(|n| FirewallNet {
                masquerade: n.masquerades(),
                bridge: n.bridge.clone(),
                subnet: n.subnet.clone(),
                internal: n.internal,
                ipv6: n.ipv6_pool().is_some(),
            })
            .collect();
        let mut dnats = Vec::new();
        for ep in self.endpoints.publishing()? {
            let Some(ip) = ep.ip else { continue };
            for p in &ep.ports {
                dnats.push(Dnat {
                    proto: p.proto.clone(),
                    host_ip: Some(p.host_ip.clone()).filter(|h| !h.is_empty() && h != "0.0.0.0"),
                    host_port: p.host_port,
                    ip: ip.to_string(),
                    port: p.container_port,
                });
            }
        }
        Ok(Ruleset {
            table: self.cfg.nft_table.clone(),
            networks,
            dnats,
            drop_ipv6_table: false,
        })
    }

    pub(crate) fn apply_rules(&self) -> Result<()> {
        let Some(k) = &self.kernel else {
            return Ok(());
        };
        let mut rules = self.ruleset()?;
        let mut applied = self
            .applied
            .lock()
            .map_err(|_| EngineError::Internal("firewall state poisoned".into()))?;
        rules.drop_ipv6_table =
            !rules.has_ipv6() && applied.as_ref().is_some_and(Ruleset::has_ipv6);
        if applied.as_ref() == Some(&rules) {
            return Ok(());
        }
        // Forget the old set first: after a failure the kernel's state is unknown.
        *applied = None;
        k.firewall.apply(&rules)?;
        *applied = Some(rules);
        Ok(())
    }

    /// Starts the DNS server of an overlay network inside its sandbox, once.
    pub(crate) fn start_overlay_dns(&self, n: &NetworkRecord, sandbox: &std::path::Path) {
        let Ok(mut m) = self.dns.lock() else { return };
        if m.contains_key(&n.id) {
            return;
        }
        let names = self.swarm_names.clone();
        match super::dns::DnsServer::start(n, self.endpoints.clone(), names, Some(sandbox)) {
            Ok(s) => {
                m.insert(n.id.clone(), s);
            }
            Err(e) => tracing::warn!(network = %n.name, error = %e, "embedded DNS not started"),
        }
    }

    fn start_dns(&self, n: &NetworkRecord) {
        if !n.has_dns() || self.kernel.is_none() {
            return;
        }
        let names = self.swarm_names.clone();
        match super::dns::DnsServer::start(n, self.endpoints.clone(), names, None) {
            Ok(s) => {
                if let Ok(mut m) = self.dns.lock() {
                    m.insert(n.id.clone(), s);
                }
            }
            Err(e) => tracing::warn!(network = %n.name, error = %e, "embedded DNS not started"),
        }
    }
}

/// Bridge networks need forwarding; berthd turns it on when it is off and says so.
fn forwarding_warning() -> Vec<String> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    match std::fs::read_to_string(path) {
        Ok(v) if v.trim() == "1" => Vec::new(),
        _ => match std::fs::write(path, "1") {
            Ok(()) => vec![
                "WARNING: IPv4 forwarding was off: berthd turned it on for bridge networks".into(),
            ],
            Err(_) => {
                vec!["WARNING: IPv4 forwarding is disabled. Networking will not work.".into()]
            }
        },
    }
}

/// Docker's mode `default` is the default bridge network.
fn default_is_bridge(key: &str) -> &str {
    if key == "default" {
        "bridge"
    } else {
        key
    }
}

pub(crate) fn network_not_found(key: &str) -> EngineError {
    EngineError::NotFound(format!("network {key} not found"))
}

/// The networks at one moment, found by key as `Networks::find` finds them.
#[derive(Debug, Clone)]
pub struct NetworkIndex(Vec<std::sync::Arc<NetworkRecord>>);

impl NetworkIndex {
    /// A network by full id, exact name, or unique id prefix.
    pub fn find(&self, key: &str) -> Option<&NetworkRecord> {
        self.find_shared_ref(key).map(|n| &**n)
    }

    /// `find`, as the index's shared record.
    pub fn find_shared(&self, key: &str) -> Option<std::sync::Arc<NetworkRecord>> {
        self.find_shared_ref(key).cloned()
    }

    fn find_shared_ref(&self, key: &str) -> Option<&std::sync::Arc<NetworkRecord>> {
        let key = default_is_bridge(key);
        let exact = |f: &dyn Fn(&NetworkRecord) -> bool| self.0.iter().find(|n| f(n));
        if let Some(n) = exact(&|n| n.id == key).or_else(|| exact(&|n| n.name == key)) {
            return Some(n);
        }
        let mut by_prefix = self
            .0
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(n), None) => Some(n),
            _ => None,
        }
    }

    /// Like `find`, with Docker's 404 message.
    pub fn get(&self, key: &str) -> Result<NetworkRecord> {
        self.find(key)
            .cloned()
            .ok_or_else(|| network_not_found(key))
    }
}
