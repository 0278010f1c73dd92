//! A tmpfs mount's options, checked at start as moby checks them (`MergeTmpfsOptions`) before
//! runc mounts. libcontainer reports any mount that fails in the container's init as "failed
//! to prepare rootfs", naming neither the mount nor the option; this names both.

use std::ffi::CString;

use super::{MountKind, MountSpec};
use crate::engine::build::format::quote_list;
use crate::error::io_error_text;
use crate::runtime::mount_api::FsContext;

/// The mount flags moby's table knows (`moby/sys/mount`'s `flags`).
const FLAGS: &[&str] = &[
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "bind",
    "rbind",
    "unbindable",
    "runbindable",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
];

/// The `key=value` options moby passes to tmpfs (`validFlags`).
const DATA_KEYS: &[&str] = &[
    "",
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// The first tmpfs mount of `mounts` whose options moby refuses (`invalid tmpfs option
/// ["foo"]`) or the kernel's tmpfs refuses (`size=abc`), as Docker's start error says it.
pub fn check(mounts: &[MountSpec]) -> Result<(), String> {
    for m in mounts.iter().filter(|m| m.kind == MountKind::Tmpfs) {
        let mut data = Vec::new();
        for option in &m.options {
            if FLAGS.contains(&option.as_str()) {
                continue;
            }
            match option.split_once('=') {
                Some((key, value)) if DATA_KEYS.contains(&key) => data.push((key, value)),
                _ => {
                    let parts: Vec<String> = option.splitn(2, '=').map(String::from).collect();
                    return Err(format!("invalid tmpfs option {}", quote_list(&parts)));
                }
            }
        }
        if !data.is_empty() {
            check_with_kernel(&m.target, &data)?;
        }
    }
    Ok(())
}

/// Hands each value to a tmpfs context that is never created: the kernel parses a parameter
/// as it is set, so a bad one fails here as the container's mount would.
fn check_with_kernel(target: &str, data: &[(&str, &str)]) -> Result<(), String> {
    let mounting =
        |detail: String| format!("error mounting \"tmpfs\" to rootfs at {target:?}: {detail}");
    let ctx = FsContext::open(c"tmpfs")
        .map_err(|e| mounting(format!("fsopen: {}", io_error_text(&e))))?;
    for (key, value) in data {
        let refused = |e: std::io::Error| mounting(format!("{key}={value}: {}", io_error_text(&e)));
        let c_key = CString::new(*key).map_err(|e| refused(e.into()))?;
        ctx.set(&c_key, value.as_bytes()).map_err(refused)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpfs(target: &str, options: &[&str]) -> MountSpec {
        MountSpec {
            kind: MountKind::Tmpfs,
            target: target.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_options_are_refused_as_moby_words_it() {
        let said = |options: &[&str]| check(&[tmpfs("/x", options)]).unwrap_err();
        assert_eq!(said(&["foo"]), r#"invalid tmpfs option ["foo"]"#);
        assert_eq!(
            said(&["size=1m", "foo=1"]),
            r#"invalid tmpfs option ["foo" "1"]"#
        );
        assert_eq!(said(&["size"]), r#"invalid tmpfs option ["size"]"#);
        assert_eq!(
            said(&["tmpcopyup"]),
            r#"invalid tmpfs option ["tmpcopyup"]"#
        );
    }

    #[test]
    fn flags_and_known_keys_pass_without_a_kernel_check_for_flags() {
        for options in [
            &["defaults", "noatime", "exec", "rprivate"][..],
            &["nosuid", "nodev"][..],
            &[][..],
        ] {
            assert_eq!(check(&[tmpfs("/x", options)]), Ok(()), "{options:?}");
        }
    }

    #[test]
    fn values_the_kernel_refuses_name_the_mount_and_the_option() {
        // Needs fsopen (Linux 5.2); a rootless test run may not have it for tmpfs.
        if FsContext::open(c"tmpfs").is_err() {
            return;
        }
        assert_eq!(
            check(&[tmpfs(
                "/a",
                &["size=64m", "mode=1777", "uid=5", "nr_inodes=1k"]
            )]),
            Ok(())
        );
        let mounts = [
            tmpfs("/a", &["size=1m"]),
            tmpfs("/x", &["mode=1777", "size=abc"]),
        ];
        assert_eq!(
            check(&mounts).unwrap_err(),
            r#"error mounting "tmpfs" to rootfs at "/x": size=abc: invalid argument"#
        );
        assert!(check(&[tmpfs("/m", &["mode=999"])])
            .unwrap_err()
            .ends_with("mode=999: invalid argument"));
    }

    #[test]
    fn other_kinds_are_not_looked_at() {
        let mut bind = tmpfs("/x", &["foo"]);
        bind.kind = MountKind::Bind;
        assert_eq!(check(&[bind]), Ok(()));
    }
}
