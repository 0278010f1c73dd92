//! A build request as the engine takes it (`api::convert::build` makes it from `/build`'s
//! query string): what to build, and how RUN steps' containers run.

use std::collections::BTreeMap;

/// How RUN steps' containers run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// `default`, `bridge`, `host`, `none` or a network name.
    pub network_mode: String,
    /// `--add-host` entries (`name:ip`).
    pub extra_hosts: Vec<String>,
    /// `/dev/shm` size in bytes (0: Docker's 64 MiB).
    pub shm_size: i64,
    /// Memory limit in bytes (0: none).
    pub memory: i64,
    /// Memory plus swap (0: twice the memory, -1: unlimited).
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    /// `--cgroup-parent`, `--cpuset-cpus`, `--cpuset-mems`, `--ulimit`, checked as a
    /// container's are.
    pub cgroup_parent: String,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub ulimits: Vec<crate::engine::container::settings::Ulimit>,
}

/// `POST /build`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context (`Dockerfile` by default).
    pub dockerfile: String,
    /// Familiar `repo:tag` names for the result.
    pub tags: Vec<String>,
    /// `--build-arg` values; `None` when given without a value the client could fill in.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`: build up to this stage.
    pub target: Option<String>,
    /// `--label`s, added to the last stage (not expanded).
    pub labels: BTreeMap<String, String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--cache-from`: images whose history is the cache instead of this daemon's builds.
    pub cache_from: Vec<String>,
    /// `--pull`: always fetch base images.
    pub pull: bool,
    /// `--rm` (default true): remove intermediate containers after a successful step.
    pub remove: bool,
    /// `--force-rm`: remove them even after a failed one.
    pub force_remove: bool,
    /// `-q`: only the image id is printed.
    pub quiet: bool,
    /// `--platform` for base images (`os/arch[/variant]`).
    pub platform: Option<String>,
    pub run: RunSettings,
}
