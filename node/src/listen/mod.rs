//! berthd's listeners: the `-H` addresses, the unix socket's mode and group, TLS on tcp
//! listeners (rustls, client certificates with `--tlsverify`), and the refusal to expose the
//! API unauthenticated beyond loopback. Nothing here knows the API's routes.

pub mod addr;
pub mod bind;
pub mod conn_fd;
pub mod error;
pub mod settings;
pub mod tls;
pub mod tls_accept;
pub mod unix;

pub use bind::{bind, Listener};
pub use conn_fd::UnixConnFd;
pub use error::ListenError;
pub use settings::{ListenConfig, ListenSettings, ServerTls};
pub use tls_accept::TlsListener;
