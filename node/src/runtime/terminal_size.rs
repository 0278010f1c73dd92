//! The executor the monitor gives libcontainer: it runs in the container's process just before
//! the exec. libcontainer ignores the OCI `consoleSize` (runc applies it), so this sets the
//! terminal size from the spec; and it loads the container's seccomp filter, for the init and
//! every exec alike (`seccomp_load`), as late as possible. libcontainer also hands the
//! environment over as a hash map, which scrambled its order (`PATH` no longer first, as Docker
//! gives it): the spec's list is set again, in order, just before the exec.

use libcontainer::oci_spec::runtime::{LinuxCapabilities, Spec};
use libcontainer::workload::{
    default::get_executor, Executor, ExecutorError, ExecutorValidationError,
};

/// The default executor, plus the terminal size and the container's seccomp filter.
#[derive(Clone, Debug, Default)]
pub struct SizedTerminal {
    /// Loaded just before the exec; `None`: no filter.
    pub seccomp: Option<super::seccomp_bpf::Filter>,
    /// The process's own capabilities when it was lent more to load the filter.
    pub restore_caps: Option<LinuxCapabilities>,
}

impl Executor for SizedTerminal {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let process = spec.process().as_ref();
        let terminal = process.and_then(|p| p.terminal()).unwrap_or(false);
        if let (true, Some(size)) = (terminal, process.and_then(|p| p.console_size())) {
            let rows = u16::try_from(size.height()).unwrap_or(u16::MAX);
            let cols = u16::try_from(size.width()).unwrap_or(u16::MAX);
            // stdin is the terminal's slave here; a failure leaves the default size.
            let _ = super::control::set_window_size(0, rows, cols);
        }
        if let Some(filter) = &self.seccomp {
            super::seccomp_load::load(filter, self.restore_caps.as_ref())
                .map_err(ExecutorError::Other)?;
        }
        if let Some(env) = process.and_then(|p| p.env().as_ref()) {
            set_env_in_order(env);
        }
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        get_executor().validate(spec)
    }
}

/// The process environment replaced by `env` (`KEY=value` entries), in its order; an entry
/// without `=` is skipped, as libcontainer skips it. Runs in the single-threaded container
/// process, between libcontainer's own set-up of the same variables and the exec.
fn set_env_in_order(env: &[String]) {
    for (key, _) in std::env::vars_os() {
        std::env::remove_var(key);
    }
    for var in env {
        if let Some((key, value)) = var.split_once('=') {
            if !key.is_empty() {
                std::env::set_var(key, value);
            }
        }
    }
}
