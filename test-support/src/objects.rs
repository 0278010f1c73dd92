//! What tests do through a `TestDaemon` besides plain requests: attach-style upgrades, the
//! busybox image, containers (create, inspect, logs) and removing all a daemon holds.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::client::demux;
use crate::image::busybox_tar;
use crate::TestDaemon;

impl TestDaemon {
    /// POSTs `body` to `path` asking to upgrade the connection (as `docker attach`/`exec` do);
    /// returns the connection after the `101` head.
    pub fn upgraded(&self, path: &str, body: &str) -> UnixStream {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        s
    }

    /// Imports the busybox test image as `busybox:latest`.
    pub fn import_busybox(&self) {
        let tar = busybox_tar(&self.root);
        let bytes = std::fs::read(tar).unwrap();
        let r = self
            .try_request("POST", "/v1.47/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D", &bytes)
            .unwrap();
        assert_eq!(r.status, 200, "import: {}", r.text());
    }

    /// Creates a container from JSON; returns its id.
    pub fn create(&self, name: &str, body: serde_json::Value) -> String {
        let r = self.req(
            "POST",
            &format!("/containers/create?name={name}"),
            &body.to_string(),
        );
        assert_eq!(r.status, 201, "create {name}: {}", r.text());
        r.json()["Id"].as_str().unwrap().to_string()
    }

    /// Creates (at API `version`, e.g. `v1.47`), starts and waits for a container; returns its
    /// logs and exit code, and removes it with its anonymous volumes.
    pub fn run_to_end(&self, version: &str, name: &str, body: serde_json::Value) -> (String, i64) {
        let r = self.req(
            "POST",
            &format!("/{version}/containers/create?name={}-{name}", self.prefix),
            &body.to_string(),
        );
        assert_eq!(r.status, 201, "create {name}: {}", r.text());
        let id = r.json()["Id"].as_str().unwrap().to_string();
        let r = self.req("POST", &format!("/containers/{id}/start"), "");
        assert_eq!(r.status, 204, "start {name}: {}", r.text());
        let code = self
            .req("POST", &format!("/containers/{id}/wait"), "")
            .json()["StatusCode"]
            .as_i64()
            .unwrap();
        let logs = self.logs(&id);
        let r = self.req("DELETE", &format!("/containers/{id}?v=1"), "");
        assert_eq!(r.status, 204, "remove {name}: {}", r.text());
        (logs, code)
    }

    /// A container's inspect JSON.
    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let r = self.req("GET", &format!("/containers/{id}/json"), "");
        assert_eq!(r.status, 200, "inspect {id}: {}", r.text());
        r.json()
    }

    /// Demultiplexed stdout and stderr of `logs`.
    pub fn logs(&self, id: &str) -> String {
        let r = self.req(
            "GET",
            &format!("/containers/{id}/logs?stdout=1&stderr=1"),
            "",
        );
        String::from_utf8_lossy(&demux(&r.body)).into_owned()
    }

    /// Removes every container and network this daemon has.
    pub fn remove_all(&self) {
        if let Ok(r) = self.try_request("GET", "/containers/json?all=1", b"") {
            if let Ok(list) = serde_json::from_slice::<Vec<serde_json::Value>>(&r.body) {
                for c in list {
                    let id = c["Id"].as_str().unwrap_or_default();
                    let _ = self.try_request("DELETE", &format!("/containers/{id}?force=1"), b"");
                }
            }
        }
        if let Ok(r) = self.try_request("GET", "/networks", b"") {
            if let Ok(list) = serde_json::from_slice::<Vec<serde_json::Value>>(&r.body) {
                for n in list {
                    let id = n["Id"].as_str().unwrap_or_default();
                    let _ = self.try_request("DELETE", &format!("/networks/{id}"), b"");
                }
            }
        }
    }
}
