//! Services as the daemon shows them, read as Go's decoder reads them. moby spells some fields
//! as its Go structs do (`Healthcheck`) where bollard's models keep the API document's
//! (`HealthCheck`); a typed read through bollard drops such a field, and a spec sent back then
//! loses it. Every read of a service that is sent back, compared or shown whole goes through
//! here.

use std::collections::HashMap;

use anyhow::{Context, Result};
use bollard::models::Service;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::stream::escape;

/// `GET /services/{name}`.
pub async fn inspect(client: &Client, name: &str) -> Result<Service> {
    let raw = client
        .get_raw(&format!("/services/{}", escape(name)))
        .await?;
    folded(&raw)
}

/// `GET /services?filters=…`.
pub async fn list(client: &Client, filters: &HashMap<String, Vec<String>>) -> Result<Vec<Service>> {
    let mut path = "/services".to_string();
    if !filters.is_empty() {
        path = format!(
            "{path}?filters={}",
            escape(&serde_json::to_string(filters)?)
        );
    }
    folded(&client.get_raw(&path).await?)
}

/// `raw` decoded as `T`, its keys matched to `T`'s fields whatever their case.
pub fn folded<T: DeserializeOwned>(raw: &[u8]) -> Result<T> {
    let mut value: serde_json::Value =
        serde_json::from_slice(raw).context("the daemon's answer is not JSON")?;
    berth_gojson::fold_keys::<T>(&mut value);
    serde_json::from_value(value).context("the daemon's answer does not fit its model")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_shown_with_mobys_spelling_keeps_its_health_check() {
        let raw = br#"{"ID": "s1", "Spec": {"Name": "web", "TaskTemplate": {"ContainerSpec":
            {"Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "Retries": 2}}}}}"#;
        let typed: Service = serde_json::from_slice(raw).unwrap();
        let lost = typed
            .spec
            .unwrap()
            .task_template
            .unwrap()
            .container_spec
            .unwrap();
        assert!(lost.health_check.is_none(), "bollard alone drops it");
        let service: Service = folded(raw).unwrap();
        let check = service
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.container_spec)
            .and_then(|c| c.health_check)
            .expect("the health check");
        assert_eq!(
            check.test,
            Some(vec!["CMD".to_string(), "true".to_string()])
        );
        assert_eq!(check.retries, Some(2));
        let many: Vec<Service> =
            folded(format!("[{}]", std::str::from_utf8(raw).unwrap()).as_bytes()).unwrap();
        assert_eq!(many.len(), 1);
    }
}
