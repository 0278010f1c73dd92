//! `create`: validate the request, merge it with the image config, reserve the name, write the
//! record and lay out the container directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use rand::Rng;

use super::handle::Handle;
use super::types::{ContainerConfig, ContainerRecord};
use super::user;
use crate::engine::image::ImageRecord;
use crate::engine::req::CreateContainer;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// Docker refuses memory limits below this.
pub(super) const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl Engine {
    /// Creates a container; returns its id and warnings.
    pub async fn create_container(
        &self,
        mut req: CreateContainer,
    ) -> Result<(String, Vec<String>)> {
        // A create is almost always followed by its start: priming now hides more of the
        // cgroup lock's grace period from that start (`runtime::cgroup_primer`).
        self.primer.kick();
        validate_limits(&req)?;
        // Docker's "none" (absent or 0) becomes the daemon's default; -1 stays unlimited.
        if matches!(req.host.pids_limit, None | Some(0)) && self.host.default_pids_limit > 0 {
            req.host.pids_limit = Some(self.host.default_pids_limit);
        }
        super::security::check(&req.host.security, self.host)?;
        super::caps::check(&req.host.cap_add, &req.host.cap_drop)
            .map_err(EngineError::InvalidArgument)?;
        if let Some(sig) = req.stop_signal.as_deref().filter(|s| !s.is_empty()) {
            super::signal::parse_signal(sig)?;
        }
        self.resolve_host_settings(&mut req.host).await?;
        let r = &mut req.host.runtime;
        let blkio_warnings =
            super::blkio_weight::check(&mut r.blkio_weight, &mut r.blkio_weight_device, || {
                super::blkio_weight::WeightSupport::of(&self.paths.cgroups.joined)
            })?;
        // Recorded with the container: a later daemon with another default still finds it.
        req.host.runtime.daemon_cgroup_parent = self.host.default_cgroup_parent.to_string();
        if req.host.runtime.log.is_none() {
            req.host.runtime.log = Some(self.log_default()?);
        }
        let is_task = req.labels.contains_key(berth_swarm::model::LABEL_TASK_ID);
        // Dropped at the end: a created container does not keep a swarm network's copy.
        let _holds = self.bring_swarm_networks(&req.host, is_task).await?;
        self.check_networks(&req.host)?;
        if !is_task {
            self.check_swarm_fixed_ip(&req.host)?;
            self.add_gateway_bridge(&mut req.host).await?;
        }
        self.check_links(&req.host.net.links)?;
        if let Some(name) = &req.name {
            validate_name(name)?;
        }
        let image = self.images.resolve(&req.image)?;
        if let Some(want) = &req.platform {
            crate::engine::image::check_platform(&req.image, &image, want)?;
        }
        let layers = self.images.layer_dirs(&image)?;
        let id = new_id();
        let config = merge_config(&req, &image, &id);
        if config.entrypoint.is_empty() && config.cmd.is_empty() {
            return Err(EngineError::InvalidArgument("no command specified".into()));
        }
        let group_add = req.host.runtime.group_add.clone();
        let layers_for_dir = layers.clone();
        let working_dir = config.working_dir.clone();
        let user = user::resolve_off_worker(config.user.clone(), group_add, layers).await?;
        let name = self.reserve_name(req.name.as_deref(), &id)?;
        let image_volumes: Vec<String> = image.config.config.volumes.keys().cloned().collect();
        let made = match self.prepare_mounts(
            &mut req.host.mounts,
            &image_volumes,
            &req.host.runtime.volume_driver,
        ) {
            Ok(made) => made,
            Err(e) => {
                let _ = self.names.remove(&name);
                return Err(e);
            }
        };
        let (_, missing) = super::caps::effective(
            req.host.privileged,
            &req.host.cap_add,
            &req.host.cap_drop,
            self.host.cap_bounding,
        );
        let mut warnings: Vec<String> = missing
            .iter()
            .map(|c| {
                format!(
                    "the host's capability bounding set lacks {c}: the container runs without it"
                )
            })
            .collect();
        warnings.extend(self.oom_kill_disable_warnings(&mut req.host));
        warnings.extend(blkio_warnings);
        // Docker's words: the host's network has no ports to publish, and nothing is.
        if req.host.network_mode == "host" && !req.host.net.ports.is_empty() {
            warnings.push("Published ports are discarded when using host network mode".into());
        }
        // Recorded as Docker does, so inspect shows the paths the container gets.
        if !req.host.privileged {
            req.host.masked_paths = Some(super::spec::masked_paths(&req.host));
            req.host.readonly_paths = Some(super::spec::readonly_paths(&req.host));
        }
        let rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            config,
            host: req.host,
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
            home: user.home,
            ..Default::default()
        };
        // Record first, directories second: a crash in between leaves a record that `rm` cleans;
        // directories without a record are swept at daemon start.
        if let Err(e) = self.records.put(&id, &rec).and_then(|()| self.layout(&rec)) {
            let _ = self.names.remove(&name);
            let _ = self.records.remove(&id);
            let _ = std::fs::remove_dir_all(self.paths.container_dir(&id));
            for v in made {
                let _ = crate::engine::volume::local::destroy(&self.volumes_root(), &v);
                let _ = self.volumes.remove(&v);
            }
            return Err(e);
        }
        self.container_event(&rec, "create", &[]);
        let mounts = rec.host.mounts.clone();
        let handle = Arc::new(Handle::new(rec));
        self.containers
            .lock()
            .map_err(|_| EngineError::Internal("container map poisoned".into()))?
            .insert(id.clone(), handle);
        let made = match self.copy_up(&id, &mounts).await {
            Ok(()) => {
                self.make_working_dir(&id, &working_dir, &layers_for_dir)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            let _ = self.remove_container_with(&id, true, true).await;
            return Err(e);
        }
        Ok((id, warnings))
    }

    /// Docker makes a missing working directory (root's, 0755) before the process starts; a
    /// directory any layer has needs no mount.
    async fn make_working_dir(&self, id: &str, dir: &str, layers: &[PathBuf]) -> Result<()> {
        if dir.is_empty() || dir == "/" {
            return Ok(());
        }
        let path = Path::new(dir);
        use crate::engine::inroot;
        // The topmost layer that has the path decides (a whiteout is not a directory): then
        // the merged root is asked, which says what a file in the way is.
        let in_a_layer = layers
            .iter()
            .rev()
            .find_map(|l| {
                inroot::open_root(l)
                    .and_then(|root| inroot::open_path(&root, path, true))
                    .and_then(|fd| inroot::file_type(&fd))
                    .ok()
            })
            .is_some_and(|t| t == nix::sys::stat::SFlag::S_IFDIR);
        if in_a_layer {
            return Ok(());
        }
        let rootfs = self.rootfs(id).await?;
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            crate::engine::inroot::mkdir_all(&rootfs.root, &path, 0o755)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("working directory task: {e}")))?
        .map_err(|e| match e.raw_os_error() {
            // Docker's words for a path that is there and not a directory.
            Some(libc::ENOTDIR) => {
                EngineError::InvalidArgument(format!("Cannot mkdir: {dir} is not a directory"))
            }
            _ => EngineError::io(format!("create working directory {dir}"), e),
        })
    }

    fn layout(&self, rec: &ContainerRecord) -> Result<()> {
        let dir = self.paths.container_dir(&rec.id);
        let io = |what: &str, e| EngineError::io(format!("{what} in {}", dir.display()), e);
        for sub in ["bundle", "upper", "work"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| io("create dirs", e))?;
        }
        let rootfs = self.paths.rootfs_dir(&rec.id);
        std::fs::create_dir_all(&rootfs)
            .map_err(|e| EngineError::io(format!("create {}", rootfs.display()), e))?;
        // The spec and the monitor's config carry the environment; the log, the output.
        crate::runtime::files::ensure_dir_mode(&dir, 0o710).map_err(|e| io("set mode", e))?;
        let hostname = &rec.config.hostname;
        std::fs::write(dir.join("hostname"), format!("{hostname}\n"))
            .map_err(|e| io("write hostname", e))?;
        // Written again at start on berth's networks. On the host's network and on none this
        // is the file, with the `--add-host`s; `host-gateway` is the default bridge's gateway,
        // as Docker's.
        let extra_hosts = &rec.host.net.extra_hosts;
        let host_gateway = extra_hosts
            .iter()
            .any(|h| h.ends_with("host-gateway"))
            .then(|| self.network.get("bridge").ok())
            .flatten()
            .and_then(|n| n.gateway.parse().ok());
        let generated = || {
            crate::network::files::hosts(
                (hostname, &rec.config.domainname),
                &[],
                extra_hosts,
                &[],
                host_gateway,
            )
        };
        // On the host's network without `--add-host`, Docker gives the host's own file.
        let hosts = if rec.host.network_mode == "host" && extra_hosts.is_empty() {
            std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| generated())
        } else {
            generated()
        };
        std::fs::write(dir.join("hosts"), hosts).map_err(|e| io("write hosts", e))?;
        // A container on berth's networks gets its file at start (`network_up`); one in
        // another's namespace uses that one's.
        let net = &rec.host.net;
        let resolv = match rec.host.network_mode.as_str() {
            mode @ ("host" | "none") => crate::network::files::resolv_conf_without_network(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                mode == "host",
                &net.dns,
                &net.dns_search,
                &net.dns_options,
            ),
            _ => String::new(),
        };
        std::fs::write(dir.join("resolv.conf"), resolv).map_err(|e| io("write resolv.conf", e))?;
        Ok(())
    }

    /// Reserves the asked name, or a generated `adjective_scientist` one, for container `id`.
    fn reserve_name(&self, asked: Option<&str>, id: &str) -> Result<String> {
        if let Some(n) = asked {
            let name = n.strip_prefix('/').unwrap_or(n);
            if self.names.put_new(name, &id)? {
                return Ok(name.to_string());
            }
            let holder: String = self.names.get(name)?.unwrap_or_default();
            return Err(name_in_use(name, &holder));
        }
        const ADJ: [&str; 12] = [
            "brave", "calm", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid",
            "nifty", "quirky", "serene",
        ];
        const NOUN: [&str; 12] = [
            "turing", "hopper", "lovelace", "curie", "noether", "ritchie", "thompson", "knuth",
            "dijkstra", "lamport", "liskov", "torvalds",
        ];
        let mut rng = rand::rng();
        for attempt in 0..100 {
            let mut name = format!(
                "{}_{}",
                ADJ[rng.random_range(0..ADJ.len())],
                NOUN[rng.random_range(0..NOUN.len())]
            );
            // Docker appends a number once the plain pairs start to collide.
            if attempt > 0 {
                name.push_str(&rng.random_range(0..10_000).to_string());
            }
            if self.names.put_new(&name, &id)? {
                return Ok(name);
            }
        }
        Err(EngineError::Internal(
            "could not find a free container name; pass --name".into(),
        ))
    }
}

fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Docker's container name rule.
pub fn validate_name(name: &str) -> Result<()> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if n.len() < 2 || !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(EngineError::InvalidArgument(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(())
}

fn validate_limits(req: &CreateContainer) -> Result<()> {
    let h = &req.host;
    if h.memory < 0 || (h.memory > 0 && h.memory < MIN_MEMORY) {
        return Err(EngineError::InvalidArgument(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if h.memory_swap > 0 && h.memory > 0 && h.memory_swap < h.memory {
        return Err(EngineError::InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if h.memory_swap > 0 && h.memory == 0 {
        return Err(EngineError::InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if h.nano_cpus < 0 || h.cpu_shares < 0 || h.pids_limit.is_some_and(|p| p < -1) {
        return Err(EngineError::InvalidArgument(
            "invalid negative resource limit".into(),
        ));
    }
    let cpus = i64::try_from(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    )
    .unwrap_or(1);
    if h.nano_cpus > cpus * 1_000_000_000 {
        return Err(EngineError::InvalidArgument(format!(
            "range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    Ok(())
}

/// Docker's error for a name another container holds.
pub(crate) fn name_in_use(name: &str, holder: &str) -> EngineError {
    EngineError::Conflict(name_in_use_text(name, holder))
}

/// `name_in_use`'s message.
pub(super) fn name_in_use_text(name: &str, holder: &str) -> String {
    format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )
}

/// The request's settings over the image's, as Docker merges them.
pub fn merge_config(req: &CreateContainer, image: &ImageRecord, id: &str) -> ContainerConfig {
    let ic = &image.config.config;
    // moby's `merge`: the request's variables as given, then the image's it does not name.
    // `-e VAR` with VAR unset on the client arrives without `=` and stays: it hides the
    // image's VAR, and the daemon's of that name when the process starts (`env.rs`).
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let named: std::collections::HashSet<String> = req.env.iter().map(|e| key(e)).collect();
    let mut env = req.env.clone();
    env.extend(ic.env.iter().filter(|e| !named.contains(&key(e))).cloned());
    // As moby's `merge` and `mergeAndVerifyConfig`: an entrypoint given on create resets the
    // image's cmd; an empty one (absent or `[]`) takes the image's cmd when none is given, and
    // the image's entrypoint only when absent; `[""]` (`--entrypoint ""`) then means none.
    let (mut entrypoint, cmd) = match &req.entrypoint {
        Some(ep) if !ep.is_empty() => (ep.clone(), req.cmd.clone().unwrap_or_default()),
        asked => (
            asked
                .clone()
                .unwrap_or_else(|| ic.entrypoint.clone().unwrap_or_default()),
            req.cmd
                .clone()
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| ic.cmd.clone().unwrap_or_default()),
        ),
    };
    if entrypoint.len() == 1 && entrypoint[0].is_empty() {
        entrypoint.clear();
    }
    let mut labels: BTreeMap<String, String> = ic.labels.clone();
    labels.extend(req.labels.clone());
    let mut exposed: Vec<String> = ic.exposed_ports.keys().cloned().collect();
    exposed.extend(req.exposed_ports.iter().cloned());
    exposed.sort();
    exposed.dedup();
    let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
    ContainerConfig {
        image: req.image.clone(),
        image_id: image.id.clone(),
        entrypoint,
        cmd,
        env,
        working_dir: nonempty(&req.working_dir).unwrap_or_else(|| ic.working_dir.clone()),
        user: nonempty(&req.user).unwrap_or_else(|| ic.user.clone()),
        // On the host's network Docker names it after the host.
        hostname: nonempty(&req.hostname).unwrap_or_else(|| {
            let host_name = (req.host.network_mode == "host")
                .then(|| nix::unistd::gethostname().ok())
                .flatten()
                .and_then(|h| h.into_string().ok());
            host_name.unwrap_or_else(|| id[..12].to_string())
        }),
        domainname: req.domainname.clone().unwrap_or_default(),
        labels,
        tty: req.tty,
        open_stdin: req.open_stdin,
        stdin_once: req.stdin_once,
        attach: req.attach,
        stop_signal: req.stop_signal.clone().or_else(|| ic.stop_signal.clone()),
        stop_timeout: req.stop_timeout,
        exposed_ports: exposed,
        healthcheck: super::health::merge(req.healthcheck.as_ref(), ic.extra.get("Healthcheck")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageRecord {
        let mut img: ImageRecord = serde_json::from_value(serde_json::json!({
            "id": "sha256:00", "repo_tags": [], "created": 0, "size": 0,
            "config": {"rootfs": {"type": "layers", "diff_ids": []}}
        }))
        .unwrap();
        img.config.config.env = vec!["PATH=/bin".into(), "A=1".into()];
        img.config.config.cmd = Some(vec!["sh".into()]);
        img.config.config.entrypoint = Some(vec!["/init".into()]);
        img
    }

    #[test]
    fn request_env_overrides_image_env_by_key() {
        let req = CreateContainer {
            env: vec!["A=2".into(), "B=3".into(), "PATH".into()],
            ..Default::default()
        };
        let c = merge_config(&req, &image(), &"a".repeat(64));
        // As docker 20.10's Config.Env: the request's first, then the image's it left.
        assert_eq!(c.env, vec!["A=2", "B=3", "PATH"]);
        let req = CreateContainer {
            env: vec!["B=3".into()],
            ..Default::default()
        };
        let c = merge_config(&req, &image(), &"a".repeat(64));
        assert_eq!(c.env, vec!["B=3", "PATH=/bin", "A=1"]);
        assert_eq!(c.hostname, "a".repeat(12));
    }

    #[test]
    fn entrypoint_override_resets_image_cmd() {
        let req = CreateContainer {
            entrypoint: Some(vec!["echo".into()]),
            ..Default::default()
        };
        let c = merge_config(&req, &image(), &"b".repeat(64));
        assert_eq!((c.entrypoint, c.cmd), (vec!["echo".to_string()], vec![]));
        let req = CreateContainer {
            cmd: Some(vec!["ls".into()]),
            ..Default::default()
        };
        let c = merge_config(&req, &image(), &"b".repeat(64));
        assert_eq!(
            (c.entrypoint, c.cmd),
            (vec!["/init".to_string()], vec!["ls".to_string()])
        );
    }

    #[test]
    fn an_empty_entrypoint_clears_the_images_as_dockers_does() {
        let merged = |entrypoint: Option<Vec<&str>>, cmd: Option<Vec<&str>>| {
            let owned = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
            let req = CreateContainer {
                entrypoint: entrypoint.map(owned),
                cmd: cmd.map(owned),
                ..Default::default()
            };
            let c = merge_config(&req, &image(), &"c".repeat(64));
            (c.entrypoint, c.cmd)
        };
        let none: Vec<String> = Vec::new();
        // `--entrypoint "" busybox echo hi`: the command alone.
        assert_eq!(
            merged(Some(vec![""]), Some(vec!["echo", "hi"])),
            (none.clone(), vec!["echo".to_string(), "hi".to_string()])
        );
        // Without a command: none at all (the create then fails, as Docker's).
        assert_eq!(merged(Some(vec![""]), None), (none.clone(), none.clone()));
        // `[]`: no entrypoint, the image's command.
        assert_eq!(merged(Some(vec![]), None), (none, vec!["sh".to_string()]));
        // An empty command is no command: the image's.
        assert_eq!(
            merged(None, Some(vec![])),
            (vec!["/init".to_string()], vec!["sh".to_string()])
        );
    }

    #[tokio::test]
    async fn taken_names_conflict_and_generated_names_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::engine::Paths {
            data_root: dir.path().join("data"),
            exec_root: dir.path().join("exec"),
            cgroups: Default::default(),
        };
        // Run as root, the engine binds its directories on themselves: undone even on failure,
        // before the directory goes.
        struct Unmount(Vec<std::path::PathBuf>);
        impl Drop for Unmount {
            fn drop(&mut self) {
                for dir in &self.0 {
                    let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        let _unmount = Unmount(paths.berth_dirs());
        let launcher = crate::runtime::launch::Launcher::direct("/nonexistent".into());
        let engine = Engine::open(paths, launcher, Default::default(), Vec::new())
            .await
            .unwrap();
        assert_eq!(engine.reserve_name(Some("/web"), "id1").unwrap(), "web");
        let e = engine.reserve_name(Some("web"), "id2").unwrap_err();
        assert!(
            e.to_string()
                .contains("already in use by container \"id1\""),
            "{e}"
        );
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let name = engine.reserve_name(None, &format!("g{i}")).unwrap();
            assert!(seen.insert(name.clone()), "{name} handed out twice");
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(validate_name("web-1.a_b").is_ok());
        assert!(validate_name("/web").is_ok());
        assert!(validate_name("-web").is_err());
        assert!(validate_name("a").is_err());
        assert!(validate_name("we b").is_err());
    }

    #[test]
    fn tiny_memory_and_swap_below_memory_are_refused() {
        let mut req = CreateContainer::default();
        req.host.memory = 1024;
        assert!(validate_limits(&req)
            .unwrap_err()
            .to_string()
            .contains("6MB"));
        req.host.memory = 64 << 20;
        req.host.memory_swap = 32 << 20;
        assert!(validate_limits(&req).is_err());
        req.host.memory_swap = -1;
        assert!(validate_limits(&req).is_ok());
    }
}
