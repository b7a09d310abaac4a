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

#[test]
fn queue_delivers_every_item_once_to_many_consumers() {
    let hub = hub();
    let queue = open_queue(&hub, task(1, 0, 0), "q", 8);
    let producers: Vec<_> = (0..4u32)
        .map(|p| {
            let hub = hub.clone();
            thread::spawn(move || {
                for i in 0..500u32 {
                    let item = (p * 1000 + i).to_le_bytes().to_vec();
                    let put = call(
                        &hub,
                        task(1, p, 0),
                        queue::Put {
                            handle: queue,
                            item,
                        },
                        None,
                    );
                    assert_eq!(put, Ok(()));
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4u32)
        .map(|c| {
            let hub = hub.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match call(&hub, task(1, 10 + c, 0), queue::Get { handle: queue }, None) {
                        Ok(b) => got.push(u32::from_le_bytes(b.try_into().unwrap())),
                        Err(ObjectError::Closed) => return got,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(
        call(&hub, task(1, 0, 0), queue::Close { handle: queue }, None),
        Ok(())
    );
    let mut all = Vec::new();
    for c in consumers {
        let got = c.join().unwrap();
        // Each producer's items reach any one consumer in order.
        for p in 0..4 {
            let mine: Vec<_> = got.iter().filter(|&&x| x / 1000 == p).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        all.extend(got);
    }
    all.sort();
    let expected: Vec<u32> = (0..4)
        .flat_map(|p| (0..500).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn queue_items_survive_getters_that_time_out() {
    let hub = hub();
    let queue = open_queue(&hub, task(1, 0, 0), "q", 4);
    let consumers: Vec<_> = (0..3u32)
        .map(|c| {
            let hub = hub.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                let tiny = Some(Duration::from_micros(50));
                loop {
                    match call(&hub, task(1, c, 0), queue::Get { handle: queue }, tiny) {
                        Ok(b) => got.push(b),
                        Err(ObjectError::Timeout) => {}
                        Err(ObjectError::Closed) => return got,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    let me = task(1, 9, 0);
    for i in 0..2000u32 {
        let item = i.to_le_bytes().to_vec();
        call(
            &hub,
            me,
            queue::Put {
                handle: queue,
                item,
            },
            None,
        )
        .unwrap();
    }
    call(&hub, me, queue::Close { handle: queue }, None).unwrap();
    let mut all: Vec<u32> = Vec::new();
    for c in consumers {
        let got = c.join().unwrap();
        all.extend(
            got.into_iter()
                .map(|b| u32::from_le_bytes(b.try_into().unwrap())),
        );
    }
    all.sort();
    assert_eq!(all, (0..2000).collect::<Vec<_>>());
}

#[test]
fn an_ended_task_waits_no_more() {
    let hub = hub();
    let me = task(1, 0, 3);
    let queue = open_queue(&hub, me, "q", 0);
    let getter = start(&hub, me, queue::Get { handle: queue }, None);
    assert_parked(&getter);
    hub.task_ended(me);
    assert_eq!(getter.wait(), Err(ObjectError::Timeout));
    // The item put next is not lost to the ended task.
    call(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: b"x".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(call(&hub, me, queue::Len { handle: queue }, None), Ok(1));
}

#[test]
fn queue_is_fifo_and_hands_items_to_waiting_getters() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let getter = start(&hub, task(1, 1, 0), queue::Get { handle: queue }, None);
    assert_parked(&getter);
    for item in [b"a", b"b", b"c"] {
        call(
            &hub,
            me,
            queue::Put {
                handle: queue,
                item: item.to_vec(),
            },
            None,
        )
        .unwrap();
    }
    assert_eq!(getter.wait().unwrap(), b"a");
    assert_eq!(call(&hub, me, queue::Len { handle: queue }, None), Ok(2));
    assert_eq!(
        call(&hub, me, queue::Get { handle: queue }, None).unwrap(),
        b"b"
    );
    assert_eq!(
        call(&hub, me, queue::Get { handle: queue }, None).unwrap(),
        b"c"
    );
}

#[test]
fn queue_put_and_get_time_out_without_losing_items() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 1);
    assert_eq!(
        call(&hub, me, queue::Get { handle: queue }, SHORT),
        Err(ObjectError::Timeout)
    );
    let zero = Some(Duration::ZERO);
    assert_eq!(
        call(&hub, me, queue::Get { handle: queue }, zero),
        Err(ObjectError::Timeout)
    );
    call(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: b"first".to_vec(),
        },
        None,
    )
    .unwrap();
    let late = queue::Put {
        handle: queue,
        item: b"late".to_vec(),
    };
    assert_eq!(call(&hub, me, late, SHORT), Err(ObjectError::Timeout));
    // A put that waits gets its room when an item is taken.
    let waiting = start(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: b"second".to_vec(),
        },
        None,
    );
    assert_parked(&waiting);
    assert_eq!(
        call(&hub, me, queue::Get { handle: queue }, None).unwrap(),
        b"first"
    );
    assert_eq!(waiting.wait(), Ok(()));
    assert_eq!(
        call(&hub, me, queue::Get { handle: queue }, None).unwrap(),
        b"second"
    );
    assert_eq!(call(&hub, me, queue::Len { handle: queue }, None), Ok(0));
}

#[test]
fn a_nearer_deadline_fires_first_and_alone() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let patient = start(
        &hub,
        me,
        queue::Get { handle: queue },
        Some(Duration::from_secs(60)),
    );
    let hasty = start(&hub, me, queue::Get { handle: queue }, SHORT);
    assert_eq!(hasty.wait(), Err(ObjectError::Timeout));
    assert_parked(&patient);
    call(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: b"x".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(patient.wait().unwrap(), b"x");
}

#[test]
fn closed_queue_refuses_puts_and_drains() {
    let hub = hub();
    let me = task(1, 0, 0);
    let full = open_queue(&hub, me, "full", 1);
    call(
        &hub,
        me,
        queue::Put {
            handle: full,
            item: b"kept".to_vec(),
        },
        None,
    )
    .unwrap();
    let putter = start(
        &hub,
        me,
        queue::Put {
            handle: full,
            item: b"x".to_vec(),
        },
        None,
    );
    let empty = open_queue(&hub, me, "empty", 1);
    let getter = start(&hub, me, queue::Get { handle: empty }, None);
    assert_parked(&putter);
    assert_parked(&getter);

    call(&hub, me, queue::Close { handle: full }, None).unwrap();
    call(&hub, me, queue::Close { handle: empty }, None).unwrap();
    assert_eq!(putter.wait(), Err(ObjectError::Closed));
    assert_eq!(getter.wait(), Err(ObjectError::Closed));
    let put = queue::Put {
        handle: full,
        item: b"y".to_vec(),
    };
    assert_eq!(call(&hub, me, put, None), Err(ObjectError::Closed));
    assert_eq!(
        call(&hub, me, queue::Get { handle: full }, None).unwrap(),
        b"kept"
    );
    assert_eq!(
        call(&hub, me, queue::Get { handle: full }, None),
        Err(ObjectError::Closed)
    );
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

#[test]
fn pipe_ping_pong() {
    let hub = hub();
    let a = open_end(&hub, task(1, 0, 0), End::A).unwrap();
    let b = open_end(&hub, task(1, 1, 0), End::B).unwrap();
    let echo = {
        let hub = hub.clone();
        thread::spawn(move || {
            let me = task(1, 1, 0);
            while let Ok(m) = call(&hub, me, pipe::Recv { handle: b }, None) {
                let n = u64::from_le_bytes(m.try_into().unwrap());
                let message = (n + 1).to_le_bytes().to_vec();
                call(&hub, me, pipe::Send { handle: b, message }, None).unwrap();
            }
        })
    };
    let me = task(1, 0, 0);
    let mut n = 0u64;
    for _ in 0..100 {
        let message = n.to_le_bytes().to_vec();
        call(&hub, me, pipe::Send { handle: a, message }, None).unwrap();
        let reply = call(&hub, me, pipe::Recv { handle: a }, None).unwrap();
        n = u64::from_le_bytes(reply.try_into().unwrap()) + 1;
    }
    assert_eq!(n, 200);
    call(&hub, me, pipe::Close { handle: a }, None).unwrap();
    echo.join().unwrap();
}

#[test]
fn pipe_peer_sees_closed_once_drained_after_its_task_ended() {
    let hub = hub();
    let (ta, tb) = (task(1, 0, 0), task(1, 1, 7));
    let a = open_end(&hub, ta, End::A).unwrap();
    let b = open_end(&hub, tb, End::B).unwrap();
    assert!(matches!(
        open_end(&hub, tb, End::B),
        Err(ObjectError::Denied(_))
    ));
    call(
        &hub,
        ta,
        pipe::Send {
            handle: a,
            message: b"last".to_vec(),
        },
        None,
    )
    .unwrap();
    hub.task_ended(ta);
    assert_eq!(
        call(&hub, tb, pipe::Recv { handle: b }, None).unwrap(),
        b"last"
    );
    assert_eq!(
        call(&hub, tb, pipe::Recv { handle: b }, None),
        Err(ObjectError::Closed)
    );
    let send = pipe::Send {
        handle: b,
        message: b"x".to_vec(),
    };
    assert_eq!(call(&hub, tb, send, None), Err(ObjectError::Closed));

    // A waiting recv hears of the close; the old connection stays closed
    // when its end opens again.
    let a2 = open_end(&hub, ta, End::A).unwrap();
    let waiting = start(&hub, tb, pipe::Recv { handle: b }, None);
    assert_parked(&waiting);
    hub.worker_died(1, 0);
    assert_eq!(waiting.wait(), Err(ObjectError::Closed));
    let stale = pipe::Send {
        handle: a2,
        message: b"x".to_vec(),
    };
    assert_eq!(call(&hub, ta, stale, None), Err(ObjectError::Closed));
    assert_eq!(
        call(&hub, ta, pipe::Recv { handle: b }, None),
        Err(ObjectError::Closed)
    );
}

#[test]
fn pipe_send_waits_for_room_in_the_peer_inbox() {
    let hub = Hub::new(HubLimits {
        max_queued_items: 1,
        ..HubLimits::default()
    });
    let (ta, tb) = (task(1, 0, 0), task(1, 1, 0));
    let a = open_end(&hub, ta, End::A).unwrap();
    let b = open_end(&hub, tb, End::B).unwrap();
    let send = |message: &[u8]| pipe::Send {
        handle: a,
        message: message.to_vec(),
    };
    call(&hub, ta, send(b"1"), None).unwrap();
    let second = start(&hub, ta, send(b"2"), None);
    assert_parked(&second);
    assert_eq!(
        call(&hub, tb, pipe::Recv { handle: b }, None).unwrap(),
        b"1"
    );
    assert_eq!(second.wait(), Ok(()));
    let third = start(&hub, ta, send(b"3"), None);
    assert_parked(&third);
    // Closing the receiving end drops what it did not read and refuses
    // the waiting send.
    call(&hub, tb, pipe::Close { handle: b }, None).unwrap();
    assert_eq!(third.wait(), Err(ObjectError::Closed));
    assert_eq!(call(&hub, ta, send(b"4"), None), Err(ObjectError::Closed));
    assert_eq!(
        call(&hub, ta, pipe::Recv { handle: a }, None),
        Err(ObjectError::Closed)
    );
}

#[test]
fn lock_keeps_a_shared_counter_exact() {
    let hub = hub();
    let lock = open_lock(&hub, task(1, 0, 0), false);
    let value = call(
        &hub,
        task(1, 0, 0),
        value::Open {
            name: "n".into(),
            initial: Scalar::Int(0),
        },
        None,
    )
    .unwrap();
    let threads: Vec<_> = (0..8u32)
        .map(|w| {
            let hub = hub.clone();
            thread::spawn(move || {
                let me = task(1, w, u64::from(w));
                for _ in 0..100 {
                    call(&hub, me, lock::Acquire { handle: lock }, None).unwrap();
                    let Ok(Scalar::Int(n)) = call(&hub, me, value::Get { handle: value }, None)
                    else {
                        panic!("not an int");
                    };
                    let new = Scalar::Int(n + 1);
                    call(&hub, me, value::Set { handle: value, new }, None).unwrap();
                    call(&hub, me, lock::Release { handle: lock }, None).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = call(&hub, task(1, 0, 0), value::Get { handle: value }, None);
    assert_eq!(total, Ok(Scalar::Int(800)));
}

#[test]
fn lock_of_a_dead_worker_is_abandoned_and_free() {
    let hub = hub();
    let (holder, waiter, later) = (task(1, 1, 0), task(1, 2, 0), task(1, 3, 0));
    let lock = open_lock(&hub, holder, false);
    call(&hub, holder, lock::Acquire { handle: lock }, None).unwrap();
    let waiting = start(&hub, waiter, lock::Acquire { handle: lock }, None);
    assert_parked(&waiting);
    hub.worker_died(1, 1);
    assert_eq!(waiting.wait(), Err(ObjectError::Abandoned));
    assert_eq!(
        call(&hub, later, lock::Acquire { handle: lock }, SHORT),
        Ok(())
    );
}

#[test]
fn lock_of_an_ended_task_passes_to_waiters_in_order() {
    let hub = hub();
    let holder = task(1, 1, 0);
    let lock = open_lock(&hub, holder, false);
    call(&hub, holder, lock::Acquire { handle: lock }, None).unwrap();
    let waiters: Vec<_> = (2..5)
        .map(|w| {
            let rx = start(&hub, task(1, w, 0), lock::Acquire { handle: lock }, None);
            assert_parked(&rx);
            rx
        })
        .collect();
    hub.task_ended(holder);
    for (w, rx) in (2..5).zip(&waiters) {
        assert_eq!(rx.wait(), Ok(()));
        for later in &waiters[(w - 1) as usize..] {
            assert_parked(later);
        }
        call(&hub, task(1, w, 0), lock::Release { handle: lock }, None).unwrap();
    }
}

#[test]
fn reentrant_lock_counts_acquisitions() {
    let hub = hub();
    let (me, other) = (task(1, 0, 0), task(1, 1, 0));
    let plain = open_lock(&hub, me, false);
    call(&hub, me, lock::Acquire { handle: plain }, None).unwrap();
    let again = call(&hub, me, lock::Acquire { handle: plain }, None);
    assert!(matches!(again, Err(ObjectError::Denied(_))));
    let not_mine = call(&hub, other, lock::Release { handle: plain }, None);
    assert!(matches!(not_mine, Err(ObjectError::Denied(_))));

    let lock = call(
        &hub,
        me,
        lock::Open {
            name: "r".into(),
            reentrant: true,
        },
        None,
    )
    .unwrap();
    call(&hub, me, lock::Acquire { handle: lock }, None).unwrap();
    call(&hub, me, lock::Acquire { handle: lock }, None).unwrap();
    let waiting = start(&hub, other, lock::Acquire { handle: lock }, None);
    call(&hub, me, lock::Release { handle: lock }, None).unwrap();
    assert_parked(&waiting);
    call(&hub, me, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(waiting.wait(), Ok(()));
    let third = call(&hub, me, lock::Release { handle: lock }, None);
    assert!(matches!(third, Err(ObjectError::Denied(_))));
}

#[test]
fn lock_try_acquire_never_waits_and_locked_tells_whether_it_is_held() {
    let hub = hub();
    let (me, other) = (task(1, 0, 0), task(1, 1, 0));
    let lock = open_lock(&hub, me, false);
    assert_eq!(
        call(&hub, other, lock::Locked { handle: lock }, None),
        Ok(false)
    );
    assert_eq!(
        call(&hub, me, lock::TryAcquire { handle: lock }, None),
        Ok(true)
    );
    assert_eq!(
        call(&hub, other, lock::Locked { handle: lock }, None),
        Ok(true)
    );
    assert_eq!(
        call(&hub, other, lock::TryAcquire { handle: lock }, None),
        Ok(false)
    );
    // As `acquire`, a plain lock's holder taking it again is refused.
    let again = call(&hub, me, lock::TryAcquire { handle: lock }, None);
    assert!(matches!(again, Err(ObjectError::Denied(_))));
    // A waiting `acquire` keeps its turn: the lock passes to it, not to a
    // `try-acquire` that comes later.
    let waiting = start(&hub, other, lock::Acquire { handle: lock }, None);
    assert_parked(&waiting);
    call(&hub, me, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(waiting.wait(), Ok(()));
    assert_eq!(
        call(&hub, me, lock::TryAcquire { handle: lock }, None),
        Ok(false)
    );
    call(&hub, other, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(
        call(&hub, me, lock::Locked { handle: lock }, None),
        Ok(false)
    );

    let name = "r".into();
    let lock = call(
        &hub,
        me,
        lock::Open {
            name,
            reentrant: true,
        },
        None,
    )
    .unwrap();
    assert_eq!(
        call(&hub, me, lock::TryAcquire { handle: lock }, None),
        Ok(true)
    );
    assert_eq!(
        call(&hub, me, lock::TryAcquire { handle: lock }, None),
        Ok(true)
    );
    call(&hub, me, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(
        call(&hub, other, lock::TryAcquire { handle: lock }, None),
        Ok(false)
    );
    call(&hub, me, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(
        call(&hub, other, lock::TryAcquire { handle: lock }, None),
        Ok(true)
    );
}

#[test]
fn queue_empty_and_full() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 2);
    let state = |hub: &Hub| {
        let empty = call(hub, me, queue::Empty { handle: queue }, None).unwrap();
        let full = call(hub, me, queue::Full { handle: queue }, None).unwrap();
        (empty, full)
    };
    assert_eq!(state(&hub), (true, false));
    for n in 0..2u8 {
        call(
            &hub,
            me,
            queue::Put {
                handle: queue,
                item: vec![n],
            },
            None,
        )
        .unwrap();
    }
    assert_eq!(state(&hub), (false, true));
    call(&hub, me, queue::Get { handle: queue }, None).unwrap();
    assert_eq!(state(&hub), (false, false));
}

#[test]
fn queue_join_waits_until_every_item_put_is_marked_done() {
    let hub = hub();
    let (producer, consumer, joiner) = (task(1, 0, 0), task(1, 1, 0), task(1, 2, 0));
    let queue = open_queue(&hub, producer, "q", 1);
    // Nothing put: nothing to wait for.
    assert_eq!(
        call(&hub, joiner, queue::Join { handle: queue }, None),
        Ok(())
    );
    let getting = start(&hub, consumer, queue::Get { handle: queue }, None);
    // Three items: one handed to a waiting getter, one queued, one put that
    // waits for room; each counts once it is in.
    for n in 0..3u8 {
        let put = start(
            &hub,
            producer,
            queue::Put {
                handle: queue,
                item: vec![n],
            },
            None,
        );
        if n < 2 {
            assert_eq!(put.wait(), Ok(()));
        }
    }
    assert_eq!(getting.wait(), Ok(vec![0]));
    let joining: Vec<_> = (0..2)
        .map(|_| start(&hub, joiner, queue::Join { handle: queue }, None))
        .collect();
    // The consumer marks each item done before it takes the next; taking
    // item 1 lets the waiting put of item 2 in.
    for item in [1, 2] {
        call(&hub, consumer, queue::TaskDone { handle: queue }, None).unwrap();
        joining.iter().for_each(assert_parked);
        let got = call(&hub, consumer, queue::Get { handle: queue }, None);
        assert_eq!(got, Ok(vec![item]));
    }
    call(&hub, consumer, queue::TaskDone { handle: queue }, None).unwrap();
    for join in &joining {
        assert_eq!(join.wait(), Ok(()));
    }
    let extra = call(&hub, consumer, queue::TaskDone { handle: queue }, None);
    assert!(matches!(extra, Err(ObjectError::Denied(_))), "{extra:?}");
    // A put refused, closed, counts for nothing.
    call(&hub, producer, queue::Close { handle: queue }, None).unwrap();
    let refused = call(
        &hub,
        producer,
        queue::Put {
            handle: queue,
            item: vec![9],
        },
        None,
    );
    assert_eq!(refused, Err(ObjectError::Closed));
    assert_eq!(
        call(&hub, joiner, queue::Join { handle: queue }, None),
        Ok(())
    );
}

#[test]
fn queue_join_on_a_dead_consumer_ends_by_its_timeout() {
    let hub = hub();
    let (producer, consumer, joiner) = (task(1, 0, 0), task(1, 1, 0), task(1, 2, 0));
    let queue = open_queue(&hub, producer, "q", 0);
    call(
        &hub,
        producer,
        queue::Put {
            handle: queue,
            item: vec![1],
        },
        None,
    )
    .unwrap();
    assert_eq!(
        call(&hub, consumer, queue::Get { handle: queue }, None),
        Ok(vec![1])
    );
    let joining = start(&hub, joiner, queue::Join { handle: queue }, SHORT);
    hub.worker_died(1, 1);
    assert_parked(&joining);
    assert_eq!(joining.wait(), Err(ObjectError::Timeout));
    // A joiner whose own worker dies is answered at once.
    let joining = start(&hub, joiner, queue::Join { handle: queue }, None);
    hub.worker_died(1, 2);
    assert_eq!(joining.wait(), Err(ObjectError::Abandoned));
}

#[test]
fn pipe_poll_waits_for_a_message_or_the_peer_closing() {
    let hub = hub();
    let (ta, tb) = (task(1, 0, 0), task(1, 1, 0));
    let a = open_end(&hub, ta, End::A).unwrap();
    let b = open_end(&hub, tb, End::B).unwrap();
    assert_eq!(
        call(&hub, tb, pipe::Poll { handle: b }, Some(Duration::ZERO)),
        Ok(false)
    );
    // The timer answers a poll whose timeout passes `false`, not `timeout`.
    assert_eq!(call(&hub, tb, pipe::Poll { handle: b }, SHORT), Ok(false));
    let polling = start(&hub, tb, pipe::Poll { handle: b }, None);
    assert_parked(&polling);
    let message = b"m".to_vec();
    call(&hub, ta, pipe::Send { handle: a, message }, None).unwrap();
    assert_eq!(polling.wait(), Ok(true));
    // Polling takes nothing.
    assert_eq!(call(&hub, tb, pipe::Poll { handle: b }, None), Ok(true));
    assert_eq!(
        call(&hub, tb, pipe::Recv { handle: b }, None),
        Ok(b"m".to_vec())
    );
    // The peer's end closing makes `recv` answer at once, so `poll` says so;
    // on a closed end of its own, `poll` is `closed`.
    let polling = start(&hub, tb, pipe::Poll { handle: b }, None);
    let peer_polling = start(&hub, ta, pipe::Poll { handle: a }, None);
    hub.task_ended(ta);
    assert_eq!(polling.wait(), Ok(true));
    assert_eq!(peer_polling.wait(), Err(ObjectError::Timeout));
    assert_eq!(call(&hub, tb, pipe::Poll { handle: b }, None), Ok(true));
    assert_eq!(
        call(&hub, ta, pipe::Poll { handle: a }, None),
        Err(ObjectError::Closed)
    );
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

#[test]
fn condition_wait_gives_up_the_lock_and_has_it_again_before_answering() {
    let hub = hub();
    let (waiter, notifier) = (task(1, 0, 0), task(1, 1, 0));
    let lock = open_lock(&hub, waiter, false);
    let cond = open_condition(&hub, waiter, "c", "lock").unwrap();
    call(&hub, waiter, lock::Acquire { handle: lock }, None).unwrap();
    let waiting = start(&hub, waiter, condition::Wait { handle: cond }, None);
    assert_parked(&waiting);
    // The waiter let go of the lock: the notifier takes it.
    assert_eq!(
        call(&hub, notifier, lock::TryAcquire { handle: lock }, None),
        Ok(true)
    );
    call(
        &hub,
        notifier,
        condition::Notify { handle: cond, n: 1 },
        None,
    )
    .unwrap();
    // Notified, but the notifier holds the lock: no answer yet.
    assert_parked(&waiting);
    call(&hub, notifier, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(waiting.wait(), Ok(true));
    assert_eq!(
        call(&hub, notifier, lock::TryAcquire { handle: lock }, None),
        Ok(false)
    );
    call(&hub, waiter, lock::Release { handle: lock }, None).unwrap();
}

#[test]
fn condition_needs_its_lock_held_and_a_lock_to_be_on() {
    let hub = hub();
    let (me, other) = (task(1, 0, 0), task(1, 1, 0));
    let missing = open_condition(&hub, me, "c", "lock");
    assert!(
        matches!(missing, Err(ObjectError::Denied(_))),
        "{missing:?}"
    );
    let lock = open_lock(&hub, me, false);
    let name = "other".into();
    call(
        &hub,
        me,
        lock::Open {
            name,
            reentrant: false,
        },
        None,
    )
    .unwrap();
    let cond = open_condition(&hub, me, "c", "lock").unwrap();
    assert_eq!(open_condition(&hub, other, "c", "lock"), Ok(cond));
    let elsewhere = open_condition(&hub, me, "c", "other");
    assert!(
        matches!(elsewhere, Err(ObjectError::Denied(_))),
        "{elsewhere:?}"
    );
    let not_a_lock = open_condition(&hub, me, "d", "c");
    assert!(
        matches!(not_a_lock, Err(ObjectError::Denied(_))),
        "{not_a_lock:?}"
    );
    // Waiting or notifying without holding the lock is refused.
    let wait = call(&hub, me, condition::Wait { handle: cond }, None);
    assert!(matches!(wait, Err(ObjectError::Denied(_))), "{wait:?}");
    call(&hub, other, lock::Acquire { handle: lock }, None).unwrap();
    let notify = call(&hub, me, condition::NotifyAll { handle: cond }, None);
    assert!(matches!(notify, Err(ObjectError::Denied(_))), "{notify:?}");
}

#[test]
fn condition_notify_wakes_waiters_in_order_and_notify_all_the_rest() {
    let hub = hub();
    let notifier = task(1, 9, 0);
    let lock = open_lock(&hub, notifier, false);
    let cond = open_condition(&hub, notifier, "c", "lock").unwrap();
    let waiting: Vec<_> = (0..4)
        .map(|w| {
            call(&hub, task(1, w, 0), lock::Acquire { handle: lock }, None).unwrap();
            start(&hub, task(1, w, 0), condition::Wait { handle: cond }, None)
        })
        .collect();
    waiting.iter().for_each(assert_parked);
    let notify = |n| {
        call(&hub, notifier, lock::Acquire { handle: lock }, None).unwrap();
        call(&hub, notifier, condition::Notify { handle: cond, n }, None).unwrap();
        call(&hub, notifier, lock::Release { handle: lock }, None).unwrap();
    };
    notify(2);
    // Waiters 0 and 1 re-acquire in turn: 0 first, 1 once 0 releases.
    assert_eq!(waiting[0].wait(), Ok(true));
    assert_parked(&waiting[1]);
    call(&hub, task(1, 0, 0), lock::Release { handle: lock }, None).unwrap();
    assert_eq!(waiting[1].wait(), Ok(true));
    call(&hub, task(1, 1, 0), lock::Release { handle: lock }, None).unwrap();
    waiting[2..].iter().for_each(assert_parked);
    call(&hub, notifier, lock::Acquire { handle: lock }, None).unwrap();
    call(&hub, notifier, condition::NotifyAll { handle: cond }, None).unwrap();
    call(&hub, notifier, lock::Release { handle: lock }, None).unwrap();
    for w in 2..4 {
        assert_eq!(waiting[w as usize].wait(), Ok(true));
        call(&hub, task(1, w, 0), lock::Release { handle: lock }, None).unwrap();
    }
}

#[test]
fn condition_wait_that_times_out_reacquires_the_lock_and_answers_false() {
    let hub = hub();
    let (waiter, holder) = (task(1, 0, 0), task(1, 1, 0));
    let name = "r".into();
    let lock = call(
        &hub,
        waiter,
        lock::Open {
            name,
            reentrant: true,
        },
        None,
    )
    .unwrap();
    let cond = open_condition(&hub, waiter, "c", "r").unwrap();
    // Nobody holds the lock when the timeout passes: answered at once.
    call(&hub, waiter, lock::Acquire { handle: lock }, None).unwrap();
    call(&hub, waiter, lock::Acquire { handle: lock }, None).unwrap();
    assert_eq!(
        call(&hub, waiter, condition::Wait { handle: cond }, SHORT),
        Ok(false)
    );
    // Re-entrant: held twice again, so two releases free it.
    call(&hub, waiter, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(
        call(&hub, holder, lock::TryAcquire { handle: lock }, None),
        Ok(false)
    );
    call(&hub, waiter, lock::Release { handle: lock }, None).unwrap();
    // Someone holds it when the timeout passes: the wait goes on until
    // they release it.
    call(&hub, waiter, lock::Acquire { handle: lock }, None).unwrap();
    let waiting = start(&hub, waiter, condition::Wait { handle: cond }, SHORT);
    call(&hub, holder, lock::Acquire { handle: lock }, None).unwrap();
    thread::sleep(SHORT.unwrap() * 2);
    assert_parked(&waiting);
    call(&hub, holder, lock::Release { handle: lock }, None).unwrap();
    assert_eq!(waiting.wait(), Ok(false));
    assert_eq!(
        call(&hub, waiter, lock::Locked { handle: lock }, None),
        Ok(true)
    );
}

#[test]
fn condition_waiters_are_not_stuck_by_dead_tasks() {
    let hub = hub();
    let (waiter, notifier, doomed) = (task(1, 0, 0), task(1, 1, 0), task(1, 2, 0));
    let lock = open_lock(&hub, waiter, false);
    let cond = open_condition(&hub, waiter, "c", "lock").unwrap();
    // A waiter whose worker dies leaves the lock free and is not notified.
    call(&hub, doomed, lock::Acquire { handle: lock }, None).unwrap();
    let dying = start(&hub, doomed, condition::Wait { handle: cond }, None);
    call(&hub, waiter, lock::Acquire { handle: lock }, None).unwrap();
    let waiting = start(&hub, waiter, condition::Wait { handle: cond }, None);
    hub.worker_died(1, 2);
    assert_eq!(dying.wait(), Err(ObjectError::Abandoned));
    // A notifier that dies holding the lock: its notified waiter is told.
    call(&hub, notifier, lock::Acquire { handle: lock }, None).unwrap();
    call(
        &hub,
        notifier,
        condition::Notify { handle: cond, n: 1 },
        None,
    )
    .unwrap();
    assert_parked(&waiting);
    hub.worker_died(1, 1);
    assert_eq!(waiting.wait(), Err(ObjectError::Abandoned));
    assert_eq!(
        call(&hub, waiter, lock::TryAcquire { handle: lock }, None),
        Ok(true)
    );
    // A waiter nobody notifies gets its timeout, the lock held again.
    assert_eq!(
        call(&hub, waiter, condition::Wait { handle: cond }, SHORT),
        Ok(false)
    );
}

#[test]
fn value_add_and_compare_and_swap() {
    let hub = hub();
    let me = task(1, 0, 0);
    let open = |name: &str, initial| {
        call(
            &hub,
            me,
            value::Open {
                name: name.into(),
                initial,
            },
            None,
        )
        .unwrap()
    };
    let int = open("i", Scalar::Int(40));
    let float = open("f", Scalar::Float(1.5));
    let bytes = open("b", Scalar::Bytes(b"x".to_vec()));
    let add = |value, delta| {
        call(
            &hub,
            me,
            value::Add {
                handle: value,
                delta,
            },
            None,
        )
    };
    assert_eq!(add(int, Scalar::Int(2)), Ok(Scalar::Int(42)));
    assert_eq!(add(float, Scalar::Float(1.0)), Ok(Scalar::Float(2.5)));
    assert!(matches!(
        add(int, Scalar::Float(1.0)),
        Err(ObjectError::Denied(_))
    ));
    assert!(matches!(
        add(bytes, Scalar::Bytes(vec![1])),
        Err(ObjectError::Denied(_))
    ));
    let set = call(
        &hub,
        me,
        value::Set {
            handle: int,
            new: Scalar::Float(0.0),
        },
        None,
    );
    assert!(matches!(set, Err(ObjectError::Denied(_))));

    let cas = |expected, new| {
        call(
            &hub,
            me,
            value::CompareAndSwap {
                handle: int,
                expected,
                new,
            },
            None,
        )
    };
    assert_eq!(cas(Scalar::Int(41), Scalar::Int(0)), Ok(false));
    assert_eq!(cas(Scalar::Int(42), Scalar::Int(7)), Ok(true));
    let get = call(&hub, me, value::Get { handle: int }, None);
    assert_eq!(get, Ok(Scalar::Int(7)));
    // Opening it again keeps the value; with another kind is denied.
    assert_eq!(open("i", Scalar::Int(0)), int);
    let other = call(
        &hub,
        me,
        value::Open {
            name: "i".into(),
            initial: Scalar::Float(0.0),
        },
        None,
    );
    assert!(matches!(other, Err(ObjectError::Denied(_))));
}

#[test]
fn array_elements_and_bounds() {
    let hub = hub();
    let me = task(1, 0, 0);
    let open = |len| {
        call(
            &hub,
            me,
            array::Open {
                name: "a".into(),
                len,
                initial: Scalar::Int(0),
            },
            None,
        )
    };
    let array = open(3).unwrap();
    assert!(matches!(open(4), Err(ObjectError::Denied(_))));
    call(
        &hub,
        me,
        array::Set {
            handle: array,
            index: 1,
            new: Scalar::Int(5),
        },
        None,
    )
    .unwrap();
    let added = call(
        &hub,
        me,
        array::Add {
            handle: array,
            index: 1,
            delta: Scalar::Int(2),
        },
        None,
    );
    assert_eq!(added, Ok(Scalar::Int(7)));
    assert_eq!(
        call(
            &hub,
            me,
            array::Get {
                handle: array,
                index: 0
            },
            None
        ),
        Ok(Scalar::Int(0))
    );
    assert_eq!(call(&hub, me, array::Len { handle: array }, None), Ok(3));
    let outside = call(
        &hub,
        me,
        array::Get {
            handle: array,
            index: 3,
        },
        None,
    );
    assert!(matches!(outside, Err(ObjectError::Denied(_))));
}

#[test]
fn dict_entries() {
    let hub = hub();
    let me = task(1, 0, 0);
    let dict = call(&hub, me, dict::Open { name: "d".into() }, None).unwrap();
    for key in ["b", "a"] {
        let set = dict::Set {
            handle: dict,
            key: key.into(),
            value: key.as_bytes().to_vec(),
        };
        call(&hub, me, set, None).unwrap();
    }
    let get = call(
        &hub,
        me,
        dict::Get {
            handle: dict,
            key: "a".into(),
        },
        None,
    );
    assert_eq!(get, Ok(Some(b"a".to_vec())));
    let keys = call(&hub, me, dict::Keys { handle: dict }, None);
    assert_eq!(keys, Ok(vec!["a".into(), "b".into()]));
    let removed = call(
        &hub,
        me,
        dict::Remove {
            handle: dict,
            key: "a".into(),
        },
        None,
    );
    assert_eq!(removed, Ok(Some(b"a".to_vec())));
    let missing = call(
        &hub,
        me,
        dict::Get {
            handle: dict,
            key: "a".into(),
        },
        None,
    );
    assert_eq!(missing, Ok(None));
    assert_eq!(call(&hub, me, dict::Len { handle: dict }, None), Ok(1));
}

#[test]
fn dict_setdefault_and_compare_and_set() {
    let hub = hub();
    let me = task(1, 0, 0);
    let name = "d".into();
    let dict = call(&hub, me, dict::Open { name }, None).unwrap();
    let setdefault = |key: &str, value: &[u8]| {
        let (key, value) = (key.into(), value.to_vec());
        call(
            &hub,
            me,
            dict::SetDefault {
                handle: dict,
                key,
                value,
            },
            None,
        )
    };
    let cas = |key: &str, expected: Option<&[u8]>, new: Option<&[u8]>| {
        let request = dict::CompareAndSet {
            handle: dict,
            key: key.into(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
        };
        call(&hub, me, request, None)
    };
    let get = |key: &str| {
        call(
            &hub,
            me,
            dict::Get {
                handle: dict,
                key: key.into(),
            },
            None,
        )
    };
    assert_eq!(setdefault("k", b"first"), Ok(b"first".to_vec()));
    assert_eq!(setdefault("k", b"second"), Ok(b"first".to_vec()));
    assert_eq!(cas("k", Some(b"other"), Some(b"new")), Ok(false));
    assert_eq!(cas("k", None, Some(b"new")), Ok(false), "k is present");
    assert_eq!(get("k"), Ok(Some(b"first".to_vec())));
    assert_eq!(cas("k", Some(b"first"), Some(b"new")), Ok(true));
    assert_eq!(get("k"), Ok(Some(b"new".to_vec())));
    assert_eq!(cas("k", Some(b"new"), None), Ok(true));
    assert_eq!(get("k"), Ok(None));
    assert_eq!(cas("k", None, Some(b"back")), Ok(true));
    assert_eq!(get("k"), Ok(Some(b"back".to_vec())));
}

#[test]
fn dict_updates_within_the_limits() {
    let limits = HubLimits {
        max_message: 16,
        max_queued_items: 1,
        max_job_bytes: 24,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let name = "d".into();
    let dict = call(&hub, me, dict::Open { name }, None).unwrap();
    let setdefault = |key: &str, value: &[u8]| {
        let (key, value) = (key.into(), value.to_vec());
        call(
            &hub,
            me,
            dict::SetDefault {
                handle: dict,
                key,
                value,
            },
            None,
        )
    };
    let cas = |key: &str, expected: Option<&[u8]>, new: Option<&[u8]>| {
        let request = dict::CompareAndSet {
            handle: dict,
            key: key.into(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
        };
        call(&hub, me, request, None)
    };
    // Key and value together are one message.
    assert_eq!(setdefault("k", &[0; 16]), Err(ObjectError::TooLarge(16)));
    assert_eq!(
        cas("k", None, Some(&[0; 16])),
        Err(ObjectError::TooLarge(16))
    );
    assert_eq!(setdefault("k", &[1; 10]), Ok(vec![1; 10]));
    // One entry at most.
    let full = setdefault("j", b"x");
    assert!(matches!(full, Err(ObjectError::Denied(_))), "{full:?}");
    let full = cas("j", None, Some(b"x"));
    assert!(matches!(full, Err(ObjectError::Denied(_))), "{full:?}");
    // 11 bytes held; replacing the value holds the new one before the old
    // one goes, so 11 + 14 is over the budget of 24.
    let over = cas("k", Some(&[1; 10]), Some(&[2; 13]));
    assert!(matches!(over, Err(ObjectError::Denied(_))), "{over:?}");
    assert_eq!(cas("k", Some(&[1; 10]), Some(&[2; 12])), Ok(true));
}

#[test]
fn list_indexes_pops_and_slices_as_python() {
    let hub = hub();
    let me = task(1, 0, 0);
    let list = call(&hub, me, list::Open { name: "l".into() }, None).unwrap();
    let items = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let slice = |start, stop| {
        call(
            &hub,
            me,
            list::Slice {
                handle: list,
                start,
                stop,
            },
            None,
        )
    };
    let append = list::Append {
        handle: list,
        item: b"a".to_vec(),
    };
    call(&hub, me, append, None).unwrap();
    let extend = list::Extend {
        handle: list,
        items: items(&["b", "c", "d"]),
    };
    call(&hub, me, extend, None).unwrap();
    assert_eq!(call(&hub, me, list::Len { handle: list }, None), Ok(4));
    assert_eq!(
        call(
            &hub,
            me,
            list::Get {
                handle: list,
                index: 1
            },
            None
        ),
        Ok(b"b".to_vec())
    );
    assert_eq!(
        call(
            &hub,
            me,
            list::Get {
                handle: list,
                index: -4
            },
            None
        ),
        Ok(b"a".to_vec())
    );
    for index in [4, -5, i64::MIN, i64::MAX] {
        let out_of_range = call(
            &hub,
            me,
            list::Get {
                handle: list,
                index,
            },
            None,
        );
        assert!(
            matches!(out_of_range, Err(ObjectError::Denied(_))),
            "{index}"
        );
    }
    let set = list::Set {
        handle: list,
        index: -1,
        item: b"D".to_vec(),
    };
    call(&hub, me, set, None).unwrap();
    assert_eq!(slice(None, None), Ok(items(&["a", "b", "c", "D"])));
    assert_eq!(slice(Some(1), Some(-1)), Ok(items(&["b", "c"])));
    assert_eq!(slice(Some(-2), Some(100)), Ok(items(&["c", "D"])));
    assert_eq!(slice(Some(3), Some(1)), Ok(vec![]));
    assert_eq!(
        slice(Some(i64::MIN), Some(i64::MAX)),
        Ok(items(&["a", "b", "c", "D"]))
    );
    assert_eq!(
        call(
            &hub,
            me,
            list::Pop {
                handle: list,
                index: None
            },
            None
        ),
        Ok(b"D".to_vec())
    );
    assert_eq!(
        call(
            &hub,
            me,
            list::Pop {
                handle: list,
                index: Some(0)
            },
            None
        ),
        Ok(b"a".to_vec())
    );
    assert_eq!(slice(None, None), Ok(items(&["b", "c"])));
}

#[test]
fn list_stays_within_the_limits() {
    let limits = HubLimits {
        max_message: 8,
        max_queued_items: 3,
        max_job_bytes: 12,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let list = call(&hub, me, list::Open { name: "l".into() }, None).unwrap();
    let extend = |items: Vec<Vec<u8>>| {
        call(
            &hub,
            me,
            list::Extend {
                handle: list,
                items,
            },
            None,
        )
    };
    let len = || call(&hub, me, list::Len { handle: list }, None);
    // An extend is one message: its items together.
    assert_eq!(
        extend(vec![vec![0; 5], vec![0; 4]]),
        Err(ObjectError::TooLarge(8))
    );
    assert_eq!(extend(vec![vec![1; 4], vec![2; 4]]), Ok(()));
    // Three items at most, all or none.
    let over = extend(vec![vec![3], vec![4]]);
    assert!(matches!(over, Err(ObjectError::Denied(_))), "{over:?}");
    assert_eq!(len(), Ok(2));
    // 8 bytes held, the budget is 12: a 5-byte item is refused, and
    // replacing an item holds the new one before the old one goes.
    let over = call(
        &hub,
        me,
        list::Append {
            handle: list,
            item: vec![5; 5],
        },
        None,
    );
    assert!(matches!(over, Err(ObjectError::Denied(_))), "{over:?}");
    let over = call(
        &hub,
        me,
        list::Set {
            handle: list,
            index: 0,
            item: vec![5; 5],
        },
        None,
    );
    assert!(matches!(over, Err(ObjectError::Denied(_))), "{over:?}");
    assert_eq!(
        call(
            &hub,
            me,
            list::Append {
                handle: list,
                item: vec![5; 4]
            },
            None
        ),
        Ok(())
    );
    // Its 12 bytes are more than a message: a slice of all is refused.
    let all = call(
        &hub,
        me,
        list::Slice {
            handle: list,
            start: None,
            stop: None,
        },
        None,
    );
    assert_eq!(all, Err(ObjectError::TooLarge(8)));
    // Popping gives the bytes back.
    call(
        &hub,
        me,
        list::Pop {
            handle: list,
            index: None,
        },
        None,
    )
    .unwrap();
    assert_eq!(
        call(
            &hub,
            me,
            list::Append {
                handle: list,
                item: vec![6; 4]
            },
            None
        ),
        Ok(())
    );
}

#[test]
fn event_wakes_every_waiter() {
    let hub = hub();
    let me = task(1, 0, 0);
    let event = call(&hub, me, event::Open { name: "e".into() }, None).unwrap();
    assert_eq!(
        call(&hub, me, event::Wait { handle: event }, SHORT),
        Err(ObjectError::Timeout)
    );
    let waiters: Vec<_> = (1..4)
        .map(|w| start(&hub, task(1, w, 0), event::Wait { handle: event }, None))
        .collect();
    waiters.iter().for_each(assert_parked);
    assert_eq!(
        call(&hub, me, event::IsSet { handle: event }, None),
        Ok(false)
    );
    call(&hub, me, event::Set { handle: event }, None).unwrap();
    for rx in waiters {
        assert_eq!(rx.wait(), Ok(()));
    }
    assert_eq!(call(&hub, me, event::Wait { handle: event }, None), Ok(()));
    call(&hub, me, event::Clear { handle: event }, None).unwrap();
    assert_eq!(
        call(&hub, me, event::IsSet { handle: event }, None),
        Ok(false)
    );
}

#[test]
fn semaphore_counts_permits() {
    let hub = hub();
    let me = task(1, 0, 0);
    let semaphore = call(
        &hub,
        me,
        semaphore::Open {
            name: "s".into(),
            initial: 2,
        },
        None,
    )
    .unwrap();
    let acquire = semaphore::Acquire { handle: semaphore };
    for _ in 0..2 {
        call(&hub, me, semaphore::Acquire { handle: semaphore }, None).unwrap();
    }
    assert_eq!(call(&hub, me, acquire, SHORT), Err(ObjectError::Timeout));
    let waiting = start(
        &hub,
        task(1, 1, 0),
        semaphore::Acquire { handle: semaphore },
        None,
    );
    assert_parked(&waiting);
    call(&hub, me, semaphore::Release { handle: semaphore }, None).unwrap();
    assert_eq!(waiting.wait(), Ok(()));
    let other = call(
        &hub,
        me,
        semaphore::Open {
            name: "s".into(),
            initial: 3,
        },
        None,
    );
    assert!(matches!(other, Err(ObjectError::Denied(_))));
}

#[test]
fn barrier_releases_each_round_with_arrival_indices() {
    let hub = hub();
    let barrier = call(
        &hub,
        task(1, 0, 0),
        barrier::Open {
            name: "b".into(),
            parties: 3,
        },
        None,
    )
    .unwrap();
    for _round in 0..2 {
        let first = start(&hub, task(1, 0, 0), barrier::Wait { handle: barrier }, None);
        let second = start(&hub, task(1, 1, 0), barrier::Wait { handle: barrier }, None);
        assert_parked(&first);
        assert_parked(&second);
        let last = call(&hub, task(1, 2, 0), barrier::Wait { handle: barrier }, None);
        assert_eq!(last, Ok(2));
        assert_eq!(first.wait(), Ok(0));
        assert_eq!(second.wait(), Ok(1));
    }
    // Threads meeting at a barrier get every index once.
    let threads: Vec<_> = (0..3)
        .map(|w| {
            let hub = hub.clone();
            thread::spawn(move || {
                call(&hub, task(1, w, 0), barrier::Wait { handle: barrier }, None)
            })
        })
        .collect();
    let indices: HashSet<u32> = threads
        .into_iter()
        .map(|t| match t.join().unwrap() {
            Ok(i) => i,
            other => panic!("expected an index, got {other:?}"),
        })
        .collect();
    assert_eq!(indices, HashSet::from([0, 1, 2]));
}

#[test]
fn barrier_abort_breaks_it_until_a_reset() {
    let hub = hub();
    let (a, b) = (task(1, 0, 0), task(1, 1, 0));
    let name = "b".into();
    let barrier = call(&hub, a, barrier::Open { name, parties: 2 }, None).unwrap();
    let n_waiting = |hub: &Hub| call(hub, b, barrier::NWaiting { handle: barrier }, None);
    let broken = |hub: &Hub| call(hub, b, barrier::Broken { handle: barrier }, None);
    assert_eq!((n_waiting(&hub), broken(&hub)), (Ok(0), Ok(false)));
    let waiting = start(&hub, a, barrier::Wait { handle: barrier }, None);
    assert_eq!(n_waiting(&hub), Ok(1));
    call(&hub, b, barrier::Abort { handle: barrier }, None).unwrap();
    assert_eq!(waiting.wait(), Err(ObjectError::Abandoned));
    assert_eq!((n_waiting(&hub), broken(&hub)), (Ok(0), Ok(true)));
    let refused = call(&hub, a, barrier::Wait { handle: barrier }, None);
    assert_eq!(refused, Err(ObjectError::Abandoned));
    // A reset mends it: the next round fills as usual.
    call(&hub, b, barrier::Reset { handle: barrier }, None).unwrap();
    assert_eq!(broken(&hub), Ok(false));
    let waiting = start(&hub, a, barrier::Wait { handle: barrier }, None);
    assert_eq!(
        call(&hub, b, barrier::Wait { handle: barrier }, None),
        Ok(1)
    );
    assert_eq!(waiting.wait(), Ok(0));
    // A reset also sends away the waiters of the round it empties.
    let waiting = start(&hub, a, barrier::Wait { handle: barrier }, None);
    call(&hub, b, barrier::Reset { handle: barrier }, None).unwrap();
    assert_eq!(waiting.wait(), Err(ObjectError::Abandoned));
    assert_eq!((n_waiting(&hub), broken(&hub)), (Ok(0), Ok(false)));
}

#[test]
fn barrier_breaks_when_a_waiting_worker_dies() {
    let hub = hub();
    let barrier = call(
        &hub,
        task(1, 0, 0),
        barrier::Open {
            name: "b".into(),
            parties: 3,
        },
        None,
    )
    .unwrap();
    let survivor = start(&hub, task(1, 1, 0), barrier::Wait { handle: barrier }, None);
    let dying = start(&hub, task(1, 2, 0), barrier::Wait { handle: barrier }, None);
    assert_parked(&survivor);
    hub.worker_died(1, 2);
    assert_eq!(survivor.wait(), Err(ObjectError::Abandoned));
    assert_eq!(dying.wait(), Err(ObjectError::Abandoned));
    // The next round starts empty.
    let waiting = start(&hub, task(1, 0, 0), barrier::Wait { handle: barrier }, None);
    assert_eq!(
        call(
            &hub,
            task(1, 0, 0),
            barrier::Wait { handle: barrier },
            SHORT
        ),
        Err(ObjectError::Timeout)
    );
    assert_parked(&waiting);
}

#[test]
fn handles_and_names_are_scoped_to_their_job() {
    let hub = hub();
    let (one, two) = (task(1, 0, 0), task(2, 0, 0));
    let queue = open_queue(&hub, one, "q", 0);
    let foreign = call(&hub, two, queue::Len { handle: queue }, None);
    assert!(matches!(foreign, Err(ObjectError::Denied(_))));
    let theirs = open_queue(&hub, two, "q", 0);
    assert_ne!(queue, theirs);
    call(
        &hub,
        one,
        queue::Put {
            handle: queue,
            item: b"x".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(call(&hub, two, queue::Len { handle: theirs }, None), Ok(0));
    // A handle of another kind, an open of another kind or shape, or a
    // name that is too long, is denied.
    assert!(matches!(
        call(
            &hub,
            one,
            lock::Acquire {
                handle: lock::Handle(queue.0)
            },
            None
        ),
        Err(ObjectError::Denied(_))
    ));
    let as_lock = call(
        &hub,
        one,
        lock::Open {
            name: "q".into(),
            reentrant: false,
        },
        None,
    );
    assert!(matches!(as_lock, Err(ObjectError::Denied(_))));
    let resized = call(
        &hub,
        one,
        queue::Open {
            name: "q".into(),
            capacity: 3,
        },
        None,
    );
    assert!(matches!(resized, Err(ObjectError::Denied(_))));
    let long = call(
        &hub,
        one,
        dict::Open {
            name: "n".repeat(257),
        },
        None,
    );
    assert!(matches!(long, Err(ObjectError::Denied(_))));
}

#[test]
fn oversized_messages_are_refused_and_change_nothing() {
    let limits = HubLimits {
        max_message: 16,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let big = vec![0; 17];
    let put = call(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: big.clone(),
        },
        None,
    );
    assert_eq!(put, Err(ObjectError::TooLarge(16)));
    assert_eq!(call(&hub, me, queue::Len { handle: queue }, None), Ok(0));
    call(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: vec![0; 16],
        },
        None,
    )
    .unwrap();
    let dict = call(&hub, me, dict::Open { name: "d".into() }, None).unwrap();
    let set = call(
        &hub,
        me,
        dict::Set {
            handle: dict,
            key: "k".into(),
            value: vec![0; 16],
        },
        None,
    );
    assert_eq!(set, Err(ObjectError::TooLarge(16)));
    let value = call(
        &hub,
        me,
        value::Open {
            name: "v".into(),
            initial: Scalar::Bytes(big),
        },
        None,
    );
    assert_eq!(value, Err(ObjectError::TooLarge(16)));
}

#[test]
fn a_job_holds_a_limited_number_of_bytes() {
    let limits = HubLimits {
        max_message: 64,
        max_job_bytes: 100,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 1);
    let put = |item: Vec<u8>, timeout| {
        call(
            &hub,
            me,
            queue::Put {
                handle: queue,
                item,
            },
            timeout,
        )
    };
    put(vec![0; 40], None).unwrap();
    // A waiting put holds its item too.
    let waiting = start(
        &hub,
        me,
        queue::Put {
            handle: queue,
            item: vec![1; 40],
        },
        SHORT,
    );
    assert!(matches!(
        put(vec![2; 40], None),
        Err(ObjectError::Denied(_))
    ));
    assert_eq!(waiting.wait(), Err(ObjectError::Timeout));
    // Its bytes came back when it timed out, and so do an item's once taken.
    assert_eq!(
        put(vec![2; 40], Some(Duration::ZERO)),
        Err(ObjectError::Timeout)
    );
    call(&hub, me, queue::Get { handle: queue }, None).unwrap();
    let dict = call(&hub, me, dict::Open { name: "d".into() }, None).unwrap();
    let set = |key: &str, len| {
        call(
            &hub,
            me,
            dict::Set {
                handle: dict,
                key: key.into(),
                value: vec![0; len],
            },
            None,
        )
    };
    set("k", 60).unwrap();
    assert!(matches!(
        put(vec![0; 40], None),
        Err(ObjectError::Denied(_))
    ));
    set("k", 1).unwrap();
    put(vec![0; 40], None).unwrap();
    // Another job has a budget of its own.
    let theirs = open_queue(&hub, task(2, 0, 0), "q", 0);
    let item = vec![0; 60];
    call(
        &hub,
        task(2, 0, 0),
        queue::Put {
            handle: theirs,
            item,
        },
        None,
    )
    .unwrap();
}

#[test]
fn a_job_opens_a_limited_number_of_objects() {
    let limits = HubLimits {
        max_objects_per_job: 3,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    for name in ["a", "b", "c"] {
        open_queue(&hub, me, name, 0);
    }
    let fourth = call(&hub, me, event::Open { name: "d".into() }, None);
    assert!(matches!(fourth, Err(ObjectError::Denied(_))));
    open_queue(&hub, me, "a", 0);
    open_queue(&hub, task(2, 0, 0), "d", 0);
}

#[test]
fn dropping_a_job_answers_its_waiters_closed() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let getter = start(
        &hub,
        me,
        queue::Get { handle: queue },
        Some(Duration::from_secs(60)),
    );
    assert_parked(&getter);
    hub.drop_job(1);
    assert_eq!(getter.wait(), Err(ObjectError::Closed));
    assert!(matches!(
        call(&hub, me, queue::Len { handle: queue }, None),
        Err(ObjectError::Denied(_))
    ));
}

#[test]
fn dropping_the_hub_answers_parked_requests_closed() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let getter = start(&hub, me, queue::Get { handle: queue }, None);
    assert_parked(&getter);
    drop(hub);
    assert_eq!(getter.wait(), Err(ObjectError::Closed));
}

#[test]
fn host_handles_talk_with_tasks() {
    let hub = hub();
    let queue = Queue::open(&hub, 1, "q", 0).unwrap();
    let id = call(
        &hub,
        task(1, 0, 0),
        queue::Open {
            name: "q".into(),
            capacity: 0,
        },
        None,
    )
    .unwrap();
    call(
        &hub,
        task(1, 0, 0),
        queue::Put {
            handle: id,
            item: b"hi".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(queue.get(None), Ok(b"hi".to_vec()));
    assert_eq!(queue.get(SHORT), Err(ObjectError::Timeout));
    queue.close().unwrap();
    assert_eq!(queue.put(b"x", None), Err(ObjectError::Closed));

    let conn = Connection::open(&hub, 1, "p", End::A).unwrap();
    let b = open_end(&hub, task(1, 0, 0), End::B).unwrap();
    conn.send(b"ping", None).unwrap();
    assert_eq!(
        call(&hub, task(1, 0, 0), pipe::Recv { handle: b }, None).unwrap(),
        b"ping"
    );
    drop(conn);
    assert_eq!(
        call(&hub, task(1, 0, 0), pipe::Recv { handle: b }, None),
        Err(ObjectError::Closed)
    );

    // Host threads are tasks of their own: a lock one holds blocks another.
    let lock = Lock::open(&hub, 1, "l", false).unwrap();
    lock.acquire(None).unwrap();
    let other = lock.clone();
    let blocked = thread::spawn(move || other.acquire(SHORT)).join().unwrap();
    assert_eq!(blocked, Err(ObjectError::Timeout));
    lock.release().unwrap();

    let counter = SharedValue::open(&hub, 1, "n", Scalar::Int(0)).unwrap();
    assert_eq!(counter.add(Scalar::Int(3)), Ok(Scalar::Int(3)));
    let array = SharedArray::open(&hub, 1, "a", 2, Scalar::Float(0.0)).unwrap();
    assert_eq!(array.add(1, Scalar::Float(0.5)), Ok(Scalar::Float(0.5)));
    let dict = Dict::open(&hub, 1, "d").unwrap();
    dict.set("k", b"v").unwrap();
    assert_eq!(dict.keys(), Ok(vec!["k".to_string()]));
    let event = Event::open(&hub, 1, "e").unwrap();
    event.set().unwrap();
    assert_eq!(event.wait(None), Ok(()));
    let semaphore = Semaphore::open(&hub, 1, "s", 1).unwrap();
    semaphore.acquire(None).unwrap();
    assert_eq!(semaphore.acquire(SHORT), Err(ObjectError::Timeout));
    let barrier = Barrier::open(&hub, 1, "b", 1).unwrap();
    assert_eq!(barrier.wait(None), Ok(0));
}

#[test]
fn operations_and_answers_cross_the_wire() {
    let op = value::CompareAndSwap {
        handle: value::Handle(7),
        expected: Scalar::Int(1),
        new: Scalar::Bytes(vec![2]),
    }
    .into_op();
    let bytes = postcard::to_stdvec(&op).unwrap();
    let back: Op = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(format!("{back:?}"), format!("{op:?}"));
    let answer: Result<Answer, ObjectError> = Err(ObjectError::TooLarge(9));
    let bytes = postcard::to_stdvec(&answer).unwrap();
    assert_eq!(
        postcard::from_bytes::<Result<Answer, ObjectError>>(&bytes).unwrap(),
        answer
    );
}
