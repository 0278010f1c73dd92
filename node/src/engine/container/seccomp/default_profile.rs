//! Docker's default seccomp profile (moby's `profiles/seccomp`, as of Docker 28) written as our
//! own table: an allow-list where everything else gets EPERM, argument filters on `socket`,
//! `personality` and `clone`, and calls unlocked by a capability or present on some
//! architectures only. `render.rs` resolves it for one container.

use oci_spec::runtime::{Arch, LinuxSeccompAction as Action, LinuxSeccompOperator as Op};

use super::profile::{ArchMap, Arg, Filter, Profile, Rule};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Calls every container may make, whatever its capabilities. Names the host's libseccomp does
/// not know are skipped when the filter is loaded, as Docker does.
const ALLOWED: &str = "
    accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
    chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
    fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
    fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
    futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
    getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
    getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
    getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32
    getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set
    io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset
    landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
    listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
    map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
    mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl
    msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
    _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
    pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
    process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
    readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
    removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe rmdir
    rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
    sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
    sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
    setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
    setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
    setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
    setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
    sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount
    statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
    timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
    timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times
    tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat
    utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
";

/// Calls a capability unlocks (Docker's `includes.caps`): without it they get EPERM, as the
/// kernel would mostly answer anyway, but through far less kernel code.
const BY_CAPABILITY: [(&str, &str); 14] = [
    ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    (
        "CAP_SYS_ADMIN",
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie \
         lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount \
         open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog \
         umount umount2 unshare",
    ),
    ("CAP_SYS_BOOT", "reboot"),
    ("CAP_SYS_CHROOT", "chroot"),
    ("CAP_SYS_MODULE", "delete_module init_module finit_module"),
    ("CAP_SYS_PACCT", "acct"),
    (
        "CAP_SYS_PTRACE",
        "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    ),
    ("CAP_SYS_RAWIO", "iopl ioperm"),
    (
        "CAP_SYS_TIME",
        "settimeofday stime clock_settime clock_settime64",
    ),
    ("CAP_SYS_TTY_CONFIG", "vhangup"),
    (
        "CAP_SYS_NICE",
        "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    ),
    ("CAP_SYSLOG", "syslog"),
    ("CAP_BPF", "bpf"),
    ("CAP_PERFMON", "perf_event_open"),
];

/// Calls that exist on some architectures only (Docker's `includes.arches`, libseccomp's names).
const BY_ARCH: [(&str, &str); 6] = [
    ("ppc64le", "sync_file_range2 swapcontext"),
    (
        "arm arm64",
        "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
    ),
    ("amd64 x32", "arch_prctl"),
    ("amd64 x32 x86", "modify_ldt"),
    (
        "s390 s390x",
        "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
    ),
    ("riscv64", "riscv_flush_icache"),
];

/// The `personality(2)` values allowed: PER_LINUX, PER_LINUX32, each with UNAME26, and the
/// query (0xffffffff); others (e.g. ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) weaken the process.
const PERSONAS: [u64; 5] = [0x0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// AF_ALG (kernel crypto) and AF_VSOCK (host sockets) are refused; AF_ALG + 1 between them is not.
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;

/// clone(2)'s namespace flags: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID |
/// NEWNET. Without CAP_SYS_ADMIN a container may clone only with none of them.
pub const CLONE_NAMESPACES: u64 = 0x7E02_0000;

/// Docker's default profile, before it is resolved for a container.
pub fn profile() -> Profile {
    let mut rules = vec![allow(ALLOWED)];
    // Before 4.8 ptrace could bypass seccomp; Docker allows it from 4.8 on.
    rules.push(Rule {
        includes: Filter {
            min_kernel: Some((4, 8)),
            ..Filter::default()
        },
        ..allow("process_vm_readv process_vm_writev ptrace")
    });
    for (value, op) in [
        (AF_ALG, Op::ScmpCmpLt),
        (AF_ALG + 1, Op::ScmpCmpEq),
        (AF_VSOCK, Op::ScmpCmpGt),
    ] {
        rules.push(allow_if("socket", 0, value, op));
    }
    for persona in PERSONAS {
        rules.push(allow_if("personality", 0, persona, Op::ScmpCmpEq));
    }
    for (arches, names) in BY_ARCH {
        rules.push(Rule {
            includes: Filter {
                arches: words(arches),
                ..Filter::default()
            },
            ..allow(names)
        });
    }
    for (cap, names) in BY_CAPABILITY {
        rules.push(Rule {
            includes: Filter {
                caps: vec![cap.to_string()],
                ..Filter::default()
            },
            ..allow(names)
        });
    }
    rules.extend(clone_rules());
    Profile {
        default_action: Some(Action::ScmpActErrno),
        default_errno_ret: Some(EPERM),
        arch_map: arch_map(),
        syscalls: rules,
        ..Profile::default()
    }
}

/// `clone` without namespace flags unless CAP_SYS_ADMIN (s390 passes the flags second), and
/// `clone3` refused with ENOSYS rather than EPERM: its flags live in memory a filter cannot
/// read, and ENOSYS makes glibc fall back to `clone`.
fn clone_rules() -> [Rule; 3] {
    let sys_admin = || vec!["CAP_SYS_ADMIN".to_string()];
    let s390 = || words("s390 s390x");
    let no_namespaces = |index| Arg {
        index,
        value: CLONE_NAMESPACES,
        value_two: 0,
        op: Op::ScmpCmpMaskedEq,
    };
    [
        Rule {
            args: vec![no_namespaces(0)],
            excludes: Filter {
                caps: sys_admin(),
                arches: s390(),
                ..Filter::default()
            },
            ..allow("clone")
        },
        Rule {
            args: vec![no_namespaces(1)],
            includes: Filter {
                arches: s390(),
                ..Filter::default()
            },
            excludes: Filter {
                caps: sys_admin(),
                ..Filter::default()
            },
            ..allow("clone")
        },
        Rule {
            action: Action::ScmpActErrno,
            errno_ret: Some(ENOSYS),
            excludes: Filter {
                caps: sys_admin(),
                ..Filter::default()
            },
            ..allow("clone3")
        },
    ]
}

/// Each native architecture and the compat ones its processes may also use.
fn arch_map() -> Vec<ArchMap> {
    let map = |architecture, sub: &[Arch]| ArchMap {
        architecture,
        sub_architectures: sub.to_vec(),
    };
    vec![
        map(
            Arch::ScmpArchX86_64,
            &[Arch::ScmpArchX86, Arch::ScmpArchX32],
        ),
        map(Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
        map(
            Arch::ScmpArchMips64,
            &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
        ),
        map(
            Arch::ScmpArchMips64n32,
            &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
        ),
        map(
            Arch::ScmpArchMipsel64,
            &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
        ),
        map(
            Arch::ScmpArchMipsel64n32,
            &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
        ),
        map(Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
        map(Arch::ScmpArchRiscv64, &[]),
        map(Arch::ScmpArchLoongarch64, &[]),
    ]
}

fn words(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_string).collect()
}

/// An unconditional allow rule for `names` (whitespace-separated).
fn allow(names: &str) -> Rule {
    Rule {
        names: words(names),
        name: String::new(),
        action: Action::ScmpActAllow,
        errno_ret: None,
        args: Vec::new(),
        comment: String::new(),
        includes: Filter::default(),
        excludes: Filter::default(),
    }
}

/// `name` allowed when argument `index` compares to `value` by `op`.
fn allow_if(name: &str, index: u32, value: u64, op: Op) -> Rule {
    Rule {
        args: vec![Arg {
            index,
            value,
            value_two: 0,
            op,
        }],
        ..allow(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_namespaces_are_the_kernels_flags() {
        let flags = [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWCGROUP,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
        ]
        .into_iter()
        .fold(0, |acc, f| acc | u64::try_from(f).unwrap());
        assert_eq!(flags, CLONE_NAMESPACES);
        assert_eq!(
            (
                u64::try_from(libc::AF_ALG).unwrap(),
                u64::try_from(libc::AF_VSOCK).unwrap()
            ),
            (AF_ALG, AF_VSOCK)
        );
        assert_eq!(u32::try_from(libc::ENOSYS).unwrap(), ENOSYS);
    }

    #[test]
    fn the_allow_list_has_the_usual_calls_and_none_of_the_dangerous_ones() {
        let always = words(ALLOWED);
        assert_eq!(always.len(), 361);
        for ok in [
            "read",
            "openat",
            "execve",
            "fork",
            "wait4",
            "setresuid",
            "io_submit",
        ] {
            assert!(always.iter().any(|n| n == ok), "{ok}");
        }
        for bad in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "fsopen",
            "fsconfig",
            "fsmount",
            "open_tree",
            "move_mount",
            "mount_setattr",
            "io_uring_setup",
            "io_uring_enter",
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "kexec_load",
            "init_module",
            "userfaultfd",
            "ptrace",
            "socket",
            "personality",
            "chroot",
        ] {
            assert!(!always.iter().any(|n| n == bad), "{bad}");
        }
    }
}
