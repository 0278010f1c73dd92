//! The steps that make a layer: RUN (a container on the engine), COPY and ADD (files from the
//! context or another stage or image) and WORKDIR (the directory made). Each probes the build
//! cache first with the key the classic builder uses (RUN: the command with the build
//! arguments it sees; COPY/ADD: the sources' checksums).

use super::dispatch::{stage_image, Shared, StageState};
use super::dockerfile::{instruction::chomp, lines::parse_heredoc, CommandLine, CopyArgs};
use super::download::is_url;
use super::sources::{combined_sum, resolve, SourceTree};
use super::tarsum::{self, EntryHeader};
use super::{config, FileOp, FileSource, RunRequest};
use crate::engine::image::RunConfig;
use crate::error::{EngineError, Result};

fn needs_buildkit(flag: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "the --{flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
    ))
}

/// The command a RUN runs: shell form behind the shell, heredocs as BuildKit runs them (one
/// heredoc as the whole command is the script; otherwise the bodies follow the line, for the
/// shell to read).
fn run_command(st: &StageState, line: &CommandLine) -> Result<Vec<String>> {
    if line.heredocs.is_empty() {
        return Ok(st.command_line(line));
    }
    let text = line.args.join(" ");
    let mut shell = config::shell(&st.config);
    let whole = parse_heredoc(text.trim()).ok().flatten();
    if let (Some(doc), [body]) = (whole, line.heredocs.as_slice()) {
        let script = if doc.chomp {
            chomp(&body.content)
        } else {
            body.content.clone()
        };
        if script.starts_with("#!") {
            return Err(EngineError::InvalidArgument(
                "a RUN heredoc starting with #! needs BuildKit; start it without the #! line"
                    .into(),
            ));
        }
        shell.push(script);
        return Ok(shell);
    }
    let mut script = text;
    for doc in &line.heredocs {
        script.push('\n');
        script.push_str(&doc.content);
        script.push_str(&doc.name);
    }
    shell.push(script);
    Ok(shell)
}

/// RUN.
pub async fn run(
    sh: &Shared<'_>,
    st: &mut StageState,
    line: &CommandLine,
    flags: &[String],
) -> Result<()> {
    if let Some(flag) = flags.first() {
        return Err(needs_buildkit(flag));
    }
    let cmd = run_command(st, line)?;
    let build_args = st.args.filter_allowed(&st.config.env);
    let mut save_cmd = cmd.clone();
    if !build_args.is_empty() {
        // `|N k=v … cmd`: the arguments a RUN saw are part of its cache key and history (the
        // proxy variables only when the Dockerfile declares them).
        let mut shown: Vec<String> = build_args
            .iter()
            .filter(|kv| {
                st.args
                    .is_referenced_or_not_builtin(kv.split('=').next().unwrap_or(kv))
            })
            .cloned()
            .collect();
        shown.sort();
        save_cmd = std::iter::once(format!("|{}", shown.len()))
            .chain(shown)
            .chain(cmd.clone())
            .collect();
    }
    let mut step = st.config.clone();
    step.cmd = Some(save_cmd.clone());
    config::set_args_escaped(&mut step, false);
    if !save_cmd.is_empty() {
        step.entrypoint = None;
    }
    if st.probe(sh, &step)? {
        return Ok(());
    }
    let mut run_cfg: RunConfig = st.config.clone();
    run_cfg.cmd = Some(cmd.clone());
    run_cfg.env.extend(build_args);
    run_cfg.entrypoint = Some(Vec::new());
    let outcome = sh
        .backend
        .run(
            RunRequest {
                image: st.image_id.clone(),
                config: run_cfg,
                settings: sh.opts.run.clone(),
                remove: sh.opts.remove,
                force_remove: sh.opts.force_remove,
            },
            sh.out,
        )
        .await?;
    if outcome.exit_code != 0 {
        return Err(EngineError::StepFailed {
            message: format!(
                "The command '{}' returned a non-zero code: {}",
                cmd.join(" "),
                outcome.exit_code
            ),
            code: outcome.exit_code,
        });
    }
    st.commit(sh, &step, outcome.layer, Some(&outcome.container))
}

/// Docker's WORKDIR rule: a relative path continues the current one (cleaned); an absolute
/// one is taken as written.
pub fn join_workdir(current: &str, dir: &str) -> String {
    if dir.starts_with('/') {
        return dir.to_string();
    }
    berth_dockerignore::clean(&format!("/{current}/{dir}"))
}

/// WORKDIR: the directory is made now (owned by root), in a layer of its own unless it exists.
pub async fn workdir(sh: &Shared<'_>, st: &mut StageState, dir: &str) -> Result<()> {
    let dir = st.expand(dir)?;
    st.config.working_dir = join_workdir(&st.config.working_dir, &dir);
    let step = st.nop(&format!("WORKDIR {}", st.config.working_dir), true);
    if st.probe(sh, &step)? {
        return Ok(());
    }
    let ops = vec![FileOp::Mkdir {
        path: st.config.working_dir.clone(),
    }];
    let layer = sh.backend.apply_files(&st.image_id, ops).await?;
    st.commit(sh, &step, layer, None)
}

/// Docker's destination rule: relative to the working directory, a trailing `/` kept.
pub fn normalize_dest(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let mut joined = berth_dockerignore::clean(&format!("/{workdir}/{dest}"));
    if dest.ends_with('/') && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

/// `--chmod=755`: octal only, as the classic builder would read it.
fn parse_chmod(s: &str) -> Result<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| EngineError::InvalidArgument(format!("invalid chmod parameter: {s}")))
}

/// COPY and ADD.
pub async fn copy(sh: &Shared<'_>, st: &mut StageState, c: &CopyArgs, add: bool) -> Result<()> {
    let name = if add { "ADD" } else { "COPY" };
    if let Some(flag) = c.buildkit_flags.first() {
        return Err(needs_buildkit(flag));
    }
    let srcs: Vec<String> = c
        .sources
        .iter()
        .map(|s| st.expand(s))
        .collect::<Result<_>>()?;
    let dest = st.expand(&c.dest)?;
    let chown = c
        .chown
        .as_deref()
        .map(|s| st.expand(s))
        .transpose()?
        .filter(|s| !s.is_empty());
    let chmod = match c.chmod.as_deref().map(|s| st.expand(s)).transpose()? {
        Some(s) if !s.is_empty() => Some(parse_chmod(&s)?),
        _ => None,
    };
    let (urls, srcs): (Vec<String>, Vec<String>) = srcs.into_iter().partition(|s| is_url(s));
    if !add && !urls.is_empty() {
        return Err(EngineError::InvalidArgument(format!(
            "{name} failed: source can't be a URL for COPY"
        )));
    }
    if let Some(url) = srcs
        .iter()
        .find(|s| s.contains("://") || s.starts_with("git@"))
    {
        return Err(EngineError::InvalidArgument(format!(
            "{name} failed: downloading {url} is not supported: ADD fetches http and https URLs"
        )));
    }
    let mut downloads = Vec::new();
    for url in &urls {
        let got = sh
            .backend
            .download(url)
            .await
            .map_err(|e| EngineError::InvalidArgument(format!("{name} failed: {e}")))?;
        if got.name.is_none() && dest.ends_with('/') {
            return Err(EngineError::InvalidArgument(format!(
                "{name} failed: cannot determine filename for source {url}"
            )));
        }
        downloads.push(got);
    }
    // The tree sources come from; a mounted image stays mounted until the copy is done.
    let mounted: Option<Box<dyn SourceTree>> = match &c.from {
        Some(from) => {
            let wrap = |e: EngineError| {
                EngineError::InvalidArgument(format!("invalid from flag value {from}: {e}"))
            };
            let id = match stage_image(sh, st.index, from).map_err(wrap)? {
                Some(id) => id,
                None => {
                    sh.backend
                        .base_image(from, false, sh.opts.platform.as_deref(), sh.out)
                        .await
                        .map_err(wrap)?
                        .id
                }
            };
            Some(sh.backend.image_files(&id).await?)
        }
        None => None,
    };
    let tree: &dyn SourceTree = mounted.as_deref().unwrap_or(sh.context);
    let mut found = if srcs.is_empty() && (!c.inline.is_empty() || !downloads.is_empty()) {
        Vec::new()
    } else {
        resolve(tree, &srcs)
            .map_err(|e| EngineError::InvalidArgument(format!("{name} failed: {e}")))?
    };
    let mut ops = Vec::new();
    let dest_abs = normalize_dest(&st.config.working_dir, &dest);
    let op = |source: FileSource| FileOp::Copy {
        source,
        dest: dest_abs.clone(),
        chown: chown.clone(),
        chmod,
        extract: add,
        keep_owner: c.from.is_some() && chown.is_none(),
    };
    for s in &found {
        ops.push(op(FileSource::Tree {
            root: tree.root().to_path_buf(),
            rel: s.rel.clone(),
        }));
    }
    // After the local sources: a download is one file, copied as it came, never unpacked.
    for got in &downloads {
        found.extend(resolve(&got.tree, &[got.file().to_string()])?);
        let mut download_op = op(FileSource::Tree {
            root: got.tree.root.clone(),
            rel: got.file().to_string(),
        });
        if let FileOp::Copy { extract, .. } = &mut download_op {
            *extract = false;
        }
        ops.push(download_op);
    }
    for inline in &c.inline {
        let content = if inline.expand {
            st.expand(&inline.content)?
        } else {
            inline.content.clone()
        };
        let header = EntryHeader {
            name: inline.name.clone(),
            mode: 0o644,
            size: content.len() as u64,
            typeflag: b'0',
            ..Default::default()
        };
        found.push(super::sources::Source {
            rel: inline.name.clone(),
            sum: format!("file:{}", tarsum::sum(&header, content.as_bytes())),
        });
        let mut inline_op = op(FileSource::Inline {
            name: inline.name.clone(),
            content,
        });
        if let FileOp::Copy { extract, .. } = &mut inline_op {
            *extract = false;
        }
        ops.push(inline_op);
    }
    if found.len() > 1 && !dest.ends_with('/') {
        return Err(EngineError::InvalidArgument(format!(
            "When using {name} with more than one source file, the destination must be a directory and end with a /"
        )));
    }
    // Docker 20.10 writes `--chown=X` right against the checksum.
    let chown_part = chown
        .as_deref()
        .map(|c| format!("--chown={c}"))
        .unwrap_or_default();
    let step = st.nop(
        &format!("{name} {chown_part}{} in {dest} ", combined_sum(&found)),
        true,
    );
    if st.probe(sh, &step)? {
        return Ok(());
    }
    let layer = sh.backend.apply_files(&st.image_id, ops).await?;
    drop(mounted);
    drop(downloads);
    st.commit(sh, &step, layer, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdirs_and_destinations_follow_docker() {
        assert_eq!(join_workdir("", "srv"), "/srv");
        assert_eq!(
            join_workdir("/srv/app/current", "../releases"),
            "/srv/app/releases"
        );
        assert_eq!(join_workdir("/x", "/data/./x/../y"), "/data/./x/../y");
        assert_eq!(normalize_dest("/app", "./"), "/app/");
        assert_eq!(normalize_dest("/app", "."), "/app");
        assert_eq!(normalize_dest("", "sub/"), "/sub/");
        assert_eq!(normalize_dest("/w", "/abs"), "/abs");
    }

    #[test]
    fn chmod_is_octal() {
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert_eq!(parse_chmod("0644").unwrap(), 0o644);
        assert!(parse_chmod("u+x").is_err());
        assert!(parse_chmod("17777").is_err());
    }
}
