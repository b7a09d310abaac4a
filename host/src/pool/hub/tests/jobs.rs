//! What holds for every kind: scoping to a job, limits on names, objects and bytes, dropping a job or the hub, the host's handles, the wire.

use super::*;
use crate::pool::hub::budget::{ITEM_OVERHEAD, key_cost};

#[test]
fn handles_and_names_are_scoped_to_their_job() {
    let hub = hub();
    let (one, two) = (task(1, 0, 0), task(2, 0, 0));
    let queue = open_queue(&hub, one, "q", 0);
    let foreign = call(&hub, two, queue::Len { handle: queue }, None);
    assert!(matches!(foreign, Err(ObjectError::Denied(_))));
    let theirs = open_queue(&hub, two, "q", 0);
    assert_ne!(queue, theirs);
    put(&hub, one, queue, b"x".to_vec(), None).unwrap();
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
    assert_eq!(
        put(&hub, me, queue, big.clone(), None),
        Err(ObjectError::TooLarge(16))
    );
    assert_eq!(call(&hub, me, queue::Len { handle: queue }, None), Ok(0));
    put(&hub, me, queue, vec![0; 16], None).unwrap();
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
    // Room for two items of 40 bytes, not for one and a dict entry "k" of
    // 60: each is charged with what holding it costs beyond its bytes.
    let limits = HubLimits {
        max_message: 64,
        max_job_bytes: 2 * ITEM_OVERHEAD + key_cost("k") + 60,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 1);
    put(&hub, me, queue, vec![0; 40], None).unwrap();
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
        put(&hub, me, queue, vec![2; 40], None),
        Err(ObjectError::Denied(_))
    ));
    assert_eq!(waiting.wait(), Err(ObjectError::Timeout));
    // Its bytes came back when it timed out, and so do an item's once taken.
    assert_eq!(
        put(&hub, me, queue, vec![2; 40], Some(Duration::ZERO)),
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
        put(&hub, me, queue, vec![0; 40], None),
        Err(ObjectError::Denied(_))
    ));
    // Removing the entry gives its bytes back.
    let remove = dict::Remove {
        handle: dict,
        key: "k".into(),
    };
    call(&hub, me, remove, None).unwrap();
    put(&hub, me, queue, vec![0; 40], None).unwrap();
    // Another job has a budget of its own.
    let theirs = open_queue(&hub, task(2, 0, 0), "q", 0);
    let item = vec![0; 60];
    put(&hub, task(2, 0, 0), theirs, item, None).unwrap();
}

#[test]
fn empty_items_and_entries_are_charged_what_holding_them_costs() {
    let limits = HubLimits {
        max_job_bytes: 10 * ITEM_OVERHEAD,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let queue = open_queue(&hub, me, "q", 0);
    // Empty items are not free: ten fill the budget.
    for _ in 0..10 {
        put(&hub, me, queue, Vec::new(), None).unwrap();
    }
    assert!(matches!(
        put(&hub, me, queue, Vec::new(), None),
        Err(ObjectError::Denied(_))
    ));
    // Taking one gives its charge back; a dict entry costs its key too.
    call(&hub, me, queue::Get { handle: queue }, None).unwrap();
    let dict = call(&hub, me, dict::Open { name: "d".into() }, None).unwrap();
    let set = dict::Set {
        handle: dict,
        key: "k".into(),
        value: Vec::new(),
    };
    assert!(matches!(
        call(&hub, me, set, None),
        Err(ObjectError::Denied(_))
    ));
    for _ in 0..2 {
        call(&hub, me, queue::Get { handle: queue }, None).unwrap();
    }
    let set = dict::Set {
        handle: dict,
        key: "k".into(),
        value: Vec::new(),
    };
    assert_eq!(call(&hub, me, set, None), Ok(()));
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
    put(&hub, task(1, 0, 0), id, b"hi".to_vec(), None).unwrap();
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
