//! `berth history`: an image's layers, newest first, as `docker history` prints them.

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::client::Client;
use crate::output::{render_rows, units};

/// `berth history`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in machine-readable form
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// IMAGE
    pub image: String,
}

/// One row of the table from one API entry.
pub fn row(entry: &Value, now: i64, human: bool, no_trunc: bool) -> Value {
    let id = entry["Id"].as_str().unwrap_or("<missing>");
    let id = if no_trunc || id == "<missing>" {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    };
    let created = entry["Created"].as_i64().unwrap_or(0);
    let size = entry["Size"].as_i64().unwrap_or(0);
    let by = entry["CreatedBy"].as_str().unwrap_or("");
    let by = if no_trunc || by.chars().count() <= 45 {
        by.to_string()
    } else {
        format!("{}…", by.chars().take(44).collect::<String>())
    };
    json!({
        "ID": id,
        "CreatedSince": if human { units::ago(created, now) } else { created.to_string() },
        "CreatedBy": by,
        "Size": if human { units::human_size(size as f64, 3) } else { size.to_string() },
        "Comment": entry["Comment"].as_str().unwrap_or(""),
    })
}

/// `berth history IMAGE`
pub async fn history(client: &Client, args: HistoryArgs) -> Result<i32> {
    let entries = client
        .get_json(&format!("/images/{}/history", args.image))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = entries
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| row(e, now, args.human, args.no_trunc))
                .collect()
        })
        .unwrap_or_default();
    let header = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY",
                        "Size": "SIZE", "Comment": "COMMENT"});
    let format = match (&args.format, args.quiet) {
        (Some(f), _) => f.clone(),
        (None, true) => "{{.ID}}".to_string(),
        (None, false) => {
            "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}"
                .to_string()
        }
    };
    print!("{}", render_rows(&format, &header, &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_shorten_ids_and_long_commands_like_docker() {
        let e = json!({"Id": "sha256:0123456789abcdef0123", "Created": 100, "CreatedBy": "x".repeat(60), "Size": 2048, "Comment": ""});
        let r = row(&e, 100 + 3600, true, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["CreatedBy"].as_str().unwrap().chars().count(), 45);
        assert_eq!(r["Size"], "2.05kB");
        let missing = row(&json!({"Id": "<missing>", "Size": 0}), 0, false, false);
        assert_eq!(
            (missing["ID"].as_str(), missing["Size"].as_str()),
            (Some("<missing>"), Some("0"))
        );
    }
}
