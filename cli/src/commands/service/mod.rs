//! `berth service …`: swarm services as docker's CLI drives them. Flags are declared in
//! `opts.rs` and parsed by `parse.rs` and `mount.rs`; `spec.rs` (create) and `edit.rs` (update)
//! turn them into a `ServiceSpec`, `image.rs` pins its image; `progress.rs`, `converge.rs` and
//! `display.rs` compute and draw convergence progress, which `wait.rs` polls for; `columns.rs`
//! and `pretty.rs` shape `ls` and `inspect --pretty`; `read.rs` reads a service as Go's decoder
//! does, for whatever sends it back or shows it whole. Those are pure; the commands that talk to
//! the daemon are `command.rs` (create, update, scale, rollback), `list.rs` (ls, ps, rm,
//! inspect) and `logs.rs`.

mod columns;
mod command;
mod converge;
mod display;
mod edit;
mod generic;
mod image;
pub mod list;
mod logs;
mod mount;
pub(crate) mod network;
mod opts;
pub mod parse;
mod pretty;
mod progress;
mod progress_jobs;
pub(crate) mod read;
pub mod secrets;
mod spec;
mod wait;

pub use command::{prepare_image, registry_auth, run, ServiceCommand};
pub use image::with_default_tag;
pub use wait::wait_on_service;
