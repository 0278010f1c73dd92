//! `--cache-from` for the classic builder, as moby's `image/cache` does it: the images named
//! are the cache. A step is cached when one of them was built from the current image (its
//! history and layers begin with the current image's) and its next history entry was made by
//! the same command. Pulled images have no parent links, so the match is on history, not on
//! the local build cache's records.

use serde_json::Value;

use crate::engine::image::ImageConfigFile;

/// An image named by `--cache-from`.
#[derive(Debug, Clone)]
pub struct CacheSource {
    pub id: String,
    pub config: ImageConfigFile,
}

/// What a source holds for the next step.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheMatch {
    /// The step is the source's last one: the source itself is the cached image.
    Whole(String),
    /// The step is inside the source: its history entry, and its layer unless the entry is
    /// an empty one.
    Step {
        source: String,
        entry: Value,
        layer: Option<String>,
    },
}

/// The first source with the step made by `created_by` on `parent` (None for `scratch`).
pub fn find(
    sources: &[CacheSource],
    parent: Option<&ImageConfigFile>,
    created_by: &str,
) -> Option<CacheMatch> {
    let done = parent.map_or(0, |p| p.history.len());
    sources.iter().find_map(|s| {
        let h = &s.config.history;
        if !is_valid_parent(&s.config, parent) {
            return None;
        }
        let entry = h.get(done)?;
        if entry
            .get("created_by")
            .and_then(Value::as_str)
            .unwrap_or("")
            != created_by
        {
            return None;
        }
        if done + 1 == h.len() {
            return Some(CacheMatch::Whole(s.id.clone()));
        }
        let layer = match layer_at(&s.config, done) {
            LayerAt::Empty => None,
            LayerAt::Layer(d) => Some(d),
            LayerAt::Missing => return None,
        };
        Some(CacheMatch::Step {
            source: s.id.clone(),
            entry: entry.clone(),
            layer,
        })
    })
}

/// moby's `isValidParent`: `img` has history, and `parent`'s history and layers are the first
/// of its own (any image follows `scratch` or an image without either).
fn is_valid_parent(img: &ImageConfigFile, parent: Option<&ImageConfigFile>) -> bool {
    if img.history.is_empty() {
        return false;
    }
    let Some(p) = parent else { return true };
    if p.history.is_empty() && p.rootfs.diff_ids.is_empty() {
        return true;
    }
    p.history.len() < img.history.len()
        && p.rootfs.diff_ids.len() <= img.rootfs.diff_ids.len()
        && img.history.starts_with(&p.history)
        && img.rootfs.diff_ids.starts_with(&p.rootfs.diff_ids)
}

enum LayerAt {
    Empty,
    Layer(String),
    /// The history names more layers than the image has: not a cache.
    Missing,
}

/// The layer the history entry at `index` made (moby's `getLayerForHistoryIndex`).
fn layer_at(img: &ImageConfigFile, index: usize) -> LayerAt {
    let is_empty = |e: &Value| e.get("empty_layer").and_then(Value::as_bool) == Some(true);
    if img.history.get(index).is_some_and(is_empty) {
        return LayerAt::Empty;
    }
    let before = img.history[..index.min(img.history.len())]
        .iter()
        .filter(|e| !is_empty(e))
        .count();
    img.rootfs
        .diff_ids
        .get(before)
        .map_or(LayerAt::Missing, |d| LayerAt::Layer(d.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An image of these history entries (`(created_by, empty)`), one layer per non-empty one.
    fn image(steps: &[(&str, bool)]) -> ImageConfigFile {
        let mut img = ImageConfigFile::default();
        for (i, (by, empty)) in steps.iter().enumerate() {
            let mut e =
                json!({"created": format!("2026-01-0{}T00:00:00Z", i + 1), "created_by": by});
            if *empty {
                e["empty_layer"] = json!(true);
            } else {
                img.rootfs.diff_ids.push(format!("sha256:{i}"));
            }
            img.history.push(e);
        }
        img
    }

    fn source(id: &str, config: ImageConfigFile) -> CacheSource {
        CacheSource {
            id: id.into(),
            config,
        }
    }

    #[test]
    fn a_step_of_a_source_built_on_the_parent_is_found_with_its_layer() {
        let base = image(&[("ADD rootfs", false), ("CMD sh", true)]);
        let built = image(&[
            ("ADD rootfs", false),
            ("CMD sh", true),
            ("ENV A=1", true),
            ("RUN make", false),
        ]);
        let sources = [source("built", built.clone())];
        assert_eq!(
            find(&sources, Some(&base), "ENV A=1"),
            Some(CacheMatch::Step {
                source: "built".into(),
                entry: built.history[2].clone(),
                layer: None
            })
        );
        let after_env = image(&[("ADD rootfs", false), ("CMD sh", true), ("ENV A=1", true)]);
        assert_eq!(
            find(&sources, Some(&after_env), "RUN make"),
            Some(CacheMatch::Whole("built".into())),
            "the last step is the source itself"
        );
        assert_eq!(
            find(&sources, Some(&base), "ENV A=2"),
            None,
            "another command"
        );
    }

    #[test]
    fn a_source_from_another_base_or_a_shorter_one_is_no_cache() {
        let base = image(&[("ADD other", false)]);
        let built = image(&[("ADD rootfs", false), ("RUN make", false)]);
        let sources = [source("built", built)];
        assert_eq!(find(&sources, Some(&base), "RUN make"), None);
        let longer = image(&[
            ("ADD rootfs", false),
            ("RUN make", false),
            ("RUN more", false),
        ]);
        assert_eq!(find(&sources, Some(&longer), "RUN x"), None);
        // From scratch, any source's first step matches by command.
        assert_eq!(
            find(&sources, None, "ADD rootfs"),
            Some(CacheMatch::Step {
                source: "built".into(),
                entry: json!({"created": "2026-01-01T00:00:00Z", "created_by": "ADD rootfs"}),
                layer: Some("sha256:0".into())
            })
        );
    }

    #[test]
    fn a_history_naming_more_layers_than_the_image_has_is_no_cache() {
        let base = image(&[("ADD rootfs", false)]);
        let mut broken = image(&[("ADD rootfs", false), ("RUN a", false), ("RUN b", false)]);
        broken.rootfs.diff_ids.truncate(1);
        assert_eq!(find(&[source("b", broken)], Some(&base), "RUN a"), None);
    }
}
