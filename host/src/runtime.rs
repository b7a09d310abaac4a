//! The wasmtime side of a worker: one engine, the component compiled once
//! into an [`InstancePre`], and a fresh store and instance for every task,
//! with its deadline, fuel and memory cap.
//!
//! Calls are async, driven by a single-threaded tokio runtime: the deadline
//! then stops a task both in wasm (epoch interruption) and while it waits in
//! a host call such as a sleep (the call's future is dropped).

use std::time::{Duration, Instant};

use wasmtime::component::{
    ComponentExportIndex, Instance, InstancePre, Linker, ResourceTable, Type, Val,
};
use wasmtime::error::Context as _;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};
use wasmtime::{Result, bail};
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings;
use crate::cache;
use crate::capture::Capture;
use crate::error::Failure;
use crate::transport::{Call, CallResult, Limits, Setup};
use crate::worker::HostLink;

/// How often the epoch advances: a task overruns its deadline by at most one
/// tick.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// The store data of one task.
pub(crate) struct TaskState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    memory: MemoryCap,
    pub(crate) task_index: u64,
    pub(crate) worker_id: u32,
    /// Where the task's requests to the hub go.
    pub(crate) link: HostLink,
    /// When the task's time is up: no wait on a shared object lasts longer.
    pub(crate) deadline: Instant,
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses linear-memory growth past the cap, and remembers that it did, so a
/// trap that follows (an allocator giving up) is reported as the cap.
struct MemoryCap {
    max: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        let allowed = desired <= self.max;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A compiled component, ready to run tasks.
pub(crate) struct Runtime {
    engine: Engine,
    pre: InstancePre<TaskState>,
    func: ComponentExportIndex,
    params: Vec<Type>,
    result: Option<Type>,
    limits: Limits,
    worker_id: u32,
    link: HostLink,
    executor: tokio::runtime::Runtime,
    /// The instance kept for the next task, in reuse mode.
    warm: Option<Warm>,
}

/// A store, and the instance in it once a task has instantiated it. Every
/// task gets a fresh one unless `--reuse` lets an instance serve several
/// tasks in a row.
struct Warm {
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
            compiled,
            serialize,
        } = setup;
        let engine = Engine::new(&config(&limits))?;
        let (component, artifact) =
            cache::compile_or_load(&engine, &wasm, compiled.as_deref(), serialize)?;
        // Now, not at the first instantiation: the images are memfds, which
        // the worker's lockdown forbids making once it is sealed.
        component.initialize_copy_on_write_image()?;
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
            worker_id,
            link,
            executor: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?,
            warm: None,
        };
        Ok((runtime, artifact))
    }

    /// Runs one task, in a fresh instance or (in reuse mode) in the one the
    /// previous task left, which is kept only if the task did not trap.
    pub(crate) fn run(&mut self, job: &Call) -> CallResult {
        let mut warm = self.warm.take().unwrap_or_else(|| self.fresh());
        let store = &mut warm.store;
        let state = store.data_mut();
        state.task_index = job.index;
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
        let call = async {
            tokio::time::timeout(deadline, self.call(&mut *store, warm.instance, job)).await
        };
        let (outcome, instance) = match self.executor.block_on(call) {
            Err(_elapsed) => (Err(Failure::Timeout(self.limits.timeout)), None),
            Ok(Err(error)) => (self.failure(error, store.data().memory.refused), None),
            Ok(Ok((instance, returned))) => (returned, Some(instance)),
        };
        let result = CallResult {
            index: job.index,
            outcome,
            stdout: warm.stdout.take(),
            stderr: warm.stderr.take(),
        };
        warm.served += 1;
        // A trap, an exit or a timeout leaves the instance in an unknown
        // state: it is always dropped.
        if instance.is_some() && warm.served < self.limits.reuse {
            warm.instance = instance;
            self.warm = Some(warm);
        }
        result
    }

    /// A store for a fresh instance.
    fn fresh(&self) -> Warm {
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
        Warm {
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
        job: &Call,
    ) -> Result<(Instance, Result<String, Failure>)> {
        let params = job
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

/// Bytes of each linear memory and table kept mapped between tasks and reset
/// in place rather than decommitted.
const KEEP_RESIDENT: usize = 8 << 20;

/// The engine settings: epoch interruption for deadlines, fuel only when
/// asked (it costs), and the pooling allocator with copy-on-write memory
/// images so that a fresh instance per task is cheap.
pub(crate) fn config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    config.concurrency_support(false);
    config.wasm_backtrace_max_frames(None);
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(4)
        .total_core_instances(64)
        .max_core_instances_per_component(32)
        .total_memories(16)
        .max_memories_per_component(8)
        .total_tables(64)
        .total_stacks(4)
        .max_tables_per_component(16)
        .max_memory_size(usize::try_from(limits.max_memory).unwrap_or(usize::MAX))
        // Reset a used memory or table by copying back only the pages the
        // task dirtied (found with the PAGEMAP_SCAN ioctl where the kernel
        // has it), and keep them mapped: `madvise` and the page faults that
        // follow it cost more than the task itself for small tasks.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    config
}
