//! Seccomp filters as BPF, in the monitor: an OCI profile is compiled by libseccomp once per
//! distinct profile and kept in a per-boot cache, then loaded with `seccomp(2)` just before the
//! exec. libcontainer would compile it again for every start and every exec, which with Docker's
//! allow-list and x86_64's three ABIs takes 10–20 ms, more than the rest of a container start.

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// A compiled filter and the `seccomp(2)` flags to load it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `struct sock_filter` entries in the host's byte order, 8 bytes each.
    pub program: Vec<u8>,
    pub flags: u64,
}

/// The filter for `profile`, from the cache in `cache_dir` or compiled and added to it.
pub fn cached(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter, String> {
    let flags = load_flags(profile)?;
    let json = serde_json::to_vec(profile).map_err(|e| format!("seccomp profile: {e}"))?;
    // The library's version is part of the key: another libseccomp may compile differently.
    let version = ScmpVersion::current().map_err(|e| format!("libseccomp version: {e}"))?;
    let mut hash = Sha256::new();
    hash.update(format!("{version} {} shape {TREE}\n", std::env::consts::ARCH).as_bytes());
    hash.update(&json);
    let path = cache_dir.join(format!("{}.bpf", hex::encode(hash.finalize())));
    if let Ok(program) = std::fs::read(&path) {
        if !program.is_empty() && program.len().is_multiple_of(8) {
            return Ok(Filter { program, flags });
        }
    }
    let ctx = context(profile)?;
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| format!("seccomp cache {}: {e}", cache_dir.display()))?;
    // Written aside and renamed: another monitor may be reading or writing the same entry.
    let tmp = cache_dir.join(format!(".{}.tmp", std::process::id()));
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&tmp)
        .map_err(|e| format!("seccomp cache {}: {e}", tmp.display()))?;
    ctx.export_bpf(&file)
        .map_err(|e| format!("compile seccomp profile: {e}"))?;
    let mut program = Vec::new();
    std::io::Seek::rewind(&mut file)
        .and_then(|()| file.read_to_end(&mut program))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("seccomp cache {}: {e}", path.display()))?;
    Ok(Filter { program, flags })
}

/// Loads `filter` on the calling thread. Needs CAP_SYS_ADMIN or no_new_privs.
pub fn load(filter: &Filter) -> Result<(), String> {
    let mut program: Vec<libc::sock_filter> = filter
        .program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let len = u16::try_from(program.len())
        .map_err(|_| format!("seccomp filter of {} instructions", program.len()))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies the filter.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            filter.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(format!(
            "load seccomp filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The profile's flags as `seccomp(2)` flags.
fn load_flags(profile: &LinuxSeccomp) -> Result<u64, String> {
    let mut flags = 0;
    for flag in profile.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only meaningful with a notify listener, which berth never sets up.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err("seccomp flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs seccomp notify, which berth does not support".into())
            }
        };
    }
    Ok(flags)
}

/// The libseccomp filter for `profile`. Calls libseccomp does not know are skipped, as Docker
/// and libcontainer do; argument conditions on one argument given twice become separate rules
/// (either may match), as in runc.
fn context(profile: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
    context_shaped(profile, TREE)
}

/// libseccomp's shape for the syscall numbers: 2, a binary tree; 1, its default, a chain.
const TREE: u32 = 2;

/// `context`, with the syscall numbers laid out as `shape` says.
fn context_shaped(profile: &LinuxSeccomp, shape: u32) -> Result<ScmpFilterContext, String> {
    let fail =
        |what: &'static str| move |e: libseccomp::error::SeccompError| format!("{what}: {e}");
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(fail("seccomp filter"))?;
    // A tree, not a chain of ~370 numbers per ABI: loading a filter, the kernel runs it once
    // for every syscall number of every ABI (to cache the ones it always allows), under the
    // loading task's signal lock; with Docker's profile that was 0.6-0.7 ms of every start,
    // and a syscall the cache does not cover walks the whole chain. The same decisions either
    // way; a libseccomp before 2.5 lacks the setting and makes the chain.
    let _ = ctx.set_ctl_optimize(shape);
    for arch in profile.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(*arch))
            .map_err(fail("seccomp architecture"))?;
    }
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        // libseccomp refuses a rule that repeats the default action; it changes nothing anyway.
        if act == default {
            continue;
        }
        let conditions: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let index = u32::try_from(a.index()).unwrap_or(u32::MAX);
                match a.op() {
                    // OCI: `value` is the mask, `valueTwo` what the masked argument equals.
                    LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
                        index,
                        ScmpCompareOp::MaskedEqual(a.value()),
                        a.value_two().unwrap_or(0),
                    ),
                    op => ScmpArgCompare::new(index, compare_op(op), a.value()),
                }
            })
            .collect();
        let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if conditions.is_empty() {
                ctx.add_rule(act, call).map(|_| ())
            } else if repeated {
                conditions
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, call, &[*c]).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, call, &conditions).map(|_| ())
            };
            added.map_err(|e| format!("seccomp rule for {name}: {e}"))?;
        }
    }
    Ok(ctx)
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map_or(libc::EPERM, |e| i32::try_from(e).unwrap_or(libc::EPERM));
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(u16::try_from(errno).map_err(|_| format!("trace value {errno}"))?)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err("SCMP_ACT_NOTIFY is not supported by berth".into())
        }
    })
}

fn compare_op(op: LinuxSeccompOperator) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(0),
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_profile_is_compiled_once_and_then_read_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0x7E02_0000_u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        let first = cached(&p, dir.path()).unwrap();
        assert!(!first.program.is_empty() && first.program.len().is_multiple_of(8));
        assert_eq!(first.flags, libc::SECCOMP_FILTER_FLAG_LOG);
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(entries.len(), 1, "one entry, no temporary file left");
        let path = entries[0].path();
        std::fs::write(&path, b"cached!!").unwrap();
        assert_eq!(cached(&p, dir.path()).unwrap().program, b"cached!!");
    }

    /// A probe, not a check (ignored; run by hand in an optimized build, as root): the time
    /// `seccomp(2)` takes to load Docker's default profile as a chain and as a tree, each on
    /// a thread of its own. `cargo test --profile dev-release -p berth-node --lib
    /// seccomp_load_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a probe of the kernel's load cost, run by hand"]
    fn seccomp_load_cost() {
        use crate::engine::container::seccomp::{default_profile, render, Target};
        let caps = crate::engine::container::caps::effective(false, &[], &[], u64::MAX).0;
        let target = Target {
            caps: &caps,
            arch: crate::engine::container::seccomp::native_arch(),
            kernel: (6, 1),
        };
        let p: LinuxSeccomp =
            serde_json::from_value(render(&default_profile::profile(), &target).unwrap()).unwrap();
        for (name, shape) in [("chain", 1), ("tree", TREE)] {
            let ctx = context_shaped(&p, shape).unwrap();
            let mut file = tempfile::tempfile().unwrap();
            ctx.export_bpf(&file).unwrap();
            let mut program = Vec::new();
            std::io::Seek::rewind(&mut file).unwrap();
            file.read_to_end(&mut program).unwrap();
            let filter = Filter { program, flags: 0 };
            let mut took: Vec<f64> = (0..200)
                .map(|_| {
                    let f = filter.clone();
                    std::thread::spawn(move || {
                        // SAFETY: sets no_new_privs on this throwaway thread only.
                        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                        let t = std::time::Instant::now();
                        load(&f).unwrap();
                        t.elapsed().as_secs_f64() * 1000.0
                    })
                    .join()
                    .unwrap()
                })
                .collect();
            took.sort_by(f64::total_cmp);
            println!(
                "{name}: {} instructions, load p50 {:.3} ms, p90 {:.3} ms",
                filter.program.len() / 8,
                took[100],
                took[180]
            );
        }
    }

    #[test]
    fn notify_and_its_flag_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let notify = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(cached(&notify, dir.path()).unwrap_err().contains("NOTIFY"));
        let flag = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}));
        assert!(cached(&flag, dir.path()).unwrap_err().contains("notify"));
    }
}
