//! `berth system prune`: docker's confirmation (what goes, and the filters it will apply), then
//! stopped containers, unused networks, anonymous volumes (`--volumes`), images (dangling, or
//! every unused one with `-a`) and build cache, in docker's order, each through its own prune
//! endpoint with the same filters; each section's report and "Total reclaimed space". A filter
//! an endpoint does not know is refused by the daemon, in docker's words, before anything goes:
//! containers are pruned first and their endpoint knows the fewest filters.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{bail, Result};
use bollard::query_parameters::{
    PruneContainersOptionsBuilder, PruneImagesOptionsBuilder, PruneNetworksOptionsBuilder,
    PruneVolumesOptionsBuilder,
};
use clap::Args;

use super::build::post_json;
use super::prune::{confirm, size};
use crate::client::Client;
use crate::output::natural::natural_cmp;
use crate::stream::escape;

/// `berth system prune`
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// One `--filter name=value`, as docker's `FilterOpt` reads it: the name lower-cased, both
/// halves trimmed; without `=` it is a usage error.
pub fn parse_filter(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) => Ok((k.trim().to_lowercase(), v.trim().to_string())),
        None => Err("bad format of filter (expected name=value)".to_string()),
    }
}

/// The filters as a set per name (docker's `filters.Args`: a value given twice counts once).
fn filter_map(list: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (k, v) in list {
        map.entry(k.clone()).or_default().insert(v.clone());
    }
    map
}

fn as_query(map: &BTreeMap<String, BTreeSet<String>>) -> HashMap<String, Vec<String>> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
        .collect()
}

/// The warning docker prints before asking (everything but its last line, "Are you sure you
/// want to continue?"). Only the label, label! and until filters are listed, as docker lists
/// them: `name=value`, in natural order.
pub fn warning(all: bool, volumes: bool, filters: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from("WARNING! This will remove:\n");
    let mut items = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if volumes {
        items.push("all anonymous volumes not used by at least one container");
    }
    items.push(if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    items.push(if all {
        "all build cache"
    } else {
        "unused build cache"
    });
    for item in items {
        out.push_str(&format!("  - {item}\n"));
    }
    let mut shown: Vec<String> = ["label", "label!", "until"]
        .iter()
        .flat_map(|name| {
            filters
                .get(*name)
                .into_iter()
                .flatten()
                .map(move |v| format!("{name}={v}"))
        })
        .collect();
    shown.sort_by(|a, b| natural_cmp(a, b));
    if !shown.is_empty() {
        out.push_str("\n  Items to be pruned will be filtered with:\n");
        for f in shown {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    out
}

/// A section of the report: its title and the ids or names, one a line.
fn section(title: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("{title}:\n");
    for item in items {
        out.push_str(item);
        out.push('\n');
    }
    out
}

/// `berth system prune`
pub async fn system_prune(client: &Client, args: SystemPruneArgs) -> Result<i32> {
    let filters = filter_map(&args.filter);
    // Docker refuses this before asking: volume prune has no until filter.
    if args.volumes && filters.contains_key("until") {
        bail!(r#"ERROR: The "until" filter is not supported with "--volumes""#);
    }
    if !args.force && !confirm(&warning(args.all, args.volumes, &filters))? {
        return Ok(0);
    }
    let docker = client.docker()?;
    let query = as_query(&filters);
    let mut reclaimed: i64 = 0;
    // Each section ends in a newline and is printed with one more, as docker prints it.
    let print = |text: String| {
        if !text.is_empty() {
            println!("{text}");
        }
    };

    let options = PruneContainersOptionsBuilder::new().filters(&query).build();
    let report = docker.prune_containers(Some(options)).await?;
    let ids = report.containers_deleted.unwrap_or_default();
    if !ids.is_empty() {
        reclaimed += report.space_reclaimed.unwrap_or(0);
    }
    print(section("Deleted Containers", &ids));

    let options = PruneNetworksOptionsBuilder::new().filters(&query).build();
    let report = docker.prune_networks(Some(options)).await?;
    print(section(
        "Deleted Networks",
        &report.networks_deleted.unwrap_or_default(),
    ));

    if args.volumes {
        let options = PruneVolumesOptionsBuilder::new().filters(&query).build();
        let report = docker.prune_volumes(Some(options)).await?;
        let names = report.volumes_deleted.unwrap_or_default();
        if !names.is_empty() {
            reclaimed += report.space_reclaimed.unwrap_or(0);
        }
        print(section("Deleted Volumes", &names));
    }

    let mut image_query = query.clone();
    image_query
        .entry("dangling".into())
        .or_default()
        .push((!args.all).to_string());
    let options = PruneImagesOptionsBuilder::new()
        .filters(&image_query)
        .build();
    let report = docker.prune_images(Some(options)).await?;
    let items = report.images_deleted.unwrap_or_default();
    if !items.is_empty() {
        reclaimed += report.space_reclaimed.unwrap_or(0);
        let lines: Vec<String> = items
            .iter()
            .map(|item| match &item.untagged {
                Some(u) if !u.is_empty() => format!("untagged: {u}"),
                _ => format!("deleted: {}", item.deleted.as_deref().unwrap_or_default()),
            })
            .collect();
        print(section("Deleted Images", &lines));
    }

    let mut path = format!("/build/prune?all={}", args.all);
    if !query.is_empty() {
        path.push_str(&format!(
            "&filters={}",
            escape(&serde_json::to_string(&query)?)
        ));
    }
    let report = post_json(client, &path, b"").await?;
    let ids: Vec<String> = report["CachesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    reclaimed += report["SpaceReclaimed"].as_i64().unwrap_or(0);
    print(section("Deleted build cache objects", &ids));

    println!("Total reclaimed space: {}", size(reclaimed));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_lists_what_goes_in_dockers_words() {
        assert_eq!(
            warning(false, false, &BTreeMap::new()),
            "WARNING! This will remove:\n  - all stopped containers\n  \
             - all networks not used by at least one container\n  - all dangling images\n  \
             - unused build cache\n"
        );
        let all = warning(true, true, &BTreeMap::new());
        assert!(all.contains(
            "  - all anonymous volumes not used by at least one container\n  \
             - all images without at least one container associated to them\n  \
             - all build cache\n"
        ));
    }

    #[test]
    fn the_warning_lists_label_and_until_filters_in_natural_order() {
        let f = filter_map(&[
            ("label".into(), "keep=1".into()),
            ("until".into(), "1h".into()),
            ("label!".into(), "x".into()),
            ("label".into(), "a10".into()),
            ("label".into(), "a9".into()),
            ("label".into(), "a9".into()),
            ("other".into(), "y".into()),
        ]);
        let text = warning(false, false, &f);
        assert!(
            text.ends_with(
                "  - unused build cache\n\n  Items to be pruned will be filtered with:\n  \
                 - label!=x\n  - label=a9\n  - label=a10\n  - label=keep=1\n  - until=1h\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn filters_need_a_name_and_a_value() {
        assert_eq!(
            parse_filter(" Label = a=b ").unwrap(),
            ("label".into(), "a=b".into())
        );
        assert_eq!(
            parse_filter("168h").unwrap_err(),
            "bad format of filter (expected name=value)"
        );
    }

    #[test]
    fn sections_end_with_their_last_item() {
        assert_eq!(section("Deleted Networks", &[]), "");
        assert_eq!(
            section("Deleted Networks", &["a".into(), "b".into()]),
            "Deleted Networks:\na\nb\n"
        );
    }
}
