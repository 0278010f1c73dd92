//! Network faults made with nftables and tc inside the nodes' own namespaces (never the
//! host's): one node isolated, a split into two sides, a one-way drop, random loss
//! (`numgen random mod 100`) and a bandwidth limit (`tc qdisc tbf`). Each fault is a
//! `NetFault` guard: `heal` undoes it and reports errors, dropping it undoes it quietly.
//! Every table is named `<prefix>_f<n>`, so `clear_net_faults` finds the leftovers, and the
//! cluster's teardown (or a sweep) deletes the namespaces, which takes tables and qdiscs along.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ClusterError;
use crate::harness::Cluster;
use crate::net;

/// Numbers the tables of one process's faults (with the prefix: unique per cluster).
static NEXT_TABLE: AtomicU64 = AtomicU64::new(0);

/// One thing a fault changed, and how to change it back.
#[derive(Debug, Clone)]
enum Undo {
    /// An nftables table of ours in a namespace.
    Table { netns: PathBuf, table: String },
    /// A root qdisc of ours on a link in a namespace.
    Qdisc { netns: PathBuf, dev: String },
}

/// An active network fault; see the module docs.
#[derive(Debug)]
pub struct NetFault {
    what: String,
    undo: Vec<Undo>,
}

impl NetFault {
    /// What the fault does, for logs and figures.
    pub fn describe(&self) -> &str {
        &self.what
    }

    /// Undoes the fault; every part is tried, the first error is returned.
    pub fn heal(mut self) -> Result<(), ClusterError> {
        let undo = std::mem::take(&mut self.undo);
        let mut first = None;
        for u in undo.iter().rev() {
            if let Err(e) = revert(u) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for NetFault {
    fn drop(&mut self) {
        for u in self.undo.iter().rev() {
            if let Err(e) = revert(u) {
                eprintln!("berth-chaos-tests: undoing {}: {e}", self.what);
            }
        }
    }
}

fn revert(u: &Undo) -> Result<(), ClusterError> {
    match u {
        Undo::Table { netns, table } => {
            run_in(netns, &["nft", "delete", "table", "inet", table], None)
        }
        Undo::Qdisc { netns, dev } => {
            run_in(netns, &["tc", "qdisc", "del", "dev", dev, "root"], None)
        }
    }
}

/// Runs `argv` (with `input` on stdin) from a thread inside the namespace bound at `netns`:
/// the child inherits the namespace of the thread that forks it. Fails unless it exits 0.
pub(crate) fn run_in(netns: &Path, argv: &[&str], input: Option<&str>) -> Result<(), ClusterError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| failed(netns, argv, "empty argv"))?;
    let out = net::in_netns(netns, || {
        let mut child = Command::new(program)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes())?;
        }
        child.wait_with_output()
    })?
    .map_err(ClusterError::io("run", program))?;
    if out.status.success() {
        return Ok(());
    }
    let why = format!(
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Err(failed(netns, argv, &why))
}

fn failed(netns: &Path, argv: &[&str], why: &str) -> ClusterError {
    ClusterError::Fault {
        netns: netns.display().to_string(),
        command: argv.join(" "),
        message: why.to_string(),
    }
}

/// The rules of one node's table: what its input, output and forward chains drop.
#[derive(Debug, Default)]
struct Rules {
    input: Vec<String>,
    output: Vec<String>,
    forward: Vec<String>,
}

impl Rules {
    /// Drops everything to and from `peers` (by address).
    fn drop_peers(&mut self, peers: &[Ipv4Addr]) {
        if peers.is_empty() {
            return;
        }
        let set = ip_set(peers);
        self.input.push(format!("ip saddr {set} drop"));
        self.output.push(format!("ip daddr {set} drop"));
        self.forward.push(format!("ip saddr {set} drop"));
        self.forward.push(format!("ip daddr {set} drop"));
    }

    /// The table as one `nft -f` transaction (all rules or none). Priority -300 runs before
    /// berthd's own chains; a drop in any base chain is final whatever the others accept.
    fn table(&self, table: &str) -> String {
        let chain = |name: &str, hook: &str, rules: &[String]| {
            let mut s = format!(
                "  chain {name} {{\n    type filter hook {hook} priority -300; policy accept;\n"
            );
            for r in rules {
                s.push_str(&format!("    {r}\n"));
            }
            s.push_str("  }\n");
            s
        };
        format!(
            "table inet {table} {{\n{}{}{}}}\n",
            chain("chaos_in", "input", &self.input),
            chain("chaos_out", "output", &self.output),
            chain("chaos_fwd", "forward", &self.forward)
        )
    }
}

fn ip_set(ips: &[Ipv4Addr]) -> String {
    let list: Vec<String> = ips.iter().map(Ipv4Addr::to_string).collect();
    format!("{{ {} }}", list.join(", "))
}

impl Cluster {
    /// The prefix of every fault table of this cluster (`<prefix>_f`).
    fn fault_table_head(&self) -> String {
        format!("{}_f", self.prefix())
    }

    /// Installs one table per `(node, rules)`; on error the ones made so far are removed.
    fn install(
        &self,
        what: String,
        per_node: Vec<(usize, Rules)>,
    ) -> Result<NetFault, ClusterError> {
        let mut fault = NetFault {
            what,
            undo: Vec::new(),
        };
        for (i, rules) in per_node {
            let netns = self.try_node(i)?.netns_path();
            let n = NEXT_TABLE.fetch_add(1, Ordering::Relaxed);
            let table = format!("{}{n}", self.fault_table_head());
            run_in(&netns, &["nft", "-f", "-"], Some(&rules.table(&table)))?;
            fault.undo.push(Undo::Table { netns, table });
        }
        Ok(fault)
    }

    /// Cuts node `index` off every other node (both ways) with a table in its namespace; its
    /// link stays up, so, unlike `cut`, the node sees silence rather than carrier loss.
    pub fn isolate(&self, index: usize) -> Result<NetFault, ClusterError> {
        let veth = self.names().node_veth(index);
        let mut rules = Rules::default();
        rules.input.push(format!("iifname \"{veth}\" drop"));
        rules.output.push(format!("oifname \"{veth}\" drop"));
        rules.forward.push(format!("iifname \"{veth}\" drop"));
        rules.forward.push(format!("oifname \"{veth}\" drop"));
        self.install(format!("node {index} isolated"), vec![(index, rules)])
    }

    /// Splits the cluster in two: `side` against every other node. Traffic inside each side
    /// passes; between them nothing does, either way.
    pub fn split(&self, side: &[usize]) -> Result<NetFault, ClusterError> {
        let other: Vec<usize> = (0..self.len()).filter(|i| !side.contains(i)).collect();
        let mut per_node = Vec::new();
        for (mine, theirs) in [(side, &other[..]), (&other[..], side)] {
            let peers: Vec<Ipv4Addr> = theirs
                .iter()
                .map(|i| self.try_node(*i).map(|n| n.ip()))
                .collect::<Result<_, _>>()?;
            for &i in mine {
                let mut rules = Rules::default();
                rules.drop_peers(&peers);
                per_node.push((i, rules));
            }
        }
        self.install(format!("split {side:?} | {other:?}"), per_node)
    }

    /// Drops what node `from` sends to node `to`; what `to` sends to `from` passes (so a TCP
    /// handshake fails both ways, but datagrams from `to` arrive).
    pub fn drop_one_way(&self, from: usize, to: usize) -> Result<NetFault, ClusterError> {
        let ip = self.try_node(to)?.ip();
        let mut rules = Rules::default();
        rules.output.push(format!("ip daddr {ip} drop"));
        rules.forward.push(format!("ip daddr {ip} drop"));
        self.install(format!("{from} -> {to} dropped"), vec![(from, rules)])
    }

    /// Drops `percent` % of the packets node `index` sends or receives on the switch, at
    /// random (`numgen random mod 100`).
    pub fn lose(&self, index: usize, percent: u8) -> Result<NetFault, ClusterError> {
        let veth = self.names().node_veth(index);
        // numgen's values are 0..=99: `< 100` is refused as out of range, so 100 % drops
        // without it, and 0 % has no rule at all.
        let pick = match percent {
            0 => None,
            p if p >= 100 => Some(String::new()),
            p => Some(format!(" numgen random mod 100 < {p}")),
        };
        let mut rules = Rules::default();
        if let Some(pick) = pick {
            rules.input.push(format!("iifname \"{veth}\"{pick} drop"));
            rules.output.push(format!("oifname \"{veth}\"{pick} drop"));
        }
        self.install(
            format!("node {index} loses {percent}%"),
            vec![(index, rules)],
        )
    }

    /// Limits node `index`'s link to `kbit` kbit/s each way: a tbf qdisc on its veth end
    /// (what it sends) and on its port of the switch (what it receives).
    pub fn limit_bandwidth(&self, index: usize, kbit: u32) -> Result<NetFault, ClusterError> {
        let node_ns = self.try_node(index)?.netns_path();
        let switch_ns = net::netns_path(&self.names().switch_netns());
        let ends = [
            (node_ns, self.names().node_veth(index)),
            (switch_ns, self.names().switch_veth(index)),
        ];
        let rate = format!("{kbit}kbit");
        let mut fault = NetFault {
            what: format!("node {index} limited to {rate}"),
            undo: Vec::new(),
        };
        for (netns, dev) in ends {
            let argv = [
                "tc", "qdisc", "replace", "dev", &dev, "root", "tbf", "rate", &rate, "burst",
                "32kbit", "latency", "400ms",
            ];
            run_in(&netns, &argv, None)?;
            fault.undo.push(Undo::Qdisc { netns, dev });
        }
        Ok(fault)
    }

    /// Removes every fault table and root qdisc of this cluster still in place (a fault
    /// guard leaked with `mem::forget`, or a test that wants a clean network); returns what
    /// would not go.
    pub fn clear_net_faults(&self) -> Vec<String> {
        let head = self.fault_table_head();
        let mut left = Vec::new();
        let mut undo = Vec::new();
        for node in self.nodes() {
            let netns = node.netns_path();
            for table in tables_in(&netns)
                .into_iter()
                .filter(|t| t.starts_with(&head))
            {
                undo.push(Undo::Table {
                    netns: netns.clone(),
                    table,
                });
            }
        }
        for u in &undo {
            if let Err(e) = revert(u) {
                left.push(e.to_string());
            }
        }
        left.extend(self.clear_qdiscs());
        left
    }

    fn clear_qdiscs(&self) -> Vec<String> {
        let switch_ns = net::netns_path(&self.names().switch_netns());
        let mut left = Vec::new();
        for i in 0..self.len() {
            let ends = [
                (self.node(i).netns_path(), self.names().node_veth(i)),
                (switch_ns.clone(), self.names().switch_veth(i)),
            ];
            for (netns, dev) in ends {
                // Only a tbf is ours; the veth's default qdisc cannot be deleted anyway.
                if qdisc_of(&netns, &dev).contains("tbf") {
                    if let Err(e) = revert(&Undo::Qdisc { netns, dev }) {
                        left.push(e.to_string());
                    }
                }
            }
        }
        left
    }
}

/// The names of the `inet` tables in a namespace.
fn tables_in(netns: &Path) -> Vec<String> {
    output_in(netns, &["nft", "list", "tables", "inet"])
        .lines()
        .filter_map(|l| l.strip_prefix("table inet "))
        .map(|t| t.trim().to_string())
        .collect()
}

fn qdisc_of(netns: &Path, dev: &str) -> String {
    output_in(netns, &["tc", "qdisc", "show", "dev", dev])
}

/// What `argv` prints inside the namespace (empty when it fails).
pub(crate) fn output_in(netns: &Path, argv: &[&str]) -> String {
    let Some((program, args)) = argv.split_first() else {
        return String::new();
    };
    let out = net::in_netns(netns, || Command::new(program).args(args).output());
    match out {
        Ok(Ok(o)) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_drops_peers_both_ways_in_all_three_hooks() {
        let mut r = Rules::default();
        r.drop_peers(&[Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(10, 1, 2, 4)]);
        let t = r.table("bc12345_f0");
        assert!(t.starts_with("table inet bc12345_f0 {"), "{t}");
        assert!(
            t.contains("hook input priority -300; policy accept;"),
            "{t}"
        );
        assert!(t.contains("ip saddr { 10.1.2.3, 10.1.2.4 } drop"), "{t}");
        assert!(t.contains("ip daddr { 10.1.2.3, 10.1.2.4 } drop"), "{t}");
        assert_eq!(t.matches("hook").count(), 3, "{t}");
    }

    #[test]
    fn no_peers_means_no_rules() {
        let mut r = Rules::default();
        r.drop_peers(&[]);
        assert!(!r.table("t").contains("drop"));
    }
}
