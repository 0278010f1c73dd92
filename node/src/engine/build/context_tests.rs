use super::*;

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        } else {
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
        }
        h.set_path(name).unwrap();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn extract_from(tar: &[u8], dockerfile: &str) -> (tempfile::TempDir, Result<Context>) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = extract(
        &mut &tar[..],
        dir.path().join("c"),
        dockerfile,
        Limits::default(),
    );
    (dir, ctx)
}

#[test]
fn files_land_in_the_root_with_their_checksums() {
    let tar = tar_of(&[
        ("Dockerfile", b"FROM scratch\n"),
        ("sub/", b""),
        ("sub/file.txt", b"hello\n"),
    ]);
    let (_d, ctx) = extract_from(&tar, "Dockerfile");
    let ctx = ctx.unwrap();
    assert_eq!(ctx.dockerfile, "FROM scratch\n");
    assert_eq!(
        std::fs::read(ctx.tree.root.join("sub/file.txt")).unwrap(),
        b"hello\n"
    );
    let want = tarsum::sum(
        &EntryHeader {
            name: "sub/file.txt".into(),
            mode: 0o644,
            size: 6,
            typeflag: b'0',
            ..Default::default()
        },
        b"hello\n",
    );
    assert_eq!(ctx.tree.sums.get("sub/file.txt"), Some(&want));
    assert!(ctx.tree.sums.contains_key("sub"));
}

#[test]
fn the_scratch_directory_goes_with_the_context() {
    let tar = tar_of(&[("Dockerfile", b"FROM scratch\n")]);
    let (d, ctx) = extract_from(&tar, "Dockerfile");
    drop(ctx.unwrap());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn dockerfile_lookup_errors_are_dockers() {
    let tar = tar_of(&[("dockerfile", b"FROM scratch\n"), ("empty", b"")]);
    let (_d, ctx) = extract_from(&tar, "Dockerfile");
    assert_eq!(ctx.unwrap().dockerfile, "FROM scratch\n");
    let (_d, ctx) = extract_from(&tar, "other/Dockerfile");
    assert_eq!(
        ctx.err().unwrap().to_string(),
        "Cannot locate specified Dockerfile: other/Dockerfile"
    );
    let (_d, ctx) = extract_from(&tar, "empty");
    assert_eq!(
        ctx.err().unwrap().to_string(),
        "the Dockerfile (empty) cannot be empty"
    );
}

#[test]
fn an_ignored_dockerfile_is_read_then_dropped() {
    let tar = tar_of(&[
        ("Dockerfile", b"FROM scratch\n"),
        (".dockerignore", b"Dockerfile\n.dockerignore\n"),
        ("kept", b"k"),
    ]);
    let (_d, ctx) = extract_from(&tar, "Dockerfile");
    let ctx = ctx.unwrap();
    assert_eq!(ctx.dockerfile, "FROM scratch\n");
    assert!(!ctx.tree.root.join("Dockerfile").exists());
    assert!(!ctx.tree.root.join(".dockerignore").exists());
    assert!(ctx.tree.root.join("kept").exists());
}

#[test]
fn hostile_names_stay_inside_and_limits_hold() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_mode(0o777);
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_path("esc").unwrap();
    h.set_link_name(outside.path()).unwrap();
    h.set_size(0);
    h.set_cksum();
    b.append(&h, &b""[..]).unwrap();
    for name in ["esc/pwned", "../pwned2"] {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(0o644);
        h.set_size(1);
        // Set the raw name: `set_path` refuses `..`.
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_mode(0o644);
    h.set_size(13);
    h.set_path("Dockerfile").unwrap();
    h.set_cksum();
    b.append(&h, &b"FROM scratch\n"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let (_d, ctx) = extract_from(&tar, "Dockerfile");
    // `..` is refused outright; nothing was written through the symlink before that.
    assert!(ctx.err().unwrap().to_string().contains("escapes the root"));
    assert!(
        !target.exists(),
        "a context entry was written through a symlink"
    );
    assert!(!outside.path().parent().unwrap().join("pwned2").exists());

    let dir = tempfile::tempdir().unwrap();
    let big = tar_of(&[("Dockerfile", b"FROM scratch\n"), ("blob", &[0u8; 4096])]);
    let err = extract(
        &mut &big[..],
        dir.path().join("x"),
        "Dockerfile",
        Limits {
            max_bytes: 2048,
            ..Limits::default()
        },
    )
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "build context larger than 2048 bytes");
    let err = extract(
        &mut &big[..],
        dir.path().join("x"),
        "Dockerfile",
        Limits {
            max_entries: 1,
            ..Limits::default()
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("more than 1 entries"));
}

#[test]
fn gzip_contexts_are_read() {
    use std::io::Write;
    let tar = tar_of(&[("Dockerfile", b"FROM scratch\n")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let (_d, ctx) = extract_from(&gz.finish().unwrap(), "Dockerfile");
    assert_eq!(ctx.unwrap().dockerfile, "FROM scratch\n");
}
