//! Resolves a container's `user` (`uid[:gid]`, `name[:group]`) against the image's
//! /etc/passwd and /etc/group, the way Docker does before starting the process.

use std::path::PathBuf;

use crate::error::{EngineError, Result};

/// uid, gid and supplementary gids of the process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Reads `etc/<file>` from the topmost layer that has it (layers bottom first).
fn read_from_layers(layers: &[PathBuf], file: &str) -> String {
    layers
        .iter()
        .rev()
        .find_map(|l| std::fs::read_to_string(l.join("etc").join(file)).ok())
        .unwrap_or_default()
}

/// Resolves `user` with the passwd/group files found in `layers`.
pub fn resolve(user: &str, layers: &[PathBuf]) -> Result<ResolvedUser> {
    resolve_with(
        user,
        &read_from_layers(layers, "passwd"),
        &read_from_layers(layers, "group"),
    )
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
    let uname = entries
        .iter()
        .find(|f| f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[0])
        .unwrap_or("");
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
        let u = resolve_with("nobody:staff", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (65534, 50));
    }

    #[test]
    fn unknown_name_is_an_invalid_argument() {
        let e = resolve_with("ghost", PASSWD, GROUP).unwrap_err();
        assert!(e.to_string().contains("unable to find user ghost"));
    }

    #[test]
    fn empty_user_is_root() {
        assert_eq!(
            resolve_with("", PASSWD, GROUP).unwrap(),
            ResolvedUser::default()
        );
    }
}
