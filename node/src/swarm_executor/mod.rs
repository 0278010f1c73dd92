//! The swarm's `Executor` on this daemon's `Engine` (moby's `daemon/cluster/executor`): task
//! containers are ordinary engine containers labelled with their task id, so they survive a
//! berthd restart like any other. Lives beside `api/` rather than in `engine/` because it maps
//! Docker's `ContainerSpec` through the API's create conversion, and `engine/` never sees
//! Docker's models.

mod container;
mod files;
mod networks;

pub use networks::SwarmNetworkHook;

use std::sync::Arc;
use std::time::Duration;

use berth_swarm::executor::{
    BoxFuture, ContainerHealth, ContainerTask, ExecError, Executor, LogOptions, LogRecord,
    TaskContainer,
};
use berth_swarm::model::{HostPort, Protocol, LABEL_TASK_ID};
use bollard_stubs::models::{
    EngineDescription, GenericResourcesInner, NodeDescription, Platform, ResourceObject,
};
use tokio::sync::mpsc;

use crate::engine::container::ContainerRecord;
use crate::engine::image::{ProgressSink, PullRequest, Reference};
use crate::engine::req::{ListContainers, ListFilters};
use crate::engine::Engine;
use crate::runtime::logfile::Stream;

/// The executor of one daemon.
pub struct EngineExecutor {
    engine: Arc<Engine>,
    /// Held shared by every start (from its secrets' tmpfs to its container's creation) and
    /// exclusively by a listing that sweeps: a tmpfs without a container is a leftover only
    /// when no start is making one.
    starts: tokio::sync::RwLock<()>,
    /// The generic resources this node advertises (`node-generic-resources`).
    generic_resources: Vec<GenericResourcesInner>,
}

impl EngineExecutor {
    /// Runs tasks on `engine`.
    pub fn new(engine: Arc<Engine>, generic_resources: Vec<GenericResourcesInner>) -> Self {
        EngineExecutor {
            engine,
            generic_resources,
            starts: tokio::sync::RwLock::new(()),
        }
    }

    /// The task containers; when no start is in flight, also removes the secrets of tasks
    /// whose container is gone (removed by hand, not through the executor).
    async fn list(&self) -> Result<Vec<TaskContainer>, ExecError> {
        let sweeping = self.starts.try_write();
        let list = self.list_containers().await?;
        if sweeping.is_ok() {
            let live: std::collections::HashSet<&str> =
                list.iter().map(|c| c.task_id.as_str()).collect();
            files::sweep(&self.engine.paths().exec_root, &live);
        }
        Ok(list)
    }

    async fn list_containers(&self) -> Result<Vec<TaskContainer>, ExecError> {
        let req = ListContainers {
            all: true,
            limit: None,
            filters: ListFilters {
                label: vec![LABEL_TASK_ID.to_string()],
                ..ListFilters::default()
            },
        };
        let list = self.engine.list_containers(&req).await;
        let list = list.map_err(|e| ExecError::Other(e.to_string()))?;
        Ok(list
            .iter()
            .filter_map(|r| task_container(r, self.node_ports(&r.id)))
            .collect())
    }

    /// The local name of `wanted`: as named, without its digest (an image loaded locally has
    /// no repo digest), or pulled.
    async fn local_image(&self, wanted: &str, auth: Option<&str>) -> Result<String, ExecError> {
        let images = self.engine.images();
        if images.resolve(wanted).is_ok() {
            return Ok(wanted.to_string());
        }
        let plain = wanted.split_once('@').map_or(wanted, |(name, _)| name);
        if images.resolve(plain).is_ok() {
            return Ok(plain.to_string());
        }
        let reference = Reference::parse(wanted)
            .map_err(|e| ExecError::Rejected(format!("invalid image {wanted:?}: {e}")))?;
        let credentials = crate::api::convert::image::registry_auth(auth)
            .map_err(|e| ExecError::Rejected(e.to_string()))?;
        let req = PullRequest {
            reference,
            platform: None,
            credentials,
        };
        let pulled = async {
            let prepared = images.prepare_pull(&req).await?;
            prepared.run(&ProgressSink::discard()).await
        };
        match pulled.await {
            Ok(_) if images.resolve(plain).is_ok() => Ok(plain.to_string()),
            Ok(_) => Ok(wanted.to_string()),
            Err(e) => Err(ExecError::Rejected(format!(
                "No such image: {wanted} ({e})"
            ))),
        }
    }

    async fn start(&self, task: ContainerTask) -> Result<TaskContainer, ExecError> {
        for a in &task.networks {
            self.engine
                .networks()
                .ensure_overlay(&container::overlay_record(a))
                .map_err(|e| ExecError::Rejected(e.to_string()))?;
        }
        let _starting = self.starts.read().await;
        let exec_root = self.engine.paths().exec_root.clone();
        let mounts = files::prepare(&exec_root, &task.task_id, &task.files)?;
        let mut body = container::create_body(&task);
        // A task on an overlay with a way out joins the node's gateway bridge too (Docker's
        // docker_gwbridge): its default route and masquerade, never its main network.
        if task.networks.iter().any(|a| !a.internal) {
            let gw = self
                .engine
                .networks()
                .ensure_gateway_bridge()
                .await
                .map_err(|e| ExecError::Rejected(e.to_string()))?;
            if let Some(endpoints) = body
                .networking_config
                .as_mut()
                .and_then(|c| c.endpoints_config.as_mut())
            {
                endpoints.insert(gw.id, bollard_stubs::models::EndpointSettings::default());
            }
        }
        if let Some(host) = body.host_config.as_mut().filter(|_| !mounts.is_empty()) {
            host.mounts.get_or_insert_with(Vec::new).extend(mounts);
        }
        let created = match crate::api::convert::container::create_request(
            body,
            Some(task.name.clone()),
            crate::api::ApiVersion::CURRENT,
        ) {
            Ok(req) => self
                .engine
                .create_container(req)
                .await
                .map_err(|e| ExecError::Rejected(e.to_string())),
            Err(e) => Err(ExecError::Rejected(e.message)),
        };
        let (id, _) = created.inspect_err(|_| files::release(&exec_root, &task.task_id))?;
        self.engine
            .start_container(&id)
            .await
            .map_err(|e| ExecError::Failed(e.to_string()))?;
        self.inspect(&id).await
    }

    async fn inspect(&self, id: &str) -> Result<TaskContainer, ExecError> {
        let c = self
            .engine
            .inspect_container(id)
            .await
            .map_err(|e| ExecError::Failed(e.to_string()))?;
        task_container(&c, self.node_ports(id))
            .ok_or_else(|| ExecError::Other(format!("{id} is not a task's")))
    }

    /// The ports container `id` publishes on this node, as bound.
    fn node_ports(&self, id: &str) -> Vec<HostPort> {
        let endpoints = self.engine.networks().endpoints_of(id).unwrap_or_default();
        let mut out: Vec<HostPort> = Vec::new();
        for p in endpoints.iter().flat_map(|e| e.ports.iter()) {
            let port = HostPort {
                target: p.container_port,
                published: p.host_port,
                protocol: match p.proto.as_str() {
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => Protocol::Tcp,
                },
            };
            if !out.contains(&port) {
                out.push(port);
            }
        }
        // The bindings come from a map: in the order of their ports, for a stable status.
        out.sort_by_key(|p| (p.target, p.protocol, p.published));
        out
    }

    async fn stop_one(&self, id: &str, grace: Duration) -> Result<TaskContainer, ExecError> {
        let seconds = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        // A container that stopped on its own meanwhile is what was asked for: its state
        // afterwards is the answer either way.
        if let Err(e) = self.engine.stop_container(id, Some(seconds), None).await {
            tracing::debug!(container = %id, error = %e, "stopping a task container");
        }
        self.inspect(id).await
    }

    async fn read_logs(
        &self,
        id: &str,
        o: LogOptions,
    ) -> Result<mpsc::Receiver<LogRecord>, ExecError> {
        let out = self.engine.logs(id, o).await.map_err(|e| match e.kind() {
            crate::error::ErrorKind::NotFound => ExecError::NotFound(e.to_string()),
            _ => ExecError::Other(e.to_string()),
        })?;
        let (tx, rx) = mpsc::channel(64);
        let mut chunks = out.chunks;
        tokio::spawn(async move {
            while let Some(chunk) = chunks.recv().await {
                let record = LogRecord {
                    stderr: chunk.stream == Stream::Stderr,
                    bytes: chunk.bytes,
                };
                if tx.send(record).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

/// A container as a task's, when it carries a task id.
fn task_container(c: &ContainerRecord, ports: Vec<HostPort>) -> Option<TaskContainer> {
    let task_id = c.config.labels.get(LABEL_TASK_ID)?.clone();
    Some(TaskContainer {
        ports,
        id: c.id.clone(),
        task_id,
        running: c.state.status.is_running(),
        pid: i64::from(c.state.pid),
        exit_code: c.state.exit_code,
        health: match c.state.health.as_ref() {
            Some(h) => Some(match h.status.as_str() {
                "healthy" => ContainerHealth::Healthy,
                "unhealthy" => ContainerHealth::Unhealthy,
                _ => ContainerHealth::Starting,
            }),
            // Just started: its health loop has not said "starting" yet.
            None if has_health_check(c) => Some(ContainerHealth::Starting),
            None => None,
        },
    })
}

/// Whether the container runs health checks (its own or its image's; a `NONE` test is none).
fn has_health_check(c: &ContainerRecord) -> bool {
    c.config
        .healthcheck
        .as_ref()
        .and_then(|h| h.test.first())
        .is_some_and(|first| first != "NONE")
}

/// This node as Docker's `NodeDescription`.
fn description(generic_resources: &[GenericResourcesInner]) -> NodeDescription {
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus = i64::try_from(cpus).unwrap_or(1);
    NodeDescription {
        hostname: Some(hostname),
        platform: Some(Platform {
            architecture: Some(std::env::consts::ARCH.to_string()),
            os: Some("linux".to_string()),
        }),
        resources: Some(ResourceObject {
            nano_cpus: Some(cpus * 1_000_000_000),
            memory_bytes: Some(crate::api::system::mem_total()),
            generic_resources: Some(generic_resources.to_vec()).filter(|g| !g.is_empty()),
        }),
        engine: Some(EngineDescription {
            engine_version: Some(crate::api::system::VERSION.to_string()),
            labels: Some(Default::default()),
            plugins: Some(
                crate::api::system::PLUGINS
                    .iter()
                    .flat_map(|(kind, names)| {
                        names
                            .iter()
                            .map(|n| bollard_stubs::models::EngineDescriptionPlugins {
                                typ: Some((*kind).to_string()),
                                name: Some((*n).to_string()),
                            })
                    })
                    .collect(),
            ),
        }),
        tls_info: None,
    }
}

impl Executor for EngineExecutor {
    fn describe(&self) -> BoxFuture<'_, NodeDescription> {
        Box::pin(async { description(&self.generic_resources) })
    }

    fn local_subnets(&self) -> Vec<String> {
        let networks = self.engine.networks().list().unwrap_or_default();
        networks
            .into_iter()
            .filter(|n| n.vni.is_none() && !n.subnet.is_empty())
            .map(|n| n.subnet)
            .collect()
    }

    fn task_containers(&self) -> BoxFuture<'_, Result<Vec<TaskContainer>, ExecError>> {
        Box::pin(self.list())
    }

    fn ensure_image<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, ExecError>> {
        Box::pin(self.local_image(image, auth))
    }

    fn start_task(&self, task: ContainerTask) -> BoxFuture<'_, Result<TaskContainer, ExecError>> {
        Box::pin(self.start(task))
    }

    fn stop<'a>(
        &'a self,
        container_id: &'a str,
        grace: Duration,
    ) -> BoxFuture<'a, Result<TaskContainer, ExecError>> {
        Box::pin(self.stop_one(container_id, grace))
    }

    fn remove<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let task_id = self.inspect(container_id).await.ok().map(|c| c.task_id);
            let removed = self.engine.remove_container(container_id, true).await;
            removed.map_err(|e| ExecError::Other(e.to_string()))?;
            // The container's secrets go with it.
            if let Some(task_id) = task_id {
                files::release(&self.engine.paths().exec_root, &task_id);
            }
            Ok(())
        })
    }

    fn sync_peers(
        &self,
        peers: Vec<berth_swarm::peers::NetworkPeers>,
    ) -> BoxFuture<'_, Result<(), ExecError>> {
        let views: Vec<crate::network::OverlayView> = peers
            .into_iter()
            .map(|n| crate::network::OverlayView {
                vni: n.vni,
                remote: n
                    .remote
                    .iter()
                    .map(|p| berth_overlay::RemoteEndpoint {
                        ip: p.ip,
                        mac: p.mac,
                        vtep: p.vtep,
                    })
                    .collect(),
                names: n.names.into_iter().map(|r| (r.name, r.ips)).collect(),
                vips: n.vips.into_iter().map(|v| (v.vip, v.backends)).collect(),
                ingress: n.ingress.map(|i| crate::network::IngressLocal {
                    network: container::overlay_record(&berth_swarm::model::TaskAttachment {
                        network_id: i.network_id,
                        name: i.name,
                        vni: n.vni,
                        subnet: i.subnet,
                        gateway: i.gateway,
                        address: std::net::Ipv4Addr::UNSPECIFIED,
                        aliases: Vec::new(),
                        mtu: None,
                        port: i.port,
                        internal: false,
                        driver_opts: Default::default(),
                    }),
                    own: i.own,
                    ports: i
                        .ports
                        .into_iter()
                        .map(|p| crate::network::mesh::MeshPort {
                            published: p.published,
                            target: p.target,
                            protocol: p.protocol,
                            backends: p.backends,
                        })
                        .collect(),
                }),
            })
            .collect();
        Box::pin(async move {
            self.engine
                .networks()
                .sync_overlay_peers(&views)
                .await
                .map_err(|e| ExecError::Other(e.to_string()))
        })
    }

    fn logs<'a>(
        &'a self,
        container_id: &'a str,
        options: LogOptions,
    ) -> BoxFuture<'a, Result<mpsc::Receiver<LogRecord>, ExecError>> {
        Box::pin(self.read_logs(container_id, options))
    }
}
