//! Image references (`[domain/]path[:tag][@digest]`) parsed and normalised the way Docker's
//! distribution/reference package does. Pure: no store access.

use crate::error::{EngineError, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised image reference such as `docker.io/library/busybox:latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses a reference; bare names get Docker Hub's domain and `library/` prefix.
    /// InvalidArgument("invalid reference format...") when `s` is not a valid reference.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(invalid(""));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EngineError::InvalidArgument(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d)?)),
            None => (s, None),
        };
        let (domain, rest) = split_domain(name);
        let (path, tag) = match rest.rsplit_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !is_valid_tag(t) {
                return Err(invalid(""));
            }
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(&format!(
                ": repository name ({path}) must be lowercase"
            )));
        }
        if !is_valid_domain(&domain) || !path.split('/').all(is_valid_path_component) {
            return Err(invalid(""));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path.to_string()
        };
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(invalid(
                ": repository name must not be more than 255 characters",
            ));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parses `s` as a name to tag with: a digest is refused and the tag defaults to `latest`.
    pub fn parse_tag(s: &str) -> Result<Self> {
        let mut r = Reference::parse(s)?;
        if r.digest.is_some() {
            return Err(EngineError::InvalidArgument(format!(
                "refusing to use a digest as a tag: {s}"
            )));
        }
        r.tag.get_or_insert_with(|| "latest".to_string());
        Ok(r)
    }

    /// Replaces the tag; InvalidArgument when `tag` is not a valid tag.
    pub fn with_tag(mut self, tag: &str) -> Result<Self> {
        if !is_valid_tag(tag) {
            return Err(invalid(""));
        }
        self.tag = Some(tag.to_string());
        Ok(self)
    }

    /// The name as Docker shows it: `busybox`, `user/app`, `ghcr.io/org/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The full name: `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The registry: `docker.io`, `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:<hex>`), if one was given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `familiar_name:tag`, the tag defaulting to `latest`: the key of the tag table.
    pub fn familiar_tagged(&self) -> String {
        format!(
            "{}:{}",
            self.familiar_name(),
            self.tag.as_deref().unwrap_or("latest")
        )
    }
}

/// Splits off the domain: the first component is one only if it looks like a host (has a `.`
/// or `:`, or is `localhost`) and is lowercase, as in Docker's splitDockerDomain.
fn split_domain(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if (first.contains(['.', ':']) || first == "localhost")
                && first.to_lowercase() == first =>
        {
            let domain = if first == "index.docker.io" {
                DEFAULT_DOMAIN
            } else {
                first
            };
            (domain.to_string(), rest)
        }
        _ => (DEFAULT_DOMAIN.to_string(), name),
    }
}

fn invalid(detail: &str) -> EngineError {
    EngineError::InvalidArgument(format!("invalid reference format{detail}"))
}

fn parse_digest(d: &str) -> Result<String> {
    match d.split_once(':') {
        Some((alg, hex))
            if !alg.is_empty()
                && alg.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b)
                })
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(d.to_string())
        }
        _ => Err(invalid("")),
    }
}

/// `[\w][\w.-]{0,127}`
fn is_valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    t.len() <= 128
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Separator runs between alphanumerics: one `.`, one or two `_`, or any number of `-`.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is dot-separated `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` labels.
fn is_valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(s: &str) -> String {
        Reference::parse_tag(s).unwrap().familiar_tagged()
    }

    #[test]
    fn bare_names_get_latest_and_docker_hub_names_are_shortened() {
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(tagged("busybox:1.36"), "busybox:1.36");
        assert_eq!(tagged("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(tagged("index.docker.io/library/busybox"), "busybox:latest");
        assert_eq!(tagged("library/busybox"), "busybox:latest");
        assert_eq!(tagged("user/app:v1"), "user/app:v1");
        assert_eq!(tagged("docker.io/user/app"), "user/app:latest");
        assert_eq!(
            Reference::parse("busybox").unwrap().full_name(),
            "docker.io/library/busybox"
        );
    }

    #[test]
    fn registries_with_ports_and_localhost_are_domains() {
        assert_eq!(tagged("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(tagged("localhost/app:dev"), "localhost/app:dev");
        assert_eq!(tagged("ghcr.io/org/app:1.0"), "ghcr.io/org/app:1.0");
        assert_eq!(
            tagged("my-reg.example.com:443/a/b/c"),
            "my-reg.example.com:443/a/b/c:latest"
        );
    }

    #[test]
    fn invalid_references_are_rejected() {
        for bad in [
            "",
            "Busybox",
            "busy box",
            "busybox:",
            ":tag",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "busybox:-tag",
            "busybox@sha256:xyz",
            &"a".repeat(64),
            "/busybox",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be invalid");
        }
        let err = Reference::parse("Busybox").unwrap_err().to_string();
        assert!(err.starts_with("invalid reference format"), "{err}");
    }

    #[test]
    fn separators_follow_docker_grammar() {
        for good in ["a.b", "a_b", "a__b", "a---b", "a1/b-2/c_3", "x:Tag_1.0-rc"] {
            assert!(Reference::parse(good).is_ok(), "{good:?} should be valid");
        }
    }

    #[test]
    fn digests_parse_but_are_not_tags() {
        let r = Reference::parse(&format!("busybox@sha256:{}", "0".repeat(64))).unwrap();
        assert!(r.digest().is_some());
        assert!(Reference::parse_tag(&format!("busybox@sha256:{}", "0".repeat(64))).is_err());
    }

    #[test]
    fn with_tag_replaces_and_validates() {
        let r = Reference::parse("busybox")
            .unwrap()
            .with_tag("1.0")
            .unwrap();
        assert_eq!(r.familiar_tagged(), "busybox:1.0");
        assert_eq!(r.tag(), Some("1.0"));
        assert!(Reference::parse("busybox")
            .unwrap()
            .with_tag("bad tag")
            .is_err());
    }
}
