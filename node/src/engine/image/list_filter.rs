//! `GET /images/json`'s filters, as Docker applies them: `dangling`, `reference` (a glob over
//! `name` and `name:tag`, Go's `path.Match`), `label` (`key` or `key=value`), `before` and
//! `since` (another image's creation time). Pure: the caller resolves `before`/`since`.

use super::reference::Reference;
use super::ImageRecord;

/// What `images ls --filter` asked for.
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    pub dangling: Option<bool>,
    pub reference: Vec<String>,
    pub label: Vec<String>,
    /// Created strictly before this (Unix seconds).
    pub before: Option<i64>,
    /// Created strictly after this (Unix seconds).
    pub since: Option<i64>,
}

impl ImageFilter {
    /// Whether `img` passes every filter.
    pub fn matches(&self, img: &ImageRecord) -> bool {
        let dangling = img.repo_tags.is_empty();
        if self.dangling.is_some_and(|d| d != dangling) {
            return false;
        }
        if self.before.is_some_and(|t| img.created >= t)
            || self.since.is_some_and(|t| img.created <= t)
        {
            return false;
        }
        let labels = &img.config.config.labels;
        let has_label = |l: &String| match l.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(l.as_str()),
        };
        if !self.label.iter().all(has_label) {
            return false;
        }
        self.reference.is_empty() || !self.matching_tags(img).is_empty()
    }

    /// The tags a `reference` filter lets through (all of them without one): Docker lists an
    /// image under those tags only.
    pub fn matching_tags(&self, img: &ImageRecord) -> Vec<String> {
        img.repo_tags
            .iter()
            .filter(|tag| {
                self.reference.is_empty()
                    || self
                        .reference
                        .iter()
                        .any(|pattern| reference_matches(pattern, tag))
            })
            .cloned()
            .collect()
    }
}

/// Docker matches the pattern against the familiar name and against `name:tag`.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let Ok(r) = Reference::parse(tag) else {
        return false;
    };
    let name = r.familiar_name();
    let tagged = r.familiar_tagged();
    glob(pattern, &name) || glob(pattern, &tagged)
}

/// Go's `path.Match`: `*` and `?` never match `/`; `[...]` classes with ranges and `^`.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| glob_at(rest, &n[i..]))
        }
        Some('?') => n.first().is_some_and(|c| *c != '/') && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(end) = p.iter().skip(1).position(|c| *c == ']').map(|i| i + 1) else {
                return false;
            };
            let Some(c) = n.first() else { return false };
            class_matches(&p[1..end], *c) && glob_at(&p[end + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && glob_at(&p[1..], &n[1..]),
    }
}

fn class_matches(class: &[char], c: char) -> bool {
    let (negated, class) = match class.first() {
        Some('^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == '-' {
            hit |= class[i] <= c && c <= class[i + 2];
            i += 3;
        } else {
            hit |= class[i] == c;
            i += 1;
        }
    }
    hit != negated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tags: &[&str], created: i64) -> ImageRecord {
        let mut img: ImageRecord = serde_json::from_value(serde_json::json!({
            "id": "sha256:00", "repo_tags": tags, "created": created, "size": 0,
            "config": {"rootfs": {"type": "layers", "diff_ids": []}}
        }))
        .unwrap();
        img.config.config.labels.insert("team".into(), "web".into());
        img
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert!(glob("foo*", "foo"));
        assert!(glob("foo*", "foobar"));
        assert!(!glob("foo*", "foo/bar"));
        assert!(glob("*/*", "library/busybox"));
        assert!(glob("b?sybox", "busybox"));
        assert!(glob("[a-c]usybox", "busybox"));
        assert!(!glob("[^a-c]usybox", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
    }

    #[test]
    fn dangling_reference_label_before_and_since_filter() {
        let tagged = image(&["docker.io/library/busybox:latest"], 100);
        let dangling = image(&[], 200);
        let f = ImageFilter {
            dangling: Some(true),
            ..Default::default()
        };
        assert!(!f.matches(&tagged) && f.matches(&dangling));
        let f = ImageFilter {
            reference: vec!["busy*".into()],
            ..Default::default()
        };
        assert!(f.matches(&tagged) && !f.matches(&dangling));
        let f = ImageFilter {
            reference: vec!["busybox:latest".into()],
            ..Default::default()
        };
        assert!(f.matches(&tagged));
        let f = ImageFilter {
            reference: vec!["nginx".into()],
            ..Default::default()
        };
        assert!(!f.matches(&tagged));
        let f = ImageFilter {
            label: vec!["team=web".into()],
            ..Default::default()
        };
        assert!(f.matches(&tagged));
        let f = ImageFilter {
            label: vec!["team=db".into()],
            ..Default::default()
        };
        assert!(!f.matches(&tagged));
        let f = ImageFilter {
            before: Some(200),
            ..Default::default()
        };
        assert!(f.matches(&tagged) && !f.matches(&dangling));
        let f = ImageFilter {
            since: Some(100),
            ..Default::default()
        };
        assert!(!f.matches(&tagged) && f.matches(&dangling));
    }
}
