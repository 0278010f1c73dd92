//! Shared by `tests/registry_layers.rs` and `benches/pull.rs`: the test support's
//! `docker-registry` child (killed and restarted on the same port and storage, its access log
//! telling which blobs were fetched), a throttling loopback proxy, and multi-layer images written straight to a
//! registry over the distribution HTTP API (blobs by POST + PUT, then the OCI manifest).
#![allow(
    dead_code,
    reason = "the tests and the benchmark use different parts of this module"
)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A loopback TCP proxy to `127.0.0.1:upstream` that forwards responses at about `rate` bytes a
/// second and counts the bytes it forwarded; a connection whose upstream ends is closed.
pub struct SlowProxy {
    pub port: u16,
    pub forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl SlowProxy {
    pub fn start(upstream: u16, rate: u64) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let forwarded = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (forwarded.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue; // registry down: the client sees the connection close
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(c2, s2, None));
                let count = count.clone();
                std::thread::spawn(move || pipe(server, client, Some((count, rate))));
            }
        });
        SlowProxy {
            port,
            forwarded,
            stop,
        }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` until either ends, then shuts both down; throttled when `limit` says.
fn pipe(mut from: TcpStream, mut to: TcpStream, limit: Option<(Arc<AtomicU64>, u64)>) {
    const CHUNK: usize = 16 * 1024;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some((count, rate)) = &limit {
            count.fetch_add(n as u64, Ordering::Relaxed);
            std::thread::sleep(Duration::from_secs_f64(n as f64 / *rate as f64));
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

pub fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// One layer: its uncompressed tar (whose digest is the diff id) and the blob pushed.
#[derive(Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub blob: Vec<u8>,
    pub media_type: &'static str,
}

impl Layer {
    pub fn gzip(tar: Vec<u8>) -> Layer {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let blob = gz.finish().unwrap();
        Layer {
            tar,
            blob,
            media_type: GZIP,
        }
    }

    pub fn zstd(tar: Vec<u8>) -> Layer {
        let blob = ruzstd::encoding::compress_to_vec(
            &tar[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        Layer {
            tar,
            blob,
            media_type: ZSTD,
        }
    }

    pub fn diff_id(&self) -> String {
        sha(&self.tar)
    }

    pub fn digest(&self) -> String {
        sha(&self.blob)
    }
}

/// Messages of a Docker JSON message stream (pull/push progress).
pub fn messages(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The `errorDetail` message a stream ended with, if any.
pub fn stream_error(body: &str) -> Option<String> {
    messages(body)
        .iter()
        .find_map(|m| m["errorDetail"]["message"].as_str().map(str::to_string))
}

/// A tar of regular files (directories are implied), owned by root, mtime 0.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// `len` bytes that compress about as well as typical image content: 4 KiB blocks, alternately
/// pseudo-random (seeded) and repeated text.
pub fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let text = format!("layer content {seed} the quick brown fox jumps over the lazy dog\n");
    let mut out = Vec::with_capacity(len);
    let mut block = 0usize;
    while out.len() < len {
        let n = 4096.min(len - out.len());
        if block.is_multiple_of(2) {
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push(x.to_le_bytes()[0]);
            }
        } else {
            out.extend(text.bytes().cycle().take(n));
        }
        block += 1;
    }
    out
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Writes `layers` (bottom first) and a config running `cmd` to `host/repo:tag` over the
/// distribution API; returns the manifest digest.
pub fn push_image(host: &str, repo: &str, tag: &str, layers: &[Layer], cmd: &[&str]) -> String {
    let config = serde_json::to_vec(&json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(Layer::diff_id).collect::<Vec<_>>()},
    }))
    .unwrap();
    for l in layers {
        put_blob(host, repo, &l.blob);
    }
    put_blob(host, repo, &config);
    let desc = |t: &str, b: &[u8]| json!({"mediaType": t, "digest": sha(b), "size": b.len()});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|l| desc(l.media_type, &l.blob)).collect::<Vec<_>>(),
    }))
    .unwrap();
    let (status, _, body) = http(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        OCI_MANIFEST,
        &manifest,
    );
    assert_eq!(
        status,
        201,
        "PUT manifest: {}",
        String::from_utf8_lossy(&body)
    );
    sha(&manifest)
}

/// Uploads one blob (monolithic: POST an upload, PUT its content with the digest).
fn put_blob(host: &str, repo: &str, blob: &[u8]) {
    let digest = sha(blob);
    let (status, head, body) = http(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        "application/octet-stream",
        b"",
    );
    assert_eq!(
        status,
        202,
        "POST upload: {}",
        String::from_utf8_lossy(&body)
    );
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .unwrap();
    let path = match location.find("/v2/") {
        Some(i) => location[i..].to_string(),
        None => location,
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, _, body) = http(
        host,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        "application/octet-stream",
        blob,
    );
    assert_eq!(status, 201, "PUT blob: {}", String::from_utf8_lossy(&body));
}

/// One HTTP/1.1 request with `Connection: close`: (status, head, body).
fn http(host: &str, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(host).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// The multi-layer image of the tests and the benchmark: busybox (gzip) at the bottom, then
/// `extra` layers each adding `/data/<n>.txt` (its name) and `/data/<n>.bin` (`size` filler
/// bytes); the third layer is zstd, the rest gzip. Seeds start at `seed`.
pub fn multi_layer(busybox: &[u8], extra: usize, size: usize, seed: u64) -> Vec<Layer> {
    let mut layers = vec![Layer::gzip(busybox.to_vec())];
    for i in 0..extra {
        let n = seed + i as u64;
        let text = format!("layer {n}\n");
        let bin = filler(n, size);
        let tar = tar_of(&[
            (&format!("data/{n}.txt"), text.as_bytes()),
            (&format!("data/{n}.bin"), &bin),
        ]);
        layers.push(if i == 1 {
            Layer::zstd(tar)
        } else {
            Layer::gzip(tar)
        });
    }
    layers
}
