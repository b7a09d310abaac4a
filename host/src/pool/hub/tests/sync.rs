//! Events, semaphores and barriers.

use super::*;

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
    let barrier = open_barrier(&hub, task(1, 0, 0), 3);
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
    let barrier = open_barrier(&hub, task(1, 0, 0), 3);
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
