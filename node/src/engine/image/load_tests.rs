//! Tests of `load` with `docker save` and OCI layout archives built in memory.

use super::*;
use crate::engine::image::digest::sha256_digest;
use crate::engine::image::import::go_arch;
use crate::engine::image::testutil::{gzip, TarBuilder};

fn setup() -> (tempfile::TempDir, ImageStore) {
    let (dir, _db, images) = crate::engine::image::testutil::fresh_store();
    (dir, images)
}

fn layer(name: &str, content: &[u8]) -> Vec<u8> {
    TarBuilder::new().file(name, 0o755, content).finish()
}

/// A config whose odd formatting must survive: the id is the hash of these exact bytes.
fn config(diff_ids: &[String], cmd: &str) -> Vec<u8> {
    let ids = serde_json::to_string(diff_ids).unwrap();
    format!(
        r#"{{"architecture":"amd64", "config":{{"Cmd":["{cmd}"],"Env":null}},"created":"2023-05-01T12:00:00.123456789Z","os":"linux","rootfs":{{"type":"layers","diff_ids":{ids}}},"weird":  1}}"#
    )
    .into_bytes()
}

#[test]
fn docker_save_archive_loads_with_tags_verbatim_config_and_shared_layers() {
    let (dir, images) = setup();
    let base = layer("bin/base", b"base");
    let top = layer("bin/top", b"top!");
    let (base_id, top_id) = (sha256_digest(&base), sha256_digest(&top));
    let cfg1 = config(std::slice::from_ref(&base_id), "/bin/base");
    let cfg2 = config(&[base_id.clone(), top_id.clone()], "/bin/top");
    let manifest = serde_json::json!([
        {"Config": "c1.json", "RepoTags": ["busybox:latest"], "Layers": ["l1/layer.tar"]},
        {"Config": "c2.json", "RepoTags": null, "Layers": ["l2/layer.tar", "l3/layer.tar"]},
    ]);
    let archive = TarBuilder::new()
        .file("l1/layer.tar", 0o644, &base)
        .symlink("l2/layer.tar", "../l1/layer.tar") // how `docker save` shares a layer
        .file("l3/layer.tar", 0o644, &gzip(&top))
        .file("c1.json", 0o644, &cfg1)
        .file("c2.json", 0o644, &cfg2)
        .file("manifest.json", 0o644, manifest.to_string().as_bytes())
        .finish();
    let lines = images
        .load(
            &mut &archive[..],
            &crate::engine::image::progress::ProgressSink::discard(),
        )
        .unwrap();
    let (id1, id2) = (sha256_digest(&cfg1), sha256_digest(&cfg2));
    assert_eq!(
        lines,
        vec![
            "Loaded image: busybox:latest".to_string(),
            format!("Loaded image ID: {id2}")
        ]
    );
    let one = images.resolve("busybox").unwrap();
    assert_eq!(one.id, id1);
    assert_eq!(one.created, 1_682_942_400);
    assert_eq!(one.config.extra.get("weird"), Some(&serde_json::json!(1)));
    let two = images.resolve(&id2).unwrap();
    let dirs = images.layer_dirs(&two).unwrap();
    assert_eq!(dirs[0], images.layer_dirs(&one).unwrap()[0]);
    assert_eq!(fs::read(dirs[1].join("bin/top")).unwrap(), b"top!");
    assert_eq!(two.size, 8);
    let blob = fs::read(dir.path().join("image/blobs/sha256").join(&id1[7..])).unwrap();
    assert_eq!(blob, cfg1);
    assert_eq!(
        fs::read_dir(dir.path().join("image/tmp")).unwrap().count(),
        0
    );
}

#[test]
fn blobs_layout_and_gzipped_archive_load() {
    let (_dir, images) = setup();
    let l = layer("x", b"x");
    let cfg = config(&[sha256_digest(&l)], "/x");
    let (l_hex, c_hex) = (
        sha256_digest(&l)[7..].to_string(),
        sha256_digest(&cfg)[7..].to_string(),
    );
    let manifest = serde_json::json!([{"Config": format!("blobs/sha256/{c_hex}"),
        "RepoTags": ["docker.io/library/x:1"], "Layers": [format!("blobs/sha256/{l_hex}")]}]);
    let archive = TarBuilder::new()
        .file(&format!("blobs/sha256/{l_hex}"), 0o644, &l)
        .file(&format!("blobs/sha256/{c_hex}"), 0o644, &cfg)
        .file("manifest.json", 0o644, manifest.to_string().as_bytes())
        .finish();
    assert_eq!(
        images
            .load(
                &mut &gzip(&archive)[..],
                &crate::engine::image::progress::ProgressSink::discard()
            )
            .unwrap(),
        ["Loaded image: x:1"]
    );
}

#[test]
fn oci_layout_follows_nested_index_to_this_platform() {
    let (_dir, images) = setup();
    let l = gzip(&layer("etc/os-release", b"ID=test"));
    let diff = sha256_digest(&layer("etc/os-release", b"ID=test"));
    let cfg = config(&[diff], "/bin/sh");
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&cfg), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(&l), "size": l.len()}]})
    .to_string();
    let other = format!("sha256:{}", "0".repeat(64)); // another platform, absent like in real partial exports
    let nested = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"digest": other, "platform": {"architecture": "not-this-one", "os": "linux"}},
        {"digest": sha256_digest(manifest.as_bytes()), "platform": {"architecture": go_arch(), "os": "linux"}}]})
    .to_string();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256_digest(nested.as_bytes()),
         "annotations": {"io.containerd.image.name": "docker.io/library/alpine:3.19", "org.opencontainers.image.ref.name": "3.19"}}]});
    let blob = |b: &[u8]| format!("blobs/sha256/{}", &sha256_digest(b)[7..]);
    let archive = TarBuilder::new()
        .file("oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file(&blob(&l), 0o644, &l)
        .file(&blob(&cfg), 0o644, &cfg)
        .file(&blob(manifest.as_bytes()), 0o644, manifest.as_bytes())
        .file(&blob(nested.as_bytes()), 0o644, nested.as_bytes())
        .file("index.json", 0o644, index.to_string().as_bytes())
        .finish();
    assert_eq!(
        images
            .load(
                &mut &archive[..],
                &crate::engine::image::progress::ProgressSink::discard()
            )
            .unwrap(),
        ["Loaded image: alpine:3.19"]
    );
    let rec = images.resolve("alpine:3.19").unwrap();
    assert_eq!(rec.id, sha256_digest(&cfg));
    assert_eq!(
        fs::read(images.layer_dirs(&rec).unwrap()[0].join("etc/os-release")).unwrap(),
        b"ID=test"
    );
}

#[test]
fn oci_bare_tag_ref_name_loads_untagged() {
    let (_dir, images) = setup();
    let l = layer("a", b"a");
    let cfg = config(&[sha256_digest(&l)], "/a");
    let manifest = serde_json::json!({"config": {"digest": sha256_digest(&cfg)}, "layers": [{"digest": sha256_digest(&l)}]}).to_string();
    let index = serde_json::json!({"manifests": [{"digest": sha256_digest(manifest.as_bytes()),
        "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]});
    let blob = |b: &[u8]| format!("blobs/sha256/{}", &sha256_digest(b)[7..]);
    let archive = TarBuilder::new()
        .file(&blob(&l), 0o644, &l)
        .file(&blob(&cfg), 0o644, &cfg)
        .file(&blob(manifest.as_bytes()), 0o644, manifest.as_bytes())
        .file("index.json", 0o644, index.to_string().as_bytes())
        .finish();
    assert_eq!(
        images
            .load(
                &mut &archive[..],
                &crate::engine::image::progress::ProgressSink::discard()
            )
            .unwrap(),
        [format!("Loaded image ID: {}", sha256_digest(&cfg))]
    );
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_rejected_and_nothing_is_kept() {
    let (dir, images) = setup();
    let cfg = config(&[sha256_digest(b"something else")], "/x");
    let manifest =
        serde_json::json!([{"Config": "c.json", "RepoTags": ["bad:1"], "Layers": ["l/layer.tar"]}]);
    let archive = TarBuilder::new()
        .file("l/layer.tar", 0o644, &layer("x", b"x"))
        .file("c.json", 0o644, &cfg)
        .file("manifest.json", 0o644, manifest.to_string().as_bytes())
        .finish();
    let err = images
        .load(
            &mut &archive[..],
            &crate::engine::image::progress::ProgressSink::discard(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("layer digest mismatch"), "{err}");
    assert!(images.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(dir.path().join("image/layers"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn archives_without_an_index_or_with_escaping_paths_are_invalid() {
    let (_dir, images) = setup();
    let archive = TarBuilder::new().file("hello", 0o644, b"x").finish();
    assert!(matches!(
        images.load(
            &mut &archive[..],
            &crate::engine::image::progress::ProgressSink::discard()
        ),
        Err(EngineError::InvalidArgument(_))
    ));
    let manifest =
        serde_json::json!([{"Config": "../../../../etc/passwd", "RepoTags": [], "Layers": []}]);
    let archive = TarBuilder::new()
        .file("manifest.json", 0o644, manifest.to_string().as_bytes())
        .finish();
    assert!(matches!(
        images.load(
            &mut &archive[..],
            &crate::engine::image::progress::ProgressSink::discard()
        ),
        Err(EngineError::InvalidArgument(_))
    ));
}
