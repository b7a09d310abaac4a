//! The host participant: blocking handles on a job's shared objects, for the
//! host process to talk with its tasks as Python's main process talks with
//! its children. Each method sends one [`Op`] to the hub and waits for the
//! answer. Every host thread counts as a task of its own, so a [`Lock`]
//! acquired by one host thread is not held by another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Caller, End, FromAnswer, Hub, JobId, ObjectError, Op, Scalar};

/// One of a job's objects, as the host names it.
#[derive(Clone)]
struct Target {
    hub: Hub,
    job: JobId,
    handle: u64,
}

impl Target {
    /// Opens an object: `open` builds the operation from nothing.
    fn open(hub: &Hub, job: JobId, op: Op) -> Result<Target, ObjectError> {
        let handle = request(hub, job, op, None)?;
        Ok(Target {
            hub: hub.clone(),
            job,
            handle,
        })
    }

    /// Sends the operation `op` builds from this handle, and waits.
    fn call<T: FromAnswer>(
        &self,
        op: impl FnOnce(u64) -> Op,
        timeout: Option<Duration>,
    ) -> Result<T, ObjectError> {
        request(&self.hub, self.job, op(self.handle), timeout)
    }
}

/// The host thread's caller id within `job`: worker [`Caller::HOST`], and a
/// task number of its own.
fn host_caller(job: JobId) -> Caller {
    static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    }
    Caller {
        job,
        worker: Caller::HOST,
        task: THREAD.with(|t| *t),
    }
}

fn request<T: FromAnswer>(
    hub: &Hub,
    job: JobId,
    op: Op,
    timeout: Option<Duration>,
) -> Result<T, ObjectError> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let reply = Box::new(move |result| {
        // The receiver waits below until the answer comes.
        let _ = tx.send(result);
    });
    hub.request(host_caller(job), op, timeout, reply);
    // A reply dropped uncalled would be a hub bug; answer `closed` then.
    let answer = rx.recv().unwrap_or(Err(ObjectError::Closed))?;
    Ok(T::from_answer(answer)
        .unwrap_or_else(|other| panic!("the hub answered {other:?} out of turn")))
}

/// A job's queue (`multiprocessing.Queue`): FIFO, bounded, shared by the
/// host and the job's tasks. Dropping the handle leaves the queue as it is.
#[derive(Clone)]
pub struct Queue(Target);

impl Queue {
    /// Opens the job's queue `name`, creating it with room for `capacity`
    /// items (0: the job's limit) if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        capacity: u32,
    ) -> Result<Queue, ObjectError> {
        let op = Op::QueueOpen {
            name: name.into(),
            capacity,
        };
        Target::open(hub, job, op).map(Queue)
    }

    /// Appends `item`, waiting up to `timeout` (`None`: forever) for room.
    pub fn put(&self, item: &[u8], timeout: Option<Duration>) -> Result<(), ObjectError> {
        let item = item.to_vec();
        self.0.call(|queue| Op::QueuePut { queue, item }, timeout)
    }

    /// Takes the oldest item, waiting up to `timeout` for one; `closed` once
    /// the queue is closed and empty.
    pub fn get(&self, timeout: Option<Duration>) -> Result<Vec<u8>, ObjectError> {
        self.0.call(|queue| Op::QueueGet { queue }, timeout)
    }

    /// How many items wait in the queue.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|queue| Op::QueueLen { queue }, None)
    }

    /// Whether no item waits in the queue.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.len().map(|len| len == 0)
    }

    /// Refuses further puts; gets drain what is left, then see `closed`.
    pub fn close(&self) -> Result<(), ObjectError> {
        self.0.call(|queue| Op::QueueClose { queue }, None)
    }
}

/// One end of a job's pipe (`multiprocessing.Pipe`). Dropping the
/// connection closes its end, as [`Connection::close`] does.
pub struct Connection(Target);

impl Connection {
    /// Opens `end` of the job's pipe `name`; `denied` if it is open already.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        end: End,
    ) -> Result<Connection, ObjectError> {
        let op = Op::PipeOpen {
            name: name.into(),
            end,
        };
        Target::open(hub, job, op).map(Connection)
    }

    /// Sends `message` to the other end, waiting up to `timeout` for room;
    /// `closed` if the other end is closed.
    pub fn send(&self, message: &[u8], timeout: Option<Duration>) -> Result<(), ObjectError> {
        let message = message.to_vec();
        self.0.call(|conn| Op::PipeSend { conn, message }, timeout)
    }

    /// Receives the next message, waiting up to `timeout`; `closed` once the
    /// other end is closed and nothing is left to read.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Vec<u8>, ObjectError> {
        self.0.call(|conn| Op::PipeRecv { conn }, timeout)
    }

    /// Closes this end: unread messages are dropped, the other end sees
    /// `closed`. Closing again does nothing.
    pub fn close(&self) -> Result<(), ObjectError> {
        self.0.call(|conn| Op::PipeClose { conn }, None)
    }
}

impl Drop for Connection {
    /// Closes this end.
    fn drop(&mut self) {
        // Closing never fails but when the job is gone, with the pipe.
        let _ = self.close();
    }
}

/// A job's shared scalar (`multiprocessing.Value`). Dropping the handle
/// leaves the value as it is.
#[derive(Clone)]
pub struct SharedValue(Target);

impl SharedValue {
    /// Opens the job's value `name`, creating it as `initial` if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        initial: Scalar,
    ) -> Result<SharedValue, ObjectError> {
        let op = Op::ValueOpen {
            name: name.into(),
            initial,
        };
        Target::open(hub, job, op).map(SharedValue)
    }

    /// The value now.
    pub fn get(&self) -> Result<Scalar, ObjectError> {
        self.0.call(|value| Op::ValueGet { value }, None)
    }

    /// Replaces the value with `new`, of the same kind.
    pub fn set(&self, new: Scalar) -> Result<(), ObjectError> {
        self.0.call(|value| Op::ValueSet { value, new }, None)
    }

    /// Adds `delta`, of the same numeric kind, atomically; returns the sum.
    pub fn add(&self, delta: Scalar) -> Result<Scalar, ObjectError> {
        self.0.call(|value| Op::ValueAdd { value, delta }, None)
    }

    /// Sets `new` if the value equals `expected`; returns whether it did.
    pub fn compare_and_swap(&self, expected: Scalar, new: Scalar) -> Result<bool, ObjectError> {
        let op = |value| Op::ValueCompareAndSwap {
            value,
            expected,
            new,
        };
        self.0.call(op, None)
    }
}

/// A job's shared array of scalars of one kind (`multiprocessing.Array`).
/// Dropping the handle leaves the array as it is.
#[derive(Clone)]
pub struct SharedArray(Target);

impl SharedArray {
    /// Opens the job's array `name`, creating it as `len` copies of
    /// `initial` if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        len: u32,
        initial: Scalar,
    ) -> Result<SharedArray, ObjectError> {
        let op = Op::ArrayOpen {
            name: name.into(),
            len,
            initial,
        };
        Target::open(hub, job, op).map(SharedArray)
    }

    /// The element at `index`.
    pub fn get(&self, index: u32) -> Result<Scalar, ObjectError> {
        self.0.call(|array| Op::ArrayGet { array, index }, None)
    }

    /// Replaces the element at `index` with `new`, of the same kind.
    pub fn set(&self, index: u32, new: Scalar) -> Result<(), ObjectError> {
        self.0
            .call(|array| Op::ArraySet { array, index, new }, None)
    }

    /// Adds `delta` to the element at `index` atomically; returns the sum.
    pub fn add(&self, index: u32, delta: Scalar) -> Result<Scalar, ObjectError> {
        self.0.call(
            |array| Op::ArrayAdd {
                array,
                index,
                delta,
            },
            None,
        )
    }

    /// How many elements the array has.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|array| Op::ArrayLen { array }, None)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.len().map(|len| len == 0)
    }
}

/// A job's lock (`multiprocessing.Lock`, or `RLock` if re-entrant), held
/// by the host thread that acquired it. Dropping the handle does not
/// release the lock.
#[derive(Clone)]
pub struct Lock(Target);

impl Lock {
    /// Opens the job's lock `name`.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        reentrant: bool,
    ) -> Result<Lock, ObjectError> {
        let op = Op::LockOpen {
            name: name.into(),
            reentrant,
        };
        Target::open(hub, job, op).map(Lock)
    }

    /// Takes the lock for this thread, waiting up to `timeout`.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0.call(|lock| Op::LockAcquire { lock }, timeout)
    }

    /// Releases the lock; `denied` if this thread does not hold it.
    pub fn release(&self) -> Result<(), ObjectError> {
        self.0.call(|lock| Op::LockRelease { lock }, None)
    }
}

/// A job's dict from strings to bytes (a `Manager().dict()`). Dropping the
/// handle leaves the dict as it is.
#[derive(Clone)]
pub struct Dict(Target);

impl Dict {
    /// Opens the job's dict `name`, creating it empty if needed.
    pub(crate) fn open(hub: &Hub, job: JobId, name: &str) -> Result<Dict, ObjectError> {
        Target::open(hub, job, Op::DictOpen { name: name.into() }).map(Dict)
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let key = key.into();
        self.0.call(|dict| Op::DictGet { dict, key }, None)
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), ObjectError> {
        let (key, value) = (key.into(), value.to_vec());
        self.0.call(|dict| Op::DictSet { dict, key, value }, None)
    }

    /// Removes `key`; returns its value, if any.
    pub fn remove(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let key = key.into();
        self.0.call(|dict| Op::DictRemove { dict, key }, None)
    }

    /// The keys, in order.
    pub fn keys(&self) -> Result<Vec<String>, ObjectError> {
        self.0.call(|dict| Op::DictKeys { dict }, None)
    }

    /// How many entries the dict has.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|dict| Op::DictLen { dict }, None)
    }

    /// Whether the dict has no entries.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.len().map(|len| len == 0)
    }
}

/// A job's event (`multiprocessing.Event`). Dropping the handle leaves the
/// event as it is.
#[derive(Clone)]
pub struct Event(Target);

impl Event {
    /// Opens the job's event `name`, creating it clear if needed.
    pub(crate) fn open(hub: &Hub, job: JobId, name: &str) -> Result<Event, ObjectError> {
        Target::open(hub, job, Op::EventOpen { name: name.into() }).map(Event)
    }

    /// Sets the flag, waking every waiter.
    pub fn set(&self) -> Result<(), ObjectError> {
        self.0.call(|event| Op::EventSet { event }, None)
    }

    /// Clears the flag.
    pub fn clear(&self) -> Result<(), ObjectError> {
        self.0.call(|event| Op::EventClear { event }, None)
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> Result<bool, ObjectError> {
        self.0.call(|event| Op::EventIsSet { event }, None)
    }

    /// Waits up to `timeout` until the flag is set.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0.call(|event| Op::EventWait { event }, timeout)
    }
}

/// A job's semaphore (`multiprocessing.Semaphore`). Dropping the handle
/// leaves the semaphore as it is.
#[derive(Clone)]
pub struct Semaphore(Target);

impl Semaphore {
    /// Opens the job's semaphore `name`, creating it with `initial` permits
    /// if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        initial: u32,
    ) -> Result<Semaphore, ObjectError> {
        let op = Op::SemaphoreOpen {
            name: name.into(),
            initial,
        };
        Target::open(hub, job, op).map(Semaphore)
    }

    /// Takes a permit, waiting up to `timeout` for one.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0
            .call(|semaphore| Op::SemaphoreAcquire { semaphore }, timeout)
    }

    /// Gives a permit back (any thread or task may).
    pub fn release(&self) -> Result<(), ObjectError> {
        self.0
            .call(|semaphore| Op::SemaphoreRelease { semaphore }, None)
    }
}

/// A job's cyclic barrier (`multiprocessing.Barrier`). Dropping the handle
/// leaves the barrier as it is.
#[derive(Clone)]
pub struct Barrier(Target);

impl Barrier {
    /// Opens the job's barrier `name` for `parties` participants.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        parties: u32,
    ) -> Result<Barrier, ObjectError> {
        let op = Op::BarrierOpen {
            name: name.into(),
            parties,
        };
        Target::open(hub, job, op).map(Barrier)
    }

    /// Waits up to `timeout` until `parties` participants wait; returns this
    /// one's arrival index (0 for the first). `abandoned` if a waiting task
    /// died.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<u32, ObjectError> {
        self.0.call(|barrier| Op::BarrierWait { barrier }, timeout)
    }
}
