//! Faults that only the test suite provokes, in the worker process itself,
//! where no guest can: the host passes `WPOOL_TEST_HOOK` from its own
//! environment to its workers (which otherwise start with an empty one), and
//! guests see no environment at all.
//!
//! - `slow-compile`: the worker sleeps instead of compiling, so the host's
//!   compile deadline fires.
//! - `forbidden-syscall=N`: before task N, the worker tries to start a
//!   process, which its seccomp filter forbids.

/// A fault to provoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    SlowCompile,
    ForbiddenSyscall(u64),
}

/// The hook this process was given, if any.
pub(crate) fn get() -> Option<Hook> {
    let value = std::env::var(crate::protocol::TEST_HOOK_VAR).ok()?;
    match value.split_once('=') {
        None if value == "slow-compile" => Some(Hook::SlowCompile),
        Some(("forbidden-syscall", index)) => index.parse().ok().map(Hook::ForbiddenSyscall),
        _ => None,
    }
}

/// Sleeps for longer than any compile deadline of the test suite.
pub(crate) fn stall() {
    std::thread::sleep(std::time::Duration::from_secs(600));
}

/// Makes a call outside the seccomp allowlist: starting a process.
pub(crate) fn forbidden_syscall() {
    let _ = std::process::Command::new("/bin/true").status();
}
