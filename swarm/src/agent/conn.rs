//! Channels from a node to the managers: one lazily connecting TLS channel per manager, the
//! leader preferred, "not the leader" answers followed to the leader, and fail-over between
//! the managers known.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Status;

use crate::rpc::{self, Method, NOT_LEADER};

/// Channels to the managers, with the leader preferred.
pub struct Conn {
    tls: ClientTlsConfig,
    pub(super) managers: Mutex<Vec<String>>,
    leader: Mutex<Option<String>>,
    channels: Mutex<HashMap<String, Channel>>,
    next: AtomicUsize,
}

impl Conn {
    /// Channels to `managers`, presenting the certificate in `tls`.
    pub fn new(tls: ClientTlsConfig, managers: Vec<String>) -> Self {
        Conn {
            tls,
            managers: Mutex::new(managers),
            leader: Mutex::default(),
            channels: Mutex::default(),
            next: AtomicUsize::new(0),
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, Status> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let bad = |e: &dyn std::fmt::Display| Status::unavailable(format!("{addr}: {e}"));
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| bad(&e))?
            .tls_config(self.tls.clone())
            .map_err(|e| bad(&e))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    fn target(&self) -> Option<String> {
        if let Some(l) = self
            .leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Some(l);
        }
        let managers = self.managers.lock().unwrap_or_else(PoisonError::into_inner);
        if managers.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % managers.len();
        Some(managers[i].clone())
    }

    /// Calls the leader's dispatcher, following redirects and trying each manager once.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, Status> {
        let tries = self
            .managers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            + 2;
        let mut last = Status::unavailable("no manager is known");
        for _ in 0..tries {
            let Some(addr) = self.target() else { break };
            match rpc::call(self.channel(&addr)?, method, req, timeout).await {
                Ok(r) => {
                    *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = Some(addr);
                    return Ok(r);
                }
                Err(s) => {
                    tracing::debug!(manager = %addr, call = method.path(), code = ?s.code(), error = %s.message(), "swarm call failed; trying the next manager");
                    let redirect = s
                        .message()
                        .strip_prefix(NOT_LEADER)
                        .filter(|a| !a.is_empty())
                        .map(str::to_string);
                    *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = redirect;
                    last = s;
                }
            }
        }
        Err(last)
    }
}
