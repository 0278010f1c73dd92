//! The tar side of `cp`: building an archive of local files with the top entry renamed,
//! extracting a container's archive with docker's renaming, and the channel adapters that let
//! blocking tar code stream to and from bollard. Paths are decided in `cp.rs`, not here.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::cp::{entry_target, is_dot, Placement, Rename};

/// Extracts `reader`'s tar into `place`, keeping modes and times (and owners when root).
pub fn extract(reader: impl Read, place: &Placement) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let is_root = nix::unistd::geteuid().is_root();
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(is_root);
    archive.set_overwrite(true);
    let base = PathBuf::from(&place.dir);
    let mut dotted = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let dotted = *dotted.get_or_insert_with(|| is_dot(&path));
        let Some(target) = entry_target(&path, &place.rename, dotted)? else {
            continue;
        };
        let target = base.join(target);
        if entry.header().entry_type() == tar::EntryType::Link {
            let link = entry
                .link_name()?
                .ok_or_else(|| anyhow!("hard link without a target"))?;
            if let Some(to) = entry_target(&link, &place.rename, dotted)? {
                let _ = std::fs::remove_file(&target);
                std::fs::hard_link(base.join(to), &target)
                    .with_context(|| format!("link {}", target.display()))?;
            }
            continue;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("write {}", target.display()))?;
    }
    Ok(())
}

/// Writes `src` as a tar into `writer`, the top entry named per `rename`; returns the bytes.
pub fn build(src: &Path, rename: &Rename, writer: ChanWriter) -> Result<u64> {
    let mut builder = tar::Builder::new(writer);
    builder.follow_symlinks(false);
    let is_dir = std::fs::symlink_metadata(src)?.is_dir();
    let name = match rename {
        Rename::To(n) => PathBuf::from(n),
        Rename::Keep | Rename::Contents => {
            PathBuf::from(src.file_name().unwrap_or(src.as_os_str()))
        }
    };
    if *rename == Rename::Contents {
        for child in std::fs::read_dir(src)? {
            let child = child?;
            if child.file_type()?.is_dir() {
                builder.append_dir_all(child.file_name(), child.path())?;
            } else {
                builder.append_path_with_name(child.path(), child.file_name())?;
            }
        }
    } else if is_dir {
        builder.append_dir_all(&name, src)?;
    } else {
        builder.append_path_with_name(src, &name)?;
    }
    let writer = builder.into_inner()?;
    Ok(writer.n)
}

/// `Write` into a channel of chunks that becomes a request body.
pub struct ChanWriter {
    tx: mpsc::Sender<Bytes>,
    n: u64,
}

impl ChanWriter {
    /// Sends what is written on `tx`, counting bytes.
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self { tx, n: 0 }
    }
}

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))?;
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `Read` over a channel of chunks from a response body.
pub struct ChanReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChanReader {
    /// Reads what arrives on `rx` until it closes.
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Our stdin as a stream of chunks.
pub fn stdin_chunks() -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(tokio::io::stdin(), |mut input| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match input.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), input))
            }
            Err(e) => Some((Err(e), input)),
        }
    })
}
