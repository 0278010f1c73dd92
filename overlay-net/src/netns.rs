//! Named network namespaces as `ip netns` makes them: a thread unshares its network namespace
//! and bind-mounts it on a file, then ends. No fork, so it is safe inside a tokio process.

use std::path::Path;

use crate::error::OverlayError;

fn ns_err(path: &Path) -> impl Fn(std::io::Error) -> OverlayError + '_ {
    move |source| OverlayError::Namespace {
        path: path.display().to_string(),
        source,
    }
}

/// Creates a new network namespace bound at `path` (its directory must exist). Blocking.
pub fn create(path: &Path) -> Result<(), OverlayError> {
    let p = path.to_path_buf();
    let joined = std::thread::spawn(move || -> Result<(), OverlayError> {
        let err = ns_err(&p);
        std::fs::File::create(&p).map_err(&err)?;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| err(e.into()))?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        nix::mount::mount(
            Some(own.as_str()),
            &p,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(e.into()))
    })
    .join();
    match joined {
        Ok(r) => {
            if r.is_err() {
                let _ = std::fs::remove_file(path);
            }
            r
        }
        Err(_) => Err(ns_err(path)(std::io::Error::other("netns thread panicked"))),
    }
}

/// Unmounts and removes the namespace file; a missing one is not an error. Blocking.
pub fn remove(path: &Path) -> Result<(), OverlayError> {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ns_err(path)(e)),
    }
}
