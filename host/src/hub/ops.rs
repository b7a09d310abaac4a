//! The operations the hub serves, as they cross the wire from a worker, and
//! their answers; and what an `open` asks for ([`Spec`]) and must agree on
//! with an existing object of the same name ([`Shape`]). Pure data: the
//! objects that serve them are in `objects` and the family files.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::shared::ScalarKind;
use super::{End, Scalar};

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
    pub(super) fn count(len: usize) -> Answer {
        Answer::Count(u32::try_from(len).unwrap_or(u32::MAX))
    }
}

/// The object an `open` creates if its name is new.
pub(super) enum Spec {
    Queue { capacity: u32 },
    Pipe(End),
    Value(Scalar),
    Array { len: u32, initial: Scalar },
    Lock { reentrant: bool },
    Dict,
    Event,
    Semaphore { initial: u32 },
    Barrier { parties: u32 },
}

/// What an `open` of an existing name must agree on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Shape {
    Queue { capacity: u32 },
    Pipe,
    Value(ScalarKind),
    Array { len: u32, kind: ScalarKind },
    Lock { reentrant: bool },
    Dict,
    Event,
    Semaphore { initial: u32 },
    Barrier { parties: u32 },
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Queue { capacity } => write!(f, "queue of capacity {capacity}"),
            Shape::Pipe => f.write_str("pipe"),
            Shape::Value(kind) => write!(f, "{kind} value"),
            Shape::Array { len, kind } => write!(f, "array of {len} {kind}"),
            Shape::Lock { reentrant: true } => f.write_str("re-entrant lock"),
            Shape::Lock { reentrant: false } => f.write_str("lock"),
            Shape::Dict => f.write_str("dict"),
            Shape::Event => f.write_str("event"),
            Shape::Semaphore { initial } => write!(f, "semaphore of {initial} permits"),
            Shape::Barrier { parties } => write!(f, "barrier for {parties} parties"),
        }
    }
}

impl Spec {
    pub(super) fn shape(&self) -> Shape {
        match self {
            Spec::Queue { capacity } => Shape::Queue {
                capacity: *capacity,
            },
            Spec::Pipe(_) => Shape::Pipe,
            Spec::Value(initial) => Shape::Value(initial.kind()),
            Spec::Array { len, initial } => Shape::Array {
                len: *len,
                kind: initial.kind(),
            },
            Spec::Lock { reentrant } => Shape::Lock {
                reentrant: *reentrant,
            },
            Spec::Dict => Shape::Dict,
            Spec::Event => Shape::Event,
            Spec::Semaphore { initial } => Shape::Semaphore { initial: *initial },
            Spec::Barrier { parties } => Shape::Barrier { parties: *parties },
        }
    }
}

/// An [`Op`] sorted by what it needs.
pub(super) enum Route {
    Open(String, Spec),
    On(u64, Op),
}

impl Op {
    pub(super) fn route(self) -> Route {
        use Op::*;
        match self {
            QueueOpen { name, capacity } => Route::Open(name, Spec::Queue { capacity }),
            PipeOpen { name, end } => Route::Open(name, Spec::Pipe(end)),
            ValueOpen { name, initial } => Route::Open(name, Spec::Value(initial)),
            ArrayOpen { name, len, initial } => Route::Open(name, Spec::Array { len, initial }),
            LockOpen { name, reentrant } => Route::Open(name, Spec::Lock { reentrant }),
            DictOpen { name } => Route::Open(name, Spec::Dict),
            EventOpen { name } => Route::Open(name, Spec::Event),
            SemaphoreOpen { name, initial } => Route::Open(name, Spec::Semaphore { initial }),
            BarrierOpen { name, parties } => Route::Open(name, Spec::Barrier { parties }),
            QueuePut { queue: h, .. }
            | QueueGet { queue: h }
            | QueueLen { queue: h }
            | QueueClose { queue: h }
            | PipeSend { conn: h, .. }
            | PipeRecv { conn: h }
            | PipeClose { conn: h }
            | ValueGet { value: h }
            | ValueSet { value: h, .. }
            | ValueAdd { value: h, .. }
            | ValueCompareAndSwap { value: h, .. }
            | ArrayGet { array: h, .. }
            | ArraySet { array: h, .. }
            | ArrayAdd { array: h, .. }
            | ArrayLen { array: h }
            | LockAcquire { lock: h }
            | LockRelease { lock: h }
            | DictGet { dict: h, .. }
            | DictSet { dict: h, .. }
            | DictRemove { dict: h, .. }
            | DictKeys { dict: h }
            | DictLen { dict: h }
            | EventSet { event: h }
            | EventClear { event: h }
            | EventIsSet { event: h }
            | EventWait { event: h }
            | SemaphoreAcquire { semaphore: h }
            | SemaphoreRelease { semaphore: h }
            | BarrierWait { barrier: h } => Route::On(h, self),
        }
    }

    /// The size of the largest message the operation would store.
    pub(super) fn message_len(&self) -> usize {
        let scalar = |s: &Scalar| match s {
            Scalar::Bytes(bytes) => bytes.len(),
            Scalar::Int(_) | Scalar::Float(_) => 0,
        };
        match self {
            Op::QueuePut { item: bytes, .. } | Op::PipeSend { message: bytes, .. } => bytes.len(),
            Op::DictSet { key, value, .. } => key.len() + value.len(),
            Op::ValueOpen { initial: s, .. }
            | Op::ArrayOpen { initial: s, .. }
            | Op::ValueSet { new: s, .. }
            | Op::ValueAdd { delta: s, .. }
            | Op::ArraySet { new: s, .. }
            | Op::ArrayAdd { delta: s, .. } => scalar(s),
            Op::ValueCompareAndSwap { expected, new, .. } => scalar(expected).max(scalar(new)),
            _ => 0,
        }
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
