//! Bounded, seeded fuzzing of every entry point: valid seeds, mutated bytewise, and for tar
//! streams structurally (types, names, links, sizes changed with valid checksums, so the
//! mutations reach the unpacker instead of dying in the header parser). A failure prints the
//! seed and the iteration; `BERTH_FUZZ_ITERS=<n>` runs longer, `BERTH_FUZZ_SEED=<n>` varies.

use super::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn iterations(default: usize) -> usize {
    std::env::var("BERTH_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("BERTH_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f00d_cafe_d00d)
}

const INTERESTING: [u8; 12] = [
    0, 1, 0x7f, 0x80, 0xc0, 0xff, b'/', b'.', b'"', b'{', b':', b'\\',
];

/// One bytewise mutation of `input`, sometimes spliced with another seed.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                input.insert(i, *rng.pick(&INTERESTING));
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1);
                input.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                let chunk: Vec<u8> = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            4 => input.truncate(rng.below(len + 1)),
            5 => {
                let other = rng.pick(seeds);
                let at = rng.below(other.len() + 1);
                input.extend_from_slice(&other[at..]);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                input[i] = *rng.pick(&INTERESTING);
            }
            _ => input.push(*rng.pick(&INTERESTING)),
        }
    }
}

/// Runs `target` on every seed and on `n` mutations of them.
fn fuzz(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>], n: usize, structured: bool) {
    let base = seed();
    let mut rng = Rng(base | 1);
    for s in seeds {
        target(s);
    }
    for i in 0..iterations(n) {
        let mut input = rng.pick(seeds).clone();
        if structured && rng.below(3) != 0 {
            input = mutate_tar(&mut rng, &input);
        } else {
            mutate(&mut rng, &mut input, seeds);
        }
        let run = std::panic::catch_unwind(|| target(&input));
        assert!(
            run.is_ok(),
            "{name}: panicked at iteration {i} (BERTH_FUZZ_SEED={base}); input {} bytes: {:?}",
            input.len(),
            &input[..input.len().min(256)]
        );
    }
}

/// A tar whose entries are rebuilt with one field changed: type, name, link, size or mode.
fn mutate_tar(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const NAMES: [&str; 10] = [
        "..",
        "../x",
        "/abs/file",
        "a/../../b",
        "./",
        "dir/.wh.file",
        "dir/.wh..wh..opq",
        "link/through",
        "a//b/./c",
        "x",
    ];
    let mut entries: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(seed);
    if let Ok(iter) = archive.entries() {
        for e in iter.flatten() {
            let mut e = e;
            let mut data = Vec::new();
            let _ = std::io::Read::read_to_end(&mut e, &mut data);
            entries.push((e.header().clone(), data));
        }
    }
    if entries.is_empty() {
        return seed.to_vec();
    }
    let i = rng.below(entries.len());
    let (h, data) = &mut entries[i];
    match rng.below(7) {
        0 => h.set_entry_type(*rng.pick(&[
            tar::EntryType::Regular,
            tar::EntryType::Directory,
            tar::EntryType::Symlink,
            tar::EntryType::Link,
            tar::EntryType::Char,
            tar::EntryType::Fifo,
            tar::EntryType::new(b'Z'),
        ])),
        1 => set_raw(&mut h.as_old_mut().name, rng.pick(&NAMES).as_bytes()),
        2 => set_raw(&mut h.as_old_mut().linkname, rng.pick(&NAMES).as_bytes()),
        3 => h.set_size(rng.next() % 4096),
        4 => h.set_mode(u32::try_from(rng.next() & 0o7777).unwrap()),
        5 => data.truncate(rng.below(data.len() + 1)),
        _ => {
            let dup = entries[i].clone();
            let at = rng.below(entries.len() + 1);
            entries.insert(at, dup);
        }
    }
    let mut out = Vec::new();
    for (mut h, data) in entries {
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn set_raw(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

fn tar_seeds() -> Vec<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |kind: tar::EntryType, name: &str, link: Option<&str>, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        match link {
            Some(l) => b.append_link(&mut h, name, l).unwrap(),
            None => b.append_data(&mut h, name, data).unwrap(),
        }
    };
    add(tar::EntryType::Directory, "dir", None, b"");
    add(tar::EntryType::Regular, "dir/file", None, b"content");
    add(tar::EntryType::Symlink, "link", Some("dir"), b"");
    add(tar::EntryType::Link, "hard", Some("dir/file"), b"");
    add(tar::EntryType::Regular, "dir/.wh.gone", None, b"");
    add(tar::EntryType::Fifo, "pipe", None, b"");
    let full = b.into_inner().unwrap();
    let mut escape = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    escape.append_link(&mut h, "x", "/").unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(1);
    escape.append_data(&mut h, "x/planted", &b"p"[..]).unwrap();
    vec![full, escape.into_inner().unwrap(), Vec::new()]
}

#[test]
fn dns_queries_never_panic() {
    let q = |name: &str, qtype: u8| {
        let mut p = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            p.push(u8::try_from(l.len()).unwrap());
            p.extend_from_slice(l.as_bytes());
        }
        p.extend_from_slice(&[0, 0, qtype, 0, 1]);
        p
    };
    let seeds = vec![q("web", 1), q("db.appnet", 28), q("a.b.c.d.example.com", 1)];
    fuzz("dns", dns_query, &seeds, 50_000, false);
}

#[test]
fn layer_tars_never_panic_nor_write_outside() {
    fuzz("layer", layer_tar, &tar_seeds(), 1_500, true);
}

#[test]
fn copy_tars_never_panic_nor_write_outside() {
    fuzz("copy", copy_tar, &tar_seeds(), 1_500, true);
}

#[test]
fn image_references_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        "busybox",
        "docker.io/library/busybox:latest",
        "localhost:5000/a/b-c_d.e:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "[::1]:5000/x",
        "UPPER/case",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("reference", image_reference, &seeds, 50_000, false);
}

#[test]
fn filter_queries_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        r#"filters={"label":["a=b"],"status":["running"]}"#,
        r#"filters={"status":{"exited":true}}&all=1&limit=5"#,
        "filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
        "limit=-1&filters=",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("filters", filters, &seeds, 50_000, false);
}

#[test]
fn create_bodies_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        r#"{"Image":"busybox","Cmd":["sh"],"Env":["A=1"],"ExposedPorts":{"80/tcp":{}}}"#,
        r#"{"Image":"busybox","HostConfig":{"Binds":["/a:/b:ro","v:/c"],"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"Memory":1048576,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},"Tmpfs":{"/t":"size=1m"},"Mounts":[{"Type":"volume","Source":"x","Target":"/x"}]}}"#,
        r#"{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":["a"]}}},"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000}}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("create", create_container, &seeds, 20_000, false);
}
