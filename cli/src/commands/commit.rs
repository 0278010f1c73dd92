//! `berth commit` (`POST /commit`) and `berth builder prune` (`POST /build/prune`).

use anyhow::Result;
use clap::Args;

use super::build::post_json;
use crate::client::Client;
use crate::stream::escape;

/// `berth commit`
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// CONTAINER
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth commit`: prints the new image's id.
pub async fn commit(client: &Client, a: CommitArgs) -> Result<i32> {
    let mut q = vec![
        format!("container={}", escape(&a.container)),
        format!("pause={}", a.pause),
    ];
    if let Some(r) = &a.reference {
        // The whole reference goes in `repo`, as docker sends it; the daemon splits the tag.
        let (repo, tag) = match r.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((repo, tag)) => (repo.to_string(), tag.to_string()),
            None => (r.clone(), String::new()),
        };
        q.push(format!("repo={}", escape(&repo)));
        q.push(format!("tag={}", escape(&tag)));
    }
    for (k, v) in [("author", &a.author), ("comment", &a.message)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", escape(v)));
        }
    }
    q.extend(a.changes.iter().map(|c| format!("changes={}", escape(c))));
    let body = post_json(client, &format!("/commit?{}", q.join("&")), b"null").await?;
    println!("{}", body["Id"].as_str().unwrap_or_default());
    Ok(0)
}

/// `berth builder prune`
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth builder prune`: asks first unless `-f`, then prints what went.
pub async fn builder_prune(client: &Client, a: BuilderPruneArgs) -> Result<i32> {
    if !a.force {
        let what = if a.all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        if !super::prune::confirm(&format!("WARNING! This will remove {what}."))? {
            return Ok(0);
        }
    }
    let body = post_json(client, &format!("/build/prune?all={}", a.all), b"").await?;
    if let Some(ids) = body["CachesDeleted"].as_array().filter(|v| !v.is_empty()) {
        println!("Deleted build cache objects:");
        for id in ids {
            println!("{}", id.as_str().unwrap_or_default());
        }
        println!();
    }
    let freed = body["SpaceReclaimed"].as_u64().unwrap_or(0);
    #[allow(
        clippy::cast_precision_loss,
        reason = "a size shown with 3 significant digits"
    )]
    let freed = crate::output::units::human_size(freed as f64, 3);
    println!("Total reclaimed space: {freed}");
    Ok(0)
}
