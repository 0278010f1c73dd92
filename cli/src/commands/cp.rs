//! `cp`: copies between a container and the local filesystem through `/containers/{id}/archive`
//! in both directions, with docker's rules for where the copy lands (an existing directory
//! receives the source by name, anything else is the new name; `dir/.` copies the contents).
//! Tars are streamed, never held whole; this file decides paths, not permissions (tar keeps them).

use std::io::{IsTerminal, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::archive;
use crate::client::Client;
use crate::output::units;

/// Go's `os.ModeDir` bit in the stat header's `mode`.
const GO_MODE_DIR: u32 = 1 << 31;
/// Go's `os.ModeSymlink`.
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// `berth cp`
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// SRC: CONTAINER:SRC_PATH, a local path, or - (a tar on stdin)
    pub src: String,
    /// DEST: CONTAINER:DEST_PATH, a local path, or - (a tar on stdout)
    pub dest: String,
}

/// Docker's `splitCpArg`: `CONTAINER:PATH` unless the argument is absolute or starts with `.`.
pub fn split_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) if !container.is_empty() && !container.starts_with('.') => {
            (Some(container), path)
        }
        _ => (None, arg),
    }
}

/// What happens to the top entry of the copied tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    /// Keeps its own name inside the destination directory.
    Keep,
    /// Becomes this name inside the destination's parent.
    To(String),
    /// Only its contents land in the destination directory (`SRC/.`).
    Contents,
}

/// Where a copy lands: the directory to extract into and how the top entry is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The existing directory that receives the tree.
    pub dir: String,
    /// How the top entry is named there.
    pub rename: Rename,
}

/// `(dirname, basename)` with trailing slashes ignored, as Go's `filepath.Split` after Clean.
pub fn split_dir_base(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return ("/".into(), ".".into());
    }
    match trimmed.rsplit_once('/') {
        Some(("", base)) => ("/".into(), base.into()),
        Some((dir, base)) => (dir.into(), base.into()),
        None => (".".into(), trimmed.into()),
    }
}

/// Docker's copy rules: `dest` is `Some(is_dir)` when it exists.
pub fn placement(
    src: &str,
    src_is_dir: bool,
    dest: &str,
    dest_is_dir: Option<bool>,
) -> Result<Placement> {
    let contents = src_is_dir && (src.ends_with("/.") || src == ".");
    match dest_is_dir {
        Some(true) => Ok(Placement {
            dir: dest.to_string(),
            rename: if contents {
                Rename::Contents
            } else {
                Rename::Keep
            },
        }),
        Some(false) if src_is_dir => bail!("cannot copy a directory to a file: {dest}"),
        None if !src_is_dir && (dest.ends_with('/') || dest.ends_with("/.")) => {
            bail!("destination directory {dest} does not exist")
        }
        Some(false) | None => {
            let (dir, base) = split_dir_base(dest.trim_end_matches("/."));
            Ok(Placement {
                dir,
                rename: Rename::To(base),
            })
        }
    }
}

/// The path below the destination directory for a tar entry, or None for the top entry of a
/// contents copy (the directory exists already). `dotted` says the archive's top entry is `.`
/// (a `dir/.` copy), so entries are already relative to it. Entries escaping are refused.
pub fn entry_target(entry: &Path, rename: &Rename, dotted: bool) -> Result<Option<PathBuf>> {
    let mut parts = Vec::new();
    for c in entry.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p),
            _ => bail!("unsafe path in archive: {}", entry.display()),
        }
    }
    let (top, rest) = match (dotted, parts.split_first()) {
        (false, Some((top, rest))) => (Some(PathBuf::from(top)), rest),
        (false, None) => return Ok(None),
        (true, _) => (None, &parts[..]),
    };
    let rest: PathBuf = rest.iter().collect();
    let below = |base: PathBuf| {
        if rest.as_os_str().is_empty() {
            base
        } else {
            base.join(&rest)
        }
    };
    let rest_only = (!rest.as_os_str().is_empty()).then(|| rest.clone());
    Ok(match (rename, top) {
        (Rename::Keep, Some(top)) => Some(below(top)),
        (Rename::To(name), _) => Some(below(PathBuf::from(name))),
        (Rename::Keep | Rename::Contents, _) => rest_only,
    })
}

/// True when a tar entry is the archive's `.` (the top of a `dir/.` copy).
pub fn is_dot(entry: &Path) -> bool {
    entry.components().all(|c| c == Component::CurDir)
}

/// `berth cp`
pub async fn cp(client: &Client, args: CpArgs) -> Result<i32> {
    let docker = client.docker()?;
    let copied = match (split_arg(&args.src), split_arg(&args.dest)) {
        ((Some(_), _), (Some(_), _)) => bail!("copying between containers is not supported"),
        ((None, _), (None, _)) => bail!("must specify at least one container source"),
        ((Some(container), src), (None, dest)) => {
            from_container(&docker, container, src, dest, args.follow_link).await?
        }
        ((None, src), (Some(container), dest)) => {
            to_container(&docker, container, src, dest, &args).await?
        }
    };
    if !args.quiet && args.dest != "-" && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {}",
            units::human_size(copied as f64, 3),
            args.dest
        );
    }
    Ok(0)
}

async fn stat(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<bollard::container::PathStatResponse, bollard::errors::Error> {
    let options = ContainerArchiveInfoOptionsBuilder::new().path(path).build();
    docker
        .get_container_archive_info(container, Some(options))
        .await
}

async fn from_container(
    docker: &Docker,
    container: &str,
    src: &str,
    dest: &str,
    follow: bool,
) -> Result<u64> {
    let options = |p: &str| DownloadFromContainerOptionsBuilder::new().path(p).build();
    let info = match stat(docker, container, src).await {
        Ok(info) => info,
        // HEAD has no body: the GET tells the user what is wrong.
        Err(head) => match docker
            .download_from_container(container, Some(options(src)))
            .next()
            .await
        {
            Some(Err(e)) => return Err(e.into()),
            _ => return Err(head.into()),
        },
    };
    let mut src = src.to_string();
    if follow && info.file_mode & GO_MODE_SYMLINK != 0 && !info.link_target.is_empty() {
        src = info.link_target.clone();
    }
    let src_info = if src == info.link_target {
        stat(docker, container, &src).await?
    } else {
        info
    };
    let mut stream = docker.download_from_container(container, Some(options(&src)));
    if dest == "-" {
        let mut out = std::io::stdout().lock();
        let mut n = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            n += chunk.len() as u64;
            out.write_all(&chunk)?;
        }
        out.flush()?;
        return Ok(n);
    }
    let dest_is_dir = std::fs::metadata(dest).ok().map(|m| m.is_dir());
    let place = placement(
        &src,
        src_info.file_mode & GO_MODE_DIR != 0,
        dest,
        dest_is_dir,
    )?;
    if !Path::new(&place.dir).is_dir() {
        bail!("lstat {}: no such file or directory", place.dir);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let extract =
        tokio::task::spawn_blocking(move || archive::extract(archive::ChanReader::new(rx), &place));
    let mut n = 0;
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                n += c.len() as u64;
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let extracted = extract.await.map_err(|e| anyhow!("extract: {e}"))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    extracted?;
    Ok(n)
}

async fn to_container(
    docker: &Docker,
    container: &str,
    src: &str,
    dest: &str,
    args: &CpArgs,
) -> Result<u64> {
    let options = |dir: &str| {
        UploadToContainerOptionsBuilder::new()
            .path(dir)
            .copy_uidgid(if args.archive { "true" } else { "false" })
            .build()
    };
    let dest_stat = stat(docker, container, dest).await.ok();
    let dest_is_dir = dest_stat.as_ref().map(|s| s.file_mode & GO_MODE_DIR != 0);
    if src == "-" {
        if dest_is_dir != Some(true) {
            bail!("destination \"{container}:{dest}\" must be a directory");
        }
        let body = bollard::body_try_stream(archive::stdin_chunks());
        docker
            .upload_to_container(container, Some(options(dest)), body)
            .await?;
        return Ok(0);
    }
    let mut local = PathBuf::from(src);
    let meta = std::fs::symlink_metadata(&local).with_context(|| format!("lstat {src}"))?;
    if args.follow_link && meta.file_type().is_symlink() {
        local = std::fs::canonicalize(&local).with_context(|| format!("resolve {src}"))?;
    }
    let src_is_dir = std::fs::symlink_metadata(&local)?.is_dir();
    let place = placement(src, src_is_dir, dest, dest_is_dir)?;
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let rename = place.rename.clone();
    let build = tokio::task::spawn_blocking(move || {
        archive::build(&local, &rename, archive::ChanWriter::new(tx))
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let uploaded = docker
        .upload_to_container(
            container,
            Some(options(&place.dir)),
            bollard::body_stream(body),
        )
        .await;
    let built = build.await.map_err(|e| anyhow!("archive: {e}"))?;
    let n = built?;
    uploaded?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_split_unless_absolute_or_dotted() {
        assert_eq!(split_arg("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split_arg("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_arg("file"), (None, "file"));
        assert_eq!(split_arg(":x"), (None, ":x"));
        assert_eq!(split_arg("-"), (None, "-"));
    }

    #[test]
    fn dirname_and_basename_ignore_trailing_slashes() {
        assert_eq!(split_dir_base("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_base("/b"), ("/".into(), "b".into()));
        assert_eq!(split_dir_base("b"), (".".into(), "b".into()));
    }

    #[test]
    fn existing_directory_receives_the_source_by_name() {
        let p = placement("/etc/hosts", false, "/tmp", Some(true)).unwrap();
        assert_eq!(
            p,
            Placement {
                dir: "/tmp".into(),
                rename: Rename::Keep
            }
        );
        let p = placement("/etc/.", true, "/tmp/", Some(true)).unwrap();
        assert_eq!(p.rename, Rename::Contents);
    }

    #[test]
    fn anything_else_is_the_new_name() {
        let p = placement("/etc/hosts", false, "/tmp/h2", None).unwrap();
        assert_eq!(
            p,
            Placement {
                dir: "/tmp".into(),
                rename: Rename::To("h2".into())
            }
        );
        let p = placement("/etc/hosts", false, "/tmp/old", Some(false)).unwrap();
        assert_eq!(p.rename, Rename::To("old".into()));
        let p = placement("/etc", true, "/tmp/copy/", None).unwrap();
        assert_eq!(
            p,
            Placement {
                dir: "/tmp".into(),
                rename: Rename::To("copy".into())
            }
        );
    }

    #[test]
    fn impossible_copies_are_refused() {
        assert!(placement("/etc", true, "/tmp/file", Some(false)).is_err());
        assert!(placement("/etc/hosts", false, "/tmp/missing/", None).is_err());
    }

    #[test]
    fn entries_are_renamed_below_the_destination() {
        let t = |p: &str, r: &Rename, dot: bool| entry_target(Path::new(p), r, dot).unwrap();
        assert_eq!(
            t("hosts", &Rename::Keep, false),
            Some(PathBuf::from("hosts"))
        );
        let to = Rename::To("etc2".into());
        assert_eq!(
            t("etc/passwd", &to, false),
            Some(PathBuf::from("etc2/passwd"))
        );
        assert_eq!(t("etc/", &to, false), Some(PathBuf::from("etc2")));
        let c = Rename::Contents;
        assert_eq!(t("etc/passwd", &c, false), Some(PathBuf::from("passwd")));
        assert_eq!(t("etc", &c, false), None);
    }

    #[test]
    fn dotted_archives_are_already_relative() {
        let t = |p: &str, r: &Rename| entry_target(Path::new(p), r, true).unwrap();
        assert!(is_dot(Path::new("./")) && !is_dot(Path::new("./a")));
        assert_eq!(t("./", &Rename::Contents), None);
        assert_eq!(t("sub/b", &Rename::Contents), Some(PathBuf::from("sub/b")));
        assert_eq!(t("./a.sh", &Rename::Contents), Some(PathBuf::from("a.sh")));
        assert_eq!(
            t("a.sh", &Rename::To("new".into())),
            Some(PathBuf::from("new/a.sh"))
        );
        assert_eq!(
            t("./", &Rename::To("new".into())),
            Some(PathBuf::from("new"))
        );
    }

    #[test]
    fn entries_escaping_the_destination_are_refused() {
        assert!(entry_target(Path::new("etc/../../x"), &Rename::Keep, false).is_err());
        assert!(entry_target(Path::new("/abs"), &Rename::Keep, false).is_err());
    }
}
