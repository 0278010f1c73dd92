//! Role changes and certificate renewal, driven by the node itself: its agent publishes the
//! node object the managers hold; when the role there differs from the one the node runs
//! (after `node promote` / `node demote`), or its certificate nears expiry, the node asks for
//! a new certificate with a fresh key and restarts as what it now is. A promoted node starts a
//! Raft member and asks to become a voter; a demoted one stops its member and drops its copy.

use std::sync::Weak;
use std::time::{Duration, SystemTime};

use berth_raft::{NodeRole, Object};
use tokio::sync::watch;

use crate::agent;
use crate::bootstrap::{add_self_as_manager, bind};
use crate::ca::{cert_der_from_pem, cert_validity, client_tls, NodeKey};
use crate::error::{SwarmError, SwarmResult};
use crate::local::Certs;
use crate::manager::{Manager, ManagerStart};
use crate::model::Node;
use crate::rpc::{Method, RenewReply, RenewRequest};
use crate::swarm::{node_role, Swarm};

/// How often the certificate's expiry is checked.
const RENEW_CHECK: Duration = Duration::from_secs(600);

/// Watches the node object of one membership; ends when that membership's agent stops.
pub(crate) async fn role_loop(
    swarm: Weak<Swarm>,
    mut node: watch::Receiver<Option<Object>>,
    cert_pem: String,
) {
    let mut tick = tokio::time::interval(RENEW_CHECK);
    loop {
        tokio::select! {
            changed = node.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        // Until the node runs as what the managers say (a refused or stale answer is retried).
        loop {
            let Some(swarm) = swarm.upgrade() else { return };
            let current = node.borrow().clone();
            let Some(current) = current else { break };
            let Some(member) = swarm.member() else { return };
            let runs_manager = member.local().manager;
            drop(member);
            let wants_manager = node_role(&current) == NodeRole::Manager;
            let role_changed = wants_manager != runs_manager
                && (!wants_manager
                    || Node::parse(&current).is_ok_and(|n| n.status.raft_id.is_some()));
            if !role_changed && !expiring(&cert_pem) {
                break;
            }
            match swarm.renew(wants_manager).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "swarm role change or certificate renewal failed")
                }
            }
            drop(swarm);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Whether a certificate has less than a third of its validity left (its own: the cluster's
/// `NodeCertExpiry` may have changed since it was issued).
fn expiring(cert_pem: &str) -> bool {
    let Some((start, end)) = cert_der_from_pem(cert_pem)
        .ok()
        .and_then(|der| cert_validity(&der).ok())
    else {
        return false;
    };
    let lifetime = end.duration_since(start).unwrap_or_default();
    end.duration_since(SystemTime::now())
        .map_or(true, |left| left < lifetime / 3)
}

impl Swarm {
    /// Gets a new certificate for the node's current role and restarts as that role; `false`
    /// when the managers do not (yet) see the role the node expected.
    async fn renew(&self, to_manager: bool) -> SwarmResult<bool> {
        let _guard = self.lifecycle.lock().await;
        let member = self.member().ok_or(SwarmError::NotInSwarm)?;
        let mut local = member.local();
        let (_, old_certs) = self
            .dir
            .load()
            .map_err(|e| SwarmError::internal("read swarm state", e))?
            .ok_or(SwarmError::NotInSwarm)?;
        let key = NodeKey::generate().map_err(|e| SwarmError::internal("make a node key", e))?;
        let conn = agent::Conn::new(
            client_tls(&old_certs.cert_pem, &old_certs.key_pem, &old_certs.ca_pem),
            local.managers.clone(),
        );
        let reply: RenewReply = conn
            .call(
                Method::Renew,
                &RenewRequest {
                    node_id: local.node_id.clone(),
                    public_key_der: key.public_key_der(),
                },
                Duration::from_secs(30),
            )
            .await
            .map_err(|s| {
                SwarmError::Unavailable(format!("renew the certificate: {}", s.message()))
            })?;
        if reply.manager != to_manager {
            return Ok(false);
        }
        let certs = Certs {
            cert_pem: reply.cert_pem,
            key_pem: key.key_pem(),
            ca_pem: reply.ca_pem,
        };
        if let Some(agent) = member.agent.lock().await.take() {
            agent.stop().await;
        }
        self.set_member(None);
        let old_manager = member.manager.clone();
        drop(member);
        if let Some(m) = old_manager {
            m.stop().await;
        }
        if !to_manager {
            let _ = std::fs::remove_dir_all(self.dir.raft_dir());
        }
        let manager = match reply.raft_id.filter(|_| to_manager) {
            Some(raft_id) => {
                if !local.manager {
                    // A copy from an earlier time as manager would hold a stale membership.
                    let _ = std::fs::remove_dir_all(self.dir.raft_dir());
                }
                let listener = bind(&local.listen_addr).await?;
                let m = Manager::start(ManagerStart {
                    node_id: local.node_id.clone(),
                    raft_id,
                    listener,
                    advertise: local.advertise_addr.clone(),
                    certs: certs.clone(),
                    raft_dir: self.dir.raft_dir(),
                    heartbeat: self.heartbeat,
                    unlock: None,
                })
                .await?;
                if !local.manager {
                    add_self_as_manager(&certs, &reply.managers, &local.node_id).await?;
                }
                Some(m)
            }
            None => None,
        };
        local.manager = to_manager;
        local.raft_id = reply.raft_id.filter(|_| to_manager);
        if !reply.managers.is_empty() {
            local.managers = reply.managers;
        }
        self.dir
            .save(&local, &certs)
            .map_err(|e| SwarmError::internal("save swarm state", e))?;
        tracing::info!(manager = to_manager, "swarm certificate renewed");
        self.activate(local, certs, manager);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CertRole, RootCa};
    use crate::model::DEFAULT_CERT_EXPIRY;

    fn cert(validity: Duration) -> String {
        let ca = RootCa::generate().unwrap();
        let key = NodeKey::generate().unwrap();
        ca.issue(
            "node1",
            CertRole::Worker,
            &key.public_key_der(),
            "c1",
            validity,
        )
        .unwrap()
    }

    #[test]
    fn a_certificate_is_renewed_in_the_last_third_of_its_own_validity() {
        assert!(!expiring(&cert(DEFAULT_CERT_EXPIRY)));
        assert!(!expiring(&cert(Duration::from_secs(3600))));
        // Issued an hour back for an hour and a minute: a minute left of two hours.
        assert!(expiring(&cert(Duration::from_secs(60))));
    }
}
