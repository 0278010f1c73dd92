//! The exec operations on the engine: create, start, inspect, resize.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::session::{self, Plan};
use super::{ExecConfig, ExecEntry, ExecInfo, ExecStatus};
use crate::engine::container::logs::{LogChunk, Output, StdinTarget};
use crate::engine::container::user;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::logfile::Stream;

/// The most execs the daemon remembers; the oldest finished ones are forgotten first.
const MAX_EXECS: usize = 1024;

impl Engine {
    /// Registers an exec in a running container; returns its id.
    pub async fn create_exec(&self, key: &str, cfg: ExecConfig) -> Result<String> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        if cfg.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        ensure_running(&rec)?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let entry = Arc::new(ExecEntry {
            id: id.clone(),
            container_id: rec.id.clone(),
            config: cfg,
            status: Mutex::new(ExecStatus::default()),
            terminal: Mutex::new(None),
        });
        let mut execs = self
            .execs
            .lock()
            .map_err(|_| EngineError::Internal("exec map poisoned".into()))?;
        if execs.len() >= MAX_EXECS {
            let done: Vec<String> = execs
                .iter()
                .filter(|(_, e)| e.status().exit_code.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            for k in done.iter().take(execs.len() + 1 - MAX_EXECS) {
                execs.remove(k);
            }
        }
        let action = exec_action("exec_create", &entry.config.cmd);
        execs.insert(id.clone(), entry);
        drop(execs);
        self.container_event(&rec, &action, &[("execID", id.clone())]);
        Ok(id)
    }

    fn exec_entry(&self, id: &str) -> Result<Arc<ExecEntry>> {
        self.execs
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// What `GET /exec/{id}/json` shows.
    pub fn inspect_exec(&self, id: &str) -> Result<ExecInfo> {
        let e = self.exec_entry(id)?;
        Ok(ExecInfo {
            id: e.id.clone(),
            container_id: e.container_id.clone(),
            config: e.config.clone(),
            status: e.status(),
        })
    }

    /// What `start_exec` would refuse before it starts anything (no such exec, one already
    /// started, its container not running); the exec as inspect shows it.
    pub async fn check_exec_start(&self, id: &str) -> Result<ExecInfo> {
        let info = self.inspect_exec(id)?;
        if info.status.started {
            return Err(EngineError::Conflict(format!(
                "Exec {id} has already been started"
            )));
        }
        let handle = self.lookup(&info.container_id)?;
        ensure_running(&handle.snapshot().await)?;
        Ok(info)
    }

    /// Starts an exec. Detached, it returns once the process runs and its output is discarded;
    /// otherwise the output until the process ended (raw with a TTY) and its stdin if asked.
    pub async fn start_exec(&self, id: &str, detach: bool) -> Result<Option<Output>> {
        let entry = self.exec_entry(id)?;
        let mut already = false;
        entry.update(|s| {
            already = s.started;
            s.started = true;
        });
        if already {
            return Err(EngineError::Conflict(format!(
                "Exec {id} has already been started"
            )));
        }
        let handle = self.lookup(&entry.container_id)?;
        let rec = handle.snapshot().await;
        ensure_running(&rec)?;
        // The exec joins the container's cgroups: its first migration's grace period is paid
        // beside the preparation (see `cgroup_primer`); dropped once the process runs.
        let _primer = self.primer.lease();
        let cfg = &entry.config;
        let dir = self.paths.container_dir(&rec.id);
        let rootfs = self.paths.running_rootfs(&rec.id);
        let user_name = if cfg.user.is_empty() {
            &rec.config.user
        } else {
            &cfg.user
        };
        let group_add = rec.host.runtime.group_add.clone();
        let user = match user::resolve_off_worker(user_name.clone(), group_add, vec![rootfs]).await
        {
            Ok(user) => user,
            // As Docker: the attached client gets the reason on its stream and exit code 126.
            Err(EngineError::InvalidArgument(message)) if !detach => {
                return Ok(Some(failed_output(&entry, message, 126)));
            }
            Err(e) => {
                entry.update(|s| s.exit_code = Some(126));
                return Err(e);
            }
        };
        let process = super::process::build(&rec, cfg, &user, self.host);
        let exec_dir = dir.join("execs");
        let process_path = exec_dir.join(format!("{id}.json"));
        let bytes =
            serde_json::to_vec(&process).map_err(|e| EngineError::Internal(e.to_string()))?;
        std::fs::create_dir_all(&exec_dir)
            // Read once by the monitor right away: no need to wait for the disk.
            .and_then(|()| std::fs::write(&process_path, &bytes))
            .map_err(|e| EngineError::io(format!("write {}", process_path.display()), e))?;
        let plan = Plan {
            control_socket: self.paths.control_socket(&rec.id),
            console_socket: self.paths.console_socket(id),
            process: process_path.clone(),
            exit_path: exec_dir.join(format!("{id}.exit.json")),
            tty: cfg.tty,
            stdin: cfg.attach_stdin && !detach,
            stdout: cfg.attach_stdout && !detach,
            stderr: cfg.attach_stderr && !detach,
        };
        let exec_id = id.to_string();
        let started = tokio::task::spawn_blocking(move || {
            let r = session::start(&plan, &exec_id);
            (r, plan)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("exec start task: {e}")))?;
        let (result, plan) = started;
        let _ = std::fs::remove_file(&process_path);
        let started = match result {
            Ok(Ok(s)) => s,
            Ok(Err(message)) => {
                let rootfs = self.paths.running_rootfs(&rec.id);
                let message = docker_wording(message, cfg, rootfs).await;
                return Ok(Some(failed(&entry, &message, detach)?));
            }
            Err(e) => {
                entry.update(|s| s.exit_code = Some(126));
                return Err(e);
            }
        };
        entry.update(|s| {
            s.running = true;
            s.pid = started.pid;
        });
        let action = exec_action("exec_start", &cfg.cmd);
        self.container_event(&rec, &action, &[("execID", id.to_string())]);
        if let Ok(mut t) = entry.terminal.lock() {
            *t = started.terminal;
        }
        let engine = self.me();
        let exec_id = id.to_string();
        let on_exit = Box::new(move |code: i64| {
            if let Some(engine) = engine {
                let extra = [("execID", exec_id), ("exitCode", code.to_string())];
                engine.container_event(&rec, "exec_die", &extra);
            }
        });
        let chunks = session::pump(
            entry.clone(),
            started.outputs,
            started.conn,
            plan.exit_path,
            on_exit,
        );
        if detach {
            return Ok(None);
        }
        Ok(Some(Output {
            tty: cfg.tty,
            chunks,
            stdin: started.stdin.map(StdinTarget::File),
        }))
    }

    /// Sets an exec's terminal size; nothing to do without a terminal.
    pub fn resize_exec(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let entry = self.exec_entry(id)?;
        let terminal = entry
            .terminal
            .lock()
            .map_err(|_| EngineError::Internal("exec terminal poisoned".into()))?;
        if let Some(t) = terminal.as_ref() {
            crate::runtime::control::set_window_size(
                std::os::fd::AsRawFd::as_raw_fd(t),
                height,
                width,
            )
            .map_err(|e| EngineError::io(format!("resize exec {id}"), e))?;
        }
        Ok(())
    }

    /// The ids of a container's execs that have not ended (inspect's `ExecIDs`).
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        self.execs
            .lock()
            .map(|m| {
                m.values()
                    .filter(|e| e.container_id == container_id && e.status().exit_code.is_none())
                    .map(|e| e.id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn ensure_running(rec: &crate::engine::container::types::ContainerRecord) -> Result<()> {
    use crate::engine::container::types::ContainerStatus;
    match rec.state.status {
        ContainerStatus::Paused => Err(EngineError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            rec.id
        ))),
        s if s.is_running() => Ok(()),
        _ => Err(EngineError::Conflict(format!(
            "Container {} is not running",
            rec.id
        ))),
    }
}

/// An exec event's action as moby writes it: the entrypoint, a space, then the arguments
/// (`exec_create: true ` for `true` alone).
fn exec_action(kind: &str, cmd: &[String]) -> String {
    let (entrypoint, args) = cmd
        .split_first()
        .map_or(("", &[][..]), |(e, a)| (e.as_str(), a));
    format!("{kind}: {entrypoint} {}", args.join(" "))
}

/// libcontainer's reason for an exec that did not start, in runc's words as Docker passes them
/// on (scripts look for "executable file not found"). A failed `chdir` is only "failed to unix
/// syscall" there: the working directory is looked up in the container's root to say so.
async fn docker_wording(message: String, cfg: &ExecConfig, rootfs: std::path::PathBuf) -> String {
    let unable = "exec failed: unable to start container process";
    let cmd = cfg.cmd.first().map_or("", String::as_str);
    if message.contains("not found in $PATH") {
        let not_found = crate::engine::container::start::command_not_found(cmd);
        return format!("{unable}: {not_found}: unknown");
    }
    if message.contains("does not have correct permissions") {
        return format!("{unable}: exec: \"{cmd}\": permission denied: unknown");
    }
    if cfg.working_dir.is_empty() {
        return message;
    }
    let wd = cfg.working_dir.clone();
    // A path in the container's files: off the async workers.
    let looked = tokio::task::spawn_blocking(move || {
        let root = crate::engine::inroot::open_root(&rootfs)?;
        let dir = crate::engine::inroot::open_path(&root, std::path::Path::new(&wd), true)?;
        match crate::engine::inroot::file_type(&dir)? {
            nix::sys::stat::SFlag::S_IFDIR => Ok(()),
            _ => Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
        }
    })
    .await;
    match looked {
        Ok(Err(e)) if e.raw_os_error().is_some() => format!(
            "{unable}: chdir to cwd ({:?}) set in config.json failed: {}: unknown",
            cfg.working_dir,
            crate::error::io_error_text(&e)
        ),
        _ => message,
    }
}

/// A process that could not start: Docker reports the reason on the stream and an exit code
/// from it (`start_failure_code`).
fn failed(entry: &ExecEntry, message: &str, detach: bool) -> Result<Output> {
    let code = start_failure_code(message);
    if detach {
        entry.update(|s| {
            s.running = false;
            s.exit_code = Some(code);
        });
        return Err(EngineError::Runtime(format!(
            "OCI runtime exec failed: {message}"
        )));
    }
    Ok(failed_output(
        entry,
        format!("OCI runtime exec failed: {message}"),
        code,
    ))
}

/// moby's exit code for a process the runtime could not start (`setExitCodeFromError`, Docker
/// 23 on; 20.10 gave 126 to all): 126 when it cannot be run (permission denied, a directory),
/// 127 when it is not there (a command or working directory missing, a path through a file),
/// 128 otherwise.
fn start_failure_code(message: &str) -> i64 {
    let m = message.to_ascii_lowercase();
    let has = |any: &[&str]| any.iter().any(|w| m.contains(w));
    if has(&["permission denied", "is a directory"]) {
        126
    } else if has(&[
        "not a directory",
        "executable file not found",
        "no such file or directory",
    ]) {
        127
    } else {
        128
    }
}

/// An exec that could not start: `code` recorded, and the reason as its only output.
fn failed_output(entry: &ExecEntry, message: String, code: i64) -> Output {
    entry.update(|s| {
        s.running = false;
        s.exit_code = Some(code);
    });
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(LogChunk {
        stream: Stream::Stderr,
        bytes: format!("{message}\r\n").into_bytes(),
        starts: Vec::new(),
    });
    Output {
        tty: entry.config.tty,
        chunks: rx,
        stdin: None,
    }
}

impl Engine {
    /// Sets a container's terminal size through its monitor; nothing to do without a terminal.
    pub async fn resize_container(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        if !rec.state.status.is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        if !rec.config.tty {
            return Ok(());
        }
        let socket = self.paths.control_socket(&rec.id);
        let req = crate::runtime::control::Request::Resize { height, width };
        let mut conn = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(|e| EngineError::io(format!("resize {}", rec.id), e))?;
        tokio::io::AsyncWriteExt::write_all(&mut conn, &crate::runtime::control::line(&req))
            .await
            .map_err(|e| EngineError::io(format!("resize {}", rec.id), e))?;
        let mut reply = String::new();
        let _ =
            tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(conn), &mut reply)
                .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::start_failure_code;

    #[test]
    fn a_start_failure_gets_mobys_exit_code_from_its_reason() {
        let unable = "exec failed: unable to start container process";
        for (reason, code) in [
            ("exec: \"/etc\": is a directory: unknown", 126),
            ("exec: \"/etc/passwd\": Permission denied: unknown", 126),
            (
                "exec: \"x\": executable file not found in $PATH: unknown",
                127,
            ),
            (
                "chdir to cwd (\"/nope\") set in config.json failed: no such file or directory",
                127,
            ),
            (
                "chdir to cwd (\"/f\") set in config.json failed: not a directory",
                127,
            ),
            ("the monitor went away", 128),
        ] {
            assert_eq!(
                start_failure_code(&format!("{unable}: {reason}")),
                code,
                "{reason}"
            );
        }
    }
}
