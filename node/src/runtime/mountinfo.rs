//! Lines of `/proc/<pid>/mountinfo`: mount point, propagation fields and filesystem type.

use std::path::{Path, PathBuf};

/// One mount, as a mountinfo line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry<'a> {
    /// Mount point, octal escapes decoded.
    pub point: PathBuf,
    /// The optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<&'a str>,
    pub fstype: &'a str,
}

impl MountEntry<'_> {
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|f| f.starts_with("shared:"))
    }

    pub fn is_slave(&self) -> bool {
        self.optional.iter().any(|f| f.starts_with("master:"))
    }
}

/// Parses one line; `None` for a line the kernel would not write.
pub fn parse_line(line: &str) -> Option<MountEntry<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let mut fields = left.split(' ');
    let point = fields.nth(4)?;
    // Field 6 is the mount's options; the optional fields follow it.
    let optional = fields.skip(1).collect();
    let fstype = right.split(' ').next()?;
    Some(MountEntry {
        point: PathBuf::from(unescape(point)),
        optional,
        fstype,
    })
}

/// The mount `path` lies on: the deepest mount point at or above it, the last one listed
/// when mounts are stacked.
pub fn containing<'a>(mountinfo: &'a str, path: &Path) -> Option<MountEntry<'a>> {
    let mut best: Option<MountEntry<'a>> = None;
    for entry in mountinfo.lines().filter_map(parse_line) {
        let deeper = best
            .as_ref()
            .is_none_or(|b| entry.point.components().count() >= b.point.components().count());
        if path.starts_with(&entry.point) && deeper {
            best = Some(entry);
        }
    }
    best
}

/// Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash) in mountinfo paths.
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .and_then(|c| std::str::from_utf8(c).ok());
        if let (b'\\', Some(code)) = (bytes[i], code) {
            if let Ok(b) = u8::from_str_radix(code, 8) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
80 22 254:0 /tmp/mx /tmp/mx rw,relatime shared:3 master:1 - ext4 /dev/vda rw
81 80 0:51 / /tmp/mx/sub\\040x rw,relatime - tmpfs t rw
82 22 254:0 /tmp/mx /tmp/mx rw,relatime master:3 - ext4 /dev/vda rw
";

    #[test]
    fn fields_and_escapes_are_read() {
        let e = parse_line(TABLE.lines().nth(1).unwrap()).unwrap();
        assert_eq!(e.point, Path::new("/tmp/mx"));
        assert_eq!(e.optional, vec!["shared:3", "master:1"]);
        assert_eq!(e.fstype, "ext4");
        assert!(e.is_shared() && e.is_slave());
        let sub = parse_line(TABLE.lines().nth(2).unwrap()).unwrap();
        assert_eq!(sub.point, Path::new("/tmp/mx/sub x"));
        assert!(sub.optional.is_empty());
    }

    #[test]
    fn the_deepest_and_last_mount_contains_a_path() {
        let m = containing(TABLE, Path::new("/tmp/mx/a")).unwrap();
        assert_eq!(m.optional, vec!["master:3"], "the mount stacked last");
        let root = containing(TABLE, Path::new("/tmp/mxy")).unwrap();
        assert_eq!(root.point, Path::new("/"));
        assert_eq!(
            containing(TABLE, Path::new("/tmp/mx/sub x/f"))
                .unwrap()
                .fstype,
            "tmpfs"
        );
    }
}
