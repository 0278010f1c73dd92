//! berthd's and the monitor's state files: the private atomic writes of `berth_swarm::files`,
//! which the swarm's own files share (one implementation of "0600, fsynced, renamed").

pub use berth_swarm::files::*;
