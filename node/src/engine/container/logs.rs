//! `logs` and `attach` output: reads the json-file log the monitor writes, filters it, and
//! follows it while the container runs. Output is a channel of chunks; `api::stream` frames them.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::handle::Change;
use super::log_read::{self, READ_CHUNK};
use crate::engine::req::LogsRequest;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::logfile::{parse_lines, Entry, Stream};

/// How often a follower looks for new lines while the container runs, without a watch of its
/// log (`log_watch`); with a live one, it looks when the log changes, and this often besides.
const FOLLOW_POLL: Duration = Duration::from_millis(25);
const FOLLOW_POLL_WATCHED: Duration = Duration::from_secs(1);

/// A piece of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub stream: Stream,
    pub bytes: Vec<u8>,
    /// Where each message after the first starts in `bytes`, when several were batched: a
    /// multiplexed stream gives each its own frame, as Docker does (docker-py's streamed logs
    /// yield frames, which its users read as lines).
    pub starts: Vec<usize>,
}

/// Output plus whether the container has a TTY (then the stream is raw, not multiplexed).
pub struct Output {
    pub tty: bool,
    pub chunks: mpsc::Receiver<LogChunk>,
    /// Where an attached client's input goes, when it asked for stdin and there is one.
    pub stdin: Option<StdinTarget>,
}

/// Where a client's input goes.
pub enum StdinTarget {
    /// A container's stdin, through its monitor.
    Container(StdinSink),
    /// An exec's stdin pipe or terminal, held by the daemon.
    File(std::fs::File),
}

/// An async writer for a client's input.
pub type StdinWriter = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

impl StdinTarget {
    /// The writer, once there is something to write to (`None`: the container is not running).
    pub async fn connect(self) -> Option<StdinWriter> {
        match self {
            StdinTarget::Container(sink) => {
                sink.connect().await.map(|s| Box::new(s) as StdinWriter)
            }
            StdinTarget::File(f) => Some(Box::new(tokio::fs::File::from_std(f))),
        }
    }
}

/// The container's stdin as seen by an attach: reachable once the container runs.
pub struct StdinSink {
    socket: PathBuf,
    changes: watch::Receiver<Change>,
    exits_at_attach: u64,
}

impl StdinSink {
    /// Waits for the container to run, then connects to its monitor's control socket for stdin.
    pub async fn connect(mut self) -> Option<tokio::net::UnixStream> {
        let start = self.exits_at_attach;
        let running = self
            .changes
            .wait_for(|c| c.running || c.exits > start || c.removed)
            .await
            .ok()?
            .running;
        if !running {
            return None;
        }
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::UnixStream::connect(&self.socket).await {
                let hello = crate::runtime::control::line(&crate::runtime::control::Request::Stdin);
                return tokio::io::AsyncWriteExt::write_all(&mut s, &hello)
                    .await
                    .ok()
                    .map(|()| s);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

/// `POST /containers/{id}/attach`'s choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachRequest {
    pub stdout: bool,
    pub stderr: bool,
    pub stdin: bool,
    /// Replay the output so far first.
    pub logs: bool,
    /// Follow the live output (and take stdin).
    pub stream: bool,
}

struct Follow {
    path: PathBuf,
    offset: u64,
    /// Read the rotated files before the live one (`logs`; attach starts at the live end).
    history: bool,
    /// How the monitor rotates the log (what a released hold trims back to).
    rotation: crate::runtime::log_rotate::Rotation,
    req: LogsRequest,
    /// Stop after this many exits have been seen; `None`: do not follow.
    until_exits: Option<u64>,
    changes: watch::Receiver<Change>,
}

impl Engine {
    /// The container's logs as asked.
    pub async fn logs(&self, key: &str, req: LogsRequest) -> Result<Output> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        if rec
            .host
            .runtime
            .log
            .as_ref()
            .is_some_and(|l| !l.is_readable())
        {
            return Err(EngineError::NotImplemented(
                "configured logging driver does not support reading".into(),
            ));
        }
        let changes = handle.subscribe();
        let now = changes.borrow().clone();
        let until_exits = (req.follow && now.running).then_some(now.exits + 1);
        let path = self.paths.container_dir(&rec.id).join("container.log");
        Ok(spawn_follow(
            rec.config.tty,
            Follow {
                path,
                offset: 0,
                history: true,
                rotation: rec
                    .host
                    .runtime
                    .log
                    .as_ref()
                    .map(|l| l.rotation)
                    .unwrap_or_default(),
                req,
                until_exits,
                changes,
            },
        ))
    }

    /// attach: with `logs`, the output so far; with `stream`, live output from now (after that
    /// history) until the container's next exit, and its stdin if asked. Neither: nothing.
    pub async fn attach(&self, key: &str, a: AttachRequest) -> Result<Output> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        let changes = handle.subscribe();
        let now = changes.borrow().clone();
        let path = self.paths.container_dir(&rec.id).join("container.log");
        let offset = if a.logs {
            0
        } else {
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        };
        let req = LogsRequest {
            stdout: a.stdout,
            stderr: a.stderr,
            follow: a.stream,
            ..Default::default()
        };
        // docker run attaches before it starts the container: follow until the next exit.
        let until = now.exits + 1;
        let sink = (a.stream && a.stdin && rec.config.open_stdin).then(|| StdinSink {
            socket: self.paths.control_socket(&rec.id),
            changes: changes.clone(),
            exits_at_attach: now.exits,
        });
        let follow = Follow {
            path,
            offset,
            history: a.logs,
            rotation: rec
                .host
                .runtime
                .log
                .as_ref()
                .map(|l| l.rotation)
                .unwrap_or_default(),
            req,
            until_exits: a.stream.then_some(until),
            changes,
        };
        let mut out = spawn_follow(rec.config.tty, follow);
        out.stdin = sink.map(StdinTarget::Container);
        // Every attach is an event in Docker (`docker run` shows it before `start`).
        self.container_event(&rec, "attach", &[]);
        Ok(out)
    }
}

fn spawn_follow(tty: bool, f: Follow) -> Output {
    let (tx, rx) = mpsc::channel(64);
    // Held now, before the caller goes on (`docker run` starts the container next): while
    // following, rotation keeps the files this follower has yet to read.
    let hold = f
        .until_exits
        .is_some()
        .then(|| crate::runtime::log_rotate::Hold::new(&f.path, f.rotation));
    tokio::spawn(async move {
        let _hold = hold;
        if let Err(e) = follow(f, tx).await {
            tracing::debug!(error = %e, "log follower ended");
        }
    });
    Output {
        tty,
        chunks: rx,
        stdin: None,
    }
}

async fn follow(mut f: Follow, tx: mpsc::Sender<LogChunk>) -> Result<()> {
    // While following, rotation keeps the files this follower has yet to read.
    let mut file = match std::fs::File::open(&f.path) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(EngineError::io(format!("open {}", f.path.display()), e)),
    };
    let mut history = if f.history {
        log_read::rotated_segments(&f.path)
    } else {
        Vec::new()
    };
    // `tail`: the live file is read backwards; older files only when it has too few.
    let mut skip = 0;
    if let Some(n) = f.req.tail {
        let found = match file.as_mut() {
            Some(file) => {
                let (offset, found) = log_read::tail_start(file, n, &f.req, wanted)
                    .map_err(|e| EngineError::io("read container log", e))?;
                f.offset = offset;
                found
            }
            None => 0,
        };
        let mut need = n.saturating_sub(found);
        let mut first = history.len();
        while need > 0 && first > 0 {
            first -= 1;
            let c = log_read::SegmentReader::open(&history[first])?.count_wanted(&f.req, wanted)?;
            skip = c.saturating_sub(need);
            need = need.saturating_sub(c);
        }
        history.drain(..first);
    }
    for segment in history {
        let mut reader = log_read::SegmentReader::open(&segment)?;
        while !reader.is_done() {
            let entries = reader.next_entries()?;
            if !send(entries, &f.req, &mut skip, &tx).await {
                return Ok(());
            }
        }
    }
    let mut pending = Vec::new();
    // Which file `file` is: the live log, or rotated file `seq` (complete once read to its end).
    let mut rotated_seq: Option<u32> = None;
    // Attached before the first start, the log does not exist yet: when it appears, rotation
    // may already have moved the first output to a rotated file (kept: this follower holds).
    let mut first_open = file.is_none();
    // Made before the first read: a write after it wakes the wait below.
    let mut watch = f
        .until_exits
        .and_then(|_| f.path.parent())
        .and_then(super::log_watch::watch_dir);
    loop {
        if file.is_none() {
            // First the oldest file; after a gzipped one, what follows it; else the live log.
            let next = match (first_open, rotated_seq) {
                (true, _) => log_read::next_after(&f.path, None),
                (false, Some(seq)) => log_read::next_after(&f.path, Some(seq)),
                (false, None) => std::fs::File::open(&f.path).ok().map(log_read::Next::Live),
            };
            if let Some(next) = next {
                first_open = false;
                if !take_next(next, &mut file, &mut rotated_seq, &f, &mut skip, &tx).await? {
                    return Ok(());
                }
                if file.is_none() {
                    continue;
                }
            }
        }
        let ended = f.until_exits.is_none_or(|n| {
            let c = f.changes.borrow();
            c.exits >= n || c.removed
        });
        // Everything written so far, one bounded piece at a time: a long log streams through
        // a small buffer instead of being read whole.
        if let Some(open) = file.as_mut() {
            loop {
                let (entries, more) = read_new(open, &mut f.offset, &mut pending)?;
                if !send(entries, &f.req, &mut skip, &tx).await {
                    return Ok(()); // the client went away
                }
                if !more {
                    break;
                }
            }
            // The file that follows: after a rotated file read to its end; after the live one
            // once the monitor rotated it (read to its end again first: it grows no more).
            let done_seq = match rotated_seq {
                Some(seq) => Some(Some(seq)),
                None => match rotated_away(open, &f.path) {
                    LogState::Live => None,
                    LogState::Moving => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    }
                    LogState::RotatedFrom(ino) => {
                        loop {
                            let (entries, more) = read_new(open, &mut f.offset, &mut pending)?;
                            if !send(entries, &f.req, &mut skip, &tx).await {
                                return Ok(());
                            }
                            if !more {
                                break;
                            }
                        }
                        Some(log_read::seq_of(&f.path, ino))
                    }
                },
            };
            if let Some(seq) = done_seq {
                file = None;
                f.offset = 0;
                pending.clear();
                // Remembered: if the next file cannot be had yet, the next round asks again.
                rotated_seq = seq;
                if let Some(next) = log_read::next_after(&f.path, seq) {
                    if !take_next(next, &mut file, &mut rotated_seq, &f, &mut skip, &tx).await? {
                        return Ok(());
                    }
                }
                continue;
            }
        }
        if ended {
            return Ok(());
        }
        let poll = if watch.as_ref().is_some_and(super::log_watch::Watch::live) {
            FOLLOW_POLL_WATCHED
        } else {
            FOLLOW_POLL
        };
        tokio::select! {
            _ = f.changes.changed() => {}
            () = log_changed(watch.as_mut()) => {}
            _ = tokio::time::sleep(poll) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

/// Returns when the watched log changed; never without a watch.
async fn log_changed(watch: Option<&mut super::log_watch::Watch>) {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// Moves a follower onto `next`: a plain file becomes `file`; a gzipped one is sent whole and
/// leaves `file` empty, so the next round looks further. `false` once the client is gone.
async fn take_next(
    next: log_read::Next,
    file: &mut Option<std::fs::File>,
    rotated_seq: &mut Option<u32>,
    f: &Follow,
    skip: &mut usize,
    tx: &mpsc::Sender<LogChunk>,
) -> Result<bool> {
    match next {
        log_read::Next::Live(live) => {
            *file = Some(live);
            *rotated_seq = None;
        }
        log_read::Next::Plain(plain, seq) => {
            *file = Some(plain);
            *rotated_seq = Some(seq);
        }
        log_read::Next::Gzip(path, seq) => {
            let mut reader = log_read::SegmentReader::open(&path)?;
            while !reader.is_done() {
                if !send(reader.next_entries()?, &f.req, skip, tx).await {
                    return Ok(false);
                }
            }
            // Read whole: the next round goes on from what follows it.
            *file = None;
            *rotated_seq = Some(seq);
        }
    }
    Ok(true)
}

/// Where the open log file stands against the log's path.
#[derive(Debug, PartialEq, Eq)]
enum LogState {
    /// It is the live file.
    Live,
    /// The monitor rotated it; its inode.
    RotatedFrom(u64),
    /// The path is missing: a rotation is between its rename and the new file.
    Moving,
}

fn rotated_away(open: &std::fs::File, path: &std::path::Path) -> LogState {
    use std::os::unix::fs::MetadataExt;
    match (open.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) if a.ino() != b.ino() || a.dev() != b.dev() => {
            LogState::RotatedFrom(a.ino())
        }
        (Ok(a), Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            // Deleted with the container, or mid-rotation: the rotated file tells which.
            if log_read::seq_of(path, a.ino()).is_some() {
                LogState::RotatedFrom(a.ino())
            } else if a.nlink() == 0 {
                LogState::Live
            } else {
                LogState::Moving
            }
        }
        _ => LogState::Live,
    }
}

/// Most bytes sent in one chunk: consecutive lines of one stream travel together, instead of a
/// message per line.
const SEND_CHUNK: usize = 32 << 10;

/// Sends the wanted entries, after skipping `skip` of them; `false` once the client is gone.
async fn send(
    entries: Vec<Entry>,
    req: &LogsRequest,
    skip: &mut usize,
    tx: &mpsc::Sender<LogChunk>,
) -> bool {
    let mut chunk: Option<LogChunk> = None;
    for e in entries.into_iter().filter(|e| wanted(e, req)) {
        if *skip > 0 {
            *skip -= 1;
            continue;
        }
        if chunk
            .as_ref()
            .is_some_and(|c| c.stream != e.stream || c.bytes.len() >= SEND_CHUNK)
        {
            if let Some(full) = chunk.take() {
                if tx.send(full).await.is_err() {
                    return false;
                }
            }
        }
        let c = chunk.get_or_insert_with(|| LogChunk {
            stream: e.stream,
            bytes: Vec::new(),
            starts: Vec::new(),
        });
        if !c.bytes.is_empty() {
            c.starts.push(c.bytes.len());
        }
        if req.timestamps {
            c.bytes.extend_from_slice(e.time.as_bytes());
            c.bytes.push(b' ');
        }
        if req.details {
            // Docker's `attrs + " "`, a lone space without attributes.
            let line = if req.extra_details.is_empty() {
                super::log_attrs::details(&e.attrs)
            } else {
                let mut all = e.attrs.clone();
                all.extend(req.extra_details.clone());
                super::log_attrs::details(&all)
            };
            c.bytes.extend_from_slice(line.as_bytes());
            c.bytes.push(b' ');
        }
        c.bytes.extend_from_slice(e.log.as_bytes());
    }
    match chunk {
        Some(last) => tx.send(last).await.is_ok(),
        None => true,
    }
}

/// The complete lines in the next piece of the file (at most `READ_CHUNK` bytes), and whether
/// the file may hold more after it.
fn read_new(
    file: &mut std::fs::File,
    offset: &mut u64,
    pending: &mut Vec<u8>,
) -> Result<(Vec<Entry>, bool)> {
    let io = |e| EngineError::io("read container log", e);
    file.seek(SeekFrom::Start(*offset)).map_err(io)?;
    // Straight after the torn line left from the last read.
    let read = file
        .by_ref()
        .take(READ_CHUNK as u64)
        .read_to_end(pending)
        .map_err(io)?;
    *offset += read as u64;
    let more = read == READ_CHUNK;
    // Only complete lines: the monitor may be half-way through writing one.
    let Some(cut) = pending.iter().rposition(|&b| b == b'\n') else {
        return Ok((Vec::new(), more));
    };
    let entries = parse_lines(pending.get(..=cut).unwrap_or_default());
    pending.drain(..=cut);
    Ok((entries, more))
}

fn wanted(e: &Entry, req: &LogsRequest) -> bool {
    let stream_ok = match e.stream {
        Stream::Stdout => req.stdout,
        Stream::Stderr => req.stderr,
    };
    if !stream_ok {
        return false;
    }
    if req.since.is_none() && req.until.is_none() {
        return true;
    }
    let Some(t) = e.timestamp() else { return true };
    let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9;
    req.since.is_none_or(|s| secs >= s) && req.until.is_none_or(|u| u <= 0.0 || secs < u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: Stream, time: &str) -> Entry {
        Entry {
            log: "x\n".into(),
            stream,
            attrs: Default::default(),
            time: time.into(),
        }
    }

    #[test]
    fn stream_and_time_filters_apply() {
        let req = LogsRequest {
            stdout: true,
            stderr: false,
            since: Some(1_700_000_000.0),
            ..Default::default()
        };
        assert!(wanted(&entry(Stream::Stdout, "2024-01-01T00:00:00Z"), &req));
        assert!(!wanted(
            &entry(Stream::Stderr, "2024-01-01T00:00:00Z"),
            &req
        ));
        assert!(!wanted(
            &entry(Stream::Stdout, "2020-01-01T00:00:00Z"),
            &req
        ));
        let req = LogsRequest {
            stdout: true,
            until: Some(1_700_000_000.0),
            ..Default::default()
        };
        assert!(!wanted(
            &entry(Stream::Stdout, "2024-01-01T00:00:00Z"),
            &req
        ));
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, b"{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}\n{\"log\":").unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        let (mut off, mut pending) = (0, Vec::new());
        assert_eq!(read_new(&mut f, &mut off, &mut pending).unwrap().0.len(), 1);
        assert!(!pending.is_empty());
    }

    /// What `logs` sends for a log of `lines` lines alternating stdout and stderr every 1000.
    fn logs_of(lines: usize, req: LogsRequest) -> Vec<LogChunk> {
        logs_rotated(lines, req, crate::runtime::log_rotate::Rotation::default())
    }

    fn logs_rotated(
        lines: usize,
        req: LogsRequest,
        rotation: crate::runtime::log_rotate::Rotation,
    ) -> Vec<LogChunk> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let log = crate::runtime::logfile::LogWriter::rotating(
            crate::runtime::log_rotate::open_log(&path).unwrap(),
            path.clone(),
            rotation,
        );
        for i in 0..lines {
            let stream = if i / 1000 % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            log.write(stream, format!("line {i}\n").as_bytes()).unwrap();
        }
        let (_tx, changes) = watch::channel(Change::default());
        let follow = Follow {
            path,
            offset: 0,
            history: true,
            rotation: crate::runtime::log_rotate::Rotation::default(),
            req,
            until_exits: None,
            changes,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut out = spawn_follow(false, follow);
            let mut chunks = Vec::new();
            while let Some(c) = out.chunks.recv().await {
                chunks.push(c);
            }
            chunks
        })
    }

    fn text(chunks: &[LogChunk], stream: Stream) -> String {
        let bytes: Vec<u8> = chunks
            .iter()
            .filter(|c| c.stream == stream)
            .flat_map(|c| c.bytes.clone())
            .collect();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn rotated_logs_come_in_order_and_tail_reaches_into_older_files() {
        let rotation = crate::runtime::log_rotate::Rotation {
            max_size: 64 << 10,
            max_file: 4,
            compress: true,
        };
        let both = LogsRequest {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        // ~2.6 MB through 64 KiB files: only the last ~4 files are kept.
        let all = logs_rotated(30_000, both.clone(), rotation);
        let joined = format!(
            "{}{}",
            text(&all, Stream::Stdout),
            text(&all, Stream::Stderr)
        );
        let mut numbers: Vec<usize> = joined
            .lines()
            .map(|l| l.trim_start_matches("line ").parse().unwrap())
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers.last(), Some(&29_999));
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "no gap");
        assert!(
            numbers.len() < 30_000 && numbers.len() > 1_500,
            "{}",
            numbers.len()
        );
        // A tail longer than the live file reads the end of the rotated ones.
        let tail = logs_rotated(
            30_000,
            LogsRequest {
                tail: Some(1_500),
                ..both
            },
            rotation,
        );
        let n = text(&tail, Stream::Stdout).lines().count()
            + text(&tail, Stream::Stderr).lines().count();
        assert_eq!(n, 1_500);
    }

    #[test]
    fn a_log_larger_than_one_read_comes_whole_in_order_and_tail_counts_from_its_end() {
        let lines = 30_000; // ~2.6 MB of json-file, ten reads
        let both = LogsRequest {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let all = logs_of(lines, both.clone());
        let expected = |from: usize, stream: Stream| -> String {
            (from..lines)
                .filter(|i| (i / 1000 % 2 == 0) == (stream == Stream::Stdout))
                .map(|i| format!("line {i}\n"))
                .collect()
        };
        assert_eq!(text(&all, Stream::Stdout), expected(0, Stream::Stdout));
        assert_eq!(text(&all, Stream::Stderr), expected(0, Stream::Stderr));
        // Lines of one stream travel together, and a chunk never mixes streams.
        assert!(
            all.len() < lines / 10,
            "{} chunks for {lines} lines",
            all.len()
        );

        let tail = logs_of(
            lines,
            LogsRequest {
                tail: Some(1500),
                ..both.clone()
            },
        );
        assert_eq!(
            text(&tail, Stream::Stdout),
            expected(lines - 1500, Stream::Stdout)
        );
        assert_eq!(
            text(&tail, Stream::Stderr),
            expected(lines - 1500, Stream::Stderr)
        );

        // `tail` counts only the wanted stream.
        let stderr_tail = logs_of(
            lines,
            LogsRequest {
                stderr: true,
                tail: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(
            text(&stderr_tail, Stream::Stderr),
            "line 29998\nline 29999\n"
        );
        assert!(text(&stderr_tail, Stream::Stdout).is_empty());
    }
}
