//! `wpool agent`: serve a cluster's jobs on this machine's worker processes.

use anyhow::Context as _;
use clap::Args;
use signal_hook::consts::{SIGINT, SIGTERM};
use wpool::Pool;

use super::interrupt::Interrupt;
use super::{Outcome, warn};

/// Run the tasks of the jobs submitted to a NATS JetStream server (with
/// `wpool run --nats URL`) on this machine's locked-down worker processes,
/// until stopped.
///
/// Start one agent on each machine; each takes at most SLOTS tasks at once.
/// A job brings its limits (--timeout, --max-memory, ...), retries and
/// --reuse from the submitter; the agent compiles its component once,
/// keeps it in the compile cache, and publishes each result before it
/// acknowledges the task. When an agent dies, its unfinished tasks go to
/// the other agents after the submitter's --ack-wait.
///
/// A server that goes away while the agent runs is reconnected to, with
/// backoff, and the agent serves again once it is back.
///
/// SIGTERM or Ctrl-C stops the agent: it takes no more tasks, hands the
/// ones it holds back to the server, which gives them to another agent at
/// once (not after --ack-wait), stops its workers and exits 0. A second
/// signal exits at once (130); its tasks then go after --ack-wait.
///
/// Exit status: 2 when the server cannot be reached at start or has no
/// JetStream.
///
/// Example:
///
///   nats-server -js &
///   wpool agent --nats nats://127.0.0.1:4222 --slots 4
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct AgentArgs {
    /// The server: nats://HOST:PORT or tls://HOST:PORT, with USER:PASSWORD@
    /// when it asks for them.
    #[arg(long, value_name = "URL")]
    nats: String,

    /// Connect with this NATS credentials file (.creds).
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<std::path::PathBuf>,

    /// Tasks run at once, each on a worker process [default: the number of
    /// cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    slots: Option<u16>,

    /// Do not use the compile cache.
    #[arg(long)]
    no_cache: bool,
}

pub(crate) fn agent(args: AgentArgs) -> anyhow::Result<Outcome> {
    let mut pool = Pool::builder();
    if let Some(slots) = args.slots {
        pool = pool.workers(slots.into());
    }
    if let Some(file) = args.nats_creds {
        pool = pool.nats_credentials(file);
    }
    if args.no_cache {
        pool = pool.compile_cache(None);
    }
    // Caught from here on: one that comes while the agent connects stops
    // it once it has.
    let interrupt = Interrupt::install_for(&[SIGTERM, SIGINT]).context("cannot handle signals")?;
    let agent = pool.agent(&args.nats)?;
    let stop = agent.stopper();
    interrupt
        .on_signal(move || {
            warn("stopping: handing back the tasks held");
            stop.stop();
        })
        .context("cannot handle signals")?;
    warn(format_args!("agent serving {}", args.nats));
    agent.run()?;
    Ok(Outcome::Success)
}
