//! Images: records → `ImageSummary` / `ImageInspect`, removal items → Docker's delete response.

use bollard_stubs::models::{
    ImageConfig, ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs, ImageSummary,
};

use crate::engine::image::{ImageRecord, RemovedItem};

/// One row of `GET /images/json`.
pub fn summary(img: &ImageRecord) -> ImageSummary {
    ImageSummary {
        id: img.id.clone(),
        parent_id: String::new(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: Vec::new(),
        created: img.created,
        size: i64::try_from(img.size).unwrap_or(i64::MAX),
        shared_size: -1,
        labels: img.config.config.labels.clone().into_iter().collect(),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// `GET /images/{name}/json`.
pub fn inspect(img: &ImageRecord) -> ImageInspect {
    let c = &img.config.config;
    let created = chrono::DateTime::from_timestamp(img.created, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    ImageInspect {
        id: Some(img.id.clone()),
        repo_tags: Some(img.repo_tags.clone()),
        repo_digests: Some(Vec::new()),
        comment: Some(String::new()),
        created,
        author: Some(String::new()),
        config: Some(ImageConfig {
            user: Some(c.user.clone()),
            env: Some(c.env.clone()),
            cmd: c.cmd.clone(),
            entrypoint: c.entrypoint.clone(),
            working_dir: Some(c.working_dir.clone()),
            labels: Some(c.labels.clone().into_iter().collect()),
            exposed_ports: Some(c.exposed_ports.keys().cloned().collect()),
            volumes: Some(c.volumes.keys().cloned().collect()),
            stop_signal: c.stop_signal.clone(),
            ..Default::default()
        }),
        architecture: Some(img.config.architecture.clone()),
        os: Some(img.config.os.clone()),
        size: Some(i64::try_from(img.size).unwrap_or(i64::MAX)),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(img.config.rootfs.diff_ids.clone()),
        }),
        ..Default::default()
    }
}

/// `DELETE /images/{name}` items.
pub fn removed(items: &[RemovedItem]) -> Vec<ImageDeleteResponseItem> {
    items
        .iter()
        .map(|i| match i {
            RemovedItem::Untagged(t) => ImageDeleteResponseItem {
                untagged: Some(t.clone()),
                deleted: None,
            },
            RemovedItem::Deleted(d) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(d.clone()),
            },
        })
        .collect()
}
