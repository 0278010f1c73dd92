//! Progress of a pull or push as typed events; the API turns them into Docker's JSON message
//! stream. Sending never blocks and never fails the operation: a client that went away only
//! stops hearing about it.

use tokio::sync::mpsc;

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A status line, for one layer (`id`) or the whole operation.
    Status {
        /// Short layer id, or a tag (`Pulling from …` is reported against the tag).
        id: Option<String>,
        /// Docker's wording: `Pulling fs layer`, `Already exists`, `Pull complete`, ...
        status: String,
    },
    /// Bytes done out of a total for one layer.
    Bytes {
        /// Short layer id.
        id: String,
        /// `Downloading`, `Extracting` or `Pushing`.
        status: String,
        /// Bytes so far.
        current: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A line of text for the client (`Loaded image: busybox:latest`).
    Stream(String),
    /// The result of pushing one tag.
    Pushed {
        /// The tag pushed.
        tag: String,
        /// Its manifest digest.
        digest: String,
        /// Its manifest size in bytes.
        size: u64,
    },
}

/// Where progress goes. Cheap to clone; clones feed the same stream.
#[derive(Debug, Clone)]
pub struct ProgressSink {
    tx: Option<mpsc::UnboundedSender<Progress>>,
}

impl ProgressSink {
    /// A sink and the receiving end of its events.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Progress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ProgressSink { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        ProgressSink { tx: None }
    }

    /// Reports a status line.
    pub fn status(&self, id: Option<&str>, status: impl Into<String>) {
        self.send(Progress::Status {
            id: id.map(str::to_string),
            status: status.into(),
        });
    }

    /// Reports bytes done.
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(Progress::Bytes {
            id: id.to_string(),
            status: status.to_string(),
            current,
            total,
        });
    }

    /// Reports a line of text (`text` ends with its newline).
    pub fn stream(&self, text: impl Into<String>) {
        self.send(Progress::Stream(text.into()));
    }

    /// Reports any event.
    pub fn send(&self, event: Progress) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }
}

/// The 12-hex-digit form of a digest Docker prints as a layer id.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// Counts bytes read and reports them every `step` bytes (and at the end).
pub(crate) struct CountingReader<R> {
    inner: R,
    done: u64,
    reported: u64,
    step: u64,
    report: Box<dyn FnMut(u64) + Send>,
}

impl<R> CountingReader<R> {
    /// Wraps `inner`; `report(bytes so far)` is called at most once per `step` bytes.
    pub(crate) fn new(inner: R, step: u64, report: Box<dyn FnMut(u64) + Send>) -> Self {
        CountingReader {
            inner,
            done: 0,
            reported: 0,
            step,
            report,
        }
    }
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if (n == 0 && self.done > self.reported) || self.done - self.reported >= self.step {
            self.reported = self.done;
            (self.report)(self.done);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    #[test]
    fn short_ids_are_twelve_hex_digits() {
        assert_eq!(
            short(&format!("sha256:{}", "ab".repeat(32))),
            "abababababab"
        );
        assert_eq!(short("xyz"), "xyz");
    }

    #[test]
    fn counting_reader_reports_in_steps_and_at_the_end() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let data = vec![0u8; 250];
        let mut r =
            CountingReader::new(&data[..], 100, Box::new(move |n| s.lock().unwrap().push(n)));
        let mut buf = [0u8; 60];
        while r.read(&mut buf).unwrap() > 0 {}
        assert_eq!(*seen.lock().unwrap(), vec![120, 240, 250]);
    }

    #[test]
    fn a_discarding_sink_and_a_closed_channel_never_fail() {
        ProgressSink::discard().status(None, "x");
        let (sink, rx) = ProgressSink::channel();
        drop(rx);
        sink.bytes("a", "Downloading", 1, 2);
    }
}
