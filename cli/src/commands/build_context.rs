//! The build context `berth build` sends, made as the docker CLI makes it: the directory as a
//! tar, without what `.dockerignore` excludes (the Dockerfile and `.dockerignore` themselves
//! are always sent: the daemon reads and then drops them), owners as root, symlinks as links;
//! a Dockerfile outside the context goes in under a generated name.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use berth_dockerignore::Matcher;

/// A context tar and the Dockerfile's name inside it.
pub struct BuildContext {
    pub tar: Vec<u8>,
    pub dockerfile: String,
}

/// Makes the context of directory `dir`; `file` is `-f` (None: `dir/Dockerfile`).
pub fn from_dir(dir: &Path, file: Option<&Path>) -> Result<BuildContext> {
    let meta = std::fs::metadata(dir).with_context(|| {
        format!(
            "unable to prepare context: path {:?} not found",
            dir.display().to_string()
        )
    })?;
    if !meta.is_dir() {
        bail!(
            "unable to prepare context: context must be a directory: {}",
            dir.display()
        );
    }
    let abs_dir = std::fs::canonicalize(dir)?;
    let (dockerfile, outside) = match file {
        None => ("Dockerfile".to_string(), None),
        Some(f) => {
            let abs = std::fs::canonicalize(f).with_context(|| format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", f.display()))?;
            match abs.strip_prefix(&abs_dir) {
                Ok(rel) => (rel.to_string_lossy().into_owned(), None),
                Err(_) => (format!(".dockerfile.{:016x}", rand_suffix()), Some(abs)),
            }
        }
    };
    if outside.is_none()
        && !abs_dir.join(&dockerfile).exists()
        && !(file.is_none() && abs_dir.join("dockerfile").exists())
    {
        bail!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", abs_dir.join(&dockerfile).display());
    }
    let ignore = match std::fs::read_to_string(abs_dir.join(".dockerignore")) {
        Ok(text) => berth_dockerignore::read_patterns(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).context("read .dockerignore"),
    };
    let matcher = Matcher::new(&keep_build_files(ignore, &dockerfile, outside.is_some()))
        .map_err(|e| anyhow::anyhow!("error checking context: {e}"))?;
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    add_dir(&mut b, &abs_dir, "", &matcher)?;
    if let Some(path) = outside {
        let mut data = Vec::new();
        std::fs::File::open(&path)?.read_to_end(&mut data)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, &dockerfile, &data[..])?;
    }
    Ok(BuildContext {
        tar: b.into_inner()?,
        dockerfile,
    })
}

/// `-` as the context: a tar (maybe compressed) is sent as it is, its Dockerfile at `file`
/// inside it (`-f`, as docker's); anything else is a Dockerfile, sent alone (docker ignores
/// `-f` then too).
pub fn from_stdin(input: Vec<u8>, file: Option<&str>) -> Result<BuildContext> {
    let compressed = input.starts_with(&[0x1f, 0x8b])
        || input.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || input.starts_with(b"BZh")
        || input.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']);
    let is_tar = input.len() >= 512 && &input[257..262] == b"ustar";
    if compressed || is_tar {
        return Ok(BuildContext {
            tar: input,
            dockerfile: file
                .filter(|f| !f.is_empty())
                .unwrap_or("Dockerfile")
                .into(),
        });
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(input.len() as u64);
    b.append_data(&mut h, "Dockerfile", &input[..])?;
    Ok(BuildContext {
        tar: b.into_inner()?,
        dockerfile: "Dockerfile".into(),
    })
}

/// docker's `TrimBuildFilesFromExcludes`: the Dockerfile and `.dockerignore` are sent even when
/// excluded.
fn keep_build_files(
    mut excludes: Vec<String>,
    dockerfile: &str,
    from_elsewhere: bool,
) -> Vec<String> {
    let m = |p: &[String], f: &str| Matcher::new(p).is_ok_and(|m| m.matches(f));
    if m(&excludes, ".dockerignore") {
        excludes.push("!.dockerignore".into());
    }
    let df = if from_elsewhere {
        "Dockerfile"
    } else {
        dockerfile
    };
    if m(&excludes, df) {
        excludes.push(format!("!{df}"));
    }
    excludes
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    u64::try_from(t % u128::from(u64::MAX)).unwrap_or(0) ^ u64::from(std::process::id())
}

fn add_dir(b: &mut tar::Builder<Vec<u8>>, root: &Path, rel: &str, matcher: &Matcher) -> Result<()> {
    let dir: PathBuf = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in names {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = root.join(&child);
        let meta = std::fs::symlink_metadata(&path)?;
        let excluded = matcher.matches_or_parent_matches(&child);
        if excluded && !(meta.is_dir() && matcher.has_exclusions()) {
            continue;
        }
        if !excluded {
            append(b, &path, &child, &meta)?;
        }
        if meta.is_dir() {
            add_dir(b, root, &child, matcher)?;
        }
    }
    Ok(())
}

fn append(
    b: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    name: &str,
    meta: &std::fs::Metadata,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_size(0);
    let ft = meta.file_type();
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, format!("{name}/"), std::io::empty())?;
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, name, std::fs::read_link(path)?)?;
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        let f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        b.append_data(&mut h, name, f.take(meta.len()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn dockerignore_applies_but_build_files_are_always_sent() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::create_dir_all(d.join("docs")).unwrap();
        std::fs::write(d.join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::write(d.join("sub/file.txt"), "f").unwrap();
        std::fs::write(d.join("ignored.txt"), "i").unwrap();
        std::fs::write(d.join("docs/README.md"), "r").unwrap();
        std::fs::write(d.join("docs/notes.md"), "n").unwrap();
        std::fs::write(
            d.join(".dockerignore"),
            "ignored.txt\nDockerfile\n.dockerignore\ndocs\n!docs/README.md\n",
        )
        .unwrap();
        let ctx = from_dir(d, None).unwrap();
        assert_eq!(ctx.dockerfile, "Dockerfile");
        assert_eq!(
            names(&ctx.tar),
            [
                ".dockerignore",
                "Dockerfile",
                "docs/README.md",
                "sub/",
                "sub/file.txt"
            ]
        );
    }

    #[test]
    fn a_dockerfile_outside_the_context_travels_under_a_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let ctx_dir = dir.path().join("ctx");
        std::fs::create_dir_all(&ctx_dir).unwrap();
        std::fs::write(dir.path().join("Other.df"), "FROM y\n").unwrap();
        let ctx = from_dir(&ctx_dir, Some(&dir.path().join("Other.df"))).unwrap();
        assert!(ctx.dockerfile.starts_with(".dockerfile."));
        assert_eq!(names(&ctx.tar), std::slice::from_ref(&ctx.dockerfile));
        std::fs::write(ctx_dir.join("Dockerfile.ls"), "FROM z\n").unwrap();
        let ctx = from_dir(&ctx_dir, Some(&ctx_dir.join("Dockerfile.ls"))).unwrap();
        assert_eq!(ctx.dockerfile, "Dockerfile.ls");
        assert!(from_dir(&dir.path().join("missing"), None).is_err());
    }

    #[test]
    fn stdin_is_a_tar_or_a_dockerfile() {
        let ctx = from_stdin(b"FROM scratch\n".to_vec(), Some("ignored")).unwrap();
        assert_eq!(names(&ctx.tar), ["Dockerfile"]);
        let tar = ctx.tar.clone();
        assert_eq!(from_stdin(tar.clone(), None).unwrap().tar, tar);
        let inside = from_stdin(tar.clone(), Some("docker/app.Dockerfile")).unwrap();
        assert_eq!(
            inside.dockerfile, "docker/app.Dockerfile",
            "-f names the file in the tar"
        );
    }
}
