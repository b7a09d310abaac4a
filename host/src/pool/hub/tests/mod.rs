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
