//! Reclaiming space: `container prune`, `image prune` (docker's warning prompt unless `-f`, its
//! report and "Total reclaimed space") and `system df` (docker's summary table, `-v` details).

use std::io::{BufRead, Write};

use anyhow::Result;
use bollard::query_parameters::{PruneContainersOptionsBuilder, PruneImagesOptionsBuilder};
use clap::Args;
use serde_json::{json, Value};

use super::ps::{filters, short_id};
use crate::client::Client;
use crate::output::{render_rows, units};

/// `berth container prune` / `berth image prune`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones (image prune only)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth system df`
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// Docker's prompt; true only for an answer of `y` or `Y`.
pub(crate) fn confirm(warning: &str) -> Result<bool> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y"))
}

/// go-units `HumanSize` (four significant digits), as the prune report and `df` print sizes.
pub(crate) fn size(bytes: i64) -> String {
    units::human_size(bytes.max(0) as f64, 4)
}

/// `berth container prune`
pub async fn prune_containers(client: &Client, args: PruneArgs) -> Result<i32> {
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let options = PruneContainersOptionsBuilder::new()
        .filters(&filters(&args.filter))
        .build();
    let report = client.docker()?.prune_containers(Some(options)).await?;
    let deleted = report.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:\n{}\n", deleted.join("\n"));
    }
    println!(
        "Total reclaimed space: {}",
        size(report.space_reclaimed.unwrap_or(0))
    );
    Ok(0)
}

/// `berth image prune`
pub async fn prune_images(client: &Client, args: PruneArgs) -> Result<i32> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning)? {
        return Ok(0);
    }
    let mut map = filters(&args.filter);
    map.entry("dangling".into())
        .or_insert_with(|| vec![(!args.all).to_string()]);
    let options = PruneImagesOptionsBuilder::new().filters(&map).build();
    let report = client.docker()?.prune_images(Some(options)).await?;
    let deleted = report.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for item in deleted {
            match (item.untagged, item.deleted) {
                (Some(u), _) if !u.is_empty() => println!("untagged: {u}"),
                (_, Some(d)) => println!("deleted: {d}"),
                _ => {}
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        size(report.space_reclaimed.unwrap_or(0))
    );
    Ok(0)
}

fn i(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

fn with_percent(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", size(reclaimable), reclaimable * 100 / total)
    } else {
        size(reclaimable)
    }
}

fn is_active_state(state: &str) -> bool {
    ["running", "paused", "restarting"]
        .iter()
        .any(|s| state.contains(s))
}

/// The four summary rows of `docker system df`, from the API's `/system/df` JSON.
pub fn summary_rows(df: &Value) -> Vec<Value> {
    let list = |k: &str| df[k].as_array().cloned().unwrap_or_default();
    let (images, containers, volumes, cache) = (
        list("Images"),
        list("Containers"),
        list("Volumes"),
        list("BuildCache"),
    );
    let layers = i(df, "LayersSize");
    let used: i64 = images
        .iter()
        .filter(|m| i(m, "Containers") > 0 && i(m, "Size") != -1 && i(m, "SharedSize") != -1)
        .map(|m| i(m, "Size") - i(m, "SharedSize"))
        .sum();
    let active_images = images.iter().filter(|m| i(m, "Containers") > 0).count();
    let container_size: i64 = containers.iter().map(|c| i(c, "SizeRw")).sum();
    let active = |c: &Value| is_active_state(c["State"].as_str().unwrap_or(""));
    let idle_size: i64 = containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| i(c, "SizeRw"))
        .sum();
    let volume_size = |v: &Value| i(&v["UsageData"], "Size").max(0);
    let in_use = |v: &Value| i(&v["UsageData"], "RefCount") > 0;
    let volumes_size: i64 = volumes.iter().map(volume_size).sum();
    let idle_volumes: i64 = volumes.iter().filter(|v| !in_use(v)).map(volume_size).sum();
    let cache_size: i64 = cache
        .iter()
        .filter(|b| b["Shared"] != json!(true))
        .map(|b| i(b, "Size"))
        .sum();
    let cache_idle: i64 = cache
        .iter()
        .filter(|b| b["InUse"] != json!(true))
        .map(|b| i(b, "Size"))
        .sum();
    let row = |typ: &str, total: usize, active: usize, size_text: String, reclaim: String| {
        json!({"Type": typ, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": size_text, "Reclaimable": reclaim})
    };
    vec![
        row(
            "Images",
            images.len(),
            active_images,
            size(layers),
            with_percent(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| active(c)).count(),
            size(container_size),
            with_percent(idle_size, container_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| in_use(v)).count(),
            size(volumes_size),
            with_percent(idle_volumes, volumes_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| b["InUse"] == json!(true)).count(),
            size(cache_size),
            size(cache_idle),
        ),
    ]
}

/// `berth system df`
pub async fn df(client: &Client, args: DfArgs) -> Result<i32> {
    if args.verbose && args.format.as_deref().is_some_and(|f| f != "table") {
        anyhow::bail!(
            "--verbose with a custom --format is not supported by berth: use one of them"
        );
    }
    let usage = client.get_json("/system/df").await?;
    let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                        "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    let format = args
        .format
        .as_deref()
        .unwrap_or("table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}");
    print!("{}", render_rows(format, &header, &summary_rows(&usage))?);
    if args.verbose {
        print!("{}", verbose_text(&usage));
    }
    Ok(0)
}

fn verbose_text(df: &Value) -> String {
    let mut out = String::from("\nImages space usage:\n\n");
    out.push_str("REPOSITORY\tTAG\tIMAGE ID\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n");
    for m in df["Images"].as_array().into_iter().flatten() {
        let id = short_id(m["Id"].as_str().unwrap_or("").trim_start_matches("sha256:"));
        let tags: Vec<&str> = m["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>"]
        } else {
            tags
        };
        for tag in tags {
            let (repo, tagname) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
            let (total, shared) = (i(m, "Size"), i(m, "SharedSize"));
            out.push_str(&format!(
                "{repo}\t{tagname}\t{id}\t{}\t{}\t{}\t{}\n",
                size(total),
                size(shared),
                size(total - shared),
                i(m, "Containers")
            ));
        }
    }
    out.push_str("\nContainers space usage:\n\nCONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tSTATUS\tNAMES\n");
    for c in df["Containers"].as_array().into_iter().flatten() {
        let names: Vec<&str> = c["Names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|n| n.trim_start_matches('/'))
            .collect();
        out.push_str(&format!(
            "{}\t{}\t\"{}\"\t0\t{}\t{}\t{}\n",
            short_id(c["Id"].as_str().unwrap_or("")),
            c["Image"].as_str().unwrap_or(""),
            c["Command"].as_str().unwrap_or(""),
            size(i(c, "SizeRw")),
            c["Status"].as_str().unwrap_or(""),
            names.join(",")
        ));
    }
    crate::output::table::tabwrite(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_summary_counts_active_and_reclaimable_like_docker() {
        let df = json!({
            "LayersSize": 10_000_000,
            "Images": [
                {"Id": "sha256:a", "Size": 6_000_000, "SharedSize": 0, "Containers": 1},
                {"Id": "sha256:b", "Size": 4_000_000, "SharedSize": 0, "Containers": 0}],
            "Containers": [
                {"Id": "c1", "State": "running", "SizeRw": 1000},
                {"Id": "c2", "State": "exited", "SizeRw": 3000}],
            "Volumes": [], "BuildCache": [],
        });
        let rows = summary_rows(&df);
        assert_eq!(
            rows[0],
            json!({"Type": "Images", "TotalCount": "2", "Active": "1",
            "Size": "10MB", "Reclaimable": "4MB (40%)"})
        );
        assert_eq!(rows[1]["Active"], "1");
        assert_eq!(rows[1]["Size"], "4kB");
        assert_eq!(rows[1]["Reclaimable"], "3kB (75%)");
        assert_eq!(rows[2]["Reclaimable"], "0B");
        assert_eq!(rows[3]["TotalCount"], "0");
    }

    #[test]
    fn df_table_reads_like_docker() {
        let df = json!({"LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuildCache": []});
        let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                            "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
        let out = render_rows(
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
            &header,
            &summary_rows(&df),
        )
        .unwrap();
        assert_eq!(
            out.lines().next().unwrap(),
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
        );
        assert_eq!(
            out.lines().nth(3).unwrap(),
            "Local Volumes   0         0         0B        0B"
        );
    }

    #[test]
    fn reclaimed_space_uses_four_digits() {
        assert_eq!(size(1_234_567), "1.235MB");
        assert_eq!(size(0), "0B");
    }
}
