//! Tests of the tar-split recording: the tar read back is the tar unpacked, byte for byte, and
//! a layer keeps its whole tar only when the tar itself overwrote a file's content.

use super::*;
use crate::engine::image::testutil::{fresh_store, gzip, TarBuilder};
use crate::engine::image::ImageStore;
use std::os::unix::ffi::OsStrExt;

/// Unpacks `tar` as a layer; its diff id.
fn unpack(images: &ImageStore, tar: &[u8]) -> String {
    images.unpack_layer(&mut &tar[..], None).unwrap().diff_id
}

fn read_back(images: &ImageStore, diff_id: &str) -> io::Result<Vec<u8>> {
    let (mut tar, size) = images.layer_tar(diff_id).unwrap().unwrap();
    let mut out = Vec::new();
    tar.read_to_end(&mut out)?;
    assert_eq!(out.len() as u64, size);
    Ok(out)
}

fn whole_blob_kept(images: &ImageStore, diff_id: &str) -> bool {
    images.blob_path(diff_id).unwrap().is_file()
}

fn layer_root(images: &ImageStore, diff_id: &str) -> PathBuf {
    images.layer_dir(diff_id).unwrap().join("root")
}

fn varied_tar() -> Vec<u8> {
    let long = format!("dir/{}", "n".repeat(150));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut tar = TarBuilder::new()
        .dir("dir", 0o755)
        .file("dir/empty", 0o644, b"")
        .file("dir/big", 0o644, &big)
        .file(&long, 0o600, b"long name")
        .symlink("dir/link", "big")
        .hardlink("dir/hard", "dir/big")
        .file("dir/.wh.gone", 0o644, b"")
        .file("dir/.wh..wh..opq", 0o644, b"")
        .file("last", 0o644, b"tail")
        .finish();
    // Writers pad the end differently; the padding is part of the diff id.
    tar.extend_from_slice(&[0u8; 2048]);
    tar
}

#[test]
fn a_layer_keeps_a_skeleton_not_its_tar_and_reads_back_the_same_bytes() {
    let (_dir, _db, images) = fresh_store();
    let tar = varied_tar();
    let diff_id = unpack(&images, &tar);
    assert!(!whole_blob_kept(&images, &diff_id));
    assert!(images.has_layer(&diff_id).unwrap());
    assert_eq!(read_back(&images, &diff_id).unwrap(), tar);
    // What is kept beside the tree is a small part of the tar.
    let dir = images.layer_dir(&diff_id).unwrap();
    let kept = fs::metadata(dir.join(SKELETON_FILE)).unwrap().len()
        + fs::metadata(dir.join(INDEX_FILE)).unwrap().len();
    assert!(
        kept < 4096,
        "{kept} bytes kept for a {}-byte tar",
        tar.len()
    );
}

#[test]
fn a_compressed_layer_reads_back_as_its_plain_tar() {
    let (_dir, _db, images) = fresh_store();
    let tar = varied_tar();
    let diff_id = unpack(&images, &gzip(&tar));
    assert_eq!(read_back(&images, &diff_id).unwrap(), tar);
}

#[test]
fn a_tar_that_overwrites_its_own_files_keeps_its_whole_tar() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "the same file twice",
            TarBuilder::new()
                .file("a", 0o644, b"first")
                .file("a", 0o644, b"second")
                .finish(),
        ),
        (
            "a directory replaced by a file",
            TarBuilder::new()
                .dir("d", 0o755)
                .file("d/f", 0o644, b"inside")
                .file("d", 0o644, b"now a file")
                .finish(),
        ),
        (
            "a file whited out in its own layer",
            TarBuilder::new()
                .file("x", 0o644, b"short-lived")
                .file(".wh.x", 0o644, b"")
                .finish(),
        ),
        (
            "a parent made a symlink after its file",
            TarBuilder::new()
                .dir("p", 0o755)
                .file("p/f", 0o644, b"content")
                .symlink("p", "elsewhere")
                .finish(),
        ),
    ];
    for (case, tar) in cases {
        let (_dir, _db, images) = fresh_store();
        let diff_id = unpack(&images, &tar);
        assert!(whole_blob_kept(&images, &diff_id), "{case}");
        assert_eq!(read_back(&images, &diff_id).unwrap(), tar, "{case}");
        let dir = images.layer_dir(&diff_id).unwrap();
        assert!(!dir.join(INDEX_FILE).exists(), "{case}");
        assert!(!dir.join(SKELETON_FILE).exists(), "{case}");
    }
}

#[test]
fn files_replaced_before_any_content_still_split() {
    // Nothing with content was overwritten: the directory entry twice merges, and a symlink
    // replaced before any file was written loses nothing.
    let (_dir, _db, images) = fresh_store();
    let tar = TarBuilder::new()
        .symlink("s", "x")
        .symlink("s", "y")
        .dir("d", 0o755)
        .dir("d", 0o700)
        .file("d/f", 0o644, b"kept")
        .finish();
    let diff_id = unpack(&images, &tar);
    assert!(!whole_blob_kept(&images, &diff_id));
    assert_eq!(read_back(&images, &diff_id).unwrap(), tar);
}

#[test]
fn a_name_json_cannot_hold_keeps_the_whole_tar() {
    let (_dir, _db, images) = fresh_store();
    // The unpacker writes a file's own name as lossy UTF-8, its directories' names as they are.
    let name = std::ffi::OsStr::from_bytes(b"bad\xffdir/name");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_path(name).unwrap();
    h.set_cksum();
    b.append(&h, &b"abc"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let diff_id = unpack(&images, &tar);
    assert!(whole_blob_kept(&images, &diff_id));
    assert_eq!(read_back(&images, &diff_id).unwrap(), tar);
}

#[test]
fn a_file_changed_under_the_store_fails_the_read_instead_of_giving_a_wrong_tar() {
    let (_dir, _db, images) = fresh_store();
    let tar = varied_tar();
    let diff_id = unpack(&images, &tar);
    let last = layer_root(&images, &diff_id).join("last");
    fs::write(&last, b"TAIL").unwrap();
    let err = read_back(&images, &diff_id).unwrap_err();
    assert!(err.to_string().contains("no longer matches"), "{err}");
    // A reader that stops at the tar's size gets the error too.
    let (tar_back, size) = images.layer_tar(&diff_id).unwrap().unwrap();
    let err = io::copy(&mut tar_back.take(size), &mut io::sink()).unwrap_err();
    assert!(err.to_string().contains("no longer matches"), "{err}");
    fs::write(&last, b"longer now").unwrap();
    let err = read_back(&images, &diff_id).unwrap_err();
    assert!(err.to_string().contains("no longer 4 bytes"), "{err}");
    fs::remove_file(&last).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &last).unwrap();
    let err = read_back(&images, &diff_id).unwrap_err();
    assert!(err.to_string().contains("no longer a file"), "{err}");
}

#[test]
fn a_digest_mismatch_leaves_no_skeleton_or_blob() {
    let (dir, _db, images) = fresh_store();
    let tar = varied_tar();
    let wrong = format!("sha256:{}", "0".repeat(64));
    assert!(images.unpack_layer(&mut &tar[..], Some(&wrong)).is_err());
    let left: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("tar-split") || s.contains("/blobs/sha256/") || s.contains("/layers/")
        })
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
