//! Content checksums of COPY and ADD sources, as the classic builder computes them for its
//! cache and for history (`COPY file:<sum> in /dest`): buildkit's "tarsum v1" of one entry, a
//! sha256 over selected tar header fields followed by the file's bytes.

use sha2::{Digest, Sha256};

/// The header fields tarsum v1 hashes, in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryHeader {
    /// The name exactly as the tar (or, for files on disk, Go's `FileInfoHeader`) gives it.
    pub name: String,
    pub mode: u64,
    pub uid: u64,
    pub gid: u64,
    /// Content size (0 for anything but a regular file).
    pub size: u64,
    /// The tar type flag (`b'0'` file, `b'5'` directory, `b'2'` symlink, ...).
    pub typeflag: u8,
    pub linkname: String,
    /// User and group names: blank for a context tar (tarsum blanks them), looked up for
    /// files on disk (the lazy source hashes them).
    pub uname: String,
    pub gname: String,
    pub devmajor: u64,
    pub devminor: u64,
    /// Extended attributes (`SCHILY.xattr.*` PAX records), sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl EntryHeader {
    /// A hasher primed with this header; feed it the content, then [`finish`].
    pub fn hasher(&self) -> Sha256 {
        let mut h = Sha256::new();
        let fields: [(&str, String); 11] = [
            ("name", self.name.clone()),
            ("mode", self.mode.to_string()),
            ("uid", self.uid.to_string()),
            ("gid", self.gid.to_string()),
            ("size", self.size.to_string()),
            ("typeflag", (self.typeflag as char).to_string()),
            ("linkname", self.linkname.clone()),
            ("uname", self.uname.clone()),
            ("gname", self.gname.clone()),
            ("devmajor", self.devmajor.to_string()),
            ("devminor", self.devminor.to_string()),
        ];
        for (k, v) in fields {
            h.update(k.as_bytes());
            h.update(v.as_bytes());
        }
        let mut xattrs = self.xattrs.clone();
        xattrs.sort();
        for (k, v) in xattrs {
            h.update(k.as_bytes());
            h.update(&v);
        }
        h
    }
}

/// The hex digest of a primed hasher.
pub fn finish(h: Sha256) -> String {
    hex::encode(h.finalize())
}

/// The checksum of an entry whose whole content is `content`.
pub fn sum(header: &EntryHeader, content: &[u8]) -> String {
    let mut h = header.hasher();
    h.update(content);
    finish(h)
}

/// `prefix:<sha256 of the sums joined by commas>`: a directory (`dir`) or several sources
/// (`multi`).
pub fn combine(prefix: &str, sums: &[String]) -> String {
    format!(
        "{prefix}:{}",
        hex::encode(Sha256::digest(sums.join(",").as_bytes()))
    )
}

/// The tar type bits Docker 20.10's archive package adds to a header's mode for files on disk
/// (`fillGo18FileTypeBits`), with the permission and set-id bits.
pub fn go_header_mode(st_mode: u32) -> u64 {
    u64::from(st_mode & 0o177_777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_file_sums_as_dockerd_summed_it() {
        // `./sub/file.txt` (0644, root, "hello\n") in a GNU tar: dockerd 20.10 wrote
        // `COPY file:686f25cb… in ./` for it.
        let header = EntryHeader {
            name: "./sub/file.txt".into(),
            mode: 0o644,
            size: 6,
            typeflag: b'0',
            ..Default::default()
        };
        assert_eq!(
            sum(&header, b"hello\n"),
            "686f25cb66712604caf9ba82f1a86afff4951af2950e51ec1f3c67a786a81b79"
        );
    }

    #[test]
    fn combined_sums_join_with_commas() {
        let a = combine("dir", &["x".into(), "y".into()]);
        assert_eq!(a, format!("dir:{}", hex::encode(Sha256::digest(b"x,y"))));
        assert_ne!(a, combine("multi", &["x".into(), "y".into()]));
    }

    #[test]
    fn header_modes_keep_type_and_set_id_bits() {
        assert_eq!(go_header_mode(0o100_644), 0o100_644);
        assert_eq!(go_header_mode(0o104_755), 0o104_755);
        assert_eq!(go_header_mode(0o040_755), 0o040_755);
    }
}
