//! The build corpus (`tests/build_corpus/*`: Dockerfiles of the shapes real projects use)
//! built by a real berthd, each image's config and history compared with what Docker 20.10's
//! classic builder recorded for the same Dockerfile (`expected.json`, made by `record.sh`).
//! Content checksums in COPY/ADD history (`file:<sum>`) are compared by form only: they hash
//! the client's tar headers, and the docker CLI's differ from this test's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stderr,
    reason = "integration tests panic on failure by design"
)]

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_test_support::{require_root, TestDaemon};
use serde_json::{json, Value};

/// The context as the docker CLI sends it: `.dockerignore` applied (build files kept).
fn context_tar(dir: &Path) -> Vec<u8> {
    let patterns = std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|t| berth_dockerignore::read_patterns(&t))
        .unwrap_or_default();
    let mut patterns = patterns;
    patterns.push("!Dockerfile".into());
    patterns.push("!.dockerignore".into());
    let m = berth_dockerignore::Matcher::new(&patterns).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(&rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names.into_iter().rev() {
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if ["expected.json", "build.args"].contains(&child.as_str()) {
                continue;
            }
            let meta = std::fs::symlink_metadata(dir.join(&child)).unwrap();
            let excluded = m.matches_or_parent_matches(&child);
            if meta.is_dir() {
                stack.push(child.clone());
            }
            if excluded {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_mode(meta.mode() & 0o7777);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            if meta.is_dir() {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{child}/"), std::io::empty())
                    .unwrap();
            } else {
                let data = std::fs::read(dir.join(&child)).unwrap();
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &child, &data[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// The raw image config, from `docker save`'s archive (the file its manifest names).
fn image_config(d: &TestDaemon, id: &str) -> Value {
    let r = d.req("GET", &format!("/images/{id}/get"), "");
    assert_eq!(r.status, 200);
    let mut files = std::collections::HashMap::new();
    for e in tar::Archive::new(&r.body[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config = manifest[0]["Config"].as_str().unwrap();
    serde_json::from_slice(&files[config]).unwrap()
}

/// null, absent, `""`, `[]` and `{}` mean the same setting; zero durations are absent.
fn normal(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null() && x != &&json!(0))
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect(),
        ),
        Value::Bool(false) => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    }
}

fn mask_sums(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = ["file:", "dir:", "multi:"]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
        .min()
    {
        let (at, len) = i;
        let hex: String = rest[at + len..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        out.push_str(&rest[..at + len]);
        if hex.len() == 64 {
            out.push_str("<sum>");
        } else {
            out.push_str(&hex);
        }
        rest = &rest[at + len + hex.len()..];
    }
    out.push_str(rest);
    out
}

/// What differs between berth's image and the recorded one.
fn differences(expected: &Value, cfg: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    for (k, want) in expected["config"].as_object().unwrap() {
        let got = &cfg["config"][k];
        if normal(want) != normal(got) {
            diffs.push(format!("config.{k}: want {want}, got {got}"));
        }
    }
    let got_h: Vec<Value> = cfg["history"].as_array().unwrap().clone();
    let want_h = expected["history"].as_array().unwrap();
    if got_h.len() != want_h.len() {
        diffs.push(format!(
            "history: want {} entries, got {}",
            want_h.len(),
            got_h.len()
        ));
    }
    for (i, (w, g)) in want_h.iter().zip(&got_h).enumerate() {
        let by = |h: &Value| mask_sums(h["created_by"].as_str().unwrap_or(""));
        let empty = |h: &Value| h["empty_layer"].as_bool().unwrap_or(false);
        if by(w) != by(g) || empty(w) != empty(g) || w["comment"] != g["comment"] {
            diffs.push(format!("history[{i}]: want {w}, got {g}"));
        }
    }
    let layers = cfg["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    if expected["layers"].as_u64() != Some(layers as u64) {
        diffs.push(format!("layers: want {}, got {layers}", expected["layers"]));
    }
    diffs
}

#[test]
fn the_corpus_builds_to_what_the_classic_builder_records() {
    require_root!();
    let d = TestDaemon::with_busybox("corpus");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build_corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let args: serde_json::Map<String, Value> = std::fs::read_to_string(dir.join("build.args"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let query = format!(
            "t=corpus-{name}&buildargs={}",
            form_urlencoded::byte_serialize(Value::Object(args).to_string().as_bytes())
                .collect::<String>()
        );
        let r = d
            .try_request("POST", &format!("/v1.41/build?{query}"), &context_tar(dir))
            .unwrap();
        let text = r.text();
        let Some(id) = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                v.pointer("/aux/ID")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .next()
        else {
            failures.push(format!("{name}: build failed: {text}"));
            continue;
        };
        if text.contains("errorDetail") {
            failures.push(format!("{name}: {text}"));
            continue;
        }
        let diffs = differences(&expected, &image_config(&d, &id));
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    eprintln!(
        "corpus: {} Dockerfiles, {} match",
        cases.len(),
        cases.len() - failures.len()
    );
    assert!(
        cases.len() >= 20,
        "the corpus has only {} Dockerfiles",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
