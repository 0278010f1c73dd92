//! Root-gated: `berth system prune` against a real berthd: docker's prompt (and the same bytes
//! as the docker CLI's when it is installed), the refusals docker makes (until with --volumes,
//! a filter no prune endpoint knows, a filter without `=`) with nothing removed, and the
//! removal itself in docker's order with its sections, label filters applied to every kind
//! (build cache included) and "Total reclaimed space"; and `/build/prune`'s until, label and
//! label! filters, which `system prune` sends it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use std::collections::BTreeSet;

use berth_test_support::{busybox_tar, require_root};
use common::{berth, has_docker, Cli};

const PLAIN_WARNING: &str = "WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all dangling images
  - unused build cache

Are you sure you want to continue? [y/N] ";

fn containers(cli: &Cli) -> BTreeSet<String> {
    cli.ok(&["ps", "-aq", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The lines of the report section `title` (up to the blank line that ends it).
fn section(out: &str, title: &str) -> BTreeSet<String> {
    out.split("\n\n")
        .find_map(|block| block.strip_prefix(&format!("{title}:\n")))
        .map(|rest| rest.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[test]
fn system_prune_asks_first_and_refuses_what_docker_refuses() {
    require_root!();
    let cli = Cli::start("sprunea");
    cli.import_busybox();
    let id = cli.ok(&["create", "busybox", "true"]).trim().to_string();

    for answer in [&b"n\n"[..], b"", b"yes\n"] {
        let r = cli.run_in(&berth(), &["system", "prune"], true, answer);
        assert_eq!(
            (r.code, r.out.as_str(), r.err.as_str()),
            (Some(0), PLAIN_WARNING, "")
        );
    }
    let args = [
        "system",
        "prune",
        "-a",
        "--volumes",
        "--filter",
        "label=keep=1",
        "--filter",
        "label!=x",
        "--filter",
        "label=a10",
        "--filter",
        "label=a9",
    ];
    let r = cli.run_in(&berth(), &args, true, b"n\n");
    assert_eq!(
        r.out,
        "WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
  - all anonymous volumes not used by at least one container
  - all images without at least one container associated to them
  - all build cache

  Items to be pruned will be filtered with:
  - label!=x
  - label=a9
  - label=a10
  - label=keep=1

Are you sure you want to continue? [y/N] "
    );
    if has_docker() {
        let docker = cli.run_in("docker".as_ref(), &args, true, b"n\n");
        assert_eq!(docker.out, r.out, "the docker CLI asks otherwise");
    } else {
        eprintln!("docker CLI: not installed; prompt not compared");
    }

    let r = cli.berth(&["system", "prune", "--volumes", "--filter", "until=1h"]);
    assert_eq!(
        (r.code, r.out.as_str(), r.err.as_str()),
        (
            Some(1),
            "",
            "ERROR: The \"until\" filter is not supported with \"--volumes\"\n"
        )
    );
    let r = cli.berth(&["system", "prune", "-f", "--filter", "foo=bar"]);
    assert_eq!(
        (r.code, r.out.as_str(), r.err.as_str()),
        (
            Some(1),
            "",
            "Error response from daemon: invalid filter 'foo'\n"
        )
    );
    let r = cli.berth(&["system", "prune", "-f", "--filter", "168h"]);
    assert_eq!(r.code, Some(125), "{}", r.err);
    assert!(
        r.err.contains("bad format of filter (expected name=value)"),
        "{}",
        r.err
    );
    assert_eq!(containers(&cli), BTreeSet::from([id]), "nothing may go");
}

#[test]
fn system_prune_removes_each_kind_in_dockers_order_and_honours_label_filters() {
    require_root!();
    let cli = Cli::start("spruneb");
    cli.import_busybox();
    let p = &cli.daemon.prefix;
    let keep = cli
        .ok(&["create", "--label", "keep=1", "busybox", "true"])
        .trim()
        .to_string();
    let gone = cli.ok(&["create", "busybox", "true"]).trim().to_string();
    let with_volume = cli
        .ok(&["create", "-v", "/data", "busybox", "true"])
        .trim()
        .to_string();
    let (net_keep, net_gone) = (format!("{p}-keep"), format!("{p}-gone"));
    cli.ok(&["network", "create", "--label", "keep=1", &net_keep]);
    cli.ok(&["network", "create", &net_gone]);
    let volume = cli.ok(&["volume", "ls", "-q"]).trim().to_string();
    assert!(!volume.is_empty(), "the anonymous volume of {with_volume}");
    let tar = busybox_tar(&cli.daemon.root);
    let dangling = cli
        .ok(&["import", tar.to_str().unwrap()])
        .trim()
        .to_string();

    // label!= keeps what carries the label, of every kind; the build cache takes it too.
    let out = cli.ok(&[
        "system",
        "prune",
        "-f",
        "--volumes",
        "--filter",
        "label!=keep=1",
    ]);
    let titles: Vec<&str> = out.lines().filter(|l| l.ends_with(':')).collect();
    assert_eq!(
        titles,
        [
            "Deleted Containers:",
            "Deleted Networks:",
            "Deleted Volumes:",
            "Deleted Images:",
        ],
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .is_some_and(|l| l.starts_with("Total reclaimed space: ")),
        "{out}"
    );
    assert_eq!(
        section(&out, "Deleted Containers"),
        BTreeSet::from([gone, with_volume])
    );
    assert_eq!(
        section(&out, "Deleted Networks"),
        BTreeSet::from([net_gone])
    );
    assert_eq!(section(&out, "Deleted Volumes"), BTreeSet::from([volume]));
    assert_eq!(
        section(&out, "Deleted Images"),
        BTreeSet::from([format!("deleted: {dangling}")])
    );
    assert_eq!(containers(&cli), BTreeSet::from([keep.clone()]));

    // -a: tagged images no container uses go too.
    let out = cli.ok(&["system", "prune", "-af"]);
    assert_eq!(section(&out, "Deleted Containers"), BTreeSet::from([keep]));
    assert_eq!(
        section(&out, "Deleted Networks"),
        BTreeSet::from([net_keep])
    );
    let images = section(&out, "Deleted Images");
    assert!(images.contains("untagged: busybox:latest"), "{out}");
    assert!(containers(&cli).is_empty());
    assert_eq!(cli.ok(&["images", "-q"]), "");
    let out = cli.ok(&["system", "prune", "-af"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
}

#[test]
fn build_cache_prune_selects_by_label_and_until() {
    require_root!();
    let cli = Cli::start("sprunec");
    cli.import_busybox();
    let ctx = cli.daemon.root.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nLABEL keep=1\nLABEL step=2\n",
    )
    .unwrap();
    cli.ok(&["build", "-q", "-t", "cached:1", ctx.to_str().unwrap()]);
    let prune = |filters: &str| {
        let path = format!(
            "/build/prune?all=1&filters={}",
            berth_test_support::urlencode(filters)
        );
        let r = cli.daemon.req("POST", &path, "");
        assert_eq!(r.status, 200, "{filters}: {}", r.text());
        r.json()["CachesDeleted"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .len()
    };
    // The LABEL keep=1 step carries the label; nothing made before the epoch.
    assert_eq!(prune(r#"{"label!":["keep=1"]}"#), 0);
    assert_eq!(prune(r#"{"until":["1970-01-02T00:00:00Z"]}"#), 0);
    assert_eq!(
        prune(r#"{"label":["keep=1"],"until":["2100-01-01T00:00:00Z"]}"#),
        1
    );
    let r = cli.daemon.req(
        "POST",
        &format!(
            "/build/prune?filters={}",
            berth_test_support::urlencode(r#"{"id":["x"]}"#)
        ),
        "",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "filter \"id\" is not supported by berth's build cache"
    );
}

#[test]
fn system_df_shows_the_verbose_sections_or_refuses_them_beside_a_custom_format() {
    require_root!();
    let cli = Cli::start("dfverbose");
    let out = cli.ok(&["system", "df", "-v"]);
    assert!(out.contains("Images space usage:"), "{out}");
    let r = cli.berth(&["system", "df", "-v", "--format", "{{.Type}}"]);
    assert_ne!(r.code, Some(0), "{}{}", r.out, r.err);
    assert!(
        r.err.contains("--verbose with a custom --format"),
        "{}",
        r.err
    );
}
