//! The wasmtime side of a worker: one engine, and the tasks it hosts, each
//! a component compiled once into an [`InstancePre`] (by the host's id for
//! the task); a fresh store and instance for every call, with its
//! deadline, fuel and memory cap.
//!
//! Calls are driven by the worker loop's single-threaded tokio runtime
//! ([`executor`]), one batch of calls at a time. A component that imports
//! an async host function (WASI's streams, `wpool:task`) is called
//! asynchronously, on a fiber: the deadline then stops a task both in wasm
//! (epoch interruption) and while it waits in a host call such as a sleep
//! (the call's future is dropped). One that imports none cannot wait in a
//! host call, and is called directly on the worker's thread, where the
//! epoch deadline alone stops it ([`Entry`]).
//!
//! Arguments arrive and results leave in the binary value encoding
//! (`protocol::encoding`). A function whose signature is one of a few
//! common shapes ([`Shape`]) is called through a typed function, whose
//! strings and byte lists are copied into and out of guest memory whole;
//! any other goes through wasmtime's dynamic [`Val`]s, one per value.

use std::cell::Cell;
use std::future::poll_fn;
use std::os::fd::OwnedFd;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use nohash_hasher::IntMap;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Func, Instance, InstancePre, Lift, Linker,
    Lower, ResourceTable, Type, TypedFunc, Val,
};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store, Trap};
use wasmtime::{Result, bail};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use super::bindings;
use super::capture::Capture;
use super::exception;
use super::http::Http;
use super::link::HostLink;
use super::load::{compile, load, load_first};
use super::pipeline::Pipeline;
use super::state::{MemoryCap, TaskState};
use crate::protocol::encoding::{self, RESULT_ERR, RESULT_OK, Reader};
use crate::protocol::engine::{self, TICK};
use crate::protocol::{Call, CallResult, Code, Export, Failure, Limits, Setup, Stream};

/// What a worker makes before its file access is shut: its engine, and
/// its first task's component if that came compiled.
pub(crate) struct Early {
    engine: Engine,
    first: First,
}

enum First {
    Loaded(Component),
    Compile(Bytes),
}

impl Early {
    /// The engine for `setup`, and its task's component loaded from
    /// `artifact` if the setup's code is compiled (see `load::load_first`).
    pub(crate) fn new(setup: &Setup, artifact: Option<OwnedFd>) -> Result<Early> {
        let engine = Engine::new(&engine::config(&setup.limits, setup.export.concurrency))?;
        let first = match &setup.code {
            Code::Compile(wasm) => First::Compile(wasm.clone()),
            Code::Compiled(len) => {
                let artifact = artifact.context("the compiled component did not come")?;
                First::Loaded(load_first(&engine, artifact, *len)?)
            }
        };
        Ok(Early { engine, first })
    }
}

/// The engine and the tasks it hosts, ready to run calls.
pub(crate) struct Runtime {
    engine: Engine,
    linker: Linker<TaskState>,
    /// The tasks hosted, by the host's id for them.
    tasks: IntMap<u32, Hosted>,
    limits: Limits,
    /// How many tasks one instance serves before it is replaced.
    reuse: u32,
    /// The epoch deadline of a call, in ticks: one past its timeout.
    epoch_ticks: u64,
    /// Whether tasks' output streams to the host as it is written.
    stream_output: bool,
    worker_id: u32,
    link: HostLink,
    /// The instance kept for the next call, in reuse mode, and the task it
    /// belongs to: a call of another task ends it.
    session: Option<(u32, Session)>,
}

/// One task: its component linked, and its function's types.
struct Hosted {
    pre: InstancePre<TaskState>,
    func: ComponentExportIndex,
    params: Vec<Type>,
    result: Option<Type>,
    shape: Shape,
    /// The store's hostcall fuel: enough to lift any result of at most
    /// `limits.max_value` bytes.
    hostcall_fuel: usize,
    /// How its instances are entered; `None` until its first instantiation
    /// tells.
    entry: Cell<Option<Entry>>,
}

/// How a task's instances are entered. A component none of whose imports
/// is an async host function cannot wait in a host call, so the epoch
/// deadline alone stops it: it is instantiated and called straight on the
/// worker's thread, without the fiber an async call runs on (about 0.1 µs
/// a call). Any other is entered on a fiber (`*_async`), so that its
/// deadline also stops a wait in a host call. wasmtime knows which from
/// the imports the component links to, and says so by refusing a direct
/// instantiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Direct,
    Fiber,
}

/// A store, and the instance in it once a task has instantiated it. Every
/// task gets a fresh one unless `--reuse` lets an instance serve several
/// tasks in a row.
struct Session {
    store: Store<TaskState>,
    /// The function, in the instance kept from the last call.
    func: Option<Func>,
    stdout: Capture,
    stderr: Capture,
    /// Tasks this instance has run.
    served: u32,
}

impl Runtime {
    /// Compiles the setup's task unless `early` loaded it, links it, and
    /// starts the epoch ticker. Also returns the compiled artifact when the
    /// setup gave the component to compile.
    pub(crate) fn new(
        setup: Setup,
        early: Early,
        link: HostLink,
    ) -> Result<(Runtime, Option<Bytes>)> {
        let Setup {
            worker_id,
            limits,
            reuse,
            // Applied by the worker loop, before this compile.
            compile_memory: _,
            stream_output,
            export,
            // Read by `Early`.
            code: _,
            // Mapped by the worker loop, into `link`.
            shared_cells: _,
        } = setup;
        let Early { engine, first } = early;
        let (component, artifact) = match first {
            First::Loaded(component) => (component, None),
            First::Compile(wasm) => {
                let (component, artifact) = compile(&engine, &wasm)?;
                (component, Some(artifact))
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::add_to_linker(&mut linker)?;

        // Each tick also puts back the queue items a task took ahead and
        // left unused for a tick.
        let ticker = engine.weak();
        let unused = link.clone();
        std::thread::Builder::new()
            .name("epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    unused.put_back_unused();
                    std::thread::sleep(TICK);
                }
            })?;

        let mut runtime = Runtime {
            engine,
            linker,
            tasks: IntMap::default(),
            epoch_ticks: limits.timeout.div_duration_f64(TICK).ceil() as u64 + 1,
            limits,
            reuse,
            stream_output,
            worker_id,
            link,
            session: None,
        };
        runtime.host(export, &component)?;
        Ok((runtime, artifact))
    }

    /// Hosts one more task, `export`, compiled into the first `len` bytes
    /// of `artifact`.
    pub(crate) fn load(&mut self, export: Export, artifact: OwnedFd, len: u64) -> Result<()> {
        let component = load(&self.engine, artifact, len)?;
        self.host(export, &component)
    }

    /// Stops hosting task `id`, and drops its kept instance.
    pub(crate) fn unload(&mut self, id: u32) {
        self.tasks.remove(&id);
        if self.session.as_ref().is_some_and(|(task, _)| *task == id) {
            self.session = None;
        }
    }

    /// Whether the worker hosts task `id`.
    pub(crate) fn hosts(&self, id: u32) -> bool {
        self.tasks.contains_key(&id)
    }

    /// Whether `export`'s component runs on this worker's engine, which
    /// has concurrency support only if its first task needed it.
    pub(crate) fn runs(&self, export: &Export) -> bool {
        export.concurrency == self.engine.get_concurrency_support()
    }

    /// Links `component` and finds the function `export` names in it.
    fn host(&mut self, export: Export, component: &Component) -> Result<()> {
        // Now, not at the first instantiation. Before the seal its memory
        // images are memfds, which the lockdown then forbids making: a task
        // loaded after it has none (`memfd_create` fails with `ENOSYS`),
        // and its data is copied into each instance.
        component.initialize_copy_on_write_image()?;
        let pre = self
            .linker
            .instantiate_pre(component)
            .context("the component imports what wpool does not provide")?;
        let parent = match &export.instance {
            Some(name) => Some(
                component
                    .get_export_index(None, name)
                    .with_context(|| format!("no exported instance {name}"))?,
            ),
            None => None,
        };
        let func = &export.func;
        let Some((item, func_index)) = component.get_export(parent.as_ref(), func) else {
            bail!("no exported function {func}");
        };
        let wasmtime::component::types::ComponentItem::ComponentFunc(ty) = item else {
            bail!("export {func} is not a function");
        };
        let params: Vec<Type> = ty.params().map(|(_, ty)| ty).collect();
        let result = ty.results().next();
        let shape = Shape::of(&params, result.as_ref());
        let hostcall_fuel = result
            .as_ref()
            .map_or(0, |ty| {
                lift_fuel_per_byte(ty).saturating_mul(self.limits.max_value)
            })
            .max(DEFAULT_HOSTCALL_FUEL);
        // A component that uses component-model async runs on wasmtime's
        // task scheduler, which its async calls enter.
        let entry = self
            .engine
            .get_concurrency_support()
            .then_some(Entry::Fiber);
        let hosted = Hosted {
            pre,
            func: func_index,
            params,
            result,
            shape,
            hostcall_fuel,
            entry: Cell::new(entry),
        };
        self.tasks.insert(export.task, hosted);
        Ok(())
    }

    /// Bytes of private memory one call of task `id` may take for its
    /// values in this worker beyond its linear memory, at most: its encoded
    /// arguments and result and their copies in frames, and, on the dynamic
    /// path, the `Val`s of its arguments and of its result, bounded like
    /// the hostcall fuel.
    pub(crate) fn value_memory(&self, id: u32) -> u64 {
        let Some(task) = self.tasks.get(&id) else {
            return 0;
        };
        let per_byte = |types: &mut dyn Iterator<Item = &Type>| {
            types.map(lift_fuel_per_byte).max().unwrap_or(0)
        };
        let args = per_byte(&mut task.params.iter());
        let result = per_byte(&mut task.result.iter());
        (args + result + 4).saturating_mul(self.limits.max_value) as u64
    }

    /// Runs one call of task `id` (which the worker hosts) with the encoded
    /// arguments `args`, in a fresh instance or (in reuse mode) in the one
    /// the previous call of the same task left, which is kept only if the
    /// call did not trap. Its value, if it returns one, is encoded at the
    /// end of `values`. The call starts at `started` (the end of the one
    /// before it, in a batch: the clock is read once a call), and its
    /// result comes with the time it ended.
    pub(crate) async fn run(
        &mut self,
        id: u32,
        call: &Call,
        args: &[u8],
        values: &mut Vec<u8>,
        started: Instant,
    ) -> (CallResult, Instant) {
        let start = values.len();
        let task = &self.tasks[&id];
        // The session stays in place, kept or not, until the call's end
        // (moved out and back, it cost a copy each way). Another task's is
        // dropped first, freeing its instance's slot in the pool.
        if self.session.as_ref().is_none_or(|(kept, _)| *kept != id) {
            self.session = None;
            self.session = Some((id, self.new_session(task)));
        }
        let (_, session) = self.session.as_mut().expect("made above");
        let store = &mut session.store;
        let state = store.data_mut();
        state.task_index = call.index;
        state.memory.refused = false;
        state.pipeline.reset();
        state.deadline = started + self.limits.timeout;
        store.set_epoch_deadline(self.epoch_ticks);
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled in the engine whenever a limit is set");
        }
        // The epoch deadline stops wasm one tick after the timeout; this one,
        // a tick later, stops a task that waits in a host call.
        let deadline = tokio::time::Instant::from_std(started + self.limits.timeout + 2 * TICK);
        let limits = &self.limits;
        // The task ends once the puts and sends it had answered at once are
        // in: one that failed after its last on that channel fails the task.
        let running = async {
            let called = task
                .call(limits, &mut *store, session.func, args, values)
                .await;
            let settled = store.data_mut().pipeline.failure(None, true).await;
            (called, settled)
        };
        // A call that finishes without waiting (most do) needs no timer: it
        // is armed only once the call waits.
        let finished = {
            let mut running = pin!(running);
            match poll_fn(|cx| Poll::Ready(running.as_mut().poll(cx))).await {
                Poll::Ready(finished) => Ok(finished),
                Poll::Pending => tokio::time::timeout_at(deadline, running).await,
            }
        };
        // The value is at the end of `values` when the call returned one;
        // a command's exit with status 0 gives its own.
        let (outcome, func) = match finished {
            Err(_elapsed) => (Err(Failure::Timeout(self.limits.timeout)), None),
            Ok((Err(error), _)) => {
                let failure = match task.failure(limits, error, store.data().memory.refused) {
                    // An interpreted guest's uncaught exception, and a Rust
                    // guest's panic, trap after they printed their report.
                    Err(Failure::Trap(trap)) => {
                        let end = session.stderr.end();
                        Err(match exception::uncaught(&end) {
                            Some(exception) => Failure::Exception(exception),
                            None => Failure::Trap(exception::panic(&end).unwrap_or(trap)),
                        })
                    }
                    failure => failure,
                };
                (failure.map(Some), None)
            }
            Ok((Ok(_), Err(broken))) => (task.failure(limits, broken, false).map(Some), None),
            Ok((Ok(_), Ok(Some((channel, error))))) => {
                (Err(Failure::Trap(channel.unreported(&error))), None)
            }
            Ok((Ok((func, returned)), Ok(None))) => (returned.map(|()| None), Some(func)),
        };
        // What a call that failed left of a value is not one.
        let outcome = match outcome {
            Ok(given) => {
                if let Some(given) = given {
                    values.truncate(start);
                    values.extend_from_slice(given);
                }
                Ok((values.len() - start) as u64)
            }
            Err(failure) => {
                values.truncate(start);
                Err(failure)
            }
        };
        // Before its result, so that the hub has them back when it hears
        // that the task ended.
        self.link.put_back_all(call.index);
        store.data_mut().let_go();
        let ended = Instant::now();
        let result = CallResult {
            index: call.index,
            outcome,
            time: ended - started,
            stdout: session.stdout.take(),
            stderr: session.stderr.take(),
        };
        session.served += 1;
        session.func = func;
        // A trap, an exit or a timeout leaves the instance in an unknown
        // state: it is always dropped.
        if session.func.is_none() || session.served >= self.reuse {
            self.session = None;
        }
        (result, ended)
    }

    /// A store for a fresh instance of `task`.
    fn new_session(&self, task: &Hosted) -> Session {
        let capture = |stream| match self.stream_output {
            true => Capture::streaming(self.limits.max_output, self.link.clone(), stream),
            false => Capture::new(self.limits.max_output, stream),
        };
        let (stdout, stderr) = (capture(Stream::Stdout), capture(Stream::Stderr));
        let mut store = Store::new(
            &self.engine,
            TaskState {
                wasi: WasiCtxBuilder::new()
                    .stdout(stdout.clone())
                    .stderr(stderr.clone())
                    .build(),
                http: Http::default(),
                table: ResourceTable::new(),
                memory: MemoryCap {
                    max: usize::try_from(self.limits.max_memory).unwrap_or(usize::MAX),
                    refused: false,
                },
                task_index: 0,
                worker_id: self.worker_id,
                link: self.link.clone(),
                deadline: Instant::now(),
                pipeline: Pipeline::default(),
                held: Vec::new(),
            },
        );
        store.limiter(|state| &mut state.memory);
        store.set_hostcall_fuel(task.hostcall_fuel);
        Session {
            store,
            func: None,
            stdout,
            stderr,
            served: 0,
        }
    }
}

impl Hosted {
    /// Instantiates (unless `func`, the function in a kept instance, is
    /// given) and calls with the encoded arguments `args`, encoding its
    /// value at the end of `out`; the outer error is a trap (or arguments
    /// that do not decode), the inner one the `err` case of a returned
    /// `result`, or a value over the limit.
    async fn call(
        &self,
        limits: &Limits,
        store: &mut Store<TaskState>,
        func: Option<Func>,
        args: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(Func, Result<(), Failure>)> {
        let args = self
            .decode(args)
            .context("input does not match the parameter type")?;
        let func = match func {
            Some(func) => func,
            None => {
                let instance = self.instantiate(store).await?;
                instance
                    .get_func(&mut *store, self.func)
                    .expect("the export was found in this component")
            }
        };
        let direct = self.entry.get() == Some(Entry::Direct);
        let start = out.len();
        let mut returned_err = false;
        match args {
            Args::Vals(params) => {
                let mut results = vec![Val::Bool(false); usize::from(self.result.is_some())];
                match direct {
                    true => func.call(&mut *store, &params, &mut results)?,
                    false => Box::pin(func.call_async(&mut *store, &params, &mut results)).await?,
                }
                drop(params);
                if let (Some(value), Some(ty)) = (results.pop(), &self.result) {
                    returned_err = matches!(value, Val::Result(Err(_)));
                    encoding::encode(&value, ty, out)?;
                }
            }
            Args::S64(x) => {
                let typed = func.typed::<(i64,), (i64,)>(&*store)?;
                let (y,) = enter(typed, store, direct, (x,)).await?;
                encoding::put_signed(out, y);
            }
            Args::Str(text) => {
                let typed = func.typed::<(&str,), (String,)>(&*store)?;
                let (text,) = enter(typed, store, direct, (text,)).await?;
                encoding::put_bytes(out, text.as_bytes());
            }
            Args::Bytes(data) => match self.shape {
                Shape::BytesToU64 => {
                    let typed = func.typed::<(&[u8],), (u64,)>(&*store)?;
                    let (n,) = enter(typed, store, direct, (data,)).await?;
                    encoding::put_unsigned(out, n);
                }
                Shape::BytesToResult => {
                    let typed = func.typed::<(&[u8],), (Result<Vec<u8>, String>,)>(&*store)?;
                    let (result,) = enter(typed, store, direct, (data,)).await?;
                    returned_err = result.is_err();
                    let (tag, bytes) = match &result {
                        Ok(bytes) => (RESULT_OK, &bytes[..]),
                        Err(text) => (RESULT_ERR, text.as_bytes()),
                    };
                    out.push(tag);
                    encoding::put_bytes(out, bytes);
                }
                _ => {
                    let typed = func.typed::<(&[u8],), (Vec<u8>,)>(&*store)?;
                    let (bytes,) = enter(typed, store, direct, (data,)).await?;
                    encoding::put_bytes(out, &bytes);
                }
            },
        }
        let len = out.len() - start;
        if len > limits.max_value {
            let too_large = Failure::ResultTooLarge {
                size: Some(len as u64),
                limit: limits.max_value as u64,
            };
            return Ok((func, Err(too_large)));
        }
        Ok(match returned_err {
            true => {
                let err = Bytes::copy_from_slice(&out[start..]);
                (func, Err(Failure::Returned(err)))
            }
            false => (func, Ok(())),
        })
    }

    /// A new instance in `store`: entered directly if the component allows
    /// it (see [`Entry`]), which its first instantiation finds out.
    async fn instantiate(&self, store: &mut Store<TaskState>) -> Result<Instance> {
        if self.entry.get() != Some(Entry::Fiber) {
            match self.pre.instantiate(&mut *store) {
                Ok(instance) => {
                    self.entry.set(Some(Entry::Direct));
                    return Ok(instance);
                }
                // Refused before anything was done: the store now requires
                // async entry.
                Err(error) if error.to_string().contains(ASYNC_REQUIRED) => {
                    self.entry.set(Some(Entry::Fiber));
                }
                Err(error) => return Err(error),
            }
        }
        Box::pin(self.pre.instantiate_async(&mut *store)).await
    }

    /// Decodes a call's arguments as its shape takes them.
    fn decode<'a>(&self, args: &'a [u8]) -> Result<Args<'a>, encoding::Error> {
        let mut reader = Reader::new(args);
        let args = match self.shape {
            Shape::Dynamic => Args::Vals(
                self.params
                    .iter()
                    .map(|ty| encoding::decode::<Val>(ty, &mut reader))
                    .collect::<Result<_, _>>()?,
            ),
            Shape::S64ToS64 => Args::S64(reader.signed(64)?),
            Shape::StrToStr => Args::Str(reader.str()?),
            Shape::BytesToBytes | Shape::BytesToResult | Shape::BytesToU64 => {
                Args::Bytes(reader.bytes()?)
            }
        };
        reader.finish()?;
        Ok(args)
    }

    /// What an error out of a call means. A guest that exits with status 0
    /// (as a command component may) succeeded, if its function's result can
    /// say so: its value is then the one given.
    fn failure(
        &self,
        limits: &Limits,
        error: wasmtime::Error,
        memory_refused: bool,
    ) -> Result<&'static [u8], Failure> {
        if let Some(exit) = error.downcast_ref::<I32Exit>() {
            return match (exit.0, &self.result) {
                (0, Some(Type::Result(result))) if result.ok().is_none() => Ok(&[RESULT_OK]),
                (code, _) => Err(Failure::Exit(code)),
            };
        }
        Err(match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::Timeout(limits.timeout),
            Some(Trap::OutOfFuel) => Failure::OutOfFuel(limits.fuel.unwrap_or(0)),
            Some(Trap::StackOverflow) => Failure::StackOverflow,
            Some(_) if memory_refused => Failure::MemoryLimit(limits.max_memory),
            Some(trap) => Failure::Trap(
                trap.to_string()
                    .trim_start_matches("wasm trap: ")
                    .to_string(),
            ),
            None if memory_refused => Failure::MemoryLimit(limits.max_memory),
            // The hostcall fuel is sized to lift a result of at most
            // `max_value` bytes, whatever its type: one that needs more is
            // larger.
            None if format!("{error:#}").contains(HOSTCALL_FUEL_EXHAUSTED) => {
                Failure::ResultTooLarge {
                    size: None,
                    limit: limits.max_value as u64,
                }
            }
            None => Failure::Trap(format!("{error:#}")),
        })
    }
}

/// Calls `typed` with `params` in `store`: directly, or on a fiber (see
/// [`Entry`]). wasmtime's futures are boxed here and wherever a call awaits
/// one: unboxed, they made each call's future 1.8 KB, copied as it was
/// made and pinned, where a direct call needs none of them.
async fn enter<P, R>(
    typed: TypedFunc<P, R>,
    store: &mut Store<TaskState>,
    direct: bool,
    params: P,
) -> Result<R>
where
    P: ComponentNamedList + Lower + Send + Sync,
    R: ComponentNamedList + Lift + Send + Sync + 'static,
{
    match direct {
        true => typed.call(store, params),
        false => Box::pin(typed.call_async(store, params)).await,
    }
}

/// The runtime that drives calls: one thread, with timers for deadlines.
pub(crate) fn executor() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
}

/// wasmtime's hostcall fuel when it is not set: a store never gets less.
const DEFAULT_HOSTCALL_FUEL: usize = 128 << 20;

/// How the error reads when a value would cost more than the hostcall fuel
/// to copy between the guest and the host (wasmtime 48's private
/// `HostcallFuelExhausted`).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// How wasmtime 48 refuses a direct instantiation, or call, in a store that
/// requires async entry (its `validate_sync_call`).
const ASYNC_REQUIRED: &str = "requires that `*_async` functions are used instead";

/// The signatures called through a typed function, each with the same
/// encoding as the dynamic path gives it; every other goes through [`Val`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `(list<u8>) -> list<u8>`
    BytesToBytes,
    /// `(list<u8>) -> result<list<u8>, string>`
    BytesToResult,
    /// `(list<u8>) -> u64`
    BytesToU64,
    /// `(string) -> string`
    StrToStr,
    /// `(s64) -> s64`
    S64ToS64,
    Dynamic,
}

impl Shape {
    fn of(params: &[Type], result: Option<&Type>) -> Shape {
        let bytes = |ty: &Type| matches!(ty, Type::List(list) if list.ty() == Type::U8);
        let string = |ty: &Type| matches!(ty, Type::String);
        match (params, result) {
            ([p], Some(r)) if bytes(p) && bytes(r) => Shape::BytesToBytes,
            ([p], Some(Type::Result(r)))
                if bytes(p)
                    && r.ok().as_ref().is_some_and(bytes)
                    && r.err().as_ref().is_some_and(string) =>
            {
                Shape::BytesToResult
            }
            ([p], Some(Type::U64)) if bytes(p) => Shape::BytesToU64,
            ([Type::String], Some(Type::String)) => Shape::StrToStr,
            ([Type::S64], Some(Type::S64)) => Shape::S64ToS64,
            _ => Shape::Dynamic,
        }
    }
}

/// A call's decoded arguments, as its [`Shape`] takes them.
enum Args<'a> {
    Vals(Vec<Val>),
    S64(i64),
    Str(&'a str),
    Bytes(&'a [u8]),
}

/// At most how much hostcall fuel lifting a value of type `ty` takes per
/// byte of its encoding, every value taking at least one byte: wasmtime
/// charges a [`Val`]'s size for each element of a list, record or tuple
/// (a typed byte list or string costs less: a unit a byte), and the
/// length of each name it copies (a field's, a case's, a flag's).
fn lift_fuel_per_byte(ty: &Type) -> usize {
    const VAL: usize = size_of::<Val>();
    let longest = |names: &mut dyn Iterator<Item = usize>| names.max().unwrap_or(0);
    match ty {
        Type::String => 1,
        Type::List(list) => VAL + lift_fuel_per_byte(&list.ty()),
        Type::Record(record) => {
            let fields: Vec<_> = record.fields().collect();
            VAL + longest(&mut fields.iter().map(|f| f.name.len()))
                + longest(&mut fields.iter().map(|f| lift_fuel_per_byte(&f.ty)))
        }
        Type::Tuple(tuple) => VAL + longest(&mut tuple.types().map(|t| lift_fuel_per_byte(&t))),
        Type::Variant(variant) => {
            let cases: Vec<_> = variant.cases().collect();
            longest(&mut cases.iter().map(|c| c.name.len()))
                + longest(
                    &mut cases
                        .iter()
                        .filter_map(|c| c.ty.as_ref().map(lift_fuel_per_byte)),
                )
        }
        Type::Enum(cases) => longest(&mut cases.names().map(str::len)),
        Type::Option(option) => lift_fuel_per_byte(&option.ty()),
        Type::Result(result) => longest(
            &mut [result.ok(), result.err()]
                .into_iter()
                .flatten()
                .map(|t| lift_fuel_per_byte(&t)),
        ),
        Type::Flags(flags) => flags.names().map(str::len).sum(),
        _ => 0,
    }
}
