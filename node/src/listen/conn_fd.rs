//! The socket a unix connection came in on, as connect info (`into_make_service_with_connect_info`),
//! for handlers that write to an upgraded connection themselves (`api::stream`).

use std::os::fd::{AsRawFd, RawFd};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;

/// A unix connection's descriptor. Valid while hyper holds the connection: for a handler's
/// request, and for as long as the upgraded stream it got lives.
#[derive(Clone, Copy, Debug)]
pub struct UnixConnFd(pub RawFd);

impl Connected<IncomingStream<'_, tokio::net::UnixListener>> for UnixConnFd {
    fn connect_info(stream: IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        Self(stream.io().as_raw_fd())
    }
}
