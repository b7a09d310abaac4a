//! Locks and conditions: exact counters, dead and ended holders, re-entrance, try-acquire, waits and notifies.

use std::sync::atomic::Ordering::SeqCst;

use super::*;
use crate::protocol::shared_memory::{self, Release, Take};

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

/// A task takes the lock in its cell, as a worker does, spinning a little
/// and then waiting in the hub; another task acquires through the hub
/// only. Neither ever holds the lock while the other does, and every
/// release finds the lock held by its task: the hub never hands over, or
/// gives a waiter, a lock the other task took in its cell meanwhile.
#[test]
fn tasks_in_the_cell_and_through_the_hub_never_hold_the_lock_at_once() {
    let hub = hub();
    let (fast, slow) = (task(1, 1, 0), task(1, 2, 0));
    let lock = open_lock(&hub, fast, false);
    let index = call(&hub, fast, lock::Locate { handle: lock }, None).unwrap();
    let arena = hub.shared_memory(1).expect("a local hub has the memory");
    let inside = std::sync::atomic::AtomicBool::new(false);
    let enter = || assert!(!inside.swap(true, SeqCst), "two tasks hold the lock");
    let leave = || inside.store(false, SeqCst);
    thread::scope(|s| {
        s.spawn(|| {
            let cell = arena.cell(index).unwrap();
            let tag = shared_memory::holder(fast.worker, fast.task);
            for _ in 0..20_000 {
                if !(0..50).any(|_| cell.take(tag, false) == Take::Taken) {
                    call(&hub, fast, lock::Acquire { handle: lock }, None).unwrap();
                }
                enter();
                leave();
                match cell.release(tag) {
                    Release::Released => {}
                    Release::ToHub => {
                        call(&hub, fast, lock::Release { handle: lock }, None).unwrap();
                    }
                    Release::NotHeld => panic!("the lock was taken from its holder"),
                }
            }
        });
        s.spawn(|| {
            for _ in 0..20_000 {
                call(&hub, slow, lock::Acquire { handle: lock }, None).unwrap();
                enter();
                leave();
                call(&hub, slow, lock::Release { handle: lock }, None).unwrap();
            }
        });
    });
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
    let why = r#""c" is a condition on the lock "lock", not a condition on the lock "other""#;
    assert_eq!(elsewhere, Err(ObjectError::Denied(why.into())));
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
