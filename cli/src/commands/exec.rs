//! `exec`: create an exec, start it attached (raw terminal and resizes with `-t`, stdin with
//! `-i`, detach keys on a TTY) or detached, then exit with the exec's exit code from
//! `/exec/{id}/json`, as docker does.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use clap::Args;

use super::terminal::{self, Ended, TtyOwner};
use crate::client::Client;
use crate::parse;

/// `berth exec`
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Docker's `--detach-keys` syntax: comma-separated `ctrl-<x>` or single characters.
pub fn detach_keys(spec: &str) -> Result<Vec<u8>> {
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let bytes = part.as_bytes();
        let key = match bytes {
            [c] => *c,
            _ => match part.strip_prefix("ctrl-").map(str::as_bytes) {
                Some([c]) if c.is_ascii_alphabetic() => c.to_ascii_lowercase() - b'a' + 1,
                Some([b'@']) => 0,
                Some([c @ (b'[' | b'\\' | b']' | b'^' | b'_')]) => c - b'@',
                _ => bail!("Invalid detach keys ({spec}) provided"),
            },
        };
        keys.push(key);
    }
    Ok(keys)
}

fn exec_config(args: &ExecArgs) -> Result<ExecConfig> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for file in &args.env_file {
        let text =
            std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("open {file}: {e}"))?;
        env.extend(parse::env_file(&text, lookup).map_err(anyhow::Error::msg)?);
    }
    for e in &args.env {
        env.push(parse::env_value(e, lookup).map_err(anyhow::Error::msg)?);
    }
    let console_size = if args.tty {
        terminal::terminal_size().map(|(h, w)| vec![usize::from(h), usize::from(w)])
    } else {
        None
    };
    Ok(ExecConfig {
        attach_stdin: Some(args.interactive && !args.detach),
        attach_stdout: Some(!args.detach),
        attach_stderr: Some(!args.detach),
        console_size,
        detach_keys: args.detach_keys.clone(),
        tty: Some(args.tty),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(args.args[1..].to_vec()),
        privileged: Some(args.privileged),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
    })
}

/// `berth exec`: returns the exec's exit code.
pub async fn exec(client: &Client, args: ExecArgs) -> Result<i32> {
    if args.interactive && args.tty && !args.detach && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let keys = match &args.detach_keys {
        Some(spec) => detach_keys(spec)?,
        None => terminal::DEFAULT_DETACH_KEYS.to_vec(),
    };
    let docker = client.docker()?;
    let container = &args.args[0];
    let created = docker.create_exec(container, exec_config(&args)?).await?;
    let id = created.id;
    let options = StartExecOptions {
        detach: args.detach,
        tty: args.tty,
        output_capacity: None,
    };
    let StartExecResults::Attached { output, input } =
        docker.start_exec(&id, Some(options)).await?
    else {
        return Ok(0);
    };
    let raw = (args.interactive && args.tty)
        .then(terminal::RawTerminal::enable)
        .flatten();
    let sizer = args
        .tty
        .then(|| terminal::watch_size(docker.clone(), TtyOwner::Exec(id.clone())));
    let detach_on = (args.tty && raw.is_some()).then_some(keys.as_slice());
    let mut stdin = args
        .interactive
        .then(|| terminal::forward_stdin(input, detach_on));
    let ended = terminal::pump_until_detach(output, stdin.as_mut()).await;
    drop(raw);
    if let Some(task) = sizer {
        task.abort();
    }
    if let Some(task) = stdin {
        task.abort();
    }
    if ended? == Ended::Detached {
        return Ok(0);
    }
    let inspected = docker.inspect_exec(&id).await?;
    Ok(inspected
        .exit_code
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        exec: ExecArgs,
    }

    #[test]
    fn exec_flags_stop_at_the_command() {
        let cmd = Cmd::try_parse_from([
            "exec", "-it", "-e", "A=1", "-w", "/tmp", "-u", "1:2", "c", "sh", "-c", "ls -l",
        ])
        .unwrap()
        .exec;
        assert!(cmd.interactive && cmd.tty && !cmd.detach);
        assert_eq!(cmd.args, ["c", "sh", "-c", "ls -l"]);
        let config = exec_config(&cmd).unwrap();
        assert_eq!(config.cmd.unwrap(), ["sh", "-c", "ls -l"]);
        assert_eq!(config.env.unwrap(), ["A=1"]);
        assert_eq!(config.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(config.user.as_deref(), Some("1:2"));
        assert!(Cmd::try_parse_from(["exec", "c"]).is_err());
    }

    #[test]
    fn detached_exec_attaches_nothing() {
        let cmd = Cmd::try_parse_from(["exec", "-d", "-i", "c", "sleep", "9"])
            .unwrap()
            .exec;
        let config = exec_config(&cmd).unwrap();
        assert_eq!(config.attach_stdin, Some(false));
        assert_eq!(config.attach_stdout, Some(false));
    }

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), [0x10, 0x11]);
        assert_eq!(detach_keys("a,ctrl-@,ctrl-[").unwrap(), [b'a', 0, 0x1b]);
        assert!(detach_keys("ctrl-1").is_err());
        assert!(detach_keys("shift-a").is_err());
    }
}
