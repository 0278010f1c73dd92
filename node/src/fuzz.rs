//! Fuzz entry points: each parser that takes bytes from outside berthd (DNS datagrams from
//! containers, layer and `cp` tar streams, image references, filter queries, create bodies)
//! behind a `fn(&[u8])` that must return, whatever the bytes, without panicking (a panic in a
//! release berthd aborts the daemon). `node/fuzz/` runs them under libFuzzer by hand; the tests
//! below run each over seeded mutations of valid inputs for a bounded count in CI
//! (`BERTH_FUZZ_ITERS` raises it).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::engine::image::unpack::{unpack, Mode};
use crate::engine::image::LayerFs;

/// A DNS datagram from a container: parse, answer, match as a reply.
pub fn dns_query(data: &[u8]) {
    use crate::network::dns::{answer, is_reply_to, parse_query};
    if let Some(q) = parse_query(data) {
        assert!(q.end <= data.len(), "question ends past the packet");
        let ips = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::BROADCAST),
        ];
        let _ = answer(data, &q, &ips);
    }
    let _ = is_reply_to(data, data);
}

/// A layer tar stream, unpacked into a scratch directory; nothing may appear beside it.
pub fn layer_tar(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let root = dir.path().join("layer");
    if std::fs::create_dir(&root).is_err() {
        return;
    }
    let _ = unpack(
        &mut tar::Archive::new(data),
        &root,
        &NoPrivileges,
        Mode::Layer,
    );
    assert_only_child(dir.path(), "layer");
}

/// A `cp` upload, extracted into a directory of a scratch root; nothing may appear beside it.
pub fn copy_tar(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let root = dir.path().join("root");
    let upload = dir.path().join("upload.tar");
    if std::fs::create_dir_all(root.join("dst")).is_err() || std::fs::write(&upload, data).is_err()
    {
        return;
    }
    let _ = crate::engine::container::archive::extract_tar(&root, "/dst", &upload, false);
    let _ = std::fs::remove_file(&upload);
    assert_only_child(dir.path(), "root");
}

/// An image reference as a client sends it.
pub fn image_reference(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = crate::engine::image::Reference::parse(s) {
            let _ = (r.familiar_name(), r.full_name(), r.familiar_tagged());
        }
    }
}

/// A query string with `filters` (both of Docker's JSON shapes).
pub fn filters(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let q = crate::api::convert::query::Query::parse(Some(s));
        let _ = q.filters();
        let _ = q.int("limit");
    }
}

/// A `POST /containers/create` body, converted to the engine's request.
pub fn create_container(data: &[u8]) {
    if let Ok(body) = serde_json::from_slice::<bollard_stubs::models::ContainerCreateBody>(data) {
        let _ = crate::api::convert::container::create_request(
            body,
            Some("fuzz".into()),
            crate::api::ApiVersion::CURRENT,
        );
    }
}

fn assert_only_child(dir: &Path, name: &str) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from(name)],
        "wrote beside the root"
    );
}

/// Unprivileged stand-ins for the layer operations that need root.
struct NoPrivileges;

impl LayerFs for NoPrivileges {
    fn whiteout(&self, path: &Path, _uid: u32, _gid: u32) -> io::Result<()> {
        std::fs::write(path, b"").map(drop)
    }
    fn set_opaque(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
    fn mknod(&self, path: &Path, _mode: u32, _major: u64, _minor: u64) -> io::Result<()> {
        std::fs::write(path, b"").map(drop)
    }
    fn lchown(&self, _path: &Path, _uid: u32, _gid: u32) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "fuzz_tests.rs"]
mod tests;
