//! The container log in Docker's json-file format: one JSON object per line,
//! `{"log":"one\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}`. The monitor
//! writes it; the daemon reads it for `logs` and `attach`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Mutex;

/// Docker splits lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: Stream,
    /// The driver's attributes (`--log-opt labels`, `env`, `tag`…), between `stream` and
    /// `time` as Docker writes them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
    pub time: String,
}

impl Entry {
    /// The entry's time, if it parses.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// `Entry` as written, borrowing what every entry shares.
#[derive(Serialize)]
struct EntryRef<'a> {
    log: &'a str,
    stream: Stream,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attrs: &'a BTreeMap<String, String>,
    time: &'a str,
}

/// Appends entries to the log file, rotating it when it has a rotation.
pub struct LogWriter {
    /// The file and the bytes in it.
    file: Mutex<(File, u64)>,
    rotation: Option<(std::path::PathBuf, super::log_rotate::Rotation)>,
    attrs: BTreeMap<String, String>,
}

impl LogWriter {
    /// Wraps a file opened for appending.
    pub fn new(file: File) -> Self {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        LogWriter {
            file: Mutex::new((file, size)),
            rotation: None,
            attrs: BTreeMap::new(),
        }
    }

    /// Gives every entry written from now on these attributes.
    #[must_use]
    pub fn with_attrs(self, attrs: BTreeMap<String, String>) -> Self {
        LogWriter { attrs, ..self }
    }

    /// Wraps the log at `path`, opened for appending, rotated as `rotation` says.
    pub fn rotating(
        file: File,
        path: std::path::PathBuf,
        rotation: super::log_rotate::Rotation,
    ) -> Self {
        LogWriter {
            rotation: Some((path, rotation)),
            ..LogWriter::new(file)
        }
    }

    /// Writes one entry (one line of output, with its newline if it had one).
    pub fn write(&self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        let entry = EntryRef {
            log: &String::from_utf8_lossy(bytes),
            stream,
            attrs: &self.attrs,
            time: &Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut guard = self
            .file
            .lock()
            .map_err(|_| io::Error::other("log writer poisoned"))?;
        let (file, size) = &mut *guard;
        if let Some((path, rotation)) = &self.rotation {
            if rotation.is_due(*size, line.len()) {
                *file = super::log_rotate::rotate(path, rotation)?;
                *size = 0;
            }
        }
        file.write_all(&line)?;
        *size += line.len() as u64;
        Ok(())
    }

    /// Copies `src` into the log line by line until EOF.
    pub fn copy_from(&self, stream: Stream, mut src: impl Read) -> io::Result<()> {
        let mut lines = LineSplitter::new(stream);
        let mut buf = [0u8; 8192];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            lines.feed(self, &buf[..n])?;
        }
        lines.finish(self)
    }
}

/// Cuts one stream's output into log entries: at newlines, and every `MAX_LINE` bytes.
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
    unbuffered: bool,
}

impl LineSplitter {
    /// An empty splitter for `stream`.
    pub fn new(stream: Stream) -> Self {
        LineSplitter {
            stream,
            pending: Vec::new(),
            unbuffered: false,
        }
    }

    /// A splitter that logs every chunk as it comes: a terminal's prompt has no newline, and
    /// an attached user must see it.
    pub fn unbuffered(stream: Stream) -> Self {
        LineSplitter {
            unbuffered: true,
            ..LineSplitter::new(stream)
        }
    }

    /// Adds output; complete lines go to `log` now, a partial line waits for more.
    pub fn feed(&mut self, log: &LogWriter, bytes: &[u8]) -> io::Result<()> {
        if self.unbuffered {
            return bytes
                .chunks(MAX_LINE)
                .try_for_each(|chunk| log.write(self.stream, chunk));
        }
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|&b| b == b'\n') {
            log.write(self.stream, &self.pending[start..start + pos + 1])?;
            start += pos + 1;
        }
        while self.pending.len() - start >= MAX_LINE {
            log.write(self.stream, &self.pending[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// The stream ended: writes what is left.
    pub fn finish(&mut self, log: &LogWriter) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.pending);
        log.write(self.stream, &rest)
    }
}

/// Parses a chunk of complete log lines; a torn or corrupt line is skipped.
pub fn parse_lines(bytes: &[u8]) -> Vec<Entry> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(input: &[u8]) -> Vec<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let w = LogWriter::new(File::create(&path).unwrap());
        w.copy_from(Stream::Stdout, input).unwrap();
        parse_lines(&std::fs::read(&path).unwrap())
    }

    #[test]
    fn lines_are_split_at_newlines_and_keep_them() {
        let e = written(b"one\ntwo\nthree");
        let logs: Vec<&str> = e.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, vec!["one\n", "two\n", "three"]);
        assert!(e[0].timestamp().is_some());
        assert_eq!(e[0].stream, Stream::Stdout);
    }

    #[test]
    fn long_lines_are_split_like_docker() {
        let input = vec![b'x'; MAX_LINE + 10];
        let e = written(&input);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].log.len(), MAX_LINE);
    }

    #[test]
    fn corrupt_lines_are_skipped() {
        let good = br#"{"log":"a\n","stream":"stderr","time":"2026-01-01T00:00:00Z"}"#;
        let mut bytes = b"garbage\n".to_vec();
        bytes.extend_from_slice(good);
        let e = parse_lines(&bytes);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].stream, Stream::Stderr);
    }
}
