//! Tests of `save`: archive contents, loading it back, several names, kept layer tars and their
//! garbage collection, images stored without layer tars.

use super::*;
use crate::engine::image::testutil::{gzip, TarBuilder};
use crate::engine::image::ImageRecord;
use std::path::Path;

use crate::engine::image::testutil::{fresh_store as setup, open_store as open};

fn rootfs(content: &[u8]) -> Vec<u8> {
    TarBuilder::new()
        .dir("bin", 0o755)
        .file("bin/sh", 0o755, content)
        .finish()
}

fn import(images: &ImageStore, content: &[u8], tag: &str, changes: &[&str]) -> ImageRecord {
    let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
    images
        .import(&mut &rootfs(content)[..], Some(tag), &changes)
        .unwrap()
}

fn save(images: &ImageStore, names: &[&str]) -> Result<Vec<u8>> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    images.save(&names, &mut out)?;
    Ok(out)
}

/// (name, content) of every file, in archive order.
fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(archive);
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_file())
        .map(|mut e| {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn entry<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &entries.iter().find(|(n, _)| n == name).unwrap().1
}

fn json_entry(entries: &[(String, Vec<u8>)], name: &str) -> serde_json::Value {
    serde_json::from_slice(entry(entries, name)).unwrap()
}

fn blob_count(dir: &Path) -> usize {
    fs::read_dir(dir.join("image/blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn save_writes_the_config_verbatim_and_the_layer_tar_that_hashes_to_its_diff_id() {
    let (_dir, _db, images) = setup();
    let tar = rootfs(b"#!sh");
    // Imported gzipped: the archive must carry the uncompressed tar the diff id names.
    let rec = images
        .import(&mut &gzip(&tar)[..], Some("busybox"), &[])
        .unwrap();
    let archive = save(&images, &["busybox"]).unwrap();
    let all = entries(&archive);
    let (id_hex, diff_id) = (&rec.id[7..], &rec.config.rootfs.diff_ids[0]);
    let manifest = json_entry(&all, "manifest.json");
    assert_eq!(
        manifest,
        serde_json::json!([{
            "Config": format!("blobs/sha256/{id_hex}"),
            "RepoTags": ["busybox:latest"],
            "Layers": [format!("blobs/sha256/{}", &diff_id[7..])],
        }])
    );
    let config = entry(&all, &format!("blobs/sha256/{id_hex}"));
    assert_eq!(sha256_digest(config), rec.id);
    let layer = entry(&all, &format!("blobs/sha256/{}", &diff_id[7..]));
    assert_eq!(&sha256_digest(layer), diff_id);
    assert_eq!(layer, &tar[..]);
    assert_eq!(
        json_entry(&all, "repositories"),
        serde_json::json!({"busybox": {"latest": id_hex}})
    );
    let index = json_entry(&all, "index.json");
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(
        annotations["io.containerd.image.name"],
        "docker.io/library/busybox:latest"
    );
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "latest");
    assert!(all.iter().any(|(n, _)| n == "oci-layout"));
}

#[test]
fn a_saved_archive_loads_into_a_fresh_store_as_the_same_image_also_as_oci_layout() {
    let (_dir, _db, images) = setup();
    let rec = import(&images, b"#!sh", "app:v1", &["CMD [\"sh\"]"]);
    let archive = save(&images, &["app:v1"]).unwrap();
    let (_dir2, _db2, fresh) = setup();
    assert_eq!(
        fresh
            .load(
                &mut &archive[..],
                &crate::engine::image::progress::ProgressSink::discard()
            )
            .unwrap(),
        vec!["Loaded image: app:v1".to_string()]
    );
    let loaded = fresh.resolve("app:v1").unwrap();
    assert_eq!(loaded.id, rec.id);
    let dirs = fresh.layer_dirs(&loaded).unwrap();
    assert_eq!(fs::read(dirs[0].join("bin/sh")).unwrap(), b"#!sh");
    // What was loaded can be saved again, byte for byte.
    assert_eq!(save(&fresh, &["app:v1"]).unwrap(), archive);
    // Without manifest.json the archive is still a valid OCI layout.
    let mut oci = tar::Builder::new(Vec::new());
    for (name, data) in entries(&archive) {
        if name != "manifest.json" {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            oci.append_data(&mut h, &name, &data[..]).unwrap();
        }
    }
    let (_dir3, _db3, third) = setup();
    third
        .load(
            &mut &oci.into_inner().unwrap()[..],
            &crate::engine::image::progress::ProgressSink::discard(),
        )
        .unwrap();
    assert_eq!(third.resolve("app:v1").unwrap().id, rec.id);
}

#[test]
fn several_names_make_one_archive_with_each_image_and_layer_once() {
    let (_dir, _db, images) = setup();
    let a = import(&images, b"same", "a", &[]);
    images.tag(&a.id, "a2", None).unwrap();
    let b = import(&images, b"same", "b", &["USER nobody"]);
    images.tag(&b.id, "a", Some("v2")).unwrap();
    assert_eq!(a.config.rootfs.diff_ids, b.config.rootfs.diff_ids);
    let tags_of = |archive: &[u8]| -> Vec<serde_json::Value> {
        let manifest = json_entry(&entries(archive), "manifest.json");
        manifest
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["RepoTags"].clone())
            .collect()
    };
    // As moby's exporter: a name without a tag brings every tag of that repository, whatever
    // image holds it; an id adds the image without a tag; a tag only itself.
    let archive = save(&images, &["a", &a.id[7..19], "b:latest"]).unwrap();
    assert_eq!(
        tags_of(&archive),
        [
            serde_json::json!(["a:latest"]),
            serde_json::json!(["a:v2", "b:latest"])
        ]
    );
    assert_eq!(
        tags_of(&save(&images, &[&b.id[7..19]]).unwrap()),
        [serde_json::Value::Null]
    );
    let all = entries(&archive);
    let layer = format!("blobs/sha256/{}", &a.config.rootfs.diff_ids[0][7..]);
    assert_eq!(all.iter().filter(|(n, _)| *n == layer).count(), 1);
    let (_dir2, _db2, fresh) = setup();
    assert_eq!(
        fresh
            .load(
                &mut &archive[..],
                &crate::engine::image::progress::ProgressSink::discard()
            )
            .unwrap()
            .len(),
        3
    );
    assert_eq!(fresh.resolve("a").unwrap().id, a.id);
    assert_eq!(fresh.resolve("a:v2").unwrap().id, b.id);
    assert!(fresh.resolve("a2").is_err(), "not asked for");
}

#[test]
fn an_unknown_name_fails_before_anything_is_written() {
    let (_dir, _db, images) = setup();
    import(&images, b"a", "a", &[]);
    let mut out = Vec::new();
    let names = ["a".to_string(), "nope".to_string()];
    let err = images.save(&names, &mut out).unwrap_err();
    assert!(
        matches!(err, EngineError::NoSuchImage(ref n) if n == "nope"),
        "{err}"
    );
    assert!(out.is_empty());
}

#[test]
fn a_shared_layer_tar_lives_until_its_last_image_is_removed() {
    let (dir, db, images) = setup();
    let a = import(&images, b"same", "a", &[]);
    let b = import(&images, b"same", "b", &["USER nobody"]);
    let diff_id = &a.config.rootfs.diff_ids[0];
    // The layer's tar is kept as its skeleton beside the unpacked tree, not as a blob.
    let layer_tar = dir
        .path()
        .join("image/layers")
        .join(&diff_id[7..])
        .join("tar-split.json");
    assert!(layer_tar.is_file());
    assert_eq!(blob_count(dir.path()), 2); // two configs
    images.remove("a", false, &|_| None).unwrap();
    assert!(layer_tar.is_file());
    assert!(save(&images, &["b"]).is_ok());
    // Reopening collects what no image uses and keeps what one does.
    fs::write(
        dir.path().join("image/blobs/sha256").join("e".repeat(64)),
        b"x",
    )
    .unwrap();
    drop(images);
    let images = open(dir.path(), &db);
    assert_eq!(blob_count(dir.path()), 1);
    images.remove(&b.id, false, &|_| None).unwrap();
    assert!(!layer_tar.exists());
    assert_eq!(blob_count(dir.path()), 0);
}

#[test]
fn an_image_without_its_layer_tar_still_runs_and_saves_after_a_new_load() {
    let (_dir, _db, images) = setup();
    import(&images, b"#!sh", "app", &[]);
    let archive = save(&images, &["app"]).unwrap();
    let (dir, _db2, old) = setup();
    old.load(
        &mut &archive[..],
        &crate::engine::image::progress::ProgressSink::discard(),
    )
    .unwrap();
    let rec = old.resolve("app").unwrap();
    // As a store written before layer tars were kept.
    let diff_id = &rec.config.rootfs.diff_ids[0];
    let layer = dir.path().join("image/layers").join(&diff_id[7..]);
    fs::remove_file(layer.join("tar-split.json")).unwrap();
    fs::remove_file(layer.join("tar-split.gz")).unwrap();
    assert_eq!(old.layer_dirs(&rec).unwrap().len(), 1);
    let err = save(&old, &["app"]).unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("image app") && msg.contains(diff_id) && msg.contains("load the image again"),
        "{msg}"
    );
    // Loading it again keeps the tar without unpacking the layer a second time.
    old.load(
        &mut &archive[..],
        &crate::engine::image::progress::ProgressSink::discard(),
    )
    .unwrap();
    assert_eq!(save(&old, &["app"]).unwrap(), archive);
}
