//! `docker import`: a root filesystem tarball becomes a one-layer image whose config comes from
//! Dockerfile-style `changes`. Uses the store's layer and commit steps; no format parsing here.

use std::io::Read;

use chrono::SecondsFormat;

use super::{
    apply_changes, ImageConfigFile, ImageRecord, ImageStore, Reference, RootFs, RunConfig,
};
use crate::error::{EngineError, Result};

/// What `docker import` says about the image besides its changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportMeta {
    /// `-m`: the history entry's comment (Docker's default: `Imported from -`).
    pub message: String,
    /// `--platform`: the config's OS, architecture and variant (default: this machine's).
    pub platform: Option<super::registry::Platform>,
}

impl ImageStore {
    /// Blocking. Imports a root filesystem tarball (plain or gzip, detected by magic) as a
    /// one-layer image. `changes` are Dockerfile instructions (see [`apply_changes`]); `tag`
    /// such as `busybox` (meaning `busybox:latest`) or None for an untagged image.
    pub fn import(
        &self,
        tar: &mut dyn Read,
        tag: Option<&str>,
        changes: &[String],
    ) -> Result<ImageRecord> {
        self.import_with(tar, tag, changes, &ImportMeta::default())
    }

    /// `import` with `docker import`'s message and platform.
    pub fn import_with(
        &self,
        tar: &mut dyn Read,
        tag: Option<&str>,
        changes: &[String],
        meta: &ImportMeta,
    ) -> Result<ImageRecord> {
        // Validate everything cheap before the (slow) unpack.
        let tags: Vec<String> = match tag.filter(|t| !t.is_empty()) {
            Some(t) => vec![Reference::parse_tag(t)?.familiar_tagged()],
            None => Vec::new(),
        };
        let mut run = RunConfig::default();
        apply_changes(&mut run, changes)?;
        let layer = self.unpack_layer(tar, None)?;
        let created = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let comment = if meta.message.is_empty() {
            "Imported from -"
        } else {
            meta.message.as_str()
        };
        let mut extra = serde_json::Map::new();
        let (os, architecture) = match &meta.platform {
            Some(p) => {
                if let Some(v) = &p.variant {
                    extra.insert("variant".into(), serde_json::json!(v));
                }
                (p.os.clone(), p.architecture.clone())
            }
            None => ("linux".to_string(), go_arch().to_string()),
        };
        let config = ImageConfigFile {
            architecture,
            os,
            created: Some(created.clone()),
            config: run,
            rootfs: RootFs {
                kind: "layers".to_string(),
                diff_ids: vec![layer.diff_id],
            },
            history: vec![serde_json::json!({ "created": created, "comment": comment })],
            extra,
        };
        // The id is the hash of exactly these bytes, so serialise once and store them as is.
        let bytes =
            serde_json::to_vec(&config).map_err(|e| EngineError::Internal(e.to_string()))?;
        let rec = self.commit(&bytes, config, &tags)?;
        if tags.is_empty() {
            return Ok(rec);
        }
        // Docker's import tags through its `TagImage`, which stamps the time.
        let _guard = self.lock()?;
        self.mark_tagged(&rec.id)?;
        Ok(self.get(&rec.id)?.unwrap_or(rec))
    }
}

/// This machine's architecture in Go's (and so the image config's) naming.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::image::testutil::{gzip, TarBuilder};

    fn store() -> (tempfile::TempDir, ImageStore) {
        let (dir, _db, images) = crate::engine::image::testutil::fresh_store();
        (dir, images)
    }

    fn rootfs() -> Vec<u8> {
        TarBuilder::new()
            .dir("bin", 0o755)
            .file("bin/sh", 0o755, b"#!sh")
            .symlink("bin/ash", "sh")
            .finish()
    }

    #[test]
    fn import_makes_a_one_layer_image_with_changes_and_tag() {
        let (_dir, images) = store();
        let tar = rootfs();
        let changes = vec!["CMD [\"/bin/sh\"]".to_string(), "ENV PATH=/bin".to_string()];
        let rec = images
            .import(&mut &tar[..], Some("busybox"), &changes)
            .unwrap();
        assert_eq!(rec.repo_tags, vec!["busybox:latest".to_string()]);
        assert_eq!(
            rec.config.rootfs.diff_ids,
            vec![crate::engine::image::digest::sha256_digest(&tar)]
        );
        assert_eq!(rec.config.config.cmd, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(rec.config.config.env, vec!["PATH=/bin".to_string()]);
        assert_eq!(
            (rec.config.os.as_str(), rec.config.architecture.as_str()),
            ("linux", go_arch())
        );
        assert_eq!(rec.size, 4);
        assert!(rec.created > 1_600_000_000);
        let dirs = images.layer_dirs(&rec).unwrap();
        assert_eq!(dirs.len(), 1);
        assert_eq!(std::fs::read(dirs[0].join("bin/sh")).unwrap(), b"#!sh");
        // The id is the digest of the stored config blob.
        let hex = rec.id.strip_prefix("sha256:").unwrap();
        let blob = std::fs::read(_dir.path().join("image/blobs/sha256").join(hex)).unwrap();
        assert_eq!(crate::engine::image::digest::sha256_digest(&blob), rec.id);
    }

    #[test]
    fn an_import_keeps_its_message_and_platform() {
        let (_dir, images) = store();
        let meta = ImportMeta {
            message: "from the build farm".into(),
            platform: Some(super::super::registry::Platform::parse("linux/arm64/v8").unwrap()),
        };
        let rec = images
            .import_with(&mut &rootfs()[..], Some("arm:1"), &[], &meta)
            .unwrap();
        assert_eq!(
            (rec.config.os.as_str(), rec.config.architecture.as_str()),
            ("linux", "arm64")
        );
        assert_eq!(rec.config.extra["variant"], "v8");
        assert_eq!(rec.config.history[0]["comment"], "from the build farm");
    }

    #[test]
    fn gzip_input_is_detected_and_gives_the_same_layer() {
        let (_dir, images) = store();
        let tar = rootfs();
        let a = images.import(&mut &tar[..], None, &[]).unwrap();
        let b = images
            .import(&mut &gzip(&tar)[..], Some("b:1"), &[])
            .unwrap();
        assert_eq!(a.config.rootfs.diff_ids, b.config.rootfs.diff_ids);
        assert!(a.repo_tags.is_empty());
        assert_eq!(
            images.layer_dirs(&a).unwrap(),
            images.layer_dirs(&b).unwrap()
        );
    }

    #[test]
    fn bad_changes_or_tag_fail_before_anything_is_stored() {
        let (dir, images) = store();
        let tar = rootfs();
        let err = images
            .import(&mut &tar[..], None, &["RUN x".to_string()])
            .unwrap_err();
        assert!(matches!(err, EngineError::InvalidArgument(_)));
        let err = images
            .import(&mut &tar[..], Some("Bad Name"), &[])
            .unwrap_err();
        assert!(matches!(err, EngineError::InvalidArgument(_)));
        assert!(images.list().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("image/layers"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_broken_tar_leaves_no_layer_behind() {
        let (dir, images) = store();
        let mut tar = rootfs();
        tar.truncate(700);
        assert!(images.import(&mut &tar[..], None, &[]).is_err());
        assert_eq!(
            std::fs::read_dir(dir.path().join("image/layers"))
                .unwrap()
                .count(),
            0
        );
    }
}
