//! A layer's tar kept as its skeleton, as Docker's tar-split does: every byte of the
//! uncompressed stream except the regular files' content, which stays only in the unpacked tree
//! and is read back from it when `save` or `push` needs the tar. A layer then costs its files'
//! size on disk once, not twice.
//!
//! The skeleton is recorded while the layer is unpacked, from the very bytes the tar parser
//! reads. The unpacker says where each file's content starts ([`UnpackHooks::content`]), and
//! before it removes anything an earlier entry of the same tar made ([`UnpackHooks::replacing`]):
//! the earlier file's content would then be lost, so the tar so far is copied into a whole blob
//! and the rest of the stream goes there too (the layer keeps its whole tar, as before).
//! Reading it back checks the digest, so a tree changed under the store fails the read instead
//! of yielding a wrong tar.

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::blob::BlobWriter;
use super::digest::hasher_digest;
use super::unpack::UnpackHooks;
use crate::engine::inroot;
use crate::error::{EngineError, Result};

/// The skeleton's bytes, gzip-compressed (mostly headers and zero padding).
pub(super) const SKELETON_FILE: &str = "tar-split.gz";
/// The pieces, in stream order (JSON [`SplitIndex`]).
pub(super) const INDEX_FILE: &str = "tar-split.json";
const BUFFER: usize = 128 * 1024;

/// How a layer's tar is put back together.
#[derive(Debug, Serialize, Deserialize)]
struct SplitIndex {
    /// Bytes of the whole tar.
    size: u64,
    pieces: Vec<Piece>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Piece {
    /// The next `n` bytes of the skeleton.
    #[serde(rename = "s")]
    Skeleton(u64),
    /// A regular file's content: `len` bytes of `path` (relative to the layer's root).
    #[serde(rename = "f")]
    File { path: String, len: u64 },
}

type Skeleton = flate2::write::GzEncoder<BufWriter<File>>;

enum Sink {
    Split {
        skeleton: Skeleton,
        pieces: Vec<Piece>,
        /// Skeleton bytes since the last piece.
        run: u64,
        /// Content bytes of the current file still to pass.
        content_left: u64,
    },
    Whole(BlobWriter),
}

/// What a recording gave.
pub(super) enum Recorded {
    /// The skeleton and its index are in the layer directory.
    Split,
    /// The whole tar, to publish as the layer's blob.
    Whole(BlobWriter),
}

struct State {
    sink: Sink,
    /// Made up front, used if the recording has to keep the whole tar.
    spare: Option<BlobWriter>,
    hasher: Sha256,
    total: u64,
    /// The layer's directory (the skeleton lives here) and its unpacked root.
    dir: PathBuf,
    root: PathBuf,
}

/// Records a layer's tar stream: a reader to hand the tar parser, and the hooks to hand the
/// unpacker, sharing one state.
pub(super) struct Recorder {
    state: Rc<RefCell<State>>,
}

impl Recorder {
    /// Starts a recording into `dir` (the layer's directory, `root` its unpacked tree), with
    /// `spare` to hold the whole tar should it be needed.
    pub(super) fn new(dir: &Path, root: &Path, spare: BlobWriter) -> Result<Self> {
        let path = dir.join(SKELETON_FILE);
        let file = File::create(&path).map_err(io_at(&path))?;
        Ok(Recorder {
            state: Rc::new(RefCell::new(State {
                sink: Sink::Split {
                    skeleton: flate2::write::GzEncoder::new(
                        BufWriter::with_capacity(BUFFER, file),
                        flate2::Compression::fast(),
                    ),
                    pieces: Vec::new(),
                    run: 0,
                    content_left: 0,
                },
                spare: Some(spare),
                hasher: Sha256::new(),
                total: 0,
                dir: dir.to_path_buf(),
                root: root.to_path_buf(),
            })),
        })
    }

    /// `inner`, recorded as it is read.
    pub(super) fn reader<R: Read>(&self, inner: R) -> RecordingReader<R> {
        RecordingReader {
            inner,
            state: Rc::clone(&self.state),
        }
    }

    /// The hooks the unpacker calls.
    pub(super) fn hooks(&self) -> RecorderHooks {
        RecorderHooks {
            state: Rc::clone(&self.state),
        }
    }

    /// `sha256:<hex>` of everything read.
    pub(super) fn digest(&self) -> String {
        hasher_digest(&self.state.borrow().hasher)
    }

    /// Ends the recording: a split one writes its compressed skeleton and index into the layer
    /// directory (the caller syncs it); a whole one hands back its blob.
    pub(super) fn finish(self) -> Result<Recorded> {
        let state = Rc::try_unwrap(self.state)
            .map_err(|_| EngineError::Internal("tar recording still in use".into()))?
            .into_inner();
        let path = state.dir.join(SKELETON_FILE);
        match state.sink {
            Sink::Whole(blob) => Ok(Recorded::Whole(blob)),
            Sink::Split {
                skeleton,
                mut pieces,
                run,
                content_left,
            } => {
                if content_left != 0 {
                    return Err(EngineError::InvalidArgument(
                        "layer tar ends inside a file".into(),
                    ));
                }
                push_run(&mut pieces, run);
                skeleton
                    .finish()
                    .and_then(|mut file| file.flush())
                    .map_err(io_at(&path))?;
                let index = SplitIndex {
                    size: state.total,
                    pieces,
                };
                let json = serde_json::to_vec(&index)
                    .map_err(|e| EngineError::Internal(format!("tar-split index: {e}")))?;
                let path = state.dir.join(INDEX_FILE);
                fs::write(&path, json).map_err(io_at(&path))?;
                Ok(Recorded::Split)
            }
        }
    }
}

/// Reads the tar stream through the recording.
pub(super) struct RecordingReader<R> {
    inner: R,
    state: Rc<RefCell<State>>,
}

impl<R: Read> Read for RecordingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.borrow_mut().take(&buf[..n])?;
        Ok(n)
    }
}

/// The unpacker's side of the recording.
pub(super) struct RecorderHooks {
    state: Rc<RefCell<State>>,
}

impl UnpackHooks for RecorderHooks {
    fn content(&mut self, target: &Path, len: u64) -> Result<()> {
        let mut state = self.state.borrow_mut();
        let rel = target
            .strip_prefix(&state.root)
            .ok()
            .and_then(|p| p.to_str())
            .map(str::to_string);
        let Some(rel) = rel else {
            // A name JSON cannot carry as text: keep the whole tar rather than a lossy name.
            return state.keep_whole();
        };
        if let Sink::Split {
            pieces,
            run,
            content_left,
            ..
        } = &mut state.sink
        {
            if len > 0 {
                push_run(pieces, std::mem::take(run));
                pieces.push(Piece::File { path: rel, len });
                *content_left = len;
            }
        }
        Ok(())
    }

    fn replacing(&mut self) -> Result<()> {
        let mut state = self.state.borrow_mut();
        let has_files = matches!(&state.sink, Sink::Split { pieces, .. }
            if pieces.iter().any(|p| matches!(p, Piece::File { .. })));
        if has_files {
            state.keep_whole()?;
        }
        Ok(())
    }
}

impl State {
    fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.total += bytes.len() as u64;
        match &mut self.sink {
            Sink::Whole(blob) => blob.write_all(bytes),
            Sink::Split {
                skeleton,
                run,
                content_left,
                ..
            } => {
                let content = usize::try_from(*content_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *content_left -= content as u64;
                let rest = &bytes[content..];
                *run += rest.len() as u64;
                skeleton.write_all(rest)
            }
        }
    }

    /// Copies the tar so far (skeleton and files, all still as read) into the spare blob, which
    /// takes the rest of the stream.
    fn keep_whole(&mut self) -> Result<()> {
        let Some(mut blob) = self.spare.take() else {
            return Ok(()); // Already whole.
        };
        let path = self.dir.join(SKELETON_FILE);
        let Sink::Split {
            skeleton,
            pieces,
            run,
            ..
        } = &mut self.sink
        else {
            return Err(EngineError::Internal("tar recording has no spare".into()));
        };
        // Ends the skeleton's gzip stream so that it reads back; nothing more is written to it.
        skeleton
            .try_finish()
            .and_then(|()| skeleton.get_mut().flush())
            .map_err(io_at(&path))?;
        let mut pieces = std::mem::take(pieces);
        push_run(&mut pieces, std::mem::take(run));
        let mut joined = Joined::open(pieces, &path, &self.root)?;
        io::copy(&mut joined, &mut blob).map_err(io_at(&path))?;
        self.sink = Sink::Whole(blob);
        fs::remove_file(&path).map_err(io_at(&path))
    }
}

fn push_run(pieces: &mut Vec<Piece>, run: u64) {
    if run == 0 {
        return;
    }
    if let Some(Piece::Skeleton(n)) = pieces.last_mut() {
        *n += run;
    } else {
        pieces.push(Piece::Skeleton(run));
    }
}

/// Opens the tar of the layer in `dir` from its skeleton, checked against `diff_id` as it is
/// read; None when the layer has no skeleton. Blocking.
pub(super) fn open(dir: &Path, root: &Path, diff_id: &str) -> Result<Option<(SplitTar, u64)>> {
    let index_path = dir.join(INDEX_FILE);
    let json = match fs::read(&index_path) {
        Ok(j) => j,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(&index_path)(e)),
    };
    let index: SplitIndex =
        serde_json::from_slice(&json).map_err(|source| EngineError::CorruptRecord {
            key: index_path.display().to_string(),
            source,
        })?;
    let size = index.size;
    Ok(Some((
        SplitTar {
            joined: Joined::open(index.pieces, &dir.join(SKELETON_FILE), root)?,
            hasher: Sha256::new(),
            read: 0,
            size,
            diff_id: diff_id.to_string(),
        },
        size,
    )))
}

/// A layer's tar put back together; fails its last read unless every byte is as recorded.
pub(super) struct SplitTar {
    joined: Joined,
    hasher: Sha256,
    read: u64,
    size: u64,
    diff_id: String,
}

impl Read for SplitTar {
    /// The read that completes the tar checks its digest and fails instead of returning the
    /// last bytes when it differs, so a reader that stops at `size` still gets the check.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.joined.read(buf)?;
        self.hasher.update(&buf[..n]);
        let before = self.read;
        self.read += n as u64;
        let completes = n > 0 && self.read >= self.size && before < self.size;
        let short = n == 0 && !buf.is_empty() && self.read < self.size;
        if completes || short || self.read > self.size {
            let digest = hasher_digest(&self.hasher);
            if self.read != self.size || digest != self.diff_id {
                return Err(io::Error::other(format!(
                    "layer {} no longer matches its unpacked files ({} of {} bytes, {digest}): \
                     remove its images and pull or load them again",
                    self.diff_id, self.read, self.size
                )));
            }
        }
        Ok(n)
    }
}

/// The pieces read in order: skeleton bytes and files' content.
struct Joined {
    pieces: std::vec::IntoIter<Piece>,
    skeleton: flate2::read::GzDecoder<BufReader<File>>,
    root: OwnedFd,
    current: Current,
}

enum Current {
    Between,
    Skeleton(u64),
    File(File, u64),
}

impl Joined {
    /// The pieces over the gzipped skeleton at `skeleton` and the files under `root`.
    fn open(pieces: Vec<Piece>, skeleton: &Path, root: &Path) -> Result<Self> {
        let file = File::open(skeleton).map_err(io_at(skeleton))?;
        Ok(Joined {
            pieces: pieces.into_iter(),
            skeleton: flate2::read::GzDecoder::new(BufReader::with_capacity(BUFFER, file)),
            root: inroot::open_root(root).map_err(io_at(root))?,
            current: Current::Between,
        })
    }

    fn open_file(&self, path: &str, len: u64) -> io::Result<File> {
        let handle = inroot::open_path(&self.root, Path::new(path), false)?;
        if inroot::file_type(&handle)? != nix::sys::stat::SFlag::S_IFREG {
            return Err(io::Error::other(format!("{path} is no longer a file")));
        }
        let file = inroot::reopen_for_read(&handle)?;
        if file.metadata()?.len() != len {
            return Err(io::Error::other(format!("{path} is no longer {len} bytes")));
        }
        Ok(file)
    }
}

impl Read for Joined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (reader, left): (&mut dyn Read, &mut u64) = match &mut self.current {
                Current::Between => {
                    self.current = match self.pieces.next() {
                        None => return Ok(0),
                        Some(Piece::Skeleton(n)) => Current::Skeleton(n),
                        Some(Piece::File { path, len }) => {
                            Current::File(self.open_file(&path, len)?, len)
                        }
                    };
                    continue;
                }
                Current::Skeleton(left) => (&mut self.skeleton, left),
                Current::File(file, left) => (file, left),
            };
            if *left == 0 {
                self.current = Current::Between;
                continue;
            }
            let max = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
            let n = reader.read(&mut buf[..max])?;
            if n == 0 && max > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "layer tar piece shorter than recorded",
                ));
            }
            *left -= n as u64;
            return Ok(n);
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> EngineError + '_ {
    move |e| EngineError::io(path.display().to_string(), e)
}

#[cfg(test)]
#[path = "tar_split_tests.rs"]
mod tests;
