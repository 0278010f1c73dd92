//! Builds `berth-init` (init/berth-init.c) as a static binary: `--init` mounts it into
//! containers, whose images may have no libc at all; links `berth-monitor` at a fixed address;
//! records the source's commit and date for `/version` (`BERTH_GIT_COMMIT`, `BERTH_BUILD_TIME`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=init/berth-init.c");
    record_source();
    // The monitor is linked at a fixed address (not PIE). As a PIE, the loader relocated its
    // ~470 KiB of read-only data holding addresses (vtables, string tables) in every monitor,
    // which made them private dirty pages: a third of an idle monitor's memory, a thousand
    // times over. Linked at a fixed address that data is the file's, shared by all monitors.
    // containerd's shim, a Go program, is not PIE either.
    println!("cargo:rustc-link-arg-bin=berth-monitor=-no-pie");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("berth-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-Os", "-s", "-Wall", "-o"])
        .arg(&out)
        .arg("init/berth-init.c")
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => panic!("building init/berth-init.c with {cc} -static failed ({other:?}); install gcc and libc6-dev"),
    }
}

/// Sets `BERTH_GIT_COMMIT` (7 hex digits, as Docker's, or `unknown` outside a git checkout) and
/// `BERTH_BUILD_TIME` (RFC 3339, as Docker's `BuildTime`): `SOURCE_DATE_EPOCH` when set, else
/// the commit's date, so a build is reproducible and an unchanged tree is not rebuilt.
fn record_source() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    // Rebuilt when HEAD moves: HEAD itself, the branch it names, and packed refs.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = PathBuf::from(dir);
        let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs")];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(dir.join(branch));
        }
        // A path that does not exist would rerun this script on every build.
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let commit = git(&["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .or_else(|| git(&["log", "-1", "--format=%ct"]))
        .and_then(|s| s.trim().parse::<i64>().ok());
    let time = epoch.map(rfc3339).unwrap_or_default();
    println!("cargo:rustc-env=BERTH_BUILD_TIME={time}");
}

/// Seconds since the epoch as `2006-01-02T15:04:05.000000000+00:00` (UTC).
fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000000+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
