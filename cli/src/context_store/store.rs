//! The store's files: config.json's `currentContext`, `contexts/meta/<sha256>/meta.json` and
//! `contexts/tls/<sha256>/docker/*.pem`, with docker's paths, modes and "not found" wording;
//! every write goes to a temporary file that is then renamed.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Context, DOCKER_ENDPOINT};

/// A directory of docker CLI configuration.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir` (a `DOCKER_CONFIG` directory).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    /// `$DOCKER_CONFIG`, else `$HOME/.docker`, as the docker CLI picks its directory.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Self {
        let dir = env("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/root/.docker"));
        Store::at(dir)
    }

    fn config_file(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    fn config(&self) -> Result<Map<String, Value>> {
        let path = self.config_file();
        match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => bail!("{}: not a JSON object", path.display()),
                Err(e) => bail!("{}: {e}", path.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// `currentContext` of config.json, when set.
    pub fn current(&self) -> Result<Option<String>> {
        Ok(self
            .config()?
            .get("currentContext")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    /// Sets `currentContext` (removed for `None`, as docker leaves it out for the default),
    /// keeping the rest of config.json; the file is not written when nothing changes.
    pub fn set_current(&self, name: Option<&str>) -> Result<()> {
        let mut cfg = self.config()?;
        let now = cfg
            .get("currentContext")
            .and_then(Value::as_str)
            .unwrap_or("");
        if now == name.unwrap_or("") {
            return Ok(());
        }
        match name {
            Some(n) => cfg.insert("currentContext".into(), Value::String(n.into())),
            None => cfg.remove("currentContext"),
        };
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut text, formatter);
        serde::Serialize::serialize(&Value::Object(cfg), &mut ser)?;
        write_atomic(&self.config_file(), &text, 0o600)
    }

    fn id(name: &str) -> String {
        hex::encode(Sha256::digest(name.as_bytes()))
    }

    /// Where a context's `meta.json` lives (docker's `MetadataPath`).
    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.dir.join("contexts/meta").join(Self::id(name))
    }

    /// Where a context's TLS material lives (docker's `TLSPath`).
    pub fn tls_dir(&self, name: &str) -> PathBuf {
        self.dir.join("contexts/tls").join(Self::id(name))
    }

    /// The context `name`, or docker's "context not found" naming the file.
    pub fn get(&self, name: &str) -> Result<Context> {
        let file = self.meta_dir(name).join("meta.json");
        let bytes = std::fs::read(&file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!(
                "context {name:?}: context not found: open {}: no such file or directory",
                file.display()
            ),
            _ => anyhow!("context {name:?}: open {}: {e}", file.display()),
        })?;
        Context::parse(&bytes, &file).map_err(|e| anyhow!("context {name:?}: {e}"))
    }

    /// Whether a context by this name is stored.
    pub fn exists(&self, name: &str) -> bool {
        self.meta_dir(name).exists()
    }

    /// Every stored context (any directory under `contexts/meta` holding a meta.json).
    pub fn list(&self) -> Result<Vec<Context>> {
        let mut out = Vec::new();
        let mut dirs = vec![self.dir.join("contexts/meta")];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
            };
            for entry in entries {
                let path = entry?.path();
                if !path.is_dir() {
                    continue;
                }
                let file = path.join("meta.json");
                if file.is_file() {
                    let bytes = std::fs::read(&file)?;
                    let ctx = Context::parse(&bytes, &file)
                        .map_err(|e| anyhow!("failed to read metadata: {e}"))?;
                    out.push(ctx);
                }
                dirs.push(path);
            }
        }
        out.sort_by(|a, b| crate::output::natural::natural_cmp(&a.name, &b.name));
        Ok(out)
    }

    /// Creates or replaces the context's `meta.json`.
    pub fn write(&self, ctx: &Context) -> Result<()> {
        let dir = self.meta_dir(&ctx.name);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .with_context(|| format!("create {}", dir.display()))?;
        write_atomic(&dir.join("meta.json"), ctx.to_json().as_bytes(), 0o644)
    }

    /// Removes the context's metadata and TLS material.
    pub fn remove(&self, name: &str) -> Result<()> {
        for dir in [self.meta_dir(name), self.tls_dir(name)] {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| {
                        format!("failed to remove context {name}: {}", dir.display())
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The TLS files of each endpoint (file names, sorted).
    pub fn tls_files(&self, name: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out = BTreeMap::new();
        let dir = self.tls_dir(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to list TLS files for context {name}"))
            }
        };
        for entry in entries {
            let entry = entry?;
            if !entry.path().is_dir() {
                continue;
            }
            let mut files: Vec<String> = std::fs::read_dir(entry.path())?
                .filter_map(|f| f.ok())
                .filter(|f| f.path().is_file())
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            out.insert(entry.file_name().to_string_lossy().into_owned(), files);
        }
        Ok(out)
    }

    /// A TLS file of the docker endpoint, when the context has it.
    pub fn tls_file(&self, name: &str, file: &str) -> Option<PathBuf> {
        Some(self.tls_dir(name).join(DOCKER_ENDPOINT).join(file)).filter(|p| p.is_file())
    }

    /// Replaces the docker endpoint's TLS material with `files` (name, PEM bytes); an empty
    /// list leaves it without any. Directories 0700, files 0600, as docker makes them.
    pub fn reset_tls(&self, name: &str, files: &[(String, Vec<u8>)]) -> Result<()> {
        let dir = self.tls_dir(name).join(DOCKER_ENDPOINT);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).context("failed to remove TLS data for endpoint docker")
            }
            _ => {}
        }
        if files.is_empty() {
            return Ok(());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(self.dir.join("contexts"))
            .with_context(|| format!("create {}", self.dir.join("contexts").display()))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("create {}", dir.display()))?;
        for (file, data) in files {
            write_atomic(&dir.join(file), data, 0o600)?;
        }
        Ok(())
    }
}

/// Writes under a temporary name with `mode`, then renames: readers see the old file or the
/// new one, never half of one.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_live_under_the_sha256_of_their_name_and_keep_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        assert_eq!(
            store.meta_dir("foo"),
            dir.path().join(
                "contexts/meta/2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
            )
        );
        let text = r#"{"Name":"k","Metadata":{"Description":"d","StackOrchestrator":"swarm"},"Endpoints":{"docker":{"Host":"unix:///a","SkipTLSVerify":false},"kubernetes":{"Namespace":"x"}}}"#;
        std::fs::create_dir_all(store.meta_dir("k")).unwrap();
        std::fs::write(store.meta_dir("k").join("meta.json"), text).unwrap();
        let mut ctx = store.get("k").unwrap();
        assert_eq!(ctx.description(), "d");
        assert_eq!(ctx.docker_endpoint().unwrap().host, "unix:///a");
        ctx.set_description("e");
        store.write(&ctx).unwrap();
        let again = store.get("k").unwrap();
        assert_eq!(again.metadata["StackOrchestrator"], "swarm");
        assert_eq!(again.endpoints["kubernetes"]["Namespace"], "x");
        assert_eq!(store.list().unwrap(), vec![again]);
        let err = store.get("nope").unwrap_err().to_string();
        assert!(
            err.starts_with("context \"nope\": context not found: open ")
                && err.ends_with("/meta.json: no such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn the_current_context_is_kept_in_config_json_with_its_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        assert_eq!(store.current().unwrap(), None);
        store.set_current(None).unwrap();
        assert!(!dir.path().join("config.json").exists(), "nothing to write");
        std::fs::write(dir.path().join("config.json"), r#"{"auths":{"x":{}}}"#).unwrap();
        store.set_current(Some("foo")).unwrap();
        assert_eq!(store.current().unwrap().as_deref(), Some("foo"));
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert_eq!(
            text,
            "{\n\t\"auths\": {\n\t\t\"x\": {}\n\t},\n\t\"currentContext\": \"foo\"\n}"
        );
        store.set_current(None).unwrap();
        assert_eq!(store.current().unwrap(), None);
    }

    #[test]
    fn tls_material_is_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        store
            .reset_tls(
                "c",
                &[
                    ("ca.pem".into(), b"x".to_vec()),
                    ("key.pem".into(), b"k".to_vec()),
                ],
            )
            .unwrap();
        assert_eq!(
            store.tls_files("c").unwrap(),
            BTreeMap::from([(
                "docker".to_string(),
                vec!["ca.pem".to_string(), "key.pem".to_string()]
            )])
        );
        let key = store.tls_file("c", "key.pem").unwrap();
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let ep = key.parent().unwrap();
        assert_eq!(
            std::fs::metadata(ep).unwrap().permissions().mode() & 0o777,
            0o700
        );
        store.reset_tls("c", &[]).unwrap();
        assert_eq!(store.tls_files("c").unwrap(), BTreeMap::new());
    }
}
