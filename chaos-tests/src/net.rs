//! The cluster's wiring: a switch namespace with a bridge, one veth per node into the node's
//! namespace, and link up/down for faults. Netlink through `berth_overlay::NetlinkOps`; the one
//! thing it lacks (setting a link down) is done here over rtnetlink. Never touches the host's
//! own links: everything is created inside the harness's namespaces.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use berth_overlay::{LinkChange, NetlinkOps, RtNetlink};

use crate::error::ClusterError;
use crate::names::{self, Names, NETNS_DIR};

/// The path of the named namespace `name`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Runs `f` on a fresh thread that first joined the network namespace bound at `path`; the
/// calling thread stays where it is. Sockets made inside stay in that namespace.
pub fn in_netns<T, F>(path: &Path, f: F) -> Result<T, ClusterError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let file = std::fs::File::open(path).map_err(ClusterError::io("open netns", path))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ClusterError::io("setns", path)(e.into()))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(ClusterError::Thread(path.display().to_string())))
    })
}

/// Runs the future `make` returns on a private runtime on its own thread, so callers may be
/// sync code or inside someone else's runtime alike.
pub fn block_on<T, Fut, F>(make: F) -> Result<T, ClusterError>
where
    T: Send,
    Fut: Future<Output = Result<T, ClusterError>>,
    F: FnOnce() -> Fut + Send,
{
    std::thread::scope(|s| {
        s.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ClusterError::io("start runtime", "tokio"))?;
            rt.block_on(make())
        })
        .join()
        .unwrap_or_else(|_| Err(ClusterError::Thread("netlink runtime".into())))
    })
}

/// Addresses of the host's own namespace, to keep the cluster's /24 clear of them.
pub fn host_addresses() -> Result<Vec<(IpAddr, u8)>, ClusterError> {
    block_on(|| async {
        let links = RtNetlink::new()?.links().await?;
        Ok(links.into_iter().flat_map(|l| l.addresses).collect())
    })
}

/// The names of the host namespace's links.
pub fn host_link_names() -> Result<Vec<String>, ClusterError> {
    block_on(|| async {
        let links = RtNetlink::new()?.links().await?;
        Ok(links.into_iter().map(|l| l.name).collect())
    })
}

/// The first candidate /24 for `prefix` that overlaps none of `taken`.
pub fn pick_subnet(prefix: &str, taken: &[(IpAddr, u8)]) -> Result<Ipv4Addr, ClusterError> {
    (0..64)
        .map(|attempt| names::subnet_candidate(prefix, attempt))
        .find(|net| !taken.iter().any(|(a, l)| names::overlaps(*net, *a, *l)))
        .ok_or(ClusterError::NoSubnet)
}

/// Creates the named namespace `name` (`ip netns add`).
pub fn create_netns(name: &str) -> Result<(), ClusterError> {
    std::fs::create_dir_all(NETNS_DIR).map_err(ClusterError::io("create", NETNS_DIR))?;
    Ok(berth_overlay::netns::create(&netns_path(name))?)
}

/// Deletes the named namespace `name` (`ip netns del`); a missing one is fine.
pub fn remove_netns(name: &str) -> Result<(), ClusterError> {
    Ok(berth_overlay::netns::remove(&netns_path(name))?)
}

/// Builds the switch: bridge up in the switch namespace, then per node a veth whose switch end
/// is on the bridge and whose node end, in the node namespace, has `.i+1` of `subnet`.
/// The namespaces must exist.
pub fn wire(names: &Names, nodes: usize, subnet: Ipv4Addr) -> Result<(), ClusterError> {
    block_on(|| async {
        let switch = RtNetlink::for_netns(&netns_path(&names.switch_netns())).await?;
        switch.set_link("lo", vec![LinkChange::Up]).await?;
        switch.add_bridge(&names.bridge(), None).await?;
        for i in 0..nodes {
            wire_node(&switch, names, i, subnet).await?;
        }
        Ok(())
    })
}

async fn wire_node(
    switch: &RtNetlink,
    names: &Names,
    i: usize,
    subnet: Ipv4Addr,
) -> Result<(), ClusterError> {
    let (outer, inner) = (names.switch_veth(i), names.node_veth(i));
    let node_ns = netns_path(&names.node_netns(i));
    switch.add_veth(&outer, &inner, None).await?;
    switch
        .set_link(&inner, vec![LinkChange::Netns(node_ns.clone())])
        .await?;
    switch
        .set_link(
            &outer,
            vec![LinkChange::Master(names.bridge()), LinkChange::Up],
        )
        .await?;
    let node = switch.in_netns(&node_ns).await?;
    node.set_link("lo", vec![LinkChange::Up]).await?;
    node.add_address(&inner, IpAddr::V4(names::node_ip(subnet, i)), 24)
        .await?;
    node.set_link(&inner, vec![LinkChange::Up]).await?;
    Ok(())
}

/// Sets link `link` of the namespace bound at `netns` up (`up`) or down.
pub fn set_link_state(netns: &Path, link: &str, up: bool) -> Result<(), ClusterError> {
    if up {
        return block_on(|| async {
            let ns = RtNetlink::for_netns(netns).await?;
            Ok(ns.set_link(link, vec![LinkChange::Up]).await?)
        });
    }
    // `NetlinkOps` has no "down": a socket of our own, opened inside the namespace (the
    // runtime's thread inherits the namespace of the thread that spawns it).
    in_netns(netns, || block_on(|| link_down(link)))?
}

async fn link_down(link: &str) -> Result<(), ClusterError> {
    let nl_err = |op| {
        move |e: std::io::Error| ClusterError::Netlink {
            op,
            link: link.to_string(),
            message: e.to_string(),
        }
    };
    let (conn, handle, _) = rtnetlink::new_connection().map_err(nl_err("open socket"))?;
    tokio::spawn(conn);
    let msg = rtnetlink::LinkUnspec::new_with_name(link).down().build();
    handle
        .link()
        .set(msg)
        .execute()
        .await
        .map_err(|e| ClusterError::Netlink {
            op: "set down",
            link: link.to_string(),
            message: e.to_string(),
        })
}
