//! Hostile image layers through every way in (`load`, `import` and a registry pull), with a
//! real berthd: a symlink then a file through it, `..` and absolute names, hard links out of
//! the layer, device nodes, and a decompression bomb. Nothing may land outside the layer,
//! a refused layer leaves no partial files, and berthd keeps answering.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

mod registry_kit;

use std::path::{Path, PathBuf};

use berth_test_support::registry::Registry;
use berth_test_support::{require_root, DaemonOptions, HostMount, TestDaemon};
use registry_kit::{push_image, sha, stream_error, Layer};
use serde_json::json;

/// One tar entry of a hostile layer; names are written raw (tar-rs refuses to write `..`).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Device(&'a str, u32, u32),
}

fn layer_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data, link): (&str, &[u8], Option<&str>) = match e {
            Entry::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                (n, d, None)
            }
            Entry::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                (n, b"", Some(t))
            }
            Entry::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                (n, b"", Some(t))
            }
            Entry::Device(n, major, minor) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(*major).unwrap();
                h.set_device_minor(*minor).unwrap();
                (n, b"", None)
            }
        };
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// The hostile layers by case, and whether berthd must refuse the layer (`..` in a name, a
/// hard link out) or may take it with everything kept inside.
fn cases(host_dir: &Path) -> Vec<(&'static str, Vec<u8>, bool)> {
    let abs = host_dir.display().to_string();
    let rel = abs.trim_start_matches('/');
    let climb = format!("../../../../../../../../{rel}");
    let planted_abs = format!("{abs}/planted");
    let climb_planted = format!("{climb}/planted");
    let secret_abs = format!("{abs}/secret");
    let climb_secret = format!("{climb}/secret");
    vec![
        (
            "symlink-then-file",
            layer_tar(&[
                Entry::Symlink("etc", &abs),
                Entry::File("etc/planted", b"x"),
                Entry::Symlink("up", "../../../../../../../.."),
                Entry::File(&format!("up/{rel}/planted"), b"x"),
            ]),
            false,
        ),
        (
            "absolute-name",
            layer_tar(&[Entry::File(&planted_abs, b"x")]),
            false,
        ),
        (
            "dotdot-name",
            layer_tar(&[Entry::File(&climb_planted, b"x")]),
            true,
        ),
        (
            "hardlink-out",
            layer_tar(&[Entry::Hardlink("stolen", &climb_secret)]),
            true,
        ),
        (
            "hardlink-through-symlink",
            layer_tar(&[
                Entry::Symlink("h", &abs),
                Entry::Hardlink("stolen", "h/secret"),
            ]),
            true,
        ),
        (
            "absolute-hardlink",
            layer_tar(&[Entry::Hardlink("stolen", &secret_abs)]),
            true,
        ),
        (
            "devices",
            layer_tar(&[Entry::Device("mem", 1, 1), Entry::Device("kmsg", 1, 11)]),
            false,
        ),
    ]
}

struct Host {
    dir: PathBuf,
}

impl Host {
    fn new(d: &TestDaemon) -> Host {
        let dir = d.root.join("host-dir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "HOST-SECRET").unwrap();
        Host { dir }
    }

    fn assert_untouched(&self, case: &str) {
        let names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret")], "{case}");
        let meta = std::fs::metadata(self.dir.join("secret")).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&meta),
            1,
            "{case}: linked"
        );
    }
}

/// Partial layers or blobs (`.tmp-` names) and scratch space (`tmp/`) left in the image store.
fn leftovers(d: &TestDaemon) -> Vec<String> {
    let image = d.data_root().join("image");
    let mut out: Vec<String> = std::fs::read_dir(image.join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    for area in std::fs::read_dir(&image).into_iter().flatten().flatten() {
        for e in std::fs::read_dir(area.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().contains(".tmp-") {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// A `docker save` archive of one image with `layer` as its only layer.
fn save_archive(layer: &[u8], tag: &str, diff_id: &str) -> Vec<u8> {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!([
        {"Config": "config.json", "RepoTags": [tag], "Layers": ["layer/layer.tar"]}
    ]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", &manifest[..]),
        ("config.json", &config[..]),
        ("layer/layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn hostile_layers_through_load_import_and_pull_stay_inside_the_layer() {
    require_root!();
    let Some(registry) = Registry::start() else {
        return;
    };
    let d = TestDaemon::start("himages");
    let host = Host::new(&d);
    for (i, (case, tar, refused)) in cases(&host.dir).into_iter().enumerate() {
        let tag = format!("hostile{i}:latest");
        // load
        let archive = save_archive(&tar, &tag, &sha(&tar));
        let r = d
            .try_request("POST", "/images/load?quiet=1", &archive)
            .unwrap();
        let load_failed = r.status != 200 || r.text().contains("errorDetail");
        assert_eq!(
            load_failed,
            refused,
            "load {case}: {} {}",
            r.status,
            r.text()
        );
        host.assert_untouched(case);
        // import
        let r = d
            .try_request(
                "POST",
                &format!("/images/create?fromSrc=-&repo=imp{i}&tag=latest"),
                &tar,
            )
            .unwrap();
        let import_failed = r.status != 200 || r.text().contains("errorDetail");
        assert_eq!(
            import_failed,
            refused,
            "import {case}: {} {}",
            r.status,
            r.text()
        );
        host.assert_untouched(case);
        // registry pull
        let repo = format!("hostile/case{i}");
        push_image(
            &registry.host(),
            &repo,
            "latest",
            &[Layer::gzip(tar.clone())],
            &["true"],
        );
        let r = d.req(
            "POST",
            &format!(
                "/images/create?fromImage={}/{repo}&tag=latest",
                registry.host()
            ),
            "",
        );
        let pull_failed = r.status != 200 || stream_error(&r.text()).is_some();
        assert_eq!(
            pull_failed,
            refused,
            "pull {case}: {} {}",
            r.status,
            r.text()
        );
        host.assert_untouched(case);
        assert_eq!(leftovers(&d), Vec::<String>::new(), "{case}");
        d.assert_serving();
    }
}

#[test]
fn a_decompression_bomb_is_streamed_and_a_wrong_one_leaves_nothing() {
    require_root!();
    let Some(registry) = Registry::start() else {
        return;
    };
    // The bomb unpacks to 512 MiB: on a tmpfs of its own, so that a host disk with less room
    // free (CI's sometimes has) does not turn the digest mismatch into "no space left on
    // device".
    let disk = HostMount::tmpfs_sized(
        std::env::temp_dir().join(format!("berth-test-bomb{}", std::process::id())),
        "2g",
    );
    let d = TestDaemon::launch(
        "hbomb",
        DaemonOptions {
            root: Some(disk.0.join("daemon")),
            ..DaemonOptions::default()
        },
    );
    // 512 MiB of zeros in one file: about half a megabyte of gzip.
    const SIZE: u64 = 512 << 20;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    {
        let mut b = tar::Builder::new(&mut gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(SIZE);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(
            &mut h,
            "zeros",
            std::io::Read::take(std::io::repeat(0), SIZE),
        )
        .unwrap();
        b.finish().unwrap();
    }
    let blob = gz.finish().unwrap();
    assert!(blob.len() < 4 << 20, "bomb of {} bytes", blob.len());
    // A config naming a diff id the layer does not have: found only after the unpack.
    let layer = Layer {
        tar: b"not the layer".to_vec(),
        blob,
        media_type: registry_kit::GZIP,
    };
    push_image(
        &registry.host(),
        "hostile/bomb",
        "latest",
        &[layer],
        &["true"],
    );
    let rss_before = rss_kib(&d);
    let r = d.req(
        "POST",
        &format!(
            "/images/create?fromImage={}/hostile/bomb&tag=latest",
            registry.host()
        ),
        "",
    );
    let err = stream_error(&r.text());
    assert!(
        err.is_some_and(|e| e.contains("digest mismatch")),
        "{}",
        r.text()
    );
    assert_eq!(leftovers(&d), Vec::<String>::new());
    d.assert_serving();
    // Streamed to disk, never held: berthd did not grow by anything like the layer's size.
    let grown = rss_kib(&d).saturating_sub(rss_before);
    assert!(
        grown < 64 << 10,
        "berthd grew by {grown} KiB unpacking the bomb"
    );
}

fn rss_kib(d: &TestDaemon) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", d.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
