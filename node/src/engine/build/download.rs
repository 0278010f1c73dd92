//! ADD's remote sources, fetched as the classic builder fetches them: an `http://` or
//! `https://` GET (redirects followed), an answer of 400 or more is the step's error, and the
//! body becomes one file, mode 0600, its time the answer's `Last-Modified` (else the epoch),
//! named by the URL's last path part or else the answer's `Content-Disposition`. It is never
//! unpacked, and its checksum (of the file, as any other source's) is the cache key, so a
//! changed download builds again.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::sources::DiskTree;
use crate::engine::image::registry::{error_chain, install_crypto_provider, USER_AGENT};
use crate::error::{EngineError, Result};

/// The most of an error answer's body read for the step's message.
const ERROR_BODY: usize = 4096;

/// The name a download without one takes (Docker's `__unnamed__`).
pub const UNNAMED: &str = "__unnamed__";

/// Whether ADD downloads `source` (Docker's `urlutil.IsURL`).
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// A downloaded file in a directory of its own, removed when this is dropped.
pub struct Downloaded {
    /// The directory, holding the one file.
    pub tree: DiskTree,
    /// Its name when the URL or the answer gave one; the file is `UNNAMED` otherwise.
    pub name: Option<String>,
}

impl Downloaded {
    /// The file's name in the tree.
    pub fn file(&self) -> &str {
        self.name.as_deref().unwrap_or(UNNAMED)
    }
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        super::scratch::remove_dir(std::mem::take(&mut self.tree.root), "download");
    }
}

fn failed(url: &str, why: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidArgument(format!("GET {url}: {why}"))
}

/// Downloads `url` into `dir` (a new, empty directory, which the result owns).
pub async fn fetch(url: &str, dir: PathBuf) -> Result<Downloaded> {
    let mut got = Downloaded {
        tree: DiskTree { root: dir },
        name: None,
    };
    // Docker names the file from the URL asked for, not the one a redirect ends at.
    let asked = reqwest::Url::parse(url).map_err(|e| failed(url, e))?;
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| failed(url, error_chain(&e)))?;
    let mut answer = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(url, error_chain(&e)))?;
    let status = answer.status();
    if status.as_u16() >= 400 {
        // Docker's `GetWithStatusError` words, with as much of the body as a line holds; no
        // more of it is read (a hostile server's error page may never end).
        let mut head = Vec::new();
        while head.len() < ERROR_BODY {
            match answer.chunk().await {
                Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                _ => break,
            }
        }
        head.truncate(ERROR_BODY);
        let body: String = String::from_utf8_lossy(&head)
            .trim()
            .chars()
            .take(200)
            .collect();
        return Err(EngineError::InvalidArgument(format!(
            "failed to GET {url} with status {status}: {body}"
        )));
    }
    let header = |name: reqwest::header::HeaderName| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let modified = header(reqwest::header::LAST_MODIFIED);
    got.name = file_name(
        asked.path(),
        header(reqwest::header::CONTENT_DISPOSITION).as_deref(),
    );
    let path = got.tree.root.join(got.file());
    let mut file = open_new(&path).await?;
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| failed(url, error_chain(&e)))?
    {
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
            .await
            .map_err(|e| EngineError::io("write the download", e))?;
    }
    let file = file.into_std().await;
    let mtime = modified
        .as_deref()
        .and_then(http_time)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    tokio::task::spawn_blocking(move || {
        file.set_times(
            std::fs::FileTimes::new()
                .set_accessed(mtime)
                .set_modified(mtime),
        )
    })
    .await
    .map_err(|e| EngineError::Internal(e.to_string()))?
    .map_err(|e| EngineError::io("set the download's time", e))?;
    Ok(got)
}

/// Creates the download's file, 0600, never through an existing name.
async fn open_new(path: &Path) -> Result<tokio::fs::File> {
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true).mode(0o600);
    opts.open(path)
        .await
        .map_err(|e| EngineError::io(format!("create {}", path.display()), e))
}

/// The download's name: the URL path's last part, else the `filename` of a
/// `Content-Disposition`; a name that is no file's (`.`, `..`) is none.
pub fn file_name(url_path: &str, disposition: Option<&str>) -> Option<String> {
    let base = |p: &str| -> Option<String> {
        if p.is_empty() || p.ends_with('/') {
            return None;
        }
        let last = p.rsplit('/').next().unwrap_or(p);
        Some(last.to_string()).filter(|n| !matches!(n.as_str(), "" | "." | ".."))
    };
    let decoded = percent_encoding::percent_decode_str(url_path).decode_utf8_lossy();
    base(&decoded).or_else(|| {
        let param = disposition?.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("filename")
                .then(|| v.trim().trim_matches('"').to_string())
        })?;
        base(&param)
    })
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_time(v: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    let secs = u64::try_from(t.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_path_then_the_disposition() {
        assert_eq!(
            file_name("/files/a%20b.txt", None).as_deref(),
            Some("a b.txt")
        );
        assert_eq!(file_name("/dir/", None), None);
        assert_eq!(file_name("", None), None);
        assert_eq!(
            file_name("/", Some("attachment; filename=\"report.csv\"")).as_deref(),
            Some("report.csv")
        );
        assert_eq!(
            file_name("/get/", Some("attachment; filename=sub/x.bin")).as_deref(),
            Some("x.bin")
        );
        // Never a name that is a directory of the download's.
        assert_eq!(file_name("/a/..", None), None);
        assert_eq!(file_name("/", Some("attachment; filename=..")), None);
    }

    #[test]
    fn http_dates_parse_and_anything_else_is_none() {
        let t = http_time("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            784_111_777
        );
        assert!(http_time("yesterday").is_none());
    }
}
