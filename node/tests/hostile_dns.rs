//! Hostile packets against the embedded DNS of a user network, from a container, with a real
//! berthd: the truncated question from the review (it killed berthd), other malformed and
//! random datagrams, a flood of queries for names relayed to the host's resolvers, and over
//! TCP garbage and more connections than it serves. Each ends with berthd answering, names
//! still resolving and its descriptors back where they were.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};

/// The host's python3 inside a busybox container (Debian's busybox nc has no UDP).
const PYTHON: [&str; 6] = [
    "-v",
    "/usr:/usr:ro",
    "-v",
    "/usr/lib:/lib:ro",
    "-v",
    "/usr/lib64:/lib64:ro",
];

/// Sends the hostile datagrams to the gateway's port 53, then asks for argv[2] and prints
/// the answer's address (or "no answer").
const ATTACK: &str = r#"import os, random, socket, sys
gw, name, flood = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def q(qname, qtype=b'\x00\x01', qclass=b'\x00\x01', ident=b'\x12\x34'):
    p = ident + b'\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
    for l in qname.split('.'):
        p += bytes([len(l)]) + l.encode()
    return p + b'\x00' + qtype + qclass
# First the review's packet: a known name, its type, no class.
bad = [q(name)[:-2], b'', b'\x00', b'\x12\x34\x01\x00\x00\x01', q(name)[:-1], q(name)[:13],
       b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01',
       b'\x12\x34\x01\x00\xff\xff\x00\x00\x00\x00\x00\x00' + b'\x3f' + b'a' * 63,
       b'\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00' + q(name)[12:]]
for p in bad:
    s.sendto(p, (gw, 53))
rnd = random.Random(7)
for _ in range(2000):
    s.sendto(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 80))), (gw, 53))
for i in range(flood):
    s.sendto(q('nx%d.invalid' % i, ident=os.urandom(2)), (gw, 53))
s.settimeout(2)
for _ in range(20):
    ident = os.urandom(2)
    s.sendto(q(name, ident=ident), (gw, 53))
    try:
        while True:
            r, _ = s.recvfrom(4096)
            if r[:2] == ident and r[7] >= 1:
                print('.'.join(str(b) for b in r[-4:]))
                sys.exit(0)
    except socket.timeout:
        pass
print('no answer')
"#;

#[test]
fn malformed_packets_and_a_query_flood_leave_the_dns_answering() {
    require_root!();
    let d = TestDaemon::with_busybox("hdns");
    let (net, gateway) = d.user_network("n");
    let target = format!("{}-target", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &target,
        "--network",
        &net,
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = d.cli_ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        &target,
    ]);
    let fds = d.fd_count();
    let mut args = vec!["run", "--rm", "--network", &net];
    args.extend(PYTHON);
    args.extend([
        "busybox",
        "/usr/bin/python3",
        "-c",
        ATTACK,
        &gateway,
        &target,
        "20000",
    ]);
    let answer = d.cli_ok(&args);
    assert_eq!(answer.lines().last(), Some(ip.as_str()), "{answer}");
    d.assert_serving();
    // The relays of the flood are capped and time out: nothing stays held.
    d.assert_fds_settle(fds, 4);
    // And the server still answers a normal lookup afterwards.
    let looked_up = d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "nslookup",
        &target,
    ]);
    assert!(looked_up.contains(&ip), "{looked_up}");
}

/// Asks argv[2] over TCP at argv[1]:53 after a connection that sends garbage (it must be
/// closed, not answered), then prints the answer's record count; then how many addresses
/// glibc's lookup of the name gets (it asks again over TCP when the UDP answer is truncated).
const OVER_TCP: &str = r#"import socket, struct, sys
gw, name = sys.argv[1], sys.argv[2]
# More connections than the server serves at once, held, then let go.
held = [socket.create_connection((gw, 53), timeout=5) for _ in range(150)]
for h in held:
    h.close()
def query(qname):
    p = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
    for l in qname.split('.'):
        p += bytes([len(l)]) + l.encode()
    return p + b'\x00\x00\x01\x00\x01'
bad = socket.create_connection((gw, 53), timeout=5)
bad.sendall(struct.pack('>H', 5) + b'\xff' * 5)
print('garbage closed' if bad.recv(100) == b'' else 'garbage answered')
c = socket.create_connection((gw, 53), timeout=5)
for _ in range(2):
    m = query(name)
    c.sendall(struct.pack('>H', len(m)) + m)
    n = struct.unpack('>H', c.recv(2, socket.MSG_WAITALL))[0]
    r = c.recv(n, socket.MSG_WAITALL)
    print('tcp answers', struct.unpack('>H', r[6:8])[0], 'tc', r[2] & 2)
print('lookup', len(set(a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET))))
"#;

/// A name with more addresses than a UDP answer holds (32 containers behind one alias): the
/// server answers over TCP too, whole, so a lookup gets them all; berth had no TCP and glibc's
/// lookup failed outright ("Temporary failure in name resolution").
#[test]
fn a_name_with_many_addresses_is_answered_whole_over_tcp() {
    require_root!();
    let d = TestDaemon::with_busybox("hdnstcp");
    let (net, gateway) = d.user_network("n");
    for i in 0..32 {
        d.cli_ok(&[
            "run",
            "-d",
            "--name",
            &format!("{}-m{i}", d.prefix),
            "--network",
            &net,
            "--network-alias",
            "many",
            "busybox",
            "sleep",
            "600",
        ]);
    }
    let fds = d.fd_count();
    let mut args = vec!["run", "--rm", "--network", &net];
    args.extend(PYTHON);
    args.extend([
        "busybox",
        "/usr/bin/python3",
        "-c",
        OVER_TCP,
        &gateway,
        "many",
    ]);
    let out = d.cli_ok(&args);
    assert_eq!(
        out,
        "garbage closed\ntcp answers 32 tc 0\ntcp answers 32 tc 0\nlookup 32"
    );
    d.assert_serving();
    // The connections, held or refused, leave nothing behind.
    d.assert_fds_settle(fds, 4);
    d.remove_all();
}
