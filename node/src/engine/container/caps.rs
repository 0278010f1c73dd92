//! Capabilities: Docker's default set, `--cap-add`/`--cap-drop` (with `ALL`), `--privileged`,
//! all limited to what the host's bounding set allows. A capability the host lacks cannot be
//! given to a container (the kernel refuses), so it is dropped and reported instead.

/// Every capability by number (`CAP_CHOWN` is 0).
pub const ALL: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capability set (CapEff 00000000a80425fb).
pub const DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn normalize(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Refuses a `--cap-add` or `--cap-drop` that names no capability, in Docker's words.
pub fn check(add: &[String], drop: &[String]) -> Result<(), String> {
    for (field, caps) in [("CapAdd", add), ("CapDrop", drop)] {
        for c in caps {
            let cap = normalize(c);
            if cap != "CAP_ALL" && !ALL.contains(&cap.as_str()) {
                return Err(format!("invalid {field}: unknown capability: {cap:?}"));
            }
        }
    }
    Ok(())
}

/// Whether the bounding-set mask allows `cap`.
fn allowed(cap: &str, bounding: u64) -> bool {
    ALL.iter()
        .position(|c| *c == cap)
        .is_some_and(|i| i < 64 && bounding & (1u64 << i) != 0)
}

/// The container's capabilities, and those asked for that the host cannot grant.
pub fn effective(
    privileged: bool,
    add: &[String],
    drop: &[String],
    bounding: u64,
) -> (Vec<String>, Vec<String>) {
    let add: Vec<String> = add.iter().map(|c| normalize(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| normalize(c)).collect();
    let mut wanted: Vec<String> = if privileged || add.iter().any(|c| c == "CAP_ALL") {
        ALL.iter().map(|c| c.to_string()).collect()
    } else {
        DEFAULT.iter().map(|c| c.to_string()).collect()
    };
    if drop.iter().any(|c| c == "CAP_ALL") {
        wanted.clear();
    }
    wanted.retain(|c| !drop.contains(c));
    for c in add.into_iter().filter(|c| c != "CAP_ALL") {
        if !wanted.contains(&c) {
            wanted.push(c);
        }
    }
    let (ok, missing): (Vec<String>, Vec<String>) =
        wanted.into_iter().partition(|c| allowed(c, bounding));
    (ok, missing)
}

/// Reads the `CapBnd` mask of this process.
pub fn host_bounding(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: u64 = (1 << 41) - 1;

    #[test]
    fn unknown_capabilities_are_refused_in_dockers_words() {
        let v = |s: &[&str]| s.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check(&v(&["net_admin", "ALL", "CAP_BPF"]), &v(&["all"])),
            Ok(())
        );
        assert_eq!(
            check(&v(&["NOSUCHCAP"]), &[]),
            Err("invalid CapAdd: unknown capability: \"CAP_NOSUCHCAP\"".into())
        );
        assert_eq!(
            check(&[], &v(&["cap_nope"])),
            Err("invalid CapDrop: unknown capability: \"CAP_NOPE\"".into())
        );
    }

    #[test]
    fn default_set_is_dockers_mask() {
        let (caps, missing) = effective(false, &[], &[], FULL);
        let mask: u64 = caps
            .iter()
            .map(|c| 1u64 << ALL.iter().position(|a| a == c).unwrap())
            .sum();
        assert_eq!(format!("{mask:016x}"), "00000000a80425fb");
        assert!(missing.is_empty());
    }

    #[test]
    fn privileged_gets_everything_the_host_allows_and_reports_the_rest() {
        let no_sys_resource = FULL & !(1 << 24);
        let (caps, missing) = effective(true, &[], &[], no_sys_resource);
        assert_eq!(caps.len(), 40);
        assert_eq!(missing, vec!["CAP_SYS_RESOURCE"]);
    }

    #[test]
    fn add_and_drop_accept_short_names_and_all() {
        let (caps, _) = effective(false, &["net_admin".into()], &["chown".into()], FULL);
        assert!(
            caps.contains(&"CAP_NET_ADMIN".to_string()) && !caps.contains(&"CAP_CHOWN".to_string())
        );
        let (caps, _) = effective(false, &["SYS_TIME".into()], &["ALL".into()], FULL);
        assert_eq!(caps, vec!["CAP_SYS_TIME"]);
    }

    #[test]
    fn bounding_set_parses_from_proc_status() {
        assert_eq!(
            host_bounding("Name:\tx\nCapBnd:\t000001fffeffffff\n"),
            0x1fffeffffff
        );
    }
}
