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

#[test]
fn a_put_answers_the_room_left() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 3);
    let room = |item: &[u8]| {
        let item = item.to_vec();
        call(
            &hub,
            me,
            queue::Put {
                handle: queue,
                item,
            },
            None,
        )
    };
    assert_eq!(room(b"a"), Ok(2));
    assert_eq!(room(b"b"), Ok(1));
    assert_eq!(room(b"c"), Ok(0));
}

#[test]
fn get_many_takes_the_items_ahead_within_its_bounds() {
    let hub = hub();
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    for n in 0..100u8 {
        put(&hub, me, queue, vec![n], None).unwrap();
    }
    let many = |most| {
        call(
            &hub,
            me,
            queue::GetMany {
                handle: queue,
                most,
            },
            None,
        )
    };
    // At most its count, and never more than the hub's own bound.
    assert_eq!(many(3), Ok(vec![vec![0], vec![1], vec![2]]));
    let next = many(1000).unwrap();
    assert_eq!(next.len(), MAX_GET_MANY as usize);
    assert_eq!(next[0], vec![3]);
    // Items of 20 KiB: three fit in 64 KiB, not four.
    let other = open_queue(&hub, me, "big", 0);
    for n in 0..5u8 {
        put(&hub, me, other, vec![n; 20 << 10], None).unwrap();
    }
    let many = |most| {
        call(
            &hub,
            me,
            queue::GetMany {
                handle: other,
                most,
            },
            None,
        )
    };
    assert_eq!(many(10).unwrap().len(), 3);
    // An item larger than the bound comes alone.
    put(&hub, me, other, vec![9; 100 << 10], None).unwrap();
    assert_eq!(many(10).unwrap().len(), 2);
    assert_eq!(many(10), Ok(vec![vec![9; 100 << 10]]));
}

#[test]
fn items_put_back_come_first_and_reach_a_waiting_getter() {
    let hub = hub();
    let (taker, other) = (task(1, 0, 0), task(1, 1, 0));
    let queue = open_queue(&hub, taker, "q", 0);
    for item in [b"a", b"b", b"c"] {
        put(&hub, taker, queue, item.to_vec(), None).unwrap();
    }
    let taken = call(
        &hub,
        taker,
        queue::GetMany {
            handle: queue,
            most: 3,
        },
        None,
    )
    .unwrap();
    assert_eq!(taken, [b"a", b"b", b"c"]);
    // Another task waits on the queue, drained; the taker used `a` only.
    let getter = start(&hub, other, queue::Get { handle: queue }, None);
    assert_parked(&getter);
    put(&hub, taker, queue, b"d".to_vec(), None).unwrap();
    assert_eq!(getter.wait().unwrap(), b"d");
    let items = vec![b"b".to_vec(), b"c".to_vec()];
    call(
        &hub,
        taker,
        queue::PutBack {
            handle: queue,
            items,
        },
        None,
    )
    .unwrap();
    put(&hub, taker, queue, b"e".to_vec(), None).unwrap();
    let order: Vec<_> = (0..3)
        .map(|_| call(&hub, other, queue::Get { handle: queue }, None).unwrap())
        .collect();
    assert_eq!(order, [b"b", b"c", b"e"]);
    // Put back to a waiting getter.
    put(&hub, taker, queue, b"f".to_vec(), None).unwrap();
    put(&hub, taker, queue, b"g".to_vec(), None).unwrap();
    let many = queue::GetMany {
        handle: queue,
        most: 3,
    };
    assert_eq!(call(&hub, taker, many, None).unwrap(), [b"f", b"g"]);
    let getter = start(&hub, other, queue::Get { handle: queue }, None);
    assert_parked(&getter);
    let items = vec![b"g".to_vec()];
    call(
        &hub,
        taker,
        queue::PutBack {
            handle: queue,
            items,
        },
        None,
    )
    .unwrap();
    assert_eq!(getter.wait().unwrap(), b"g");
}

#[test]
fn a_closed_queue_is_drained_only_once_no_task_holds_items_taken_ahead() {
    let hub = hub();
    let (taker, other) = (task(1, 0, 0), task(1, 1, 0));
    let queue = open_queue(&hub, taker, "q", 0);
    for item in [b"a", b"b", b"c", b"d"] {
        put(&hub, taker, queue, item.to_vec(), None).unwrap();
    }
    call(
        &hub,
        taker,
        queue::GetMany {
            handle: queue,
            most: 4,
        },
        None,
    )
    .unwrap();
    call(&hub, taker, queue::Close { handle: queue }, None).unwrap();
    // The taker may put `b`, `c`, `d` back: the getter waits for them.
    let getter = start(&hub, other, queue::Get { handle: queue }, None);
    assert_parked(&getter);
    let items = vec![b"c".to_vec(), b"d".to_vec()];
    call(
        &hub,
        taker,
        queue::PutBack {
            handle: queue,
            items,
        },
        None,
    )
    .unwrap();
    assert_eq!(getter.wait().unwrap(), b"c");
    assert_eq!(
        call(&hub, other, queue::Get { handle: queue }, None).unwrap(),
        b"d"
    );
    assert_eq!(
        call(&hub, other, queue::Get { handle: queue }, None),
        Err(ObjectError::Closed)
    );
    // A taker that uses its items (its next get says so) or ends lets the
    // waiting getters see the queue drained.
    for end_by_get in [true, false] {
        let queue = open_queue(&hub, taker, if end_by_get { "q2" } else { "q3" }, 0);
        for item in [b"a", b"b"] {
            put(&hub, taker, queue, item.to_vec(), None).unwrap();
        }
        call(
            &hub,
            taker,
            queue::GetMany {
                handle: queue,
                most: 2,
            },
            None,
        )
        .unwrap();
        call(&hub, taker, queue::Close { handle: queue }, None).unwrap();
        let getter = start(&hub, other, queue::Get { handle: queue }, None);
        assert_parked(&getter);
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
    let back = |caller, items: Vec<Vec<u8>>| {
        call(
            &hub,
            caller,
            queue::PutBack {
                handle: queue,
                items,
            },
            None,
        )
    };
    assert!(matches!(
        back(taker, vec![b"x".to_vec()]),
        Err(ObjectError::Denied(_))
    ));
    for item in [b"a", b"b"] {
        put(&hub, taker, queue, item.to_vec(), None).unwrap();
    }
    call(
        &hub,
        taker,
        queue::GetMany {
            handle: queue,
            most: 2,
        },
        None,
    )
    .unwrap();
    assert!(matches!(
        back(other, vec![b"b".to_vec()]),
        Err(ObjectError::Denied(_))
    ));
    let too_many = vec![Vec::new(); MAX_GET_MANY as usize];
    assert!(matches!(back(taker, too_many), Err(ObjectError::Denied(_))));
    assert_eq!(back(taker, vec![b"b".to_vec()]), Ok(()));
    // Once put back, they are no longer the task's to put back.
    assert!(matches!(
        back(taker, vec![b"b".to_vec()]),
        Err(ObjectError::Denied(_))
    ));
    assert_eq!(call(&hub, other, queue::Len { handle: queue }, None), Ok(1));
}
