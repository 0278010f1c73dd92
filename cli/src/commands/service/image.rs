//! Image references as docker's client pins them for a service: to the registry digest when the
//! registry answers, else to an explicit tag with a warning. Pure.

/// `busybox` → `busybox:latest`: the reference docker's client keeps when the registry cannot
/// be asked for a digest (references with a tag or digest stay as they are, made familiar).
pub fn with_default_tag(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let name = familiar(image);
    let has_tag = name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    if has_tag {
        name
    } else {
        format!("{name}:latest")
    }
}

/// The reference pinned to `digest` (`busybox:1.36@sha256:…`); None when it already has one.
pub fn with_digest(image: &str, digest: &str) -> Option<String> {
    (!image.contains('@') && !digest.is_empty()).then(|| format!("{}@{digest}", familiar(image)))
}

/// Docker Hub references without their `docker.io/library/` prefix.
fn familiar(image: &str) -> String {
    [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ]
    .iter()
    .find_map(|p| image.strip_prefix(p))
    .unwrap_or(image)
    .to_string()
}

/// The warning docker's client prints when it could not pin the image to a digest.
pub fn digest_warning(image: &str) -> String {
    format!(
        "image {image} could not be accessed on a registry to record\n\
         its digest. Each node will access {image} independently,\n\
         possibly leading to different nodes running different\n\
         versions of the image.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_get_a_tag_or_digest_like_docker() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(
            with_default_tag("docker.io/library/busybox:1.36"),
            "busybox:1.36"
        );
        assert_eq!(
            with_default_tag("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(with_default_tag("busybox@sha256:ab"), "busybox@sha256:ab");
        assert_eq!(
            with_digest("busybox:1.36", "sha256:ab"),
            Some("busybox:1.36@sha256:ab".into())
        );
        assert_eq!(with_digest("busybox@sha256:ab", "sha256:cd"), None);
        assert!(digest_warning("busybox:latest").starts_with(
            "image busybox:latest could not be accessed on a registry to record\nits digest."
        ));
    }
}
