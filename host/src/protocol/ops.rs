//! The operations on shared objects that tasks (through their worker) and
//! the host send the hub, with their answers and errors, as they cross the
//! wire.
//!
//! Each operation is declared once, in the table at the end of this file:
//! one block per WIT resource, one line per method, giving the request's
//! fields and the type of its answer. From that table follow a request
//! struct per operation (`queue::Put { handle, item }`), a typed handle per
//! resource (`queue::Handle`), the [`Request`] trait that ties a request to
//! its answer type, and [`Op`], what crosses the wire. The worker's host
//! functions and the host's blocking handles both send typed requests and
//! get typed answers back; the hub applies each resource's operations in
//! that resource's file under `hub/`.

use serde::{Deserialize, Serialize};

/// A request to the hub, and the type of its answer.
pub(crate) trait Request {
    /// What a successful request answers.
    type Answer: AnswerType;

    /// The request as it crosses the wire.
    fn into_op(self) -> Op;
}

/// The successful answer to a request as it crosses the wire: the union of
/// the answer types of the table below.
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
    /// A shared list's items.
    Items(Vec<Vec<u8>>),
}

/// A type that answers requests: it converts to and from [`Answer`].
pub(crate) trait AnswerType: Sized {
    fn into_answer(self) -> Answer;

    /// The value, or the answer itself when it is of another kind.
    fn from_answer(answer: Answer) -> Result<Self, Answer>;
}

macro_rules! answer_types {
    ($($variant:ident($t:ty)),* $(,)?) => {$(
        impl AnswerType for $t {
            fn into_answer(self) -> Answer {
                Answer::$variant(self)
            }

            fn from_answer(answer: Answer) -> Result<Self, Answer> {
                match answer {
                    Answer::$variant(value) => Ok(value),
                    other => Err(other),
                }
            }
        }
    )*};
}

answer_types!(
    Bytes(Vec<u8>),
    MaybeBytes(Option<Vec<u8>>),
    Scalar(Scalar),
    Bool(bool),
    Count(u32),
    Keys(Vec<String>),
    Items(Vec<Vec<u8>>),
);

impl AnswerType for () {
    fn into_answer(self) -> Answer {
        Answer::Unit
    }

    fn from_answer(answer: Answer) -> Result<Self, Answer> {
        match answer {
            Answer::Unit => Ok(()),
            other => Err(other),
        }
    }
}

/// The typed answer to `R` from what the hub replied; `Err` with the reply
/// itself when it is of another kind than `R` answers, which means that the
/// other side broke the protocol.
pub(crate) fn typed_answer<R: Request>(
    reply: Result<Answer, ObjectError>,
) -> Result<Result<R::Answer, ObjectError>, Answer> {
    match reply {
        Ok(answer) => R::Answer::from_answer(answer).map(Ok),
        Err(error) => Ok(Err(error)),
    }
}

/// Items one `queue::GetMany` or `pipe::RecvMany` takes at most, whatever
/// it asks for.
pub(crate) const MAX_GET_MANY: u32 = 64;
/// Bytes of the largest queue item or pipe message a worker sends without
/// waiting for the put's or send's answer (when the hub said there is
/// room); larger ones wait.
pub(crate) const MAX_STREAMED_ITEM: usize = 64 << 10;

/// Declares each resource's operations; see the module docs.
macro_rules! resources {
    ($(
        $(#[$rdoc:meta])*
        $res:ident $Res:ident {
            $(#[$odoc:meta])*
            open { $($ofield:ident : $oty:ty),* $(,)? }
            $(
                $(#[$doc:meta])*
                $Name:ident { $($field:ident : $fty:ty),* $(,)? } -> $Answer:ty;
            )*
        }
    )*) => {
        $(
            $(#[$rdoc])*
            pub(crate) mod $res {
                use serde::{Deserialize, Serialize};

                #[allow(unused_imports)]
                use crate::protocol::ops::{End, Scalar};
                use crate::protocol::ops::{Answer, AnswerType, Request};

                /// Names one open object of this kind, as `open` answered it.
                #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
                pub struct Handle(pub u64);

                impl AnswerType for Handle {
                    fn into_answer(self) -> Answer {
                        Answer::Handle(self.0)
                    }

                    fn from_answer(answer: Answer) -> Result<Self, Answer> {
                        match answer {
                            Answer::Handle(handle) => Ok(Handle(handle)),
                            other => Err(other),
                        }
                    }
                }

                $(#[$odoc])*
                #[derive(Serialize, Deserialize, Debug)]
                pub(crate) struct Open {
                    pub name: String,
                    $(pub $ofield: $oty,)*
                }

                impl Request for Open {
                    type Answer = Handle;

                    fn into_op(self) -> crate::protocol::ops::Op {
                        crate::protocol::ops::Op::Open(crate::protocol::ops::Open::$Res(self))
                    }
                }

                $(
                    $(#[$doc])*
                    #[derive(Serialize, Deserialize, Debug)]
                    pub(crate) struct $Name {
                        pub handle: Handle,
                        $(pub $field: $fty,)*
                    }

                    impl Request for $Name {
                        type Answer = $Answer;

                        fn into_op(self) -> crate::protocol::ops::Op {
                            crate::protocol::ops::Op::$Res(Op::$Name(self))
                        }
                    }
                )*

                /// Every operation on an open object of this kind.
                #[derive(Serialize, Deserialize, Debug)]
                pub(crate) enum Op {
                    $($Name($Name),)*
                }

                impl Op {
                    /// The object the operation is on.
                    pub(crate) fn handle(&self) -> u64 {
                        match self {
                            $(Op::$Name(op) => op.handle.0,)*
                        }
                    }
                }
            }
        )*

        /// An `open` of an object of any kind: found by name, or created.
        #[derive(Serialize, Deserialize, Debug)]
        pub(crate) enum Open {
            $($Res($res::Open),)*
        }

        impl Open {
            /// The name of the object to open.
            pub(crate) fn name(&self) -> &str {
                match self {
                    $(Open::$Res(open) => &open.name,)*
                }
            }
        }

        /// One operation, as it crosses the wire.
        #[derive(Serialize, Deserialize, Debug)]
        pub(crate) enum Op {
            Open(Open),
            $($Res($res::Op),)*
        }

        impl Op {
            /// The object the operation is on; `None` for an open.
            pub(crate) fn handle(&self) -> Option<u64> {
                match self {
                    Op::Open(_) => None,
                    $(Op::$Res(op) => Some(op.handle()),)*
                }
            }
        }
    };
}

// The operations of the `wpool:task` WIT (`wit/task.wit`), one block per
// resource. Operations that may wait (a full queue's `put`, an empty one's
// `get`, a `recv`, an `acquire`, a `wait`) wait up to the request's
// timeout; the others answer at once and ignore it.
resources! {
    /// `queue.queue`: a named, bounded FIFO of byte strings.
    queue Queue {
        /// Opens the queue `name`, created with room for `capacity` items
        /// (0: the hub's limit).
        open { capacity: u32 }
        /// Appends `item`, waiting for room; answers how many more puts of
        /// items up to `MAX_STREAMED_ITEM` may follow without waiting for
        /// their answers (the room left, within the job's budget), which
        /// lets a worker answer that many of its task's next puts at once.
        Put { item: Vec<u8> } -> u32;
        /// Takes the oldest item, waiting for one; `closed` once the queue is
        /// closed and empty.
        Get {} -> Vec<u8>;
        /// As `Get`, and takes up to `most` items in all when more wait
        /// (within the hub's byte bound for such a batch): a task that gets
        /// in a tight loop takes the items ahead, and puts back those it
        /// did not use with `PutBack`.
        GetMany { most: u32 } -> Vec<Vec<u8>>;
        /// Puts `items`, taken by `GetMany` and not used, back at the front
        /// of the queue in their order, ahead of every other item, room or
        /// not; never waits.
        PutBack { items: Vec<Vec<u8>> } -> ();
        /// How many items wait.
        Len {} -> u32;
        /// Whether no item waits.
        Empty {} -> bool;
        /// Whether the queue holds `capacity` items, so that a put waits.
        Full {} -> bool;
        /// Refuses further puts; gets drain what is left.
        Close {} -> ();
        /// Marks one item taken earlier as processed; `denied` if every
        /// item put is marked already.
        TaskDone {} -> ();
        /// Waits until every item put has been marked processed.
        Join {} -> ();
    }

    /// `pipe.connection`: one end of a named duplex pipe. Its handle names
    /// the connection, not the pipe.
    pipe Pipe {
        /// Opens `end` of the pipe `name`; `denied` if it is open already.
        open { end: End }
        /// Sends `message` to the other end, waiting for room; answers how
        /// many more sends may follow without waiting for their answers,
        /// as a queue's `Put` does.
        Send { message: Vec<u8> } -> u32;
        /// Receives the next message, waiting for one.
        Recv {} -> Vec<u8>;
        /// As `Recv`, and takes up to `most` messages in all when more
        /// wait, within the bounds of a queue's `GetMany`: a task that
        /// receives in a tight loop takes the messages ahead. Those it does
        /// not use are dropped when the end closes, as unread messages are.
        RecvMany { most: u32 } -> Vec<Vec<u8>>;
        /// Whether a `recv` would answer without waiting (a message waits,
        /// or the other end is closed), waiting up to the timeout for it.
        Poll {} -> bool;
        /// Closes this end (also what dropping it means).
        Close {} -> ();
    }

    /// `shared.value`: a shared scalar.
    value Value {
        /// Opens the value `name`, created as `initial`.
        open { initial: Scalar }
        Get {} -> Scalar;
        /// Replaces the value with `new`, of the same kind.
        Set { new: Scalar } -> ();
        /// Adds `delta` atomically; answers the sum.
        Add { delta: Scalar } -> Scalar;
        /// Sets `new` if the value is `expected`; answers whether it did.
        CompareAndSwap { expected: Scalar, new: Scalar } -> bool;
        /// The index of a number value's cell in the job's shared memory
        /// (see `shared_memory`); `denied` for a bytes value.
        Locate {} -> u32;
    }

    /// `shared.array`: a shared array of scalars of one kind.
    array Array {
        /// Opens the array `name`, created as `len` copies of `initial`.
        open { len: u32, initial: Scalar }
        Get { index: u32 } -> Scalar;
        Set { index: u32, new: Scalar } -> ();
        Add { index: u32, delta: Scalar } -> Scalar;
        Len {} -> u32;
    }

    /// `shared.lock`: a lock, re-entrant or not, held by a task.
    lock Lock {
        open { reentrant: bool }
        /// Takes the lock, waiting for it.
        Acquire {} -> ();
        /// Takes the lock if that needs no wait; answers whether it did.
        TryAcquire {} -> bool;
        Release {} -> ();
        /// Whether any task holds the lock.
        Locked {} -> bool;
        /// The index of the lock's cell in the job's shared memory (see
        /// `shared_memory`).
        Locate {} -> u32;
    }

    /// `shared.condition`: a condition variable on one of the job's locks,
    /// whose waiters the lock's object keeps.
    condition Condition {
        /// Opens the condition `name` on the lock `lock`, which must exist.
        open { lock: String }
        /// Releases the lock, waits for a notify (or the timeout), and
        /// re-acquires the lock; answers whether it was notified.
        Wait {} -> bool;
        /// Wakes up to `n` waiters, which then re-acquire the lock in turn.
        Notify { n: u32 } -> ();
        /// Wakes every waiter.
        NotifyAll {} -> ();
    }

    /// `shared.dict`: a dict from strings to bytes.
    dict Dict {
        open {}
        Get { key: String } -> Option<Vec<u8>>;
        Set { key: String, value: Vec<u8> } -> ();
        Remove { key: String } -> Option<Vec<u8>>;
        /// The value of `key`, set to `value` first if `key` is absent.
        SetDefault { key: String, value: Vec<u8> } -> Vec<u8>;
        /// Sets `key` to `new` (`None`: removes it) if its value is
        /// `expected` (`None`: absent); answers whether it did.
        CompareAndSet { key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>> } -> bool;
        /// The keys after `after` (`None`: from the first), in order, as
        /// many as fit in one message; none when there are no more.
        Keys { after: Option<String> } -> Vec<String>;
        Len {} -> u32;
    }

    /// `shared.shared-list`: a list of byte strings (a `Manager().list()`).
    /// An index below 0 counts from the end, as in Python.
    list List {
        open {}
        Append { item: Vec<u8> } -> ();
        /// Appends every item, or none.
        Extend { items: Vec<Vec<u8>> } -> ();
        Get { index: i64 } -> Vec<u8>;
        Set { index: i64, item: Vec<u8> } -> ();
        Len {} -> u32;
        /// Removes and answers the item at `index` (`None`: the last).
        Pop { index: Option<i64> } -> Vec<u8>;
        /// The items from `start` up to `stop` (excluded; `None`: the
        /// ends), clamped to the list, as Python's `l[start:stop]`.
        Slice { start: Option<i64>, stop: Option<i64> } -> Vec<Vec<u8>>;
    }

    /// `sync.event`: a flag tasks wait for.
    event Event {
        open {}
        Set {} -> ();
        Clear {} -> ();
        IsSet {} -> bool;
        /// Waits until the flag is set.
        Wait {} -> ();
    }

    /// `sync.semaphore`: a counter of permits.
    semaphore Semaphore {
        open { initial: u32 }
        /// Takes a permit, waiting for one.
        Acquire {} -> ();
        Release {} -> ();
    }

    /// `sync.barrier`: a cyclic barrier for `parties` participants.
    barrier Barrier {
        open { parties: u32 }
        /// Waits until `parties` participants wait; answers the arrival index.
        Wait {} -> u32;
        /// Breaks the barrier: its waiters, and every wait until a `reset`,
        /// get `abandoned`.
        Abort {} -> ();
        /// Mends the barrier; its waiters get `abandoned`.
        Reset {} -> ();
        /// Whether the barrier is broken by an `abort`.
        Broken {} -> bool;
        /// How many participants wait in this round.
        NWaiting {} -> u32;
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
