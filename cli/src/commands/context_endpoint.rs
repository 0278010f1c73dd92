//! The `--docker` option of `context create` and `context update`: docker's keys (`host`, `ca`,
//! `cert`, `key`, `skip-tls-verify`, `from`), read as pflag's StringToString reads them (CSV
//! fields of `key=value`), and turned into an endpoint and its TLS files with docker's checks
//! and words. Pure apart from reading the named files.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::context_store::{Context, DockerEndpoint, TlsFiles};

/// One `--docker` value: key → value.
pub type DockerOpts = BTreeMap<String, String>;

const KEYS: [&str; 6] = ["from", "host", "ca", "cert", "key", "skip-tls-verify"];

/// Parses `k=v,k=v` (CSV, so a value may be quoted to hold a comma).
pub fn parse_docker_opts(arg: &str) -> Result<DockerOpts, String> {
    let mut out = DockerOpts::new();
    for field in csv_fields(arg)? {
        match field.split_once('=') {
            Some((k, v)) => out.insert(k.to_string(), v.to_string()),
            None => return Err(format!("{field} must be formatted as key=value")),
        };
    }
    Ok(out)
}

/// The fields of one CSV record, as Go's `encoding/csv` reads them.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(format!("{line}: extraneous or missing \" in quoted-field"))
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err(format!("{line}: extraneous or missing \" in quoted-field")),
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some(c) => field.push(c),
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                }
            }
        }
        fields.push(field);
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => bail!("{key}: parsing {v:?}: invalid syntax"),
    }
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("open {path}: no such file or directory"),
        _ => anyhow!("open {path}: {e}"),
    })
}

/// The endpoint `opts` describe and the TLS files to store with it (`ca.pem`, `cert.pem`,
/// `key.pem`, those given). `from` copies another context's endpoint (`get` looks it up,
/// `default` included) without its TLS material, as docker does. Errors are docker's, without
/// the "unable to create docker endpoint config" its callers put in front.
pub fn docker_endpoint_from(
    opts: &DockerOpts,
    get: impl Fn(&str) -> Result<Context>,
) -> Result<(DockerEndpoint, TlsFiles)> {
    let unknown: Vec<String> = opts
        .keys()
        .filter(|k| !KEYS.contains(&k.as_str()))
        .map(|k| format!("unrecognized config key: {k}"))
        .collect();
    if !unknown.is_empty() {
        bail!("{}", unknown.join("\n"));
    }
    if let Some(from) = opts.get("from") {
        let ep = get(from)?
            .docker_endpoint()
            .map_err(|_| anyhow!("unable to get endpoint from context {from:?}"))?;
        return Ok((ep, Vec::new()));
    }
    let mut files = Vec::new();
    for (key, file) in [("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem")] {
        if let Some(path) = opts.get(key).filter(|p| !p.is_empty()) {
            files.push((file.to_string(), read(path)?));
        }
    }
    let skip_tls_verify = match opts.get("skip-tls-verify") {
        Some(v) => parse_bool("skip-tls-verify", v)?,
        None => false,
    };
    let ep = DockerEndpoint {
        host: opts.get("host").cloned().unwrap_or_default(),
        skip_tls_verify,
    };
    check(&ep, &files)?;
    Ok((ep, files))
}

/// Docker's checks of a new endpoint: a host it can parse, and (when it is not a socket) TLS
/// material it can load.
fn check(ep: &DockerEndpoint, files: &TlsFiles) -> Result<()> {
    if ep.host.is_empty() {
        return Ok(());
    }
    let Some((scheme, _)) = ep.host.split_once("://") else {
        bail!(
            "unable to apply docker endpoint options: unable to parse docker host `{}`",
            ep.host
        );
    };
    if matches!(scheme, "unix" | "npipe" | "fd" | "ssh") {
        return Ok(());
    }
    let file = |name: &str| {
        files
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, d)| d.as_slice())
    };
    let invalid = |why: String| anyhow!("invalid docker endpoint options: {why}");
    if let Some(ca) = file("ca.pem") {
        let certs = CertificateDer::pem_slice_iter(ca)
            .filter_map(Result::ok)
            .count();
        if certs == 0 {
            return Err(invalid(
                "failed to retrieve context tls info: ca.pem seems invalid".into(),
            ));
        }
    }
    if let (Some(cert), Some(key)) = (file("cert.pem"), file("key.pem")) {
        if String::from_utf8_lossy(key).contains("ENCRYPTED") {
            return Err(invalid(
                "private key is encrypted - support for encrypted private keys has been \
                 removed, see https://docs.docker.com/go/deprecated/"
                    .into(),
            ));
        }
        PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| invalid("no valid private key found".into()))?;
        if CertificateDer::pem_slice_iter(cert)
            .filter_map(Result::ok)
            .count()
            == 0
        {
            return Err(invalid(
                "failed to retrieve context tls info: tls: failed to find any PEM data in \
                 certificate input"
                    .into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_opts_are_csv_fields_of_key_value() {
        let o = parse_docker_opts("host=tcp://h:1,\"ca=/a,b\",skip-tls-verify=true").unwrap();
        assert_eq!(o["host"], "tcp://h:1");
        assert_eq!(o["ca"], "/a,b");
        assert_eq!(o["skip-tls-verify"], "true");
        assert_eq!(
            parse_docker_opts("").unwrap_err(),
            " must be formatted as key=value"
        );
        assert_eq!(
            parse_docker_opts("host").unwrap_err(),
            "host must be formatted as key=value"
        );
    }

    #[test]
    fn endpoints_are_checked_in_dockers_words() {
        let none = |_: &str| -> Result<Context> { bail!("no contexts here") };
        let opts = |s: &str| parse_docker_opts(s).unwrap();
        let err = |s: &str| format!("{:#}", docker_endpoint_from(&opts(s), none).unwrap_err());
        assert_eq!(
            err("host=unix:///a,zz=1,bogus=1"),
            "unrecognized config key: bogus\nunrecognized config key: zz"
        );
        assert_eq!(
            err("host=unix:///a,skip-tls-verify=maybe"),
            "skip-tls-verify: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(
            err("host=unix:///a,ca=/nonexistent"),
            "open /nonexistent: no such file or directory"
        );
        assert_eq!(
            err("host=foo"),
            "unable to apply docker endpoint options: unable to parse docker host `foo`"
        );
        let (ep, files) = docker_endpoint_from(&opts("host=ssh://me@h"), none).unwrap();
        assert_eq!(ep.host, "ssh://me@h");
        assert!(files.is_empty() && !ep.skip_tls_verify);
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let arg = format!("host=tcp://h:2376,ca={}", bad.display());
        assert_eq!(
            err(&arg),
            "invalid docker endpoint options: failed to retrieve context tls info: ca.pem seems invalid"
        );
    }

    #[test]
    fn from_copies_the_endpoint_alone() {
        let src = Context::new(
            "src",
            "d",
            &DockerEndpoint {
                host: "tcp://h:1".into(),
                skip_tls_verify: true,
            },
        );
        let opts = parse_docker_opts("from=src").unwrap();
        let (ep, files) = docker_endpoint_from(&opts, |_| Ok(src.clone())).unwrap();
        assert_eq!(ep, src.docker_endpoint().unwrap());
        assert!(files.is_empty());
    }
}
