//! The filters deciding whether one node can take one task, each failing with a `Rejection`.
//! Static filters (state, availability, constraints, platform) read the node alone; dynamic
//! ones (resources, host ports, max replicas) read what the batch has charged so far, passed in
//! as a `NodeLoad`. Pure per-node predicates: no indexes, no ordering.

use std::collections::BTreeMap;

use crate::constraint::{parse_constraints, Constraint};
use crate::error::ScheduleError;
use crate::explain::Rejection;
use crate::model::{Availability, HostPort, Node, NodeState, Platform, TaskRequest};
use crate::strategy::{parse_preferences, LabelSource};

/// A task's requirements, parsed once for all tasks sharing its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirements {
    /// Parsed constraints, in the task's order.
    pub constraints: Vec<Constraint>,
    /// Image platforms with architectures normalized.
    pub platforms: Vec<Platform>,
    /// Spread levels, outermost first.
    pub spread: Vec<LabelSource>,
    /// CPU reservation in billionths of a core.
    pub nano_cpus: u64,
    /// Memory reservation in bytes.
    pub memory_bytes: u64,
    /// Generic resources with a non-zero demand.
    pub generic: Vec<(String, u64)>,
    /// Generic kinds reserved by name, which no node gives.
    pub named_generic: Vec<String>,
    /// Host ports other than 0, without repeats.
    pub host_ports: Vec<HostPort>,
    /// Tasks of the service allowed per node; 0 for no limit.
    pub max_replicas: u64,
}

impl Requirements {
    /// Parses the task's constraints and preferences; fails on the first invalid one.
    pub fn compile(task: &TaskRequest) -> Result<Requirements, ScheduleError> {
        let mut host_ports: Vec<HostPort> = task
            .host_ports
            .iter()
            .copied()
            .filter(|p| p.port != 0)
            .collect();
        host_ports.sort_unstable();
        host_ports.dedup();
        Ok(Requirements {
            constraints: parse_constraints(&task.constraints)?,
            platforms: task.platforms.iter().map(normalize).collect(),
            spread: parse_preferences(&task.preferences),
            nano_cpus: task.reservations.nano_cpus,
            memory_bytes: task.reservations.memory_bytes,
            generic: task
                .reservations
                .generic
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (k.clone(), *n))
                .collect(),
            named_generic: task.named_generic.clone(),
            host_ports,
            max_replicas: task.max_replicas,
        })
    }
}

/// Rejects a node that is down, paused or drained.
pub(crate) fn availability_rejection(node: &Node) -> Option<Rejection> {
    if node.state == NodeState::Down {
        return Some(Rejection::Down);
    }
    match node.availability {
        Availability::Active => None,
        Availability::Pause => Some(Rejection::Paused),
        Availability::Drain => Some(Rejection::Drained),
    }
}

/// The first static filter `node` fails for `req`: availability, then each constraint in
/// order, then platform, then a generic kind reserved by name. Static filters run before resources so a pending task names the
/// lasting reason (swarmkit checks resources second and would blame memory instead).
pub(crate) fn static_rejection(node: &Node, req: &Requirements) -> Option<Rejection> {
    if let Some(r) = availability_rejection(node) {
        return Some(r);
    }
    if let Some(c) = req.constraints.iter().find(|c| !c.matches(node)) {
        return Some(Rejection::Constraint(c.to_string()));
    }
    if !is_platform_supported(&node.platform, &req.platforms) {
        return Some(Rejection::UnsupportedPlatform);
    }
    if let Some(kind) = req.named_generic.first() {
        return Some(Rejection::NamedGeneric(kind.clone()));
    }
    None
}

/// Whether `node` passes every static filter; `static_rejection` without building a reason.
pub(crate) fn passes_static(node: &Node, req: &Requirements) -> bool {
    availability_rejection(node).is_none()
        && req.constraints.iter().all(|c| c.matches(node))
        && is_platform_supported(&node.platform, &req.platforms)
        && req.named_generic.is_empty()
}

/// Whether an image supporting `platforms` (normalized; empty means any) runs on `node`.
/// Empty image OS or architecture matches any, as in swarmkit's PlatformFilter.
pub(crate) fn is_platform_supported(node: &Platform, platforms: &[Platform]) -> bool {
    if platforms.is_empty() {
        return true;
    }
    let arch = normalize_arch(&node.arch);
    platforms
        .iter()
        .any(|p| (p.arch.is_empty() || p.arch == arch) && (p.os.is_empty() || p.os == node.os))
}

fn normalize(p: &Platform) -> Platform {
    Platform {
        os: p.os.clone(),
        arch: normalize_arch(&p.arch).to_owned(),
    }
}

/// Engines report `uname -m` names, images use Go's; swarmkit equates these two pairs.
fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// What is left on a node at this point of the batch.
pub(crate) struct NodeLoad<'a> {
    /// The node as the snapshot has it.
    pub node: &'a Node,
    /// Unreserved CPU, batch charges included.
    pub nano_cpus: u64,
    /// Unreserved memory, batch charges included.
    pub memory_bytes: u64,
    /// Generic resources charged by this batch.
    pub charged_generic: Option<&'a BTreeMap<String, u64>>,
    /// Host ports published by this batch.
    pub added_ports: &'a [HostPort],
    /// Tasks of the task's service on the node, batch included (0 when the task sets no limit).
    pub service_tasks: u32,
}

impl NodeLoad<'_> {
    fn free_generic(&self, kind: &str) -> u64 {
        let total = self.node.resources.generic.get(kind).copied().unwrap_or(0);
        let reserved = self.node.reserved.generic.get(kind).copied().unwrap_or(0);
        let charged = self
            .charged_generic
            .and_then(|c| c.get(kind).copied())
            .unwrap_or(0);
        total.saturating_sub(reserved).saturating_sub(charged)
    }

    fn is_port_used(&self, port: &HostPort) -> bool {
        self.node.host_ports.contains(port) || self.added_ports.contains(port)
    }
}

/// The first dynamic filter the node fails: CPU, memory, generic resources, host ports, max
/// replicas. Every one only gets stricter as a batch places tasks.
pub(crate) fn dynamic_rejection(load: &NodeLoad<'_>, req: &Requirements) -> Option<Rejection> {
    if req.nano_cpus > load.nano_cpus {
        return Some(Rejection::InsufficientCpu);
    }
    if req.memory_bytes > load.memory_bytes {
        return Some(Rejection::InsufficientMemory);
    }
    if let Some((kind, _)) = req.generic.iter().find(|(k, n)| *n > load.free_generic(k)) {
        return Some(Rejection::InsufficientGeneric(kind.clone()));
    }
    if let Some(port) = req.host_ports.iter().find(|p| load.is_port_used(p)) {
        return Some(Rejection::HostPortInUse(*port));
    }
    if req.max_replicas > 0 && u64::from(load.service_tasks) >= req.max_replicas {
        return Some(Rejection::MaxReplicas(req.max_replicas));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Preference, Protocol, Resources};

    const GIB: u64 = 1 << 30;

    fn req(task: TaskRequest) -> Requirements {
        Requirements::compile(&task).unwrap()
    }

    fn labelled(zone: &str) -> Node {
        let mut n = Node {
            id: "n1".into(),
            platform: Platform::new("linux", "x86_64"),
            ..Node::default()
        };
        n.labels.insert("zone".into(), zone.into());
        n
    }

    #[test]
    fn static_filters_reject_with_the_first_failing_reason() {
        let task = TaskRequest {
            constraints: vec!["node.labels.zone==a".into(), "node.role==worker".into()],
            platforms: vec![Platform::new("linux", "arm64")],
            ..TaskRequest::default()
        };
        let r = req(task);
        let down = Node {
            state: NodeState::Down,
            availability: Availability::Drain,
            ..labelled("b")
        };
        let paused = Node {
            availability: Availability::Pause,
            ..labelled("a")
        };
        let drained = Node {
            availability: Availability::Drain,
            ..labelled("a")
        };
        let arm = Node {
            platform: Platform::new("linux", "aarch64"),
            ..labelled("a")
        };
        let cases = [
            (down, Some(Rejection::Down)),
            (paused, Some(Rejection::Paused)),
            (drained, Some(Rejection::Drained)),
            (
                labelled("b"),
                Some(Rejection::Constraint("node.labels.zone==a".into())),
            ),
            (labelled("a"), Some(Rejection::UnsupportedPlatform)),
            (arm, None),
        ];
        for (node, want) in cases {
            assert_eq!(static_rejection(&node, &r), want, "{node:?}");
        }
    }

    #[test]
    fn platform_filter_normalizes_architectures_and_treats_empty_as_any() {
        let linux_amd64 = Platform::new("linux", "x86_64");
        let norm = |ps: &[Platform]| ps.iter().map(normalize).collect::<Vec<_>>();
        let cases = [
            (vec![], true),
            (vec![Platform::new("linux", "amd64")], true),
            (vec![Platform::new("linux", "x86_64")], true),
            (vec![Platform::new("", "amd64")], true),
            (vec![Platform::new("linux", "")], true),
            (vec![Platform::new("windows", "amd64")], false),
            (
                vec![
                    Platform::new("linux", "arm64"),
                    Platform::new("linux", "amd64"),
                ],
                true,
            ),
            (vec![Platform::new("Linux", "amd64")], false),
        ];
        for (platforms, want) in cases {
            assert_eq!(
                is_platform_supported(&linux_amd64, &norm(&platforms)),
                want,
                "{platforms:?}"
            );
        }
        let arm = Platform::new("linux", "aarch64");
        assert!(is_platform_supported(
            &arm,
            &norm(&[Platform::new("linux", "arm64")])
        ));
    }

    #[test]
    fn dynamic_filters_reject_in_order_cpu_memory_generic_ports_replicas() {
        let mut node = labelled("a");
        node.resources = Resources {
            nano_cpus: 4_000_000_000,
            memory_bytes: 8 * GIB,
            generic: [("gpu".to_string(), 2)].into(),
        };
        node.reserved.generic.insert("gpu".into(), 1);
        node.host_ports.insert(HostPort::tcp(80));
        let mut task = TaskRequest {
            reservations: Resources {
                nano_cpus: 1_000_000_000,
                memory_bytes: GIB,
                generic: [("gpu".to_string(), 1)].into(),
            },
            host_ports: vec![
                HostPort {
                    protocol: Protocol::Udp,
                    port: 80,
                },
                HostPort::tcp(0),
            ],
            max_replicas: 2,
            ..TaskRequest::default()
        };
        let load = |cpu, mem, gpu_charged: u64, ports: &'static [HostPort], tasks| {
            let node = node.clone();
            (
                node,
                cpu,
                mem,
                BTreeMap::from([("gpu".to_string(), gpu_charged)]),
                ports,
                tasks,
            )
        };
        let cases: Vec<(_, Option<Rejection>)> = vec![
            (load(4_000_000_000, 8 * GIB, 0, &[], 0), None),
            (
                load(999_999_999, 8 * GIB, 0, &[], 0),
                Some(Rejection::InsufficientCpu),
            ),
            (
                load(1_000_000_000, GIB - 1, 0, &[], 0),
                Some(Rejection::InsufficientMemory),
            ),
            (
                load(1_000_000_000, GIB, 1, &[], 0),
                Some(Rejection::InsufficientGeneric("gpu".into())),
            ),
            (
                load(
                    1_000_000_000,
                    GIB,
                    0,
                    &[HostPort {
                        protocol: Protocol::Udp,
                        port: 80,
                    }],
                    0,
                ),
                Some(Rejection::HostPortInUse(HostPort {
                    protocol: Protocol::Udp,
                    port: 80,
                })),
            ),
            (
                load(1_000_000_000, GIB, 0, &[], 2),
                Some(Rejection::MaxReplicas(2)),
            ),
            (load(1_000_000_000, GIB, 0, &[], 1), None),
        ];
        for ((node, cpu, mem, charged, ports, tasks), want) in cases {
            let l = NodeLoad {
                node: &node,
                nano_cpus: cpu,
                memory_bytes: mem,
                charged_generic: Some(&charged),
                added_ports: ports,
                service_tasks: tasks,
            };
            assert_eq!(dynamic_rejection(&l, &req(task.clone())), want);
        }
        task.host_ports = vec![HostPort::tcp(80)];
        let l = NodeLoad {
            node: &node,
            nano_cpus: u64::MAX,
            memory_bytes: u64::MAX,
            charged_generic: None,
            added_ports: &[],
            service_tasks: 0,
        };
        assert_eq!(
            dynamic_rejection(&l, &req(task)),
            Some(Rejection::HostPortInUse(HostPort::tcp(80)))
        );
    }

    #[test]
    fn compile_fails_on_an_invalid_constraint_or_preference() {
        let bad_constraint = TaskRequest {
            constraints: vec!["zone=a".into()],
            ..TaskRequest::default()
        };
        assert!(matches!(
            Requirements::compile(&bad_constraint),
            Err(ScheduleError::MissingOperator { .. })
        ));
        // A spread over nothing a node has is skipped, as swarmkit skips it.
        let unknown_pref = TaskRequest {
            preferences: vec![Preference::spread("node.ip")],
            ..TaskRequest::default()
        };
        assert!(Requirements::compile(&unknown_pref).is_ok_and(|r| r.spread.is_empty()));
    }
}
