//! Queues: delivery, order, timeouts, closing, joins.

use super::*;
use crate::protocol::MAX_GET_MANY;

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
                    let put = put(&hub, task(1, p, 0), queue, item, None);
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
        put(&hub, me, queue, item, None).unwrap();
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
    put(&hub, me, queue, b"x".to_vec(), None).unwrap();
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
        put(&hub, me, queue, item.to_vec(), None).unwrap();
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
    put(&hub, me, queue, b"first".to_vec(), None).unwrap();
    assert_eq!(
        put(&hub, me, queue, b"late".to_vec(), SHORT),
        Err(ObjectError::Timeout)
    );
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
    // Its answer is the room left once it is in: none.
    assert_eq!(waiting.wait(), Ok(0));
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
    put(&hub, me, queue, b"x".to_vec(), None).unwrap();
    assert_eq!(patient.wait().unwrap(), b"x");
}

#[test]
fn closed_queue_refuses_puts_and_drains() {
    let hub = hub();
    let me = task(1, 0, 0);
    let full = open_queue(&hub, me, "full", 1);
    put(&hub, me, full, b"kept".to_vec(), None).unwrap();
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
    assert_eq!(
        put(&hub, me, full, b"y".to_vec(), None),
        Err(ObjectError::Closed)
    );
    assert_eq!(
        call(&hub, me, queue::Get { handle: full }, None).unwrap(),
        b"kept"
    );
    assert_eq!(
        call(&hub, me, queue::Get { handle: full }, None),
        Err(ObjectError::Closed)
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
        put(&hub, me, queue, vec![n], None).unwrap();
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
        // Each answers the room left: one slot after the first, which
        // went to the getter, none after the second.
        if n < 2 {
            assert_eq!(put.wait(), Ok(1 - u32::from(n)));
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
    let refused = put(&hub, producer, queue, vec![9], None);
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
    put(&hub, producer, queue, vec![1], None).unwrap();
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

/// Puts each of `items` on `queue`, as `caller`.
fn fill(hub: &Hub, caller: Caller, queue: queue::Handle, items: &[&[u8]]) {
    for item in items {
        put(hub, caller, queue, item.to_vec(), None).unwrap();
    }
}

/// A `get-many` of at most `most` items, as `caller`.
fn get_many(
    hub: &Hub,
    caller: Caller,
    queue: queue::Handle,
    most: u32,
) -> Result<Vec<Vec<u8>>, ObjectError> {
    call(
        hub,
        caller,
        queue::GetMany {
            handle: queue,
            most,
        },
        None,
    )
}

/// Puts `items` back, as `caller`.
fn put_back(
    hub: &Hub,
    caller: Caller,
    queue: queue::Handle,
    items: &[&[u8]],
) -> Result<(), ObjectError> {
    let items = items.iter().map(|item| item.to_vec()).collect();
    call(
        hub,
        caller,
        queue::PutBack {
            handle: queue,
            items,
        },
        None,
    )
}

/// A `get` of `caller`, which must wait.
fn parked_get(hub: &Hub, caller: Caller, queue: queue::Handle) -> Pending<queue::Get> {
    let getter = start(hub, caller, queue::Get { handle: queue }, None);
    assert_parked(&getter);
    getter
}

#[test]
fn a_put_answers_the_room_left() {
    let me = task(1, 0, 0);
    let room = |hub: &Hub, queue, size| {
        let item = vec![0; size];
        call(
            hub,
            me,
            queue::Put {
                handle: queue,
                item,
            },
            None,
        )
    };
    let hub = hub();
    let queue = open_queue(&hub, me, "q", 3);
    assert_eq!(room(&hub, queue, 1), Ok(2));
    assert_eq!(room(&hub, queue, 1), Ok(1));
    assert_eq!(room(&hub, queue, 1), Ok(0));
    // No more than half the job's budget would hold at 64 KiB each.
    let hub = Hub::new(HubLimits {
        max_job_bytes: 1 << 20,
        ..HubLimits::default()
    });
    let queue = open_queue(&hub, me, "q", 0);
    let expected = "(1 MiB - 1128 bytes) / 2 / (64 KiB + 128 bytes)";
    assert_eq!(room(&hub, queue, 1000), Ok(7), "{expected}");
}

#[test]
fn get_many_takes_the_items_ahead_within_its_bounds() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    let numbers: Vec<[u8; 1]> = (0..100u8).map(|n| [n]).collect();
    fill(
        &hub,
        me,
        queue,
        &numbers.iter().map(|n| &n[..]).collect::<Vec<_>>(),
    );
    // At most its count, and never more than the hub's own bound.
    assert_eq!(
        get_many(&hub, me, queue, 3),
        Ok(vec![vec![0], vec![1], vec![2]])
    );
    let next = get_many(&hub, me, queue, 1000).unwrap();
    assert_eq!(next.len(), MAX_GET_MANY as usize);
    assert_eq!(next[0], vec![3]);
    // Items of 20 KiB: three fit in 64 KiB, not four.
    let other = open_queue(&hub, me, "big", 0);
    let items: Vec<Vec<u8>> = (0..5u8).map(|n| vec![n; 20 << 10]).collect();
    fill(
        &hub,
        me,
        other,
        &items.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    );
    assert_eq!(get_many(&hub, me, other, 10).unwrap().len(), 3);
    // An item larger than the bound comes alone.
    fill(&hub, me, other, &[&[9; 100 << 10]]);
    assert_eq!(get_many(&hub, me, other, 10).unwrap().len(), 2);
    assert_eq!(get_many(&hub, me, other, 10), Ok(vec![vec![9; 100 << 10]]));
}

#[test]
fn items_put_back_come_first_and_reach_a_waiting_getter() {
    let hub = hub();
    let (taker, other) = (task(1, 0, 0), task(1, 1, 0));
    let queue = open_queue(&hub, taker, "q", 0);
    fill(&hub, taker, queue, &[b"a", b"b", b"c"]);
    assert_eq!(get_many(&hub, taker, queue, 3).unwrap(), [b"a", b"b", b"c"]);
    // Another task waits on the queue, drained; the taker used `a` only.
    let getter = parked_get(&hub, other, queue);
    fill(&hub, taker, queue, &[b"d"]);
    assert_eq!(getter.wait().unwrap(), b"d");
    put_back(&hub, taker, queue, &[b"b", b"c"]).unwrap();
    fill(&hub, taker, queue, &[b"e"]);
    let order: Vec<_> = (0..3)
        .map(|_| call(&hub, other, queue::Get { handle: queue }, None).unwrap())
        .collect();
    assert_eq!(order, [b"b", b"c", b"e"]);
    // Put back to a waiting getter.
    fill(&hub, taker, queue, &[b"f", b"g"]);
    assert_eq!(get_many(&hub, taker, queue, 3).unwrap(), [b"f", b"g"]);
    let getter = parked_get(&hub, other, queue);
    put_back(&hub, taker, queue, &[b"g"]).unwrap();
    assert_eq!(getter.wait().unwrap(), b"g");
}

#[test]
fn a_closed_queue_is_drained_only_once_no_task_holds_items_taken_ahead() {
    let hub = hub();
    let (taker, other) = (task(1, 0, 0), task(1, 1, 0));
    let close = |queue| call(&hub, taker, queue::Close { handle: queue }, None).unwrap();
    let queue = open_queue(&hub, taker, "q", 0);
    fill(&hub, taker, queue, &[b"a", b"b", b"c", b"d"]);
    get_many(&hub, taker, queue, 4).unwrap();
    close(queue);
    // The taker may put `b`, `c`, `d` back: the getter waits for them.
    let getter = parked_get(&hub, other, queue);
    put_back(&hub, taker, queue, &[b"c", b"d"]).unwrap();
    assert_eq!(getter.wait().unwrap(), b"c");
    let get = || call(&hub, other, queue::Get { handle: queue }, None);
    assert_eq!(get().unwrap(), b"d");
    assert_eq!(get(), Err(ObjectError::Closed));
    // A taker that uses its items (its next get says so) or ends lets the
    // waiting getters see the queue drained.
    for (name, end_by_get) in [("q2", true), ("q3", false)] {
        let queue = open_queue(&hub, taker, name, 0);
        fill(&hub, taker, queue, &[b"a", b"b"]);
        get_many(&hub, taker, queue, 2).unwrap();
        close(queue);
        let getter = parked_get(&hub, other, queue);
        match end_by_get {
            true => assert_eq!(
                call(&hub, taker, queue::Get { handle: queue }, None),
                Err(ObjectError::Closed)
            ),
            false => hub.task_ended(taker),
        }
        assert_eq!(getter.wait(), Err(ObjectError::Closed));
    }
}

#[test]
fn only_items_taken_ahead_may_be_put_back() {
    let hub = hub();
    let (taker, other) = (task(1, 0, 0), task(1, 1, 0));
    let queue = open_queue(&hub, taker, "q", 0);
    let denied = |result| matches!(result, Err(ObjectError::Denied(_)));
    assert!(denied(put_back(&hub, taker, queue, &[b"x"])));
    fill(&hub, taker, queue, &[b"a", b"b"]);
    get_many(&hub, taker, queue, 2).unwrap();
    assert!(denied(put_back(&hub, other, queue, &[b"b"])));
    let too_many = vec![&b""[..]; MAX_GET_MANY as usize];
    assert!(denied(put_back(&hub, taker, queue, &too_many)));
    assert_eq!(put_back(&hub, taker, queue, &[b"b"]), Ok(()));
    // Once put back, they are no longer the task's to put back.
    assert!(denied(put_back(&hub, taker, queue, &[b"b"])));
    assert_eq!(call(&hub, other, queue::Len { handle: queue }, None), Ok(1));
}
