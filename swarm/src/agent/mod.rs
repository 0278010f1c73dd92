//! The agent every swarm node runs (managers too): it holds a session with the leader's
//! dispatcher, hands the node's assignments to the runner, which drives the node's
//! `Executor`, and sends the runner's status reports. It follows "not the leader" answers to
//! the leader and fails over between the managers it knows.

mod conn;
mod container;
mod runner;
mod session;
mod template;

pub use conn::Conn;
pub use container::{container_task, image_of, stop_timeout};
pub use runner::{task_containers, Report, Runner};
pub use session::{Agent, AgentStart};
