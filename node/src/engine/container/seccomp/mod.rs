//! Seccomp: Docker's default profile as an allow-list (`default_profile`), Docker-format
//! profiles from `--security-opt seccomp=<json>` (`profile`), and their resolution into OCI
//! `linux.seccomp` for one container's capabilities, the host's architecture and kernel
//! (`render`). No kernel calls here: the monitor's libcontainer loads the result.

pub mod default_profile;
pub mod profile;
pub mod render;

pub use profile::Profile;
pub use render::{native_arch, render, Target};
