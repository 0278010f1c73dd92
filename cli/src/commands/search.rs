//! `berth search TERM`: `GET /images/search` with the saved credentials of the registry the
//! term names, and docker's table (NAME, DESCRIPTION cut to 45 characters unless
//! `--no-trunc`, STARS, OFFICIAL as `[OK]`), `--format` (`json`: `IsOfficial` as
//! `"true"`/`"false"`, as docker prints it), `--filter` and `--limit`.

use anyhow::Result;
use base64::Engine as _;
use clap::Args;
use serde_json::{json, Value};

use super::context_list::ellipsis;
use super::system_prune::parse_filter;
use crate::client::Client;
use crate::credentials;
use crate::output::render_rows;
use crate::stream::escape;

const DEFAULT_FORMAT: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

/// `berth search`
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Pretty-print search using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(
        long,
        value_name = "int",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub limit: i64,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// TERM
    pub term: String,
}

/// The request path: `limit` only when positive, as the docker CLI sends it.
fn path(a: &SearchArgs) -> Result<String> {
    let mut path = format!("/images/search?term={}", escape(&a.term));
    if a.limit > 0 {
        path.push_str(&format!("&limit={}", a.limit));
    }
    if !a.filter.is_empty() {
        let mut map = serde_json::Map::new();
        for (k, v) in &a.filter {
            let entry = map.entry(k.clone()).or_insert_with(|| json!({}));
            entry[v] = json!(true);
        }
        path.push_str(&format!(
            "&filters={}",
            escape(&Value::Object(map).to_string())
        ));
    }
    Ok(path)
}

/// One row; `json` rows carry the booleans as words, table rows as `[OK]` or nothing.
fn row(r: &Value, trunc: bool, as_json: bool) -> Value {
    let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    let description = text("description").replace(['\n', '\r'], " ");
    let description = if trunc {
        ellipsis(&description, 45)
    } else {
        description
    };
    let official = r["is_official"].as_bool().unwrap_or(false);
    let official = match (official, as_json) {
        (true, true) => "true",
        (false, true) => "false",
        (true, false) => "[OK]",
        (false, false) => "",
    };
    json!({
        "Name": text("name"),
        "Description": description,
        "StarCount": r["star_count"].as_i64().unwrap_or(0).to_string(),
        "IsOfficial": official,
    })
}

/// `berth search`
pub async fn search(client: &Client, a: SearchArgs) -> Result<i32> {
    if a.filter.iter().any(|(k, _)| k == "is-automated") {
        eprintln!(
            "WARNING: the \"is-automated\" filter is deprecated, and searching for \
             \"is-automated=true\" will not yield any results in future."
        );
    }
    let saved = credentials::saved_for(&a.term);
    let auth = base64::engine::general_purpose::URL_SAFE
        .encode(serde_json::to_vec(&saved.unwrap_or_default())?);
    let body = client
        .get_raw_with(&path(&a)?, &[("X-Registry-Auth", &auth)])
        .await?;
    let results: Vec<Value> = serde_json::from_slice(&body)?;
    let format = match a.format.as_deref() {
        None | Some("" | "table") => DEFAULT_FORMAT,
        Some(f) => f,
    };
    let as_json = format.trim() == "json" || format.contains("json .");
    let rows: Vec<Value> = results
        .iter()
        .map(|r| row(r, !a.no_trunc, as_json))
        .collect();
    let header = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
                        "IsOfficial": "OFFICIAL"});
    print!("{}", render_rows(format, &header, &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_dockers() {
        let r = json!({"name": "busybox", "description": "line one\nline two", "star_count": 3037,
                       "is_official": true, "is_automated": false});
        assert_eq!(
            row(&r, true, false),
            json!({"Name": "busybox", "Description": "line one line two", "StarCount": "3037",
                   "IsOfficial": "[OK]"})
        );
        assert_eq!(row(&r, true, true)["IsOfficial"], "true");
        let long = json!({"name": "x", "description": "d".repeat(60), "is_official": false});
        assert_eq!(
            row(&long, true, false)["Description"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            45
        );
        assert_eq!(
            row(&long, false, false)["Description"]
                .as_str()
                .unwrap()
                .len(),
            60
        );
        assert_eq!(row(&long, true, false)["IsOfficial"], "");
    }

    #[test]
    fn the_query_carries_limit_only_when_positive_and_filters_as_sets() {
        let args = |limit: i64, filter: Vec<(String, String)>| SearchArgs {
            filter,
            format: None,
            limit,
            no_trunc: false,
            term: "reg:5000/bb".into(),
        };
        assert_eq!(
            path(&args(0, vec![])).unwrap(),
            "/images/search?term=reg%3A5000%2Fbb"
        );
        let p = path(&args(5, vec![("stars".into(), "3".into())])).unwrap();
        assert_eq!(
            p,
            "/images/search?term=reg%3A5000%2Fbb&limit=5&filters=%7B%22stars%22%3A%7B%223%22%3Atrue%7D%7D"
        );
    }
}
