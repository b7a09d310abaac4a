//! The hub's rules, exercised by threads acting as tasks of workers.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use super::caller::{Caller, JobId};
use super::handles::{
    Barrier, Connection, Dict, Event, Lock, Queue, Semaphore, SharedArray, SharedValue,
};
use super::limits::HubLimits;
use super::server::{Hub, Pending};
use crate::protocol::{
    Answer, End, ObjectError, Op, Request, Scalar, array, barrier, condition, dict, event, list,
    lock, pipe, queue, semaphore, value,
};

mod fuzz;
mod jobs;
mod locks;
mod pipes;
mod queues;
mod shared;
mod sync;

const SHORT: Option<Duration> = Some(Duration::from_millis(50));

fn hub() -> Hub {
    Hub::new(HubLimits::default())
}

fn task(job: JobId, worker: u32, task: u64) -> Caller {
    Caller { job, worker, task }
}

/// Sends `request` without waiting; the answer comes through the pending.
fn start<R: Request>(
    hub: &Hub,
    caller: Caller,
    request: R,
    timeout: Option<Duration>,
) -> Pending<R> {
    hub.start(caller, request, timeout)
}

/// Sends `request` and waits for the answer.
fn call<R: Request>(
    hub: &Hub,
    caller: Caller,
    request: R,
    timeout: Option<Duration>,
) -> Result<R::Answer, ObjectError> {
    hub.call(caller, request, timeout)
}

/// Asserts that the request behind `pending` is parked, unanswered.
fn assert_parked<R: Request>(pending: &Pending<R>) {
    assert!(pending.try_wait().is_none(), "the request was answered");
}

fn open_queue(hub: &Hub, caller: Caller, name: &str, capacity: u32) -> queue::Handle {
    let name = name.into();
    call(hub, caller, queue::Open { name, capacity }, None).unwrap()
}

fn open_lock(hub: &Hub, caller: Caller, reentrant: bool) -> lock::Handle {
    let name = "lock".into();
    call(hub, caller, lock::Open { name, reentrant }, None).unwrap()
}

fn open_end(hub: &Hub, caller: Caller, end: End) -> Result<pipe::Handle, ObjectError> {
    call(
        hub,
        caller,
        pipe::Open {
            name: "p".into(),
            end,
        },
        None,
    )
}

/// Opens the condition `name` on the lock `lock`.
fn open_condition(
    hub: &Hub,
    caller: Caller,
    name: &str,
    lock: &str,
) -> Result<condition::Handle, ObjectError> {
    let (name, lock) = (name.into(), lock.into());
    call(hub, caller, condition::Open { name, lock }, None)
}

/// `caller` puts `item` into `queue`, waiting up to `timeout` for room.
fn put(
    hub: &Hub,
    caller: Caller,
    queue: queue::Handle,
    item: Vec<u8>,
    timeout: Option<Duration>,
) -> Result<(), ObjectError> {
    let handle = queue;
    call(hub, caller, queue::Put { handle, item }, timeout).map(drop)
}

/// The barrier `b` for `parties`.
fn open_barrier(hub: &Hub, caller: Caller, parties: u32) -> barrier::Handle {
    let name = "b".into();
    call(hub, caller, barrier::Open { name, parties }, None).unwrap()
}

/// A task's view of one dict, for the dict tests.
struct DictOf<'a> {
    hub: &'a Hub,
    caller: Caller,
    handle: dict::Handle,
}

impl DictOf<'_> {
    /// `caller` opens the dict `name`.
    fn open<'a>(hub: &'a Hub, caller: Caller, name: &str) -> DictOf<'a> {
        let name = name.into();
        let handle = call(hub, caller, dict::Open { name }, None).unwrap();
        DictOf {
            hub,
            caller,
            handle,
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let request = dict::Get {
            handle: self.handle,
            key: key.into(),
        };
        call(self.hub, self.caller, request, None)
    }

    fn setdefault(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, ObjectError> {
        let request = dict::SetDefault {
            handle: self.handle,
            key: key.into(),
            value: value.to_vec(),
        };
        call(self.hub, self.caller, request, None)
    }

    fn cas(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, ObjectError> {
        let request = dict::CompareAndSet {
            handle: self.handle,
            key: key.into(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
        };
        call(self.hub, self.caller, request, None)
    }
}
