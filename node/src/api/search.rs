//! `GET /images/search?term=&limit=&filters=`: the query and `X-Registry-Auth` become a typed
//! search (an unreadable auth header is ignored, as dockerd ignores it for a search), the
//! results Docker's `ImageSearchResponseItem` list. Filter and limit errors are dockerd's 400s.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::ImageSearchResponseItem;

use super::convert::image::registry_auth;
use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::engine::image::registry::{self, SearchRequest, SearchResult};

/// `GET /images/search`
pub async fn search(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let auth = headers.get("x-registry-auth").and_then(|v| v.to_str().ok());
    let req = search_request(&Query::parse(q.as_deref()), auth)?;
    let cfg = engine.images().registry_config()?;
    let found = registry::search(&cfg, &req).await?;
    Ok(Json(found.into_iter().map(item).collect::<Vec<_>>()).into_response())
}

fn item(r: SearchResult) -> ImageSearchResponseItem {
    ImageSearchResponseItem {
        description: Some(r.description),
        is_official: Some(r.is_official),
        // Deprecated, and untrustworthy in the Hub's answers: dockerd always says false.
        is_automated: Some(false),
        name: Some(r.name),
        star_count: Some(r.star_count),
    }
}

/// Go's `strconv.Atoi` error, as dockerd quotes it.
fn atoi(v: &str) -> Result<i64, String> {
    v.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
}

/// moby's `GetBoolOrDefault`: one truthy or one falsy spelling, else an invalid filter.
fn bool_filter(key: &str, values: &[String]) -> Result<bool, ApiError> {
    let has = |set: [&str; 2]| values.iter().any(|v| set.contains(&v.as_str()));
    let (yes, no) = (has(["1", "true"]), has(["0", "false"]));
    if values.is_empty() {
        return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
    }
    if yes == no {
        let mut shown = values.to_vec();
        shown.sort();
        return Err(ApiError::bad_request(format!(
            "invalid filter '{key}=[{}]'",
            shown.join(" ")
        )));
    }
    Ok(yes)
}

fn search_request(q: &Query, auth: Option<&str>) -> Result<SearchRequest, ApiError> {
    let limit = match q.get("limit").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => {
            let n = atoi(v)
                .map_err(|e| ApiError::bad_request(format!("invalid limit specified: {e}")))?;
            // dockerd answers an empty 200 to a negative limit; the range error says why not.
            u32::try_from(n).map_err(|_| {
                ApiError::bad_request(format!("limit {n} is outside the range of [1, 100]"))
            })?
        }
    };
    let filters = q.filters()?;
    if let Some(k) = filters
        .keys()
        .find(|k| !matches!(k.as_str(), "is-automated" | "is-official" | "stars"))
    {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let mut req = SearchRequest {
        term: q.get("term").unwrap_or_default().to_string(),
        limit,
        credentials: registry_auth(auth).unwrap_or_default(),
        ..SearchRequest::default()
    };
    if let Some(v) = filters.get("is-automated") {
        req.is_automated = bool_filter("is-automated", v)?;
    }
    if let Some(v) = filters.get("is-official") {
        req.is_official = Some(bool_filter("is-official", v)?);
    }
    for v in filters.get("stars").into_iter().flatten() {
        let n = atoi(v)
            .map_err(|e| ApiError::bad_request(format!("invalid filter 'stars={v}': {e}")))?;
        req.min_stars = Some(req.min_stars.unwrap_or(0).max(n));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<SearchRequest, String> {
        search_request(&Query::parse(Some(q)), None).map_err(|e| e.message)
    }

    #[test]
    fn filters_and_limit_read_as_dockerd_reads_them() {
        let r =
            parse(r#"term=busybox&limit=5&filters={"is-official":["true"],"stars":["3","10"]}"#)
                .unwrap();
        assert_eq!((r.term.as_str(), r.limit), ("busybox", 5));
        assert_eq!((r.is_official, r.min_stars), (Some(true), Some(10)));
        assert!(!r.is_automated);
        assert_eq!(parse("term=x").unwrap().limit, 0);
    }

    #[test]
    fn bad_filters_and_limits_get_dockerds_words() {
        assert_eq!(
            parse(r#"term=x&filters={"foo":["1"]}"#).unwrap_err(),
            "invalid filter 'foo'"
        );
        assert_eq!(
            parse(r#"term=x&filters={"is-official":["maybe"]}"#).unwrap_err(),
            "invalid filter 'is-official=[maybe]'"
        );
        assert_eq!(
            parse(r#"term=x&filters={"is-automated":["true","false"]}"#).unwrap_err(),
            "invalid filter 'is-automated=[false true]'"
        );
        assert_eq!(
            parse(r#"term=x&filters={"stars":["many"]}"#).unwrap_err(),
            "invalid filter 'stars=many': strconv.Atoi: parsing \"many\": invalid syntax"
        );
        assert_eq!(
            parse("term=x&limit=ten").unwrap_err(),
            "invalid limit specified: strconv.Atoi: parsing \"ten\": invalid syntax"
        );
        assert_eq!(
            parse("term=x&limit=-1").unwrap_err(),
            "limit -1 is outside the range of [1, 100]"
        );
    }
}
