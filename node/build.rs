//! Builds `berth-init` (init/berth-init.c) as a static binary: `--init` mounts it into
//! containers, whose images may have no libc at all.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=init/berth-init.c");
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
