//! The container's seccomp filter for an exec, in the monitor. libcontainer's tenant builder
//! drops the filter, so the executor loads it just before the exec — after libcontainer has
//! dropped the capabilities. Loading a filter needs CAP_SYS_ADMIN or no_new_privs; an exec
//! without no_new_privileges (Docker's default) has neither, so it is lent CAP_SYS_ADMIN and
//! CAP_SETPCAP for the load and the executor then drops them to the exec's own set, before
//! anything of the user's runs.

use libcontainer::oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxSeccomp, Process,
};
use libcontainer::syscall::syscall::SyscallType;
use std::path::Path;

/// The capabilities the filter load needs: CAP_SYS_ADMIN to load it without no_new_privs,
/// CAP_SETPCAP to drop the lent capabilities from the bounding set afterwards.
const LENT: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

/// Prepares the process file at `path` for an exec confined by a filter: when the process will
/// not have no_new_privs, rewrites it with the lent capabilities and returns the process's own
/// capabilities, which the executor restores after the load.
pub fn lend_capabilities(path: &Path) -> Result<Option<LinuxCapabilities>, String> {
    let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut process: Process =
        serde_json::from_slice(&text).map_err(|e| format!("exec process: {e}"))?;
    // A process without a capability list keeps all of them, CAP_SYS_ADMIN included.
    let Some(own) = process.capabilities().clone() else {
        return Ok(None);
    };
    if process.no_new_privileges() == Some(true) {
        return Ok(None);
    }
    let with_lent = |set: &Option<Capabilities>| {
        let mut caps = set.clone().unwrap_or_default();
        caps.extend(LENT);
        Some(caps)
    };
    let mut lent = own.clone();
    lent.set_bounding(with_lent(own.bounding()))
        .set_effective(with_lent(own.effective()))
        .set_permitted(with_lent(own.permitted()));
    process.set_capabilities(Some(lent));
    let bytes = serde_json::to_vec(&process).map_err(|e| format!("exec process: {e}"))?;
    std::fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(Some(own))
}

/// Loads `profile` in the exec's process, then drops to `restore` when capabilities were lent.
pub fn load(profile: &LinuxSeccomp, restore: Option<&LinuxCapabilities>) -> Result<(), String> {
    libcontainer::seccomp::initialize_seccomp(profile)
        .map_err(|e| format!("load seccomp profile: {e}"))?;
    if let Some(caps) = restore {
        let syscall = SyscallType::Linux.create_syscall();
        libcontainer::capabilities::drop_privileges(caps, syscall.as_ref())
            .map_err(|e| format!("drop the capabilities lent for seccomp: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_without_no_new_privileges_is_lent_sys_admin_and_gets_its_own_set_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let own = serde_json::json!({"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]});
        let process = serde_json::json!({"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0}, "capabilities": own});
        std::fs::write(&path, process.to_string()).unwrap();
        let restore = lend_capabilities(&path).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&restore).unwrap(), own);
        let written: Process = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let caps = written.capabilities().clone().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.clone().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::Chown));
        }
        assert_eq!(caps.inheritable(), &None);

        let mut nnp = process;
        nnp["noNewPrivileges"] = serde_json::json!(true);
        std::fs::write(&path, nnp.to_string()).unwrap();
        assert_eq!(lend_capabilities(&path).unwrap(), None);
    }
}
