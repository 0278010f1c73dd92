//! `wait`: a future that resolves when the container reaches the asked condition. The waiter is
//! registered before the future is returned, so a caller may answer the HTTP headers first and
//! start the container next without missing the exit (docker run does exactly that).

use std::future::Future;

use crate::engine::req::WaitCondition;
use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// Registers a waiter; the returned future yields the exit code.
    pub async fn wait_container(
        &self,
        key: &str,
        cond: WaitCondition,
    ) -> Result<impl Future<Output = i64> + Send + 'static> {
        let handle = self.lookup(key)?;
        let mut rx = handle.subscribe();
        let start = rx.borrow_and_update().clone();
        Ok(async move {
            let res = rx
                .wait_for(|c| match cond {
                    WaitCondition::NotRunning => !c.running,
                    WaitCondition::NextExit => c.exits > start.exits || c.removed,
                    WaitCondition::Removed => c.removed,
                })
                .await
                .map(|c| c.exit_code);
            // The sender is dropped only with the handle, after removal was published.
            res.unwrap_or(start.exit_code)
        })
    }
}
