//! The default seccomp profile. Docker's profile is an allow-list of ~350 calls that ends up
//! refusing (EPERM) the calls below to a container without extra capabilities; we state that
//! outcome directly as a deny-list, which keeps the filter small and fast to load.
// TODO(#2): port Docker's argument filters (clone namespace flags, personality) as well.

use serde_json::{json, Value};

const DENIED: [&str; 46] = [
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapon",
    "swapoff",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
];

/// The profile as OCI `linux.seccomp` JSON.
pub fn profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": DENIED.to_vec(), "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn profile_parses_as_an_oci_seccomp_section() {
        let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(super::profile()).unwrap();
        assert_eq!(
            s.syscalls().as_ref().unwrap()[0].names().len(),
            super::DENIED.len()
        );
    }
}
