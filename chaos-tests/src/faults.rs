//! The faults a test injects into a cluster: process faults (SIGKILL, SIGSTOP/SIGCONT,
//! restart on the same data) and link faults (a node's port on the switch down/up), plus a
//! reachability probe that only sends traffic between the cluster's own namespaces.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::ClusterError;
use crate::harness::Cluster;
use crate::net;

/// How long the threads of a SIGSTOPped berthd may take to stop.
const STOP_PATIENCE: Duration = Duration::from_secs(30);

impl Cluster {
    /// SIGKILLs node `index`'s berthd (its containers keep running, as after a crash).
    pub fn kill(&mut self, index: usize) -> Result<(), ClusterError> {
        self.node_mut(index)?.kill()
    }

    /// Freezes node `index`'s berthd (SIGSTOP): it keeps its socket but answers nothing.
    /// Returns once every thread is stopped (the signal is delivered asynchronously).
    pub fn pause(&self, index: usize) -> Result<(), ClusterError> {
        let node = self.try_node(index)?;
        node.signal(Signal::SIGSTOP)?;
        node.wait_stopped(STOP_PATIENCE)
    }

    /// Thaws a paused berthd (SIGCONT).
    pub fn resume(&self, index: usize) -> Result<(), ClusterError> {
        self.try_node(index)?.signal(Signal::SIGCONT)
    }

    /// Starts node `index`'s berthd again on the same data (SIGKILLing the running one
    /// first) and waits for `/_ping`.
    pub fn restart(&mut self, index: usize) -> Result<(), ClusterError> {
        let node = self.node_mut(index)?;
        node.kill()?;
        node.spawn()?;
        node.wait_ready()
    }

    /// Cuts node `index` off the switch: its port goes down, so the node sees carrier loss.
    pub fn cut(&self, index: usize) -> Result<(), ClusterError> {
        self.try_node(index)?;
        let switch = net::netns_path(&self.names().switch_netns());
        net::set_link_state(&switch, &self.names().switch_veth(index), false)
    }

    /// Reconnects a cut node.
    pub fn heal(&self, index: usize) -> Result<(), ClusterError> {
        self.try_node(index)?;
        let switch = net::netns_path(&self.names().switch_netns());
        net::set_link_state(&switch, &self.names().switch_veth(index), true)
    }

    /// Whether a TCP connection from node `from`'s namespace to a listener on node `to`'s
    /// address gets through within `timeout`.
    pub fn reachable(
        &self,
        from: usize,
        to: usize,
        timeout: Duration,
    ) -> Result<bool, ClusterError> {
        let (src, dst) = (self.try_node(from)?, self.try_node(to)?);
        let ip = dst.ip();
        let listener = dst
            .in_netns(|| TcpListener::bind((ip, 0)))?
            .map_err(ClusterError::io("listen in", dst.netns_path()))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(ClusterError::io("listen in", dst.netns_path()))?;
        // The kernel completes the handshake from the backlog: no accept needed.
        src.in_netns(|| TcpStream::connect_timeout(&addr, timeout).is_ok())
    }
}
