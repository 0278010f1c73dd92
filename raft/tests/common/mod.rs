//! Test harness: in-process clusters of `RaftNode`s on 127.0.0.1 with real TLS sockets and
//! rcgen certificates, a shared `Faults` for partitions, and waits with deadlines (never
//! sleeps as synchronization).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed setup step fails the test"
)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_raft::{
    Applied, Attrs, ClusterCommand, Faults, NodeAddr, NodeId, NodeOptions, Op, RaftConfig,
    RaftError, RaftNode, TlsConfig,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The name every member certificate carries.
pub const SERVER_NAME: &str = "berth-manager";
/// Failure guard for waits; generous because the machines are noisy.
pub const WAIT: Duration = Duration::from_secs(30);

/// A certificate authority that issues member certificates.
pub struct Pki {
    issuer: Issuer<'static, KeyPair>,
    pub ca_pem: String,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// TLS material for one member, signed by this CA.
    pub fn member(&self, id: NodeId) -> TlsConfig {
        let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("member-{id}"));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TlsConfig {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_pem: self.ca_pem.clone(),
            server_name: SERVER_NAME.to_owned(),
        }
    }
}

/// Test timing: the defaults, with a shorter request timeout so failures surface quickly.
pub fn test_config() -> RaftConfig {
    RaftConfig {
        request_timeout: Duration::from_secs(5),
        ..RaftConfig::default()
    }
}

/// An in-process cluster.
pub struct Cluster {
    pub dir: TempDir,
    pub pki: Pki,
    pub faults: Arc<Faults>,
    pub config: RaftConfig,
    pub nodes: BTreeMap<NodeId, RaftNode>,
    pub addrs: BTreeMap<NodeId, NodeAddr>,
}

pub async fn bind(addr: Option<&NodeAddr>) -> TcpListener {
    let Some(addr) = addr else {
        return TcpListener::bind("127.0.0.1:0").await.unwrap();
    };
    let deadline = Instant::now() + WAIT;
    loop {
        match TcpListener::bind(&addr.addr).await {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot rebind {addr}: {e}"),
        }
    }
}

impl Cluster {
    /// Starts `n` members (ids 1..=n) and initializes them as one cluster.
    pub async fn new(n: u64) -> Self {
        Self::with_config(n, test_config()).await
    }

    pub async fn with_config(n: u64, config: RaftConfig) -> Self {
        let mut cluster = Self {
            dir: TempDir::new().unwrap(),
            pki: Pki::new("berth test cluster ca"),
            faults: Arc::default(),
            config,
            nodes: BTreeMap::new(),
            addrs: BTreeMap::new(),
        };
        for id in 1..=n {
            cluster.start(id).await;
        }
        cluster.nodes[&1]
            .initialize(cluster.addrs.clone())
            .await
            .unwrap();
        cluster.wait_leader().await;
        cluster
    }

    pub fn data_dir(&self, id: NodeId) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    /// Starts member `id` (again), on its old port if it had one.
    pub async fn start(&mut self, id: NodeId) {
        let listener = bind(self.addrs.get(&id)).await;
        let addr = NodeAddr::new(listener.local_addr().unwrap().to_string());
        let options = NodeOptions {
            id,
            data_dir: self.data_dir(id),
            listener,
            advertise: addr.clone(),
            tls: self.pki.member(id),
            config: self.config.clone(),
            faults: Some(self.faults.clone()),
            shared: None,
            // Sealed at rest as in the swarm, with a key per member that survives restarts.
            sealer: berth_raft::Sealer::new(&berth_raft::DataKey(
                [u8::try_from(id % 251).unwrap(); 32],
            )),
        };
        let node = RaftNode::start(options).await.unwrap();
        self.addrs.insert(id, addr);
        self.nodes.insert(id, node);
    }

    /// Stops member `id` (its data stays).
    pub async fn stop(&mut self, id: NodeId) {
        self.take(id).shutdown().await.unwrap();
    }

    /// Removes a running member from the cluster's view without stopping it (the caller does).
    pub fn take(&mut self, id: NodeId) -> RaftNode {
        self.nodes.remove(&id).expect("node is running")
    }

    pub fn node(&self, id: NodeId) -> &RaftNode {
        &self.nodes[&id]
    }

    /// Waits until the running members that are not cut off agree on one running leader.
    pub async fn wait_leader(&self) -> NodeId {
        let ids: Vec<_> = self.nodes.keys().copied().collect();
        self.wait_leader_among(&ids).await
    }

    pub async fn wait_leader_among(&self, ids: &[NodeId]) -> NodeId {
        let deadline = Instant::now() + WAIT;
        loop {
            let leaders: Vec<_> = ids.iter().map(|id| self.nodes[id].leader()).collect();
            if let Some(leader) = leaders[0] {
                let agreed = leaders.iter().all(|l| *l == Some(leader));
                if agreed && ids.contains(&leader) && self.nodes[&leader].is_leader() {
                    return leader;
                }
            }
            if Instant::now() >= deadline {
                for id in ids {
                    eprintln!(
                        "member {id}: {:?}",
                        self.nodes[id].raft().metrics().borrow()
                    );
                    let probe = berth_raft::probe(
                        &self.pki.member(99),
                        &self.addrs[id].addr,
                        Duration::from_secs(5),
                    )
                    .await;
                    eprintln!("probe {id}: {probe:?}");
                }
                panic!("timed out waiting for a leader among {ids:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running member applied log index `index`.
    pub async fn wait_applied(&self, index: u64) {
        for node in self.nodes.values() {
            node.raft()
                .wait(Some(WAIT))
                .applied_index_at_least(Some(index), "applied")
                .await
                .unwrap_or_else(|e| panic!("member {} did not apply {index}: {e}", node.id()));
        }
    }

    pub async fn shutdown(self) {
        for (_, node) in self.nodes {
            node.shutdown().await.unwrap();
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after `WAIT`.
pub async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `fut`, failing the test after `WAIT` instead of hanging.
pub async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// Creates config object `id` (the kind the tests write).
pub fn create(id: &str) -> ClusterCommand {
    ClusterCommand::single(Op::Create {
        id: id.to_owned(),
        attrs: Attrs::Config {
            name: id.to_owned(),
        },
        spec: json!({ "Name": id }),
        status: json!(null),
    })
}

pub async fn write(node: &RaftNode, id: &str) -> Result<Applied, RaftError> {
    node.write(create(id)).await
}

/// The config objects a member holds, in the order they were committed.
pub fn committed_configs(node: &RaftNode) -> Vec<String> {
    node.read_stale(|s| {
        let mut objects: Vec<_> = s
            .list(berth_raft::ObjectKind::Config)
            .map(|o| (o.meta.version, o.id.clone()))
            .collect();
        objects.sort();
        objects.into_iter().map(|(_, id)| id).collect()
    })
}
