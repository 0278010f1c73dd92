//! `cp` and `export`: stat, read and write paths inside a container's root filesystem, as tar
//! archives. The container may be running and hostile, swapping path components for symlinks
//! while berthd works (CVE-2018-15664's pattern): so nothing here uses a host path below the
//! root. Every lookup is an `openat2` under a handle on the root (`engine::inroot`), every
//! change is made relative to a directory handle, and only regular files are ever read.
//! A stopped container's rootfs is mounted for the operation (`rootfs.rs`).

mod read;
pub mod read_only;
mod rootfs;
mod stat;
mod view;
mod write;

pub use read::{write_export, write_tar};
pub use rootfs::Rootfs;
pub use stat::{go_file_mode, stat, PathStat};
pub use write::{extract_tar, extract_tar_with, ExtractOptions};
