//! Published ports across the swarm, as swarmkit keeps them. A port on the routing mesh
//! (`PublishMode: ingress`, the default) is the swarm's: every node serves it for one service,
//! so another service asking for the same protocol and number, in either mode, is refused,
//! and so is a host-mode port another service holds on the mesh (host-mode ports of several
//! services may share a number: placement keeps their tasks apart). A mesh port sent without
//! a number gets the lowest free one from Docker's dynamic range, 30000–32767, from the
//! leader's allocator, and keeps it while the service publishes that target.

use std::collections::BTreeSet;

use berth_raft::{ClusterState, ObjectKind};
use bollard_stubs::models::{EndpointPortConfig, EndpointSpecModeEnum, ServiceSpec};

use crate::error::{SwarmError, SwarmResult};
use crate::model::{on_mesh, published, with_defaults, Protocol, Service};

/// Docker's range for mesh ports given without a number.
pub const DYNAMIC: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A published port: its protocol and number.
type Key = (Protocol, u16);

fn key(p: &EndpointPortConfig) -> Key {
    (Protocol::of(p), published(p))
}

fn invalid(message: String) -> SwarmError {
    SwarmError::InvalidArgument(format!(
        "rpc error: code = InvalidArgument desc = {message}"
    ))
}

/// Refuses the ports Docker refuses in a spec on its own: a mesh port with DNS round robin
/// (the mesh balances over the service's VIP), one protocol and number published twice, and
/// SCTP on the mesh, which berth's forwards TCP and UDP only.
pub fn check_spec(spec: &ServiceSpec) -> SwarmResult<()> {
    let Some(endpoint) = &spec.endpoint_spec else {
        return Ok(());
    };
    let dnsrr = endpoint.mode == Some(EndpointSpecModeEnum::DNSRR);
    let mut seen = BTreeSet::new();
    for p in endpoint.ports.iter().flatten() {
        if dnsrr && on_mesh(p) {
            return Err(invalid(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
                    .into(),
            ));
        }
        if on_mesh(p) && Protocol::of(p) == Protocol::Sctp {
            let n = match published(p) {
                0 => p.target_port.unwrap_or(0),
                n => i64::from(n),
            };
            return Err(SwarmError::InvalidArgument(format!(
                "port {n}/sctp: berth's routing mesh forwards TCP and UDP only; publish it with mode=host"
            )));
        }
        if published(p) != 0 && !seen.insert(key(p)) {
            return Err(invalid(
                "EndpointSpec: duplicate published ports provided".into(),
            ));
        }
    }
    Ok(())
}

/// Refuses published ports another service holds (swarmkit's port conflict check; `own`
/// names the service being updated, whose ports are its own to keep).
pub fn check_conflicts(s: &ClusterState, spec: &ServiceSpec, own: Option<&str>) -> SwarmResult<()> {
    let ports = spec.endpoint_spec.as_ref().and_then(|e| e.ports.as_ref());
    let asked: Vec<(Key, bool)> = ports
        .into_iter()
        .flatten()
        .filter(|p| published(p) != 0)
        .map(|p| (key(p), on_mesh(p)))
        .collect();
    if asked.is_empty() {
        return Ok(());
    }
    for svc in s
        .list(ObjectKind::Service)
        .filter(|o| Some(o.id.as_str()) != own)
        .filter_map(|o| Service::parse(o).ok())
    {
        let held = svc.spec_ports().iter().chain(svc.status.ports.iter());
        for p in held.filter(|p| published(p) != 0) {
            let theirs_on_mesh = on_mesh(p);
            let clash = asked
                .iter()
                .any(|(k, mine_on_mesh)| *k == key(p) && (*mine_on_mesh || theirs_on_mesh));
            if clash {
                // Named by how the other service publishes it, as swarmkit does.
                let how = if theirs_on_mesh {
                    "an ingress port"
                } else {
                    "a host-published port"
                };
                return Err(invalid(format!(
                    "port '{}' is already in use by service '{}' ({}) as {how}",
                    published(p),
                    svc.name(),
                    svc.id()
                )));
            }
        }
    }
    Ok(())
}

/// Every protocol and number some service publishes, as sent or as allocated.
pub fn taken(services: &[Service<'_>]) -> BTreeSet<Key> {
    services
        .iter()
        .flat_map(|s| s.spec_ports().iter().chain(s.status.ports.iter()))
        .filter(|p| published(p) != 0)
        .map(key)
        .collect()
}

/// `svc`'s `Endpoint.Ports`: its entries with Docker's defaults, each mesh port without a
/// number given the one it had for that target, or else the lowest free one of the dynamic
/// range (then marked in `taken`).
pub fn assign(
    svc: &Service<'_>,
    taken: &mut BTreeSet<Key>,
) -> Result<Vec<EndpointPortConfig>, String> {
    let mut had: Vec<&EndpointPortConfig> = svc
        .status
        .ports
        .iter()
        .filter(|p| on_mesh(p) && DYNAMIC.contains(&published(p)))
        .collect();
    let mut out = Vec::new();
    for p in svc.spec_ports() {
        let mut shown = with_defaults(p);
        if on_mesh(p) && published(p) == 0 {
            let same = |h: &&EndpointPortConfig| {
                Protocol::of(h) == Protocol::of(p) && h.target_port == p.target_port
            };
            let number = match had.iter().position(same) {
                Some(i) => published(had.swap_remove(i)),
                None => {
                    let protocol = Protocol::of(p);
                    let free = DYNAMIC
                        .clone()
                        .find(|n| !taken.contains(&(protocol, *n)))
                        .ok_or("no free port left in the dynamic range 30000-32767")?;
                    taken.insert((protocol, free));
                    free
                }
            };
            shown.published_port = Some(i64::from(number));
        }
        out.push(shown);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "published_ports_tests.rs"]
mod tests;
