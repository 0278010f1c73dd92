//! The API's unix socket: mode 0660, owned by root and the socket group (`-G`, default `berth`,
//! as dockerd's `docker`), so that members of the group can use berth without sudo and nobody
//! else can. It must never be reachable by other users, not even for an instant.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use nix::sys::stat::{umask, Mode};

use super::error::ListenError;

/// The socket's group when `-G` is not given; when it does not exist the socket keeps
/// berthd's own group (root's), as dockerd does with `docker`.
pub const DEFAULT_GROUP: &str = "berth";

/// The socket's mode: read and write for root and the group.
pub const SOCKET_MODE: u32 = 0o660;

/// The gid the socket gets for `group`: `None` keeps berthd's own group (an empty name, or the
/// default group missing: that is logged). `lookup` maps a group name to its gid.
pub fn socket_gid(
    group: &str,
    lookup: impl Fn(&str) -> Option<u32>,
) -> Result<Option<u32>, ListenError> {
    if group.is_empty() {
        return Ok(None);
    }
    if let Some(gid) = lookup(group) {
        return Ok(Some(gid));
    }
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(Some(gid));
    }
    if group == DEFAULT_GROUP {
        tracing::warn!(
            group,
            "could not change the socket's group to {DEFAULT_GROUP}: group {DEFAULT_GROUP} not found"
        );
        return Ok(None);
    }
    Err(ListenError::NoSuchGroup(group.to_string()))
}

/// The system's group database (`/etc/group`, NSS).
pub fn lookup_group(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Binds `path` (replacing a stale socket of a killed daemon) with mode 0660 and group `gid`.
pub fn bind_unix(
    host: &str,
    path: &Path,
    gid: Option<u32>,
) -> Result<std::os::unix::net::UnixListener, ListenError> {
    let err = |source| ListenError::Bind {
        host: host.to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    // bind(2) creates the socket file with the umask's mode; a mask of 0177 makes it 0600 from
    // the start, so no one else can connect before the group is set. berthd binds before it
    // starts any other work, so no other thread creates files under this mask.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    umask(old);
    let listener = bound.map_err(err)?;
    std::os::unix::fs::chown(path, None, gid).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(err)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<u32> {
        (name == "berth")
            .then_some(990)
            .or((name == "docker").then_some(991))
    }

    #[test]
    fn the_socket_group_is_looked_up_by_name_or_gid() {
        assert_eq!(socket_gid("berth", lookup).unwrap(), Some(990));
        assert_eq!(socket_gid("docker", lookup).unwrap(), Some(991));
        assert_eq!(socket_gid("1234", lookup).unwrap(), Some(1234));
        assert_eq!(socket_gid("", lookup).unwrap(), None);
    }

    #[test]
    fn a_missing_default_group_keeps_berthds_group_and_a_missing_named_one_is_an_error() {
        assert_eq!(socket_gid("berth", |_| None).unwrap(), None);
        let e = socket_gid("nosuchgroup", |_| None).unwrap_err();
        assert_eq!(e.to_string(), "group nosuchgroup not found");
    }
}
