//! `berth swarm init|join|leave|join-token|update|unlock-key|unlock`: docker's flags and messages
//! (the join command printed after `init`, "Node left the swarm.", the unlock-key block),
//! with `berth` in the commands it tells the user to run.

use anyhow::{anyhow, bail, Result};
use bollard::errors::Error as DockerError;
use bollard::models::{SwarmInitRequest, SwarmJoinRequest, SwarmSpec};
use bollard::query_parameters::{LeaveSwarmOptionsBuilder, UpdateSwarmOptionsBuilder};
use bollard::Docker;
use clap::{Args, Subcommand};

use super::swarm_spec::{join_text, merge_spec, node_addr, unlock_text, SpecFlags};
use crate::client::Client;

const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:2377";

/// `berth swarm …`
#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Initialize a swarm
    Init(InitArgs),
    /// Join a swarm as a node and/or manager
    Join(JoinArgs),
    /// Leave the swarm
    Leave(LeaveArgs),
    /// Manage join tokens
    #[command(name = "join-token")]
    JoinToken(JoinTokenArgs),
    /// Update the swarm
    #[command(arg_required_else_help = true)]
    Update(SpecFlags),
    /// Manage the unlock key
    #[command(name = "unlock-key")]
    UnlockKey(UnlockKeyArgs),
    /// Unlock swarm
    Unlock,
}

/// `berth swarm init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Advertised address (format: "<ip|interface>[:port]")
    #[arg(long = "advertise-addr", value_name = "string")]
    pub advertise_addr: Option<String>,
    /// Listen address (format: "<ip|interface>[:port]")
    #[arg(long = "listen-addr", value_parser = node_addr, default_value = DEFAULT_LISTEN_ADDR, value_name = "node-addr")]
    pub listen_addr: String,
    /// Address or interface to use for data path traffic (format: "<ip|interface>")
    #[arg(long = "data-path-addr", value_name = "string")]
    pub data_path_addr: Option<String>,
    /// Port number to use for data path traffic (1024 - 49151)
    #[arg(long = "data-path-port", value_name = "uint32")]
    pub data_path_port: Option<u32>,
    /// default address pool in CIDR format
    #[arg(
        long = "default-addr-pool",
        value_delimiter = ',',
        value_name = "ipNetSlice"
    )]
    pub default_addr_pool: Vec<String>,
    /// default address pool subnet mask length
    #[arg(
        long = "default-addr-pool-mask-length",
        default_value_t = 24,
        value_name = "uint32"
    )]
    pub default_addr_pool_mask_length: u32,
    /// Force create a new cluster from current state
    #[arg(long = "force-new-cluster")]
    pub force_new_cluster: bool,
    #[command(flatten)]
    pub spec: SpecFlags,
}

/// `berth swarm join`
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Token for entry into the swarm
    #[arg(long, value_name = "string")]
    pub token: Option<String>,
    /// Advertised address (format: "<ip|interface>[:port]")
    #[arg(long = "advertise-addr", value_name = "string")]
    pub advertise_addr: Option<String>,
    /// Listen address (format: "<ip|interface>[:port]")
    #[arg(long = "listen-addr", value_parser = node_addr, default_value = DEFAULT_LISTEN_ADDR, value_name = "node-addr")]
    pub listen_addr: String,
    /// Address or interface to use for data path traffic (format: "<ip|interface>")
    #[arg(long = "data-path-addr", value_name = "string")]
    pub data_path_addr: Option<String>,
    /// HOST:PORT of a manager
    pub remote: String,
}

/// `berth swarm leave`
#[derive(Debug, Args)]
pub struct LeaveArgs {
    /// Force this node to leave the swarm, ignoring warnings
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth swarm join-token`
#[derive(Debug, Args)]
pub struct JoinTokenArgs {
    /// Rotate join token
    #[arg(long)]
    pub rotate: bool,
    /// Only display token
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// worker|manager
    pub role: String,
}

/// `berth swarm unlock-key`
#[derive(Debug, Args)]
pub struct UnlockKeyArgs {
    /// Rotate unlock key
    #[arg(long)]
    pub rotate: bool,
    /// Only display token
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Runs one `swarm` subcommand.
pub async fn run(client: &Client, command: SwarmCommand) -> Result<i32> {
    let docker = client.docker()?;
    match command {
        SwarmCommand::Init(a) => init(client, &docker, a).await?,
        SwarmCommand::Join(a) => join(&docker, a).await?,
        SwarmCommand::Leave(a) => {
            let options = LeaveSwarmOptionsBuilder::new().force(a.force).build();
            docker.leave_swarm(Some(options)).await?;
            println!("Node left the swarm.");
        }
        SwarmCommand::JoinToken(a) => join_token(&docker, a).await?,
        SwarmCommand::Update(a) => update(client, &docker, &a).await?,
        SwarmCommand::UnlockKey(a) => unlock_key(client, &docker, a).await?,
        SwarmCommand::Unlock => unlock(client).await?,
    }
    Ok(0)
}

async fn init(client: &Client, docker: &Docker, a: InitArgs) -> Result<()> {
    let mut spec = SwarmSpec::default();
    merge_spec(&mut spec, &a.spec);
    let request = SwarmInitRequest {
        listen_addr: Some(a.listen_addr),
        advertise_addr: a.advertise_addr,
        data_path_addr: a.data_path_addr,
        data_path_port: a.data_path_port,
        default_addr_pool: (!a.default_addr_pool.is_empty()).then_some(a.default_addr_pool),
        force_new_cluster: Some(a.force_new_cluster),
        subnet_size: Some(a.default_addr_pool_mask_length),
        spec: Some(spec),
    };
    let node_id = match docker.init_swarm(request).await {
        Ok(id) => id,
        Err(DockerError::DockerResponseServerError {
            status_code,
            message,
        }) if message.contains("could not choose an IP address to advertise")
            || message.contains("could not find the system's IP address") =>
        {
            let message = format!("{message} - specify one with --advertise-addr");
            return Err(DockerError::DockerResponseServerError {
                status_code,
                message,
            }
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    println!("Swarm initialized: current node ({node_id}) is now a manager.\n");
    print_join_command(docker, &node_id, true, false).await?;
    println!("To add a manager to this swarm, run 'berth swarm join-token manager' and follow the instructions.\n");
    if a.spec.autolock == Some(true) {
        print!("{}", unlock_text(&fetch_unlock_key(client).await?));
    }
    Ok(())
}

async fn join(docker: &Docker, a: JoinArgs) -> Result<()> {
    let request = SwarmJoinRequest {
        listen_addr: Some(a.listen_addr),
        advertise_addr: a.advertise_addr,
        data_path_addr: a.data_path_addr,
        remote_addrs: Some(vec![a.remote]),
        join_token: a.token,
    };
    docker.join_swarm(request).await?;
    let info = docker.info().await?;
    let manager = info
        .swarm
        .and_then(|s| s.control_available)
        .unwrap_or(false);
    let role = if manager { "manager" } else { "worker" };
    println!("This node joined a swarm as a {role}.");
    Ok(())
}

async fn join_token(docker: &Docker, a: JoinTokenArgs) -> Result<()> {
    let (worker, manager) = match a.role.as_str() {
        "worker" => (true, false),
        "manager" => (false, true),
        other => bail!("unknown role {other}"),
    };
    if a.rotate {
        let swarm = docker.inspect_swarm().await?;
        let options = UpdateSwarmOptionsBuilder::new()
            .version(version_of(&swarm.version))
            .rotate_worker_token(worker)
            .rotate_manager_token(manager)
            .build();
        docker
            .update_swarm(swarm.spec.unwrap_or_default(), options)
            .await?;
        if !a.quiet {
            println!("Successfully rotated {} join token.\n", a.role);
        }
    }
    let swarm = docker.inspect_swarm().await?;
    if a.quiet {
        let tokens = swarm.join_tokens.unwrap_or_default();
        let token = if worker {
            tokens.worker
        } else {
            tokens.manager
        };
        println!("{}", token.unwrap_or_default());
        return Ok(());
    }
    let info = docker.info().await?;
    let node_id = info.swarm.and_then(|s| s.node_id).unwrap_or_default();
    print_join_command(docker, &node_id, worker, manager).await
}

/// Docker's `printJoinCommand`: the token and this manager's address, when it is a manager.
async fn print_join_command(
    docker: &Docker,
    node_id: &str,
    worker: bool,
    manager: bool,
) -> Result<()> {
    let node = docker.inspect_node(node_id).await?;
    let swarm = docker.inspect_swarm().await?;
    let Some(addr) = node.manager_status.map(|m| m.addr.unwrap_or_default()) else {
        return Ok(());
    };
    let tokens = swarm.join_tokens.unwrap_or_default();
    if worker {
        print!(
            "{}",
            join_text("worker", tokens.worker.as_deref().unwrap_or(""), &addr)
        );
    }
    if manager {
        print!(
            "{}",
            join_text("manager", tokens.manager.as_deref().unwrap_or(""), &addr)
        );
    }
    Ok(())
}

async fn update(client: &Client, docker: &Docker, flags: &SpecFlags) -> Result<()> {
    let swarm = docker.inspect_swarm().await?;
    let mut spec = swarm.spec.unwrap_or_default();
    let was_locked = autolock_of(&spec);
    merge_spec(&mut spec, flags);
    let locked = autolock_of(&spec);
    let options = UpdateSwarmOptionsBuilder::new()
        .version(version_of(&swarm.version))
        .build();
    docker.update_swarm(spec, options).await?;
    println!("Swarm updated.");
    if locked && !was_locked {
        print!("{}", unlock_text(&fetch_unlock_key(client).await?));
    }
    Ok(())
}

async fn unlock_key(client: &Client, docker: &Docker, a: UnlockKeyArgs) -> Result<()> {
    if a.rotate {
        let swarm = docker.inspect_swarm().await?;
        let spec = swarm.spec.unwrap_or_default();
        if !autolock_of(&spec) {
            bail!("cannot rotate because autolock is not turned on");
        }
        let options = UpdateSwarmOptionsBuilder::new()
            .version(version_of(&swarm.version))
            .rotate_manager_unlock_key(true)
            .build();
        docker.update_swarm(spec, options).await?;
        if !a.quiet {
            println!("Successfully rotated manager unlock key.");
        }
    }
    let key = fetch_unlock_key(client).await?;
    if key.is_empty() {
        bail!("no unlock key is set");
    }
    if a.quiet {
        println!("{key}");
    } else {
        print!("{}", unlock_text(&key));
    }
    Ok(())
}

/// `berth swarm unlock`: as docker, only on a locked node; the key from STDIN (prompted for
/// on a terminal).
async fn unlock(client: &Client) -> Result<()> {
    let info = client.get_json("/info").await?;
    match info["Swarm"]["LocalNodeState"].as_str().unwrap_or("") {
        "locked" => {}
        "inactive" | "" => bail!("Error: This node is not part of a swarm"),
        _ => bail!("Error: swarm is not locked"),
    }
    use std::io::{BufRead, IsTerminal, Write};
    if std::io::stdin().is_terminal() {
        print!("Enter unlock key: ");
        std::io::stdout().flush()?;
    }
    let mut key = String::new();
    std::io::stdin().lock().read_line(&mut key)?;
    let body = serde_json::json!({ "UnlockKey": key.trim() });
    client.post_json("/swarm/unlock", &body).await?;
    Ok(())
}

/// `GET /swarm/unlockkey` (bollard has no call for it).
async fn fetch_unlock_key(client: &Client) -> Result<String> {
    let value = client
        .get_json("/swarm/unlockkey")
        .await
        .map_err(|e| anyhow!("could not fetch unlock key: {}", client.describe(&e)))?;
    Ok(value["UnlockKey"].as_str().unwrap_or_default().to_string())
}

fn version_of(version: &Option<bollard::models::ObjectVersion>) -> i64 {
    let index = version.as_ref().and_then(|v| v.index).unwrap_or(0);
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn autolock_of(spec: &SwarmSpec) -> bool {
    spec.encryption_config
        .as_ref()
        .and_then(|e| e.auto_lock_managers)
        .unwrap_or(false)
}
