//! Multi-layer images against a real berthd and Debian's `docker-registry` on loopback: the
//! tests write the images straight to the registry over the distribution API (gzip layers and a
//! zstd one), and the registry's access log tells which blobs berth fetched. The registry is
//! also killed in the middle of a pull (a throttling proxy makes "the middle" last) and
//! restarted on the same port and storage. Nothing leaves loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

mod registry_kit;

use std::time::Duration;

use berth_test_support::registry::Registry;
use berth_test_support::{require_root, TestDaemon};
use registry_kit::{
    messages, multi_layer, push_image, sha, stream_error, tar_of, Layer, SlowProxy,
};
use serde_json::json;

/// Short ids of the layers whose progress says `status`, sorted.
fn ids_with(body: &str, status: &str) -> Vec<String> {
    let mut ids: Vec<String> = messages(body)
        .iter()
        .filter(|m| m["status"] == status)
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

fn short_ids(layers: &[Layer]) -> Vec<String> {
    let mut ids: Vec<String> = layers
        .iter()
        .map(|l| l.digest()[7..19].to_string())
        .collect();
    ids.sort();
    ids
}

fn pull(d: &TestDaemon, image: &str) -> String {
    let (name, tag) = image.rsplit_once(':').unwrap();
    let r = d.req(
        "POST",
        &format!("/v1.47/images/create?fromImage={name}&tag={tag}"),
        "",
    );
    assert_eq!(r.status, 200, "pull {image}: {}", r.text());
    r.text()
}

/// Runs `cmd` in a fresh container of `image` and returns its output (exit code must be 0).
fn run(d: &TestDaemon, image: &str, cmd: &[&str], n: u32) -> String {
    let name = format!("{}-run{n}", d.prefix);
    let c = d.create(&name, json!({"Image": image, "Cmd": cmd}));
    let r = d.req("POST", &format!("/containers/{c}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    let r = d.req("POST", &format!("/containers/{c}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0, "{}", d.logs(&c));
    d.logs(&c)
}

fn diff_ids(d: &TestDaemon, image: &str) -> serde_json::Value {
    let r = d.req("GET", &format!("/images/{image}/json"), "");
    assert_eq!(r.status, 200, "inspect {image}: {}", r.text());
    r.json()["RootFS"]["Layers"].clone()
}

fn layer_digests(layers: &[Layer]) -> Vec<String> {
    let mut v: Vec<String> = layers.iter().map(Layer::digest).collect();
    v.sort();
    v
}

/// The layer blobs among `gets`, sorted.
fn only_layers(mut gets: Vec<String>, layers: &[Layer]) -> Vec<String> {
    gets.retain(|g| layers.iter().any(|l| l.digest() == *g));
    gets.sort();
    gets
}

#[test]
fn a_six_layer_image_with_a_zstd_layer_pulls_runs_and_is_never_downloaded_twice() {
    require_root!();
    let Some(reg) = Registry::start() else {
        return;
    };
    let d = TestDaemon::start("reglayers");
    let busybox = std::fs::read(berth_test_support::busybox_tar(&d.root)).unwrap();
    let first = multi_layer(&busybox, 5, 64 * 1024, 1);
    assert!(first.iter().any(|l| l.media_type == registry_kit::ZSTD));
    let image = format!("{}/it/multi:v1", reg.host());
    push_image(&reg.host(), "it/multi", "v1", &first, &["sh"]);

    let text = pull(&d, &image);
    assert_eq!(stream_error(&text), None, "{text}");
    assert_eq!(
        ids_with(&text, "Pull complete"),
        short_ids(&first),
        "{text}"
    );
    assert_eq!(
        only_layers(reg.blob_gets(0), &first),
        layer_digests(&first),
        "each layer fetched once"
    );
    let want: Vec<String> = first.iter().map(Layer::diff_id).collect();
    assert_eq!(diff_ids(&d, &image), json!(want));
    assert_eq!(
        run(
            &d,
            &image,
            &["cat", "/data/1.txt", "/data/3.txt", "/data/5.txt"],
            0
        ),
        "layer 1\nlayer 3\nlayer 5\n"
    );

    // Pulling again: every layer already exists, and no blob (not even the config) is fetched.
    let mark = reg.log().len();
    let text = pull(&d, &image);
    assert_eq!(stream_error(&text), None, "{text}");
    assert_eq!(
        ids_with(&text, "Already exists"),
        short_ids(&first),
        "{text}"
    );
    assert!(text.contains("Image is up to date"), "{text}");
    assert_eq!(reg.blob_gets(mark), Vec::<String>::new());

    // A second image on the first three layers: only its own two are fetched.
    let mut second = first[..3].to_vec();
    second.extend(multi_layer(&busybox, 2, 32 * 1024, 100).into_iter().skip(1));
    let other = format!("{}/it/other:v1", reg.host());
    push_image(&reg.host(), "it/other", "v1", &second, &["sh"]);
    let mark = reg.log().len();
    let text = pull(&d, &other);
    assert_eq!(stream_error(&text), None, "{text}");
    assert_eq!(
        ids_with(&text, "Already exists"),
        short_ids(&first[..3]),
        "{text}"
    );
    assert_eq!(
        ids_with(&text, "Pull complete"),
        short_ids(&second[3..]),
        "{text}"
    );
    assert_eq!(
        only_layers(reg.blob_gets(mark), &second),
        layer_digests(&second[3..])
    );
    assert_eq!(
        run(
            &d,
            &other,
            &["cat", "/data/2.txt", "/data/100.txt", "/data/101.txt"],
            1
        ),
        "layer 2\nlayer 100\nlayer 101\n"
    );
}

#[test]
fn a_registry_killed_mid_pull_gives_a_clear_error_and_the_retry_uses_no_corrupt_layer() {
    require_root!();
    let Some(mut reg) = Registry::start() else {
        return;
    };
    let d = TestDaemon::start("regkill");
    let busybox = std::fs::read(berth_test_support::busybox_tar(&d.root)).unwrap();
    // busybox, a small layer, and a big one that takes seconds through the proxy.
    let mut layers = multi_layer(&busybox, 1, 16 * 1024, 1);
    let bin = registry_kit::filler(7, 16 << 20);
    layers.push(Layer::gzip(tar_of(&[("data/7.bin", &bin)])));
    let big = layers[2].clone();
    let proxy = SlowProxy::start(reg.port, 4 << 20);
    push_image(&reg.host(), "it/big", "v1", &layers, &["sh"]);
    let image = format!("127.0.0.1:{}/it/big:v1", proxy.port);

    let text = std::thread::scope(|s| {
        let pulling = s.spawn(|| pull(&d, &image));
        let midway = berth_test_support::wait_until(Duration::from_secs(60), || {
            proxy.forwarded.load(std::sync::atomic::Ordering::Relaxed) > 3 << 20
        });
        assert!(midway, "the pull never got going");
        reg.kill();
        pulling.join().unwrap()
    });
    let err = stream_error(&text).unwrap_or_else(|| panic!("no error: {text}"));
    println!("error after the kill: {err}");
    assert!(err.contains(&big.digest()), "{err}");
    assert!(
        err.contains("end of file") || err.contains("connection"),
        "the cause is named: {err}"
    );
    assert!(!text.contains("Downloaded newer image"), "{text}");
    assert_eq!(
        d.req("GET", &format!("/images/{image}/json"), "").status,
        404
    );
    // Nothing half-written is visible: no temp file, no blob and no layer of the big one.
    let store = d.data_root().join("image");
    let blobs: Vec<String> = std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !blobs
            .iter()
            .any(|b| b.contains(".tmp-") || *b == big.digest()[7..] || *b == big.diff_id()[7..]),
        "{blobs:?}"
    );
    assert!(!store.join("layers").join(&big.diff_id()[7..]).exists());

    // Restarted on the same port and storage, the retry completes; finished layers are kept.
    let done_before = ids_with(&text, "Pull complete");
    reg.restart();
    let mark = reg.log().len();
    let text = pull(&d, &image);
    assert_eq!(stream_error(&text), None, "{text}");
    let gets = reg.blob_gets(mark);
    for l in &layers {
        let kept = done_before.contains(&l.digest()[7..19].to_string());
        assert_eq!(!kept, gets.contains(&l.digest()), "{text}");
    }
    let want: Vec<String> = layers.iter().map(Layer::diff_id).collect();
    assert_eq!(diff_ids(&d, &image), json!(want));
    // The layer's tar, which save puts back together from its unpacked files, hashes to its
    // diff id, and the container sees the whole file.
    let saved = d.req(
        "GET",
        &format!("/images/{}/get", berth_test_support::urlencode(&image)),
        "",
    );
    assert_eq!(saved.status, 200, "{}", saved.text());
    let name = format!("blobs/sha256/{}", &big.diff_id()[7..]);
    let mut archive = tar::Archive::new(&saved.body[..]);
    let kept = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some(name.as_str()))
        .map(|mut e| {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            v
        })
        .unwrap();
    assert_eq!(sha(&kept), big.diff_id());
    // Kept as a skeleton beside the unpacked files, not as a second copy of the layer.
    assert!(!store
        .join("blobs/sha256")
        .join(&big.diff_id()[7..])
        .exists());
    let out = run(&d, &image, &["sha256sum", "/data/7.bin"], 0);
    assert_eq!(
        out.split_whitespace().next(),
        Some(&sha(&bin)[7..]),
        "{out}"
    );
}
