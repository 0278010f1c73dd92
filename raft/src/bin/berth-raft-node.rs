//! `berth-raft-node`: one raft member in its own process, for multi-process tests and manual
//! experiments. Not part of berthd. Driven by lines on stdin, answering one line each on stdout:
//! `write <name>` → `ok <log index>` | `err <message>`; `wait <index>` → `ok`; `configs` →
//! `configs <name,name,…>` (config objects in commit order); `leader` → `leader <id|none>`.
//!
//! Usage: berth-raft-node <id> <listen addr> <data dir> <tls dir> [<id>=<addr>,… to initialize]
//! The tls dir holds cert.pem, key.pem and ca.pem; the certificates carry `berth-manager`.

#![allow(clippy::print_stdout, reason = "stdout is this tool's protocol")]

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;

use berth_raft::{
    Attrs, ClusterCommand, NodeAddr, NodeOptions, ObjectKind, Op, RaftConfig, RaftNode, TlsConfig,
};
use tokio::io::{AsyncBufReadExt, BufReader};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn arg(args: &[String], i: usize, what: &str) -> Result<String> {
    args.get(i)
        .cloned()
        .ok_or_else(|| format!("missing argument {i}: {what}").into())
}

fn members(spec: &str) -> Result<BTreeMap<u64, NodeAddr>> {
    let mut out = BTreeMap::new();
    for part in spec.split(',') {
        let (id, addr) = part.split_once('=').ok_or("members are <id>=<addr>,…")?;
        out.insert(id.parse()?, NodeAddr::new(addr));
    }
    Ok(out)
}

async fn handle(node: &RaftNode, line: &str) -> String {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("write"), Some(name)) => {
            let cmd = ClusterCommand::single(Op::Create {
                id: name.to_owned(),
                attrs: Attrs::Config {
                    name: name.to_owned(),
                },
                spec: serde_json::json!({ "Name": name }),
                status: serde_json::Value::Null,
            });
            match node.write(cmd).await {
                Ok(applied) => format!("ok {}", applied.log_index),
                Err(e) => format!("err {e}"),
            }
        }
        (Some("wait"), Some(index)) => {
            let Ok(index) = index.parse::<u64>() else {
                return "err bad index".into();
            };
            let wait = node.raft().wait(Some(Duration::from_secs(30)));
            match wait.applied_index_at_least(Some(index), "applied").await {
                Ok(_) => "ok".into(),
                Err(e) => format!("err {e}"),
            }
        }
        (Some("configs"), None) => {
            let names = node.read_stale(|s| {
                let mut all: Vec<_> = s
                    .list(ObjectKind::Config)
                    .map(|o| (o.meta.version, o.id.clone()))
                    .collect();
                all.sort();
                all.into_iter()
                    .map(|(_, id)| id)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            format!("configs {names}")
        }
        (Some("leader"), None) => match node.leader() {
            Some(id) => format!("leader {id}"),
            None => "leader none".into(),
        },
        _ => format!("err unknown command: {line}"),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let id: u64 = arg(&args, 1, "id")?.parse()?;
    let listen = arg(&args, 2, "listen address")?;
    let data_dir = PathBuf::from(arg(&args, 3, "data dir")?);
    let tls_dir = PathBuf::from(arg(&args, 4, "tls dir")?);
    let read = |name: &str| std::fs::read_to_string(tls_dir.join(name));
    let tls = TlsConfig {
        cert_pem: read("cert.pem")?,
        key_pem: read("key.pem")?,
        ca_pem: read("ca.pem")?,
        server_name: "berth-manager".into(),
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let advertise = NodeAddr::new(listener.local_addr()?.to_string());
    let config = RaftConfig {
        request_timeout: Duration::from_secs(5),
        ..RaftConfig::default()
    };
    let options = NodeOptions {
        id,
        data_dir,
        listener,
        advertise,
        tls,
        config,
        faults: None,
        shared: None,
        sealer: berth_raft::Sealer::none(),
    };
    let node = RaftNode::start(options).await?;
    if let Some(spec) = args.get(5) {
        node.initialize(members(spec)?).await?;
    }
    println!("ready {}", node.addr());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        println!("{}", handle(&node, &line).await);
    }
    node.shutdown().await?;
    Ok(())
}
