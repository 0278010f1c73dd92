//! The engine: containers and images, their records and their processes. It never sees HTTP or
//! Docker's JSON types; `api` converts at the edge.

pub mod build;
pub mod container;
pub mod events;
pub mod exec;
pub mod image;
pub mod inroot;
pub mod prune;
pub mod req;
pub mod tree_walk;
pub mod volume;

/// The 12-hex-digit id Docker prints for an image or container (`sha256:` dropped).
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{EngineError, Result};
use crate::runtime::launch::Launcher;
use crate::store::{Records, Store};
use container::handle::Handle;
use container::spec::HostFacts;
use image::ImageStore;

/// Where things live on disk.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Persistent: records, images, container directories.
    pub data_root: PathBuf,
    /// Volatile: the socket, libcontainer's state.
    pub exec_root: PathBuf,
    /// The host's cgroup hierarchies (for OOM counters and cleanup).
    pub cgroups: crate::runtime::cgroups::Hierarchies,
}

impl Paths {
    /// A container's directory under the data root.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }

    /// Where a container's root filesystem is mounted: not in its directory, on a mount of
    /// its own (`berth_dirs`). Each clone of a mount (the overlay's of its upper directory, a
    /// monitor's of the container's hosts file) walks every mount directly below the one it
    /// clones from: with the rootfs mounts below the containers' directories, four walks of
    /// every running container's rootfs per start, 0.35 ms of CPU with 800 running.
    pub fn rootfs_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("rootfs").join(id)
    }

    /// The rootfs of a running container: `rootfs_dir`, or the directory in its bundle where
    /// berth mounted it before, for a container started then and still running.
    pub fn running_rootfs(&self, id: &str) -> PathBuf {
        use std::os::unix::fs::MetadataExt;
        let bundle = self.container_dir(id).join("bundle");
        let older = bundle.join("rootfs");
        let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
        match dev(&older) {
            Some(d) if Some(d) != dev(&bundle) => older,
            _ => self.rootfs_dir(id),
        }
    }

    /// Both places a container's rootfs may be mounted (`running_rootfs`), for clean-ups.
    pub fn rootfs_mount_points(&self, id: &str) -> [PathBuf; 2] {
        [
            self.rootfs_dir(id),
            self.container_dir(id).join("bundle/rootfs"),
        ]
    }

    /// The directories below which berth mounts things for many containers: rootfs overlays,
    /// network namespace files, volumes, and the containers' own files. Each is made a mount
    /// point of its own (`runtime::mount_ns`).
    pub fn berth_dirs(&self) -> Vec<PathBuf> {
        vec![
            self.data_root.join("containers"),
            self.data_root.join("rootfs"),
            self.exec_root.join("netns"),
            self.data_root.join("volumes"),
        ]
    }

    /// A monitor's control socket (stdin, resize, exec). Kept short: unix socket paths are
    /// limited to 108 bytes.
    pub fn control_socket(&self, id: &str) -> PathBuf {
        self.socket_dir()
            .join(format!("{}.sock", &id[..24.min(id.len())]))
    }

    /// Where libcontainer sends the terminal master of a container or exec `id`.
    pub fn console_socket(&self, id: &str) -> PathBuf {
        self.socket_dir()
            .join(format!("{}.con", &id[..24.min(id.len())]))
    }

    fn socket_dir(&self) -> PathBuf {
        self.exec_root.join("ctl")
    }

    /// The static init binary `--init` mounts as /sbin/docker-init.
    pub fn init_binary(&self) -> PathBuf {
        self.data_root.join("bin").join("berth-init")
    }

    /// libcontainer's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }

    /// Compiled seccomp filters, shared by the monitors (per boot: the exec root is a tmpfs).
    pub fn seccomp_cache(&self) -> PathBuf {
        self.exec_root.join("seccomp")
    }
}

/// The engine behind the API. Cheap to share (`Arc`).
pub struct Engine {
    pub(crate) paths: Paths,
    pub(crate) records: Records,
    pub(crate) names: Records,
    pub(crate) volumes: Records,
    pub(crate) images: ImageStore,
    pub(crate) launcher: Launcher,
    /// The mount namespace monitors start from (`runtime::mount_ns::make_template`); `None`
    /// where it could not be made (they copy the host's).
    pub(crate) mount_template: Option<std::os::fd::OwnedFd>,
    pub(crate) host: HostFacts,
    pub(crate) containers: Mutex<HashMap<String, Arc<Handle>>>,
    /// Recent events and their live subscribers.
    pub(crate) events: events::EventLog,
    /// Execs by id, in memory only (Docker forgets them on restart too).
    pub(crate) execs: Mutex<HashMap<String, Arc<exec::ExecEntry>>>,
    /// This daemon's stable id (`/info`'s ID).
    pub(crate) id: String,
    /// Host limitations worth telling users about (`/info`'s Warnings).
    pub(crate) warnings: Vec<String>,
    /// Local networks, endpoints, published ports.
    pub(crate) network: Arc<crate::network::Networks>,
    /// Lets background tasks (exit watchers, restarts) reach the engine.
    pub(crate) this: std::sync::Weak<Engine>,
    /// The daemon's `log-driver` and `log-opts`, for containers that name none.
    pub(crate) log_default: Mutex<container::log_config::LogSettings>,
    /// Pays the cgroup lock's grace period beside starts and execs (`runtime::cgroup_primer`).
    pub(crate) primer: crate::runtime::cgroup_primer::Primer,
    /// The container list's rows as last rendered.
    pub(crate) list_rows: container::list_rows::ListRows,
}

impl Engine {
    /// Opens the state under `paths.data_root` and finds running containers again; containers
    /// get loopback-only namespaces (no network kernel), as in unit tests.
    pub async fn open(
        paths: Paths,
        launcher: Launcher,
        host: HostFacts,
        warnings: Vec<String>,
    ) -> Result<Arc<Engine>> {
        Self::open_with_network(paths, launcher, host, warnings, Default::default(), None).await
    }

    /// `open` with local networks: `kernel` is how links, rules and namespaces are made.
    pub async fn open_with_network(
        paths: Paths,
        launcher: Launcher,
        host: HostFacts,
        warnings: Vec<String>,
        net_config: crate::network::NetConfig,
        kernel: Option<crate::network::NetKernel>,
    ) -> Result<Arc<Engine>> {
        let berth_dirs = paths.berth_dirs();
        // The exec root may hold the API socket (reached by the socket's group); everything
        // else is root's: monitors' control sockets, namespaces, libcontainer's state.
        let private = [paths.runtime_root(), paths.socket_dir()];
        let modes = [(&paths.exec_root, 0o711)]
            .into_iter()
            .chain(berth_dirs.iter().chain(&private).map(|d| (d, 0o700)));
        for (dir, mode) in modes {
            crate::runtime::files::ensure_dir_mode(dir, mode)
                .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
        }
        crate::runtime::mount_ns::make_mount_points(&berth_dirs);
        let mount_template = crate::runtime::mount_ns::make_template(&berth_dirs)
            .inspect_err(|e| tracing::warn!(error = %e, "no template mount namespace for monitors"))
            .ok();
        // After the template, whose descriptor the spawner must inherit to pass it on.
        launcher.start_spawner();
        install_init(&paths.init_binary())?;
        let store = Store::open(&paths.data_root)?;
        let images = ImageStore::open(&paths.data_root.join("image"), &store)?;
        let id = daemon_id(&paths.data_root)?;
        let records = store.records("containers")?;
        let names = store.records("names")?;
        let volumes = store.records("volumes")?;
        let events = events::EventLog::open(paths.data_root.join("events.jsonl"));
        let network = crate::network::Networks::open(
            &store,
            net_config,
            paths.exec_root.join("netns"),
            kernel,
        )?;
        let mut warnings = warnings;
        warnings.extend(network.init().await?);
        let network = Arc::new(network);
        let primer = crate::runtime::cgroup_primer::Primer::new(paths.cgroups.own_procs.clone());
        let engine = Arc::new_cyclic(|this| Engine {
            primer,
            records,
            names,
            volumes,
            paths,
            images,
            launcher,
            mount_template,
            host,
            containers: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            events,
            id,
            warnings,
            network,
            this: this.clone(),
            log_default: Mutex::default(),
            list_rows: Default::default(),
        });
        engine.restore().await?;
        Ok(engine)
    }

    /// Sets the daemon's log driver and options (`log-driver`, `log-opts`), checked as a
    /// container's would be.
    pub fn set_log_default(
        &self,
        driver: &str,
        opts: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        let settings = container::log_config::log_settings(driver, opts)?;
        *self
            .log_default
            .lock()
            .map_err(|_| EngineError::Internal("log default poisoned".into()))? = settings;
        Ok(())
    }

    /// The log settings of a container that names none.
    pub(crate) fn log_default(&self) -> Result<container::log_config::LogSettings> {
        self.log_default
            .lock()
            .map(|l| l.clone())
            .map_err(|_| EngineError::Internal("log default poisoned".into()))
    }

    /// This daemon's id.
    pub fn daemon_id(&self) -> &str {
        &self.id
    }

    /// Warnings for `/info`.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The event log.
    pub fn events(&self) -> &events::EventLog {
        &self.events
    }

    /// Records a container event with Docker's attributes: name, image, labels, and `extra`.
    pub(crate) fn container_event(
        &self,
        rec: &container::ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs: std::collections::BTreeMap<String, String> = rec.config.labels.clone();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.config.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.emit("container", action, &rec.id, attrs);
    }

    /// Records an image's `tag` event for `name` (`repo:tag`), named as Docker names it, in its
    /// familiar form (`app:1`, not `docker.io/library/app:1`).
    pub fn tag_event(&self, id: &str, name: &str) {
        let familiar = image::Reference::parse_tag(name)
            .map_or_else(|_| name.to_string(), |r| r.familiar_tagged());
        self.image_event("tag", id, &familiar);
    }

    /// Records an image event (`import`, `load`, `tag`, `untag`, `delete`, `pull`, `push`).
    pub fn image_event(&self, action: &str, id: &str, name: &str) {
        let attrs = std::collections::BTreeMap::from([("name".to_string(), name.to_string())]);
        self.events.emit("image", action, id, attrs);
    }

    /// The image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Data and exec roots.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// What the host supports.
    pub fn host_facts(&self) -> HostFacts {
        self.host
    }

    pub(crate) fn handles(&self) -> Vec<Arc<Handle>> {
        self.containers
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub(crate) fn lookup(&self, key: &str) -> Result<Arc<Handle>> {
        let key = key.strip_prefix('/').unwrap_or(key);
        let map = self
            .containers
            .lock()
            .map_err(|_| EngineError::Internal("container map poisoned".into()))?;
        if let Some(h) = map.get(key) {
            return Ok(h.clone());
        }
        if let Ok(Some(id)) = self.names.get::<String>(key) {
            if let Some(h) = map.get(&id) {
                return Ok(h.clone());
            }
        }
        let matches: Vec<&Arc<Handle>> = map
            .iter()
            .filter(|(id, _)| id.starts_with(key))
            .map(|(_, h)| h)
            .collect();
        match matches.as_slice() {
            [one] if !key.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(EngineError::NoSuchContainer(key.to_string())),
            _ => Err(EngineError::InvalidArgument(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
        }
    }

    /// Removes an image (Docker's rules in `ImageStore::remove`); one used by a container needs `force`.
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<Vec<image::RemovedItem>> {
        self.remove_image_pruning(name, force, true).await
    }

    /// As [`Engine::remove_image`]; without `prune_parents` (`noprune`) the untagged build
    /// steps the image was made of stay.
    pub async fn remove_image_pruning(
        &self,
        name: &str,
        force: bool,
        prune_parents: bool,
    ) -> Result<Vec<image::RemovedItem>> {
        // Each image's user, a running container before a stopped one.
        let mut used: std::collections::HashMap<String, image::ImageUser> = Default::default();
        for h in self.handles() {
            let rec = h.snapshot().await;
            let user = image::ImageUser {
                container: rec.id.clone(),
                running: rec.state.status.is_running(),
            };
            let slot = used
                .entry(rec.config.image_id.clone())
                .or_insert(user.clone());
            if user.running && !slot.running {
                *slot = user;
            }
        }
        let image_id = self.images.resolve(name).map(|i| i.id).unwrap_or_default();
        let items = self
            .images
            .remove_pruning(name, force, prune_parents, &|id: &str| {
                used.get(id).cloned()
            })?;
        // moby names the image by its id in both (the tag removed is not in the event).
        for item in &items {
            match item {
                image::RemovedItem::Untagged(_) => {
                    self.image_event("untag", &image_id, &image_id);
                }
                image::RemovedItem::Deleted(id) => self.image_event("delete", id, id),
            }
        }
        Ok(items)
    }

    pub(crate) fn me(&self) -> Option<Arc<Engine>> {
        self.this.upgrade()
    }
}

/// The init binary built into berthd (see build.rs), written out where containers can mount it.
const INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

fn install_init(path: &Path) -> Result<()> {
    if is_installed(path) {
        return Ok(());
    }
    let io = |e| EngineError::io(format!("install {}", path.display()), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    crate::runtime::files::write_atomic(path, INIT_BINARY).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(io)
}

/// Whether `path` already holds `INIT_BINARY`.
fn is_installed(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b == INIT_BINARY)
}

/// The daemon id, made once and kept in `<data_root>/engine-id`.
fn daemon_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    let bytes: [u8; 16] = rand::random();
    let id = hex::encode(bytes);
    crate::runtime::files::write_atomic(&path, id.as_bytes())
        .map_err(|e| EngineError::io(format!("write {}", path.display()), e))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rootfs_an_older_berthd_mounted_in_the_bundle_is_found_there_while_mounted() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP (needs root): a_rootfs_an_older_berthd_mounted_in_the_bundle…");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            data_root: dir.path().join("data"),
            exec_root: dir.path().join("exec"),
            cgroups: Default::default(),
        };
        let older = paths.container_dir("c1").join("bundle/rootfs");
        std::fs::create_dir_all(&older).unwrap();
        assert_eq!(paths.running_rootfs("c1"), paths.rootfs_dir("c1"));
        struct Unmount<'a>(&'a Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        nix::mount::mount(
            Some("tmpfs"),
            &older,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let _unmount = Unmount(&older);
        assert_eq!(paths.running_rootfs("c1"), older);
        assert!(paths.rootfs_mount_points("c1").contains(&older));
    }

    #[test]
    fn the_init_binary_is_installed_once_and_repaired_when_it_differs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin").join("berth-init");
        assert!(!is_installed(&path));
        install_init(&path).unwrap();
        assert!(is_installed(&path));
        assert_eq!(std::fs::read(&path).unwrap(), INIT_BINARY);

        // Same size, one byte changed at the end: not the binary we ship.
        let mut altered = INIT_BINARY.to_vec();
        if let Some(last) = altered.last_mut() {
            *last ^= 0xff;
        }
        std::fs::write(&path, &altered).unwrap();
        assert!(!is_installed(&path));
        std::fs::write(&path, &INIT_BINARY[..INIT_BINARY.len() / 2]).unwrap();
        assert!(!is_installed(&path));
        install_init(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), INIT_BINARY);
    }
}
