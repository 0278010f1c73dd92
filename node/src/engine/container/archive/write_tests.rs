//! `cp` both ways against hostile roots and hostile archives: nothing may land, be read or be
//! chmod-ed outside the container's root.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use super::super::{stat, write_export, write_tar};
use super::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// A host directory outside the root that nothing may touch.
    outside: PathBuf,
    archive: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(root.join("dst")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(outside.join("secret"), "host only").unwrap();
    let archive = tmp.path().join("a.tar");
    Fixture {
        _tmp: tmp,
        root,
        outside,
        archive,
    }
}

enum Item<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn write_archive(path: &Path, items: &[Item<'_>]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for item in items {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(u64::from(nix::unistd::geteuid().as_raw()));
        h.set_gid(u64::from(nix::unistd::getegid().as_raw()));
        match item {
            Item::File(name, data) if name.contains("..") => {
                // tar refuses to write such names; a hostile archive has them anyway.
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o640);
                h.set_size(data.len() as u64);
                let raw = &mut h.as_gnu_mut().unwrap().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
            Item::Dir(name, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
            Item::File(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o640);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, data.as_bytes()).unwrap();
            }
            Item::Symlink(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
            Item::Hardlink(name, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
        }
    }
    b.finish().unwrap();
}

fn assert_outside_untouched(f: &Fixture) {
    let names: Vec<_> = std::fs::read_dir(&f.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secret")]);
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret")).unwrap(),
        "host only"
    );
    let mode = std::fs::metadata(&f.outside).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "the host directory's mode changed");
}

#[test]
fn a_file_round_trips_with_its_mode() {
    let f = fixture();
    std::fs::create_dir_all(f.root.join("src")).unwrap();
    std::fs::write(f.root.join("src/f"), "data").unwrap();
    std::fs::set_permissions(f.root.join("src/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut bytes = Vec::new();
    write_tar(&f.root, "/src/f", &mut bytes).unwrap();
    std::fs::write(&f.archive, bytes).unwrap();
    extract_tar(&f.root, "/dst", &f.archive, true).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/f")).unwrap(),
        "data"
    );
    let mode = std::fs::metadata(f.root.join("dst/f"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    assert!(matches!(
        extract_tar(&f.root, "/src/f", &f.archive, true),
        Err(EngineError::InvalidArgument(_))
    ));
    assert!(matches!(
        extract_tar(&f.root, "/nope", &f.archive, true),
        Err(EngineError::NotFound(_))
    ));
}

#[test]
fn a_tree_keeps_symlinks_hard_links_and_fifos_as_themselves() {
    let f = fixture();
    let src = f.root.join("tree");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("sub/a"), "a").unwrap();
    std::fs::hard_link(src.join("sub/a"), src.join("b")).unwrap();
    symlink(&f.outside, src.join("out")).unwrap();
    nix::unistd::mkfifo(
        &src.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let mut bytes = Vec::new();
    // A FIFO that was opened for reading would hang here.
    write_tar(&f.root, "/tree", &mut bytes).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        names.push((
            e.path().unwrap().display().to_string(),
            e.header().entry_type(),
        ));
    }
    assert!(
        names.contains(&("tree/out".into(), tar::EntryType::Symlink)),
        "{names:?}"
    );
    assert!(
        names.contains(&("tree/pipe".into(), tar::EntryType::Fifo)),
        "{names:?}"
    );
    // Directories end in a slash, as in Docker's archives.
    assert!(names.contains(&("tree/sub/deeper/".into(), tar::EntryType::Directory)));
    let links = names
        .iter()
        .filter(|(_, t)| *t == tar::EntryType::Link)
        .count();
    assert_eq!(links, 1, "{names:?}");
    assert!(
        !names.iter().any(|(n, _)| n.contains("secret")),
        "{names:?}"
    );
}

#[test]
fn a_path_through_a_symlink_is_read_inside_the_root() {
    let f = fixture();
    std::fs::create_dir_all(f.root.join(f.outside.strip_prefix("/").unwrap())).unwrap();
    symlink(&f.outside, f.root.join("escape")).unwrap();
    let mut bytes = Vec::new();
    assert!(matches!(
        write_tar(&f.root, "/escape/secret", &mut bytes),
        Err(EngineError::NotFound(_))
    ));
    assert!(matches!(
        stat(&f.root, "/escape/secret"),
        Err(EngineError::NotFound(_))
    ));
}

#[test]
fn an_archive_cannot_write_through_a_symlink_it_planted() {
    let f = fixture();
    let out = f.outside.display().to_string();
    write_archive(
        &f.archive,
        &[Item::Symlink("x", &out), Item::File("x/planted", "pwned")],
    );
    assert!(extract_tar(&f.root, "/dst", &f.archive, true).is_err());
    assert_outside_untouched(&f);
    write_archive(
        &f.archive,
        &[
            Item::Symlink("up", "../../.."),
            Item::File("up/planted", "x"),
        ],
    );
    assert!(extract_tar(&f.root, "/dst", &f.archive, true).is_err());
    assert_outside_untouched(&f);
}

#[test]
fn an_archive_cannot_hard_link_or_climb_out() {
    let f = fixture();
    let out = f.outside.display().to_string();
    write_archive(
        &f.archive,
        &[
            Item::Symlink("x", &out),
            Item::Hardlink("stolen", "x/secret"),
        ],
    );
    assert!(extract_tar(&f.root, "/dst", &f.archive, true).is_err());
    assert!(!f.root.join("dst/stolen").exists());
    write_archive(&f.archive, &[Item::File("../../outside/planted", "x")]);
    assert!(extract_tar(&f.root, "/dst", &f.archive, true).is_err());
    assert_outside_untouched(&f);
}

#[test]
fn a_directory_replaced_by_a_symlink_does_not_chmod_its_target() {
    let f = fixture();
    let out = f.outside.display().to_string();
    write_archive(
        &f.archive,
        &[Item::Dir("x/", 0o4777), Item::Symlink("x", &out)],
    );
    extract_tar(&f.root, "/dst", &f.archive, true).unwrap();
    assert!(std::fs::symlink_metadata(f.root.join("dst/x"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_outside_untouched(&f);
}

#[test]
fn a_destination_symlink_resolves_inside_the_root_and_files_replace_what_was_there() {
    let f = fixture();
    symlink("/dst", f.root.join("link")).unwrap();
    std::fs::create_dir_all(f.root.join("dst/old/inner")).unwrap();
    std::fs::write(f.root.join("dst/old/inner/f"), "x").unwrap();
    write_archive(
        &f.archive,
        &[Item::File("old", "now a file"), Item::File("n/m/deep", "d")],
    );
    extract_tar(&f.root, "/link", &f.archive, false).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/old")).unwrap(),
        "now a file"
    );
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/n/m/deep")).unwrap(),
        "d"
    );
    symlink(&f.outside, f.root.join("escape")).unwrap();
    assert!(matches!(
        extract_tar(&f.root, "/escape", &f.archive, false),
        Err(EngineError::NotFound(_))
    ));
    assert_outside_untouched(&f);
}

#[test]
fn export_names_entries_from_the_root() {
    let f = fixture();
    std::fs::write(f.root.join("dst/f"), "x").unwrap();
    let mut bytes = Vec::new();
    write_export(&f.root, &mut bytes).unwrap();
    let names: Vec<String> = tar::Archive::new(bytes.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, vec!["dst/", "dst/f"]);
}

#[test]
fn no_overwrite_dir_non_dir_keeps_a_directory_and_a_file_as_they_are() {
    let f = fixture();
    std::fs::create_dir_all(f.root.join("dst/data")).unwrap();
    std::fs::write(f.root.join("dst/data/keep"), "mine").unwrap();
    std::fs::write(f.root.join("dst/note"), "a file").unwrap();
    let refuse = ExtractOptions {
        keep_owners: true,
        no_overwrite_dir_non_dir: true,
    };
    // A file where a directory is, then a directory where a file is: refused, nothing lost.
    for (items, words) in [
        (
            vec![Item::File("data", "x")],
            r#"cannot overwrite directory "/dst/data" with non-directory"#,
        ),
        (
            vec![Item::Dir("note", 0o755)],
            r#"cannot overwrite non-directory "/dst/note" with directory"#,
        ),
    ] {
        write_archive(&f.archive, &items);
        match extract_tar_with(&f.root, "/dst", &f.archive, refuse) {
            Err(EngineError::Internal(m)) => assert!(m.starts_with(words), "{m}"),
            other => panic!("{words}: {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/data/keep")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/note")).unwrap(),
        "a file"
    );
    // Same kinds still replace and merge; without the option a file replaces the directory.
    write_archive(
        &f.archive,
        &[Item::File("note", "new"), Item::Dir("data", 0o755)],
    );
    extract_tar_with(&f.root, "/dst", &f.archive, refuse).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/note")).unwrap(),
        "new"
    );
    assert!(f.root.join("dst/data/keep").exists(), "directories merge");
    write_archive(&f.archive, &[Item::File("data", "x")]);
    extract_tar(&f.root, "/dst", &f.archive, true).unwrap();
    assert_eq!(
        std::fs::read_to_string(f.root.join("dst/data")).unwrap(),
        "x"
    );
}
