//! `wpool doctor`: which layers of the worker lockdown this machine applies.
//! It starts a probe, the `wpool` binary in its hidden probe mode, which locks
//! itself down exactly as a worker does, prints each layer, and then makes a
//! system call outside the allowlist, which should kill it.

use std::io::Write as _;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use super::Outcome;

/// The signal seccomp kills a process with.
const SIGSYS: i32 = 31;

pub(crate) fn doctor() -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe().context("cannot find the wpool binary")?;
    let probe = Command::new(&exe)
        .arg(wpool::entry::PROBE_ARG)
        .arg(std::process::id().to_string())
        .env_clear()
        .process_group(0)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", String::from_utf8_lossy(&probe.stdout))?;
    let all_applied = !String::from_utf8_lossy(&probe.stdout).contains("NOT applied");
    let killed = probe.status.signal() == Some(SIGSYS);
    match killed {
        true => writeln!(
            out,
            "check              passed: a forbidden system call killed the probe"
        )?,
        false => writeln!(
            out,
            "check              FAILED: a forbidden system call did not kill the probe ({})",
            probe.status
        )?,
    }
    Ok(Outcome::of(all_applied && killed))
}
