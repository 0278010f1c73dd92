//! A `docker-registry` (the distribution project's registry) for tests: a child on a loopback
//! port with a filesystem store, plain HTTP, killed on drop; `None` when it is not installed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A `docker-registry serve` child on a loopback port with a filesystem store; killed on drop.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// None (after a SKIP line) when docker-registry is not installed.
    pub fn start() -> Option<Registry> {
        Registry::start_with(None, None)
    }

    /// `start`, serving TLS with `tls` (certificate, key) and asking for the users of an
    /// htpasswd file when given.
    pub fn start_with(tls: Option<(&Path, &Path)>, htpasswd: Option<&Path>) -> Option<Registry> {
        if Command::new("docker-registry")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIP: docker-registry is not installed (apt-get install docker-registry)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test\n",
            dir.path().join("store").display()
        );
        if let Some((cert, key)) = tls {
            cfg += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        if let Some(h) = htpasswd {
            cfg += &format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                h.display()
            );
        }
        std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
        let mut r = Registry {
            child: None,
            port,
            dir,
        };
        r.restart();
        Some(r)
    }

    /// (Re)starts the registry on the same port and storage; the access log is appended to.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "docker-registry did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs the registry process (by its pid).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// The access log so far (pass its length as `since` to [`Registry::blob_gets`] later).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Digests of the blobs answered to GET requests logged after byte `since` of the log.
    pub fn blob_gets(&self, since: usize) -> Vec<String> {
        let log = self.log();
        log.get(since..)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let req = l.split('"').nth(1)?;
                let path = req.strip_prefix("GET ")?;
                let digest = path.split("/blobs/").nth(1)?.split_whitespace().next()?;
                Some(digest.to_string())
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
