//! One file per noun: each command parses its flags (clap `Args`), calls the daemon through
//! bollard and prints what docker prints, returning the process exit code.

pub mod container;
pub mod create_opts;
pub mod image;
pub mod inspect;
pub mod ps;
pub mod registry;
pub mod run;
pub mod stdio;
pub mod system;
