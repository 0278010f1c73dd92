//! Who loads a container's seccomp filter, and with what right, in the monitor. The filter is
//! loaded by berth's executor just before the exec, for the init and for every exec alike
//! (`seccomp_bpf` compiles it once per profile; libcontainer never sees it, as it would compile
//! it again each time, and its tenant builder drops it for execs anyway). At that point
//! libcontainer has dropped the capabilities, and loading a filter needs CAP_SYS_ADMIN or
//! no_new_privs: a process without no_new_privileges (Docker's default) is therefore lent
//! CAP_SYS_ADMIN and CAP_SETPCAP, and the executor drops it to its own set right after the
//! load, before any of the user's code runs.

use libcontainer::oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, Spec};
use libcontainer::syscall::syscall::SyscallType;
use std::path::Path;

use super::seccomp_bpf::{self, Filter};

/// The capabilities a load needs: CAP_SYS_ADMIN to load without no_new_privs, CAP_SETPCAP to
/// drop the lent ones from the bounding set afterwards.
const LENT: [Capability; 2] = [Capability::SysAdmin, Capability::Setpcap];

/// What the init's executor loads, and the capabilities it restores after.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub filter: Filter,
    pub restore_caps: Option<LinuxCapabilities>,
}

/// Takes the filter out of the bundle's `config.json` before libcontainer reads it: compiles
/// (or finds in `cache_dir`) the container's profile, and lends the init the capabilities to
/// load it. `None` when the container runs without a filter.
pub fn prepare_init(bundle: &Path, cache_dir: &Path) -> Result<Option<Prepared>, String> {
    let path = bundle.join("config.json");
    let mut spec = Spec::load(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let Some(profile) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.seccomp_mut().take())
    else {
        return Ok(None);
    };
    let filter = seccomp_bpf::cached(&profile, cache_dir)?;
    let restore_caps = spec.process_mut().as_mut().and_then(lend);
    spec.save(&path)
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(Some(Prepared {
        filter,
        restore_caps,
    }))
}

/// Prepares the process file of an exec confined by a filter: rewrites it with the lent
/// capabilities when it will not have no_new_privs, and returns its own capabilities.
pub fn lend_for_exec(path: &Path) -> Result<Option<LinuxCapabilities>, String> {
    let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut process: Process =
        serde_json::from_slice(&text).map_err(|e| format!("exec process: {e}"))?;
    let Some(own) = lend(&mut process) else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(&process).map_err(|e| format!("exec process: {e}"))?;
    std::fs::write(path, bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(Some(own))
}

/// Adds the lent capabilities to `process` when it needs them; returns its own set.
fn lend(process: &mut Process) -> Option<LinuxCapabilities> {
    if process.no_new_privileges() == Some(true) {
        return None;
    }
    // A process without a capability list keeps all of them, CAP_SYS_ADMIN included.
    let own = process.capabilities().clone()?;
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
    Some(own)
}

/// Loads `filter` in the process about to exec, then drops to `restore` when capabilities were
/// lent.
pub fn load(filter: &Filter, restore: Option<&LinuxCapabilities>) -> Result<(), String> {
    seccomp_bpf::load(filter)?;
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
    use serde_json::json;

    fn process(extra: serde_json::Value) -> serde_json::Value {
        let mut p = json!({"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}});
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        p
    }

    #[test]
    fn an_exec_without_no_new_privileges_is_lent_sys_admin_and_gets_its_own_set_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, process(json!({})).to_string()).unwrap();
        let restore = lend_for_exec(&path).unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&restore).unwrap(),
            process(json!({}))["capabilities"]
        );
        let written: Process = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let caps = written.capabilities().clone().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.permitted()] {
            let set = set.clone().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::Chown));
        }
        assert_eq!(caps.inheritable(), &None);
        std::fs::write(&path, process(json!({"noNewPrivileges": true})).to_string()).unwrap();
        assert_eq!(lend_for_exec(&path).unwrap(), None);
    }

    #[test]
    fn the_init_loses_its_filter_to_the_executor_and_borrows_what_loading_needs() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path();
        let profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
        let spec = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "process": process(json!({})), "linux": {"seccomp": profile}});
        std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
        let prepared = prepare_init(bundle, &bundle.join("cache"))
            .unwrap()
            .unwrap();
        assert!(!prepared.filter.program.is_empty());
        assert!(prepared.restore_caps.is_some());
        let written = Spec::load(bundle.join("config.json")).unwrap();
        assert!(written.linux().as_ref().unwrap().seccomp().is_none());
        let caps = written.process().as_ref().unwrap().capabilities().clone();
        assert!(caps
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        assert!(
            prepare_init(bundle, &bundle.join("cache"))
                .unwrap()
                .is_none(),
            "once taken, there is no filter left for libcontainer"
        );
    }
}
