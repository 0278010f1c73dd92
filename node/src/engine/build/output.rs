//! What a build tells its client, as typed events; the API turns them into Docker's JSON
//! message stream (`stream`, `aux`, `errorDetail`). Sending never blocks and never fails the
//! build: a client that went away only stops hearing about it.

use tokio::sync::mpsc;

/// One message of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// Text for the client's terminal (`Step 1/3 : …`, a RUN's output).
    Stream(String),
    /// The id of an image a stage produced (`{"aux":{"ID":…}}`).
    Aux(String),
    /// A status line of a pull done for FROM.
    Status { id: Option<String>, status: String },
}

/// Where a build's messages go. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BuildOutput {
    tx: Option<mpsc::UnboundedSender<BuildEvent>>,
}

impl BuildOutput {
    /// An output and the receiving end of its events.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<BuildEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (BuildOutput { tx: Some(tx) }, rx)
    }

    /// An output that drops everything.
    pub fn discard() -> Self {
        BuildOutput { tx: None }
    }

    /// Sends any event.
    pub fn send(&self, event: BuildEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    /// Sends text.
    pub fn stream(&self, text: impl Into<String>) {
        self.send(BuildEvent::Stream(text.into()));
    }

    /// Sends a stage's image id.
    pub fn aux(&self, id: &str) {
        self.send(BuildEvent::Aux(id.to_string()));
    }
}

pub use crate::engine::short_id;
