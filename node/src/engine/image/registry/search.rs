//! `GET /images/search` as dockerd does it: the v1 search API (`/v1/search?q=&n=`) of the
//! registry the term names (`host[:port]/name`), Docker Hub's index otherwise; a registry other
//! than the Hub is pinged first (`/v1/_ping`, any answer will do) over HTTPS, and over plain
//! HTTP when it is insecure or on loopback; results filtered by `is-official` and `stars`.
//! Registries without the v1 search API (registry:2 among them) answer 404, which is dockerd's
//! `Unexpected status code 404` (500). Certificates are checked as for pulls, never skipped.

use std::time::Duration;

use serde::Deserialize;

use super::session::error_chain;
use super::{Credentials, RegistryConfig, USER_AGENT};
use crate::error::{EngineError, Result};

/// Docker Hub's index, which needs no ping.
const HUB_INDEX: &str = "https://index.docker.io/v1/";
/// dockerd's default number of results.
const DEFAULT_LIMIT: u32 = 25;
/// The index's answer is read into memory; refuse absurd ones.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// What to search for, as the API's query gives it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// `[registry/]name`.
    pub term: String,
    /// 0 for dockerd's default (25); at most 100.
    pub limit: u32,
    /// Only official (true) or only unofficial (false) repositories.
    pub is_official: Option<bool>,
    /// `is-automated=true`: the Hub no longer says, so dockerd answers nothing.
    pub is_automated: bool,
    /// At least this many stars.
    pub min_stars: Option<i64>,
    /// From `X-Registry-Auth`, sent as basic auth (or the registry token) when given.
    pub credentials: Credentials,
}

/// One repository the index found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SearchResult {
    /// `[namespace/]name`.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: i64,
    #[serde(default)]
    pub is_official: bool,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// The index a term names and the name to search there, as dockerd splits it.
pub fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            let index = if first == "index.docker.io" {
                "docker.io"
            } else {
                first
            };
            (index.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), term.to_string()),
    }
}

fn bad(msg: String) -> EngineError {
    EngineError::InvalidArgument(msg)
}

/// Searches; results in the index's order, `is_automated` always false.
pub async fn search(cfg: &RegistryConfig, req: &SearchRequest) -> Result<Vec<SearchResult>> {
    if req.is_automated {
        return Ok(Vec::new());
    }
    if req.term.contains("://") {
        return Err(bad(format!(
            "invalid repository name: repository name ({}) should not have a scheme",
            req.term
        )));
    }
    let limit = if req.limit == 0 {
        DEFAULT_LIMIT
    } else {
        req.limit
    };
    if !(1..=100).contains(&limit) {
        return Err(bad(format!(
            "limit {limit} is outside the range of [1, 100]"
        )));
    }
    let (index, mut remote) = split_term(&req.term);
    cfg.check_allowed(&index)?;
    let http = client(cfg, &index)?;
    let base = if index == "docker.io" {
        // The Hub keeps official images under `library/`; its index knows them without.
        remote = remote.trim_start_matches("library/").to_string();
        HUB_INDEX.to_string()
    } else {
        endpoint(cfg, &http, &index).await?
    };
    let url = format!(
        "{base}search?q={}&n={limit}",
        form_urlencoded::byte_serialize(remote.as_bytes()).collect::<String>()
    );
    let mut get = http.get(&url).header("X-Docker-Token", "true");
    get = match &req.credentials {
        Credentials::Anonymous => get,
        Credentials::Basic { username, password } => get.basic_auth(username, Some(password)),
        Credentials::Bearer(token) => get.bearer_auth(token),
    };
    let answer = get
        .send()
        .await
        .map_err(|e| EngineError::Internal(error_chain(&e)))?;
    if answer.status() != reqwest::StatusCode::OK {
        return Err(EngineError::Internal(format!(
            "Unexpected status code {}",
            answer.status().as_u16()
        )));
    }
    let body = read_limited(answer).await?;
    let parsed: Answer = serde_json::from_slice(&body).map_err(|e| {
        EngineError::Internal(format!("error decoding registry search results: {e}"))
    })?;
    Ok(parsed
        .results
        .into_iter()
        .filter(|r| req.is_official.is_none_or(|o| o == r.is_official))
        .filter(|r| req.min_stars.is_none_or(|s| r.star_count >= s))
        .collect())
}

/// The v1 endpoint of a registry other than the Hub: HTTPS if it answers there, else (when it
/// may be reached insecurely) plain HTTP, with dockerd's errors when neither answers.
async fn endpoint(cfg: &RegistryConfig, http: &reqwest::Client, index: &str) -> Result<String> {
    let https = format!("https://{index}/v1/");
    let first = match ping(http, &https).await {
        Ok(()) => return Ok(https),
        Err(e) => e,
    };
    if !cfg.is_insecure(index) {
        return Err(bad(format!(
            "invalid registry endpoint {https}: {first}. If this private registry supports only \
             HTTP or HTTPS with an unknown CA certificate, please add `--insecure-registry \
             {index}` to the daemon's arguments. In the case of HTTPS, if you have access to the \
             registry's CA certificate, no need for the flag; simply place the CA certificate at \
             {}/{index}/ca.crt",
            cfg.certs_dir.display()
        )));
    }
    let plain = format!("http://{index}/v1/");
    match ping(http, &plain).await {
        Ok(()) => Ok(plain),
        Err(second) => Err(bad(format!(
            "invalid registry endpoint {plain:?}. HTTPS attempt: {first}. HTTP attempt: {second}"
        ))),
    }
}

/// dockerd's v1 ping: any HTTP answer counts (its body is only a hint).
async fn ping(http: &reqwest::Client, base: &str) -> std::result::Result<(), String> {
    http.get(format!("{base}_ping"))
        .send()
        .await
        .map(drop)
        .map_err(|e| error_chain(&e))
}

async fn read_limited(mut answer: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| EngineError::Internal(error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(EngineError::Internal(format!(
                "error decoding registry search results: more than {MAX_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A client trusting the system roots and the CAs configured for `index`; redirects are not
/// followed (a search answer is never one).
fn client(cfg: &RegistryConfig, index: &str) -> Result<reqwest::Client> {
    super::install_crypto_provider();
    let mut certs = Vec::new();
    for pem in cfg.ca_pems(index)? {
        certs.push(
            reqwest::Certificate::from_pem(&pem)
                .map_err(|e| bad(format!("a CA certificate for {index}: {}", error_chain(&e))))?,
        );
    }
    reqwest::Client::builder()
        .tls_certs_merge(certs)
        .connect_timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| bad(format!("registry client for {index}: {}", error_chain(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_their_index_as_dockerd_splits_them() {
        let split = |t: &str| split_term(t);
        assert_eq!(split("busybox"), ("docker.io".into(), "busybox".into()));
        assert_eq!(split("user/app"), ("docker.io".into(), "user/app".into()));
        assert_eq!(
            split("localhost:5000/app"),
            ("localhost:5000".into(), "app".into())
        );
        assert_eq!(split("localhost/a/b"), ("localhost".into(), "a/b".into()));
        assert_eq!(split("reg.lan/x"), ("reg.lan".into(), "x".into()));
        assert_eq!(
            split("index.docker.io/library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
    }

    #[tokio::test]
    async fn bad_requests_are_refused_before_any_connection() {
        let cfg = RegistryConfig {
            allowed: Some(Vec::new()),
            ..RegistryConfig::default()
        };
        let req = |term: &str, limit: u32| SearchRequest {
            term: term.into(),
            limit,
            ..SearchRequest::default()
        };
        let err = |r: SearchRequest| {
            let cfg = cfg.clone();
            async move { search(&cfg, &r).await.unwrap_err().to_string() }
        };
        assert_eq!(
            err(req("http://x/y", 0)).await,
            "invalid repository name: repository name (http://x/y) should not have a scheme"
        );
        assert_eq!(
            err(req("busybox", 101)).await,
            "limit 101 is outside the range of [1, 100]"
        );
        let refused = err(req("busybox", 0)).await;
        assert!(refused.contains("allowed-registries"), "{refused}");
        let automated = SearchRequest {
            is_automated: true,
            ..req("busybox", 0)
        };
        assert_eq!(search(&cfg, &automated).await.unwrap(), Vec::new());
    }
}
