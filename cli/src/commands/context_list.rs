//! `berth context ls` and `berth context inspect`: docker's table (current context marked,
//! errors cut to 45 characters), `-q`, `--format` (`json`, templates), and the inspect objects
//! (metadata, TLS files, storage paths; `<IN MEMORY>` for `default`) as docker prints them.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{json, Value};

use super::context::{InspectArgs, ListArgs, Session};
use super::inspect::print_raw;
use crate::connect;
use crate::context_store::{Context, DEFAULT_CONTEXT};
use crate::output::natural::natural_cmp;
use crate::output::{render_rows, Template};

const TABLE_FORMAT: &str =
    "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}";
const DEFAULT_DESCRIPTION: &str = "Current DOCKER_HOST based configuration";

impl Session<'_> {
    pub(super) fn list(&self, a: ListArgs) -> Result<i32> {
        let current = self.current()?;
        let mut contexts = self.store.list()?;
        contexts.push(connect::default_context(self.g, self.env)?.0);
        let mut rows: Vec<Value> = contexts.iter().map(|c| row(c, &current)).collect();
        if !contexts.iter().any(|c| c.name == current) {
            let error = self.store.get(&current).err().map(|e| e.to_string());
            rows.push(json!({"Name": current, "Current": true, "Description": "",
                             "DockerEndpoint": "", "Error": ellipsis(&error.unwrap_or_default(), 45)}));
        }
        rows.sort_by(|a, b| {
            natural_cmp(
                a["Name"].as_str().unwrap_or(""),
                b["Name"].as_str().unwrap_or(""),
            )
        });
        let format = match (a.quiet, a.format.as_str()) {
            (true, _) => "{{.Name}}",
            (false, "" | "table") => TABLE_FORMAT,
            (false, f) => f,
        };
        let header = json!({"Name": "NAME", "Description": "DESCRIPTION",
                            "DockerEndpoint": "DOCKER ENDPOINT", "Error": "ERROR"});
        print!("{}", render_rows(format, &header, &rows)?);
        self.warn_host_override(None);
        Ok(0)
    }

    pub(super) fn inspect(&self, a: InspectArgs) -> Result<i32> {
        let template = match a.format.as_deref() {
            None | Some("") => None,
            Some("json") => Some(Template::parse("{{json .}}")?),
            Some(f) => Some(Template::parse(f)?),
        };
        let names = if a.names.is_empty() {
            vec![self.current()?]
        } else {
            a.names
        };
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for name in &names {
            match self.inspect_one(name) {
                Ok(raw) => found.push(raw.into_bytes()),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        print_raw(&found, template.as_ref())?;
        if errors.is_empty() {
            return Ok(0);
        }
        eprintln!("{}", errors.join("\n"));
        Ok(1)
    }

    /// Docker's inspect object: the stored metadata, the TLS files and where they live.
    fn inspect_one(&self, name: &str) -> Result<String> {
        let (ctx, tls, storage) = if name == DEFAULT_CONTEXT {
            let (ctx, files) = self.get(name)?;
            let names: Vec<String> = files.into_iter().map(|(f, _)| f).collect();
            let tls = if names.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("docker".to_string(), names)])
            };
            (
                ctx,
                tls,
                ("<IN MEMORY>".to_string(), "<IN MEMORY>".to_string()),
            )
        } else {
            let ctx = self.store.get(name)?;
            let paths = (
                self.store.meta_dir(name).display().to_string(),
                self.store.tls_dir(name).display().to_string(),
            );
            (ctx, self.store.tls_files(name)?, paths)
        };
        let meta = ctx.to_json();
        let head = meta.strip_suffix('}').unwrap_or(&meta);
        Ok(format!(
            "{head},\"TLSMaterial\":{},\"Storage\":{}}}",
            json!(tls),
            json!({"MetadataPath": storage.0, "TLSPath": storage.1})
        ))
    }
}

/// One `context ls` row.
fn row(ctx: &Context, current: &str) -> Value {
    let (endpoint, error) = match ctx.docker_endpoint() {
        Ok(ep) => (ep.host, String::new()),
        Err(e) => (String::new(), e.to_string()),
    };
    let description = if ctx.name == DEFAULT_CONTEXT {
        DEFAULT_DESCRIPTION
    } else {
        ctx.description()
    };
    json!({"Name": ctx.name, "Current": ctx.name == current, "Description": description,
           "DockerEndpoint": endpoint, "Error": ellipsis(&error, 45)})
}

/// Docker's `formatter.Ellipsis`: at most `width` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_cuts_to_the_width_with_a_mark() {
        assert_eq!(ellipsis("short", 45), "short");
        let long = "x".repeat(50);
        let cut = ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with("x…"));
    }
}
