//! The worker's process lockdown, the second wall behind wasm's own sandbox.
//! [`enter`] runs first thing in a worker, while it has a single thread:
//! fresh user and network namespaces, death with the parent, no new
//! privileges. [`shut_files`] follows, still on the single thread, once the
//! worker has read its setup from the host and loaded its first task's
//! compiled code (the one file it opens, a descriptor the host sent):
//! Landlock with no file access. Every thread started later inherits all
//! of it. [`seal`] runs once the engine is ready and before any guest code:
//! rlimits, and a seccomp allowlist applied to every thread.
//!
//! Each layer is applied where the kernel offers it and reported either way
//! ([`Layer`]); `wpool doctor` reads the report of a probe process.

// `unshare(2)` is the one call here that rustix marks unsafe.
#![allow(unsafe_code)]

use std::collections::BTreeMap;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetStatus,
    Scope,
};
use rustix::process::{Resource, Rlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::protocol::Layer;

/// Open files a sealed worker may hold: what it has (its pipes, the engine's
/// memory images) with room to spare; a task opens none.
const MAX_OPEN_FILES: u64 = 64;
/// Private writable memory a sealed worker may hold beyond one task's
/// linear-memory cap and values: the engine, the compiled code, stacks and
/// tables.
/// A ready worker holds about 35 MiB of it.
const DATA_HEADROOM: u64 = 1 << 30;

fn layer(name: &str, outcome: Result<String, String>) -> Layer {
    Layer {
        name: name.to_string(),
        outcome,
    }
}

/// The first lockdown step; must run while the process has one thread.
/// `parent` is the host's process id: the worker exits at once if the host
/// is already gone.
pub(crate) fn enter(parent: u32) -> Vec<Layer> {
    // The one file a worker keeps using, opened before Landlock shuts file
    // access: wasmtime's `/proc/self/pagemap`, held open for the life of the
    // process, with which the pooling allocator resets only the pages a
    // task dirtied (see `runtime::config`). Without it, every reset clears
    // the whole resident region.
    wasmtime::PoolingAllocationConfig::is_pagemap_scan_available();
    // A new user namespace resets the parent-death signal: unshare first.
    let namespaces = layer("namespaces", unshare_network());
    let death = layer("die with parent", die_with_parent(parent));
    let privileges = layer(
        "no new privileges",
        rustix::thread::set_no_new_privs(true)
            .map(|()| "setuid binaries and file capabilities cannot raise privileges".into())
            .map_err(|e| e.to_string()),
    );
    vec![death, namespaces, privileges]
}

/// The step between [`enter`] and [`seal`], which must also run while the
/// process has one thread: Landlock, with no file access. Until then the
/// worker opens only what the host sent it (see `load::load_first`).
pub(crate) fn shut_files() -> Layer {
    layer("landlock", landlock())
}

/// The last lockdown step, before guest code runs. `max_memory` is what a
/// task may hold, its linear-memory cap and its values, which bounds the
/// worker's data size.
pub(crate) fn seal(max_memory: u64) -> Vec<Layer> {
    vec![
        layer("rlimits", rlimits(max_memory)),
        layer("seccomp", seccomp()),
    ]
}

/// Caps the data (heap and other private writable memory) the worker may
/// hold while it compiles the component: a component crafted to make the
/// compiler balloon makes an allocation fail, and the worker abort, at the
/// cap. Only the soft limit is lowered; [`seal`] then sets the limit tasks
/// run under.
pub(crate) fn cap_compile_memory(bytes: u64) {
    let hard = rustix::process::getrlimit(Resource::Data).maximum;
    let limit = Rlimit {
        current: Some(hard.map_or(bytes, |hard| bytes.min(hard))),
        maximum: hard,
    };
    // Without the cap a compile is only bounded by its deadline.
    let _ = rustix::process::setrlimit(Resource::Data, limit);
}

/// Makes a call outside the seccomp allowlist: starting a process. A sealed
/// worker dies of it with `SIGSYS`.
pub(crate) fn try_forbidden_call() {
    let _ = std::process::Command::new("/bin/true").status();
}

/// An empty network namespace: no interface but a loopback that is down.
/// Inside a user namespace when unprivileged; a privileged worker gets the
/// network namespace alone when user namespaces are off.
fn unshare_network() -> Result<String, String> {
    use rustix::thread::UnshareFlags;
    let unshare = |flags| {
        // SAFETY: the flags hold no `FILES`, the one flag that can leave
        // threads disagreeing on file descriptors, and the worker has a
        // single thread at this point anyway.
        unsafe { rustix::thread::unshare_unsafe(flags) }
    };
    match unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNET) {
        Ok(()) => Ok("new user and network namespaces (no network)".into()),
        Err(user_error) => match unshare(UnshareFlags::NEWNET) {
            Ok(()) => Ok("new network namespace (no network)".into()),
            Err(e) => Err(format!(
                "unshare refused: {user_error} (user+net), {e} (net)"
            )),
        },
    }
}

/// Asks the kernel to kill this process when its parent dies, then checks
/// that the parent did not die before the request took effect.
fn die_with_parent(parent: u32) -> Result<String, String> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| e.to_string())?;
    let still_there =
        rustix::process::getppid().is_some_and(|pid| pid.as_raw_pid() as u32 == parent);
    if !still_there {
        std::process::exit(1);
    }
    Ok("SIGKILL when the host exits".into())
}

/// A Landlock domain that handles every file and TCP access the kernel
/// knows and allows none; it also scopes signals and abstract sockets.
fn landlock() -> Result<String, String> {
    let abi = ABI::V6;
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.scope(Scope::from_all(abi)))
        .and_then(|r| r.create())
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok("no file access, no TCP, no signals out".into()),
        RulesetStatus::PartiallyEnforced => {
            Ok("no file access (this kernel's Landlock lacks some of TCP or scoping)".into())
        }
        RulesetStatus::NotEnforced => Err("the kernel does not offer Landlock".into()),
    }
}

fn rlimits(max_memory: u64) -> Result<String, String> {
    let data = max_memory.saturating_add(DATA_HEADROOM);
    let limits = [
        (Resource::Core, 0, "core dumps 0"),
        (Resource::Fsize, 0, "file size 0"),
        (Resource::Nofile, MAX_OPEN_FILES, "open files"),
        (Resource::Data, data, "data"),
    ];
    let mut applied = Vec::new();
    for (resource, max, name) in limits {
        let limit = Rlimit {
            current: Some(max),
            maximum: Some(max),
        };
        rustix::process::setrlimit(resource, limit).map_err(|e| format!("{name}: {e}"))?;
        applied.push(match resource {
            Resource::Nofile => format!("{name} {max}"),
            Resource::Data => format!("{name} {}", bytesize::ByteSize::b(max).display().iec()),
            _ => name.to_string(),
        });
    }
    Ok(applied.join(", "))
}

/// The system calls a ready worker makes: reading requests and writing
/// results (and `recvmsg` on stdin, allowed in [`seccomp`]), memory
/// management for instances, fibers and traps, clocks and sleeps for
/// deadlines, randomness for WASI, exiting.
const ALLOWED: &[i64] = &[
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_futex,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_membarrier,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigaction,
    libc::SYS_sigaltstack,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_tgkill,
    libc::SYS_ppoll,
    libc::SYS_epoll_pwait,
    libc::SYS_exit,
    libc::SYS_exit_group,
    // A thread still starting when the filter lands.
    libc::SYS_rseq,
    libc::SYS_set_robust_list,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
];

/// Calls a guest can provoke through WASI (opening a file, making a
/// socket): they fail with `EACCES` instead of killing the worker.
const REFUSED: &[i64] = &[
    libc::SYS_openat,
    libc::SYS_socket,
    libc::SYS_connect,
    libc::SYS_bind,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
];

/// Calls that fail with `ENOSYS`, as on a kernel without them: a task
/// loaded after the seal would get its memory image as a `memfd`, whose
/// writes the file-size limit of 0 forbids; wasmtime takes `ENOSYS` as
/// no `memfd` at all, and copies the task's data into each instance.
const MISSING: &[i64] = &[libc::SYS_memfd_create];

/// `PAGEMAP_SCAN`: `_IOWR('f', 16, struct pm_scan_arg)`, a 96-byte argument.
const PAGEMAP_SCAN: u64 = (3 << 30) | (96 << 16) | ((b'f' as u64) << 8) | 16;

/// Two filters on every thread: one refuses [`REFUSED`] with `EACCES`, the
/// other kills the process on any call outside [`ALLOWED`] and
/// [`REFUSED`]. The kernel takes the strictest answer of the two.
fn seccomp() -> Result<String, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let filter = |calls: &[i64], matched, otherwise| -> Result<BpfProgram, String> {
        let mut rules: BTreeMap<i64, _> = calls.iter().map(|&call| (call, vec![])).collect();
        if matched == SeccompAction::Allow {
            // A starting thread names itself; nothing else of prctl.
            let set_name = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                libc::PR_SET_NAME as u64,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
            .map_err(|e| e.to_string())?;
            rules.insert(libc::SYS_prctl, vec![set_name]);
            // The pooling allocator's page scan; no other ioctl.
            let pagemap_scan =
                SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, PAGEMAP_SCAN)
                    .and_then(|c| SeccompRule::new(vec![c]))
                    .map_err(|e| e.to_string())?;
            rules.insert(libc::SYS_ioctl, vec![pagemap_scan]);
            // Requests, and the compiled code that comes with them, on
            // stdin; no other socket.
            let stdin = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, 0)
                .and_then(|c| SeccompRule::new(vec![c]))
                .map_err(|e| e.to_string())?;
            rules.insert(libc::SYS_recvmsg, vec![stdin]);
        }
        SeccompFilter::new(rules, otherwise, matched, arch)
            .and_then(BpfProgram::try_from)
            .map_err(|e| e.to_string())
    };
    let all: Vec<i64> = ALLOWED
        .iter()
        .chain(REFUSED)
        .chain(MISSING)
        .copied()
        .collect();
    let refuse = filter(
        REFUSED,
        SeccompAction::Errno(libc::EACCES as u32),
        SeccompAction::Allow,
    )?;
    let missing = filter(
        MISSING,
        SeccompAction::Errno(libc::ENOSYS as u32),
        SeccompAction::Allow,
    )?;
    let allow = filter(&all, SeccompAction::Allow, SeccompAction::KillProcess)?;
    for program in [&refuse, &missing, &allow] {
        seccompiler::apply_filter_all_threads(program).map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "{} system calls allowed, {} refused, any other kills the worker; all threads",
        ALLOWED.len() + 3,
        REFUSED.len() + MISSING.len()
    ))
}
