//! Tests of the layer unpacker: metadata, links, whiteouts (through the fake) and breakouts.

use super::*;
use crate::engine::image::fake::{FakeLayerFs, FsCall};
use crate::engine::image::testutil::{TarBuilder, MTIME, UID};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn unpack_bytes(tar: &[u8], dest: &Path, fs: &dyn LayerFs, mode: Mode) -> Result<u64> {
    unpack(&mut tar::Archive::new(tar), dest, fs, mode)
}

#[test]
fn files_dirs_links_keep_mode_mtime_and_content() {
    let tar = TarBuilder::new()
        .dir("bin", 0o755)
        .file("bin/tool", 0o750, b"#!/bin/sh\n")
        .symlink("bin/sh", "tool")
        .hardlink("bin/tool2", "bin/tool")
        .dir("ro", 0o555)
        .file("ro/inside", 0o444, b"x")
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeLayerFs::default();
    let size = unpack_bytes(&tar, dir.path(), &fake, Mode::Layer).unwrap();
    assert_eq!(size, 11);
    let tool = fs::metadata(dir.path().join("bin/tool")).unwrap();
    assert_eq!(tool.mode() & 0o7777, 0o750);
    assert_eq!(tool.mtime(), MTIME as i64);
    assert_eq!(
        fs::read_link(dir.path().join("bin/sh")).unwrap(),
        PathBuf::from("tool")
    );
    assert_eq!(
        fs::symlink_metadata(dir.path().join("bin/sh"))
            .unwrap()
            .mtime(),
        MTIME as i64
    );
    assert_eq!(
        fs::metadata(dir.path().join("bin/tool2")).unwrap().ino(),
        tool.ino()
    );
    let ro = fs::metadata(dir.path().join("ro")).unwrap();
    assert_eq!((ro.mode() & 0o7777, ro.mtime()), (0o555, MTIME as i64));
    let calls = fake.calls_under(dir.path());
    let uid = UID;
    assert!(calls.contains(&FsCall::Lchown {
        path: "bin/tool".into(),
        uid,
        gid: uid
    }));
    assert!(calls.contains(&FsCall::Lchown {
        path: "bin/sh".into(),
        uid,
        gid: uid
    }));
    fs::set_permissions(dir.path().join("ro"), Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_opaque_dirs() {
    let tar = TarBuilder::new()
        .dir("etc", 0o755)
        .file("etc/gone", 0o644, b"old")
        .file("etc/.wh.gone", 0o644, b"")
        .file("var/.wh..wh..opq", 0o644, b"")
        .dir(".wh..wh.plnk", 0o700)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeLayerFs::default();
    unpack_bytes(&tar, dir.path(), &fake, Mode::Layer).unwrap();
    let calls = fake.calls_under(dir.path());
    let uid = UID;
    assert!(calls.contains(&FsCall::Whiteout {
        path: "etc/gone".into(),
        uid,
        gid: uid
    }));
    assert!(calls.contains(&FsCall::Opaque { dir: "var".into() }));
    // The whiteout replaced the file, and no `.wh.` name reached the layer.
    assert!(!dir.path().join("etc/gone").exists());
    assert!(!dir.path().join("etc/.wh.gone").exists());
    assert!(!dir.path().join(".wh..wh.plnk").exists());
    assert!(dir.path().join("var").is_dir());
}

#[test]
fn device_nodes_go_through_layer_fs_and_fifos_are_made() {
    let tar = TarBuilder::new()
        .dir("dev", 0o755)
        .node("dev/null", EntryType::Char, 0o666, 1, 3)
        .node("dev/sda", EntryType::Block, 0o660, 8, 0)
        .node("dev/pipe", EntryType::Fifo, 0o640, 0, 0)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeLayerFs::default();
    unpack_bytes(&tar, dir.path(), &fake, Mode::Layer).unwrap();
    let calls = fake.calls_under(dir.path());
    let null = FsCall::Mknod {
        path: "dev/null".into(),
        mode: libc::S_IFCHR | 0o666,
        major: 1,
        minor: 3,
    };
    let sda = FsCall::Mknod {
        path: "dev/sda".into(),
        mode: libc::S_IFBLK | 0o660,
        major: 8,
        minor: 0,
    };
    assert!(calls.contains(&null) && calls.contains(&sda), "{calls:?}");
    let pipe = fs::metadata(dir.path().join("dev/pipe")).unwrap();
    assert!(pipe.file_type().is_fifo());
    assert_eq!(pipe.mode() & 0o7777, 0o640);
}

#[test]
fn parent_dir_entries_that_escape_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let tar = TarBuilder::new()
        .raw("../evil", EntryType::Regular, None, b"x")
        .finish();
    let err = unpack_bytes(&tar, &root, &FakeLayerFs::default(), Mode::Layer).unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err}");
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn symlinks_and_hardlinks_cannot_reach_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(dir.path().join("secret"), b"s").unwrap();
    let outside = dir.path().display().to_string();
    let tar = TarBuilder::new()
        .symlink("abs", &outside)
        .file("abs/planted", 0o644, b"x")
        .symlink("rel", "../../../..")
        .file("rel/planted2", 0o644, b"y")
        .finish();
    unpack_bytes(&tar, &root, &FakeLayerFs::default(), Mode::Layer).unwrap();
    assert!(!dir.path().join("planted").exists());
    assert!(root
        .join(outside.trim_start_matches('/'))
        .join("planted")
        .exists());
    assert!(root.join("planted2").exists());
    let tar = TarBuilder::new()
        .raw("steal", EntryType::Link, Some("../secret"), b"")
        .finish();
    assert!(unpack_bytes(&tar, &root, &FakeLayerFs::default(), Mode::Layer).is_err());
    assert!(!root.join("steal").exists());
}

#[test]
fn a_directory_later_replaced_by_a_symlink_does_not_chmod_the_host() {
    // The review's finding: `x/` (0777, or setuid) then `x -> <host dir>` made the final
    // directory pass chmod the host directory through the symlink.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let host = dir.path().join("host-etc");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&host).unwrap();
    fs::set_permissions(&host, Permissions::from_mode(0o700)).unwrap();
    let target = host.display().to_string();
    for perm in [0o777, 0o4755] {
        let tar = TarBuilder::new()
            .dir("x", perm)
            .symlink("x", &target)
            .dir("y/z", perm)
            .symlink("y", &target)
            .finish();
        unpack_bytes(&tar, &root, &FakeLayerFs::default(), Mode::Layer).unwrap();
        assert_eq!(fs::metadata(&host).unwrap().mode() & 0o7777, 0o700);
        assert!(fs::symlink_metadata(root.join("x"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn later_entries_replace_earlier_ones_but_dirs_merge() {
    let tar = TarBuilder::new()
        .file("a", 0o644, b"file")
        .dir("a", 0o755)
        .file("a/x", 0o644, b"1")
        .dir("a", 0o700)
        .symlink("l", "a")
        .file("l", 0o644, b"now a file")
        .finish();
    let dir = tempfile::tempdir().unwrap();
    unpack_bytes(&tar, dir.path(), &FakeLayerFs::default(), Mode::Layer).unwrap();
    assert!(dir.path().join("a/x").is_file());
    assert_eq!(
        fs::metadata(dir.path().join("a")).unwrap().mode() & 0o777,
        0o700
    );
    assert_eq!(fs::read(dir.path().join("l")).unwrap(), b"now a file");
}

#[test]
fn archive_mode_skips_owners_devices_and_whiteout_conversion() {
    let tar = TarBuilder::new()
        .file("manifest.json", 0o644, b"[]")
        .file(".wh.kept", 0o644, b"")
        .node("null", EntryType::Char, 0o666, 1, 3)
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeLayerFs::default();
    unpack_bytes(&tar, dir.path(), &fake, Mode::Archive).unwrap();
    assert!(fake.calls_under(dir.path()).is_empty());
    assert!(dir.path().join(".wh.kept").is_file());
    assert!(!dir.path().join("null").exists());
}

#[test]
fn host_layer_fs_makes_real_whiteouts_when_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP (needs root): host_layer_fs_makes_real_whiteouts_when_root");
        return;
    }
    let tar = TarBuilder::new().file(".wh.gone", 0o644, b"").finish();
    let dir = tempfile::tempdir().unwrap();
    unpack_bytes(
        &tar,
        dir.path(),
        &super::super::HostLayerFs::new(),
        Mode::Layer,
    )
    .unwrap();
    let meta = fs::symlink_metadata(dir.path().join("gone")).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!((meta.rdev(), meta.uid()), (0, UID));
}
