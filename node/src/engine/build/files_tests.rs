use super::*;

struct Roots {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    src: std::path::PathBuf,
    scratch: std::path::PathBuf,
}

fn roots() -> Roots {
    let dir = tempfile::tempdir().unwrap();
    let (root, src, scratch) = (
        dir.path().join("root"),
        dir.path().join("src"),
        dir.path().join("scratch"),
    );
    for d in [&root, &src, &scratch] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::create_dir_all(src.join("dir/sub")).unwrap();
    std::fs::write(src.join("dir/a"), "a").unwrap();
    std::fs::write(src.join("dir/sub/b"), "b").unwrap();
    std::fs::write(src.join("file.txt"), "f").unwrap();
    std::os::unix::fs::symlink("file.txt", src.join("link")).unwrap();
    Roots {
        _dir: dir,
        root,
        src,
        scratch,
    }
}

fn copy(r: &Roots, rel: &str, dest: &str, chown: Option<&str>) -> FileOp {
    FileOp::Copy {
        source: FileSource::Tree {
            root: r.src.clone(),
            rel: rel.into(),
        },
        dest: dest.into(),
        chown: chown.map(str::to_string),
        chmod: None,
        extract: false,
        keep_owner: false,
    }
}

fn skip_unless_root(name: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    eprintln!("SKIP (needs root): {name}");
    true
}

#[test]
fn files_directories_and_chown_land_as_docker_places_them() {
    if skip_unless_root("files_directories_and_chown_land_as_docker_places_them") {
        return;
    }
    let r = roots();
    let ops = vec![
        copy(&r, "file.txt", "/app/", None),
        copy(&r, "file.txt", "/renamed.txt", None),
        copy(&r, "dir", "/opt/dir", Some("nobody:nogroup")),
        copy(&r, "link", "/app/", None),
        FileOp::Mkdir {
            path: "/work/a/b".into(),
        },
    ];
    apply(&r.root, &ops, &r.scratch).unwrap();
    assert_eq!(std::fs::read(r.root.join("app/file.txt")).unwrap(), b"f");
    assert_eq!(std::fs::read(r.root.join("renamed.txt")).unwrap(), b"f");
    assert_eq!(std::fs::read(r.root.join("opt/dir/sub/b")).unwrap(), b"b");
    let m = std::fs::metadata(r.root.join("opt/dir/a")).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    // A symlink source is copied as what it points to, under its own name.
    assert_eq!(std::fs::read(r.root.join("app/link")).unwrap(), b"f");
    assert!(r.root.join("work/a/b").is_dir());
}

#[test]
fn a_symlink_in_the_image_never_leads_out_of_the_root() {
    if skip_unless_root("a_symlink_in_the_image_never_leads_out_of_the_root") {
        return;
    }
    let r = roots();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), r.root.join("escape")).unwrap();
    apply(
        &r.root,
        &[copy(&r, "file.txt", "/escape/x/", None)],
        &r.scratch,
    )
    .unwrap();
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "wrote outside the root"
    );
    let inside = r
        .root
        .join(outside.path().strip_prefix("/").unwrap())
        .join("x/file.txt");
    assert!(inside.exists());
}

#[test]
fn chown_names_are_looked_up_in_the_image() {
    let r = roots();
    assert_eq!(
        parse_chown(&r.root, "nobody:nogroup").unwrap(),
        (65534, 65534)
    );
    assert_eq!(parse_chown(&r.root, "1000").unwrap(), (1000, 1000));
    assert_eq!(parse_chown(&r.root, "1:2").unwrap(), (1, 2));
    assert_eq!(
        parse_chown(&r.root, "nobody").unwrap_err().to_string(),
        "unable to convert uid/gid chown string to host mapping: can't find gid for group nobody"
    );
    assert!(parse_chown(&r.root, "a:b:c")
        .unwrap_err()
        .to_string()
        .contains("invalid chown string format"));
}

#[test]
fn add_extracts_local_archives_and_copies_other_files() {
    if skip_unless_root("add_extracts_local_archives_and_copies_other_files") {
        return;
    }
    let r = roots();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(3);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_path("lib/v").unwrap();
    h.set_cksum();
    b.append(&h, &b"9.9"[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    std::fs::write(r.src.join("v.tar.gz"), gz.finish().unwrap()).unwrap();
    let add = |rel: &str, dest: &str| FileOp::Copy {
        source: FileSource::Tree {
            root: r.src.clone(),
            rel: rel.into(),
        },
        dest: dest.into(),
        chown: None,
        chmod: Some(0o600),
        extract: true,
        keep_owner: false,
    };
    apply(
        &r.root,
        &[
            add("v.tar.gz", "/opt/vendor/"),
            add("file.txt", "/opt/plain"),
        ],
        &r.scratch,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(r.root.join("opt/vendor/lib/v")).unwrap(),
        b"9.9"
    );
    assert_eq!(std::fs::read(r.root.join("opt/plain")).unwrap(), b"f");
    assert_eq!(
        std::fs::metadata(r.root.join("opt/plain")).unwrap().mode() & 0o777,
        0o600
    );
}
