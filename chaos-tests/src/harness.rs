//! `Cluster`: n berthd nodes, each in its own network namespace, all on one bridge in a
//! switch namespace. Owns every object it creates (named with its prefix) and removes them
//! in `Drop`, also when a test panics. Faults live in `faults.rs`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::ClusterError;
use crate::lock::OwnerLock;
use crate::names::{self, Names, PREFIX_HEAD};
use crate::node::{Node, NodeOptions};
use crate::{net, sweep};

/// Node addresses are `.1` to `.MAX_NODES` of one /24.
const MAX_NODES: usize = 200;

/// Options for a cluster before it starts.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    nodes: usize,
    head: String,
    defaults: NodeOptions,
    per_node: BTreeMap<usize, NodeOptions>,
}

impl ClusterBuilder {
    /// Every node's options, unless `node_options` sets its own.
    pub fn default_options(mut self, options: NodeOptions) -> Self {
        self.defaults = options;
        self
    }

    /// Node `index`'s options.
    pub fn node_options(mut self, index: usize, options: NodeOptions) -> Self {
        self.per_node.insert(index, options);
        self
    }

    /// The head of the cluster's prefix (default `PREFIX_HEAD`, `bc`): 1 to 4 lower-case
    /// letters. Sweeping one head never touches another head's clusters (a prefix is the head
    /// and exactly 5 hex digits), so a test that wants leftovers nobody else sweeps uses its own.
    pub fn prefix_head(mut self, head: &str) -> Self {
        self.head = head.to_string();
        self
    }

    /// Builds the switch and the nodes, starts every berthd and waits until each answers
    /// `/_ping`. Needs root. On error, whatever was made is removed again.
    pub fn start(self) -> Result<Cluster, ClusterError> {
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(ClusterError::BadSize {
                asked: self.nodes,
                max: MAX_NODES,
            });
        }
        let head_ok =
            (1..=4).contains(&self.head.len()) && self.head.bytes().all(|b| b.is_ascii_lowercase());
        if !head_ok {
            return Err(ClusterError::BadHead(self.head));
        }
        let berthd = berthd_binary()?;
        let base = names::base_dir();
        std::fs::create_dir_all(&base).map_err(ClusterError::io("create", &base))?;
        let (names, lock) = claim_prefix(&base, &self.head)?;
        // From here on `Drop` undoes whatever was done, so `?` never leaks.
        let mut cluster = Cluster {
            root: names.root(&base),
            names,
            subnet: Ipv4Addr::UNSPECIFIED,
            nodes: Vec::new(),
            lock: Some(lock),
        };
        std::fs::create_dir_all(&cluster.root)
            .map_err(ClusterError::io("create", &cluster.root))?;
        cluster.subnet = net::pick_subnet(cluster.prefix(), &net::host_addresses()?)?;
        net::create_netns(&cluster.names.switch_netns())?;
        for i in 0..self.nodes {
            net::create_netns(&cluster.names.node_netns(i))?;
        }
        net::wire(&cluster.names, self.nodes, cluster.subnet)?;
        for i in 0..self.nodes {
            let options = self.per_node.get(&i).unwrap_or(&self.defaults).clone();
            let ip = names::node_ip(cluster.subnet, i);
            let node = Node::prepare(i, &cluster.names, ip, &cluster.root, &berthd, options)?;
            cluster.nodes.push(node);
        }
        // Start all, then wait for all: the daemons come up in parallel.
        for node in &mut cluster.nodes {
            node.spawn()?;
        }
        for node in &mut cluster.nodes {
            node.wait_ready()?;
        }
        Ok(cluster)
    }
}

/// A running cluster; see the crate docs.
#[derive(Debug)]
pub struct Cluster {
    names: Names,
    root: PathBuf,
    subnet: Ipv4Addr,
    nodes: Vec<Node>,
    /// `None` once torn down.
    lock: Option<OwnerLock>,
}

impl Cluster {
    /// Starts `nodes` nodes with default options (see `ClusterBuilder::start`).
    pub fn start(nodes: usize) -> Result<Cluster, ClusterError> {
        Self::builder(nodes).start()
    }

    /// A builder for `nodes` nodes with per-node options.
    pub fn builder(nodes: usize) -> ClusterBuilder {
        ClusterBuilder {
            nodes,
            head: PREFIX_HEAD.to_string(),
            defaults: NodeOptions::default(),
            per_node: BTreeMap::new(),
        }
    }

    /// The prefix every object of this cluster carries (`bc` + 5 hex digits).
    pub fn prefix(&self) -> &str {
        self.names.prefix()
    }

    /// Copies each node's berthd log to `dir/n<i>.log` (the cluster's own directory goes with
    /// the cluster); problems are printed, not returned: this runs on the way out.
    pub fn copy_logs(&self, dir: &std::path::Path) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("keep logs in {}: {e}", dir.display());
        }
        for node in self.nodes() {
            let to = dir.join(format!("n{}.log", node.index()));
            if let Err(e) = std::fs::copy(node.root().join("berthd.log"), &to) {
                eprintln!("keep {}: {e}", to.display());
            }
        }
    }

    /// The names of this cluster's kernel objects.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The cluster's directory (one `n<i>/` per node).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The switch's /24 (network address).
    pub fn subnet(&self) -> Ipv4Addr {
        self.subnet
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (only while it is being built).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node `index`. Panics when out of range, as indexing does.
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// Node `index`, or `NoSuchNode`.
    pub fn try_node(&self, index: usize) -> Result<&Node, ClusterError> {
        let len = self.nodes.len();
        self.nodes
            .get(index)
            .ok_or(ClusterError::NoSuchNode { index, len })
    }

    pub(crate) fn node_mut(&mut self, index: usize) -> Result<&mut Node, ClusterError> {
        let len = self.nodes.len();
        self.nodes
            .get_mut(index)
            .ok_or(ClusterError::NoSuchNode { index, len })
    }

    /// Removes the leftovers of killed earlier runs whose prefix starts with `head` (usually
    /// `names::PREFIX_HEAD`); live clusters, this process's or others', are left alone.
    /// Returns the prefixes removed.
    pub fn sweep_leftovers(head: &str) -> Result<Vec<String>, ClusterError> {
        sweep::sweep(head)
    }

    /// What still carries `prefix` (namespaces, host links, processes, mounts, files), for
    /// tests asserting a cleanup: empty when nothing is left.
    pub fn leftovers(prefix: &str) -> Vec<String> {
        sweep::leftovers(prefix)
    }

    /// Tears the cluster down now and says whether anything was left behind.
    pub fn shutdown(mut self) -> Result<(), ClusterError> {
        let left = self.teardown();
        if left.is_empty() {
            Ok(())
        } else {
            Err(ClusterError::Cleanup {
                prefix: self.prefix().to_string(),
                left,
            })
        }
    }

    /// Kills every berthd (by PID), then removes monitors, container cgroups, mounts,
    /// namespaces and directories. Idempotent; returns what would not go.
    fn teardown(&mut self) -> Vec<String> {
        let Some(lock) = self.lock.take() else {
            return Vec::new();
        };
        let mut left = Vec::new();
        let mut parents = Vec::new();
        for node in &mut self.nodes {
            if let Err(e) = node.kill() {
                left.push(e.to_string());
            }
            parents.extend_from_slice(node.started_pids());
        }
        left.extend(sweep::remove_cluster(&self.names, &self.root, &parents));
        lock.release();
        // The shared base directory goes with the last cluster (fails while others use it).
        let _ = std::fs::remove_dir(names::base_dir());
        left
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let left = self.teardown();
        if !left.is_empty() {
            eprintln!(
                "berth-chaos-tests: cluster {} left: {}",
                self.prefix(),
                left.join("; ")
            );
        }
    }
}

/// Picks an unused prefix and takes its lock (created before any object carrying it).
fn claim_prefix(base: &Path, head: &str) -> Result<(Names, OwnerLock), ClusterError> {
    const TRIES: u32 = 16;
    for _ in 0..TRIES {
        let names = Names::random(head);
        let taken = names.root(base).exists() || !sweep::netns_of(names.prefix()).is_empty();
        if taken {
            continue;
        }
        // Another cluster's teardown removes `base` once it is empty (see `teardown`).
        std::fs::create_dir_all(base).map_err(ClusterError::io("create", base))?;
        match OwnerLock::create(&names.lock(base)) {
            Ok(Some(lock)) => return Ok((names, lock)),
            Ok(None) => {}
            Err(_) if !base.exists() => {}
            Err(e) => return Err(e),
        }
    }
    Err(ClusterError::NoPrefix(TRIES))
}

/// The berthd binary (see `berth_test_support::berthd_binary`), or where it was looked for.
pub fn berthd_binary() -> Result<PathBuf, ClusterError> {
    berth_test_support::berthd_binary().ok_or_else(|| {
        let looked = std::env::var_os("BERTHD").map_or_else(
            || {
                std::env::current_exe()
                    .unwrap_or_default()
                    .with_file_name("berthd")
            },
            PathBuf::from,
        );
        ClusterError::NoBinary(looked)
    })
}
