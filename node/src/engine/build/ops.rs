//! The engine's two entry points here: `build_image` (`POST /build`: extract the context, run
//! the builder on the engine backend) and `commit_container` (`POST /commit`: a container's
//! changes as a new image, its settings changed by Dockerfile instructions like `docker
//! commit --change`).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use super::args::BuildArgs;
use super::dispatch::{dispatch, Shared, StageState};
use super::dockerfile::shell::Lex;
use super::dockerfile::{self, Instruction};
use super::engine_backend::EngineBackend;
use super::sources::ContextTree;
use super::{
    builder, config, context, BaseImage, BoxFuture, BuildBackend, BuildOptions, BuildOutput,
    FileOp, RunOutcome, RunRequest,
};
use crate::engine::image::registry::Credentials;
use crate::engine::image::{ImageConfigFile, RunConfig};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// `POST /commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitContainer {
    pub container: String,
    /// `repo[:tag]` for the new image.
    pub reference: Option<String>,
    /// `-m`.
    pub comment: String,
    /// `-a`.
    pub author: String,
    /// `-c` instructions.
    pub changes: Vec<String>,
    /// `--pause` (default true): freeze a running container while its files are read.
    pub pause: bool,
    /// The request's config body, which the container's config completes
    /// (`commit_config::merge`); none: the container's config.
    pub config: Option<RunConfig>,
}

impl Engine {
    /// Builds an image from the context tar `body`; progress to `out`. Returns the image id.
    pub async fn build_image(
        self: &Arc<Self>,
        body: Box<dyn Read + Send>,
        opts: BuildOptions,
        credentials: BTreeMap<String, Credentials>,
        out: BuildOutput,
    ) -> Result<String> {
        let store = self.images().clone();
        let dockerfile = opts.dockerfile.clone();
        let ctx = tokio::task::spawn_blocking(move || {
            let mut body = body;
            let dir = store.temp_dir("context")?;
            context::extract(&mut body, dir, &dockerfile, context::Limits::default())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("build context task: {e}")))??;
        let backend = EngineBackend {
            engine: self.clone(),
            credentials,
        };
        let result = builder::build(&backend, &ctx.tree, &ctx.dockerfile, &opts, &out).await;
        // Its directory goes on a blocking thread (`scratch::remove_dir`).
        drop(ctx);
        if let Ok(id) = &result {
            for t in &opts.tags {
                tracing::info!(image = %id, tag = %t, "built");
            }
        }
        result
    }

    /// Commits a container's changes as an image; returns its id.
    pub async fn commit_container(&self, req: CommitContainer) -> Result<String> {
        let handle = self.lookup(&req.container)?;
        let rec = handle.snapshot().await;
        let image = self.images.resolve(&rec.config.image_id)?;
        let c = &rec.config;
        let container_cfg = super::commit_config::of_container(&rec, &image.config.config);
        let cfg = match req.config.clone() {
            None => apply_changes(container_cfg.clone(), &req.changes).await?,
            Some(given) => super::commit_config::merge(
                apply_changes(given, &req.changes).await?,
                container_cfg.clone(),
            ),
        };
        let paused = req.pause
            && rec.state.status.is_running()
            && self.pause_container(&rec.id).await.is_ok();
        let upper = self.paths.container_dir(&rec.id).join("upper");
        let lowers = self.images.layer_dirs(&image)?;
        let store = self.images.clone();
        let layer = tokio::task::spawn_blocking(move || store.layer_from_upper(&upper, &lowers))
            .await
            .map_err(|e| EngineError::Internal(format!("commit task: {e}")));
        if paused {
            let _ = self.unpause_container(&rec.id).await;
        }
        let layer = layer??;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut next: ImageConfigFile = image.config.clone();
        next.created = Some(now.clone());
        next.config = cfg;
        next.extra
            .insert("container".into(), serde_json::json!(rec.id));
        next.extra.insert(
            "container_config".into(),
            serde_json::to_value(&container_cfg).unwrap_or_default(),
        );
        let mut entry = serde_json::json!({"created": now, "created_by": c.cmd.join(" ")});
        for (k, v) in [("author", &req.author), ("comment", &req.comment)] {
            if !v.is_empty() {
                entry[k] = serde_json::json!(v);
                next.extra.insert(k.into(), serde_json::json!(v));
            }
        }
        match layer {
            Some(d) => next.rootfs.diff_ids.push(d),
            None => entry["empty_layer"] = serde_json::json!(true),
        }
        next.history.push(entry);
        let id = self.images.commit_child(&image.id, &next, "")?.id;
        if let Some(r) = req.reference.as_deref().filter(|r| !r.is_empty()) {
            self.images.tag(&id, r, None)?;
            self.tag_event(&id, r);
        }
        self.container_event(
            &rec,
            "commit",
            &[("comment", req.comment.clone()), ("imageID", id.clone())],
        );
        Ok(id)
    }
}

/// The instructions `docker commit --change` and `docker import --change` accept.
const CHANGE_COMMANDS: [&str; 11] = [
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Applies Dockerfile instructions to image settings, as dockerd's `BuildFromConfig`: only
/// the settings change (WORKDIR makes no directory).
pub async fn apply_changes(cfg: RunConfig, changes: &[String]) -> Result<RunConfig> {
    let text = changes.join("\n");
    if text.trim().is_empty() {
        return Ok(cfg);
    }
    let df = dockerfile::parse(&format!("FROM scratch\n{text}"))
        .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    if df.stages.len() > 1 {
        return Err(EngineError::InvalidArgument(
            crate::engine::image::not_a_change("FROM"),
        ));
    }
    let cmds = &df.stages[0].commands;
    for cmd in cmds {
        let word = cmd
            .source
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !CHANGE_COMMANDS.contains(&word.as_str())
            || matches!(cmd.instruction, Instruction::Run(..))
        {
            return Err(EngineError::InvalidArgument(
                crate::engine::image::not_a_change(&word),
            ));
        }
    }
    let opts = BuildOptions::default();
    let out = BuildOutput::discard();
    let context = ContextTree {
        root: std::path::PathBuf::new(),
        sums: Default::default(),
    };
    let sh = Shared {
        backend: &NoBackend,
        out: &out,
        opts: &opts,
        context: &context,
        dockerfile: &df,
        stages: Vec::new(),
        no_commit: true,
        cache_from: Default::default(),
    };
    let mut st = StageState {
        index: 0,
        name: None,
        image_id: String::new(),
        image: ImageConfigFile {
            config: cfg.clone(),
            ..Default::default()
        },
        config: cfg,
        args: BuildArgs::default(),
        cmd_set: false,
        maintainer: String::new(),
        lex: Lex::new(df.escape),
    };
    for cmd in cmds {
        dispatch(&sh, &mut st, cmd).await?;
    }
    config::set_args_escaped(&mut st.config, false);
    Ok(st.config)
}

/// The backend of a settings-only dispatch: never reached, since nothing is committed.
struct NoBackend;

impl BuildBackend for NoBackend {
    fn base_image<'a>(
        &'a self,
        name: &'a str,
        _: bool,
        _: Option<&'a str>,
        _: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<BaseImage>> {
        Box::pin(async move { Err(EngineError::NoSuchImage(name.into())) })
    }
    fn image(&self, id: &str) -> Result<BaseImage> {
        Err(EngineError::NoSuchImage(id.into()))
    }
    fn cached(&self, _: &str, _: &str) -> Result<Option<String>> {
        Ok(None)
    }
    fn commit(&self, _: &str, _: &ImageConfigFile, _: &str) -> Result<String> {
        Err(EngineError::Internal(
            "a change command cannot commit".into(),
        ))
    }
    fn run<'a>(&'a self, _: RunRequest, _: &'a BuildOutput) -> BoxFuture<'a, Result<RunOutcome>> {
        Box::pin(async { Err(EngineError::Internal("a change command cannot run".into())) })
    }
    fn apply_files<'a>(
        &'a self,
        _: &'a str,
        _: Vec<FileOp>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }
    fn image_files<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn super::sources::SourceTree>>> {
        Box::pin(async {
            Err(EngineError::Internal(
                "a change command has no files".into(),
            ))
        })
    }
    fn download<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<super::download::Downloaded>> {
        Box::pin(async {
            Err(EngineError::Internal(
                "a change command downloads nothing".into(),
            ))
        })
    }
    fn tag(&self, _: &str, _: &[String]) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(cfg: RunConfig, changes: &[&str]) -> Result<RunConfig> {
        let owned: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(apply_changes(cfg, &owned))
    }

    #[test]
    fn changes_set_what_a_dockerfile_would() {
        let base = RunConfig {
            env: vec!["PATH=/bin".into()],
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let cfg = apply(
            base,
            &[
                "CMD [\"cat\", \"/c.txt\"]",
                "ENV A=1 B=$PATH",
                "WORKDIR /app",
                "EXPOSE 80/udp",
                "HEALTHCHECK CMD true",
                "ONBUILD RUN x",
                "LABEL k=v",
                "USER nobody",
                "VOLUME /data",
                "STOPSIGNAL SIGINT",
            ],
        )
        .unwrap();
        assert_eq!(cfg.cmd.clone().unwrap(), ["cat", "/c.txt"]);
        assert_eq!(cfg.env, ["PATH=/bin", "A=1", "B=/bin"]);
        assert_eq!(cfg.working_dir, "/app");
        assert!(cfg.exposed_ports.contains_key("80/udp"));
        assert_eq!(cfg.extra["Healthcheck"]["Test"][0], "CMD-SHELL");
        assert_eq!(config::on_build(&cfg), ["RUN x"]);
        assert_eq!(
            (cfg.user.as_str(), cfg.stop_signal.as_deref()),
            ("nobody", Some("SIGINT"))
        );
        assert!(cfg.volumes.contains_key("/data"));
    }

    #[test]
    fn build_only_instructions_are_refused() {
        for bad in [
            "RUN echo",
            "COPY a b",
            "FROM x",
            "ADD a b",
            "ARG A",
            "SHELL [\"sh\"]",
            "MAINTAINER me",
        ] {
            let err = apply(RunConfig::default(), &[bad]).unwrap_err().to_string();
            assert!(
                err.contains("is not a valid change command") || err.contains("parse error"),
                "{bad}: {err}"
            );
        }
    }
}
