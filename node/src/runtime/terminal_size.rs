//! The executor the monitor gives libcontainer: it runs in the container's process just before
//! the exec. libcontainer ignores the OCI `consoleSize` (runc applies it), so this sets the
//! terminal size from the spec; and libcontainer's tenant builder drops the container's seccomp
//! profile for execs, so this loads it for them (`exec_seccomp`) — an exec is as confined as the
//! init.

use libcontainer::oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp, Spec};
use libcontainer::workload::{
    default::get_executor, Executor, ExecutorError, ExecutorValidationError,
};

/// The default executor, plus the terminal size and (for execs) the container's seccomp profile.
#[derive(Clone, Debug, Default)]
pub struct SizedTerminal {
    /// Loaded before the exec; `None` for the init, whose profile libcontainer applies itself.
    pub seccomp: Option<LinuxSeccomp>,
    /// The exec's own capabilities when it was lent more to load the filter (see `exec_seccomp`).
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
        if let Some(profile) = &self.seccomp {
            super::exec_seccomp::load(profile, self.restore_caps.as_ref())
                .map_err(ExecutorError::Other)?;
        }
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        get_executor().validate(spec)
    }
}

/// The seccomp profile in a bundle's `config.json`, if it has one.
pub fn bundle_seccomp(bundle: &std::path::Path) -> Option<LinuxSeccomp> {
    let spec = Spec::load(bundle.join("config.json")).ok()?;
    spec.linux().as_ref()?.seccomp().clone()
}
