//! Query strings as Docker clients send them: repeated keys, `1`/`true`/`True` booleans, and
//! `filters` as JSON (`{"label":["a=b"]}` or the older `{"label":{"a=b":true}}`).

use std::collections::BTreeMap;

use crate::api::error::ApiError;

/// Parsed query parameters.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`, as Go's `FormValue` reads a repeated key: docker-py sends the
    /// `dockerfile` of a build outside the context twice, the name first.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean flag as moby's `BoolValueOrDefault` reads it: absent is `default`; empty, `0`,
    /// `no`, `false` and `none` (any case, spaces trimmed) are false, anything else true.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// An integer; invalid values are a 400.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v}"))),
        }
    }

    /// The `filters` parameter as key → values.
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filter: not an object"))?;
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            let vals: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                serde_json::Value::Object(m) => m.keys().cloned().collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter value for {k}"
                    )))
                }
            };
            out.insert(k.clone(), vals);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_both_shapes() {
        let q = Query::parse(Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"));
        assert_eq!(q.filters().unwrap()["label"], vec!["a=b"]);
        let q = Query::parse(Some(r#"filters={"status":{"exited":true}}"#));
        assert_eq!(q.filters().unwrap()["status"], vec!["exited"]);
        assert!(Query::parse(Some("filters=nope")).filters().is_err());
    }

    #[test]
    fn flags_and_repeated_keys() {
        let q = Query::parse(Some(
            "all=1&force=False&changes=CMD%20x&changes=ENV%20a%3Db",
        ));
        assert!(q.flag("all", false));
        assert!(!q.flag("force", true));
        assert!(q.flag("missing", true));
        assert_eq!(q.all("changes"), vec!["CMD x", "ENV a=b"]);
        assert_eq!(q.get("changes"), Some("CMD x"), "Go's FormValue: the first");
    }

    #[test]
    fn flags_read_as_mobys_bool_value() {
        let q = Query::parse(Some("a=yes&b=on&c=2&d=NO&e=%20none%20&f=&g=FALSE&h=True"));
        for k in ["a", "b", "c", "h"] {
            assert!(q.flag(k, false), "{k}");
        }
        for k in ["d", "e", "f", "g"] {
            assert!(!q.flag(k, true), "{k}");
        }
    }
}
