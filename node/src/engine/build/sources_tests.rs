use super::*;

fn tree() -> (tempfile::TempDir, ContextTree) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ctx");
    std::fs::create_dir_all(root.join("sub/deep")).unwrap();
    std::fs::write(root.join("a.conf"), "a").unwrap();
    std::fs::write(root.join("b.conf"), "b").unwrap();
    std::fs::write(root.join("sub/file.txt"), "f").unwrap();
    std::fs::write(root.join("sub/deep/x.conf"), "x").unwrap();
    std::os::unix::fs::symlink("sub/file.txt", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
    std::fs::write(dir.path().join("outside.txt"), "host").unwrap();
    std::os::unix::fs::symlink("../outside.txt", root.join("up")).unwrap();
    let sums = [
        ("a.conf", "suma"),
        ("b.conf", "sumb"),
        ("sub", "sumsub"),
        ("sub/file.txt", "sumf"),
        ("sub/deep", "sumdeep"),
        ("sub/deep/x.conf", "sumx"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (dir, ContextTree { root, sums })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn files_directories_and_the_whole_context() {
    let (_d, t) = tree();
    let got = resolve(&t, &strings(&["/a.conf", "./sub"])).unwrap();
    assert_eq!(
        got[0],
        Source {
            rel: "a.conf".into(),
            sum: "file:suma".into()
        }
    );
    assert_eq!(got[1].rel, "sub");
    let mut below = strings(&["sumsub", "sumdeep", "sumx", "sumf"]);
    below.sort();
    assert_eq!(got[1].sum, tarsum::combine("dir", &below));
    let all = resolve(&t, &strings(&["."])).unwrap();
    assert!(all[0].sum.starts_with("dir:"));
    assert_eq!(
        combined_sum(&got),
        tarsum::combine("multi", &[got[0].sum.clone(), got[1].sum.clone()])
    );
}

#[test]
fn wildcards_match_one_level_per_star() {
    let (_d, t) = tree();
    let got = resolve(&t, &strings(&["*.conf"])).unwrap();
    assert_eq!(
        got.iter().map(|s| s.rel.as_str()).collect::<Vec<_>>(),
        ["a.conf", "b.conf"]
    );
    let got = resolve(&t, &strings(&["sub/*/*.conf"])).unwrap();
    assert_eq!(got[0].rel, "sub/deep/x.conf");
    let err = resolve(&t, &strings(&["*.nothing"])).unwrap_err();
    assert_eq!(err.to_string(), "no source files were specified");
}

#[test]
fn symlinks_resolve_inside_the_context_only() {
    let (_d, t) = tree();
    let got = resolve(&t, &strings(&["link"])).unwrap();
    assert_eq!(
        got[0],
        Source {
            rel: "link".into(),
            sum: "file:sumf".into()
        }
    );
    // `/etc` inside the context is the context's own (missing) /etc, never the host's.
    let err = resolve(&t, &strings(&["escape/passwd"])).unwrap_err();
    assert!(
        err.to_string().contains("file not found in build context"),
        "{err}"
    );
    // `../outside.txt` from the root stays at the root.
    assert!(resolve(&t, &strings(&["up"])).is_err());
    assert_eq!(
        resolve_in_tree(&t.root, "sub/../link").unwrap().as_deref(),
        Some("sub/file.txt")
    );
}

#[test]
fn a_missing_source_is_worded_as_docker_words_it() {
    let (_d, t) = tree();
    let err = resolve(&t, &strings(&["missing"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "file not found in build context or excluded by .dockerignore: stat missing: file does not exist"
    );
    let disk = DiskTree {
        root: t.root.clone(),
    };
    let err = resolve(&disk, &strings(&["missing"])).unwrap_err();
    assert_eq!(err.to_string(), "stat missing: file does not exist");
}

#[test]
fn disk_sums_change_with_content_and_mode() {
    let (_d, t) = tree();
    let a = disk_sum(&t.root, "a.conf").unwrap();
    std::fs::write(t.root.join("a.conf"), "changed").unwrap();
    let b = disk_sum(&t.root, "a.conf").unwrap();
    assert_ne!(a, b);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        t.root.join("a.conf"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_ne!(b, disk_sum(&t.root, "a.conf").unwrap());
    assert_ne!(
        disk_sum(&t.root, "sub").unwrap(),
        disk_sum(&t.root, "link").unwrap()
    );
}

#[test]
fn go_glob_rules() {
    for (p, n, want) in [
        ("*.txt", "a.txt", true),
        ("*.txt", "d/a.txt", false),
        ("?", "a", true),
        ("?", "/", false),
        ("[a-c]x", "bx", true),
        ("[^a-c]x", "bx", false),
        ("[]a]", "]", true),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("a[", "a[", false),
        ("*", "", true),
    ] {
        assert_eq!(glob_match(p, n), want, "{p} {n}");
    }
}
