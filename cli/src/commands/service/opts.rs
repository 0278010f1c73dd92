//! The flags of `service create` and `service update` (docker's names, short forms and value
//! syntax). Each optional flag is an `Option` so "not given" differs from a zero value, as
//! pflag's `Changed` does in docker. Values are parsed by `parse.rs`; this file only declares.

use bollard::models::{
    GenericResourcesInner, Mount, NetworkAttachmentConfig, TaskSpecPlacementPreferences,
};
use clap::Args;

use super::mount;
use super::network;
use super::parse::{self, Ports, Words};
use super::secrets::{self, FileRef};

/// Flags both `create` and `update` take.
#[derive(Debug, Default, Args)]
pub struct CommonFlags {
    /// Exit immediately instead of waiting for the service to converge
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Send registry authentication details to swarm agents
    #[arg(long = "with-registry-auth")]
    pub with_registry_auth: bool,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container hostname
    #[arg(long)]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_parser = parse::shell_words, value_name = "command")]
    pub entrypoint: Option<Words>,
    /// Number of tasks
    #[arg(long, value_name = "uint")]
    pub replicas: Option<u64>,
    /// Maximum number of tasks per node (default 0 = unlimited)
    #[arg(long = "replicas-max-per-node", value_name = "uint")]
    pub max_replicas: Option<u64>,
    /// Limit CPUs
    #[arg(long = "limit-cpu", value_parser = crate::parse::nano_cpus, value_name = "decimal")]
    pub limit_cpu: Option<i64>,
    /// Limit Memory
    #[arg(long = "limit-memory", value_parser = crate::parse::ram_in_bytes, value_name = "bytes")]
    pub limit_memory: Option<i64>,
    /// Limit maximum number of processes (default 0 = unlimited)
    #[arg(long = "limit-pids", value_name = "int")]
    pub limit_pids: Option<i64>,
    /// Reserve CPUs
    #[arg(long = "reserve-cpu", value_parser = crate::parse::nano_cpus, value_name = "decimal")]
    pub reserve_cpu: Option<i64>,
    /// Reserve Memory
    #[arg(long = "reserve-memory", value_parser = crate::parse::ram_in_bytes, value_name = "bytes")]
    pub reserve_memory: Option<i64>,
    /// Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)
    #[arg(long = "stop-grace-period", value_parser = parse::duration, value_name = "duration")]
    pub stop_grace_period: Option<i64>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Restart when condition is met ("none", "on-failure", "any") (default "any")
    #[arg(long = "restart-condition", value_parser = ["none", "on-failure", "any"])]
    pub restart_condition: Option<String>,
    /// Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)
    #[arg(long = "restart-delay", value_parser = parse::duration, value_name = "duration")]
    pub restart_delay: Option<i64>,
    /// Maximum number of restarts before giving up
    #[arg(long = "restart-max-attempts", value_name = "uint")]
    pub restart_max_attempts: Option<u64>,
    /// Window used to evaluate the restart policy (ns|us|ms|s|m|h)
    #[arg(long = "restart-window", value_parser = parse::duration, value_name = "duration")]
    pub restart_window: Option<i64>,
    /// Maximum number of tasks updated simultaneously (0 to update all at once)
    #[arg(long = "update-parallelism", value_name = "uint")]
    pub update_parallelism: Option<u64>,
    /// Delay between updates (ns|us|ms|s|m|h) (default 0s)
    #[arg(long = "update-delay", value_parser = parse::duration, value_name = "duration")]
    pub update_delay: Option<i64>,
    /// Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)
    #[arg(long = "update-monitor", value_parser = parse::duration, value_name = "duration")]
    pub update_monitor: Option<i64>,
    /// Action on update failure ("pause", "continue", "rollback") (default "pause")
    #[arg(long = "update-failure-action", value_parser = ["pause", "continue", "rollback"])]
    pub update_failure_action: Option<String>,
    /// Failure rate to tolerate during an update (default 0)
    #[arg(long = "update-max-failure-ratio", value_name = "float")]
    pub update_max_failure_ratio: Option<f32>,
    /// Update order ("start-first", "stop-first") (default "stop-first")
    #[arg(long = "update-order", value_parser = ["start-first", "stop-first"])]
    pub update_order: Option<String>,
    /// Maximum number of tasks rolled back simultaneously (0 to roll back all at once)
    #[arg(long = "rollback-parallelism", value_name = "uint")]
    pub rollback_parallelism: Option<u64>,
    /// Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)
    #[arg(long = "rollback-delay", value_parser = parse::duration, value_name = "duration")]
    pub rollback_delay: Option<i64>,
    /// Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)
    #[arg(long = "rollback-monitor", value_parser = parse::duration, value_name = "duration")]
    pub rollback_monitor: Option<i64>,
    /// Action on rollback failure ("pause", "continue") (default "pause")
    #[arg(long = "rollback-failure-action", value_parser = ["pause", "continue"])]
    pub rollback_failure_action: Option<String>,
    /// Failure rate to tolerate during a rollback (default 0)
    #[arg(long = "rollback-max-failure-ratio", value_name = "float")]
    pub rollback_max_failure_ratio: Option<f32>,
    /// Rollback order ("start-first", "stop-first") (default "stop-first")
    #[arg(long = "rollback-order", value_parser = ["start-first", "stop-first"])]
    pub rollback_order: Option<String>,
    /// Endpoint mode (vip or dnsrr) (default "vip")
    #[arg(long = "endpoint-mode", value_parser = ["vip", "dnsrr"])]
    pub endpoint_mode: Option<String>,
    /// Use an init inside each service container to forward signals and reap processes
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "bool")]
    pub init: Option<bool>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "bool")]
    pub tty: Option<bool>,
    /// Do not query the registry to resolve image digest and supported platforms
    #[arg(long = "no-resolve-image")]
    pub no_resolve_image: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "bool")]
    pub read_only: Option<bool>,
}

/// `berth service create`
#[derive(Debug, Default, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: CommonFlags,
    /// Service name
    #[arg(long)]
    pub name: Option<String>,
    /// Service mode ("replicated", "global", "replicated-job", "global-job")
    #[arg(long, default_value = "replicated", value_parser = ["replicated", "global", "replicated-job", "global-job"])]
    pub mode: String,
    /// Number of job tasks to run concurrently (default equal to --replicas)
    #[arg(long = "max-concurrent", value_name = "uint")]
    pub max_concurrent: Option<u64>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Service labels
    #[arg(short = 'l', long = "label", value_parser = parse::label, value_name = "list")]
    pub labels: Vec<String>,
    /// Container labels
    #[arg(long = "container-label", value_parser = parse::label, value_name = "list")]
    pub container_labels: Vec<String>,
    /// Placement constraints
    #[arg(long = "constraint", value_name = "list")]
    pub constraints: Vec<String>,
    /// Add a placement preference
    #[arg(long = "placement-pref", value_parser = parse::placement_pref, value_name = "pref")]
    pub placement_prefs: Vec<TaskSpecPlacementPreferences>,
    /// Attach a filesystem mount to the service
    #[arg(long = "mount", value_parser = mount::parse, value_name = "mount")]
    pub mounts: Vec<Mount>,
    /// Publish a port as a node port
    #[arg(short = 'p', long = "publish", value_parser = parse::publish, value_name = "port")]
    pub publish: Vec<Ports>,
    /// Network attachments
    #[arg(long = "network", value_parser = network::parse, value_name = "network")]
    pub networks: Vec<NetworkAttachmentConfig>,
    /// Specify secrets to expose to the service
    #[arg(long = "secret", value_parser = secrets::parse, value_name = "secret")]
    pub secrets: Vec<FileRef>,
    /// Specify configurations to expose to the service
    #[arg(long = "config", value_parser = secrets::parse, value_name = "config")]
    pub configs: Vec<FileRef>,
    /// User defined resources
    #[arg(long = "generic-resource", value_parser = super::generic::parse, value_name = "list")]
    pub generic_resources: Vec<GenericResourcesInner>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

/// `berth service update`
#[derive(Debug, Default, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub common: CommonFlags,
    /// Service image tag
    #[arg(long)]
    pub image: Option<String>,
    /// Service command args
    #[arg(long, value_parser = parse::shell_words, value_name = "command")]
    pub args: Option<Words>,
    /// Force update even if no changes require it
    #[arg(long)]
    pub force: bool,
    /// Rollback to previous specification
    #[arg(long)]
    pub rollback: bool,
    /// Add or update an environment variable
    #[arg(long = "env-add", value_name = "list")]
    pub env_add: Vec<String>,
    /// Remove an environment variable
    #[arg(long = "env-rm", value_name = "list")]
    pub env_rm: Vec<String>,
    /// Add or update a service label
    #[arg(long = "label-add", value_parser = parse::label, value_name = "list")]
    pub label_add: Vec<String>,
    /// Remove a label by its key
    #[arg(long = "label-rm", value_name = "list")]
    pub label_rm: Vec<String>,
    /// Add or update a container label
    #[arg(long = "container-label-add", value_parser = parse::label, value_name = "list")]
    pub container_label_add: Vec<String>,
    /// Remove a container label by its key
    #[arg(long = "container-label-rm", value_name = "list")]
    pub container_label_rm: Vec<String>,
    /// Add or update a placement constraint
    #[arg(long = "constraint-add", value_name = "list")]
    pub constraint_add: Vec<String>,
    /// Remove a constraint
    #[arg(long = "constraint-rm", value_name = "list")]
    pub constraint_rm: Vec<String>,
    /// Add a placement preference
    #[arg(long = "placement-pref-add", value_parser = parse::placement_pref, value_name = "pref")]
    pub placement_pref_add: Vec<TaskSpecPlacementPreferences>,
    /// Remove a placement preference
    #[arg(long = "placement-pref-rm", value_parser = parse::placement_pref, value_name = "pref")]
    pub placement_pref_rm: Vec<TaskSpecPlacementPreferences>,
    /// Add or update a mount on a service
    #[arg(long = "mount-add", value_parser = mount::parse, value_name = "mount")]
    pub mount_add: Vec<Mount>,
    /// Remove a mount by its target path
    #[arg(long = "mount-rm", value_name = "list")]
    pub mount_rm: Vec<String>,
    /// Add or update a published port
    #[arg(long = "publish-add", value_parser = parse::publish, value_name = "port")]
    pub publish_add: Vec<Ports>,
    /// Remove a published port by its target port
    #[arg(long = "publish-rm", value_parser = parse::publish, value_name = "port")]
    pub publish_rm: Vec<Ports>,
    /// Add a network
    #[arg(long = "network-add", value_parser = network::parse, value_name = "network")]
    pub network_add: Vec<NetworkAttachmentConfig>,
    /// Remove a network
    #[arg(long = "network-rm", value_name = "list")]
    pub network_rm: Vec<String>,
    /// Add or update a secret on a service
    #[arg(long = "secret-add", value_parser = secrets::parse, value_name = "secret")]
    pub secret_add: Vec<FileRef>,
    /// Remove a secret
    #[arg(long = "secret-rm", value_name = "list")]
    pub secret_rm: Vec<String>,
    /// Add or update a config file on a service
    #[arg(long = "config-add", value_parser = secrets::parse, value_name = "config")]
    pub config_add: Vec<FileRef>,
    /// Remove a configuration file
    #[arg(long = "config-rm", value_name = "list")]
    pub config_rm: Vec<String>,
    /// Add a Generic resource
    #[arg(long = "generic-resource-add", value_parser = super::generic::parse, value_name = "list")]
    pub generic_resource_add: Vec<GenericResourcesInner>,
    /// Remove a Generic resource
    #[arg(long = "generic-resource-rm", value_name = "list")]
    pub generic_resource_rm: Vec<String>,
    /// SERVICE
    pub service: String,
}

impl UpdateArgs {
    /// True when a flag other than `--rollback`, `-d` and `-q` was given: docker refuses those
    /// together with `--rollback`.
    pub fn has_spec_changes(&self) -> bool {
        let c = &self.common;
        let options = [
            c.workdir.is_some(),
            c.user.is_some(),
            c.hostname.is_some(),
            c.entrypoint.is_some(),
            c.replicas.is_some(),
            c.max_replicas.is_some(),
            c.limit_cpu.is_some(),
            c.limit_memory.is_some(),
            c.limit_pids.is_some(),
            c.reserve_cpu.is_some(),
            c.reserve_memory.is_some(),
            c.stop_grace_period.is_some(),
            c.stop_signal.is_some(),
            c.restart_condition.is_some(),
            c.restart_delay.is_some(),
            c.restart_max_attempts.is_some(),
            c.restart_window.is_some(),
            c.update_parallelism.is_some(),
            c.update_delay.is_some(),
            c.update_monitor.is_some(),
            c.update_failure_action.is_some(),
            c.update_max_failure_ratio.is_some(),
            c.update_order.is_some(),
            c.rollback_parallelism.is_some(),
            c.rollback_delay.is_some(),
            c.rollback_monitor.is_some(),
            c.rollback_failure_action.is_some(),
            c.rollback_max_failure_ratio.is_some(),
            c.rollback_order.is_some(),
            c.endpoint_mode.is_some(),
            c.init.is_some(),
            c.tty.is_some(),
            c.read_only.is_some(),
            c.with_registry_auth,
            self.image.is_some(),
            self.args.is_some(),
            self.force,
        ];
        let lists = [
            self.env_add.len(),
            self.env_rm.len(),
            self.label_add.len(),
            self.label_rm.len(),
            self.container_label_add.len(),
            self.container_label_rm.len(),
            self.constraint_add.len(),
            self.constraint_rm.len(),
            self.placement_pref_add.len(),
            self.placement_pref_rm.len(),
            self.mount_add.len(),
            self.mount_rm.len(),
            self.publish_add.len(),
            self.publish_rm.len(),
            self.network_add.len(),
            self.network_rm.len(),
            self.secret_add.len(),
            self.secret_rm.len(),
            self.config_add.len(),
            self.config_rm.len(),
            self.generic_resource_add.len(),
            self.generic_resource_rm.len(),
        ];
        options.iter().any(|o| *o) || lists.iter().any(|n| *n > 0)
    }
}
