//! What a swarm member keeps on its own disk under `<data-root>/swarm`: who it is (node id,
//! role, Raft member id, addresses, the managers it last knew) and its certificates. Written
//! new-then-renamed; read at daemon start to rejoin.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::{ensure_dir_mode, read_json, write_atomic, write_json_atomic};

/// The member's identity and addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    /// This node's id.
    pub node_id: String,
    /// The cluster id.
    pub cluster_id: String,
    /// Whether it holds Raft state.
    pub manager: bool,
    /// Its Raft member id, for managers.
    pub raft_id: Option<u64>,
    /// Where the swarm port listens (`host:port`).
    pub listen_addr: String,
    /// The address others dial (`host:port`).
    pub advertise_addr: String,
    /// The managers' addresses it last heard of.
    pub managers: Vec<String>,
}

/// The node's TLS material.
#[derive(Debug, Clone, PartialEq)]
pub struct Certs {
    /// The node certificate.
    pub cert_pem: String,
    /// The node key.
    pub key_pem: String,
    /// The cluster CA.
    pub ca_pem: String,
}

/// The `swarm` directory of a data root.
#[derive(Debug, Clone)]
pub struct SwarmDir {
    root: PathBuf,
}

impl SwarmDir {
    /// The swarm directory under `data_root`.
    pub fn new(data_root: &Path) -> Self {
        SwarmDir {
            root: data_root.join("swarm"),
        }
    }

    /// Where the Raft store lives.
    pub fn raft_dir(&self) -> PathBuf {
        self.root.join("raft")
    }

    fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    fn cert_dir(&self) -> PathBuf {
        self.root.join("certificates")
    }

    /// The saved state, if this node is in a swarm.
    pub fn load(&self) -> std::io::Result<Option<(LocalState, Certs)>> {
        let Some(state) = read_json::<LocalState>(&self.state_file())? else {
            return Ok(None);
        };
        let read = |name: &str| std::fs::read_to_string(self.cert_dir().join(name));
        let certs = Certs {
            cert_pem: read("node.crt")?,
            key_pem: read("node.key")?,
            ca_pem: read("ca.crt")?,
        };
        Ok(Some((state, certs)))
    }

    /// Saves certificates, then the state (whose presence marks membership).
    pub fn save(&self, state: &LocalState, certs: &Certs) -> std::io::Result<()> {
        ensure_dir_mode(&self.root, 0o700)?;
        ensure_dir_mode(&self.cert_dir(), 0o700)?;
        write_atomic(&self.cert_dir().join("node.crt"), certs.cert_pem.as_bytes())?;
        write_atomic(&self.cert_dir().join("node.key"), certs.key_pem.as_bytes())?;
        write_atomic(&self.cert_dir().join("ca.crt"), certs.ca_pem.as_bytes())?;
        self.save_state(state)
    }

    /// Saves the state only (managers' addresses change).
    pub fn save_state(&self, state: &LocalState) -> std::io::Result<()> {
        ensure_dir_mode(&self.root, 0o700)?;
        write_json_atomic(&self.state_file(), state)
    }

    /// Forgets the swarm: state first, so a crash half-way leaves a node that is not in one.
    pub fn erase(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.state_file()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match std::fs::remove_dir_all(&self.root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_loads_back_and_erase_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let sd = SwarmDir::new(dir.path());
        assert!(sd.load().unwrap().is_none());
        let state = LocalState {
            node_id: "n1".into(),
            cluster_id: "c1".into(),
            manager: true,
            raft_id: Some(1),
            listen_addr: "0.0.0.0:2377".into(),
            advertise_addr: "127.0.0.1:2377".into(),
            managers: vec!["127.0.0.1:2377".into()],
        };
        let certs = Certs {
            cert_pem: "c".into(),
            key_pem: "k".into(),
            ca_pem: "a".into(),
        };
        sd.save(&state, &certs).unwrap();
        assert_eq!(sd.load().unwrap(), Some((state, certs)));
        sd.erase().unwrap();
        assert!(sd.load().unwrap().is_none());
    }
}
