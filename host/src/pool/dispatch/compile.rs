//! A task's compiled component, before any worker runs it: from the pool's
//! memory, else from the compile cache, else compiled by a worker process
//! of its own, which sends the artifact back before it runs any guest code
//! and is stopped then. Every worker of a run loads that artifact: a
//! component is compiled once, under one deadline and one memory cap, and a
//! worker sealed by its lockdown (which may not compile) can take it too.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::known::Known;
use super::process::{Ended, EventKind, Place, WorkerProcess};
use crate::pool::cache::CompileCache;
use crate::pool::error::Error;
use crate::pool::job::Job;
use crate::pool::task::Task;
use crate::protocol::artifact::Artifact;
use crate::protocol::{Code, Setup};

/// Worker deaths in a row, with no batch finished in between (or, here,
/// before the component is compiled), before a run stops: a crash loop is
/// reported, not respawned forever.
pub(super) const MAX_DEATHS_IN_A_ROW: u32 = 8;

/// A task ready for workers: the id they know it by, and its compiled
/// component, sealed to be passed to them.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub id: u32,
    pub compiled: Artifact,
}

/// `task`, compiled: see the module's docs. Tasks of a pool have the ids
/// it gives them (`known`); a run without one has the one task, id 0.
///
/// # Errors
/// As the compile of a run: [`Error::SpawnWorker`], [`Error::CannotRun`],
/// [`Error::CompileTimeout`], [`Error::CrashLoop`].
pub(crate) fn prepare(
    job: &Arc<Job>,
    task: &Task,
    known: Option<&Known>,
) -> Result<Prepared, Error> {
    let (id, compiled) = match known {
        Some(known) => known.get(task),
        None => (0, None),
    };
    if let Some(compiled) = compiled {
        return Ok(Prepared { id, compiled });
    }
    let settings = &job.settings;
    let cache = settings.cache_dir.as_deref().and_then(|dir| {
        let cache = CompileCache::open_or_warn(dir)?;
        let entry = cache
            .entry(task.digest(), &settings.limits, task.concurrency())
            .ok()?;
        Some((cache, entry))
    });
    let cached = cache.as_ref().and_then(|(cache, entry)| cache.get(entry));
    let compiled = match cached {
        Some(artifact) => artifact,
        None => {
            let bytes = compile(job, task)?;
            if let Some((cache, entry)) = &cache {
                // A cache that cannot be written only costs speed.
                let _ = cache.put(entry, &bytes);
            }
            Artifact::new(&bytes).map_err(|e| Error::CannotRun {
                name: task.component().name().to_string(),
                reason: format!("its compiled code cannot be sealed for the workers: {e}"),
            })?
        }
    };
    if let Some(known) = known {
        known.compiled(id, &compiled);
    }
    Ok(Prepared { id, compiled })
}

/// Compiles `task`'s component in a worker process that sends the artifact
/// back, under the pool's compile deadline and memory cap. A worker that
/// dies otherwise is started again, until too many die in a row.
fn compile(job: &Arc<Job>, task: &Task) -> Result<Bytes, Error> {
    let settings = &job.settings;
    let name = || task.component().name().to_string();
    let mut deaths = 0;
    loop {
        let setup = Setup {
            worker_id: job.next_worker_id(),
            limits: settings.limits.clone(),
            reuse: settings.reuse,
            compile_memory: settings.compile_memory,
            stream_output: false,
            export: task.worker_export(0),
            code: Code::Compile(task.wasm()),
            // `WorkerProcess::spawn` names the job's shared memory.
            shared_cells: None,
        };
        let place = Place {
            job: job.id,
            worker_id: setup.worker_id,
            slot: 0,
            generation: 0,
        };
        let (events, received) = crossbeam_channel::unbounded();
        let program = &settings.worker_program;
        // Dropped on every return: the process is killed and reaped.
        let mut process =
            WorkerProcess::spawn(program, &setup, None, place, job.hub.clone(), events, None)
                .map_err(|source| Error::SpawnWorker {
                    program: program.clone(),
                    source,
                })?;
        let deadline = Instant::now() + settings.compile_timeout;
        // Its first word is the answer: the compiled component, why it
        // cannot be compiled, or its end.
        let Ok(event) = received.recv_deadline(deadline) else {
            return Err(Error::CompileTimeout {
                name: name(),
                timeout: settings.compile_timeout,
            });
        };
        match event.kind {
            EventKind::Ready {
                artifact: Some(artifact),
            } => return Ok(artifact),
            EventKind::SetupFailed(reason) => {
                return Err(Error::CannotRun {
                    name: name(),
                    reason,
                });
            }
            EventKind::Exited => {}
            _ => {
                return Err(Error::CannotRun {
                    name: name(),
                    reason: "its worker did not send the compiled component back".into(),
                });
            }
        }
        let (reason, signal) = match process.reap() {
            Ended::Died { reason, signal } => (reason, signal),
            Ended::OtherVersion => return Err(Error::other_version(program)),
        };
        if signal == Some(libc::SIGABRT) {
            let cap = bytesize::ByteSize::b(settings.compile_memory);
            return Err(Error::CannotRun {
                name: name(),
                reason: format!(
                    "its worker aborted while compiling it ({reason}): it ran out of the {} a worker may use to compile (--compile-memory), or the compiler failed",
                    cap.display().iec()
                ),
            });
        }
        deaths += 1;
        if deaths >= MAX_DEATHS_IN_A_ROW {
            return Err(Error::CrashLoop {
                deaths,
                last: reason,
            });
        }
    }
}
