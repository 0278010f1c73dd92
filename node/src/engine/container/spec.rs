//! Builds a container's OCI runtime spec: a pure function of the record, its paths and what the
//! host supports. Docker's defaults (capabilities, masked paths, mounts, devices) live here.

use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::Path;

use super::types::ContainerRecord;
use crate::error::{EngineError, Result};

const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where a container's files are.
#[derive(Debug, Clone)]
pub struct SpecPaths<'a> {
    /// The overlay mount point.
    pub rootfs: &'a Path,
    pub hostname_file: &'a Path,
    pub hosts_file: &'a Path,
    pub resolv_file: &'a Path,
    /// The static init for `--init`.
    pub init: &'a Path,
    /// Where volumes live (`<name>/_data` below).
    pub volumes: &'a Path,
    /// Namespaces joined from other containers, resolved at start.
    pub shared: &'a super::spec_runtime::SharedNamespaces,
    /// Each volume subpath's mount point, by target (`volume::subpath`).
    pub subpaths: &'a [(String, std::path::PathBuf)],
}

/// What the host can do, found once at daemon start.
#[derive(Debug, Clone, Copy)]
pub struct HostFacts {
    /// The memory cgroup has swap accounting (`memory.memsw.*` on v1).
    pub swap_accounting: bool,
    /// Apply the seccomp profile (needs libseccomp at build time).
    pub seccomp: bool,
    /// The capability bounding set berthd runs with; containers get no capability outside it.
    pub cap_bounding: u64,
    /// berthd's own hard `RLIMIT_NOFILE`: without CAP_SYS_RESOURCE no container can have more.
    pub nofile_hard: i64,
    /// The daemon's pids limit for containers that set none (0: none). Not a fact of the host,
    /// but carried with them to where a container is made.
    pub default_pids_limit: i64,
    /// The daemon's cgroup parent (`--cgroup-parent`) of containers that name none; empty:
    /// `berth`. Carried like the pids limit; set once at start-up (leaked: the facts are `Copy`).
    pub default_cgroup_parent: &'static str,
    /// The kernel's version and major revision, for seccomp rules with a minimum kernel.
    pub kernel: (u32, u32),
    /// AppArmor is enabled: `apparmor=<profile>` can be applied.
    pub apparmor: bool,
    /// SELinux is enabled.
    pub selinux: bool,
}

impl Default for HostFacts {
    fn default() -> Self {
        HostFacts {
            swap_accounting: false,
            seccomp: false,
            cap_bounding: u64::MAX,
            nofile_hard: 1 << 20,
            default_pids_limit: 0,
            default_cgroup_parent: "",
            kernel: (0, 0),
            apparmor: false,
            selinux: false,
        }
    }
}

/// Docker's masked paths for a container: the default list unless the client sent its own
/// (`systempaths=unconfined` sends none); none for a privileged container.
pub fn masked_paths(h: &super::types::HostSettings) -> Vec<String> {
    paths_or_default(h.masked_paths.as_ref(), &MASKED_PATHS, h.privileged)
}

/// Docker's read-only paths, chosen as `masked_paths` are.
pub fn readonly_paths(h: &super::types::HostSettings) -> Vec<String> {
    paths_or_default(h.readonly_paths.as_ref(), &READONLY_PATHS, h.privileged)
}

fn paths_or_default(
    given: Option<&Vec<String>>,
    default: &[&str],
    privileged: bool,
) -> Vec<String> {
    match given {
        Some(paths) => paths.clone(),
        None if privileged => Vec::new(),
        None => default.iter().map(|p| p.to_string()).collect(),
    }
}

/// A container's runtime spec: typed, with its seccomp section kept as the JSON it is written
/// as (the default profile's, shared by every container with the same capabilities).
pub struct RuntimeSpec {
    /// Everything but `linux.seccomp`, which stays `None` here.
    pub spec: Spec,
    seccomp: Option<super::security::SeccompJson>,
}

impl RuntimeSpec {
    /// The `linux.seccomp` section, as JSON.
    pub fn seccomp(&self) -> Option<&str> {
        self.seccomp.as_deref()
    }

    /// `config.json`'s bytes.
    pub fn into_json(self) -> Result<Vec<u8>> {
        let json = match &self.seccomp {
            None => serde_json::to_vec(&self.spec),
            Some(seccomp) => with_seccomp(self.spec, seccomp),
        };
        json.map_err(|e| EngineError::Internal(format!("runtime spec: {e}")))
    }
}

/// `spec`, serialized with `seccomp` as its `linux.seccomp`: the spec without its `linux`, then
/// `linux` without its seccomp, each reopened for one more member.
fn with_seccomp(mut spec: Spec, seccomp: &str) -> serde_json::Result<Vec<u8>> {
    let linux = spec.linux_mut().take();
    let head = serde_json::to_vec(&spec)?;
    let linux = match &linux {
        Some(l) => serde_json::to_vec(l)?,
        None => b"{}".to_vec(),
    };
    let mut out = Vec::with_capacity(head.len() + linux.len() + seccomp.len() + 24);
    reopen(&mut out, &head)?;
    out.extend_from_slice(b"\"linux\":");
    reopen(&mut out, &linux)?;
    out.extend_from_slice(b"\"seccomp\":");
    out.extend_from_slice(seccomp.as_bytes());
    out.extend_from_slice(b"}}");
    Ok(out)
}

/// Appends a serialized JSON object without its closing brace, ready for one more member.
fn reopen(out: &mut Vec<u8>, object: &[u8]) -> serde_json::Result<()> {
    let Some(open) = object.strip_suffix(b"}") else {
        return Err(serde::ser::Error::custom("not a JSON object"));
    };
    out.extend_from_slice(open);
    if open != b"{" {
        out.push(b',');
    }
    Ok(())
}

/// The runtime spec for `rec`.
pub fn build(rec: &ContainerRecord, paths: &SpecPaths<'_>, host: HostFacts) -> Result<RuntimeSpec> {
    let caps: Vec<String> = capabilities(rec, host);
    let seccomp = super::security::seccomp_section(rec, &caps, host)?;
    let namespaces = super::spec_runtime::namespaces(rec, paths.shared);
    let env = super::env::with_home(
        super::env::replace_or_append(
            super::env::daemon_env(&rec.config.hostname, rec.config.tty),
            &rec.config.env,
        ),
        &rec.home,
    );
    let cwd = if rec.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        rec.config.working_dir.clone()
    };
    let groups = super::user::supplementary_gids(rec.gid, &rec.additional_gids);
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": rec.config.tty,
            "user": {"uid": rec.uid, "gid": rec.gid, "additionalGids": groups},
            "args": args(rec),
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        },
        "root": {"path": paths.rootfs, "readonly": rec.host.read_only},
        "hostname": rec.config.hostname,
        "mounts": mounts(rec, paths),
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("/{}", rec.host.runtime.cgroup_rel(&rec.id).display()),
            "resources": resources(rec, host),
            "maskedPaths": masked_paths(&rec.host),
            "readonlyPaths": readonly_paths(&rec.host),
        },
    });
    if let Some(p) = crate::engine::volume::mounts::root_propagation(&rec.host.mounts) {
        spec["linux"]["rootfsPropagation"] = json!(p);
    }
    let security = &rec.host.security;
    // Written only when set, as Docker writes it.
    if security.no_new_privileges {
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    if let Some(profile) = super::security::apparmor_profile(security, host) {
        spec["process"]["apparmorProfile"] = json!(profile);
    }
    if let (true, Some([height, width])) = (rec.config.tty, rec.host.console_size) {
        spec["process"]["consoleSize"] = json!({"height": height, "width": width});
    }
    super::spec_runtime::apply(&mut spec, rec, host.nofile_hard);
    let spec = serde_json::from_value(spec)
        .map_err(|e| EngineError::Internal(format!("runtime spec: {e}")))?;
    Ok(RuntimeSpec { spec, seccomp })
}

/// Docker's init path inside the container.
const INIT_PATH: &str = "/sbin/docker-init";

fn args(rec: &ContainerRecord) -> Vec<String> {
    if rec.host.init {
        [INIT_PATH.to_string(), "--".to_string()]
            .into_iter()
            .chain(rec.args())
            .collect()
    } else {
        rec.args()
    }
}

fn capabilities(rec: &ContainerRecord, host: HostFacts) -> Vec<String> {
    let h = &rec.host;
    super::caps::effective(h.privileged, &h.cap_add, &h.cap_drop, host.cap_bounding).0
}

fn mounts(rec: &ContainerRecord, paths: &SpecPaths<'_>) -> Vec<Value> {
    let shm = if rec.host.shm_size > 0 {
        rec.host.shm_size
    } else {
        64 * 1024 * 1024
    };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        match &paths.shared.shm {
            Some(src) => {
                json!({"destination": "/dev/shm", "type": "bind", "source": src, "options": ["rbind", "rprivate"]})
            }
            None => {
                json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]})
            }
        },
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if rec.host.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if rec.host.privileged { "rw" } else { "ro" }]}),
    ];
    for (dest, src) in [
        ("/etc/hostname", paths.hostname_file),
        ("/etc/hosts", paths.hosts_file),
        ("/etc/resolv.conf", paths.resolv_file),
    ] {
        m.push(json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    }
    m.extend(crate::engine::volume::mounts::spec_mounts(
        &rec.host.mounts,
        paths.volumes,
        paths.subpaths,
    ));
    if rec.host.init {
        m.push(json!({"destination": INIT_PATH, "type": "bind", "source": paths.init, "options": ["bind", "ro", "nosuid", "nodev"]}));
    }
    m
}

fn resources(rec: &ContainerRecord, host: HostFacts) -> Value {
    let h = &rec.host;
    let mut memory = serde_json::Map::new();
    if h.memory > 0 {
        memory.insert("limit".into(), json!(h.memory));
        if host.swap_accounting {
            let swap = match h.memory_swap {
                0 => h.memory * 2,
                s => s,
            };
            memory.insert("swap".into(), json!(swap));
        }
    }
    let mut cpu = serde_json::Map::new();
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if h.nano_cpus > 0 {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert("quota".into(), json!(h.nano_cpus / 10_000));
    } else if h.cpu_quota > 0 {
        cpu.insert("quota".into(), json!(h.cpu_quota));
        cpu.insert(
            "period".into(),
            json!(if h.cpu_period > 0 {
                h.cpu_period
            } else {
                100_000
            }),
        );
    }
    let devices = if h.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        devices()
    };
    let mut res = json!({"devices": devices, "memory": memory, "cpu": cpu});
    if let Some(limit) = h.pids_limit.filter(|l| *l > 0) {
        res["pids"] = json!({"limit": limit});
    }
    res
}

/// Docker's default device cgroup rules: deny all, then the usual nodes.
fn devices() -> Value {
    // A missing minor is the wildcard (`c 136:* rwm`).
    let c = |major: i64, minor: Option<i64>, access: &str| match minor {
        Some(minor) => {
            json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": access})
        }
        None => json!({"allow": true, "type": "c", "major": major, "access": access}),
    };
    json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "access": "m"},
        {"allow": true, "type": "b", "access": "m"},
        c(1, Some(3), "rwm"), c(1, Some(5), "rwm"), c(1, Some(7), "rwm"), c(1, Some(8), "rwm"),
        c(1, Some(9), "rwm"), c(5, Some(0), "rwm"), c(5, Some(1), "rwm"), c(5, Some(2), "rwm"),
        c(136, None, "rwm"), c(10, Some(200), "rwm"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec_for(rec: &ContainerRecord, host: HostFacts) -> Spec {
        runtime_spec_for(rec, host).spec
    }

    fn runtime_spec_for(rec: &ContainerRecord, host: HostFacts) -> RuntimeSpec {
        let p = PathBuf::from("/x");
        let shared = crate::engine::container::spec_runtime::SharedNamespaces::default();
        let paths = SpecPaths {
            shared: &shared,
            rootfs: &p,
            hostname_file: &p,
            hosts_file: &p,
            resolv_file: &p,
            init: &p,
            volumes: &p,
            subpaths: &[],
        };
        build(rec, &paths, host).unwrap()
    }

    fn record() -> ContainerRecord {
        let mut rec = ContainerRecord {
            id: "abc".into(),
            ..Default::default()
        };
        rec.config.cmd = vec!["echo".into(), "hi".into()];
        rec.config.entrypoint = vec!["/bin/sh".into(), "-c".into()];
        rec.config.hostname = "box".into();
        rec
    }

    #[test]
    fn args_are_entrypoint_then_cmd_and_path_is_defaulted() {
        let s = spec_for(&record(), HostFacts::default());
        let p = s.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_ref().unwrap(),
            &vec!["/bin/sh", "-c", "echo", "hi"]
        );
        let env = p.env().as_ref().unwrap();
        assert!(env[0].starts_with("PATH=/usr/local/sbin"));
        assert!(env.contains(&"HOSTNAME=box".to_string()));
        assert_eq!(p.cwd(), &PathBuf::from("/"));
    }

    #[test]
    fn home_comes_from_the_resolved_user_unless_the_env_sets_it() {
        let env = |rec: &ContainerRecord| {
            spec_for(rec, HostFacts::default())
                .process()
                .as_ref()
                .unwrap()
                .env()
                .clone()
                .unwrap()
        };
        let mut rec = record();
        rec.home = "/home/app".into();
        assert!(env(&rec).contains(&"HOME=/home/app".to_string()));
        rec.config.env = vec!["HOME=/custom".into()];
        let got = env(&rec);
        assert!(got.contains(&"HOME=/custom".to_string()));
        assert!(!got.contains(&"HOME=/home/app".to_string()));
    }

    #[test]
    fn default_caps_are_dockers_and_cap_drop_applies() {
        let mut rec = record();
        let s = spec_for(&rec, HostFacts::default());
        let caps = s
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.effective().as_ref().unwrap().len(), 14);
        rec.host.cap_drop = vec!["net_raw".into()];
        let s = spec_for(&rec, HostFacts::default());
        let caps = s
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.effective().as_ref().unwrap().len(), 13);
    }

    #[test]
    fn memory_swap_defaults_to_twice_memory_only_with_swap_accounting() {
        let mut rec = record();
        rec.host.memory = 32 << 20;
        let s = spec_for(
            &rec,
            HostFacts {
                swap_accounting: true,
                ..HostFacts::default()
            },
        );
        let mem = *s
            .linux()
            .as_ref()
            .unwrap()
            .resources()
            .as_ref()
            .unwrap()
            .memory()
            .as_ref()
            .unwrap();
        assert_eq!(mem.limit(), Some(32 << 20));
        assert_eq!(mem.swap(), Some(64 << 20));
        let s = spec_for(&rec, HostFacts::default());
        let mem = *s
            .linux()
            .as_ref()
            .unwrap()
            .resources()
            .as_ref()
            .unwrap()
            .memory()
            .as_ref()
            .unwrap();
        assert_eq!(mem.swap(), None);
    }

    #[test]
    fn host_network_shares_the_host_namespace() {
        let mut rec = record();
        let has_net = |s: &Spec| {
            s.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
        };
        assert!(has_net(&spec_for(&rec, HostFacts::default())));
        rec.host.network_mode = "host".into();
        assert!(!has_net(&spec_for(&rec, HostFacts::default())));
    }

    #[test]
    fn init_runs_first_and_is_mounted_read_only() {
        let mut rec = record();
        rec.host.init = true;
        let s = spec_for(&rec, HostFacts::default());
        let args = s
            .process()
            .as_ref()
            .unwrap()
            .args()
            .as_ref()
            .unwrap()
            .clone();
        assert_eq!(args[..3], ["/sbin/docker-init", "--", "/bin/sh"]);
        let m = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == &PathBuf::from("/sbin/docker-init"))
            .unwrap();
        assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
    }

    #[test]
    fn no_new_privileges_is_off_unless_asked_and_system_paths_can_be_unmasked() {
        let mut rec = record();
        let host = HostFacts {
            seccomp: true,
            ..HostFacts::default()
        };
        let s = spec_for(&rec, host);
        let process = s.process().as_ref().unwrap();
        assert_eq!(process.no_new_privileges(), None, "off, as in Docker");
        assert!(runtime_spec_for(&rec, host).seccomp().is_some());
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(
            linux.masked_paths().as_ref().unwrap().len(),
            MASKED_PATHS.len()
        );
        rec.host.security.no_new_privileges = true;
        rec.host.masked_paths = Some(Vec::new());
        rec.host.readonly_paths = Some(Vec::new());
        let s = spec_for(&rec, host);
        assert_eq!(
            s.process().as_ref().unwrap().no_new_privileges(),
            Some(true)
        );
        let linux = s.linux().as_ref().unwrap();
        assert_eq!(linux.masked_paths().as_deref(), Some(&[][..]));
        assert_eq!(linux.readonly_paths().as_deref(), Some(&[][..]));
    }

    #[test]
    fn cpus_become_quota_over_a_100ms_period() {
        let mut rec = record();
        rec.host.nano_cpus = 1_500_000_000;
        let s = spec_for(&rec, HostFacts::default());
        let cpu = s
            .linux()
            .as_ref()
            .unwrap()
            .resources()
            .as_ref()
            .unwrap()
            .cpu()
            .as_ref()
            .unwrap()
            .clone();
        assert_eq!(cpu.quota(), Some(150_000));
        assert_eq!(cpu.period(), Some(100_000));
    }

    #[test]
    fn config_json_is_the_spec_with_its_seccomp_section() {
        let rec = record();
        let host = HostFacts {
            seccomp: true,
            ..HostFacts::default()
        };
        let rs = runtime_spec_for(&rec, host);
        let seccomp: oci_spec::runtime::LinuxSeccomp =
            serde_json::from_str(rs.seccomp().unwrap()).unwrap();
        let mut expected = rs.spec.clone();
        if let Some(linux) = expected.linux_mut() {
            linux.set_seccomp(Some(seccomp));
        }
        let written: Spec = serde_json::from_slice(&rs.into_json().unwrap()).unwrap();
        assert_eq!(written, expected);
        let filter = written
            .linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .as_ref()
            .unwrap();
        assert!(filter.syscalls().as_ref().is_some_and(|s| !s.is_empty()));

        let plain = runtime_spec_for(&rec, HostFacts::default());
        assert!(plain.seccomp().is_none());
        let expected = plain.spec.clone();
        let written: Spec = serde_json::from_slice(&plain.into_json().unwrap()).unwrap();
        assert_eq!(written, expected);
    }

    #[test]
    fn a_member_goes_into_empty_and_filled_objects_alike() {
        let mut out = Vec::new();
        reopen(&mut out, b"{}").unwrap();
        out.extend_from_slice(b"\"a\":1}");
        assert_eq!(out, b"{\"a\":1}");
        out.clear();
        reopen(&mut out, b"{\"b\":2}").unwrap();
        out.extend_from_slice(b"\"a\":1}");
        assert_eq!(out, b"{\"b\":2,\"a\":1}");
        assert!(reopen(&mut out, b"[1]").is_err());
    }
}
