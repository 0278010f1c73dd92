//! Docker's exec JSON to and from the engine's exec types.

use bollard_stubs::models::{ExecConfig as DockerExecConfig, ExecInspectResponse, ProcessConfig};

use crate::engine::exec::{ExecConfig, ExecInfo};

/// `POST /containers/{id}/exec`'s body. `DetachKeys` is kept and applied when the exec
/// starts (its attach ends at that sequence).
pub fn exec_config(body: DockerExecConfig) -> ExecConfig {
    ExecConfig {
        cmd: body.cmd.unwrap_or_default(),
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir.unwrap_or_default(),
        user: body.user.unwrap_or_default(),
        privileged: body.privileged.unwrap_or(false),
        tty: body.tty.unwrap_or(false),
        attach_stdin: body.attach_stdin.unwrap_or(false),
        attach_stdout: body.attach_stdout.unwrap_or(false),
        attach_stderr: body.attach_stderr.unwrap_or(false),
        console_size: super::container::console_size(body.console_size.as_deref()),
        detach_keys: body.detach_keys.unwrap_or_default(),
    }
}

/// `GET /exec/{id}/json`.
pub fn inspect(info: ExecInfo) -> ExecInspectResponse {
    let c = &info.config;
    ExecInspectResponse {
        can_remove: Some(false),
        detach_keys: Some(c.detach_keys.clone()),
        id: Some(info.id.clone()),
        running: Some(info.status.running),
        // Docker reports null until the process ended.
        exit_code: info.status.exit_code,
        process_config: Some(ProcessConfig {
            privileged: Some(c.privileged),
            user: Some(c.user.clone()),
            tty: Some(c.tty),
            entrypoint: c.cmd.first().cloned(),
            arguments: Some(c.cmd.iter().skip(1).cloned().collect()),
        }),
        open_stdin: Some(c.attach_stdin),
        open_stderr: Some(c.attach_stderr),
        open_stdout: Some(c.attach_stdout),
        container_id: Some(info.container_id),
        pid: Some(i64::from(info.status.pid)),
    }
}
