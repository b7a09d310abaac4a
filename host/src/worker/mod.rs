//! The worker process: the `wpool` binary started by a pool with the hidden
//! [`WORKER_ARG`](crate::protocol::WORKER_ARG) argument. It locks itself
//! down, reads frames from stdin, runs calls, and writes frames to stdout;
//! it exits when its stdin closes or its parent dies.
//!
//! # Layout
//! - `link`: the channel to the host; hub requests and their replies, and
//!   the queue items and pipe messages tasks took ahead.
//! - `cells`: locks and number values in the job's shared memory, taken,
//!   released, read and changed there without a message to the hub.
//! - `pipeline`: queue puts and pipe sends answered at once while the hub
//!   has reported room (and, where the job's objects live in another
//!   process, sets and releases), their answers collected later.
//! - `channel`: what queues and pipes share there, the requests that
//!   stream through each.
//! - `runtime`: the wasmtime engine, the tasks it hosts (each a compiled
//!   component), and a store per call with its deadline, fuel and memory
//!   cap.
//! - `state`: the store data of one task.
//! - `bindings`: the host side of the `wpool:task` WIT package.
//! - `http`: `wasi:http`, linked with every outgoing request refused.
//! - `capture`: bounded capture of guest stdout and stderr (its first
//!   bytes and its last), or streaming them to the host line by line.
//! - `exception`: naming a guest's uncaught exception from the end of its
//!   stderr.
//! - `load`: compiling a component, or loading the verified artifact the
//!   host sent (`unsafe`: see its docs).
//! - `sandbox`: the process lockdown (namespaces, Landlock, rlimits,
//!   seccomp).
//! - `test_hook`: faults only the test suite provokes (`test-hooks`
//!   feature).

mod bindings;
mod capture;
mod cells;
mod channel;
mod exception;
mod http;
mod link;
mod load;
mod pipeline;
mod runtime;
mod sandbox;
mod state;
#[cfg(feature = "test-hooks")]
mod test_hook;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use self::link::{HostLink, Requests, spawn_reader};
use self::runtime::Runtime;
#[cfg(feature = "test-hooks")]
use self::test_hook::Hook;
use crate::protocol::shared_memory::Arena;
use crate::protocol::{
    Calls, FromWorker, Limits, OTHER_VERSION, RESULTS_PER_FRAME, ToWorker, VERSION,
};

/// Runs the worker loop until the host closes the channel. `parent` is the
/// process id of the host, which must still be our parent, and
/// `host_version` its version of wpool, which must be ours: a worker of
/// another version says so and exits at once with status 4. The process
/// is locked down first (`sandbox`), shuts file access once it has its
/// setup and its first task's code, and is sealed before any guest code
/// runs.
pub fn main(parent: u32, host_version: &str) -> ExitCode {
    if host_version != VERSION {
        eprintln!("wpool: this worker is wpool {VERSION}, its host wpool {host_version:.40}");
        return ExitCode::from(OTHER_VERSION);
    }
    keep_freed_memory();
    sandbox::enter(parent);
    #[cfg(feature = "test-hooks")]
    let hook = test_hook::get();
    let mut requests = Requests::new();
    let Some((ToWorker::Setup(setup), artifact)) = requests.next() else {
        return ExitCode::FAILURE;
    };
    // The job's shared memory, mapped before the lockdown is sealed.
    let shared = match setup.shared_cells {
        None => None,
        Some(cells) => match requests.take_fd().map(|fd| Arena::open(fd, cells)) {
            Some(Ok(arena)) => Some(Arc::new(arena)),
            _ => return ExitCode::FAILURE,
        },
    };
    let link = HostLink::new(shared);
    // The engine, and the first task's code if it comes compiled, before
    // file access is shut: see `load::load_first`.
    let early = runtime::Early::new(&setup, artifact);
    sandbox::shut_files();
    #[cfg(feature = "test-hooks")]
    let requests = match test_hook::deafens(hook, &setup) {
        true => test_hook::deaf_requests(),
        false => spawn_reader(link.clone(), requests),
    };
    #[cfg(not(feature = "test-hooks"))]
    let requests = spawn_reader(link.clone(), requests);
    #[cfg(feature = "test-hooks")]
    if hook == Some(Hook::SlowCompile) {
        test_hook::stall();
    }
    #[cfg(feature = "test-hooks")]
    let worker_id = setup.worker_id;
    let first = setup.export.task;
    let max_memory = setup.limits.max_memory;
    sandbox::cap_compile_memory(setup.compile_memory);
    let (mut runtime, artifact) =
        match early.and_then(|early| Runtime::new(setup, early, link.clone())) {
            Ok(ready) => ready,
            Err(e) => {
                let _ = link.send(&setup_failed(&e, max_memory));
                return ExitCode::FAILURE;
            }
        };
    let Ok(executor) = runtime::executor() else {
        return ExitCode::FAILURE;
    };
    // The data limit is sized for the first task's values: a later task
    // that needs more does not fit this worker.
    let value_memory = runtime.value_memory(first);
    sandbox::seal(max_memory.saturating_add(value_memory));
    if link.send(&FromWorker::Ready { artifact }).is_err() {
        return ExitCode::FAILURE;
    }
    for request in requests {
        let calls = match request {
            (ToWorker::Load(export, len), Some(artifact)) => {
                let id = export.task;
                if !runtime.runs(&export) {
                    let _ = link.send(&FromWorker::Unfit(id));
                    return ExitCode::FAILURE;
                }
                if let Err(e) = runtime.load(export, artifact, len) {
                    let _ = link.send(&setup_failed(&e, max_memory));
                    return ExitCode::FAILURE;
                }
                if runtime.value_memory(id) > value_memory {
                    let _ = link.send(&FromWorker::Unfit(id));
                    return ExitCode::FAILURE;
                }
                continue;
            }
            (ToWorker::Unload(id), _) => {
                runtime.unload(id);
                continue;
            }
            (ToWorker::Batch(calls), _) if runtime.hosts(calls.task) => calls,
            _ => return ExitCode::FAILURE,
        };
        let batch = Batch {
            runtime: &mut runtime,
            link: &link,
            #[cfg(feature = "test-hooks")]
            hook,
            #[cfg(feature = "test-hooks")]
            worker_id,
        };
        // One entry into the executor a batch, not a call.
        if executor.block_on(batch.run(calls)).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// One batch of calls on the worker's runtime, its results sent to the
/// host in frames of at most [`RESULTS_PER_FRAME`] bytes of results.
struct Batch<'a> {
    runtime: &'a mut Runtime,
    link: &'a HostLink,
    #[cfg(feature = "test-hooks")]
    hook: Option<Hook>,
    #[cfg(feature = "test-hooks")]
    worker_id: u32,
}

impl Batch<'_> {
    /// Runs the calls in turn; an error when the host's channel is gone.
    async fn run(self, Calls { task, calls, args }: Calls) -> std::io::Result<()> {
        let mut start = Instant::now();
        let mut ended = start;
        let mut offset = 0usize;
        let mut results = Vec::with_capacity(calls.len());
        let mut values = Vec::new();
        let mut held = 0usize;
        for call in &calls {
            if held + values.len() >= RESULTS_PER_FRAME {
                let done = FromWorker::Done {
                    busy: ended - std::mem::replace(&mut start, ended),
                    results: std::mem::take(&mut results),
                    values: std::mem::take(&mut values).into(),
                };
                self.link.send(&done)?;
                held = 0;
            }
            #[cfg(feature = "test-hooks")]
            if self.hook == Some(Hook::ForbiddenSyscall(call.index)) {
                sandbox::try_forbidden_call();
            }
            // Arguments past the buffer are the host's bug: the call gets
            // none, and fails to decode them.
            let end = usize::try_from(call.size)
                .ok()
                .and_then(|size| offset.checked_add(size))
                .filter(|&end| end <= args.len())
                .unwrap_or(offset);
            let result;
            (result, ended) = self
                .runtime
                .run(task, call, &args[offset..end], &mut values, ended)
                .await;
            held += result.size();
            results.push(result);
            offset = end;
        }
        #[cfg(feature = "test-hooks")]
        if self.hook == Some(Hook::GarbageFrame) && self.worker_id == 0 {
            return test_hook::send_garbage();
        }
        #[cfg(feature = "test-hooks")]
        let (results, values) = match self.hook {
            Some(Hook::WrongIndex) => (test_hook::misnumber(self.worker_id, results), values),
            Some(Hook::CorruptResult) => test_hook::corrupt(self.worker_id, results, values),
            _ => (results, values),
        };
        let done = FromWorker::Done {
            busy: ended - start,
            results,
            values: values.into(),
        };
        self.link.send(&done)
    }
}

/// Why the worker cannot host a task. wasmtime refuses a component whose
/// memory starts larger than `max_memory` in its pooling allocator's
/// words, in hex: the message begins with the limit it is about.
fn setup_failed(error: &wasmtime::Error, max_memory: u64) -> FromWorker {
    let message = format!("{error:#}");
    FromWorker::SetupFailed(
        match message.contains("does not fit in pooling allocator requirements") {
            true => format!(
                "its memory starts larger than the memory limit of {} (--max-memory): {message}",
                bytesize::ByteSize::b(max_memory).display().iec()
            ),
            false => message,
        },
    )
}

/// Applies the whole lockdown as a worker would (with the default memory
/// cap), prints each layer on stdout as a `Layer` line (which `wpool doctor`
/// reads back), then makes a forbidden system call: a probe that seccomp does
/// not kill exits with status 3.
pub fn probe(parent: u32) -> ExitCode {
    let mut layers = sandbox::enter(parent);
    layers.push(sandbox::shut_files());
    layers.extend(sandbox::seal(Limits::default().max_memory));
    let mut out = std::io::stdout().lock();
    for layer in &layers {
        let _ = writeln!(out, "{}", layer.to_line());
    }
    let _ = out.flush();
    sandbox::try_forbidden_call();
    ExitCode::from(3)
}

/// Has the allocator keep big freed buffers for the next task, rather than
/// give them back to the system and fault fresh pages in for each value
/// (16 MiB of fresh pages costs about 7 ms, four times the copy into them).
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mallopt` only sets the allocator's tunables; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
