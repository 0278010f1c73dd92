//! What every hostile-input test ends with: berthd still answers, and nothing leaked (no
//! descriptors held, no mounts left, host files untouched). Also the docker CLI and berth's
//! as clients.

use std::process::Command;
use std::time::Duration;

use crate::{wait_until, TestDaemon};

impl TestDaemon {
    /// Runs the docker CLI against this daemon (bounded by `timeout`, so a hang fails the test
    /// instead of stalling CI); exit code and stdout+stderr.
    pub fn cli(&self, args: &[&str]) -> (i32, String) {
        self.client(std::ffi::OsStr::new("docker"), args)
    }

    /// The same with berth's own CLI (`berth`, next to the berthd under test).
    pub fn berth(&self, args: &[&str]) -> (i32, String) {
        self.client(crate::bin_dir().join("berth").as_os_str(), args)
    }

    /// berth's CLI with `answer` on its standard input (a prompt's reply; empty: none).
    pub fn berth_answering(&self, answer: &str, args: &[&str]) -> (i32, String) {
        self.client_with_input(crate::bin_dir().join("berth").as_os_str(), args, answer)
    }

    /// `docker network inspect -f FORMAT NET`, which must succeed.
    pub fn network_inspect(&self, net: &str, format: &str) -> String {
        self.cli_ok(&["network", "inspect", "-f", format, net])
    }

    /// Creates user network `<prefix>-<suffix>` with the docker CLI; returns its name and its
    /// gateway address (where its DNS server listens).
    pub fn user_network(&self, suffix: &str) -> (String, String) {
        let net = format!("{}-{suffix}", self.prefix);
        self.cli_ok(&["network", "create", &net]);
        let gateway = self.network_inspect(&net, "{{(index .IPAM.Config 0).Gateway}}");
        (net, gateway)
    }

    fn client(&self, program: &std::ffi::OsStr, args: &[&str]) -> (i32, String) {
        self.client_with_input(program, args, "")
    }

    fn client_with_input(
        &self,
        program: &std::ffi::OsStr,
        args: &[&str],
        input: &str,
    ) -> (i32, String) {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = Command::new("timeout")
            .arg("180")
            .arg(program)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.root.join("docker-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the client");
        // Dropped after the write: the client reads the end of its input, as from a closed
        // terminal.
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .expect("the client's input");
        }
        let out = child.wait_with_output().expect("the client's output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// The docker CLI, which must succeed; its trimmed output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let (code, text) = self.cli(args);
        assert_eq!(code, 0, "docker {args:?}: {text}\nlog:\n{}", self.log());
        text.trim().to_string()
    }

    /// `docker swarm init` on loopback (a random swarm port), with `extra` flags; the daemon is
    /// then a one-node swarm's manager.
    pub fn swarm_init_local(&self, extra: &[&str]) {
        let (code, text) = self.try_swarm_init_local(extra);
        assert_eq!(
            code,
            0,
            "swarm init {extra:?}: {text}\nlog:\n{}",
            self.log()
        );
    }

    /// `swarm_init_local` that may fail: the CLI's exit code and output.
    pub fn try_swarm_init_local(&self, extra: &[&str]) -> (i32, String) {
        let port = self.net_names().vxlan_port.to_string();
        let mut args = vec![
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            "127.0.0.1:0",
            "--data-path-port",
            &port,
        ];
        args.extend_from_slice(extra);
        self.cli(&args)
    }

    /// berthd's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("berthd runs").id()
    }

    /// Open descriptors of berthd.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The API answers: ping, version, the container list.
    pub fn assert_serving(&self) {
        for path in ["/_ping", "/version", "/containers/json?all=1"] {
            let r = self.try_request("GET", path, b"").unwrap_or_else(|e| {
                panic!("berthd does not answer {path}: {e}\nlog:\n{}", self.log())
            });
            assert_eq!(r.status, 200, "{path}: {}", r.text());
        }
        assert!(self.child.as_ref().is_some(), "berthd is not running");
    }

    /// Waits until berthd holds at most `baseline + slack` descriptors again (a flood's
    /// sockets and relays are released); fails naming the count otherwise.
    pub fn assert_fds_settle(&self, baseline: usize, slack: usize) {
        let settled = wait_until(Duration::from_secs(30), || {
            self.fd_count() <= baseline + slack
        });
        assert!(
            settled,
            "berthd holds {} descriptors, {baseline} before",
            self.fd_count()
        );
    }

    /// Mount points under this daemon's roots.
    pub fn mounts_under_root(&self) -> Vec<String> {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        crate::cleanup::mounts_under(&table, &self.root)
            .into_iter()
            .map(|m| m.display().to_string())
            .collect()
    }
}
