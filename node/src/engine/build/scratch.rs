//! A build's scratch directories (an uploaded context, a downloaded ADD source) are removed
//! when their owner is dropped, and off the async workers: a large one takes the filesystem a
//! while, and a build drops them on one.

use std::path::PathBuf;

/// Removes `dir` and everything in it, on a blocking thread inside the runtime and here
/// outside it. `what` names it in the warning a failure logs.
pub fn remove_dir(dir: PathBuf, what: &'static str) {
    let remove = move || {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the {what}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn_blocking(remove)),
        Err(_) => remove(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scratch(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("berth-scratch-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/file"), b"body").unwrap();
        root
    }

    #[test]
    fn inside_the_runtime_the_removal_runs_on_a_blocking_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            // The one blocking thread is busy: a removal queued behind it has not run yet.
            let (release, held) = std::sync::mpsc::channel::<()>();
            let busy = tokio::task::spawn_blocking(move || held.recv());
            let root = scratch("rt");
            remove_dir(root.clone(), "test directory");
            assert!(root.exists(), "removed on the async worker that asked");
            release.send(()).unwrap();
            busy.await.unwrap().unwrap();
            for _ in 0..500 {
                if !root.exists() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{} was never removed", root.display());
        });
    }

    #[test]
    fn outside_a_runtime_the_removal_is_done_at_once() {
        let root = scratch("plain");
        remove_dir(root.clone(), "test directory");
        assert!(!root.exists());
    }
}
