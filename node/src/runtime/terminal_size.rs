//! libcontainer makes a container's terminal but ignores the OCI `consoleSize`; runc applies it
//! before the process starts. This executor does the same inside the container's process, just
//! before the exec, so the first `stty size` already sees the size the client asked for.

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{
    default::get_executor, Executor, ExecutorError, ExecutorValidationError,
};

/// The default executor, plus the terminal size from the spec.
#[derive(Clone, Copy, Debug, Default)]
pub struct SizedTerminal;

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
        get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        get_executor().validate(spec)
    }
}
