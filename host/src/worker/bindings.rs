//! Host bindings of the `wpool:task` WIT package (`wit/` at the repository
//! root), and the implementation of each interface it imports.
//!
//! `context` answers from the task's own state. Every operation on a shared
//! object becomes one typed request (declared in `protocol`) to the hub in
//! the host process, but those on a lock or a number value that the task
//! can do in the job's shared memory (`cells`): the resource a guest holds
//! is the typed handle the hub gave when the object was opened (with the
//! object's cell, for those), so a queue's handle can never be used as a
//! lock's. A host function returns `wasmtime::Result<Result<T, Error>>`:
//! the outer error traps the guest (the link to the host broke, or the hub
//! answered out of turn), the inner one is the WIT `error` the guest
//! handles.

use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, Resource};

use super::cells::{LockRef, Spun, ValueRef};
use super::channel::{Channel, Key};
use super::pipeline::Kind;
use super::state::TaskState;
use crate::protocol::engine::TICK;
use crate::protocol::{
    self, ObjectError, Request, array, barrier, condition, dict, event, list, lock, pipe, queue,
    semaphore, typed_answer, value,
};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wpool:task/host",
    imports: { default: async | trappable },
    with: {
        "wpool:task/queue.queue": crate::protocol::queue::Handle,
        "wpool:task/pipe.connection": crate::protocol::pipe::Handle,
        "wpool:task/shared.value": crate::worker::cells::ValueRef,
        "wpool:task/shared.array": crate::protocol::array::Handle,
        "wpool:task/shared.lock": crate::worker::cells::LockRef,
        "wpool:task/shared.condition": crate::protocol::condition::Handle,
        "wpool:task/shared.dict": crate::protocol::dict::Handle,
        "wpool:task/shared.shared-list": crate::protocol::list::Handle,
        "wpool:task/sync.event": crate::protocol::event::Handle,
        "wpool:task/sync.semaphore": crate::protocol::semaphore::Handle,
        "wpool:task/sync.barrier": crate::protocol::barrier::Handle,
    },
});

use self::wpool::task::types::{Error, Scalar};
use self::wpool::task::{context, pipe as wit_pipe, queue as wit_queue, shared, sync, types};

/// Adds every `wpool:task` interface to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    Host_::add_to_linker::<TaskState, HasSelf<TaskState>>(linker, |state| state)
}

type Answered<T> = wasmtime::Result<Result<T, Error>>;

impl TaskState {
    /// Sends `request` to the hub. A wait lasts at most `timeout_ms`, and
    /// ends a tick before the task's deadline, so that the guest sees
    /// `timeout` before the deadline stops it.
    async fn call<R: Request>(
        &mut self,
        request: R,
        timeout_ms: Option<u64>,
    ) -> Answered<R::Answer> {
        let timeout = self.wait_limit(timeout_ms);
        let reply = self
            .link
            .request(self.task_index, request.into_op(), Some(timeout))
            .await;
        match typed_answer::<R>(reply) {
            Ok(answer) => Ok(answer.map_err(Error::from)),
            Err(answer) => Err(wasmtime::format_err!(
                "the hub answered out of turn: {answer:?}"
            )),
        }
    }

    /// How long a request may wait: `timeout_ms`, and at most until a tick
    /// before the task's deadline.
    fn wait_limit(&self, timeout_ms: Option<u64>) -> Duration {
        let left = self
            .deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(TICK);
        timeout_ms.map_or(left, |ms| Duration::from_millis(ms).min(left))
    }

    /// Sends the request `request` builds from the handle `resource` holds.
    async fn on<H: Copy + 'static, R: Request>(
        &mut self,
        resource: &Resource<H>,
        request: impl FnOnce(H) -> R,
        timeout_ms: Option<u64>,
    ) -> Answered<R::Answer> {
        let handle = *self.table.get(resource)?;
        self.call(request(handle), timeout_ms).await
    }

    /// Opens an object and keeps its handle in the task's resource table.
    async fn open<R>(&mut self, open: R) -> Answered<Resource<R::Answer>>
    where
        R: Request,
        R::Answer: Send + 'static,
    {
        Ok(match self.call(open, None).await? {
            Ok(handle) => Ok(self.table.push(handle)?),
            Err(error) => Err(error),
        })
    }

    /// A request to `object` answered at once that failed since the task's
    /// last one there (see `pipeline`): the answer to the task's request
    /// now.
    async fn failed_at_once(&mut self, object: Key) -> wasmtime::Result<Option<Error>> {
        let failure = self.pipeline.failure(Some(object), false).await?;
        Ok(failure.map(|(_, error)| error.into()))
    }

    /// Sends `request` to `object` without waiting for its answer, which
    /// the pipeline takes in later.
    fn send_at_once(
        &mut self,
        object: Key,
        request: impl Request,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        let reply = self
            .link
            .send_request(self.task_index, request.into_op(), timeout)?;
        self.pipeline.sent(object, reply);
        Ok(())
    }

    /// Sends a value's or a lock's request, after reporting a set or
    /// release answered at once that failed since the task's last request
    /// to it.
    async fn on_object<R: Request>(
        &mut self,
        object: Key,
        request: R,
        timeout_ms: Option<u64>,
    ) -> Answered<R::Answer> {
        if let Some(error) = self.failed_at_once(object).await? {
            return Ok(Err(error));
        }
        self.call(request, timeout_ms).await
    }

    /// A value's answer of a scalar, which shows the value's kind.
    fn seen_in(
        &mut self,
        handle: value::Handle,
        answered: Answered<protocol::Scalar>,
    ) -> Answered<Scalar> {
        let answered = answered?;
        if let Ok(scalar) = &answered {
            self.pipeline.seen(handle, Kind::of(scalar));
        }
        scalar(Ok(answered))
    }

    /// Opens a value or a lock, and asks the hub where its cell is when
    /// `in_cell` (a number value, a lock) and this worker maps the job's
    /// shared memory; keeps what `opened` makes of both in the task's
    /// resource table.
    async fn open_located<R, L, T>(
        &mut self,
        open: R,
        in_cell: bool,
        locate: impl FnOnce(R::Answer) -> L,
        opened: impl FnOnce(R::Answer, Option<u32>) -> T,
    ) -> Answered<Resource<T>>
    where
        R: Request,
        R::Answer: Copy,
        L: Request<Answer = u32>,
        T: Send + 'static,
    {
        let handle = match self.call(open, None).await? {
            Ok(handle) => handle,
            Err(error) => return Ok(Err(error)),
        };
        let mut cell = None;
        if in_cell && self.link.shared_memory().is_some() {
            // A worker that maps the job's memory talks to its hub, which
            // has a cell for each number value and lock.
            cell = match self.call(locate(handle), None).await? {
                Ok(index) => self.mapped(index),
                Err(error) => return Ok(Err(error)),
            };
        }
        Ok(Ok(self.table.push(opened(handle, cell))?))
    }

    /// Sends `item` through `channel` (a queue's put, a pipe's send): at
    /// once while the hub's last answer said there is room (see
    /// `pipeline`), otherwise waiting for its answer.
    async fn send_through<C: Channel>(
        &mut self,
        channel: C,
        item: Vec<u8>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        let key = channel.key();
        // A put answered at once that failed since: this put's answer.
        if let Some(error) = self.failed_at_once(key).await? {
            return Ok(Err(error));
        }
        let timeout = self.wait_limit(timeout_ms);
        if item.len() <= protocol::MAX_STREAMED_ITEM && self.pipeline.take_room(key) {
            return Ok(self.send_at_once(key, channel.send(item), Some(timeout)));
        }
        let answer = self.call(channel.send(item), timeout_ms).await?;
        // The puts sent before this one on the channel are answered by now:
        // a failure among them is reported here, or with this one's.
        let earlier = self.pipeline.failure(Some(key), false).await?;
        Ok(match (answer, earlier) {
            (Err(error), _) => Err(error),
            (Ok(_), Some((_, error))) => Err(error.into()),
            (Ok(room), None) => {
                self.pipeline.set_room(key, room);
                Ok(())
            }
        })
    }

    /// Takes the next item from `channel` (a queue's get, a pipe's recv):
    /// one the task took ahead, or from the hub, which in a tight loop
    /// answers the items ahead too (see `link`).
    async fn take_from<C: Channel>(
        &mut self,
        channel: C,
        timeout_ms: Option<u64>,
    ) -> Answered<Vec<u8>> {
        let key = channel.key();
        let most = match self.link.next_ahead(self.task_index, key) {
            Ok(item) => return Ok(Ok(item)),
            Err(most) => most,
        };
        let mut items = match most {
            1 => match self.call(channel.take(), timeout_ms).await? {
                Ok(item) => vec![item],
                Err(error) => return Ok(Err(error)),
            },
            most => match self.call(channel.take_many(most), timeout_ms).await? {
                Ok(items) => items,
                Err(error) => return Ok(Err(error)),
            },
        };
        if items.is_empty() {
            return Err(wasmtime::format_err!(
                "the hub answered a take with no item"
            ));
        }
        let first = items.remove(0);
        self.link.got(self.task_index, key, items);
        Ok(Ok(first))
    }

    /// Closes the pipe connection `handle`; the messages the task took
    /// ahead on it are dropped, as its unread ones are.
    async fn close_end(&mut self, handle: pipe::Handle) -> Answered<()> {
        self.link.drop_ahead(self.task_index, handle.key());
        self.call(pipe::Close { handle }, None).await
    }

    /// Forgets a dropped resource; the object itself lives on in the hub.
    fn discard<H: 'static>(&mut self, resource: Resource<H>) -> wasmtime::Result<()> {
        self.table.delete(resource)?;
        Ok(())
    }
}

impl From<ObjectError> for Error {
    fn from(error: ObjectError) -> Error {
        match error {
            ObjectError::Closed => Error::Closed,
            ObjectError::Timeout => Error::Timeout,
            ObjectError::Denied(why) => Error::Denied(why),
            ObjectError::TooLarge(limit) => Error::TooLarge(limit),
            ObjectError::Abandoned => Error::Abandoned,
        }
    }
}

impl From<protocol::Scalar> for Scalar {
    fn from(scalar: protocol::Scalar) -> Scalar {
        match scalar {
            protocol::Scalar::Int(n) => Scalar::Int(n),
            protocol::Scalar::Float(x) => Scalar::Float(x),
            protocol::Scalar::Bytes(b) => Scalar::Bytes(b),
        }
    }
}

impl From<Scalar> for protocol::Scalar {
    fn from(scalar: Scalar) -> protocol::Scalar {
        match scalar {
            Scalar::Int(n) => protocol::Scalar::Int(n),
            Scalar::Float(x) => protocol::Scalar::Float(x),
            Scalar::Bytes(b) => protocol::Scalar::Bytes(b),
        }
    }
}

/// A scalar answer as the guest's WIT type.
fn scalar(answered: Answered<protocol::Scalar>) -> Answered<Scalar> {
    answered.map(|result| result.map(Scalar::from))
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

impl wit_queue::Host for TaskState {}

impl wit_queue::HostQueue for TaskState {
    async fn open(&mut self, name: String, capacity: u32) -> Answered<Resource<queue::Handle>> {
        self.open(queue::Open { name, capacity }).await
    }

    async fn put(
        &mut self,
        q: Resource<queue::Handle>,
        item: Vec<u8>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        let handle = *self.table.get(&q)?;
        self.send_through(handle, item, timeout_ms).await
    }

    async fn get(
        &mut self,
        q: Resource<queue::Handle>,
        timeout_ms: Option<u64>,
    ) -> Answered<Vec<u8>> {
        let handle = *self.table.get(&q)?;
        self.take_from(handle, timeout_ms).await
    }

    /// The items waiting, those the task took ahead included.
    async fn len(&mut self, q: Resource<queue::Handle>) -> Answered<u32> {
        let handle = *self.table.get(&q)?;
        let held = self.link.held_ahead(self.task_index, handle.key());
        let waiting = self.call(queue::Len { handle }, None).await?;
        Ok(waiting.map(|n| n.saturating_add(u32::try_from(held).unwrap_or(u32::MAX))))
    }

    /// Whether no item waits, the task's own taken ahead included.
    async fn empty(&mut self, q: Resource<queue::Handle>) -> Answered<bool> {
        let handle = *self.table.get(&q)?;
        if self.link.held_ahead(self.task_index, handle.key()) > 0 {
            return Ok(Ok(false));
        }
        self.call(queue::Empty { handle }, None).await
    }

    async fn full(&mut self, q: Resource<queue::Handle>) -> Answered<bool> {
        self.on(&q, |handle| queue::Full { handle }, None).await
    }

    async fn close(&mut self, q: Resource<queue::Handle>) -> Answered<()> {
        self.on(&q, |handle| queue::Close { handle }, None).await
    }

    async fn task_done(&mut self, q: Resource<queue::Handle>) -> Answered<()> {
        self.on(&q, |handle| queue::TaskDone { handle }, None).await
    }

    async fn join(&mut self, q: Resource<queue::Handle>, timeout_ms: Option<u64>) -> Answered<()> {
        self.on(&q, |handle| queue::Join { handle }, timeout_ms)
            .await
    }

    async fn drop(&mut self, q: Resource<queue::Handle>) -> wasmtime::Result<()> {
        self.discard(q)
    }
}

impl wit_pipe::Host for TaskState {}

impl wit_pipe::HostConnection for TaskState {
    async fn open(&mut self, name: String, end: wit_pipe::End) -> Answered<Resource<pipe::Handle>> {
        let end = match end {
            wit_pipe::End::A => protocol::End::A,
            wit_pipe::End::B => protocol::End::B,
        };
        self.open(pipe::Open { name, end }).await
    }

    async fn send(
        &mut self,
        c: Resource<pipe::Handle>,
        message: Vec<u8>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        let handle = *self.table.get(&c)?;
        self.send_through(handle, message, timeout_ms).await
    }

    async fn recv(
        &mut self,
        c: Resource<pipe::Handle>,
        timeout_ms: Option<u64>,
    ) -> Answered<Vec<u8>> {
        let handle = *self.table.get(&c)?;
        self.take_from(handle, timeout_ms).await
    }

    /// True at once while the task holds messages it took ahead.
    async fn poll(&mut self, c: Resource<pipe::Handle>, timeout_ms: Option<u64>) -> Answered<bool> {
        let handle = *self.table.get(&c)?;
        if self.link.held_ahead(self.task_index, handle.key()) > 0 {
            return Ok(Ok(true));
        }
        self.call(pipe::Poll { handle }, timeout_ms).await
    }

    async fn close(&mut self, c: Resource<pipe::Handle>) -> Answered<()> {
        let handle = *self.table.get(&c)?;
        self.close_end(handle).await
    }

    /// Dropping an end closes it, so the peer learns it is gone.
    async fn drop(&mut self, c: Resource<pipe::Handle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(c)?;
        self.close_end(handle).await?.ok();
        Ok(())
    }
}

impl shared::Host for TaskState {}

/// A number value in the job's shared memory is read and changed in its
/// cell; any other goes to the hub. A change in the cell comes after the
/// task's earlier puts and sends sent at once have reached the hub, as it
/// would through the hub: the task waits for their answers first.
impl shared::HostValue for TaskState {
    async fn open(&mut self, name: String, initial: Scalar) -> Answered<Resource<ValueRef>> {
        let initial = protocol::Scalar::from(initial);
        let kind = initial.kind();
        self.open_located(
            value::Open { name, initial },
            kind.in_cell(),
            |handle| value::Locate { handle },
            |handle, cell| ValueRef {
                handle,
                cell: cell.map(|index| (index, kind)),
            },
        )
        .await
    }

    async fn get(&mut self, v: Resource<ValueRef>) -> Answered<Scalar> {
        let ValueRef { handle, cell } = *self.table.get(&v)?;
        if let Some(cell) = cell {
            let got = self.on_value_cell(cell, |cell, kind| Ok(cell.get(kind)));
            return scalar(Ok(got.map_err(Error::from)));
        }
        let got = self
            .on_object(Key::Value(handle), value::Get { handle }, None)
            .await;
        self.seen_in(handle, got)
    }

    /// A set in the value's cell is done at once; elsewhere, a set to a
    /// number of the value's known kind goes at once (see `pipeline`), and
    /// any other waits, and shows the kind when it succeeds.
    async fn set(&mut self, v: Resource<ValueRef>, new: Scalar) -> Answered<()> {
        let ValueRef { handle, cell } = *self.table.get(&v)?;
        let new = protocol::Scalar::from(new);
        if let Some(cell) = cell {
            self.pipeline.settle().await?;
            let set = self.on_value_cell(cell, |cell, kind| cell.set(kind, &new));
            return Ok(set.map_err(Error::from));
        }
        let key = Key::Value(handle);
        if let Some(error) = self.failed_at_once(key).await? {
            return Ok(Err(error));
        }
        if self.pipeline.set_at_once(handle, &new) {
            return Ok(self.send_at_once(key, value::Set { handle, new }, None));
        }
        let kind = Kind::of(&new);
        let set = self.call(value::Set { handle, new }, None).await?;
        if set.is_ok() {
            self.pipeline.seen(handle, kind);
        }
        Ok(set)
    }

    async fn add(&mut self, v: Resource<ValueRef>, delta: Scalar) -> Answered<Scalar> {
        let ValueRef { handle, cell } = *self.table.get(&v)?;
        let delta = protocol::Scalar::from(delta);
        if let Some(cell) = cell {
            self.pipeline.settle().await?;
            let sum = self.on_value_cell(cell, |cell, kind| cell.add(kind, &delta));
            return scalar(Ok(sum.map_err(Error::from)));
        }
        let sum = self
            .on_object(Key::Value(handle), value::Add { handle, delta }, None)
            .await;
        self.seen_in(handle, sum)
    }

    async fn compare_and_swap(
        &mut self,
        v: Resource<ValueRef>,
        expected: Scalar,
        new: Scalar,
    ) -> Answered<bool> {
        let ValueRef { handle, cell } = *self.table.get(&v)?;
        let (expected, new) = (expected.into(), new.into());
        if let Some(cell) = cell {
            self.pipeline.settle().await?;
            let swapped = self.on_value_cell(cell, |cell, kind| {
                cell.compare_and_swap(kind, &expected, &new)
            });
            return Ok(swapped.map_err(Error::from));
        }
        let request = value::CompareAndSwap {
            handle,
            expected,
            new,
        };
        self.on_object(Key::Value(handle), request, None).await
    }

    async fn drop(&mut self, v: Resource<ValueRef>) -> wasmtime::Result<()> {
        self.discard(v)
    }
}

impl shared::HostArray for TaskState {
    async fn open(
        &mut self,
        name: String,
        len: u32,
        initial: Scalar,
    ) -> Answered<Resource<array::Handle>> {
        let initial = initial.into();
        self.open(array::Open { name, len, initial }).await
    }

    async fn get(&mut self, a: Resource<array::Handle>, index: u32) -> Answered<Scalar> {
        scalar(
            self.on(&a, |handle| array::Get { handle, index }, None)
                .await,
        )
    }

    async fn set(&mut self, a: Resource<array::Handle>, index: u32, new: Scalar) -> Answered<()> {
        let new = new.into();
        self.on(&a, |handle| array::Set { handle, index, new }, None)
            .await
    }

    async fn add(
        &mut self,
        a: Resource<array::Handle>,
        index: u32,
        delta: Scalar,
    ) -> Answered<Scalar> {
        let delta = delta.into();
        let request = |handle| array::Add {
            handle,
            index,
            delta,
        };
        scalar(self.on(&a, request, None).await)
    }

    async fn len(&mut self, a: Resource<array::Handle>) -> Answered<u32> {
        self.on(&a, |handle| array::Len { handle }, None).await
    }

    async fn drop(&mut self, a: Resource<array::Handle>) -> wasmtime::Result<()> {
        self.discard(a)
    }
}

/// A lock in the job's shared memory is taken and released in its cell,
/// through the hub only to wait for it or to hand it to a waiter; any other
/// goes to the hub. A release in the cell comes after the task's earlier
/// puts and sends sent at once have reached the hub, as a value's change
/// does.
impl shared::HostLock for TaskState {
    async fn open(&mut self, name: String, reentrant: bool) -> Answered<Resource<LockRef>> {
        self.open_located(
            lock::Open { name, reentrant },
            true,
            |handle| lock::Locate { handle },
            |handle, cell| LockRef {
                handle,
                reentrant,
                cell,
            },
        )
        .await
    }

    async fn acquire(&mut self, l: Resource<LockRef>, timeout_ms: Option<u64>) -> Answered<()> {
        let lock = *self.table.get(&l)?;
        let handle = lock.handle;
        if let Some(index) = lock.cell {
            let acquired = match self.spin_for(lock, index, timeout_ms) {
                Spun::Taken => Ok(Ok(())),
                Spun::Refused(error) => Ok(Err(error.into())),
                Spun::Busy => self.call(lock::Acquire { handle }, timeout_ms).await,
                Spun::Abandoned => {
                    if self.release_cell(index).is_none() {
                        // Handed to a waiter, which is then told too.
                        let _ = self.call(lock::Release { handle }, None).await?;
                    }
                    Ok(Err(Error::Abandoned))
                }
            };
            if matches!(acquired, Ok(Ok(()))) {
                self.took(lock);
            }
            return acquired;
        }
        let acquired = self
            .on_object(Key::Lock(handle), lock::Acquire { handle }, timeout_ms)
            .await?;
        if acquired.is_ok() {
            self.pipeline.acquired(handle);
        }
        Ok(acquired)
    }

    async fn try_acquire(&mut self, l: Resource<LockRef>) -> Answered<bool> {
        let lock = *self.table.get(&l)?;
        let handle = lock.handle;
        if let Some(index) = lock.cell {
            let taken = self.try_take(lock, index);
            if taken == Ok(true) {
                self.took(lock);
            }
            return Ok(taken.map_err(Error::from));
        }
        let taken = self
            .on_object(Key::Lock(handle), lock::TryAcquire { handle }, None)
            .await?;
        if matches!(taken, Ok(true)) {
            self.pipeline.acquired(handle);
        }
        Ok(taken)
    }

    /// A release in the lock's cell is done at once, unless the hub must
    /// hand the lock to a waiter; elsewhere, the release of a lock the task
    /// holds goes at once (see `pipeline`), and any other waits for the
    /// hub's word.
    async fn release(&mut self, l: Resource<LockRef>) -> Answered<()> {
        let LockRef { handle, cell, .. } = *self.table.get(&l)?;
        if let Some(index) = cell {
            self.pipeline.settle().await?;
            return match self.release_cell(index) {
                Some(released) => Ok(released.map_err(Error::from)),
                None => self.call(lock::Release { handle }, None).await,
            };
        }
        let key = Key::Lock(handle);
        if let Some(error) = self.failed_at_once(key).await? {
            return Ok(Err(error));
        }
        if self.pipeline.release_at_once(handle) {
            return Ok(self.send_at_once(key, lock::Release { handle }, None));
        }
        self.call(lock::Release { handle }, None).await
    }

    async fn locked(&mut self, l: Resource<LockRef>) -> Answered<bool> {
        let LockRef { handle, cell, .. } = *self.table.get(&l)?;
        if let Some(index) = cell {
            return Ok(self.locked_cell(index).map_err(Error::from));
        }
        self.on_object(Key::Lock(handle), lock::Locked { handle }, None)
            .await
    }

    async fn drop(&mut self, l: Resource<LockRef>) -> wasmtime::Result<()> {
        self.discard(l)
    }
}

impl shared::HostCondition for TaskState {
    async fn open(&mut self, name: String, lock: String) -> Answered<Resource<condition::Handle>> {
        self.open(condition::Open { name, lock }).await
    }

    async fn wait(
        &mut self,
        c: Resource<condition::Handle>,
        timeout_ms: Option<u64>,
    ) -> Answered<bool> {
        let waited = self
            .on(&c, |handle| condition::Wait { handle }, timeout_ms)
            .await?;
        // A wait that failed may have left its lock released.
        if waited.is_err() {
            self.pipeline.forget_held();
        }
        Ok(waited)
    }

    async fn notify(&mut self, c: Resource<condition::Handle>, n: u32) -> Answered<()> {
        self.on(&c, |handle| condition::Notify { handle, n }, None)
            .await
    }

    async fn notify_all(&mut self, c: Resource<condition::Handle>) -> Answered<()> {
        self.on(&c, |handle| condition::NotifyAll { handle }, None)
            .await
    }

    async fn drop(&mut self, c: Resource<condition::Handle>) -> wasmtime::Result<()> {
        self.discard(c)
    }
}

impl shared::HostDict for TaskState {
    async fn open(&mut self, name: String) -> Answered<Resource<dict::Handle>> {
        self.open(dict::Open { name }).await
    }

    async fn get(&mut self, d: Resource<dict::Handle>, key: String) -> Answered<Option<Vec<u8>>> {
        self.on(&d, |handle| dict::Get { handle, key }, None).await
    }

    async fn set(
        &mut self,
        d: Resource<dict::Handle>,
        key: String,
        value: Vec<u8>,
    ) -> Answered<()> {
        self.on(&d, |handle| dict::Set { handle, key, value }, None)
            .await
    }

    async fn remove(
        &mut self,
        d: Resource<dict::Handle>,
        key: String,
    ) -> Answered<Option<Vec<u8>>> {
        self.on(&d, |handle| dict::Remove { handle, key }, None)
            .await
    }

    async fn setdefault(
        &mut self,
        d: Resource<dict::Handle>,
        key: String,
        value: Vec<u8>,
    ) -> Answered<Vec<u8>> {
        let request = |handle| dict::SetDefault { handle, key, value };
        self.on(&d, request, None).await
    }

    async fn compare_and_set(
        &mut self,
        d: Resource<dict::Handle>,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Answered<bool> {
        let request = |handle| dict::CompareAndSet {
            handle,
            key,
            expected,
            new,
        };
        self.on(&d, request, None).await
    }

    async fn keys(
        &mut self,
        d: Resource<dict::Handle>,
        after: Option<String>,
    ) -> Answered<Vec<String>> {
        self.on(&d, |handle| dict::Keys { handle, after }, None)
            .await
    }

    async fn len(&mut self, d: Resource<dict::Handle>) -> Answered<u32> {
        self.on(&d, |handle| dict::Len { handle }, None).await
    }

    async fn drop(&mut self, d: Resource<dict::Handle>) -> wasmtime::Result<()> {
        self.discard(d)
    }
}

impl shared::HostSharedList for TaskState {
    async fn open(&mut self, name: String) -> Answered<Resource<list::Handle>> {
        self.open(list::Open { name }).await
    }

    async fn append(&mut self, l: Resource<list::Handle>, item: Vec<u8>) -> Answered<()> {
        self.on(&l, |handle| list::Append { handle, item }, None)
            .await
    }

    async fn extend(&mut self, l: Resource<list::Handle>, items: Vec<Vec<u8>>) -> Answered<()> {
        self.on(&l, |handle| list::Extend { handle, items }, None)
            .await
    }

    async fn get(&mut self, l: Resource<list::Handle>, index: i64) -> Answered<Vec<u8>> {
        self.on(&l, |handle| list::Get { handle, index }, None)
            .await
    }

    async fn set(&mut self, l: Resource<list::Handle>, index: i64, item: Vec<u8>) -> Answered<()> {
        self.on(
            &l,
            |handle| list::Set {
                handle,
                index,
                item,
            },
            None,
        )
        .await
    }

    async fn len(&mut self, l: Resource<list::Handle>) -> Answered<u32> {
        self.on(&l, |handle| list::Len { handle }, None).await
    }

    async fn pop(&mut self, l: Resource<list::Handle>, index: Option<i64>) -> Answered<Vec<u8>> {
        self.on(&l, |handle| list::Pop { handle, index }, None)
            .await
    }

    async fn slice(
        &mut self,
        l: Resource<list::Handle>,
        start: Option<i64>,
        stop: Option<i64>,
    ) -> Answered<Vec<Vec<u8>>> {
        self.on(
            &l,
            |handle| list::Slice {
                handle,
                start,
                stop,
            },
            None,
        )
        .await
    }

    async fn drop(&mut self, l: Resource<list::Handle>) -> wasmtime::Result<()> {
        self.discard(l)
    }
}

impl sync::Host for TaskState {}

impl sync::HostEvent for TaskState {
    async fn open(&mut self, name: String) -> Answered<Resource<event::Handle>> {
        self.open(event::Open { name }).await
    }

    async fn set(&mut self, e: Resource<event::Handle>) -> Answered<()> {
        self.on(&e, |handle| event::Set { handle }, None).await
    }

    async fn clear(&mut self, e: Resource<event::Handle>) -> Answered<()> {
        self.on(&e, |handle| event::Clear { handle }, None).await
    }

    async fn is_set(&mut self, e: Resource<event::Handle>) -> Answered<bool> {
        self.on(&e, |handle| event::IsSet { handle }, None).await
    }

    async fn wait(&mut self, e: Resource<event::Handle>, timeout_ms: Option<u64>) -> Answered<()> {
        self.on(&e, |handle| event::Wait { handle }, timeout_ms)
            .await
    }

    async fn drop(&mut self, e: Resource<event::Handle>) -> wasmtime::Result<()> {
        self.discard(e)
    }
}

impl sync::HostSemaphore for TaskState {
    async fn open(&mut self, name: String, initial: u32) -> Answered<Resource<semaphore::Handle>> {
        self.open(semaphore::Open { name, initial }).await
    }

    async fn acquire(
        &mut self,
        s: Resource<semaphore::Handle>,
        timeout_ms: Option<u64>,
    ) -> Answered<()> {
        self.on(&s, |handle| semaphore::Acquire { handle }, timeout_ms)
            .await
    }

    async fn release(&mut self, s: Resource<semaphore::Handle>) -> Answered<()> {
        self.on(&s, |handle| semaphore::Release { handle }, None)
            .await
    }

    async fn drop(&mut self, s: Resource<semaphore::Handle>) -> wasmtime::Result<()> {
        self.discard(s)
    }
}

impl sync::HostBarrier for TaskState {
    async fn open(&mut self, name: String, parties: u32) -> Answered<Resource<barrier::Handle>> {
        self.open(barrier::Open { name, parties }).await
    }

    async fn wait(
        &mut self,
        b: Resource<barrier::Handle>,
        timeout_ms: Option<u64>,
    ) -> Answered<u32> {
        self.on(&b, |handle| barrier::Wait { handle }, timeout_ms)
            .await
    }

    async fn abort(&mut self, b: Resource<barrier::Handle>) -> Answered<()> {
        self.on(&b, |handle| barrier::Abort { handle }, None).await
    }

    async fn reset(&mut self, b: Resource<barrier::Handle>) -> Answered<()> {
        self.on(&b, |handle| barrier::Reset { handle }, None).await
    }

    async fn broken(&mut self, b: Resource<barrier::Handle>) -> Answered<bool> {
        self.on(&b, |handle| barrier::Broken { handle }, None).await
    }

    async fn n_waiting(&mut self, b: Resource<barrier::Handle>) -> Answered<u32> {
        self.on(&b, |handle| barrier::NWaiting { handle }, None)
            .await
    }

    async fn drop(&mut self, b: Resource<barrier::Handle>) -> wasmtime::Result<()> {
        self.discard(b)
    }
}
