//! One file per noun: each command parses its flags (clap `Args`), calls the daemon through
//! bollard and prints what docker prints, returning the process exit code.

pub mod archive;
pub mod build;
pub mod build_context;
pub mod commit;
pub mod container;
pub mod cp;
pub mod create_opts;
pub mod events;
pub mod exec;
pub mod history;
pub mod host_opts;
pub mod image;
pub mod inspect;
pub mod manage;
pub mod network;
pub mod node;
pub mod node_format;
pub mod port;
pub mod prune;
pub mod ps;
pub mod registry;
pub mod run;
pub mod service;
pub mod stats;
pub mod stdio;
pub mod swarm;
pub mod swarm_spec;
pub mod system;
pub mod system_prune;
pub mod task;
pub mod terminal;
pub mod tls;
pub mod volume;
