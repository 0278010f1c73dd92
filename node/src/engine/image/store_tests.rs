//! Tests of lookups, tags and removal rules, on images made by `import` with a fake layer fs.

use super::*;
use crate::engine::image::testutil::TarBuilder;
use crate::engine::image::ImageUser;
use crate::engine::image::RemovedItem::{Deleted, Untagged};

use crate::engine::image::testutil::{fresh_store as setup, open_store as open};

fn import(images: &ImageStore, content: &[u8], tag: Option<&str>, changes: &[&str]) -> ImageRecord {
    let tar = TarBuilder::new().file("data", 0o644, content).finish();
    let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
    images.import(&mut &tar[..], tag, &changes).unwrap()
}

fn never(_: &str) -> Option<ImageUser> {
    None
}

/// Every image used by a stopped container `c0ffee…`.
fn always(_: &str) -> Option<ImageUser> {
    Some(ImageUser {
        container: "c0ffee0123456789".into(),
        running: false,
    })
}

fn layer_count(dir: &Path) -> usize {
    fs::read_dir(dir.join("image/layers")).unwrap().count()
}

#[test]
fn resolve_accepts_names_full_references_ids_and_prefixes() {
    let (_dir, _db, images) = setup();
    let rec = import(&images, b"a", Some("busybox"), &[]);
    let hex = rec.id.strip_prefix("sha256:").unwrap();
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &rec.id,
        hex,
        &hex[..1],
        &hex[..12],
    ] {
        assert_eq!(images.resolve(name).unwrap().id, rec.id, "{name}");
    }
    assert_eq!(
        images.resolve("busybox").unwrap().repo_tags,
        vec!["busybox:latest".to_string()]
    );
    // Named as Docker names them: a name gets its tag, an id or a bad name stays as given.
    for (missing, named) in [
        ("busybox:1.0", "busybox:1.0"),
        ("alpine", "alpine:latest"),
        ("docker.io/library/alpine", "alpine:latest"),
        ("abcdef", "abcdef:latest"),
        ("sha256:ffff", "sha256:ffff"),
        ("Not A Name", "Not A Name"),
    ] {
        let err = images.resolve(missing).unwrap_err();
        assert!(
            matches!(err, EngineError::NoSuchImage(ref n) if n == named),
            "{missing}: {err}"
        );
    }
}

#[test]
fn ambiguous_id_prefixes_match_nothing() {
    let (_dir, _db, images) = setup();
    let mut ids = Vec::new();
    for i in 0..40u8 {
        ids.push(import(&images, &[i], None, &[]).id);
    }
    // With 40 ids some two share a first hex digit; that prefix must not resolve.
    let shared = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|p| {
            ids.iter()
                .filter(|id| id[7..].starts_with(p.as_str()))
                .count()
                > 1
        })
        .unwrap();
    assert!(images.resolve(&shared).is_err());
}

#[test]
fn tag_adds_names_and_moves_an_existing_tag() {
    let (_dir, _db, images) = setup();
    let a = import(&images, b"a", Some("app:v1"), &[]);
    let b = import(&images, b"b", None, &[]);
    images.tag(&a.id, "app", None).unwrap();
    images
        .tag("app:v1", "localhost:5000/app", Some("prod"))
        .unwrap();
    images.tag("app:v1", "mirror/app:x", None).unwrap();
    let tags = images.resolve(&a.id).unwrap().repo_tags;
    assert_eq!(
        tags,
        [
            "app:latest",
            "app:v1",
            "localhost:5000/app:prod",
            "mirror/app:x"
        ]
    );
    images.tag(&b.id, "app", Some("v1")).unwrap();
    assert_eq!(images.resolve("app:v1").unwrap().id, b.id);
    assert!(images.tag(&a.id, "Bad", None).is_err());
    assert!(images.tag(&a.id, "app:x", Some("y")).is_err());
    assert!(matches!(
        images.tag("nope", "app", None),
        Err(EngineError::NoSuchImage(_))
    ));
    assert_eq!(images.list().unwrap().len(), 2);
}

#[test]
fn a_tag_given_here_stamps_the_image_and_an_untagged_import_has_no_stamp() {
    let (_dir, _db, images) = setup();
    let plain = import(&images, b"a", None, &[]);
    assert_eq!(plain.last_tag_time, None);
    let before = chrono::Utc::now();
    images.tag(&plain.id, "app", None).unwrap();
    let stamped = images
        .resolve("app")
        .unwrap()
        .last_tag_time
        .expect("stamped");
    assert!(stamped >= before);
    let named = import(&images, b"b", Some("other:1"), &[]);
    assert!(named.last_tag_time.is_some_and(|t| t >= before));
    assert_eq!(
        images.resolve(&plain.id).unwrap().last_tag_time,
        Some(stamped),
        "another image's tag leaves this one's stamp"
    );
}

#[test]
fn removing_one_of_several_tags_only_untags() {
    let (_dir, _db, images) = setup();
    let a = import(&images, b"a", Some("app:v1"), &[]);
    images.tag(&a.id, "app", Some("v2")).unwrap();
    assert_eq!(
        images.remove("app:v1", false, &always).unwrap(),
        vec![Untagged("app:v1".into())]
    );
    assert_eq!(images.resolve(&a.id).unwrap().repo_tags, ["app:v2"]);
}

#[test]
fn removing_the_last_tag_deletes_the_image_and_its_layer() {
    let (dir, _db, images) = setup();
    let a = import(&images, b"a", Some("app"), &[]);
    assert_eq!(layer_count(dir.path()), 1);
    let items = images.remove("app", false, &never).unwrap();
    assert_eq!(
        items,
        vec![Untagged("app:latest".into()), Deleted(a.id.clone())]
    );
    assert!(images.list().unwrap().is_empty());
    assert_eq!(layer_count(dir.path()), 0);
    assert_eq!(
        fs::read_dir(dir.path().join("image/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn layers_shared_by_another_image_survive_its_removal() {
    let (dir, _db, images) = setup();
    let a = import(&images, b"same", Some("a"), &[]);
    let b = import(&images, b"same", Some("b"), &["USER nobody"]);
    assert_ne!(a.id, b.id);
    assert_eq!(layer_count(dir.path()), 1);
    images.remove("a", false, &never).unwrap();
    assert_eq!(images.layer_dirs(&b).unwrap().len(), 1);
    images.remove(&b.id, false, &never).unwrap();
    assert_eq!(layer_count(dir.path()), 0);
}

#[test]
fn in_use_images_are_refused_without_force_and_only_untagged_with_it() {
    let (_dir, _db, images) = setup();
    let a = import(&images, b"a", Some("app"), &[]);
    let short = &a.id[7..19];
    let err = images
        .remove("app", false, &|id| always(id).filter(|_| id == a.id))
        .unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)));
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to remove repository reference \"app\" (must force) - container c0ffee012345 is using its referenced image {short}")
    );
    let err = images.remove(short, false, &always).unwrap_err();
    assert_eq!(err.to_string(), format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container c0ffee012345"));
    // A running container's image is refused by id even forced (moby's hard conflict).
    let running = |_: &str| {
        Some(ImageUser {
            container: "beef0123456789ab".into(),
            running: true,
        })
    };
    let err = images.remove(short, true, &running).unwrap_err();
    assert_eq!(err.to_string(), format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container beef01234567"));
    assert_eq!(
        images.remove("app", true, &always).unwrap(),
        vec![Untagged("app:latest".into())]
    );
    let rec = images.resolve(&a.id).unwrap();
    assert!(rec.repo_tags.is_empty());
    assert!(images.remove(&a.id, true, &always).unwrap().is_empty());
    assert_eq!(
        images.remove(&a.id, false, &never).unwrap(),
        vec![Deleted(a.id.clone())]
    );
}

#[test]
fn deleting_by_id_across_repositories_needs_force() {
    let (_dir, _db, images) = setup();
    let a = import(&images, b"a", Some("one:1"), &[]);
    images.tag(&a.id, "one", Some("2")).unwrap();
    images.tag(&a.id, "two", None).unwrap();
    let err = images.remove(&a.id, false, &never).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("image is referenced in multiple repositories"),
        "{err}"
    );
    let items = images.remove(&a.id, true, &never).unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[3], Deleted(a.id.clone()));
    // Tags of one repository only: no force needed.
    let b = import(&images, b"b", Some("one:1"), &[]);
    images.tag(&b.id, "one", Some("2")).unwrap();
    assert_eq!(images.remove(&b.id, false, &never).unwrap().len(), 3);
}

#[test]
fn reopening_keeps_images_and_removes_leftovers() {
    let (dir, db, images) = setup();
    let a = import(&images, b"a", Some("app"), &[]);
    let root = dir.path().join("image");
    fs::create_dir_all(root.join("layers/abc.tmp-1/root")).unwrap();
    fs::create_dir_all(root.join(format!("layers/{}", "f".repeat(64)))).unwrap();
    fs::write(root.join("blobs/sha256/x.tmp-2"), b"half").unwrap();
    fs::create_dir_all(root.join("tmp/load-3")).unwrap();
    drop(images);
    let images = open(dir.path(), &db);
    assert_eq!(images.resolve("app").unwrap().id, a.id);
    assert_eq!(layer_count(dir.path()), 1);
    // The config; the layer's tar is kept as a skeleton beside its tree.
    assert_eq!(fs::read_dir(root.join("blobs/sha256")).unwrap().count(), 1);
    assert!(images.has_layer(&a.config.rootfs.diff_ids[0]).unwrap());
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(images.layer_dirs(&a).unwrap()[0].join("data").is_file());
}

#[test]
fn list_is_newest_first_with_tags() {
    let (_dir, _db, images) = setup();
    let a = import(&images, b"a", Some("a"), &[]);
    let b = import(&images, b"b", Some("b"), &[]);
    let list = images.list().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0].created >= list[1].created);
    let tags: Vec<_> = list
        .iter()
        .map(|r| (r.id.clone(), r.repo_tags.clone()))
        .collect();
    assert!(tags.contains(&(a.id, vec!["a:latest".to_string()])));
    assert!(tags.contains(&(b.id, vec!["b:latest".to_string()])));
}

#[test]
fn the_store_is_shareable_across_threads_and_concurrent_imports_share_one_layer() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<ImageStore>();
    let (dir, _db, images) = setup();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let images = images.clone();
            std::thread::spawn(move || import(&images, b"same", Some(&format!("t:{i}")), &[]).id)
        })
        .collect();
    let ids: HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(!ids.is_empty());
    assert_eq!(layer_count(dir.path()), 1);
    assert_eq!(
        images
            .list()
            .unwrap()
            .iter()
            .map(|r| r.repo_tags.len())
            .sum::<usize>(),
        4
    );
}
