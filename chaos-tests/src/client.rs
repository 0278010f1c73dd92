//! The harness's API requests: berth-test-support's unix-socket client, with failures named
//! by request and socket as the harness's other errors are.

use std::path::Path;
use std::time::Duration;

pub use berth_test_support::client::Response;

use crate::error::ClusterError;

/// Sends one request to the API on `socket`; waits at most `timeout` for each read. Any
/// status is `Ok`.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, ClusterError> {
    berth_test_support::client::request(socket, method, path, body, timeout).map_err(|e| {
        ClusterError::Http {
            method: method.to_string(),
            path: path.to_string(),
            socket: socket.to_path_buf(),
            message: e.to_string(),
        }
    })
}
