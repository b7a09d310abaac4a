//! Host bindings of the `wpool:task` WIT package (`wit/` at the repository
//! root), and the implementation of each interface it imports.
//!
//! `context` answers from the task's own state. Every operation on a shared
//! object becomes one request to the hub in the host process: the resource a
//! guest holds is the handle the hub gave when the object was opened. A
//! host function returns `wasmtime::Result<Result<T, Error>>`: the outer
//! error traps the guest (the link to the host broke, or the hub answered
//! out of turn), the inner one is the WIT `error` the guest handles.

use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, Resource};

use super::state::TaskState;
use crate::protocol::engine::TICK;
use crate::protocol::{self, Answer, FromAnswer, ObjectError, Op};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wpool:task/host",
    imports: { default: async | trappable },
    with: {
        "wpool:task/queue.queue": ObjectHandle,
        "wpool:task/pipe.connection": ObjectHandle,
        "wpool:task/shared.value": ObjectHandle,
        "wpool:task/shared.array": ObjectHandle,
        "wpool:task/shared.lock": ObjectHandle,
        "wpool:task/shared.dict": ObjectHandle,
        "wpool:task/sync.event": ObjectHandle,
        "wpool:task/sync.semaphore": ObjectHandle,
        "wpool:task/sync.barrier": ObjectHandle,
    },
});

use self::wpool::task::types::{Error, Scalar};
use self::wpool::task::{context, pipe, queue, shared, sync, types};

/// What a guest's shared-object resource stands for: the hub's handle.
pub struct ObjectHandle(u64);

/// Adds every `wpool:task` interface to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    Host_::add_to_linker::<TaskState, HasSelf<TaskState>>(linker, |state| state)
}

type Answered<T> = wasmtime::Result<Result<T, Error>>;

impl TaskState {
    /// Sends `op` to the hub. A wait lasts at most `timeout_ms`, and ends a
    /// tick before the task's deadline, so that the guest sees `timeout`
    /// before the deadline stops it.
    async fn hub(&mut self, op: Op, timeout_ms: Option<u64>) -> Result<Answer, Error> {
        let left = self
            .deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(TICK);
        let timeout = timeout_ms.map_or(left, |ms| Duration::from_millis(ms).min(left));
        let answer = self.link.request(self.task_index, op, Some(timeout)).await;
        answer.map_err(|error| match error {
            ObjectError::Closed => Error::Closed,
            ObjectError::Timeout => Error::Timeout,
            ObjectError::Denied(why) => Error::Denied(why),
            ObjectError::TooLarge(limit) => Error::TooLarge(limit),
            ObjectError::Abandoned => Error::Abandoned,
        })
    }

    /// Opens an object and keeps its handle in the task's resource table.
    async fn open(&mut self, op: Op) -> Answered<Resource<ObjectHandle>> {
        Ok(match self.hub(op, None).await {
            Ok(answer) => {
                let handle = u64::from_answer(answer).map_err(out_of_turn)?;
                Ok(self.table.push(ObjectHandle(handle))?)
            }
            Err(error) => Err(error),
        })
    }

    /// Forgets a dropped resource; the object itself lives on in the hub.
    fn discard(&mut self, resource: Resource<ObjectHandle>) -> wasmtime::Result<()> {
        self.table.delete(resource)?;
        Ok(())
    }

    /// Sends `op` built from the object's handle, and reads the answer.
    async fn call<T: FromAnswer>(
        &mut self,
        resource: &Resource<ObjectHandle>,
        op: impl FnOnce(u64) -> Op,
        timeout_ms: Option<u64>,
    ) -> Answered<T> {
        let op = op(self.table.get(resource)?.0);
        match self.hub(op, timeout_ms).await {
            Ok(answer) => T::from_answer(answer).map(Ok).map_err(out_of_turn),
            Err(error) => Ok(Err(error)),
        }
    }

    /// As [`TaskState::call`], for an operation that answers a scalar.
    async fn scalar(
        &mut self,
        resource: &Resource<ObjectHandle>,
        op: impl FnOnce(u64) -> Op,
    ) -> Answered<Scalar> {
        let answer: Answered<protocol::Scalar> = self.call(resource, op, None).await;
        answer.map(|scalar| scalar.map(from_hub))
    }
}

fn out_of_turn(answer: Answer) -> wasmtime::Error {
    wasmtime::format_err!("the hub answered out of turn: {answer:?}")
}

fn from_hub(scalar: protocol::Scalar) -> Scalar {
    match scalar {
        protocol::Scalar::Int(n) => Scalar::Int(n),
        protocol::Scalar::Float(x) => Scalar::Float(x),
        protocol::Scalar::Bytes(b) => Scalar::Bytes(b),
    }
}

fn to_hub(scalar: Scalar) -> protocol::Scalar {
    match scalar {
        Scalar::Int(n) => protocol::Scalar::Int(n),
        Scalar::Float(x) => protocol::Scalar::Float(x),
        Scalar::Bytes(b) => protocol::Scalar::Bytes(b),
    }
}

impl context::Host for TaskState {
    async fn task_index(&mut self) -> wasmtime::Result<u64> {
        Ok(self.task_index)
    }

    async fn worker_id(&mut self) -> wasmtime::Result<u32> {
        Ok(self.worker_id)
    }
}

impl types::Host for TaskState {}

impl queue::Host for TaskState {}

impl queue::HostQueue for TaskState {
    async fn open(&mut self, name: String, capacity: u32) -> Answered<Resource<queue::Queue>> {
        self.open(Op::QueueOpen { name, capacity }).await
    }

    async fn put(
        &mut self,
        q: Resource<queue::Queue>,
        item: Vec<u8>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        self.call(&q, |queue| Op::QueuePut { queue, item }, timeout_ms)
            .await
    }

    async fn get(
        &mut self,
        q: Resource<queue::Queue>,
        timeout_ms: Option<u64>,
    ) -> Answered<Vec<u8>> {
        self.call(&q, |queue| Op::QueueGet { queue }, timeout_ms)
            .await
    }

    async fn len(&mut self, q: Resource<queue::Queue>) -> Answered<u32> {
        self.call(&q, |queue| Op::QueueLen { queue }, None).await
    }

    async fn close(&mut self, q: Resource<queue::Queue>) -> Answered<()> {
        self.call(&q, |queue| Op::QueueClose { queue }, None).await
    }

    async fn drop(&mut self, q: Resource<queue::Queue>) -> wasmtime::Result<()> {
        self.discard(q)
    }
}

impl pipe::Host for TaskState {}

impl pipe::HostConnection for TaskState {
    async fn open(&mut self, name: String, end: pipe::End) -> Answered<Resource<pipe::Connection>> {
        let end = match end {
            pipe::End::A => protocol::End::A,
            pipe::End::B => protocol::End::B,
        };
        self.open(Op::PipeOpen { name, end }).await
    }

    async fn send(
        &mut self,
        c: Resource<pipe::Connection>,
        message: Vec<u8>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        self.call(&c, |conn| Op::PipeSend { conn, message }, timeout_ms)
            .await
    }

    async fn recv(
        &mut self,
        c: Resource<pipe::Connection>,
        timeout_ms: Option<u64>,
    ) -> Answered<Vec<u8>> {
        self.call(&c, |conn| Op::PipeRecv { conn }, timeout_ms)
            .await
    }

    async fn close(&mut self, c: Resource<pipe::Connection>) -> Answered<()> {
        self.call(&c, |conn| Op::PipeClose { conn }, None).await
    }

    /// Dropping an end closes it, so the peer learns it is gone.
    async fn drop(&mut self, c: Resource<pipe::Connection>) -> wasmtime::Result<()> {
        let ObjectHandle(conn) = self.table.delete(c)?;
        let _ = self.hub(Op::PipeClose { conn }, None).await;
        Ok(())
    }
}

impl shared::Host for TaskState {}

impl shared::HostValue for TaskState {
    async fn open(&mut self, name: String, initial: Scalar) -> Answered<Resource<shared::Value>> {
        let initial = to_hub(initial);
        self.open(Op::ValueOpen { name, initial }).await
    }

    async fn get(&mut self, v: Resource<shared::Value>) -> Answered<Scalar> {
        self.scalar(&v, |value| Op::ValueGet { value }).await
    }

    async fn set(&mut self, v: Resource<shared::Value>, new: Scalar) -> Answered<()> {
        let new = to_hub(new);
        self.call(&v, |value| Op::ValueSet { value, new }, None)
            .await
    }

    async fn add(&mut self, v: Resource<shared::Value>, delta: Scalar) -> Answered<Scalar> {
        let delta = to_hub(delta);
        self.scalar(&v, |value| Op::ValueAdd { value, delta }).await
    }

    async fn compare_and_swap(
        &mut self,
        v: Resource<shared::Value>,
        expected: Scalar,
        new: Scalar,
    ) -> Answered<bool> {
        let (expected, new) = (to_hub(expected), to_hub(new));
        let op = |value| Op::ValueCompareAndSwap {
            value,
            expected,
            new,
        };
        self.call(&v, op, None).await
    }

    async fn drop(&mut self, v: Resource<shared::Value>) -> wasmtime::Result<()> {
        self.discard(v)
    }
}

impl shared::HostArray for TaskState {
    async fn open(
        &mut self,
        name: String,
        len: u32,
        initial: Scalar,
    ) -> Answered<Resource<shared::Array>> {
        let initial = to_hub(initial);
        self.open(Op::ArrayOpen { name, len, initial }).await
    }

    async fn get(&mut self, a: Resource<shared::Array>, index: u32) -> Answered<Scalar> {
        self.scalar(&a, |array| Op::ArrayGet { array, index }).await
    }

    async fn set(&mut self, a: Resource<shared::Array>, index: u32, new: Scalar) -> Answered<()> {
        let new = to_hub(new);
        self.call(&a, |array| Op::ArraySet { array, index, new }, None)
            .await
    }

    async fn add(
        &mut self,
        a: Resource<shared::Array>,
        index: u32,
        delta: Scalar,
    ) -> Answered<Scalar> {
        let delta = to_hub(delta);
        self.scalar(&a, |array| Op::ArrayAdd {
            array,
            index,
            delta,
        })
        .await
    }

    async fn len(&mut self, a: Resource<shared::Array>) -> Answered<u32> {
        self.call(&a, |array| Op::ArrayLen { array }, None).await
    }

    async fn drop(&mut self, a: Resource<shared::Array>) -> wasmtime::Result<()> {
        self.discard(a)
    }
}

impl shared::HostLock for TaskState {
    async fn open(&mut self, name: String, reentrant: bool) -> Answered<Resource<shared::Lock>> {
        self.open(Op::LockOpen { name, reentrant }).await
    }

    async fn acquire(
        &mut self,
        l: Resource<shared::Lock>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        self.call(&l, |lock| Op::LockAcquire { lock }, timeout_ms)
            .await
    }

    async fn release(&mut self, l: Resource<shared::Lock>) -> Answered<()> {
        self.call(&l, |lock| Op::LockRelease { lock }, None).await
    }

    async fn drop(&mut self, l: Resource<shared::Lock>) -> wasmtime::Result<()> {
        self.discard(l)
    }
}

impl shared::HostDict for TaskState {
    async fn open(&mut self, name: String) -> Answered<Resource<shared::Dict>> {
        self.open(Op::DictOpen { name }).await
    }

    async fn get(&mut self, d: Resource<shared::Dict>, key: String) -> Answered<Option<Vec<u8>>> {
        self.call(&d, |dict| Op::DictGet { dict, key }, None).await
    }

    async fn set(
        &mut self,
        d: Resource<shared::Dict>,
        key: String,
        value: Vec<u8>,
    ) -> Answered<()> {
        self.call(&d, |dict| Op::DictSet { dict, key, value }, None)
            .await
    }

    async fn remove(
        &mut self,
        d: Resource<shared::Dict>,
        key: String,
    ) -> Answered<Option<Vec<u8>>> {
        self.call(&d, |dict| Op::DictRemove { dict, key }, None)
            .await
    }

    async fn keys(&mut self, d: Resource<shared::Dict>) -> Answered<Vec<String>> {
        self.call(&d, |dict| Op::DictKeys { dict }, None).await
    }

    async fn len(&mut self, d: Resource<shared::Dict>) -> Answered<u32> {
        self.call(&d, |dict| Op::DictLen { dict }, None).await
    }

    async fn drop(&mut self, d: Resource<shared::Dict>) -> wasmtime::Result<()> {
        self.discard(d)
    }
}

impl sync::Host for TaskState {}

impl sync::HostEvent for TaskState {
    async fn open(&mut self, name: String) -> Answered<Resource<sync::Event>> {
        self.open(Op::EventOpen { name }).await
    }

    async fn set(&mut self, e: Resource<sync::Event>) -> Answered<()> {
        self.call(&e, |event| Op::EventSet { event }, None).await
    }

    async fn clear(&mut self, e: Resource<sync::Event>) -> Answered<()> {
        self.call(&e, |event| Op::EventClear { event }, None).await
    }

    async fn is_set(&mut self, e: Resource<sync::Event>) -> Answered<bool> {
        self.call(&e, |event| Op::EventIsSet { event }, None).await
    }

    async fn wait(&mut self, e: Resource<sync::Event>, timeout_ms: Option<u64>) -> Answered<()> {
        self.call(&e, |event| Op::EventWait { event }, timeout_ms)
            .await
    }

    async fn drop(&mut self, e: Resource<sync::Event>) -> wasmtime::Result<()> {
        self.discard(e)
    }
}

impl sync::HostSemaphore for TaskState {
    async fn open(&mut self, name: String, initial: u32) -> Answered<Resource<sync::Semaphore>> {
        self.open(Op::SemaphoreOpen { name, initial }).await
    }

    async fn acquire(
        &mut self,
        s: Resource<sync::Semaphore>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        self.call(
            &s,
            |semaphore| Op::SemaphoreAcquire { semaphore },
            timeout_ms,
        )
        .await
    }

    async fn release(&mut self, s: Resource<sync::Semaphore>) -> Answered<()> {
        self.call(&s, |semaphore| Op::SemaphoreRelease { semaphore }, None)
            .await
    }

    async fn drop(&mut self, s: Resource<sync::Semaphore>) -> wasmtime::Result<()> {
        self.discard(s)
    }
}

impl sync::HostBarrier for TaskState {
    async fn open(&mut self, name: String, parties: u32) -> Answered<Resource<sync::Barrier>> {
        self.open(Op::BarrierOpen { name, parties }).await
    }

    async fn wait(&mut self, b: Resource<sync::Barrier>, timeout_ms: Option<u64>) -> Answered<u32> {
        self.call(&b, |barrier| Op::BarrierWait { barrier }, timeout_ms)
            .await
    }

    async fn drop(&mut self, b: Resource<sync::Barrier>) -> wasmtime::Result<()> {
        self.discard(b)
    }
}
