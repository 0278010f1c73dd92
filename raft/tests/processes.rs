//! Multi-process test: three `berth-raft-node` processes on 127.0.0.1 with mutual TLS; the
//! leader is SIGKILLed (a real crash: only what was fsynced survives), a new leader takes
//! over, the killed member restarts from its data and catches up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Pki, WAIT};

/// One member process with line-based control.
struct Member {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Member {
    fn spawn(id: u64, addr: &str, dir: &Path, init: Option<&str>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth-raft-node"));
        cmd.arg(id.to_string())
            .arg(addr)
            .arg(dir.join(format!("data-{id}")))
            .arg(dir.join(format!("tls-{id}")));
        if let Some(init) = init {
            cmd.arg(init);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut member = Self {
            child,
            stdin,
            lines,
        };
        assert!(member.line().starts_with("ready "));
        member
    }

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("member answered in time")
    }

    fn ask(&mut self, request: &str) -> String {
        writeln!(self.stdin, "{request}").unwrap();
        self.line()
    }

    fn leader(&mut self) -> Option<u64> {
        self.ask("leader").strip_prefix("leader ")?.parse().ok()
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn wait_leader(members: &mut [(u64, Member)]) -> u64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let leaders: Vec<_> = members.iter_mut().map(|(_, m)| m.leader()).collect();
        if let Some(Some(l)) = leaders.first() {
            if leaders.iter().all(|x| *x == Some(*l)) && members.iter().any(|(id, _)| id == l) {
                return *l;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no leader: {leaders:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_sigkilled_leader_process_loses_no_acknowledged_write_and_restarts_from_disk() {
    let dir = tempfile::TempDir::new().unwrap();
    let pki = Pki::new("process test ca");
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    for id in 1..=3u64 {
        let tls = pki.member(id);
        let tls_dir = dir.path().join(format!("tls-{id}"));
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::write(tls_dir.join("cert.pem"), tls.cert_pem).unwrap();
        std::fs::write(tls_dir.join("key.pem"), tls.key_pem).unwrap();
        std::fs::write(tls_dir.join("ca.pem"), tls.ca_pem).unwrap();
    }
    let init: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    let init = init.join(",");
    let mut members: Vec<(u64, Member)> = (1..=3u64)
        .map(|id| {
            let spec = (id == 1).then_some(init.as_str());
            (
                id,
                Member::spawn(
                    id,
                    &addrs[usize::try_from(id - 1).unwrap()],
                    dir.path(),
                    spec,
                ),
            )
        })
        .collect();
    let leader = wait_leader(&mut members);
    let follower = members.iter().position(|(id, _)| *id != leader).unwrap();
    let mut acked = Vec::new();
    for i in 0..10 {
        let name = format!("p-{i}");
        assert!(members[follower]
            .1
            .ask(&format!("write {name}"))
            .starts_with("ok "));
        acked.push(name);
    }
    let position = members.iter().position(|(id, _)| *id == leader).unwrap();
    let (_, killed) = members.remove(position);
    killed.kill();
    let new_leader = wait_leader(&mut members);
    assert_ne!(new_leader, leader);
    for i in 10..20 {
        let name = format!("p-{i}");
        assert!(members[0]
            .1
            .ask(&format!("write {name}"))
            .starts_with("ok "));
        acked.push(name);
    }
    members.push((
        leader,
        Member::spawn(
            leader,
            &addrs[usize::try_from(leader - 1).unwrap()],
            dir.path(),
            None,
        ),
    ));
    let last = members[0].1.ask("write last");
    let index = last
        .strip_prefix("ok ")
        .expect("final write committed")
        .to_owned();
    acked.push("last".into());
    for (id, member) in &mut members {
        assert_eq!(
            member.ask(&format!("wait {index}")),
            "ok",
            "member {id} applied"
        );
        assert_eq!(
            member.ask("configs"),
            format!("configs {}", acked.join(",")),
            "member {id}"
        );
    }
}
