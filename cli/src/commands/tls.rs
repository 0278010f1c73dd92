//! `berth tls init`: the certificates for berthd's remote API in one command, instead of
//! Docker's page of openssl: a CA, a server certificate for the named hosts and a client
//! certificate, written 0600 into a 0700 directory, and the flags that use them. Local only: it
//! never talks to a daemon.

use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// `berth tls …`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Generate a CA, a server certificate and a client certificate for the remote API
    Init(InitArgs),
}

/// `berth tls init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// DNS name or IP address clients use for the daemon (repeatable; the first names it)
    #[arg(long = "host", id = "san_host", value_name = "NAME", required = true)]
    pub hosts: Vec<String>,
    /// Another IP address of the daemon (repeatable)
    #[arg(long = "ip", value_name = "ADDR")]
    pub ips: Vec<IpAddr>,
    /// Directory to write into (made 0700; berthd reads /etc/berth/tls by default)
    #[arg(long, value_name = "DIR", default_value = "/etc/berth/tls")]
    pub out: PathBuf,
    /// Days the certificates are valid
    #[arg(long, value_name = "N", default_value_t = 365)]
    pub days: u32,
}

/// The files of a set, as Docker's documentation names them (a client reads `ca.pem`,
/// `cert.pem` and `key.pem` from `DOCKER_CERT_PATH`).
pub const FILES: [&str; 6] = [
    "ca.pem",
    "ca-key.pem",
    "server-cert.pem",
    "server-key.pem",
    "cert.pem",
    "key.pem",
];

/// A generated set: PEM text per file of [`FILES`], in that order.
pub struct CertSet(pub [String; 6]);

/// Generates the CA, the server certificate (SANs: `hosts`, `ips`, and loopback so the daemon
/// can also be reached through `localhost`, `127.0.0.1` and `::1`, as Docker's guide adds
/// `IP:127.0.0.1`) and the client certificate, all valid for `days`.
pub fn generate(hosts: &[String], ips: &[IpAddr], days: u32) -> Result<CertSet> {
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clocks behind ours.
    let not_before = now - time::Duration::hours(1);
    let not_after = now + time::Duration::days(i64::from(days.max(1)));
    let first = hosts.first().context("give at least one --host")?;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name(&format!("berth CA for {first}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::default();
    server.distinguished_name = name(first);
    let mut sans: Vec<SanType> = Vec::new();
    for h in hosts {
        sans.push(match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(h.as_str().try_into().with_context(|| {
                format!("--host {h:?} is neither a DNS name nor an IP address")
            })?),
        });
    }
    sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    sans.push(SanType::DnsName("localhost".try_into()?));
    sans.push(SanType::IpAddress([127, 0, 0, 1].into()));
    sans.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    sans.dedup();
    server.subject_alt_names = sans;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (server.not_before, server.not_after) = (not_before, not_after);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let mut client = CertificateParams::default();
    client.distinguished_name = name("client");
    client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    (client.not_before, client.not_after) = (not_before, not_after);
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &issuer)?;

    Ok(CertSet([
        ca_cert.pem(),
        ca_key_pem,
        server_cert.pem(),
        server_key.serialize_pem(),
        client_cert.pem(),
        client_key.serialize_pem(),
    ]))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Writes `set` into `dir` (made 0700, or an existing directory tightened to 0700), every file
/// 0600. Existing files are never overwritten.
pub fn write(dir: &Path, set: &CertSet) -> Result<()> {
    if let Some(existing) = FILES.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
        bail!(
            "{} exists: remove the old files or choose another --out",
            existing.display()
        );
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", dir.display()))?;
    for (file, pem) in FILES.iter().zip(&set.0) {
        let path = dir.join(file);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("create {}", path.display()))?;
        f.write_all(pem.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// `berth tls init`: generates, writes and prints how to use the set.
pub fn run(command: TlsCommand) -> Result<i32> {
    let TlsCommand::Init(args) = command;
    let set = generate(&args.hosts, &args.ips, args.days)?;
    write(&args.out, &set)?;
    let dir = args.out.display();
    let host = &args.hosts[0];
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    println!("Wrote {dir}: ca.pem, ca-key.pem (signs certificates: keep it secret, or delete it),");
    println!("server-cert.pem, server-key.pem (the daemon's), cert.pem and key.pem (a client's).");
    println!();
    println!("Start the daemon with:");
    println!(
        "  berthd -H unix:///run/berth/berth.sock -H tcp://0.0.0.0:2376 --tlsverify \\\n    \
         --tlscacert {dir}/ca.pem --tlscert {dir}/server-cert.pem --tlskey {dir}/server-key.pem"
    );
    println!();
    println!("Use it from a client that has ca.pem, cert.pem and key.pem in DIR:");
    println!("  export DOCKER_HOST=tcp://{host}:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR");
    println!("  berth ps    # or docker ps; here: DOCKER_CERT_PATH={dir}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn ca_roots(set: &CertSet) -> std::sync::Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(&set.0[0])).unwrap();
        std::sync::Arc::new(roots)
    }

    #[test]
    fn the_server_certificate_verifies_against_the_ca_for_its_hosts_and_loopback() {
        let set = generate(&["dock.lan".into()], &["10.0.0.5".parse().unwrap()], 30).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(ca_roots(&set), provider)
                .build()
                .unwrap();
        let server = der(&set.0[2]);
        for name in ["dock.lan", "10.0.0.5", "localhost", "127.0.0.1", "::1"] {
            let name = ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&server, &[], &name, &[], UnixTime::now())
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        let other = ServerName::try_from("other.lan").unwrap();
        assert!(verifier
            .verify_server_cert(&server, &[], &other, &[], UnixTime::now())
            .is_err());
    }

    #[test]
    fn the_client_certificate_verifies_for_client_auth_and_its_key_loads() {
        let set = generate(&["10.1.1.1".into()], &[], 1).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(ca_roots(&set), provider)
                .build()
                .unwrap();
        verifier
            .verify_client_cert(&der(&set.0[4]), &[], UnixTime::now())
            .unwrap();
        // The server certificate lacks the client-auth usage, so it is no client's.
        assert!(verifier
            .verify_client_cert(&der(&set.0[2]), &[], UnixTime::now())
            .is_err());
        rustls::pki_types::PrivateKeyDer::from_pem_slice(set.0[5].as_bytes()).unwrap();
    }

    #[test]
    fn files_are_0600_in_a_0700_directory_and_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tls");
        let set = generate(&["h".into()], &[], 1).unwrap();
        write(&dir, &set).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for f in FILES {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        let e = write(&dir, &set).unwrap_err();
        assert!(e.to_string().contains("exists"), "{e}");
    }
}
