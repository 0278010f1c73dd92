//! A recording [`BuildBackend`] for the step logic's unit tests: images and the cache in
//! memory, RUN exit codes and layers chosen by the test, every call kept.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::sources::{DiskTree, SourceTree};
use super::{BaseImage, BoxFuture, BuildBackend, BuildOutput, FileOp, RunOutcome, RunRequest};
use crate::engine::image::{ImageConfigFile, RootFs, RunConfig};
use crate::error::{EngineError, Result};

/// One call the builder made.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    BaseImage {
        name: String,
        pull: bool,
    },
    Run {
        image: String,
        config: Box<RunConfig>,
    },
    ApplyFiles {
        image: String,
        ops: Vec<FileOp>,
    },
    Commit {
        parent: String,
        created_by: String,
        empty: bool,
    },
    ImageFiles(String),
    Tag(String, Vec<String>),
}

#[derive(Default)]
pub struct FakeBackend {
    pub calls: Mutex<Vec<Call>>,
    pub images: Mutex<HashMap<String, ImageConfigFile>>,
    pub cache: Mutex<HashMap<(String, String), String>>,
    /// Exit codes of the next RUN steps (0 when none is queued).
    pub exit_codes: Mutex<Vec<i64>>,
    /// Where `image_files` points (COPY --from).
    pub files_root: Mutex<Option<std::path::PathBuf>>,
    counter: Mutex<u64>,
}

impl FakeBackend {
    /// A backend knowing `busybox:latest` (CMD sh, one layer).
    pub fn new() -> Self {
        let b = FakeBackend::default();
        let cfg = ImageConfigFile {
            architecture: "amd64".into(),
            os: "linux".into(),
            config: RunConfig {
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            },
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec!["sha256:base".into()],
            },
            history: vec![serde_json::json!({"comment": "Imported from -"})],
            ..Default::default()
        };
        b.images
            .lock()
            .unwrap()
            .insert("sha256:busybox".into(), cfg);
        b
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn next(&self) -> u64 {
        let mut c = self.counter.lock().unwrap();
        *c += 1;
        *c
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

impl BuildBackend for FakeBackend {
    fn base_image<'a>(
        &'a self,
        name: &'a str,
        pull: bool,
        _platform: Option<&'a str>,
        _out: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<BaseImage>> {
        Box::pin(async move {
            self.record(Call::BaseImage {
                name: name.into(),
                pull,
            });
            match name {
                "busybox" | "busybox:latest" => self.image("sha256:busybox"),
                _ => Err(EngineError::NoSuchImage(name.into())),
            }
        })
    }

    fn image(&self, id: &str) -> Result<BaseImage> {
        let config = self
            .images
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchImage(id.into()))?;
        Ok(BaseImage {
            id: id.into(),
            config,
        })
    }

    fn cached(&self, parent: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .cache
            .lock()
            .unwrap()
            .get(&(parent.to_string(), key.to_string()))
            .cloned())
    }

    fn commit(&self, parent: &str, config: &ImageConfigFile, key: &str) -> Result<String> {
        let last = config.history.last().cloned().unwrap_or_default();
        self.record(Call::Commit {
            parent: parent.into(),
            created_by: last["created_by"].as_str().unwrap_or_default().into(),
            empty: last["empty_layer"].as_bool().unwrap_or(false),
        });
        let id = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(serde_json::to_vec(config).unwrap()))
        );
        self.images
            .lock()
            .unwrap()
            .insert(id.clone(), config.clone());
        self.cache
            .lock()
            .unwrap()
            .insert((parent.into(), key.into()), id.clone());
        Ok(id)
    }

    fn run<'a>(
        &'a self,
        req: RunRequest,
        out: &'a BuildOutput,
    ) -> BoxFuture<'a, Result<RunOutcome>> {
        Box::pin(async move {
            self.record(Call::Run {
                image: req.image.clone(),
                config: Box::new(req.config.clone()),
            });
            let n = self.next();
            out.stream(format!(" ---> Running in c{n}\n"));
            let code = {
                let mut q = self.exit_codes.lock().unwrap();
                if q.is_empty() {
                    0
                } else {
                    q.remove(0)
                }
            };
            let unchanged = req.config.cmd.iter().flatten().any(|c| c.contains("true"));
            Ok(RunOutcome {
                container: format!("c{n}"),
                exit_code: code,
                layer: (code == 0 && !unchanged).then(|| format!("sha256:run{n}")),
            })
        })
    }

    fn apply_files<'a>(
        &'a self,
        image: &'a str,
        ops: Vec<FileOp>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            self.record(Call::ApplyFiles {
                image: image.into(),
                ops,
            });
            Ok(Some(format!("sha256:files{}", self.next())))
        })
    }

    fn image_files<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<Box<dyn SourceTree>>> {
        Box::pin(async move {
            self.record(Call::ImageFiles(image.into()));
            let root = self
                .files_root
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| EngineError::Internal("no files".into()))?;
            Ok(Box::new(DiskTree { root }) as Box<dyn SourceTree>)
        })
    }

    fn download<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<super::download::Downloaded>> {
        Box::pin(async move {
            Err(EngineError::InvalidArgument(format!(
                "the fake backend downloads nothing ({url})"
            )))
        })
    }

    fn tag(&self, id: &str, tags: &[String]) -> Result<()> {
        self.record(Call::Tag(id.into(), tags.to_vec()));
        Ok(())
    }
}
