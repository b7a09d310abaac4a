//! Queues and pipes alike: the objects a task streams items through. A put
//! or send that found room lets the task's next ones go without waiting for
//! their answers (`pipeline`), and a get or recv in a tight loop takes the
//! items ahead (`link`); [`Channel`] names the requests that do it for each.

use crate::protocol::{ObjectError, Request, lock, pipe, queue, value};

/// An object a task streams items through, by the handle its task holds.
pub(crate) trait Channel: Copy {
    /// Sends an item; answers how many more may follow without waiting.
    type Send: Request<Answer = u32>;
    /// Takes the next item.
    type Take: Request<Answer = Vec<u8>>;
    /// Takes the next item and up to so many more that wait.
    type TakeMany: Request<Answer = Vec<Vec<u8>>>;

    fn send(self, item: Vec<u8>) -> Self::Send;
    fn take(self) -> Self::Take;
    fn take_many(self, most: u32) -> Self::TakeMany;
    fn key(self) -> Key;
}

/// An object whose requests a task may send without waiting for their
/// answers (`pipeline`): a channel of either kind, whose puts or sends go
/// ahead and whose items the task takes ahead, a value's `set`, a lock's
/// `release`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Key {
    Queue(queue::Handle),
    /// A pipe's connection: the messages taken ahead on it are dropped when
    /// it closes, as the hub drops unread ones, and never go back.
    Pipe(pipe::Handle),
    Value(value::Handle),
    Lock(lock::Handle),
}

impl Key {
    /// Why a task fails whose request on this object, answered at once,
    /// failed after its last one there, which would have reported it.
    pub(crate) fn unreported(self, error: &ObjectError) -> String {
        // What reports such a failure: a channel's next put or send, any
        // next operation on a value or lock.
        let (object, op, reporter) = match self {
            Key::Queue(_) => ("queue", "put", "put"),
            Key::Pipe(_) => ("pipe", "send", "send"),
            Key::Value(_) => ("value", "set", "operation"),
            Key::Lock(_) => ("lock", "release", "operation"),
        };
        format!(
            "a {object} {op} answered at once failed after the task's last {reporter} on that {object}: {error}"
        )
    }
}

impl Channel for queue::Handle {
    type Send = queue::Put;
    type Take = queue::Get;
    type TakeMany = queue::GetMany;

    fn send(self, item: Vec<u8>) -> queue::Put {
        queue::Put { handle: self, item }
    }

    fn take(self) -> queue::Get {
        queue::Get { handle: self }
    }

    fn take_many(self, most: u32) -> queue::GetMany {
        queue::GetMany { handle: self, most }
    }

    fn key(self) -> Key {
        Key::Queue(self)
    }
}

impl Channel for pipe::Handle {
    type Send = pipe::Send;
    type Take = pipe::Recv;
    type TakeMany = pipe::RecvMany;

    fn send(self, message: Vec<u8>) -> pipe::Send {
        pipe::Send {
            handle: self,
            message,
        }
    }

    fn take(self) -> pipe::Recv {
        pipe::Recv { handle: self }
    }

    fn take_many(self, most: u32) -> pipe::RecvMany {
        pipe::RecvMany { handle: self, most }
    }

    fn key(self) -> Key {
        Key::Pipe(self)
    }
}
