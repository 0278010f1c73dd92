//! The allocation pass of the leader: gives every overlay network that has none a VXLAN id
//! (the lowest free from 4096) and a subnet (the one asked for, or the first free one of the
//! cluster's default address pools) with its gateway. Pure: reads the store, returns the
//! transactions; each names the version it read, so a network changed meanwhile is left for
//! the next pass. Nothing is handed out twice while held, and a removed network's VNI and
//! subnet are free again.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use berth_overlay::ipam::{pick_subnet, AddressPool, Subnet};
use berth_raft::{ClusterCommand, ClusterState, ObjectKind, Op};

use crate::model::{sorted, Cluster, ModelError, Network, NetworkAllocation, FIRST_VNI, LAST_VNI};
use crate::plan::Plan;

/// What one network needs, or why it cannot have it.
fn allocate_one(
    n: &Network<'_>,
    pools: &[AddressPool],
    vnis: &BTreeSet<u32>,
    taken: &[Subnet],
) -> Result<NetworkAllocation, String> {
    let subnet = match n.requested_subnet() {
        Some(asked) => {
            let s = Subnet::parse(asked).ok_or_else(|| format!("invalid subnet {asked}"))?;
            if taken.iter().any(|t| t.overlaps(&s)) {
                return Err(format!(
                    "invalid pool request: Pool overlaps with other one on this address space ({s})"
                ));
            }
            s
        }
        None => pick_subnet(pools, taken)
            .ok_or("could not find an available, non-overlapping IPv4 address pool")?,
    };
    let gateway = match n.requested_gateway() {
        Some(g) => g
            .parse::<Ipv4Addr>()
            .ok()
            .filter(|ip| subnet.contains(*ip))
            .ok_or_else(|| format!("invalid gateway {g} for subnet {subnet}"))?,
        None => subnet.first_host(),
    };
    let vni = (FIRST_VNI..=LAST_VNI)
        .find(|v| !vnis.contains(v))
        .ok_or("no free VXLAN id")?;
    Ok(NetworkAllocation {
        vni,
        subnet: subnet.to_string(),
        gateway,
    })
}

/// The cluster's address pools as IPAM takes them.
fn pools(s: &ClusterState) -> Vec<AddressPool> {
    let Some(c) = s.list(ObjectKind::Cluster).next() else {
        return Vec::new();
    };
    let Ok(c) = Cluster::parse(c) else {
        return Vec::new();
    };
    let size = u8::try_from(c.status.subnet_size).unwrap_or(24);
    c.status
        .default_addr_pool
        .iter()
        .map(|base| AddressPool {
            base: base.clone(),
            size,
        })
        .collect()
}

/// Allocates every network that has no allocation yet, in id order.
pub fn allocate(s: &ClusterState) -> Plan {
    let mut plan = Plan::default();
    let mut networks = Vec::new();
    for o in sorted(s.list(ObjectKind::Network)) {
        match Network::parse(o) {
            Ok(n) => networks.push(n),
            Err(e) => plan.problem(e),
        }
    }
    let mut vnis: BTreeSet<u32> = BTreeSet::new();
    let mut taken: Vec<Subnet> = Vec::new();
    for a in networks.iter().filter_map(|n| n.allocation.as_ref()) {
        vnis.insert(a.vni);
        taken.extend(a.subnet());
    }
    let pools = pools(s);
    for n in networks.iter().filter(|n| n.allocation.is_none()) {
        match allocate_one(n, &pools, &vnis, &taken) {
            Ok(a) => {
                vnis.insert(a.vni);
                taken.extend(a.subnet());
                plan.push(ClusterCommand::single(Op::UpdateStatus {
                    kind: ObjectKind::Network,
                    id: n.id().to_string(),
                    expected_version: Some(n.object.meta.version),
                    status: a.to_value(),
                }));
            }
            Err(reason) => plan.problem(ModelError::of(n.object, reason)),
        }
    }
    plan
}

#[cfg(test)]
#[path = "allocator_tests.rs"]
mod tests;
