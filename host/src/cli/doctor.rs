//! `wpool doctor`: which layers of the worker lockdown this machine applies.
//! It starts a probe, the `wpool` binary in its hidden probe mode, which locks
//! itself down exactly as a worker does, reports each layer on a line of its
//! own ([`Layer`]), and then makes a system call outside the allowlist,
//! which should kill it.

use std::io::Write as _;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use anyhow::Context as _;
use wpool::entry::Layer;

use super::Outcome;

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
    let report = String::from_utf8_lossy(&probe.stdout);
    let mut all_applied = true;
    let mut layers = 0;
    for line in report.lines() {
        match Layer::from_line(line) {
            Some(layer) => {
                writeln!(out, "{layer}")?;
                all_applied &= layer.outcome.is_ok();
                layers += 1;
            }
            None => {
                writeln!(out, "probe              said something else: {line:?}")?;
                all_applied = false;
            }
        }
    }
    if layers == 0 {
        writeln!(out, "probe              reported no layer")?;
        all_applied = false;
    }
    // Seccomp kills with SIGSYS a process that calls outside its allowlist.
    let killed = probe.status.signal() == Some(libc::SIGSYS);
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
