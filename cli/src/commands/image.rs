//! Image commands: `images`, `import`, `load`, `save`, `tag`, `rmi`. Tarballs are streamed, never
//! held in memory whole.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bollard::models::ImageSummary;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ImportImageOptionsBuilder, ListImagesOptionsBuilder,
    RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use bollard::{body_try_stream, Docker};
use bytes::Bytes;
use clap::Args;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ps::{created_at, filters, short_id};
use crate::client::Client;
use crate::output::{render_rows, units};
use crate::parse;

const DEFAULT_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
/// docker's with `--digests`.
const DIGESTS_FORMAT: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// `berth images`
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// file or - for stdin
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth load`
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth save`
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth tag`
#[derive(Debug, Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// `berth rmi`
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// IMAGE...
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth images`
pub async fn images(client: &Client, args: ImagesArgs) -> Result<i32> {
    let mut filter_map = filters(&args.filter);
    if let Some(r) = &args.reference {
        filter_map
            .entry("reference".into())
            .or_default()
            .push(r.clone());
    }
    let options = ListImagesOptionsBuilder::new()
        .all(args.all)
        .filters(&filter_map)
        .build();
    let list = client.docker()?.list_images(Some(options)).await?;
    let now = chrono::Utc::now().timestamp();
    let digests = Digests {
        asked: args.digests,
        shown: args.digests
            || args
                .format
                .as_deref()
                .is_some_and(|f| f.contains("{{.Digest}}")),
    };
    let mut rows: Vec<Value> = list
        .iter()
        .flat_map(|i| rows_of(i, !args.no_trunc, digests, now))
        .collect();
    let format = if args.quiet {
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| seen.insert(r["ID"].as_str().unwrap_or_default().to_string()));
        "{{.ID}}".to_string()
    } else {
        let default = if args.digests {
            DIGESTS_FORMAT
        } else {
            DEFAULT_FORMAT
        };
        args.format.unwrap_or_else(|| default.to_string())
    };
    let header = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    });
    print!("{}", render_rows(&format, &header, &rows)?);
    Ok(0)
}

/// Whether `images` shows digests.
#[derive(Debug, Clone, Copy, Default)]
struct Digests {
    /// `--digests`.
    asked: bool,
    /// `--digests`, or a format with `{{.Digest}}` (docker's `needDigest`).
    shown: bool,
}

/// One row per repository tag (`<none>` when untagged), as docker lists them: with digests
/// shown one per tag and digest of its repository; a repository known only by digest gets a
/// row of its own with tag `<none>` (one per digest when asked for).
fn rows_of(image: &ImageSummary, trunc: bool, digests: Digests, now: i64) -> Vec<Value> {
    let id = if trunc {
        short_id(&image.id)
    } else {
        image.id.clone()
    };
    let size = units::human_size(image.size as f64, 3);
    let row = |repo: &str, tag: &str, digest: &str| {
        json!({
            "Repository": repo, "Tag": tag, "ID": id, "Digest": digest,
            "CreatedSince": units::ago(image.created, now), "CreatedAt": created_at(image.created),
            "Size": size, "VirtualSize": size,
            "SharedSize": if image.shared_size < 0 { "N/A".to_string() } else { units::human_size(image.shared_size as f64, 3) },
            "UniqueSize": if image.shared_size < 0 { "N/A".to_string() } else { units::human_size(image.size.saturating_sub(image.shared_size) as f64, 3) },
            "Containers": if image.containers < 0 { "N/A".to_string() } else { image.containers.to_string() },
        })
    };
    let tagged: Vec<(String, String)> = image
        .repo_tags
        .iter()
        .filter(|t| *t != "<none>:<none>")
        .map(|t| parse::repo_tag(t))
        .collect();
    let mut by_repo: Vec<(String, Vec<String>)> = Vec::new();
    for d in image.repo_digests.iter().filter(|d| *d != "<none>@<none>") {
        let Some((repo, digest)) = d.split_once('@') else {
            continue;
        };
        match by_repo.iter_mut().find(|(r, _)| r == repo) {
            Some((_, list)) => list.push(digest.to_string()),
            None => by_repo.push((repo.to_string(), vec![digest.to_string()])),
        }
    }
    if tagged.is_empty() && by_repo.is_empty() {
        return vec![row("<none>", "<none>", "<none>")];
    }
    let digests_of = |repo: &str| {
        by_repo
            .iter()
            .find(|(r, _)| r == repo)
            .map_or(&[][..], |(_, d)| d.as_slice())
    };
    let mut rows = Vec::new();
    for (repo, tag) in &tagged {
        match digests_of(repo) {
            all if digests.shown && !all.is_empty() => {
                rows.extend(all.iter().map(|d| row(repo, tag, d)));
            }
            _ => rows.push(row(repo, tag, "<none>")),
        }
    }
    for (repo, list) in by_repo
        .iter()
        .filter(|(r, _)| !tagged.iter().any(|(t, _)| t == r))
    {
        // docker's `Digest` flag alone here, not a format showing them.
        if digests.asked {
            rows.extend(list.iter().map(|d| row(repo, "<none>", d)));
        } else {
            rows.push(row(repo, "<none>", ""));
        }
    }
    rows
}

/// Streams `reader` in 64 KiB chunks.
fn byte_stream<R>(reader: R) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
{
    futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    })
}

async fn open_input(path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>> {
    if path == "-" {
        return Ok(Box::new(tokio::io::stdin()));
    }
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("open {path}"))?;
    Ok(Box::new(file))
}

/// `berth import`: `POST /images/create?fromSrc=-` with the tarball as body; prints the image id.
pub async fn import(client: &Client, args: ImportArgs) -> Result<i32> {
    let input = open_input(&args.file).await?;
    // Like docker's CLI: the whole reference goes in `repo`, the daemon splits off the tag.
    let mut options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .changes(args.change.clone());
    if let Some(r) = &args.reference {
        options = options.repo(r);
    }
    if let Some(m) = &args.message {
        options = options.message(m);
    }
    let docker = client.docker()?;
    let mut stream = docker.create_image(
        Some(options.build()),
        Some(body_try_stream(byte_stream(input))),
        None,
    );
    while let Some(info) = stream.next().await {
        if let Some(status) = info?.status {
            println!("{status}");
        }
    }
    Ok(0)
}

/// `berth load`: `POST /images/load` with the tarball; prints "Loaded image: …".
pub async fn load(client: &Client, args: LoadArgs) -> Result<i32> {
    let input: Box<dyn AsyncRead + Send + Unpin> = match &args.input {
        Some(path) => open_input(&path.to_string_lossy()).await?,
        None if std::io::stdin().is_terminal() => {
            bail!("requested load from stdin, but stdin is empty");
        }
        None => Box::new(tokio::io::stdin()),
    };
    let options = ImportImageOptionsBuilder::new().quiet(args.quiet).build();
    let docker = client.docker()?;
    let mut stream = docker.import_image_stream(options, byte_stream(input), None);
    while let Some(info) = stream.next().await {
        let info = info?;
        // A failure comes as the stream's last message, as Docker sends it.
        if let Some(error) = info.error_detail.and_then(|e| e.message) {
            bail!("{error}");
        }
        if let Some(text) = info.stream {
            print!("{text}");
        } else if let Some(status) = info.status {
            println!("{status}");
        }
    }
    Ok(0)
}

/// `berth save`: `GET /images/get?names=…` to a file (`-o`) or a non-terminal stdout.
pub async fn save(client: &Client, args: SaveArgs) -> Result<i32> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let docker = client.docker()?;
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let mut stream = Box::pin(docker.export_images(&names));
    // Open the file only once the daemon has answered, so an error leaves nothing behind.
    let first = match stream.next().await {
        Some(chunk) => chunk?,
        None => Bytes::new(),
    };
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("open {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    sink.write_all(&first)?;
    let result = write_rest(&mut sink, stream).await;
    if result.is_err() {
        if let Some(path) = &args.output {
            drop(sink);
            let _ = std::fs::remove_file(path);
        }
    }
    result.map(|()| 0)
}

async fn write_rest<S>(sink: &mut Box<dyn Write>, mut stream: S) -> Result<()>
where
    S: Stream<Item = Result<Bytes, bollard::errors::Error>> + Unpin,
{
    while let Some(chunk) = stream.next().await {
        sink.write_all(&chunk?)?;
    }
    sink.flush()?;
    Ok(())
}

/// `berth tag`
pub async fn tag(client: &Client, args: TagArgs) -> Result<i32> {
    let (repo, tag) = parse::repo_tag(&args.target);
    let options = TagImageOptionsBuilder::new().repo(&repo).tag(&tag).build();
    client
        .docker()?
        .tag_image(&args.source, Some(options))
        .await?;
    Ok(0)
}

/// `berth rmi`: prints "Untagged: …" / "Deleted: …" lines.
pub async fn rmi(client: &Client, args: RmiArgs) -> Result<i32> {
    let docker: Docker = client.docker()?;
    let mut code = 0;
    for name in &args.images {
        let options = RemoveImageOptionsBuilder::new()
            .force(args.force)
            .noprune(args.no_prune)
            .build();
        match docker.remove_image(name, Some(options), None).await {
            Ok(items) => {
                for item in items {
                    if let Some(u) = item.untagged {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(rows: &[Value]) -> Vec<String> {
        rows.iter()
            .map(|r| {
                let cell = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                format!("{} {} {}", cell("Repository"), cell("Tag"), cell("Digest"))
            })
            .collect()
    }

    #[test]
    fn rows_follow_tags_and_with_digests_each_digest_of_the_tags_repository() {
        let image = ImageSummary {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: vec!["a:1".into(), "a:2".into(), "b:1".into()],
            repo_digests: vec![
                "a@sha256:x".into(),
                "a@sha256:y".into(),
                "c@sha256:z".into(),
            ],
            ..ImageSummary::default()
        };
        let both = Digests {
            asked: true,
            shown: true,
        };
        // A format showing digests, without --digests: a digest-only repository's row has none.
        let shown = Digests {
            asked: false,
            shown: true,
        };
        assert_eq!(
            cells(&rows_of(&image, true, shown, 0))[..2],
            ["a 1 sha256:x", "a 1 sha256:y"]
        );
        assert_eq!(cells(&rows_of(&image, true, shown, 0))[5], "c <none> ");
        assert_eq!(
            cells(&rows_of(&image, true, Digests::default(), 0)),
            ["a 1 <none>", "a 2 <none>", "b 1 <none>", "c <none> "]
        );
        assert_eq!(
            cells(&rows_of(&image, true, both, 0)),
            [
                "a 1 sha256:x",
                "a 1 sha256:y",
                "a 2 sha256:x",
                "a 2 sha256:y",
                "b 1 <none>",
                "c <none> sha256:z"
            ]
        );
        let dangling = ImageSummary {
            repo_tags: vec!["<none>:<none>".into()],
            repo_digests: vec!["<none>@<none>".into()],
            ..image
        };
        assert_eq!(
            cells(&rows_of(&dangling, true, both, 0)),
            ["<none> <none> <none>"]
        );
    }
}
