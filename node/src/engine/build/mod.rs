//! Image builds from a Dockerfile, as Docker's classic builder makes them (`POST /build`), and
//! the parts `docker commit` shares with them.
//!
//! The step logic (`builder.rs`, `dispatch.rs`, `copy_step.rs`) is pure over the
//! [`BuildBackend`] trait: it expands variables, probes the build cache, writes each image's
//! config and history as Docker does, and asks the backend for the things that touch the
//! engine — an image, a container run, a layer of copied files, a commit. `engine_backend.rs`
//! implements it on the engine (RUN steps are real containers on the same runtime); `fake.rs`
//! records the calls for unit tests. The context tar is untrusted (`context.rs`).

pub mod args;
pub mod builder;
pub mod cache;
pub mod cache_from;
pub mod commit_config;
pub mod config;
pub mod context;
pub mod copy_step;
pub mod dispatch;
pub mod dockerfile;
pub mod download;
pub mod engine_backend;
pub mod files;
pub mod format;
pub mod ops;
pub mod options;
pub mod output;
pub mod scratch;
pub mod sources;
pub mod tarsum;

#[cfg(test)]
mod fake;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::engine::image::{ImageConfigFile, RunConfig};
use crate::error::Result;

pub use options::{BuildOptions, RunSettings};
pub use output::{BuildEvent, BuildOutput};

/// A boxed future, so the trait stays dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An image a stage starts from or copies from. `id` is empty for `scratch`.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub id: String,
    pub config: ImageConfigFile,
}

/// A RUN step's container.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The image it runs on.
    pub image: String,
    /// Command, entrypoint (`Some(vec![])` for none), environment, user and working directory.
    pub config: RunConfig,
    /// Network, resources and host names from the build's options.
    pub settings: RunSettings,
    /// Remove the container when the command succeeded (`rm`).
    pub remove: bool,
    /// Remove it whatever happened (`forcerm`).
    pub force_remove: bool,
}

/// What a RUN step's container left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The container's id.
    pub container: String,
    pub exit_code: i64,
    /// The diff id of the layer of its changes; None when it changed nothing (or failed).
    pub layer: Option<String>,
}

/// Where a copied file comes from: a path under a tree the builder resolved it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// `rel` (a file or a directory) inside `root` (the context, or another image's files),
    /// opened without ever leaving `root`.
    Tree { root: PathBuf, rel: String },
    /// A heredoc's content, as the file `name`.
    Inline { name: String, content: String },
}

/// One change a COPY, ADD or WORKDIR step makes to an image's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    /// `mkdir -p` of an absolute path, owned by root (WORKDIR).
    Mkdir { path: String },
    /// Copies `source` to `dest` (absolute; a trailing `/` means "into this directory").
    Copy {
        source: FileSource,
        dest: String,
        /// `--chown`, resolved against the destination image's account files.
        chown: Option<String>,
        /// `--chmod`, octal.
        chmod: Option<u32>,
        /// ADD: a local archive is extracted into `dest`.
        extract: bool,
        /// COPY --from without --chown: owners are kept (otherwise files become root's).
        keep_owner: bool,
    },
}

/// The engine as the builder sees it. Every method names what it does in Docker's words; the
/// engine implementation is `engine_backend.rs`, the fake `fake.rs`.
pub trait BuildBackend: Send + Sync {
    /// The image `name` for FROM or COPY --from, pulled first when `pull` or when missing
    /// (progress to `out`).
    fn base_image<'a>(
        &'a self,
        name: &'a str,
        pull: bool,
        platform: Option<&'a str>,
        out: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<BaseImage>>;

    /// The image with this id (a finished stage, a cache hit).
    fn image(&self, id: &str) -> Result<BaseImage>;

    /// The image a previous build made from `parent` with the step whose cache key is `key`,
    /// when it still exists.
    fn cached(&self, parent: &str, key: &str) -> Result<Option<String>>;

    /// Stores a new image whose config is `config` (its layers already stored) as a child of
    /// `parent`, remembered under `key` for later builds; returns its id.
    fn commit(&self, parent: &str, config: &ImageConfigFile, key: &str) -> Result<String>;

    /// Runs a RUN step's container to its end, its output to `out` (with Docker's
    /// `Running in` and `Removing intermediate container` lines).
    fn run<'a>(
        &'a self,
        req: RunRequest,
        out: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<RunOutcome>>;

    /// Applies `ops` over the files of `image` (empty: scratch) and stores the changes as a
    /// layer; its diff id, or None when nothing changed.
    fn apply_files<'a>(
        &'a self,
        image: &'a str,
        ops: Vec<FileOp>,
    ) -> BoxFuture<'a, Result<Option<String>>>;

    /// The files of `image`, mounted read-only for COPY --from until the tree is dropped.
    fn image_files<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn sources::SourceTree>>>;

    /// Downloads ADD's remote source `url` (`download.rs`).
    fn download<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<download::Downloaded>>;

    /// Points each of `tags` at image `id`.
    fn tag(&self, id: &str, tags: &[String]) -> Result<()>;
}
