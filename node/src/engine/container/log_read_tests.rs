//! Rotated segments and the backwards tail.

use std::io::Write;

use super::*;
use crate::runtime::logfile::{LogWriter, Stream};

fn all(_: &Entry, _: &LogsRequest) -> bool {
    true
}

fn stdout_only(e: &Entry, _: &LogsRequest) -> bool {
    e.stream == Stream::Stdout
}

fn log_of(lines: usize, dir: &Path) -> PathBuf {
    let path = dir.join("container.log");
    let w = LogWriter::new(File::create(&path).unwrap());
    for i in 0..lines {
        let stream = if i % 3 == 0 {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        w.write(stream, format!("line {i}\n").as_bytes()).unwrap();
    }
    path
}

#[test]
fn the_tail_starts_at_the_nth_wanted_line_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_of(20_000, dir.path());
    let req = LogsRequest::default();
    let mut f = File::open(&path).unwrap();
    let (offset, found) = tail_start(&mut f, 3, &req, all).unwrap();
    assert_eq!(found, 3);
    let rest = std::fs::read(&path).unwrap()[usize::try_from(offset).unwrap()..].to_vec();
    let logs: Vec<String> = parse_lines(&rest).into_iter().map(|e| e.log).collect();
    assert_eq!(logs, vec!["line 19997\n", "line 19998\n", "line 19999\n"]);
    let (offset, found) = tail_start(&mut f, 2, &req, stdout_only).unwrap();
    let rest = std::fs::read(&path).unwrap()[usize::try_from(offset).unwrap()..].to_vec();
    assert_eq!(found, 2);
    let wanted = parse_lines(&rest)
        .into_iter()
        .filter(|e| e.stream == Stream::Stdout)
        .count();
    assert_eq!(wanted, 2, "19997 and 19999 are stdout, 19998 stderr");
    assert_eq!(
        tail_start(&mut f, 1_000_000, &req, all).unwrap(),
        (0, 20_000)
    );
}

/// A line the monitor is half-way through writing.
fn append_torn_line(path: &std::path::Path) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(br#"{"log":"half"#)
        .unwrap();
}

#[test]
fn a_torn_last_line_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_of(5, dir.path());
    append_torn_line(&path);
    let mut f = File::open(&path).unwrap();
    let (offset, found) = tail_start(&mut f, 1, &LogsRequest::default(), all).unwrap();
    assert_eq!(found, 1);
    let rest = std::fs::read(&path).unwrap()[usize::try_from(offset).unwrap()..].to_vec();
    assert_eq!(parse_lines(&rest)[0].log, "line 4\n");
}

#[test]
fn a_tail_of_zero_starts_after_the_last_whole_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_of(5, dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = File::open(&path).unwrap();
    assert_eq!(
        tail_start(&mut f, 0, &LogsRequest::default(), all).unwrap(),
        (len, 0)
    );
    append_torn_line(&path);
    assert_eq!(
        tail_start(&mut f, 0, &LogsRequest::default(), all).unwrap(),
        (len, 0)
    );
}

#[test]
fn rotated_segments_are_listed_oldest_first_and_read_gzipped_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("container.log");
    let rot = crate::runtime::log_rotate::Rotation {
        max_size: 200,
        max_file: 4,
        compress: true,
    };
    let w = LogWriter::rotating(
        crate::runtime::log_rotate::open_log(&path).unwrap(),
        path.clone(),
        rot,
    );
    for i in 0..12 {
        w.write(Stream::Stdout, format!("entry {i}\n").as_bytes())
            .unwrap();
    }
    let segs = rotated_segments(&path);
    assert_eq!(segs.len(), 3, "{segs:?}");
    let gz = |s: &PathBuf| s.extension().is_some_and(|e| e == "gz");
    assert!(segs[..2].iter().all(gz) && !gz(&segs[2]), "{segs:?}");
    let mut seen = Vec::new();
    for s in &segs {
        let mut r = SegmentReader::open(s).unwrap();
        loop {
            let e = r.next_entries().unwrap();
            if e.is_empty() {
                break;
            }
            seen.extend(e.into_iter().map(|e| e.log));
        }
    }
    seen.extend(
        parse_lines(&std::fs::read(&path).unwrap())
            .into_iter()
            .map(|e| e.log),
    );
    let last = seen.last().cloned().unwrap();
    assert_eq!(last, "entry 11\n");
    let numbers: Vec<usize> = seen
        .iter()
        .map(|l| l.trim().trim_start_matches("entry ").parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "in order: {numbers:?}"
    );
    let mut first = String::new();
    flate2::read::GzDecoder::new(File::open(&segs[0]).unwrap())
        .read_to_string(&mut first)
        .unwrap();
    let counted = SegmentReader::open(&segs[0])
        .unwrap()
        .count_wanted(&LogsRequest::default(), all)
        .unwrap();
    assert_eq!(counted, parse_lines(first.as_bytes()).len());
}
