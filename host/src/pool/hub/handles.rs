//! The host participant: blocking handles on a job's shared objects, for the
//! host process to talk with its tasks as Python's main process talks with
//! its children. Each method sends one typed request (declared in
//! `protocol`) to the hub and waits for its answer. Every host thread counts
//! as a task of its own, so a [`Lock`] acquired by one host thread is not
//! held by another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::caller::{Caller, JobId};
use super::server::Hub;
use crate::protocol::{
    End, ObjectError, Request, Scalar, array, barrier, condition, dict, event, list, lock, pipe,
    queue, semaphore, value,
};

/// One of a job's objects, as the host names it: the hub, the job, and the
/// handle `open` answered.
#[derive(Clone)]
struct Target<H> {
    hub: Hub,
    job: JobId,
    handle: H,
}

impl<H: Copy> Target<H> {
    /// Opens an object of the job: `open` is the kind's open request.
    fn open<R: Request<Answer = H>>(hub: &Hub, job: JobId, open: R) -> Result<Self, ObjectError> {
        let handle = hub.call(host_caller(job), open, None)?;
        Ok(Target {
            hub: hub.clone(),
            job,
            handle,
        })
    }

    /// Sends the request `request` builds from this handle, and waits up to
    /// `timeout` for its answer.
    fn call<R: Request>(
        &self,
        request: impl FnOnce(H) -> R,
        timeout: Option<Duration>,
    ) -> Result<R::Answer, ObjectError> {
        let request = request(self.handle);
        self.hub.call(host_caller(self.job), request, timeout)
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

/// A job's queue (`multiprocessing.Queue`, and `JoinableQueue`): FIFO,
/// bounded, shared by the host and the job's tasks. Dropping the handle
/// leaves the queue as it is.
///
/// ```
/// use std::time::Duration;
/// use wpool::{ObjectError, Pool};
///
/// let pool = Pool::builder().build();
/// let queue = pool.queue("work", 2)?;
/// queue.put(b"first", None)?;
/// queue.put(b"second", None)?;
/// // Full: a third put waits for room, here no longer than 10 ms.
/// assert!(queue.is_full()?);
/// let wait = Some(Duration::from_millis(10));
/// assert_eq!(queue.put(b"third", wait), Err(ObjectError::Timeout));
/// assert_eq!(queue.get(None)?, b"first");
/// queue.close()?;
/// assert_eq!(queue.get(None)?, b"second");
/// assert_eq!(queue.get(None), Err(ObjectError::Closed));
/// // Two items were put; `join` waits until both are marked done.
/// assert_eq!(queue.join(wait), Err(ObjectError::Timeout));
/// queue.task_done()?;
/// queue.task_done()?;
/// queue.join(None)?;
/// assert!(matches!(queue.task_done(), Err(ObjectError::Denied(_))));
/// # Ok::<(), ObjectError>(())
/// ```
#[derive(Clone)]
pub struct Queue(Target<queue::Handle>);

impl Queue {
    /// Opens the job's queue `name`, creating it with room for `capacity`
    /// items (0: the job's limit) if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        capacity: u32,
    ) -> Result<Queue, ObjectError> {
        let name = name.into();
        Target::open(hub, job, queue::Open { name, capacity }).map(Queue)
    }

    /// Appends `item`, waiting up to `timeout` (`None`: forever) for room.
    pub fn put(&self, item: &[u8], timeout: Option<Duration>) -> Result<(), ObjectError> {
        let item = item.to_vec();
        self.0
            .call(|handle| queue::Put { handle, item }, timeout)
            .map(drop)
    }

    /// Takes the oldest item, waiting up to `timeout` for one; `closed` once
    /// the queue is closed and empty.
    pub fn get(&self, timeout: Option<Duration>) -> Result<Vec<u8>, ObjectError> {
        self.0.call(|handle| queue::Get { handle }, timeout)
    }

    /// How many items wait in the queue.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|handle| queue::Len { handle }, None)
    }

    /// Whether no item waits in the queue.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.0.call(|handle| queue::Empty { handle }, None)
    }

    /// Whether the queue holds its capacity of items, so that a put waits.
    pub fn is_full(&self) -> Result<bool, ObjectError> {
        self.0.call(|handle| queue::Full { handle }, None)
    }

    /// Refuses further puts; gets drain what is left, then see `closed`.
    pub fn close(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| queue::Close { handle }, None)
    }

    /// Marks one item taken earlier as processed (`JoinableQueue.task_done`);
    /// `denied` if every item put is marked already.
    pub fn task_done(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| queue::TaskDone { handle }, None)
    }

    /// Waits up to `timeout` until every item put has been marked processed
    /// (`JoinableQueue.join`).
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0.call(|handle| queue::Join { handle }, timeout)
    }
}

/// One end of a job's pipe (`multiprocessing.Pipe`). Dropping the
/// connection closes its end, as [`Connection::close`] does.
///
/// ```
/// use std::time::Duration;
/// use wpool::{End, Pool};
///
/// let pool = Pool::builder().build();
/// let (a, b) = (pool.pipe("p", End::A)?, pool.pipe("p", End::B)?);
/// // Nothing sent yet: `poll` waits its 10 ms and says so.
/// assert!(!b.poll(Some(Duration::from_millis(10)))?);
/// a.send(b"hello", None)?;
/// assert!(b.poll(Some(Duration::ZERO))?);
/// assert_eq!(b.recv(None)?, b"hello");
/// // Once `a` is closed, `recv` answers at once (`closed`): `poll` says so.
/// a.close()?;
/// assert!(b.poll(None)?);
/// # Ok::<(), wpool::ObjectError>(())
/// ```
pub struct Connection(Target<pipe::Handle>);

impl Connection {
    /// Opens `end` of the job's pipe `name`; `denied` if it is open already.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        end: End,
    ) -> Result<Connection, ObjectError> {
        let name = name.into();
        Target::open(hub, job, pipe::Open { name, end }).map(Connection)
    }

    /// Sends `message` to the other end, waiting up to `timeout` for room;
    /// `closed` if the other end is closed.
    pub fn send(&self, message: &[u8], timeout: Option<Duration>) -> Result<(), ObjectError> {
        let message = message.to_vec();
        self.0
            .call(|handle| pipe::Send { handle, message }, timeout)
            .map(drop)
    }

    /// Receives the next message, waiting up to `timeout`; `closed` once the
    /// other end is closed and nothing is left to read.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Vec<u8>, ObjectError> {
        self.0.call(|handle| pipe::Recv { handle }, timeout)
    }

    /// Whether [`Connection::recv`] would answer at once (a message waits, or
    /// the other end is closed), waiting up to `timeout` for it; `false` once
    /// the timeout passes.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ObjectError> {
        self.0.call(|handle| pipe::Poll { handle }, timeout)
    }

    /// Closes this end: unread messages are dropped, the other end sees
    /// `closed`. Closing again does nothing.
    pub fn close(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| pipe::Close { handle }, None)
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
pub struct SharedValue(Target<value::Handle>);

impl SharedValue {
    /// Opens the job's value `name`, creating it as `initial` if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        initial: Scalar,
    ) -> Result<SharedValue, ObjectError> {
        let name = name.into();
        Target::open(hub, job, value::Open { name, initial }).map(SharedValue)
    }

    /// The value now.
    pub fn get(&self) -> Result<Scalar, ObjectError> {
        self.0.call(|handle| value::Get { handle }, None)
    }

    /// Replaces the value with `new`, of the same kind.
    pub fn set(&self, new: Scalar) -> Result<(), ObjectError> {
        self.0.call(|handle| value::Set { handle, new }, None)
    }

    /// Adds `delta`, of the same numeric kind, atomically; returns the sum.
    pub fn add(&self, delta: Scalar) -> Result<Scalar, ObjectError> {
        self.0.call(|handle| value::Add { handle, delta }, None)
    }

    /// Sets `new` if the value equals `expected`; returns whether it did.
    pub fn compare_and_swap(&self, expected: Scalar, new: Scalar) -> Result<bool, ObjectError> {
        let request = |handle| value::CompareAndSwap {
            handle,
            expected,
            new,
        };
        self.0.call(request, None)
    }
}

/// A job's shared array of scalars of one kind (`multiprocessing.Array`).
/// Dropping the handle leaves the array as it is.
#[derive(Clone)]
pub struct SharedArray(Target<array::Handle>);

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
        let name = name.into();
        Target::open(hub, job, array::Open { name, len, initial }).map(SharedArray)
    }

    /// The element at `index`.
    pub fn get(&self, index: u32) -> Result<Scalar, ObjectError> {
        self.0.call(|handle| array::Get { handle, index }, None)
    }

    /// Replaces the element at `index` with `new`, of the same kind.
    pub fn set(&self, index: u32, new: Scalar) -> Result<(), ObjectError> {
        self.0
            .call(|handle| array::Set { handle, index, new }, None)
    }

    /// Adds `delta` to the element at `index` atomically; returns the sum.
    pub fn add(&self, index: u32, delta: Scalar) -> Result<Scalar, ObjectError> {
        let request = |handle| array::Add {
            handle,
            index,
            delta,
        };
        self.0.call(request, None)
    }

    /// How many elements the array has.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|handle| array::Len { handle }, None)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.len().map(|len| len == 0)
    }
}

/// A job's lock (`multiprocessing.Lock`, or `RLock` if re-entrant), held
/// by the host thread that acquired it. Dropping the handle does not
/// release the lock.
///
/// ```
/// use std::time::Duration;
/// use wpool::{ObjectError, Pool};
///
/// let pool = Pool::builder().build();
/// let lock = pool.lock("counter", false)?;
/// lock.acquire(None)?;
/// // Another thread (like another task) waits while this one holds it.
/// let other = lock.clone();
/// let waited = std::thread::spawn(move || other.acquire(Some(Duration::from_millis(10))));
/// assert_eq!(waited.join().unwrap(), Err(ObjectError::Timeout));
/// assert!(lock.locked()?);
/// // Nor does it get it without waiting.
/// let other = lock.clone();
/// assert_eq!(std::thread::spawn(move || other.try_acquire()).join().unwrap(), Ok(false));
/// lock.release()?;
/// assert!(!lock.locked()?);
/// // Releasing a lock this thread does not hold is refused.
/// assert!(matches!(lock.release(), Err(ObjectError::Denied(_))));
/// assert!(lock.try_acquire()?);
/// lock.release()?;
/// # Ok::<(), ObjectError>(())
/// ```
#[derive(Clone)]
pub struct Lock(Target<lock::Handle>);

impl Lock {
    /// Opens the job's lock `name`.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        reentrant: bool,
    ) -> Result<Lock, ObjectError> {
        let name = name.into();
        Target::open(hub, job, lock::Open { name, reentrant }).map(Lock)
    }

    /// Takes the lock for this thread, waiting up to `timeout`.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0.call(|handle| lock::Acquire { handle }, timeout)
    }

    /// Takes the lock for this thread if that needs no wait; returns whether
    /// it did.
    pub fn try_acquire(&self) -> Result<bool, ObjectError> {
        self.0.call(|handle| lock::TryAcquire { handle }, None)
    }

    /// Releases the lock; `denied` if this thread does not hold it.
    pub fn release(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| lock::Release { handle }, None)
    }

    /// Whether any thread or task holds the lock.
    pub fn locked(&self) -> Result<bool, ObjectError> {
        self.0.call(|handle| lock::Locked { handle }, None)
    }
}

/// A job's condition variable (`multiprocessing.Condition`) on one of its
/// locks. Dropping the handle leaves the condition as it is.
///
/// `wait` releases the lock, waits for a `notify`, and re-acquires the
/// lock before it returns; `wait_for` waits so until a predicate holds:
///
/// ```
/// use std::time::Duration;
/// use wpool::{Pool, Scalar};
///
/// let pool = Pool::builder().build();
/// let lock = pool.lock("stock-lock", false)?;
/// let ready = pool.condition("stock-ready", "stock-lock")?;
/// let stock = pool.value("stock", Scalar::Int(0))?;
/// let producer = {
///     let (lock, ready, stock) = (lock.clone(), ready.clone(), stock.clone());
///     std::thread::spawn(move || -> Result<(), wpool::ObjectError> {
///         lock.acquire(None)?;
///         stock.add(Scalar::Int(3))?;
///         ready.notify(1)?;
///         lock.release()
///     })
/// };
/// lock.acquire(None)?;
/// let in_stock = || Ok(stock.get()? != Scalar::Int(0));
/// assert!(ready.wait_for(in_stock, Some(Duration::from_secs(5)))?);
/// // The lock is held again here.
/// assert_eq!(stock.add(Scalar::Int(-1))?, Scalar::Int(2));
/// lock.release()?;
/// producer.join().unwrap()?;
/// // Nobody notifies: `wait` says so after its timeout, the lock held again.
/// lock.acquire(None)?;
/// assert!(!ready.wait(Some(Duration::from_millis(10)))?);
/// assert!(lock.locked()?);
/// lock.release()?;
/// # Ok::<(), wpool::ObjectError>(())
/// ```
#[derive(Clone)]
pub struct Condition(Target<condition::Handle>);

impl Condition {
    /// Opens the job's condition `name` on the job's lock `lock`, which must
    /// be open already.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        lock: &str,
    ) -> Result<Condition, ObjectError> {
        let (name, lock) = (name.into(), lock.into());
        Target::open(hub, job, condition::Open { name, lock }).map(Condition)
    }

    /// Releases the lock, which this thread must hold, waits up to `timeout`
    /// for a notify, and re-acquires the lock: `true` when notified, `false`
    /// when the timeout passed first (the lock is held again either way).
    /// `abandoned` if the lock's holder died meanwhile; then the lock is not
    /// held.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ObjectError> {
        self.0.call(|handle| condition::Wait { handle }, timeout)
    }

    /// Waits (as [`Condition::wait`]) until `predicate` holds, for at most
    /// `timeout` in all, like Python's `Condition.wait_for`: checks it
    /// first, then after each wake-up, with the lock held. Returns its last
    /// answer: `false` when the timeout passed first.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> Result<bool, ObjectError>,
        timeout: Option<Duration>,
    ) -> Result<bool, ObjectError> {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        loop {
            if predicate()? {
                return Ok(true);
            }
            let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return Ok(false);
            }
            self.wait(left)?;
        }
    }

    /// Wakes up to `n` waiters, which re-acquire the lock in turn once this
    /// thread releases it; this thread must hold the lock.
    pub fn notify(&self, n: u32) -> Result<(), ObjectError> {
        self.0.call(|handle| condition::Notify { handle, n }, None)
    }

    /// Wakes every waiter; this thread must hold the lock.
    pub fn notify_all(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| condition::NotifyAll { handle }, None)
    }
}

/// A job's dict from strings to bytes (a `Manager().dict()`). Dropping the
/// handle leaves the dict as it is.
///
/// ```
/// use wpool::Pool;
///
/// let pool = Pool::builder().build();
/// let dict = pool.dict("results")?;
/// dict.set("b", b"2")?;
/// dict.set("a", b"1")?;
/// assert_eq!(dict.get("a")?, Some(b"1".to_vec()));
/// assert_eq!(dict.keys()?, ["a", "b"]);
/// assert_eq!(dict.remove("a")?, Some(b"1".to_vec()));
/// assert_eq!(dict.len()?, 1);
/// // An atomic update: set only if the value is still the one read.
/// assert_eq!(dict.setdefault("hits", b"0")?, b"0");
/// let (zero, one) = (b"0".as_slice(), b"1".as_slice());
/// assert!(dict.compare_and_set("hits", Some(zero), Some(one))?);
/// assert!(!dict.compare_and_set("hits", Some(zero), Some(b"2"))?);
/// assert_eq!(dict.setdefault("hits", b"0")?, b"1");
/// // `None`: the key is absent, or to be removed.
/// assert!(dict.compare_and_set("hits", Some(one), None)?);
/// assert!(dict.compare_and_set("hits", None, Some(b"9"))?);
/// # Ok::<(), wpool::ObjectError>(())
/// ```
#[derive(Clone)]
pub struct Dict(Target<dict::Handle>);

impl Dict {
    /// Opens the job's dict `name`, creating it empty if needed.
    pub(crate) fn open(hub: &Hub, job: JobId, name: &str) -> Result<Dict, ObjectError> {
        Target::open(hub, job, dict::Open { name: name.into() }).map(Dict)
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let key = key.into();
        self.0.call(|handle| dict::Get { handle, key }, None)
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), ObjectError> {
        let (key, value) = (key.into(), value.to_vec());
        self.0.call(|handle| dict::Set { handle, key, value }, None)
    }

    /// Removes `key`; returns its value, if any.
    pub fn remove(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let key = key.into();
        self.0.call(|handle| dict::Remove { handle, key }, None)
    }

    /// The value of `key`, set to `value` first if `key` is absent
    /// (`dict.setdefault`).
    pub fn setdefault(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, ObjectError> {
        let (key, value) = (key.into(), value.to_vec());
        self.0
            .call(|handle| dict::SetDefault { handle, key, value }, None)
    }

    /// Sets `key` to `new` (`None`: removes it) if its value is `expected`
    /// (`None`: absent), atomically; returns whether it did.
    pub fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, ObjectError> {
        let request = |handle| dict::CompareAndSet {
            handle,
            key: key.into(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
        };
        self.0.call(request, None)
    }

    /// The keys, in order (asked for a page at a time, so that the hub's
    /// answers stay bounded however large the dict).
    pub fn keys(&self) -> Result<Vec<String>, ObjectError> {
        let mut keys: Vec<String> = Vec::new();
        loop {
            let after = keys.last().cloned();
            let page = self.0.call(|handle| dict::Keys { handle, after }, None)?;
            if page.is_empty() {
                return Ok(keys);
            }
            keys.extend(page);
        }
    }

    /// How many entries the dict has.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|handle| dict::Len { handle }, None)
    }

    /// Whether the dict has no entries.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.len().map(|len| len == 0)
    }
}

/// A job's list of byte strings (a `Manager().list()`). An index below 0
/// counts from the end, as in Python. Dropping the handle leaves the list
/// as it is.
///
/// ```
/// use wpool::{ObjectError, Pool};
///
/// let pool = Pool::builder().build();
/// let list = pool.list("log")?;
/// list.append(b"a")?;
/// list.extend(&[b"b".as_slice(), b"c", b"d"])?;
/// assert_eq!(list.get(-1)?, b"d");
/// list.set(0, b"A")?;
/// assert_eq!(list.pop(None)?, b"d");
/// assert_eq!(list.pop(Some(1))?, b"b");
/// assert_eq!(list.slice(None, None)?, [b"A".to_vec(), b"c".to_vec()]);
/// assert_eq!(list.slice(Some(-1), Some(10))?, [b"c".to_vec()]);
/// assert_eq!(list.len()?, 2);
/// assert!(matches!(list.get(2), Err(ObjectError::Denied(_))));
/// # Ok::<(), ObjectError>(())
/// ```
#[derive(Clone)]
pub struct SharedList(Target<list::Handle>);

impl SharedList {
    /// Opens the job's list `name`, creating it empty if needed.
    pub(crate) fn open(hub: &Hub, job: JobId, name: &str) -> Result<SharedList, ObjectError> {
        Target::open(hub, job, list::Open { name: name.into() }).map(SharedList)
    }

    /// Appends `item`.
    pub fn append(&self, item: &[u8]) -> Result<(), ObjectError> {
        let item = item.to_vec();
        self.0.call(|handle| list::Append { handle, item }, None)
    }

    /// Appends every item of `items`, or none.
    pub fn extend(&self, items: &[&[u8]]) -> Result<(), ObjectError> {
        let items = items.iter().map(|item| item.to_vec()).collect();
        self.0.call(|handle| list::Extend { handle, items }, None)
    }

    /// The item at `index`.
    pub fn get(&self, index: i64) -> Result<Vec<u8>, ObjectError> {
        self.0.call(|handle| list::Get { handle, index }, None)
    }

    /// Replaces the item at `index` with `item`.
    pub fn set(&self, index: i64, item: &[u8]) -> Result<(), ObjectError> {
        let item = item.to_vec();
        self.0.call(
            |handle| list::Set {
                handle,
                index,
                item,
            },
            None,
        )
    }

    /// How many items the list has.
    pub fn len(&self) -> Result<u32, ObjectError> {
        self.0.call(|handle| list::Len { handle }, None)
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> Result<bool, ObjectError> {
        self.len().map(|len| len == 0)
    }

    /// Removes and returns the item at `index` (`None`: the last).
    pub fn pop(&self, index: Option<i64>) -> Result<Vec<u8>, ObjectError> {
        self.0.call(|handle| list::Pop { handle, index }, None)
    }

    /// The items from `start` up to `stop` (excluded; `None`: the ends),
    /// clamped to the list, as Python's `l[start:stop]`; `too-large` if
    /// they are more bytes than a message may hold.
    pub fn slice(
        &self,
        start: Option<i64>,
        stop: Option<i64>,
    ) -> Result<Vec<Vec<u8>>, ObjectError> {
        self.0.call(
            |handle| list::Slice {
                handle,
                start,
                stop,
            },
            None,
        )
    }
}

/// A job's event (`multiprocessing.Event`). Dropping the handle leaves the
/// event as it is.
#[derive(Clone)]
pub struct Event(Target<event::Handle>);

impl Event {
    /// Opens the job's event `name`, creating it clear if needed.
    pub(crate) fn open(hub: &Hub, job: JobId, name: &str) -> Result<Event, ObjectError> {
        Target::open(hub, job, event::Open { name: name.into() }).map(Event)
    }

    /// Sets the flag, waking every waiter.
    pub fn set(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| event::Set { handle }, None)
    }

    /// Clears the flag.
    pub fn clear(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| event::Clear { handle }, None)
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> Result<bool, ObjectError> {
        self.0.call(|handle| event::IsSet { handle }, None)
    }

    /// Waits up to `timeout` until the flag is set.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0.call(|handle| event::Wait { handle }, timeout)
    }
}

/// A job's semaphore (`multiprocessing.Semaphore`). Dropping the handle
/// leaves the semaphore as it is.
#[derive(Clone)]
pub struct Semaphore(Target<semaphore::Handle>);

impl Semaphore {
    /// Opens the job's semaphore `name`, creating it with `initial` permits
    /// if needed.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        initial: u32,
    ) -> Result<Semaphore, ObjectError> {
        let name = name.into();
        Target::open(hub, job, semaphore::Open { name, initial }).map(Semaphore)
    }

    /// Takes a permit, waiting up to `timeout` for one.
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), ObjectError> {
        self.0.call(|handle| semaphore::Acquire { handle }, timeout)
    }

    /// Gives a permit back (any thread or task may).
    pub fn release(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| semaphore::Release { handle }, None)
    }
}

/// A job's cyclic barrier (`multiprocessing.Barrier`). Dropping the handle
/// leaves the barrier as it is.
///
/// ```
/// use wpool::{ObjectError, Pool};
///
/// let pool = Pool::builder().build();
/// let barrier = pool.barrier("start", 2)?;
/// let other = barrier.clone();
/// let waiting = std::thread::spawn(move || other.wait(None));
/// while barrier.n_waiting()? == 0 {
///     std::thread::yield_now();
/// }
/// // Aborting breaks the barrier: the waiter, and every later wait, are
/// // told `abandoned`, until a reset mends it.
/// barrier.abort()?;
/// assert_eq!(waiting.join().unwrap(), Err(ObjectError::Abandoned));
/// assert!(barrier.broken()?);
/// assert_eq!(barrier.wait(None), Err(ObjectError::Abandoned));
/// barrier.reset()?;
/// assert!(!barrier.broken()?);
/// # Ok::<(), ObjectError>(())
/// ```
#[derive(Clone)]
pub struct Barrier(Target<barrier::Handle>);

impl Barrier {
    /// Opens the job's barrier `name` for `parties` participants.
    pub(crate) fn open(
        hub: &Hub,
        job: JobId,
        name: &str,
        parties: u32,
    ) -> Result<Barrier, ObjectError> {
        let name = name.into();
        Target::open(hub, job, barrier::Open { name, parties }).map(Barrier)
    }

    /// Waits up to `timeout` until `parties` participants wait; returns this
    /// one's arrival index (0 for the first). `abandoned` if a waiting task
    /// died, the barrier was aborted or reset meanwhile, or is broken.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<u32, ObjectError> {
        self.0.call(|handle| barrier::Wait { handle }, timeout)
    }

    /// Breaks the barrier: its waiters, and every wait until a
    /// [`Barrier::reset`], are told `abandoned`.
    pub fn abort(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| barrier::Abort { handle }, None)
    }

    /// Mends the barrier and starts an empty round; its waiters are told
    /// `abandoned`.
    pub fn reset(&self) -> Result<(), ObjectError> {
        self.0.call(|handle| barrier::Reset { handle }, None)
    }

    /// Whether the barrier is broken by an abort.
    pub fn broken(&self) -> Result<bool, ObjectError> {
        self.0.call(|handle| barrier::Broken { handle }, None)
    }

    /// How many participants wait in this round.
    pub fn n_waiting(&self) -> Result<u32, ObjectError> {
        self.0.call(|handle| barrier::NWaiting { handle }, None)
    }
}
