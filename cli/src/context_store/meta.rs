//! One context as docker's `meta.json` holds it (`Name`, `Metadata` with the description and
//! any other fields, `Endpoints`), read leniently and written in docker's field order; and
//! docker's rule for context names. Pure.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};

use super::{DEFAULT_CONTEXT, DOCKER_ENDPOINT};

/// One stored context, as `meta.json` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// Its name (the file's, as docker reads it).
    pub name: String,
    /// The `Metadata` object: `Description` and whatever other fields it carries.
    pub metadata: Map<String, Value>,
    /// Every endpoint, `docker` among them, as stored.
    pub endpoints: Map<String, Value>,
}

/// A context's docker endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerEndpoint {
    /// `unix://…`, `tcp://…`, `ssh://…`; empty means the client's default.
    pub host: String,
    /// Do not check the daemon's certificate.
    pub skip_tls_verify: bool,
}

impl Context {
    /// A context of `name` with this docker endpoint and description.
    pub fn new(name: &str, description: &str, endpoint: &DockerEndpoint) -> Self {
        let mut ctx = Context {
            name: name.to_string(),
            metadata: Map::new(),
            endpoints: Map::new(),
        };
        ctx.set_description(description);
        ctx.set_docker_endpoint(endpoint);
        ctx
    }

    /// The description ("" when there is none).
    pub fn description(&self) -> &str {
        self.metadata
            .get("Description")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Sets the description; an empty one is left out, as docker writes it.
    pub fn set_description(&mut self, description: &str) {
        if description.is_empty() {
            self.metadata.remove("Description");
        } else {
            self.metadata
                .insert("Description".into(), Value::String(description.into()));
        }
    }

    /// The docker endpoint, or docker's error when there is none.
    pub fn docker_endpoint(&self) -> Result<DockerEndpoint> {
        let ep = self
            .endpoints
            .get(DOCKER_ENDPOINT)
            .ok_or_else(|| anyhow!("cannot find docker endpoint in context"))?;
        let host = match ep.get("Host") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(h)) => h.clone(),
            Some(other) => bail!("endpoint \"docker\" has a Host that is not a string: {other}"),
        };
        let skip_tls_verify = match ep.get("SkipTLSVerify") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                bail!("endpoint \"docker\" has a SkipTLSVerify that is not a bool: {other}")
            }
        };
        Ok(DockerEndpoint {
            host,
            skip_tls_verify,
        })
    }

    /// Replaces the docker endpoint (`Host` left out when empty, as Go's `omitempty` does).
    pub fn set_docker_endpoint(&mut self, ep: &DockerEndpoint) {
        let mut obj = Map::new();
        if !ep.host.is_empty() {
            obj.insert("Host".into(), Value::String(ep.host.clone()));
        }
        obj.insert("SkipTLSVerify".into(), Value::Bool(ep.skip_tls_verify));
        self.endpoints
            .insert(DOCKER_ENDPOINT.into(), Value::Object(obj));
    }

    /// `meta.json`'s text: `Name`, `Metadata`, `Endpoints` in the order docker writes them.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        if !self.name.is_empty() {
            out.push_str(&format!("\"Name\":{},", json!(self.name)));
        }
        out.push_str(&format!(
            "\"Metadata\":{}",
            Value::Object(self.metadata.clone())
        ));
        if !self.endpoints.is_empty() {
            let mut eps = Vec::new();
            for (k, v) in &self.endpoints {
                eps.push(format!("{}:{}", json!(k), endpoint_json(k, v)));
            }
            out.push_str(&format!(",\"Endpoints\":{{{}}}", eps.join(",")));
        }
        out.push('}');
        out
    }

    pub(super) fn parse(bytes: &[u8], file: &Path) -> Result<Self> {
        let bad = |why: String| anyhow!("parsing {}: {why}", file.display());
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let field = |k: &str| match obj.get(k) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(bad(format!("{k} is not an object"))),
        };
        let ctx = Context {
            name: obj
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            metadata: field("Metadata")?,
            endpoints: field("Endpoints")?,
        };
        if ctx
            .metadata
            .get("Description")
            .is_some_and(|d| !d.is_string())
        {
            return Err(anyhow!("context metadata is not a valid DockerContext"));
        }
        Ok(ctx)
    }
}

/// The docker endpoint in Go's field order (`Host`, `SkipTLSVerify`); others as stored.
fn endpoint_json(name: &str, v: &Value) -> String {
    let Some(obj) = v.as_object().filter(|_| name == DOCKER_ENDPOINT) else {
        return v.to_string();
    };
    let mut fields = Vec::new();
    for key in ["Host", "SkipTLSVerify"] {
        if let Some(x) = obj.get(key) {
            fields.push(format!("{}:{x}", json!(key)));
        }
    }
    for (k, x) in obj
        .iter()
        .filter(|(k, _)| *k != "Host" && *k != "SkipTLSVerify")
    {
        fields.push(format!("{}:{x}", json!(k)));
    }
    format!("{{{}}}", fields.join(","))
}

/// Docker's rule for context names.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("context name cannot be empty");
    }
    if name == DEFAULT_CONTEXT {
        bail!("\"default\" is a reserved context name");
    }
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .skip(1)
        .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    if !(ok_first && ok_rest && name.chars().count() >= 2) {
        bail!(
            "context name {name:?} is invalid, names are validated against regexp \
             \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_json_reads_as_docker_writes_it() {
        let ctx = Context::new(
            "foo",
            "my desc",
            &DockerEndpoint {
                host: "tcp://127.0.0.1:2376".into(),
                skip_tls_verify: true,
            },
        );
        assert_eq!(
            ctx.to_json(),
            r#"{"Name":"foo","Metadata":{"Description":"my desc"},"Endpoints":{"docker":{"Host":"tcp://127.0.0.1:2376","SkipTLSVerify":true}}}"#
        );
        let bare = Context::new("bar", "", &DockerEndpoint::default());
        assert_eq!(
            bare.to_json(),
            r#"{"Name":"bar","Metadata":{},"Endpoints":{"docker":{"SkipTLSVerify":false}}}"#
        );
    }

    #[test]
    fn names_follow_dockers_pattern() {
        assert!(validate_name("my-ctx_1.2+x").is_ok());
        for bad in ["", "default", "q", "-x", "a b", "a/b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_name("q").unwrap_err().to_string(),
            "context name \"q\" is invalid, names are validated against regexp \
             \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""
        );
    }
}
