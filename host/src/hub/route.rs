//! What an `open` asks for ([`Spec`]) and must agree on with an existing
//! object of the same name ([`Shape`]), and how an [`Op`] is routed: to an
//! open, or to the object a handle names.

use std::fmt;

use super::shared::ScalarKind;
use crate::protocol::{End, Op, Scalar};

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
