//! The operations on shared objects that tasks send the hub, and their
//! answers and errors, as they cross the wire.

use serde::{Deserialize, Serialize};

/// One operation of the WIT, on an object named by the handle `open` gave.
/// `QueuePut`, `QueueGet`, `PipeSend`, `PipeRecv`, `LockAcquire`,
/// `EventWait`, `SemaphoreAcquire` and `BarrierWait` may wait, up to the
/// request's timeout; the others answer at once and ignore it.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Op {
    QueueOpen {
        name: String,
        capacity: u32,
    },
    QueuePut {
        queue: u64,
        item: Vec<u8>,
    },
    QueueGet {
        queue: u64,
    },
    QueueLen {
        queue: u64,
    },
    QueueClose {
        queue: u64,
    },
    /// The handle it answers names this connection, not the pipe.
    PipeOpen {
        name: String,
        end: End,
    },
    PipeSend {
        conn: u64,
        message: Vec<u8>,
    },
    PipeRecv {
        conn: u64,
    },
    /// Also what dropping a connection resource means.
    PipeClose {
        conn: u64,
    },
    ValueOpen {
        name: String,
        initial: Scalar,
    },
    ValueGet {
        value: u64,
    },
    ValueSet {
        value: u64,
        new: Scalar,
    },
    ValueAdd {
        value: u64,
        delta: Scalar,
    },
    ValueCompareAndSwap {
        value: u64,
        expected: Scalar,
        new: Scalar,
    },
    ArrayOpen {
        name: String,
        len: u32,
        initial: Scalar,
    },
    ArrayGet {
        array: u64,
        index: u32,
    },
    ArraySet {
        array: u64,
        index: u32,
        new: Scalar,
    },
    ArrayAdd {
        array: u64,
        index: u32,
        delta: Scalar,
    },
    ArrayLen {
        array: u64,
    },
    LockOpen {
        name: String,
        reentrant: bool,
    },
    LockAcquire {
        lock: u64,
    },
    LockRelease {
        lock: u64,
    },
    DictOpen {
        name: String,
    },
    DictGet {
        dict: u64,
        key: String,
    },
    DictSet {
        dict: u64,
        key: String,
        value: Vec<u8>,
    },
    DictRemove {
        dict: u64,
        key: String,
    },
    DictKeys {
        dict: u64,
    },
    DictLen {
        dict: u64,
    },
    EventOpen {
        name: String,
    },
    EventSet {
        event: u64,
    },
    EventClear {
        event: u64,
    },
    EventIsSet {
        event: u64,
    },
    EventWait {
        event: u64,
    },
    SemaphoreOpen {
        name: String,
        initial: u32,
    },
    SemaphoreAcquire {
        semaphore: u64,
    },
    SemaphoreRelease {
        semaphore: u64,
    },
    BarrierOpen {
        name: String,
        parties: u32,
    },
    BarrierWait {
        barrier: u64,
    },
}

/// A successful operation's result.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(crate) enum Answer {
    Unit,
    /// From `open`: the handle naming the object (or pipe connection).
    Handle(u64),
    Bytes(Vec<u8>),
    MaybeBytes(Option<Vec<u8>>),
    Scalar(Scalar),
    Bool(bool),
    /// A length, or a barrier's arrival index.
    Count(u32),
    Keys(Vec<String>),
}

impl Answer {
    /// A length, as the WIT's `u32`.
    pub(crate) fn count(len: usize) -> Answer {
        Answer::Count(u32::try_from(len).unwrap_or(u32::MAX))
    }
}

/// The value an [`Answer`] carries for a given operation.
pub(crate) trait FromAnswer: Sized {
    /// The value, or the answer itself when it is of another kind (the hub
    /// broke its contract).
    fn from_answer(answer: Answer) -> Result<Self, Answer>;
}

macro_rules! from_answer {
    ($($variant:ident($t:ty)),* $(,)?) => {$(
        impl FromAnswer for $t {
            fn from_answer(answer: Answer) -> Result<Self, Answer> {
                match answer {
                    Answer::$variant(value) => Ok(value),
                    other => Err(other),
                }
            }
        }
    )*};
}

from_answer!(
    Handle(u64),
    Bytes(Vec<u8>),
    MaybeBytes(Option<Vec<u8>>),
    Scalar(Scalar),
    Bool(bool),
    Count(u32),
    Keys(Vec<String>),
);

impl FromAnswer for () {
    fn from_answer(answer: Answer) -> Result<Self, Answer> {
        match answer {
            Answer::Unit => Ok(()),
            other => Err(other),
        }
    }
}

/// Why an operation on a shared object failed: the WIT's `types.error`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObjectError {
    /// The object was closed, or the other end of a pipe is gone.
    #[error("closed")]
    Closed,
    /// The timeout, or the task's deadline, came first.
    #[error("timed out")]
    Timeout,
    /// The object exists with another kind or shape, a limit on names or on
    /// the number of objects was reached, or the operation is not allowed.
    #[error("denied: {0}")]
    Denied(String),
    /// The message is larger than the job allows; the payload is the limit.
    #[error("message larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// A task holding the lock, or waiting at the barrier, died.
    #[error("abandoned by a task that died")]
    Abandoned,
}

/// A shared scalar, as held by a value or an array: the WIT's `types.scalar`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A byte string.
    Bytes(Vec<u8>),
}

/// One end of a pipe: the WIT's `pipe.end`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The first end.
    A,
    /// The second end.
    B,
}
