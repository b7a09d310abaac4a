//! The wasmtime side of a worker: one engine, the component compiled once
//! into an [`InstancePre`], and a fresh store and instance for every task,
//! with its deadline, fuel and memory cap.
//!
//! Calls are async, driven by a single-threaded tokio runtime: the deadline
//! then stops a task both in wasm (epoch interruption) and while it waits in
//! a host call such as a sleep (the call's future is dropped).

use std::time::Instant;

use wasmtime::component::{
    ComponentExportIndex, Instance, InstancePre, Linker, ResourceTable, Type, Val,
};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store, Trap};
use wasmtime::{Result, bail};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use super::bindings;
use super::capture::Capture;
use super::link::HostLink;
use super::load::compile_or_load;
use super::state::{MemoryCap, TaskState};
use crate::protocol::engine::{self, TICK};
use crate::protocol::{Call, CallResult, Failure, Limits, Setup};

/// A compiled component, ready to run tasks.
pub(crate) struct Runtime {
    engine: Engine,
    pre: InstancePre<TaskState>,
    func: ComponentExportIndex,
    params: Vec<Type>,
    result: Option<Type>,
    limits: Limits,
    /// How many tasks one instance serves before it is replaced.
    reuse: u32,
    worker_id: u32,
    link: HostLink,
    executor: tokio::runtime::Runtime,
    /// The instance kept for the next task, in reuse mode.
    session: Option<Session>,
}

/// A store, and the instance in it once a task has instantiated it. Every
/// task gets a fresh one unless `--reuse` lets an instance serve several
/// tasks in a row.
struct Session {
    store: Store<TaskState>,
    instance: Option<Instance>,
    stdout: Capture,
    stderr: Capture,
    /// Tasks this instance has run.
    served: u32,
}

impl Runtime {
    /// Compiles (or loads) and links the component, and starts the epoch
    /// ticker. Also returns the compiled artifact if the setup asked for it.
    pub(crate) fn new(setup: Setup, link: HostLink) -> Result<(Runtime, Option<Vec<u8>>)> {
        let Setup {
            worker_id,
            wasm,
            instance,
            func,
            limits,
            reuse,
            // Applied by the worker loop, before this compile.
            compile_memory: _,
            compiled,
            serialize,
        } = setup;
        let engine = Engine::new(&engine::config(&limits))?;
        let (component, artifact) =
            compile_or_load(&engine, &wasm, compiled.as_deref(), serialize)?;
        // Now, not at the first instantiation: the images are memfds, which
        // the worker's lockdown forbids making once it is sealed.
        component.initialize_copy_on_write_image()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::add_to_linker(&mut linker)?;
        let pre = linker
            .instantiate_pre(&component)
            .context("the component imports what wpool does not provide")?;

        let parent = match &instance {
            Some(name) => Some(
                component
                    .get_export_index(None, name)
                    .with_context(|| format!("no exported instance {name}"))?,
            ),
            None => None,
        };
        let Some((item, func_index)) = component.get_export(parent.as_ref(), &func) else {
            bail!("no exported function {func}");
        };
        let wasmtime::component::types::ComponentItem::ComponentFunc(ty) = item else {
            bail!("export {func} is not a function");
        };
        let params = ty.params().map(|(_, ty)| ty).collect();
        let result = ty.results().next();

        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })?;

        let runtime = Runtime {
            engine,
            pre,
            func: func_index,
            params,
            result,
            limits,
            reuse,
            worker_id,
            link,
            executor: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?,
            session: None,
        };
        Ok((runtime, artifact))
    }

    /// Runs one task, in a fresh instance or (in reuse mode) in the one the
    /// previous task left, which is kept only if the task did not trap.
    pub(crate) fn run(&mut self, call: &Call) -> CallResult {
        let mut session = self.session.take().unwrap_or_else(|| self.new_session());
        let store = &mut session.store;
        let state = store.data_mut();
        state.task_index = call.index;
        state.memory.refused = false;
        state.deadline = Instant::now() + self.limits.timeout;
        store.set_epoch_deadline(self.limits.timeout.div_duration_f64(TICK).ceil() as u64 + 1);
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled in the engine whenever a limit is set");
        }
        // The epoch deadline stops wasm one tick after the timeout; this one,
        // a tick later, stops a task that waits in a host call.
        let deadline = self.limits.timeout + 2 * TICK;
        let running = async {
            tokio::time::timeout(deadline, self.call(&mut *store, session.instance, call)).await
        };
        let (outcome, instance) = match self.executor.block_on(running) {
            Err(_elapsed) => (Err(Failure::Timeout(self.limits.timeout)), None),
            Ok(Err(error)) => (self.failure(error, store.data().memory.refused), None),
            Ok(Ok((instance, returned))) => (returned, Some(instance)),
        };
        let result = CallResult {
            index: call.index,
            outcome,
            stdout: session.stdout.take(),
            stderr: session.stderr.take(),
        };
        session.served += 1;
        // A trap, an exit or a timeout leaves the instance in an unknown
        // state: it is always dropped.
        if instance.is_some() && session.served < self.reuse {
            session.instance = instance;
            self.session = Some(session);
        }
        result
    }

    /// A store for a fresh instance.
    fn new_session(&self) -> Session {
        let stdout = Capture::new(self.limits.max_output);
        let stderr = Capture::new(self.limits.max_output);
        let mut store = Store::new(
            &self.engine,
            TaskState {
                wasi: WasiCtxBuilder::new()
                    .stdout(stdout.clone())
                    .stderr(stderr.clone())
                    .build(),
                table: ResourceTable::new(),
                memory: MemoryCap {
                    max: usize::try_from(self.limits.max_memory).unwrap_or(usize::MAX),
                    refused: false,
                },
                task_index: 0,
                worker_id: self.worker_id,
                link: self.link.clone(),
                deadline: Instant::now(),
            },
        );
        store.limiter(|state| &mut state.memory);
        Session {
            store,
            instance: None,
            stdout,
            stderr,
            served: 0,
        }
    }

    /// Instantiates (unless `instance` is given) and calls; the outer error
    /// is a trap, the inner one the `err` case of a returned `result`.
    async fn call(
        &self,
        store: &mut Store<TaskState>,
        instance: Option<Instance>,
        call: &Call,
    ) -> Result<(Instance, Result<String, Failure>)> {
        let params = call
            .args
            .iter()
            .zip(&self.params)
            .map(|(text, ty)| {
                wasm_wave::from_str::<Val>(ty, text)
                    .context("input does not match the parameter type")
            })
            .collect::<Result<Vec<Val>>>()?;
        let instance = match instance {
            Some(instance) => instance,
            None => self.pre.instantiate_async(&mut *store).await?,
        };
        let func = instance
            .get_func(&mut *store, self.func)
            .expect("the export was found in this component");
        let mut results = vec![Val::Bool(false); usize::from(self.result.is_some())];
        func.call_async(&mut *store, &params, &mut results).await?;
        let Some(value) = results.pop() else {
            return Ok((instance, Ok("()".to_string())));
        };
        let text = wasm_wave::to_string(&value)?;
        if text.len() > self.limits.max_value {
            let too_large = Failure::ResultTooLarge {
                size: text.len() as u64,
                limit: self.limits.max_value as u64,
            };
            return Ok((instance, Err(too_large)));
        }
        Ok(match value {
            Val::Result(Err(_)) => (instance, Err(Failure::Returned(text))),
            _ => (instance, Ok(text)),
        })
    }

    /// What an error out of a call means. A guest that exits with status 0
    /// (as a command component may) succeeded, if its function's result can
    /// say so.
    fn failure(&self, error: wasmtime::Error, memory_refused: bool) -> Result<String, Failure> {
        if let Some(exit) = error.downcast_ref::<I32Exit>() {
            return match (exit.0, &self.result) {
                (0, Some(Type::Result(result))) if result.ok().is_none() => Ok("ok".into()),
                (code, _) => Err(Failure::Exit(code)),
            };
        }
        Err(match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::Timeout(self.limits.timeout),
            Some(Trap::OutOfFuel) => Failure::OutOfFuel(self.limits.fuel.unwrap_or(0)),
            Some(Trap::StackOverflow) => Failure::StackOverflow,
            Some(_) if memory_refused => Failure::MemoryLimit(self.limits.max_memory),
            Some(trap) => Failure::Trap(
                trap.to_string()
                    .trim_start_matches("wasm trap: ")
                    .to_string(),
            ),
            None if memory_refused => Failure::MemoryLimit(self.limits.max_memory),
            None => Failure::Trap(format!("{error:#}")),
        })
    }
}
