//! Containers: the record and its states, the runtime spec, and one file per operation.

pub mod archive;
mod attach_events;
pub mod blkio_weight;
pub mod caps;
pub mod changes;
pub mod create;
pub mod env;
pub mod handle;
pub mod health;
pub mod host_resolve;
pub mod inspect;
pub mod links;
pub mod list;
pub mod list_filter;
pub mod list_rows;
pub mod log_attrs;
pub mod log_config;
pub mod log_read;
pub mod log_watch;
pub mod logs;
pub mod pause;
pub mod remove;
pub mod rename;
pub mod restore;
pub mod restore_orphans;
pub mod seccomp;
pub mod security;
pub mod settings;
pub mod signal;
pub mod spec;
pub mod spec_runtime;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod types;
pub mod update;
pub mod user;
pub mod wait;

pub use types::{
    ContainerConfig, ContainerRecord, ContainerState, ContainerStatus, HostSettings, RestartPolicy,
    SeccompChoice, SecurityOptions,
};
