//! The berth and docker command-line clients run on the host against one node's API socket,
//! for the stack tests and the stack benchmark (`stack deploy` is a client-side command: the
//! daemon only sees the Swarm API calls it makes). Each run is bounded by `timeout`, so a
//! hung client fails its caller instead of stalling it, and never reads the user's client
//! configuration (it gets a directory of the cluster's own).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::ClusterError;
use crate::node::Node;

/// How long one client run may take (a waiting `stack rm` included).
const CLI_SECONDS: &str = "180";

/// What a client run printed, and how it ended.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Whether the client exited 0.
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Both streams, for failure messages.
    pub fn text(&self) -> String {
        format!("exit {}\n{}{}", self.code, self.stdout, self.stderr)
    }
}

/// The `berth` client beside the berthd binary the cluster runs (the same build).
pub fn berth_binary() -> Result<PathBuf, ClusterError> {
    let berthd = crate::harness::berthd_binary()?;
    let berth = berthd.with_file_name("berth");
    if berth.is_file() {
        Ok(berth)
    } else {
        Err(ClusterError::NoBinary(berth))
    }
}

impl Node {
    /// Runs `berth <args>` against this node with `env` added; `dir` is its working directory.
    pub fn berth(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<CliOutput, ClusterError> {
        let berth = berth_binary()?;
        self.client(&berth, dir, args, env)
    }

    /// Runs the docker CLI (`docker` on `PATH`) against this node with `env` added.
    pub fn docker(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<CliOutput, ClusterError> {
        self.client(Path::new("docker"), dir, args, env)
    }

    fn client(
        &self,
        program: &Path,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<CliOutput, ClusterError> {
        // A client directory of the node's own: no contexts or credentials of the host's user.
        let config = self.root().join("client-config");
        std::fs::create_dir_all(&config).map_err(ClusterError::io("create", &config))?;
        let out = Command::new("timeout")
            .arg(CLI_SECONDS)
            .arg(program)
            .args(args)
            .current_dir(dir)
            .env_remove("BERTH_HOST")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.socket_path().display()),
            )
            .env("DOCKER_CONFIG", &config)
            .env("BERTH_CONFIG", &config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .map_err(ClusterError::io("run", program))?;
        Ok(CliOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
