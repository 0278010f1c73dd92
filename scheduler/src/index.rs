//! Indexes that keep placement far below a scan per task: a pool per distinct set of static
//! requirements (constraints, platforms, spread levels) holding its candidate nodes as a tree
//! of label values, each vertex keeping its members ordered by task count. Placements update
//! the order in every pool holding the node. Which member to pick is `strategy`'s decision.

use std::collections::BTreeSet;

use crate::constraint::Constraint;
use crate::filter::Requirements;
use crate::hash::FastMap;
use crate::model::{Node, Platform};
use crate::state::{to_u32, Cluster};
use crate::strategy::LabelSource;

/// A member's place in its vertex's order: (tasks on the node or under the subtree, member).
/// A leaf's members are node numbers, a branch's are child positions (label value order).
pub(crate) type Key = (u32, u32);

/// The parent of the root.
const NO_PARENT: u32 = u32::MAX;

/// One vertex of a pool's tree: the root, one label value at some level, or a leaf of nodes.
#[derive(Debug)]
pub(crate) struct Vertex {
    /// The parent vertex; `NO_PARENT` for the root.
    pub parent: u32,
    /// Position among the parent's children (their label values sorted).
    pub pos: u32,
    /// Tasks on the pool's nodes under this vertex.
    pub total: u32,
    /// Children sorted by label value; empty for a leaf.
    pub children: Vec<(String, u32)>,
    /// Members ordered by key.
    pub members: BTreeSet<Key>,
}

impl Vertex {
    fn new(parent: u32) -> Vertex {
        Vertex {
            parent,
            pos: 0,
            total: 0,
            children: Vec::new(),
            members: BTreeSet::new(),
        }
    }

    /// Whether the members are nodes rather than children.
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// The candidate nodes of one set of static requirements, arranged by spread levels.
#[derive(Debug)]
pub(crate) struct Pool {
    spread: Vec<LabelSource>,
    /// The tree; a parent is numbered before its children, the root is `ROOT`.
    pub vertices: Vec<Vertex>,
}

/// The root vertex of every pool.
pub(crate) const ROOT: u32 = 0;

impl Pool {
    /// Builds the tree over `candidates`; returns it with each candidate's leaf.
    fn build(
        cluster: &Cluster<'_>,
        candidates: &[u32],
        spread: &[LabelSource],
    ) -> (Pool, Vec<u32>) {
        let mut vertices = vec![Vertex::new(NO_PARENT)];
        let mut child_of: FastMap<(u32, &str), u32> = FastMap::default();
        let mut leaves = Vec::with_capacity(candidates.len());
        for &n in candidates {
            let mut v = ROOT;
            for source in spread {
                let value = source.value_of(cluster.node(n));
                v = match child_of.get(&(v, value)) {
                    Some(&c) => c,
                    None => {
                        let c = to_u32(vertices.len());
                        vertices.push(Vertex::new(v));
                        vertices[v as usize].children.push((value.to_owned(), c));
                        child_of.insert((v, value), c);
                        c
                    }
                };
            }
            leaves.push(v);
        }
        for v in 0..vertices.len() {
            vertices[v].children.sort_unstable();
            for pos in 0..vertices[v].children.len() {
                let c = vertices[v].children[pos].1;
                vertices[c as usize].pos = to_u32(pos);
            }
        }
        let mut pool = Pool {
            spread: spread.to_vec(),
            vertices,
        };
        for (&n, &leaf) in candidates.iter().zip(&leaves) {
            let total = cluster.total(n);
            pool.vertices[leaf as usize].members.insert((total, n));
            let mut v = leaf;
            while v != NO_PARENT {
                let vertex = &mut pool.vertices[v as usize];
                vertex.total = vertex.total.saturating_add(total);
                v = vertex.parent;
            }
        }
        for v in 1..pool.vertices.len() {
            let (parent, key) = (pool.vertices[v].parent, pool.key_in_parent(to_u32(v)));
            pool.vertices[parent as usize].members.insert(key);
        }
        (pool, leaves)
    }

    /// The vertex's parent, `None` for the root.
    pub fn parent(&self, v: u32) -> Option<u32> {
        let p = self.vertices[v as usize].parent;
        (p != NO_PARENT).then_some(p)
    }

    /// The vertex's key among its parent's members.
    pub fn key_in_parent(&self, v: u32) -> Key {
        let vertex = &self.vertices[v as usize];
        (vertex.total, vertex.pos)
    }

    /// The vertices `node`'s label values lead to, root first, as far as the tree has them.
    /// Also works for nodes outside the pool: their tasks still count for their label values.
    pub fn walk(&self, node: &Node) -> Vec<u32> {
        let mut path = vec![ROOT];
        let mut v = ROOT;
        for source in &self.spread {
            let children = &self.vertices[v as usize].children;
            let value = source.value_of(node);
            match children.binary_search_by(|(c, _)| c.as_str().cmp(value)) {
                Ok(pos) => v = children[pos].1,
                Err(_) => break,
            }
            path.push(v);
        }
        path
    }

    /// The vertices from the root down to `v`.
    pub fn path_to(&self, v: u32) -> Vec<u32> {
        let mut path = vec![v];
        let mut v = v;
        while let Some(parent) = self.parent(v) {
            path.push(parent);
            v = parent;
        }
        path.reverse();
        path
    }

    /// Moves node `n` (now `old_total + 1` tasks) and its ancestors one task up the order.
    fn bump(&mut self, leaf: u32, n: u32, old_total: u32) {
        let members = &mut self.vertices[leaf as usize].members;
        members.remove(&(old_total, n));
        members.insert((old_total.saturating_add(1), n));
        let mut v = leaf;
        while v != NO_PARENT {
            let (parent, key) = (self.vertices[v as usize].parent, self.key_in_parent(v));
            self.vertices[v as usize].total = key.0.saturating_add(1);
            if parent != NO_PARENT {
                let members = &mut self.vertices[parent as usize].members;
                members.remove(&key);
                members.insert((key.0.saturating_add(1), key.1));
            }
            v = parent;
        }
    }
}

/// What makes two task specs share a pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    constraints: Vec<Constraint>,
    platforms: Vec<Platform>,
    spread: Vec<LabelSource>,
    named_generic: Vec<String>,
}

/// Every pool a batch has needed, and which pools hold each node.
pub(crate) struct Pools {
    pools: Vec<Pool>,
    by_key: FastMap<PoolKey, u32>,
    /// Per node: (pool, leaf) for every pool holding it.
    memberships: Vec<Vec<(u32, u32)>>,
}

impl Pools {
    /// No pools yet, for a cluster of `nodes` nodes.
    pub fn new(nodes: usize) -> Pools {
        Pools {
            pools: Vec::new(),
            by_key: FastMap::default(),
            memberships: vec![Vec::new(); nodes],
        }
    }

    /// The pool for `req`'s static requirements, built on first use.
    pub fn get_or_build(&mut self, cluster: &mut Cluster<'_>, req: &Requirements) -> u32 {
        let key = PoolKey {
            constraints: req.constraints.clone(),
            platforms: req.platforms.clone(),
            spread: req.spread.clone(),
            named_generic: req.named_generic.clone(),
        };
        if let Some(&p) = self.by_key.get(&key) {
            return p;
        }
        let candidates = cluster.candidates(req);
        let (pool, leaves) = Pool::build(cluster, &candidates, &req.spread);
        let p = to_u32(self.pools.len());
        for (&n, &leaf) in candidates.iter().zip(&leaves) {
            self.memberships[n as usize].push((p, leaf));
        }
        self.pools.push(pool);
        self.by_key.insert(key, p);
        p
    }

    /// Pool number `p`.
    pub fn pool(&self, p: u32) -> &Pool {
        &self.pools[p as usize]
    }

    /// Node `n`'s leaf in pool `p`, if the pool holds it.
    pub fn leaf_of(&self, p: u32, n: u32) -> Option<u32> {
        self.memberships[n as usize]
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, leaf)| *leaf)
    }

    /// Records one more task on node `n`, which had `old_total` tasks, in every pool holding it.
    pub fn bump(&mut self, n: u32, old_total: u32) {
        for &(p, leaf) in &self.memberships[n as usize] {
            self.pools[p as usize].bump(leaf, n, old_total);
        }
    }
}
