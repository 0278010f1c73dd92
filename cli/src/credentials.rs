//! Registry credentials saved by `berth login`: Docker's config.json format (`{"auths": {host:
//! {"auth": base64(user:password)}}}`) in `$BERTH_CONFIG/config.json`, else
//! `~/.config/berth/config.json`, written atomically with mode 0600. Other keys in the file are
//! kept. No daemon calls here.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde_json::{json, Value};

/// Docker Hub's key in config.json, as docker writes it.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The config file path.
pub fn config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".config/berth/config.json")
}

/// The registry host of an image name (`busybox` → Docker Hub, `localhost:5000/x` → that).
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => match first {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.into(),
            other => other.to_string(),
        },
        _ => DOCKER_HUB_KEY.to_string(),
    }
}

/// The key a login server is stored under (scheme and path dropped; Docker Hub's own key).
pub fn server_key(server: Option<&str>) -> String {
    let Some(s) = server.map(str::trim).filter(|s| !s.is_empty()) else {
        return DOCKER_HUB_KEY.to_string();
    };
    let host = s.split_once("://").map_or(s, |(_, r)| r);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

fn read(path: &Path) -> Result<Value> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("parse {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Saved credentials for `registry` (a [`registry_of`] / [`server_key`] key), if any.
pub fn lookup(path: &Path, registry: &str) -> Result<Option<DockerCredentials>> {
    let cfg = read(path)?;
    let Some(auth) = cfg["auths"][registry]["auth"].as_str() else {
        return Ok(None);
    };
    let pair = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .with_context(|| format!("bad auth entry for {registry} in {}", path.display()))?;
    let (user, password) = pair.split_once(':').unwrap_or((&pair, ""));
    Ok(Some(credentials(registry, user, password)))
}

/// Every saved login as `X-Registry-Config` carries them (registry → user, password and
/// address), for a build's `FROM` images; entries that cannot be read are left out.
pub fn all_saved(path: &Path) -> Value {
    let cfg = read(path).unwrap_or_else(|_| json!({}));
    let mut out = serde_json::Map::new();
    for registry in cfg["auths"]
        .as_object()
        .map(|a| a.keys())
        .into_iter()
        .flatten()
    {
        if let Ok(Some(c)) = lookup(path, registry) {
            out.insert(
                registry.clone(),
                json!({ "username": c.username, "password": c.password,
                        "serveraddress": registry }),
            );
        }
    }
    Value::Object(out)
}

/// The saved credentials for the registry of `image` (a warning, and none, when the file
/// cannot be read).
pub fn saved_for(image: &str) -> Option<DockerCredentials> {
    lookup(&config_path(), &registry_of(image)).unwrap_or_else(|e| {
        eprintln!("WARNING: {e:#}");
        None
    })
}

/// Credentials as bollard sends them in `X-Registry-Auth`.
pub fn credentials(registry: &str, user: &str, password: &str) -> DockerCredentials {
    DockerCredentials {
        username: Some(user.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    }
}

/// Saves credentials for `registry`.
pub fn store(path: &Path, registry: &str, user: &str, password: &str) -> Result<()> {
    let mut cfg = read(path)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if !cfg["auths"].is_object() {
        cfg["auths"] = json!({});
    }
    cfg["auths"][registry] = json!({ "auth": auth });
    write(path, &cfg)
}

/// Removes saved credentials; false when there were none.
pub fn remove(path: &Path, registry: &str) -> Result<bool> {
    let mut cfg = read(path)?;
    let removed = cfg["auths"]
        .as_object_mut()
        .is_some_and(|a| a.remove(registry).is_some());
    if removed {
        write(path, &cfg)?;
    }
    Ok(removed)
}

/// Writes under a temp name with mode 0600, then renames: the secret is never world-readable,
/// not even for a moment, and a crash never leaves half a file.
fn write(path: &Path, cfg: &Value) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(cfg)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn credentials_round_trip_in_a_private_file_and_other_keys_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"credsStore":"x"}"#).unwrap();
        store(&path, "localhost:5000", "u", "p:w").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c = lookup(&path, "localhost:5000").unwrap().unwrap();
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("p:w"));
        assert_eq!(read(&path).unwrap()["credsStore"], "x");
        assert!(remove(&path, "localhost:5000").unwrap());
        assert!(!remove(&path, "localhost:5000").unwrap());
        assert!(lookup(&path, "localhost:5000").unwrap().is_none());
    }

    #[test]
    fn every_saved_login_goes_to_a_build() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(all_saved(&path), json!({}), "no file: no logins");
        store(&path, "localhost:5000", "u", "p").unwrap();
        store(&path, "registry.example", "v", "q").unwrap();
        assert_eq!(
            all_saved(&path),
            json!({
                "localhost:5000": {"username": "u", "password": "p", "serveraddress": "localhost:5000"},
                "registry.example": {"username": "v", "password": "q", "serveraddress": "registry.example"},
            })
        );
    }

    #[test]
    fn image_names_and_servers_map_to_registry_keys() {
        assert_eq!(registry_of("busybox"), DOCKER_HUB_KEY);
        assert_eq!(registry_of("user/app"), DOCKER_HUB_KEY);
        assert_eq!(registry_of("localhost:5000/app:v1"), "localhost:5000");
        assert_eq!(registry_of("ghcr.io/o/a"), "ghcr.io");
        assert_eq!(server_key(None), DOCKER_HUB_KEY);
        assert_eq!(
            server_key(Some("https://localhost:5000/v2/")),
            "localhost:5000"
        );
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB_KEY);
    }
}
