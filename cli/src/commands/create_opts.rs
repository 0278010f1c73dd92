//! The flags `run` and `create` share, and their translation into a `POST /containers/create`
//! body as docker's CLI builds it. No daemon calls here.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, RestartPolicy,
};
use clap::{Args, ValueEnum};

use crate::parse;

/// When `run`/`create` pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    /// Pull before creating.
    Always,
    /// Pull only when the image is not present.
    Missing,
    /// Never pull.
    Never,
}

/// Flags shared by `run` and `create` (docker's names and short forms).
#[derive(Debug, Args)]
pub struct ContainerOpts {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from the environment)
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set meta data on a container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Memory limit (b, k, m, g)
    #[arg(short = 'm', long, value_parser = parse::ram_in_bytes, value_name = "bytes")]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = parse::memory_swap, allow_hyphen_values = true, value_name = "bytes")]
    pub memory_swap: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_parser = parse::nano_cpus, value_name = "decimal")]
    pub cpus: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true, value_name = "int")]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_parser = parse::restart_policy, value_name = "string")]
    pub restart: Option<RestartPolicy>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Connect a container to a network
    #[arg(long, alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Pull image before running
    #[arg(long, value_enum, default_value = "missing", value_name = "string")]
    pub pull: PullPolicy,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_parser = berth_gotime::parse_duration, value_name = "duration")]
    pub health_interval: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_parser = berth_gotime::parse_duration, value_name = "duration")]
    pub health_timeout: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period", value_parser = berth_gotime::parse_duration, value_name = "duration")]
    pub health_start_period: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_parser = parse::ram_in_bytes, value_name = "bytes")]
    pub shm_size: Option<i64>,
    /// The less common flags.
    #[command(flatten)]
    pub host: super::host_opts::HostOpts,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

impl ContainerOpts {
    /// The image reference (first positional).
    pub fn image(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }

    /// Builds the create body. `attached` is false for `run -d`; `lookup` reads the environment.
    pub fn to_body(
        &self,
        attached: bool,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ContainerCreateBody> {
        if self.rm
            && self
                .restart
                .as_ref()
                .is_some_and(|p| p.name != Some(bollard::models::RestartPolicyNameEnum::NO))
        {
            bail!("Conflicting options: --restart and --rm");
        }
        let mut env = Vec::new();
        for file in &self.env_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("open {}", file.display()))?;
            env.extend(parse::env_file(&text, &lookup).map_err(anyhow::Error::msg)?);
        }
        for e in &self.env {
            env.push(parse::env_value(e, &lookup).map_err(anyhow::Error::msg)?);
        }
        let labels: HashMap<String, String> = self
            .label
            .iter()
            .map(|l| {
                l.split_once('=')
                    .map_or((l.clone(), String::new()), |(k, v)| (k.into(), v.into()))
            })
            .collect();
        let entrypoint = self.entrypoint.as_ref().map(|e| vec![e.clone()]);
        let cmd = (self.args.len() > 1).then(|| self.args[1..].to_vec());
        let (binds, volumes): (Vec<String>, Vec<String>) =
            self.volume.iter().cloned().partition(|v| v.contains(':'));
        let mut exposed: Vec<String> = self
            .expose
            .iter()
            .map(|p| {
                if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                }
            })
            .collect();
        let mut port_bindings: HashMap<String, Option<Vec<bollard::models::PortBinding>>> =
            HashMap::new();
        for spec in &self.publish {
            let (key, binding) = parse::port_spec(spec).map_err(anyhow::Error::msg)?;
            exposed.push(key.clone());
            port_bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(binding);
        }
        exposed.sort();
        exposed.dedup();
        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| {
                t.split_once(':')
                    .map_or((t.clone(), String::new()), |(p, o)| (p.into(), o.into()))
            })
            .collect();
        let network = self
            .network
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let networking_config = is_user_network(&network).then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.clone(),
                EndpointSettings::default(),
            )])),
        });
        let stdin_attached = attached && self.interactive;
        let (security_opt, unconfined_paths) = security_opts(&self.security_opt)?;
        let host_config = HostConfig {
            memory: self.memory,
            memory_swap: self.memory_swap,
            nano_cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            restart_policy: self.restart.clone(),
            readonly_rootfs: self.read_only.then_some(true),
            network_mode: Some(network),
            init: self.init.then_some(true),
            auto_remove: Some(self.rm),
            binds: non_empty(binds),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            extra_hosts: non_empty(self.add_host.clone()),
            privileged: self.privileged.then_some(true),
            cap_add: non_empty(self.cap_add.clone()),
            cap_drop: non_empty(self.cap_drop.clone()),
            security_opt: non_empty(security_opt),
            masked_paths: unconfined_paths.then(Vec::new),
            readonly_paths: unconfined_paths.then(Vec::new),
            shm_size: self.shm_size,
            ..Default::default()
        };
        let mut body = ContainerCreateBody {
            image: Some(self.image().to_string()),
            cmd,
            entrypoint,
            env: non_empty(env),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            labels: (!labels.is_empty()).then_some(labels),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(stdin_attached),
            attach_stdin: Some(stdin_attached),
            attach_stdout: Some(attached),
            attach_stderr: Some(attached),
            exposed_ports: non_empty(exposed),
            volumes: non_empty(volumes),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            healthcheck: self.healthcheck()?,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        self.host.apply(&mut body)?;
        Ok(body)
    }
}

impl ContainerOpts {
    /// `--health-*` and `--no-healthcheck`, as docker builds `Healthcheck`.
    fn healthcheck(&self) -> Result<Option<bollard::models::HealthConfig>> {
        let tuned = self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_start_period.is_some()
            || self.health_retries.is_some();
        if self.no_healthcheck {
            if self.health_cmd.is_some() || tuned {
                anyhow::bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(bollard::models::HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            }));
        }
        if self.health_cmd.is_none() && !tuned {
            return Ok(None);
        }
        Ok(Some(bollard::models::HealthConfig {
            test: self
                .health_cmd
                .as_ref()
                .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
            interval: self.health_interval,
            timeout: self.health_timeout,
            start_period: self.health_start_period,
            retries: self.health_retries,
            ..Default::default()
        }))
    }
}

/// `--security-opt` as the docker CLI sends it: `seccomp=<file>` becomes the file's JSON, and
/// `systempaths=unconfined` becomes empty masked and read-only path lists (the `bool`).
fn security_opts(opts: &[String]) -> Result<(Vec<String>, bool)> {
    let mut out = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        if value.is_empty() && key != "no-new-privileges" {
            bail!("invalid --security-opt: {opt:?}");
        }
        if key == "seccomp" && value != "builtin" && value != "unconfined" {
            let text = std::fs::read_to_string(value)
                .with_context(|| format!("opening seccomp profile ({value}) failed"))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("compacting json for seccomp profile ({value}) failed"))?;
            out.push(format!("seccomp={json}"));
        } else {
            out.push(opt.clone());
        }
    }
    Ok((out, unconfined_paths))
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

/// Docker names an endpoint in the create body only for user-defined networks.
fn is_user_network(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_send_profile_files_as_json_and_unconfine_system_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let opts = vec![
            format!("seccomp={}", file.display()),
            "no-new-privileges".to_string(),
            "seccomp=unconfined".to_string(),
            "systempaths=unconfined".to_string(),
        ];
        let (sent, unconfined) = security_opts(&opts).unwrap();
        assert_eq!(
            sent,
            vec![
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#,
                "no-new-privileges",
                "seccomp=unconfined"
            ]
        );
        assert!(unconfined);
        let err = security_opts(&["apparmor".to_string()]).unwrap_err();
        assert_eq!(err.to_string(), r#"invalid --security-opt: "apparmor""#);
        assert!(security_opts(&["seccomp=/no/such.json".to_string()]).is_err());
    }
}
