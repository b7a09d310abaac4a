//! The hub's rules, exercised by threads acting as tasks of workers.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};

use super::*;

const SHORT: Option<Duration> = Some(Duration::from_millis(50));

fn hub() -> Hub {
    Hub::new(HubLimits::default())
}

fn task(job: JobId, worker: u32, task: u64) -> Caller {
    Caller { job, worker, task }
}

/// Sends `op` without waiting; the answer arrives on the receiver.
fn start(
    hub: &Hub,
    caller: Caller,
    op: Op,
    timeout: Option<Duration>,
) -> Receiver<Result<Answer, ObjectError>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    hub.request(
        caller,
        op,
        timeout,
        Box::new(move |r| {
            // A test may stop listening.
            let _ = tx.send(r);
        }),
    );
    rx
}

/// Sends `op` and waits for the answer.
fn call(
    hub: &Hub,
    caller: Caller,
    op: Op,
    timeout: Option<Duration>,
) -> Result<Answer, ObjectError> {
    start(hub, caller, op, timeout).recv().unwrap()
}

/// Asserts that the request behind `rx` is parked, unanswered.
fn assert_parked(rx: &Receiver<Result<Answer, ObjectError>>) {
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

fn handle(answer: Result<Answer, ObjectError>) -> u64 {
    match answer {
        Ok(Answer::Handle(h)) => h,
        other => panic!("expected a handle, got {other:?}"),
    }
}

fn open_queue(hub: &Hub, caller: Caller, name: &str, capacity: u32) -> u64 {
    handle(call(
        hub,
        caller,
        Op::QueueOpen {
            name: name.into(),
            capacity,
        },
        None,
    ))
}

fn open_lock(hub: &Hub, caller: Caller, reentrant: bool) -> u64 {
    handle(call(
        hub,
        caller,
        Op::LockOpen {
            name: "lock".into(),
            reentrant,
        },
        None,
    ))
}

fn bytes(answer: Result<Answer, ObjectError>) -> Vec<u8> {
    match answer {
        Ok(Answer::Bytes(b)) => b,
        other => panic!("expected bytes, got {other:?}"),
    }
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
                    let put = call(&hub, task(1, p, 0), Op::QueuePut { queue, item }, None);
                    assert_eq!(put, Ok(Answer::Unit));
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
                    match call(&hub, task(1, 10 + c, 0), Op::QueueGet { queue }, None) {
                        Ok(Answer::Bytes(b)) => got.push(u32::from_le_bytes(b.try_into().unwrap())),
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
        call(&hub, task(1, 0, 0), Op::QueueClose { queue }, None),
        Ok(Answer::Unit)
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
                    match call(&hub, task(1, c, 0), Op::QueueGet { queue }, tiny) {
                        Ok(Answer::Bytes(b)) => got.push(b),
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
        call(&hub, me, Op::QueuePut { queue, item }, None).unwrap();
    }
    call(&hub, me, Op::QueueClose { queue }, None).unwrap();
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
    let getter = start(&hub, me, Op::QueueGet { queue }, None);
    assert_parked(&getter);
    hub.task_ended(me);
    assert_eq!(getter.recv().unwrap(), Err(ObjectError::Timeout));
    // The item put next is not lost to the ended task.
    call(
        &hub,
        me,
        Op::QueuePut {
            queue,
            item: b"x".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(
        call(&hub, me, Op::QueueLen { queue }, None),
        Ok(Answer::Count(1))
    );
}

#[test]
fn queue_is_fifo_and_hands_items_to_waiting_getters() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let getter = start(&hub, task(1, 1, 0), Op::QueueGet { queue }, None);
    assert_parked(&getter);
    for item in [b"a", b"b", b"c"] {
        call(
            &hub,
            me,
            Op::QueuePut {
                queue,
                item: item.to_vec(),
            },
            None,
        )
        .unwrap();
    }
    assert_eq!(bytes(getter.recv().unwrap()), b"a");
    assert_eq!(
        call(&hub, me, Op::QueueLen { queue }, None),
        Ok(Answer::Count(2))
    );
    assert_eq!(bytes(call(&hub, me, Op::QueueGet { queue }, None)), b"b");
    assert_eq!(bytes(call(&hub, me, Op::QueueGet { queue }, None)), b"c");
}

#[test]
fn queue_put_and_get_time_out_without_losing_items() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 1);
    assert_eq!(
        call(&hub, me, Op::QueueGet { queue }, SHORT),
        Err(ObjectError::Timeout)
    );
    let zero = Some(Duration::ZERO);
    assert_eq!(
        call(&hub, me, Op::QueueGet { queue }, zero),
        Err(ObjectError::Timeout)
    );
    call(
        &hub,
        me,
        Op::QueuePut {
            queue,
            item: b"first".to_vec(),
        },
        None,
    )
    .unwrap();
    let late = Op::QueuePut {
        queue,
        item: b"late".to_vec(),
    };
    assert_eq!(call(&hub, me, late, SHORT), Err(ObjectError::Timeout));
    // A put that waits gets its room when an item is taken.
    let waiting = start(
        &hub,
        me,
        Op::QueuePut {
            queue,
            item: b"second".to_vec(),
        },
        None,
    );
    assert_parked(&waiting);
    assert_eq!(
        bytes(call(&hub, me, Op::QueueGet { queue }, None)),
        b"first"
    );
    assert_eq!(waiting.recv().unwrap(), Ok(Answer::Unit));
    assert_eq!(
        bytes(call(&hub, me, Op::QueueGet { queue }, None)),
        b"second"
    );
    assert_eq!(
        call(&hub, me, Op::QueueLen { queue }, None),
        Ok(Answer::Count(0))
    );
}

#[test]
fn a_nearer_deadline_fires_first_and_alone() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let patient = start(
        &hub,
        me,
        Op::QueueGet { queue },
        Some(Duration::from_secs(60)),
    );
    let hasty = start(&hub, me, Op::QueueGet { queue }, SHORT);
    assert_eq!(hasty.recv().unwrap(), Err(ObjectError::Timeout));
    assert_parked(&patient);
    call(
        &hub,
        me,
        Op::QueuePut {
            queue,
            item: b"x".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(bytes(patient.recv().unwrap()), b"x");
}

#[test]
fn closed_queue_refuses_puts_and_drains() {
    let hub = hub();
    let me = task(1, 0, 0);
    let full = open_queue(&hub, me, "full", 1);
    call(
        &hub,
        me,
        Op::QueuePut {
            queue: full,
            item: b"kept".to_vec(),
        },
        None,
    )
    .unwrap();
    let putter = start(
        &hub,
        me,
        Op::QueuePut {
            queue: full,
            item: b"x".to_vec(),
        },
        None,
    );
    let empty = open_queue(&hub, me, "empty", 1);
    let getter = start(&hub, me, Op::QueueGet { queue: empty }, None);
    assert_parked(&putter);
    assert_parked(&getter);

    call(&hub, me, Op::QueueClose { queue: full }, None).unwrap();
    call(&hub, me, Op::QueueClose { queue: empty }, None).unwrap();
    assert_eq!(putter.recv().unwrap(), Err(ObjectError::Closed));
    assert_eq!(getter.recv().unwrap(), Err(ObjectError::Closed));
    let put = Op::QueuePut {
        queue: full,
        item: b"y".to_vec(),
    };
    assert_eq!(call(&hub, me, put, None), Err(ObjectError::Closed));
    assert_eq!(
        bytes(call(&hub, me, Op::QueueGet { queue: full }, None)),
        b"kept"
    );
    assert_eq!(
        call(&hub, me, Op::QueueGet { queue: full }, None),
        Err(ObjectError::Closed)
    );
}

fn open_end(hub: &Hub, caller: Caller, end: End) -> Result<Answer, ObjectError> {
    call(
        hub,
        caller,
        Op::PipeOpen {
            name: "p".into(),
            end,
        },
        None,
    )
}

#[test]
fn pipe_ping_pong() {
    let hub = hub();
    let a = handle(open_end(&hub, task(1, 0, 0), End::A));
    let b = handle(open_end(&hub, task(1, 1, 0), End::B));
    let echo = {
        let hub = hub.clone();
        thread::spawn(move || {
            let me = task(1, 1, 0);
            while let Ok(Answer::Bytes(m)) = call(&hub, me, Op::PipeRecv { conn: b }, None) {
                let n = u64::from_le_bytes(m.try_into().unwrap());
                let message = (n + 1).to_le_bytes().to_vec();
                call(&hub, me, Op::PipeSend { conn: b, message }, None).unwrap();
            }
        })
    };
    let me = task(1, 0, 0);
    let mut n = 0u64;
    for _ in 0..100 {
        let message = n.to_le_bytes().to_vec();
        call(&hub, me, Op::PipeSend { conn: a, message }, None).unwrap();
        let reply = bytes(call(&hub, me, Op::PipeRecv { conn: a }, None));
        n = u64::from_le_bytes(reply.try_into().unwrap()) + 1;
    }
    assert_eq!(n, 200);
    call(&hub, me, Op::PipeClose { conn: a }, None).unwrap();
    echo.join().unwrap();
}

#[test]
fn pipe_peer_sees_closed_once_drained_after_its_task_ended() {
    let hub = hub();
    let (ta, tb) = (task(1, 0, 0), task(1, 1, 7));
    let a = handle(open_end(&hub, ta, End::A));
    let b = handle(open_end(&hub, tb, End::B));
    assert!(matches!(
        open_end(&hub, tb, End::B),
        Err(ObjectError::Denied(_))
    ));
    call(
        &hub,
        ta,
        Op::PipeSend {
            conn: a,
            message: b"last".to_vec(),
        },
        None,
    )
    .unwrap();
    hub.task_ended(ta);
    assert_eq!(
        bytes(call(&hub, tb, Op::PipeRecv { conn: b }, None)),
        b"last"
    );
    assert_eq!(
        call(&hub, tb, Op::PipeRecv { conn: b }, None),
        Err(ObjectError::Closed)
    );
    let send = Op::PipeSend {
        conn: b,
        message: b"x".to_vec(),
    };
    assert_eq!(call(&hub, tb, send, None), Err(ObjectError::Closed));

    // A waiting recv hears of the close; the old connection stays closed
    // when its end opens again.
    let a2 = handle(open_end(&hub, ta, End::A));
    let waiting = start(&hub, tb, Op::PipeRecv { conn: b }, None);
    assert_parked(&waiting);
    hub.worker_died(1, 0);
    assert_eq!(waiting.recv().unwrap(), Err(ObjectError::Closed));
    let stale = Op::PipeSend {
        conn: a2,
        message: b"x".to_vec(),
    };
    assert_eq!(call(&hub, ta, stale, None), Err(ObjectError::Closed));
    assert_eq!(
        call(&hub, ta, Op::PipeRecv { conn: b }, None),
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
    let a = handle(open_end(&hub, ta, End::A));
    let b = handle(open_end(&hub, tb, End::B));
    let send = |message: &[u8]| Op::PipeSend {
        conn: a,
        message: message.to_vec(),
    };
    call(&hub, ta, send(b"1"), None).unwrap();
    let second = start(&hub, ta, send(b"2"), None);
    assert_parked(&second);
    assert_eq!(bytes(call(&hub, tb, Op::PipeRecv { conn: b }, None)), b"1");
    assert_eq!(second.recv().unwrap(), Ok(Answer::Unit));
    let third = start(&hub, ta, send(b"3"), None);
    assert_parked(&third);
    // Closing the receiving end drops what it did not read and refuses
    // the waiting send.
    call(&hub, tb, Op::PipeClose { conn: b }, None).unwrap();
    assert_eq!(third.recv().unwrap(), Err(ObjectError::Closed));
    assert_eq!(call(&hub, ta, send(b"4"), None), Err(ObjectError::Closed));
    assert_eq!(
        call(&hub, ta, Op::PipeRecv { conn: a }, None),
        Err(ObjectError::Closed)
    );
}

#[test]
fn lock_keeps_a_shared_counter_exact() {
    let hub = hub();
    let lock = open_lock(&hub, task(1, 0, 0), false);
    let value = handle(call(
        &hub,
        task(1, 0, 0),
        Op::ValueOpen {
            name: "n".into(),
            initial: Scalar::Int(0),
        },
        None,
    ));
    let threads: Vec<_> = (0..8u32)
        .map(|w| {
            let hub = hub.clone();
            thread::spawn(move || {
                let me = task(1, w, u64::from(w));
                for _ in 0..100 {
                    call(&hub, me, Op::LockAcquire { lock }, None).unwrap();
                    let Ok(Answer::Scalar(Scalar::Int(n))) =
                        call(&hub, me, Op::ValueGet { value }, None)
                    else {
                        panic!("not an int");
                    };
                    let new = Scalar::Int(n + 1);
                    call(&hub, me, Op::ValueSet { value, new }, None).unwrap();
                    call(&hub, me, Op::LockRelease { lock }, None).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = call(&hub, task(1, 0, 0), Op::ValueGet { value }, None);
    assert_eq!(total, Ok(Answer::Scalar(Scalar::Int(800))));
}

#[test]
fn lock_of_a_dead_worker_is_abandoned_and_free() {
    let hub = hub();
    let (holder, waiter, later) = (task(1, 1, 0), task(1, 2, 0), task(1, 3, 0));
    let lock = open_lock(&hub, holder, false);
    call(&hub, holder, Op::LockAcquire { lock }, None).unwrap();
    let waiting = start(&hub, waiter, Op::LockAcquire { lock }, None);
    assert_parked(&waiting);
    hub.worker_died(1, 1);
    assert_eq!(waiting.recv().unwrap(), Err(ObjectError::Abandoned));
    assert_eq!(
        call(&hub, later, Op::LockAcquire { lock }, SHORT),
        Ok(Answer::Unit)
    );
}

#[test]
fn lock_of_an_ended_task_passes_to_waiters_in_order() {
    let hub = hub();
    let holder = task(1, 1, 0);
    let lock = open_lock(&hub, holder, false);
    call(&hub, holder, Op::LockAcquire { lock }, None).unwrap();
    let waiters: Vec<_> = (2..5)
        .map(|w| {
            let rx = start(&hub, task(1, w, 0), Op::LockAcquire { lock }, None);
            assert_parked(&rx);
            rx
        })
        .collect();
    hub.task_ended(holder);
    for (w, rx) in (2..5).zip(&waiters) {
        assert_eq!(rx.recv().unwrap(), Ok(Answer::Unit));
        for later in &waiters[(w - 1) as usize..] {
            assert_parked(later);
        }
        call(&hub, task(1, w, 0), Op::LockRelease { lock }, None).unwrap();
    }
}

#[test]
fn reentrant_lock_counts_acquisitions() {
    let hub = hub();
    let (me, other) = (task(1, 0, 0), task(1, 1, 0));
    let plain = open_lock(&hub, me, false);
    call(&hub, me, Op::LockAcquire { lock: plain }, None).unwrap();
    let again = call(&hub, me, Op::LockAcquire { lock: plain }, None);
    assert!(matches!(again, Err(ObjectError::Denied(_))));
    let not_mine = call(&hub, other, Op::LockRelease { lock: plain }, None);
    assert!(matches!(not_mine, Err(ObjectError::Denied(_))));

    let lock = handle(call(
        &hub,
        me,
        Op::LockOpen {
            name: "r".into(),
            reentrant: true,
        },
        None,
    ));
    call(&hub, me, Op::LockAcquire { lock }, None).unwrap();
    call(&hub, me, Op::LockAcquire { lock }, None).unwrap();
    let waiting = start(&hub, other, Op::LockAcquire { lock }, None);
    call(&hub, me, Op::LockRelease { lock }, None).unwrap();
    assert_parked(&waiting);
    call(&hub, me, Op::LockRelease { lock }, None).unwrap();
    assert_eq!(waiting.recv().unwrap(), Ok(Answer::Unit));
    let third = call(&hub, me, Op::LockRelease { lock }, None);
    assert!(matches!(third, Err(ObjectError::Denied(_))));
}

#[test]
fn value_add_and_compare_and_swap() {
    let hub = hub();
    let me = task(1, 0, 0);
    let open = |name: &str, initial| {
        handle(call(
            &hub,
            me,
            Op::ValueOpen {
                name: name.into(),
                initial,
            },
            None,
        ))
    };
    let int = open("i", Scalar::Int(40));
    let float = open("f", Scalar::Float(1.5));
    let bytes = open("b", Scalar::Bytes(b"x".to_vec()));
    let add = |value, delta| call(&hub, me, Op::ValueAdd { value, delta }, None);
    assert_eq!(
        add(int, Scalar::Int(2)),
        Ok(Answer::Scalar(Scalar::Int(42)))
    );
    assert_eq!(
        add(float, Scalar::Float(1.0)),
        Ok(Answer::Scalar(Scalar::Float(2.5)))
    );
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
        Op::ValueSet {
            value: int,
            new: Scalar::Float(0.0),
        },
        None,
    );
    assert!(matches!(set, Err(ObjectError::Denied(_))));

    let cas = |expected, new| {
        call(
            &hub,
            me,
            Op::ValueCompareAndSwap {
                value: int,
                expected,
                new,
            },
            None,
        )
    };
    assert_eq!(
        cas(Scalar::Int(41), Scalar::Int(0)),
        Ok(Answer::Bool(false))
    );
    assert_eq!(cas(Scalar::Int(42), Scalar::Int(7)), Ok(Answer::Bool(true)));
    let get = call(&hub, me, Op::ValueGet { value: int }, None);
    assert_eq!(get, Ok(Answer::Scalar(Scalar::Int(7))));
    // Opening it again keeps the value; with another kind is denied.
    assert_eq!(open("i", Scalar::Int(0)), int);
    let other = call(
        &hub,
        me,
        Op::ValueOpen {
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
            Op::ArrayOpen {
                name: "a".into(),
                len,
                initial: Scalar::Int(0),
            },
            None,
        )
    };
    let array = handle(open(3));
    assert!(matches!(open(4), Err(ObjectError::Denied(_))));
    call(
        &hub,
        me,
        Op::ArraySet {
            array,
            index: 1,
            new: Scalar::Int(5),
        },
        None,
    )
    .unwrap();
    let added = call(
        &hub,
        me,
        Op::ArrayAdd {
            array,
            index: 1,
            delta: Scalar::Int(2),
        },
        None,
    );
    assert_eq!(added, Ok(Answer::Scalar(Scalar::Int(7))));
    assert_eq!(
        call(&hub, me, Op::ArrayGet { array, index: 0 }, None),
        Ok(Answer::Scalar(Scalar::Int(0)))
    );
    assert_eq!(
        call(&hub, me, Op::ArrayLen { array }, None),
        Ok(Answer::Count(3))
    );
    let outside = call(&hub, me, Op::ArrayGet { array, index: 3 }, None);
    assert!(matches!(outside, Err(ObjectError::Denied(_))));
}

#[test]
fn dict_entries() {
    let hub = hub();
    let me = task(1, 0, 0);
    let dict = handle(call(&hub, me, Op::DictOpen { name: "d".into() }, None));
    for key in ["b", "a"] {
        let set = Op::DictSet {
            dict,
            key: key.into(),
            value: key.as_bytes().to_vec(),
        };
        call(&hub, me, set, None).unwrap();
    }
    let get = call(
        &hub,
        me,
        Op::DictGet {
            dict,
            key: "a".into(),
        },
        None,
    );
    assert_eq!(get, Ok(Answer::MaybeBytes(Some(b"a".to_vec()))));
    let keys = call(&hub, me, Op::DictKeys { dict }, None);
    assert_eq!(keys, Ok(Answer::Keys(vec!["a".into(), "b".into()])));
    let removed = call(
        &hub,
        me,
        Op::DictRemove {
            dict,
            key: "a".into(),
        },
        None,
    );
    assert_eq!(removed, Ok(Answer::MaybeBytes(Some(b"a".to_vec()))));
    let missing = call(
        &hub,
        me,
        Op::DictGet {
            dict,
            key: "a".into(),
        },
        None,
    );
    assert_eq!(missing, Ok(Answer::MaybeBytes(None)));
    assert_eq!(
        call(&hub, me, Op::DictLen { dict }, None),
        Ok(Answer::Count(1))
    );
}

#[test]
fn event_wakes_every_waiter() {
    let hub = hub();
    let me = task(1, 0, 0);
    let event = handle(call(&hub, me, Op::EventOpen { name: "e".into() }, None));
    assert_eq!(
        call(&hub, me, Op::EventWait { event }, SHORT),
        Err(ObjectError::Timeout)
    );
    let waiters: Vec<_> = (1..4)
        .map(|w| start(&hub, task(1, w, 0), Op::EventWait { event }, None))
        .collect();
    waiters.iter().for_each(assert_parked);
    assert_eq!(
        call(&hub, me, Op::EventIsSet { event }, None),
        Ok(Answer::Bool(false))
    );
    call(&hub, me, Op::EventSet { event }, None).unwrap();
    for rx in waiters {
        assert_eq!(rx.recv().unwrap(), Ok(Answer::Unit));
    }
    assert_eq!(
        call(&hub, me, Op::EventWait { event }, None),
        Ok(Answer::Unit)
    );
    call(&hub, me, Op::EventClear { event }, None).unwrap();
    assert_eq!(
        call(&hub, me, Op::EventIsSet { event }, None),
        Ok(Answer::Bool(false))
    );
}

#[test]
fn semaphore_counts_permits() {
    let hub = hub();
    let me = task(1, 0, 0);
    let semaphore = handle(call(
        &hub,
        me,
        Op::SemaphoreOpen {
            name: "s".into(),
            initial: 2,
        },
        None,
    ));
    let acquire = Op::SemaphoreAcquire { semaphore };
    for _ in 0..2 {
        call(&hub, me, Op::SemaphoreAcquire { semaphore }, None).unwrap();
    }
    assert_eq!(call(&hub, me, acquire, SHORT), Err(ObjectError::Timeout));
    let waiting = start(
        &hub,
        task(1, 1, 0),
        Op::SemaphoreAcquire { semaphore },
        None,
    );
    assert_parked(&waiting);
    call(&hub, me, Op::SemaphoreRelease { semaphore }, None).unwrap();
    assert_eq!(waiting.recv().unwrap(), Ok(Answer::Unit));
    let other = call(
        &hub,
        me,
        Op::SemaphoreOpen {
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
    let barrier = handle(call(
        &hub,
        task(1, 0, 0),
        Op::BarrierOpen {
            name: "b".into(),
            parties: 3,
        },
        None,
    ));
    for _round in 0..2 {
        let first = start(&hub, task(1, 0, 0), Op::BarrierWait { barrier }, None);
        let second = start(&hub, task(1, 1, 0), Op::BarrierWait { barrier }, None);
        assert_parked(&first);
        assert_parked(&second);
        let last = call(&hub, task(1, 2, 0), Op::BarrierWait { barrier }, None);
        assert_eq!(last, Ok(Answer::Count(2)));
        assert_eq!(first.recv().unwrap(), Ok(Answer::Count(0)));
        assert_eq!(second.recv().unwrap(), Ok(Answer::Count(1)));
    }
    // Threads meeting at a barrier get every index once.
    let threads: Vec<_> = (0..3)
        .map(|w| {
            let hub = hub.clone();
            thread::spawn(move || call(&hub, task(1, w, 0), Op::BarrierWait { barrier }, None))
        })
        .collect();
    let indices: HashSet<u32> = threads
        .into_iter()
        .map(|t| match t.join().unwrap() {
            Ok(Answer::Count(i)) => i,
            other => panic!("expected an index, got {other:?}"),
        })
        .collect();
    assert_eq!(indices, HashSet::from([0, 1, 2]));
}

#[test]
fn barrier_breaks_when_a_waiting_worker_dies() {
    let hub = hub();
    let barrier = handle(call(
        &hub,
        task(1, 0, 0),
        Op::BarrierOpen {
            name: "b".into(),
            parties: 3,
        },
        None,
    ));
    let survivor = start(&hub, task(1, 1, 0), Op::BarrierWait { barrier }, None);
    let dying = start(&hub, task(1, 2, 0), Op::BarrierWait { barrier }, None);
    assert_parked(&survivor);
    hub.worker_died(1, 2);
    assert_eq!(survivor.recv().unwrap(), Err(ObjectError::Abandoned));
    assert_eq!(dying.recv().unwrap(), Err(ObjectError::Abandoned));
    // The next round starts empty.
    let waiting = start(&hub, task(1, 0, 0), Op::BarrierWait { barrier }, None);
    assert_eq!(
        call(&hub, task(1, 0, 0), Op::BarrierWait { barrier }, SHORT),
        Err(ObjectError::Timeout)
    );
    assert_parked(&waiting);
}

#[test]
fn handles_and_names_are_scoped_to_their_job() {
    let hub = hub();
    let (one, two) = (task(1, 0, 0), task(2, 0, 0));
    let queue = open_queue(&hub, one, "q", 0);
    let foreign = call(&hub, two, Op::QueueLen { queue }, None);
    assert!(matches!(foreign, Err(ObjectError::Denied(_))));
    let theirs = open_queue(&hub, two, "q", 0);
    assert_ne!(queue, theirs);
    call(
        &hub,
        one,
        Op::QueuePut {
            queue,
            item: b"x".to_vec(),
        },
        None,
    )
    .unwrap();
    assert_eq!(
        call(&hub, two, Op::QueueLen { queue: theirs }, None),
        Ok(Answer::Count(0))
    );
    // A handle of another kind, an open of another kind or shape, or a
    // name that is too long, is denied.
    assert!(matches!(
        call(&hub, one, Op::LockAcquire { lock: queue }, None),
        Err(ObjectError::Denied(_))
    ));
    let as_lock = call(
        &hub,
        one,
        Op::LockOpen {
            name: "q".into(),
            reentrant: false,
        },
        None,
    );
    assert!(matches!(as_lock, Err(ObjectError::Denied(_))));
    let resized = call(
        &hub,
        one,
        Op::QueueOpen {
            name: "q".into(),
            capacity: 3,
        },
        None,
    );
    assert!(matches!(resized, Err(ObjectError::Denied(_))));
    let long = call(
        &hub,
        one,
        Op::DictOpen {
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
        Op::QueuePut {
            queue,
            item: big.clone(),
        },
        None,
    );
    assert_eq!(put, Err(ObjectError::TooLarge(16)));
    assert_eq!(
        call(&hub, me, Op::QueueLen { queue }, None),
        Ok(Answer::Count(0))
    );
    call(
        &hub,
        me,
        Op::QueuePut {
            queue,
            item: vec![0; 16],
        },
        None,
    )
    .unwrap();
    let dict = handle(call(&hub, me, Op::DictOpen { name: "d".into() }, None));
    let set = call(
        &hub,
        me,
        Op::DictSet {
            dict,
            key: "k".into(),
            value: vec![0; 16],
        },
        None,
    );
    assert_eq!(set, Err(ObjectError::TooLarge(16)));
    let value = call(
        &hub,
        me,
        Op::ValueOpen {
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
    let put = |item: Vec<u8>, timeout| call(&hub, me, Op::QueuePut { queue, item }, timeout);
    put(vec![0; 40], None).unwrap();
    // A waiting put holds its item too.
    let waiting = start(
        &hub,
        me,
        Op::QueuePut {
            queue,
            item: vec![1; 40],
        },
        SHORT,
    );
    assert!(matches!(
        put(vec![2; 40], None),
        Err(ObjectError::Denied(_))
    ));
    assert_eq!(waiting.recv().unwrap(), Err(ObjectError::Timeout));
    // Its bytes came back when it timed out, and so do an item's once taken.
    assert_eq!(
        put(vec![2; 40], Some(Duration::ZERO)),
        Err(ObjectError::Timeout)
    );
    call(&hub, me, Op::QueueGet { queue }, None).unwrap();
    let dict = handle(call(&hub, me, Op::DictOpen { name: "d".into() }, None));
    let set = |key: &str, len| {
        call(
            &hub,
            me,
            Op::DictSet {
                dict,
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
        Op::QueuePut {
            queue: theirs,
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
    let fourth = call(&hub, me, Op::EventOpen { name: "d".into() }, None);
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
        Op::QueueGet { queue },
        Some(Duration::from_secs(60)),
    );
    assert_parked(&getter);
    hub.drop_job(1);
    assert_eq!(getter.recv().unwrap(), Err(ObjectError::Closed));
    assert!(matches!(
        call(&hub, me, Op::QueueLen { queue }, None),
        Err(ObjectError::Denied(_))
    ));
}

#[test]
fn dropping_the_hub_answers_parked_requests_closed() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let getter = start(&hub, me, Op::QueueGet { queue }, None);
    assert_parked(&getter);
    drop(hub);
    assert_eq!(getter.recv().unwrap(), Err(ObjectError::Closed));
}

#[test]
fn host_handles_talk_with_tasks() {
    let hub = hub();
    let queue = Queue::open(&hub, 1, "q", 0).unwrap();
    let id = handle(call(
        &hub,
        task(1, 0, 0),
        Op::QueueOpen {
            name: "q".into(),
            capacity: 0,
        },
        None,
    ));
    call(
        &hub,
        task(1, 0, 0),
        Op::QueuePut {
            queue: id,
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
    let b = handle(open_end(&hub, task(1, 0, 0), End::B));
    conn.send(b"ping", None).unwrap();
    assert_eq!(
        bytes(call(&hub, task(1, 0, 0), Op::PipeRecv { conn: b }, None)),
        b"ping"
    );
    drop(conn);
    assert_eq!(
        call(&hub, task(1, 0, 0), Op::PipeRecv { conn: b }, None),
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
    let op = Op::ValueCompareAndSwap {
        value: 7,
        expected: Scalar::Int(1),
        new: Scalar::Bytes(vec![2]),
    };
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
