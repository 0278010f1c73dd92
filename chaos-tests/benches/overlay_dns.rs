//! Overlay name propagation (a program, not a test): three berthd managers in their own
//! network namespaces, default 5 s heartbeat, a service on an overlay network. The service is
//! scaled up and down a few times; for each task that starts, the bench takes the time its node
//! reported it running (from the task's status), for each that is scaled away the time the
//! scale was answered, and the time `nslookup tasks.<service>` from a task on another node
//! first showed (no longer showed) its address.
//! Prints the lags (p50, max), the promise being under a second. Needs root.
//! `--quick` does two rounds of two instead of five of three.
//! Run: `cargo bench -p berth-chaos-tests --bench overlay_dns`.
#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use berth_chaos_tests::swarm::{self, service_spec};
use berth_chaos_tests::{Cluster, Node};
use serde_json::json;

const SERVICE: &str = "dnsb";
const NETWORK: &str = "dnsnet";
/// The longest any one phase may take.
const LIMIT: Duration = Duration::from_secs(120);

/// Each running task of the service: its overlay address → (task id, when its node reported
/// it running).
fn running_tasks(at: &Node) -> BTreeMap<String, (String, SystemTime)> {
    let mut out = BTreeMap::new();
    for t in at.running_tasks(SERVICE).unwrap_or_default() {
        let addr = t["NetworksAttachments"][0]["Addresses"][0]
            .as_str()
            .and_then(|a| a.split('/').next());
        let id = t["ID"].as_str();
        if let (Some(addr), Some(id), Some(when)) = (addr, id, timestamp(&t)) {
            out.insert(addr.to_string(), (id.to_string(), when));
        }
    }
    out
}

/// When a task's node reported its current state.
fn timestamp(task: &serde_json::Value) -> Option<SystemTime> {
    let text = task["Status"]["Timestamp"].as_str()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(SystemTime::from)
}

/// Running tasks' addresses.
fn running(at: &Node) -> BTreeSet<String> {
    running_tasks(at).into_keys().collect()
}

/// The addresses `tasks.<service>` answers to the task container `id` on `node`.
fn resolved(node: &Node, id: &str) -> BTreeSet<String> {
    let name = format!("tasks.{SERVICE}");
    let Ok((_, out)) = node.exec_in(id, &["nslookup", &name]) else {
        return BTreeSet::new();
    };
    // busybox prints the server ("Address: <gw>:53"), then a Name/Address pair per answer.
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Address:"))
        .map(str::trim)
        .filter(|a| !a.contains(':'))
        .map(String::from)
        .collect()
}

/// Polls until the running set and the DNS answer agree on `replicas` tasks; returns, for
/// each address that came (went), the time from its node reporting it running (ended) to
/// `tasks.<service>` on the asker first showing (no longer showing) it.
fn measure(
    c: &Cluster,
    asker: (usize, &str),
    (before_ids, asked): (&BTreeMap<String, String>, SystemTime),
    replicas: usize,
) -> anyhow::Result<Vec<Duration>> {
    let before: BTreeSet<String> = before_ids.keys().cloned().collect();
    let before = &before;
    let start = Instant::now();
    let mut seen_dns: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut seen_store: BTreeMap<String, SystemTime> = BTreeMap::new();
    loop {
        let now_running = running(c.node(0));
        let answers = resolved(c.node(asker.0), asker.1);
        if start.elapsed() > LIMIT {
            bail!("not converged within {LIMIT:?}: running {now_running:?}, DNS {answers:?}");
        }
        let t = SystemTime::now();
        if std::env::var_os("BENCH_TRACE").is_some() {
            eprintln!(
                "{} running {now_running:?} dns {answers:?}",
                chrono::Utc::now().format("%H:%M:%S%.3f")
            );
        }
        for a in answers.symmetric_difference(before) {
            seen_dns.entry(a.clone()).or_insert(t);
        }
        for a in now_running.symmetric_difference(before) {
            seen_store.entry(a.clone()).or_insert(t);
        }
        if now_running.len() == replicas && answers == now_running {
            break;
        }
    }
    let up = replicas > before.len();
    // Up: when the new tasks were reported running; down: when the gone ones were reported
    // ended (their addresses are known from before the scale).
    let reported: BTreeMap<String, SystemTime> = if up {
        running_tasks(c.node(0))
            .into_iter()
            .map(|(a, (_, t))| (a, t))
            .collect()
    } else {
        // A scaled-down task leaves the names as soon as it is told to stop (its stop grace
        // period is still running): from the scale's answer.
        before_ids.keys().map(|a| (a.clone(), asked)).collect()
    };
    if std::env::var_os("BENCH_TRACE").is_some() {
        for (a, dns) in &seen_dns {
            let since = |t: &SystemTime| {
                dns.duration_since(*t)
                    .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            };
            eprintln!(
                "{} {a}: DNS after report {} ms, after the store listed it {} ms",
                chrono::Utc::now().format("%H:%M:%S%.3f"),
                reported.get(a).map_or(-1, since),
                seen_store.get(a).map_or(-1, since)
            );
        }
    }
    Ok(seen_dns
        .iter()
        .filter_map(|(a, dns)| {
            let node = reported.get(a)?;
            Some(dns.duration_since(*node).unwrap_or_default())
        })
        .collect())
}

fn scale(at: &Node, replicas: usize) -> anyhow::Result<()> {
    let r = at.update_service(SERVICE, false, |s| {
        s["Mode"]["Replicated"]["Replicas"] = json!(replicas)
    })?;
    if r.status != 200 {
        bail!("scale to {replicas}: {}", r.text());
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:>6.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    if !berth_chaos_tests::is_root() {
        println!("overlay_dns: needs root (SKIP)");
        return Ok(());
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, step) = if quick { (2, 2) } else { (5, 3) };
    if let Err(e) = Cluster::sweep_leftovers(berth_chaos_tests::PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let options = berth_chaos_tests::NodeOptions {
        log_level: std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        ..swarm::node_options()
    };
    let c = Cluster::builder(3).default_options(options).start()?;
    swarm::import_busybox(&c)?;
    swarm::form_three_managers(&c)?;
    let net = json!({ "Name": NETWORK, "Driver": "overlay" });
    c.node(0).call("POST", "/networks/create", &net, 201)?;
    let mut spec = service_spec(SERVICE, 3);
    spec["TaskTemplate"]["Networks"] = json!([{ "Target": NETWORK }]);
    c.node(0).create_service(&spec)?;
    // The asker: a task of its own service on node 2 (a scale-down may remove any task of
    // the measured one).
    let node2 = c.node(2).swarm_node_id()?;
    let mut asker_spec = service_spec("asker", 1);
    asker_spec["TaskTemplate"]["Networks"] = json!([{ "Target": NETWORK }]);
    asker_spec["TaskTemplate"]["Placement"] =
        json!({ "Constraints": [format!("node.id=={node2}")] });
    c.node(0).create_service(&asker_spec)?;
    let asker = {
        let start = Instant::now();
        loop {
            let found = c
                .node(2)
                .service_containers("asker")
                .unwrap_or_default()
                .iter()
                .find_map(|ct| Some(ct["Id"].as_str()?.to_string()));
            if let (Some(id), 3) = (found.clone(), running(c.node(0)).len()) {
                break id;
            }
            if start.elapsed() > LIMIT {
                bail!("no asker on node 2");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "overlay DNS: 3 managers in netns, default heartbeat, {build} build; lag from a task's \
         node reporting it running (ended) to `nslookup tasks.{SERVICE}` on another node \
         showing it (gone); poll resolution one API call + one exec"
    );
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let ids = |c: &Cluster| -> BTreeMap<String, String> {
        running_tasks(c.node(0))
            .into_iter()
            .map(|(a, (id, _))| (a, id))
            .collect()
    };
    for round in 0..rounds {
        let before = ids(&c);
        scale(c.node(0), 3 + step)?;
        let asked = SystemTime::now();
        up.extend(measure(&c, (2, &asker), (&before, asked), 3 + step).context("scale up")?);
        let before = ids(&c);
        scale(c.node(0), 3)?;
        let asked = SystemTime::now();
        let lags = measure(&c, (2, &asker), (&before, asked), 3).context("scale down")?;
        down.extend(lags);
        println!(
            "round {}: up {} tasks, down {} tasks",
            round + 1,
            step,
            step
        );
    }
    if let Some(dir) = std::env::var_os("BENCH_KEEP_LOGS") {
        c.copy_logs(std::path::Path::new(&dir));
    }
    for (what, mut lags) in [
        ("task started → in DNS", up),
        ("task scaled away → out of DNS", down),
    ] {
        lags.sort();
        let p50 = lags.get(lags.len() / 2).copied().unwrap_or_default();
        let max = lags.last().copied().unwrap_or_default();
        println!(
            "{what:<28} p50 {}  max {}  (n={}, target < 1000 ms)",
            ms(p50),
            ms(max),
            lags.len()
        );
    }
    Ok(())
}
