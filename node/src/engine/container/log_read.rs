//! Reading a container's json-file log and the files rotation left beside it
//! (`container.log.N[.gz]`, N = 1 the newest): the segments in order, a streaming reader over
//! one (plain or gzipped), and where `--tail N` starts, found by reading the live file
//! backwards from its end instead of parsing it whole.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::engine::req::LogsRequest;
use crate::error::{EngineError, Result};
use crate::runtime::log_rotate::{rotated, rotated_files};
use crate::runtime::logfile::{parse_lines, Entry};

/// Most bytes read at once.
pub const READ_CHUNK: usize = 256 << 10;

/// The rotated files of the log at `path`, oldest first.
pub fn rotated_segments(path: &Path) -> Vec<PathBuf> {
    rotated_files(path)
        .into_iter()
        .map(|(n, gz)| rotated(path, n, gz))
        .collect()
}

/// The file a follower reads next.
pub enum Next {
    /// A rotated file, plain: it grows no more.
    Plain(File, u32),
    /// A rotated file, gzipped: read it whole with a [`SegmentReader`].
    Gzip(PathBuf, u32),
    /// The live log.
    Live(File),
}

/// The rotated file with inode `ino` among the plain ones of the log at `path` (the live file
/// a follower was reading, since renamed).
pub fn seq_of(path: &Path, ino: u64) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    rotated_files(path)
        .into_iter()
        .filter(|(_, gz)| !gz)
        .find(|(n, _)| std::fs::metadata(rotated(path, *n, false)).is_ok_and(|m| m.ino() == ino))
        .map(|(n, _)| n)
}

/// The file after rotated file `seq` (`None`: before the oldest one): the next rotated one, or
/// the live log. The live log is checked, once opened, to be still the one right after: if the
/// monitor rotated it meanwhile, the rotated file it became is next.
pub fn next_after(path: &Path, seq: Option<u32>) -> Option<Next> {
    for _ in 0..50 {
        let after = |files: &[(u32, bool)]| {
            files
                .iter()
                .copied()
                .find(|(n, _)| seq.is_none_or(|s| *n > s))
        };
        if let Some((n, gz)) = after(&rotated_files(path)) {
            if gz {
                return Some(Next::Gzip(rotated(path, n, true), n));
            }
            match File::open(rotated(path, n, false)) {
                Ok(f) => return Some(Next::Plain(f, n)),
                // Compressed or dropped in between: look again.
                Err(_) => continue,
            }
        }
        // Between the monitor's rename and its new file there is no live log: look again.
        let Ok(live) = File::open(path) else {
            std::hint::spin_loop();
            continue;
        };
        if after(&rotated_files(path)).is_none() {
            return Some(Next::Live(live));
        }
    }
    File::open(path).ok().map(Next::Live)
}

/// Entries read from one segment, a bounded piece at a time.
pub struct SegmentReader {
    reader: Box<dyn Read + Send>,
    pending: Vec<u8>,
    done: bool,
}

impl SegmentReader {
    /// Opens a rotated segment (gzipped when its name says so).
    pub fn open(path: &Path) -> Result<SegmentReader> {
        let file =
            File::open(path).map_err(|e| EngineError::io(format!("open {}", path.display()), e))?;
        let gz = path.extension().is_some_and(|e| e == "gz");
        let reader: Box<dyn Read + Send> = if gz {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Ok(SegmentReader {
            reader,
            pending: Vec::new(),
            done: false,
        })
    }

    /// Whether the whole segment has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next complete entries; empty once the segment is read.
    pub fn next_entries(&mut self) -> Result<Vec<Entry>> {
        if self.done {
            return Ok(Vec::new());
        }
        let io = |e| EngineError::io("read rotated container log", e);
        let read = self
            .reader
            .by_ref()
            .take(READ_CHUNK as u64)
            .read_to_end(&mut self.pending)
            .map_err(io)?;
        if read < READ_CHUNK {
            self.done = true;
            // A rotated file ends with a whole line; a torn one is dropped.
            let entries = parse_lines(&self.pending);
            self.pending.clear();
            return Ok(entries);
        }
        let Some(cut) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let entries = parse_lines(self.pending.get(..=cut).unwrap_or_default());
        self.pending.drain(..=cut);
        Ok(entries)
    }

    /// How many entries `req` wants in the whole segment.
    pub fn count_wanted(
        mut self,
        req: &LogsRequest,
        wanted: fn(&Entry, &LogsRequest) -> bool,
    ) -> Result<usize> {
        let mut count = 0;
        loop {
            let entries = self.next_entries()?;
            if entries.is_empty() && self.done {
                return Ok(count);
            }
            count += entries.iter().filter(|e| wanted(e, req)).count();
        }
    }
}

/// Where `--tail n` starts in the live file: the offset of the first of its last `n` wanted
/// entries (of complete lines), and how many it found (fewer than `n` when the file has fewer).
/// Reads backwards from the end, `READ_CHUNK` at a time; what follows the last newline is a
/// line the monitor is still writing and does not count.
pub fn tail_start(
    file: &mut File,
    n: usize,
    req: &LogsRequest,
    wanted: fn(&Entry, &LogsRequest) -> bool,
) -> io::Result<(u64, usize)> {
    let mut pos = file.seek(SeekFrom::End(0))?;
    if n == 0 {
        // Docker's `tail=0`: nothing yet; a follower starts after the last whole line.
        return Ok((after_last_newline(file, pos)?, 0));
    }
    // The bytes from `pos` up to the next newline: the end of a line that starts before `pos`.
    let mut partial: Vec<u8> = Vec::new();
    let mut seen_newline = false;
    let mut found = 0;
    let counts = |line: &[u8]| serde_json::from_slice::<Entry>(line).is_ok_and(|e| wanted(&e, req));
    while pos > 0 && found < n {
        let start = pos.saturating_sub(READ_CHUNK as u64);
        let mut block = vec![0u8; usize::try_from(pos - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        let mut line_end = block.len();
        while let Some(nl) = block[..line_end].iter().rposition(|&b| b == b'\n') {
            if seen_newline {
                let mut line = block[nl + 1..line_end].to_vec();
                line.extend_from_slice(&partial);
                if counts(&line) {
                    found += 1;
                    if found == n {
                        return Ok((start + nl as u64 + 1, found));
                    }
                }
            }
            seen_newline = true;
            partial.clear();
            line_end = nl;
        }
        let mut earlier = block[..line_end].to_vec();
        earlier.extend_from_slice(&partial);
        partial = earlier;
        pos = start;
    }
    // The file's first line has no newline before it.
    if found < n && seen_newline && counts(&partial) {
        found += 1;
    }
    Ok((0, found))
}

/// The offset just past the last newline before `end` (0 when there is none): where a line
/// being written starts.
fn after_last_newline(file: &mut File, end: u64) -> io::Result<u64> {
    let mut pos = end;
    while pos > 0 {
        let start = pos.saturating_sub(READ_CHUNK as u64);
        let mut block = vec![0u8; usize::try_from(pos - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        if let Some(nl) = block.iter().rposition(|&b| b == b'\n') {
            return Ok(start + nl as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

#[cfg(test)]
#[path = "log_read_tests.rs"]
mod tests;
