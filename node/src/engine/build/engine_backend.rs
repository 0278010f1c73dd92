//! [`BuildBackend`] on the engine: base images from the image store (pulled when missing),
//! RUN steps as ordinary containers on the same runtime and networks (attached before start,
//! so their output streams to the client), COPY/ADD/WORKDIR over an overlay of the image's
//! layers mounted for the step, and every step's changes stored as a layer through
//! [`ImageStore::layer_from_upper`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::mount::{umount2, MntFlags};

use super::output::short_id;
use super::sources::{DiskTree, SourceTree};
use super::{
    files, BaseImage, BoxFuture, BuildBackend, BuildEvent, BuildOutput, FileOp, RunOutcome,
    RunRequest,
};
use crate::engine::container::types::HealthConfig;
use crate::engine::image::registry::{Credentials, Platform};
use crate::engine::image::{ImageConfigFile, ImageStore, ProgressSink, PullRequest, Reference};
use crate::engine::req::{CreateContainer, WaitCondition};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::overlay::{mount_layers, Writes};

/// The engine as a build backend, with the registry credentials the client sent.
pub struct EngineBackend {
    pub engine: Arc<Engine>,
    /// Registry → credentials (`X-Registry-Config`).
    pub credentials: std::collections::BTreeMap<String, Credentials>,
}

fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> BoxFuture<'static, Result<T>> {
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| EngineError::Internal(format!("build task: {e}")))?
    })
}

impl EngineBackend {
    fn images(&self) -> &ImageStore {
        self.engine.images()
    }

    fn credentials_for(&self, r: &Reference) -> Credentials {
        let domain = r.domain();
        let hub = domain == "docker.io"
            || domain == "index.docker.io"
            || domain == "registry-1.docker.io";
        self.credentials
            .iter()
            .find(|(k, _)| {
                let k = k
                    .trim_start_matches("https://")
                    .trim_start_matches("http://");
                k.split('/').next() == Some(domain) || hub && k.starts_with("index.docker.io")
            })
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    async fn pull(
        &self,
        name: &str,
        platform: Option<Platform>,
        out: &BuildOutput,
    ) -> Result<BaseImage> {
        let mut reference = Reference::parse(name)?;
        if reference.tag().is_none() && reference.digest().is_none() {
            reference = reference.with_tag("latest")?;
        }
        let req = PullRequest {
            credentials: self.credentials_for(&reference),
            reference,
            platform,
        };
        let prepared = self.images().prepare_pull(&req).await?;
        let (sink, mut events) = ProgressSink::channel();
        let forward = {
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if let crate::engine::image::Progress::Status { id, status } = e {
                        out.send(BuildEvent::Status { id, status });
                    }
                }
            })
        };
        let rec = prepared.run(&sink).await;
        drop(sink);
        let _ = forward.await;
        let rec = rec?;
        self.engine.image_event("pull", &rec.id, name);
        Ok(BaseImage {
            id: rec.id,
            config: rec.config,
        })
    }
}

impl BuildBackend for EngineBackend {
    fn base_image<'a>(
        &'a self,
        name: &'a str,
        pull: bool,
        platform: Option<&'a str>,
        out: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<BaseImage>> {
        Box::pin(async move {
            let platform = platform.map(Platform::parse).transpose()?;
            if !pull {
                if let Ok(rec) = self.images().resolve(name) {
                    let wrong = platform.as_ref().is_some_and(|p| {
                        p.architecture != rec.config.architecture || p.os != rec.config.os
                    });
                    if !wrong {
                        return Ok(BaseImage {
                            id: rec.id,
                            config: rec.config,
                        });
                    }
                }
            }
            self.pull(name, platform, out).await
        })
    }

    fn image(&self, id: &str) -> Result<BaseImage> {
        let rec = self.images().resolve(id)?;
        Ok(BaseImage {
            id: rec.id,
            config: rec.config,
        })
    }

    fn cached(&self, parent: &str, key: &str) -> Result<Option<String>> {
        self.images().cached_child(parent, key)
    }

    fn commit(&self, parent: &str, config: &ImageConfigFile, key: &str) -> Result<String> {
        Ok(self.images().commit_child(parent, config, key)?.id)
    }

    fn run<'a>(
        &'a self,
        req: RunRequest,
        out: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<RunOutcome>> {
        Box::pin(async move {
            let engine = &self.engine;
            let (id, warnings) = engine.create_container(create_request(&req)).await?;
            for w in warnings {
                out.stream(format!(" ---> [Warning] {w}\n"));
            }
            out.stream(format!(" ---> Running in {}\n", short_id(&id)));
            let result = run_attached(engine, &id, out).await;
            let code = *result.as_ref().unwrap_or(&-1);
            let layer = match &result {
                Ok(0) => {
                    let upper = engine.paths().container_dir(&id).join("upper");
                    let lowers = engine
                        .images()
                        .layer_dirs(&engine.images().resolve(&req.image)?)?;
                    let store = engine.images().clone();
                    blocking(move || store.layer_from_upper(&upper, &lowers)).await?
                }
                _ => None,
            };
            if req.force_remove || (req.remove && code == 0) {
                out.stream(format!(
                    "Removing intermediate container {}\n",
                    short_id(&id)
                ));
                engine.remove_container_with(&id, true, true).await?;
            }
            Ok(RunOutcome {
                container: id,
                exit_code: result?,
                layer,
            })
        })
    }

    fn apply_files<'a>(
        &'a self,
        image: &'a str,
        ops: Vec<FileOp>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let store = self.images().clone();
            let lowers = match image {
                "" => Vec::new(),
                id => store.layer_dirs(&store.resolve(id)?)?,
            };
            blocking(move || {
                let scratch = store.temp_dir("build-files")?;
                let result = apply_in(&store, &scratch, lowers, &ops);
                if let Err(e) = std::fs::remove_dir_all(&scratch) {
                    tracing::warn!(dir = %scratch.display(), error = %e, "cannot remove build scratch");
                }
                result
            })
            .await
        })
    }

    fn image_files<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<Box<dyn SourceTree>>> {
        Box::pin(async move {
            let store = self.images().clone();
            let layers = store.layer_dirs(&store.resolve(image)?)?;
            blocking(move || {
                let tree = MountedTree::mount(&store, layers)?;
                Ok(Box::new(tree) as Box<dyn SourceTree>)
            })
            .await
        })
    }

    fn download<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<super::download::Downloaded>> {
        Box::pin(async move {
            let dir = self.images().temp_dir("build-download")?;
            super::download::fetch(url, dir).await
        })
    }

    fn tag(&self, id: &str, tags: &[String]) -> Result<()> {
        for t in tags {
            self.images().tag(id, t, None)?;
            self.engine.tag_event(id, t);
        }
        Ok(())
    }
}

/// The container of a RUN step: the step's settings, the build's network and limits, no
/// healthcheck (as dockerd's `withoutHealthcheck`).
fn create_request(req: &RunRequest) -> CreateContainer {
    let c = &req.config;
    let mut r = CreateContainer {
        image: req.image.clone(),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        env: c.env.clone(),
        working_dir: Some(c.working_dir.clone()).filter(|w| !w.is_empty()),
        user: Some(c.user.clone()).filter(|u| !u.is_empty()),
        healthcheck: Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = &req.settings;
    r.host.network_mode = match s.network_mode.as_str() {
        "" => "default".into(),
        m => m.into(),
    };
    r.host.memory = s.memory;
    r.host.memory_swap = s.memory_swap;
    r.host.cpu_shares = s.cpu_shares;
    r.host.cpu_period = s.cpu_period;
    r.host.cpu_quota = s.cpu_quota;
    r.host.shm_size = s.shm_size;
    r.host.net.extra_hosts = s.extra_hosts.clone();
    r.host.runtime.cgroup_parent = s.cgroup_parent.clone();
    r.host.runtime.cpuset_cpus = s.cpuset_cpus.clone();
    r.host.runtime.cpuset_mems = s.cpuset_mems.clone();
    r.host.runtime.ulimits = s.ulimits.clone();
    r
}

/// Starts the container with its output attached; its exit code.
async fn run_attached(engine: &Arc<Engine>, id: &str, out: &BuildOutput) -> Result<i64> {
    let attach = crate::engine::container::logs::AttachRequest {
        stdout: true,
        stderr: true,
        stream: true,
        ..Default::default()
    };
    let mut output = engine.attach(id, attach).await?;
    let exited = engine.wait_container(id, WaitCondition::NextExit).await?;
    engine.start_container(id).await?;
    while let Some(chunk) = output.chunks.recv().await {
        out.stream(step_output(&chunk));
    }
    Ok(exited.await)
}

/// A RUN step's output as the classic builder streams it: what the step wrote to stderr comes
/// wrapped in the terminal's bright red, as moby's `NewStderrWriter` does.
fn step_output(chunk: &crate::engine::container::logs::LogChunk) -> String {
    let text = String::from_utf8_lossy(&chunk.bytes);
    match chunk.stream {
        crate::runtime::logfile::Stream::Stderr => format!("\x1b[91m{text}\x1b[0m"),
        crate::runtime::logfile::Stream::Stdout => text.into_owned(),
    }
}

/// Mounts an overlay of `lowers` with a fresh upper directory in `scratch`, applies `ops`,
/// unmounts, and stores the upper directory as a layer.
fn apply_in(
    store: &ImageStore,
    scratch: &Path,
    lowers: Vec<PathBuf>,
    ops: &[FileOp],
) -> Result<Option<String>> {
    let io = |what: &str, e| EngineError::io(format!("{what} in {}", scratch.display()), e);
    let (merged, upper, work, tmp, empty) = (
        scratch.join("merged"),
        scratch.join("upper"),
        scratch.join("work"),
        scratch.join("tmp"),
        scratch.join("empty"),
    );
    for d in [&merged, &upper, &work, &tmp, &empty] {
        std::fs::create_dir_all(d).map_err(|e| io("create", e))?;
    }
    let lower_dirs = if lowers.is_empty() {
        vec![empty]
    } else {
        lowers.clone()
    };
    let writes = Writes::To {
        upper: &upper,
        work: &work,
    };
    mount_layers(&merged, &lower_dirs, writes)?;
    let applied = files::apply(&merged, ops, &tmp);
    if let Err(e) = umount2(&merged, MntFlags::empty()) {
        tracing::warn!(dir = %merged.display(), error = %e, "unmount after a build step");
        let _ = umount2(&merged, MntFlags::MNT_DETACH);
    }
    applied?;
    store.layer_from_upper(&upper, &lowers)
}

/// Another image's files for COPY --from: its only layer as it is, or an overlay of its
/// layers mounted read-only; unmounted and removed on drop.
struct MountedTree {
    tree: DiskTree,
    scratch: Option<PathBuf>,
}

impl MountedTree {
    fn mount(store: &ImageStore, layers: Vec<PathBuf>) -> Result<Self> {
        if layers.len() == 1 {
            return Ok(MountedTree {
                tree: DiskTree {
                    root: layers[0].clone(),
                },
                scratch: None,
            });
        }
        let scratch = store.temp_dir("build-from")?;
        let root = scratch.join("root");
        if layers.is_empty() {
            std::fs::create_dir_all(&root).map_err(|e| EngineError::io("create", e))?;
            return Ok(MountedTree {
                tree: DiskTree { root },
                scratch: Some(scratch),
            });
        }
        mount_layers(&root, &layers, Writes::Nowhere)?;
        Ok(MountedTree {
            tree: DiskTree { root },
            scratch: Some(scratch),
        })
    }
}

impl Drop for MountedTree {
    fn drop(&mut self) {
        if let Some(scratch) = &self.scratch {
            let _ = umount2(&self.tree.root, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

impl SourceTree for MountedTree {
    fn root(&self) -> &Path {
        self.tree.root()
    }

    fn entry_sum(&self, rel: &str) -> Result<String> {
        self.tree.entry_sum(rel)
    }

    fn is_context(&self) -> bool {
        false
    }
}
