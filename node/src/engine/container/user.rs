//! Resolves a container's `user` (`uid[:gid]`, `name[:group]`) against the image's
//! /etc/passwd and /etc/group, the way Docker does before starting the process. The files belong
//! to the container: they are read inside its root, only when regular, and up to a size.

use std::path::{Path, PathBuf};

use crate::engine::inroot::{self, Found};
use crate::error::{EngineError, Result};

/// uid, gid and supplementary gids of the process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The home directory of the uid's passwd entry, `/` when there is none.
    pub home: String,
}

/// The process's supplementary groups, as Docker sets them (moby's `getUser`): its own group
/// first, then the others (the user's groups in /etc/group, `--group-add`).
pub fn supplementary_gids(gid: u32, additional: &[u32]) -> Vec<u32> {
    std::iter::once(gid)
        .chain(additional.iter().copied().filter(|g| *g != gid))
        .collect()
}

/// The largest passwd or group file read. Real ones are kilobytes; the cap keeps a hostile image
/// from making berthd read without end.
const MAX_ACCOUNT_FILE: u64 = 4 << 20;

/// Reads `/etc/<file>` from the topmost layer (layers bottom first) or rootfs that has it,
/// resolved inside that root. Anything but a regular file there (a FIFO, a device, an overlay
/// whiteout) counts as an empty file and hides the layers below, as a whiteout does.
fn read_from_layers(layers: &[PathBuf], file: &str) -> Result<String> {
    let path = Path::new("/etc").join(file);
    for layer in layers.iter().rev() {
        match inroot::read_small_file(layer, &path, MAX_ACCOUNT_FILE) {
            Ok(Found::Bytes(b)) => return Ok(String::from_utf8_lossy(&b).into_owned()),
            Ok(Found::Missing) => continue,
            Ok(Found::NotRegular(_)) => return Ok(String::new()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(EngineError::InvalidArgument(format!(
                    "unable to read /etc/{file} of the container: {e}"
                )))
            }
            Err(e) => return Err(EngineError::io(format!("read /etc/{file}"), e)),
        }
    }
    Ok(String::new())
}

/// Resolves `user`, plus the `--group-add` groups, with the passwd/group files found in
/// `layers` (or a rootfs). Blocking: it reads files of the container; see
/// [`resolve_off_worker`].
pub fn resolve(user: &str, group_add: &[String], layers: &[PathBuf]) -> Result<ResolvedUser> {
    let group = read_from_layers(layers, "group")?;
    let mut resolved = resolve_with(user, &read_from_layers(layers, "passwd")?, &group)?;
    for gid in extra_groups(group_add, &group)? {
        if gid != resolved.gid && !resolved.additional_gids.contains(&gid) {
            resolved.additional_gids.push(gid);
        }
    }
    Ok(resolved)
}

/// [`resolve`] on the blocking pool, so a slow or hostile filesystem never holds an API worker.
pub async fn resolve_off_worker(
    user: String,
    group_add: Vec<String>,
    layers: Vec<PathBuf>,
) -> Result<ResolvedUser> {
    tokio::task::spawn_blocking(move || resolve(&user, &group_add, &layers))
        .await
        .map_err(|e| EngineError::Internal(format!("user lookup: {e}")))?
}

/// `--group-add`: numbers as they are, names through the group file.
pub fn extra_groups(group_add: &[String], group: &str) -> Result<Vec<u32>> {
    group_add
        .iter()
        .map(|g| {
            g.parse::<u32>().or_else(|_| {
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| {
                        EngineError::InvalidArgument(format!(
                            "Unable to find group {g}: no matching entries in group file"
                        ))
                    })
            })
        })
        .collect()
}

/// Resolves `user` against the given passwd and group file contents.
pub fn resolve_with(user: &str, passwd: &str, group: &str) -> Result<ResolvedUser> {
    let (name, grp) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    let (uid, mut gid) = if name.is_empty() {
        (0, 0)
    } else if let Ok(uid) = name.parse::<u32>() {
        let gid = entries
            .iter()
            .find(|f| f[2] == name)
            .and_then(|f| f[3].parse().ok())
            .unwrap_or(0);
        (uid, gid)
    } else {
        let f = entries.iter().find(|f| f[0] == name).ok_or_else(|| {
            EngineError::InvalidArgument(format!(
                "unable to find user {name}: no matching entries in passwd file"
            ))
        })?;
        (parse_id(f[2], name)?, parse_id(f[3], name)?)
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 3)
        .collect();
    if let Some(g) = grp.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let f = groups.iter().find(|f| f[0] == g).ok_or_else(|| {
                    EngineError::InvalidArgument(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?;
                parse_id(f[2], g)?
            }
        };
    }
    let own_entry = entries
        .iter()
        .find(|f| f[2].parse::<u32>().ok() == Some(uid));
    let uname = own_entry.map(|f| f[0]).unwrap_or("");
    let home = own_entry
        .and_then(|f| f.get(5))
        .filter(|h| !h.is_empty())
        .map_or_else(|| "/".to_string(), |h| (*h).to_string());
    let additional_gids = groups
        .iter()
        .filter(|f| f.len() >= 4 && !uname.is_empty() && f[3].split(',').any(|m| m == uname))
        .filter_map(|f| f[2].parse().ok())
        .filter(|g| *g != gid)
        .collect();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

fn parse_id(s: &str, who: &str) -> Result<u32> {
    s.parse().map_err(|_| {
        EngineError::InvalidArgument(format!("invalid id {s:?} for {who} in the image"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\napp:x:1001:\n";

    #[test]
    fn numeric_user_and_group_need_no_passwd_entry() {
        let u = resolve_with("1000:1000", "", "").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
    }

    #[test]
    fn names_resolve_through_passwd_and_group() {
        let u = resolve_with("app", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (1000, 1001, vec![50]));
        assert_eq!(supplementary_gids(1001, &[50, 1001]), vec![1001, 50]);
        assert_eq!(u.home, "/home/app");
        let u = resolve_with("nobody:staff", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (65534, 50));
    }

    #[test]
    fn extra_groups_resolve_by_number_or_name() {
        let gids = extra_groups(&["50".into(), "app".into(), "7".into()], GROUP).unwrap();
        assert_eq!(gids, vec![50, 1001, 7]);
        let e = extra_groups(&["nope".into()], GROUP).unwrap_err();
        assert!(e.to_string().contains("Unable to find group nope"));
    }

    #[test]
    fn unknown_name_is_an_invalid_argument() {
        let e = resolve_with("ghost", PASSWD, GROUP).unwrap_err();
        assert!(e.to_string().contains("unable to find user ghost"));
    }

    #[test]
    fn empty_user_is_root() {
        let root = resolve_with("", PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        assert_eq!(resolve_with("4321", PASSWD, GROUP).unwrap().home, "/");
    }
}
