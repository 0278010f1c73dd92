//! JSON bodies. Responses: `json_response` labels one. Requests: moby's `CheckForJSON` rule and
//! the parsing. A body sent to a JSON endpoint must say `Content-Type: application/json`
//! (parameters allowed); without the header only an empty body passes. The rule is what keeps a web page from posting a container to a
//! daemon on `127.0.0.1`: a browser sends `text/plain` (or no type) without a CORS preflight,
//! but never `application/json`. Endpoints taking tar or other bodies do not use this.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

/// A response carrying `body`, labelled `application/json`.
pub fn json_response(body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A request body whose Content-Type allows JSON. Handlers take it as an extractor (or build it
/// with [`JsonBody::check`]) and parse it with [`JsonBody::parse`]; there is no other way to parse
/// a JSON body, so every JSON endpoint applies the rule.
#[derive(Debug, Clone)]
pub struct JsonBody(Bytes);

impl JsonBody {
    /// Applies the rule to a body already read: `headers` are the request's.
    pub fn check(headers: &HeaderMap, body: Bytes) -> Result<Self, ApiError> {
        check_content_type(headers.get(CONTENT_TYPE), body.is_empty())?;
        Ok(JsonBody(body))
    }

    /// Whether the body is empty or only whitespace (several endpoints treat that as "no body").
    pub fn is_blank(&self) -> bool {
        self.0.iter().all(u8::is_ascii_whitespace)
    }

    /// Parses the body into `T`, its keys matched to `T`'s fields whatever their case, as Go
    /// decodes (`berth_gojson`); a blank body reads as `{}`, malformed JSON is a 400 with the
    /// parser's reason. Unknown fields are ignored.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let value = self.parse_as::<T>()?;
        serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
    }

    /// The body as JSON, its keys folded to the fields of the model `S` (see [`Self::parse`]),
    /// for handlers that read the JSON itself.
    pub fn parse_as<S: serde::de::DeserializeOwned>(&self) -> Result<serde_json::Value, ApiError> {
        let body = if self.is_blank() {
            b"{}".as_slice()
        } else {
            &self.0
        };
        let mut value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
        berth_gojson::fold_keys::<S>(&mut value);
        Ok(value)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        // The body is read (within axum's limit) even when the type is wrong: answering before
        // the client has finished sending makes many clients fail on a broken pipe instead of
        // showing the 400.
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        JsonBody::check(&headers, body).map_err(IntoResponse::into_response)
    }
}

/// moby's `CheckForJSON`: no Content-Type is fine for an empty body; otherwise the media type
/// must be `application/json`, with moby's messages for a wrong and a malformed header.
fn check_content_type(value: Option<&HeaderValue>, body_is_empty: bool) -> Result<(), ApiError> {
    let text = match value {
        None if body_is_empty => return Ok(()),
        None => "",
        Some(v) => v.to_str().map_err(|_| {
            ApiError::bad_request(format!(
                "malformed Content-Type header ({}): mime: invalid media parameter",
                String::from_utf8_lossy(v.as_bytes())
            ))
        })?,
    };
    match media_type(text) {
        Err(reason) => Err(ApiError::bad_request(format!(
            "malformed Content-Type header ({text}): {reason}"
        ))),
        Ok(t) if t == "application/json" => Ok(()),
        Ok(_) => Err(ApiError::bad_request(format!(
            "unsupported Content-Type header ({text}): must be 'application/json'"
        ))),
    }
}

/// The lower-cased media type of a Content-Type value, checked as Go's `mime.ParseMediaType`
/// checks it (moby's messages quote its errors).
fn media_type(value: &str) -> Result<String, &'static str> {
    let (base, mut params) = value.split_once(';').map_or((value, ""), |(b, p)| (b, p));
    let base = base.trim().to_ascii_lowercase();
    let (kind, rest) = token(&base);
    if kind.is_empty() {
        return Err("mime: no media type");
    }
    if !rest.is_empty() {
        let Some(rest) = rest.strip_prefix('/') else {
            return Err("mime: expected slash after first token");
        };
        let (subtype, rest) = token(rest);
        if subtype.is_empty() {
            return Err("mime: expected token after slash");
        }
        if !rest.is_empty() {
            return Err("mime: unexpected content after media subtype");
        }
    }
    let mut seen: Vec<String> = Vec::new();
    loop {
        params = params.trim_start();
        if params.is_empty() {
            return Ok(base);
        }
        let (key, rest) = token(params);
        let Some(value) = rest.trim_start().strip_prefix('=') else {
            return Err("mime: invalid media parameter");
        };
        let (ok, rest) = param_value(value.trim_start());
        if key.is_empty() || !ok {
            return Err("mime: invalid media parameter");
        }
        let key = key.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err("mime: duplicate parameter name");
        }
        seen.push(key);
        params = match rest.trim_start() {
            "" => "",
            r => r.strip_prefix(';').ok_or("mime: invalid media parameter")?,
        };
    }
}

/// Splits off the leading RFC 2045 token.
fn token(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(_, c)| !is_token_char(c))
        .map_or(s.len(), |(i, _)| i);
    s.split_at(end)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii() && c > ' ' && c != '\x7f' && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// A parameter value (token or quoted string): whether one was there, and what follows it.
fn param_value(s: &str) -> (bool, &str) {
    let Some(quoted) = s.strip_prefix('"') else {
        let (v, rest) = token(s);
        return (!v.is_empty(), rest);
    };
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return (true, &quoted[i + 1..]),
            _ => {}
        }
    }
    (false, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ct: Option<&str>, body: &str) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        if let Some(ct) = ct {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        JsonBody::check(&headers, Bytes::from(body.to_string()))
            .map(|_| ())
            .map_err(|e| {
                assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
                e.message
            })
    }

    #[test]
    fn json_types_pass_with_and_without_parameters() {
        for ct in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"utf-8\"",
            "application/json;",
        ] {
            assert_eq!(check(Some(ct), "{}"), Ok(()), "{ct}");
        }
    }

    #[test]
    fn no_type_passes_only_without_a_body() {
        assert_eq!(check(None, ""), Ok(()));
        assert_eq!(
            check(None, "{}"),
            Err("malformed Content-Type header (): mime: no media type".into())
        );
    }

    #[test]
    fn other_types_get_mobys_message() {
        assert_eq!(
            check(Some("text/plain"), "{}"),
            Err("unsupported Content-Type header (text/plain): must be 'application/json'".into())
        );
        assert_eq!(
            check(Some("text/plain;charset=UTF-8"), ""),
            Err(
                "unsupported Content-Type header (text/plain;charset=UTF-8): must be 'application/json'"
                    .into()
            )
        );
        assert!(check(Some("application/x-www-form-urlencoded"), "a=b").is_err());
        assert!(check(Some("application/json-seq"), "{}").is_err());
    }

    #[test]
    fn malformed_types_are_refused_with_the_parsers_reason() {
        let cases = [
            ("application/json; charset", "mime: invalid media parameter"),
            (
                "application/json; a=1; a=2",
                "mime: duplicate parameter name",
            ),
            ("application/json; a=\"x", "mime: invalid media parameter"),
            ("application json", "mime: expected slash after first token"),
            ("application/", "mime: expected token after slash"),
            ("/json", "mime: no media type"),
        ];
        for (ct, reason) in cases {
            assert_eq!(
                check(Some(ct), "{}"),
                Err(format!("malformed Content-Type header ({ct}): {reason}"))
            );
        }
    }

    #[test]
    fn blank_bodies_parse_as_an_empty_object_and_bad_json_is_a_bad_request() {
        let blank = JsonBody(Bytes::from_static(b" \n"));
        assert!(blank.is_blank());
        assert_eq!(
            blank.parse::<serde_json::Value>().unwrap(),
            serde_json::json!({})
        );
        let e = JsonBody(Bytes::from_static(b"{nope"))
            .parse::<serde_json::Value>()
            .unwrap_err();
        assert!(e.message.starts_with("invalid JSON"));
    }

    #[tokio::test]
    async fn the_extractor_refuses_a_text_body_and_takes_a_json_one() {
        let req = Request::builder()
            .header(CONTENT_TYPE, "text/plain")
            .body(axum::body::Body::from("{\"Image\":\"busybox\"}"))
            .unwrap();
        let rejection = JsonBody::from_request(req, &()).await.unwrap_err();
        assert_eq!(rejection.status(), axum::http::StatusCode::BAD_REQUEST);
        let req = Request::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from("{\"a\":1}"))
            .unwrap();
        let body = JsonBody::from_request(req, &()).await.unwrap();
        assert_eq!(
            body.parse::<serde_json::Value>().unwrap(),
            serde_json::json!({"a": 1})
        );
    }
}
