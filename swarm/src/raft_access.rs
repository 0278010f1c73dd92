//! Who may call the Raft service on the swarm port. A manager certificate proves who the
//! caller was when it was issued; a demoted or removed manager keeps that certificate until it
//! expires. So the caller must also still be a manager in the cluster this member knows.

use std::sync::{Arc, OnceLock, Weak};

use berth_raft::{Authorizer, ClusterState, NodeRole, ObjectKind, RaftNode};

use crate::ca::{cert_node_id, PeerNames, MANAGER_NAME};
use crate::swarm::node_role;

/// The Raft member the authorizer asks, set once it has started (calls before are refused and
/// retried by their sender).
pub type MemberCell = Arc<OnceLock<Weak<RaftNode>>>;

/// Whether node `node_id`, holding a valid manager certificate of the cluster, may use Raft:
/// when the cluster holds it as a manager. A member that knows no node yet (a manager that
/// joined and has not received the first entries) cannot tell and trusts the certificate.
pub fn may_use_raft(state: &ClusterState, node_id: &str) -> bool {
    match state.get(ObjectKind::Node, node_id) {
        Some(node) => node_role(node) == NodeRole::Manager,
        None => state.list(ObjectKind::Node).next().is_none(),
    }
}

/// The authorizer of the Raft service: a manager certificate of `ca_pem`, held by a node the
/// member in `member` still counts as a manager.
pub fn authorizer(ca_pem: String, member: MemberCell) -> Authorizer {
    let peers = PeerNames::new(ca_pem);
    Arc::new(move |certs| {
        let Some(cert) = certs.first() else {
            return false;
        };
        if !peers.has_name(cert.as_ref(), MANAGER_NAME) {
            return false;
        }
        let (Some(raft), Ok(node_id)) = (
            member.get().and_then(Weak::upgrade),
            cert_node_id(cert.as_ref()),
        ) else {
            return false;
        };
        raft.read_stale(|s| may_use_raft(s, &node_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::{Attrs, ClusterCommand, Op};

    fn node(id: &str, role: NodeRole) -> Op {
        Op::Create {
            id: id.into(),
            attrs: Attrs::Node { role },
            spec: serde_json::json!({}),
            status: serde_json::json!({}),
        }
    }

    #[test]
    fn only_nodes_the_cluster_holds_as_managers_may_use_raft() {
        let mut s = ClusterState::default();
        assert!(
            may_use_raft(&s, "m1"),
            "an empty member trusts the certificate"
        );
        s.apply(&ClusterCommand::new(vec![
            node("m1", NodeRole::Manager),
            node("w1", NodeRole::Worker),
        ]));
        assert!(may_use_raft(&s, "m1"));
        assert!(!may_use_raft(&s, "w1"), "a demoted manager");
        assert!(!may_use_raft(&s, "gone"), "a removed manager");
    }
}
