//! Builds `berth-init` (init/berth-init.c) as a static binary: `--init` mounts it into
//! containers, whose images may have no libc at all; links `berth-monitor` at a fixed address.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=init/berth-init.c");
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
