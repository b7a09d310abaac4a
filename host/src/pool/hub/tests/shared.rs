//! Values, arrays, dicts and lists: their operations and limits.

use super::*;
use crate::pool::hub::budget::{ITEM_OVERHEAD, key_cost};

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
    let keys = dict::Keys {
        handle: dict,
        after: None,
    };
    assert_eq!(call(&hub, me, keys, None), Ok(vec!["a".into(), "b".into()]));
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
    let dict = DictOf::open(&hub, me, "d");
    assert_eq!(dict.setdefault("k", b"first"), Ok(b"first".to_vec()));
    assert_eq!(dict.setdefault("k", b"second"), Ok(b"first".to_vec()));
    assert_eq!(dict.cas("k", Some(b"other"), Some(b"new")), Ok(false));
    assert_eq!(dict.cas("k", None, Some(b"new")), Ok(false), "k is present");
    assert_eq!(dict.get("k"), Ok(Some(b"first".to_vec())));
    assert_eq!(dict.cas("k", Some(b"first"), Some(b"new")), Ok(true));
    assert_eq!(dict.get("k"), Ok(Some(b"new".to_vec())));
    assert_eq!(dict.cas("k", Some(b"new"), None), Ok(true));
    assert_eq!(dict.get("k"), Ok(None));
    assert_eq!(dict.cas("k", None, Some(b"back")), Ok(true));
    assert_eq!(dict.get("k"), Ok(Some(b"back".to_vec())));
}

#[test]
fn dict_updates_within_the_limits() {
    let limits = HubLimits {
        max_message: 16,
        max_queued_items: 1,
        // 24 bytes of keys and values, and two entries' overheads.
        max_job_bytes: 24 + 2 * (ITEM_OVERHEAD + key_cost("")),
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let dict = DictOf::open(&hub, me, "d");
    // Key and value together are one message.
    assert_eq!(
        dict.setdefault("k", &[0; 16]),
        Err(ObjectError::TooLarge(16))
    );
    assert_eq!(
        dict.cas("k", None, Some(&[0; 16])),
        Err(ObjectError::TooLarge(16))
    );
    assert_eq!(dict.setdefault("k", &[1; 10]), Ok(vec![1; 10]));
    // One entry at most.
    let full = dict.setdefault("j", b"x");
    assert!(matches!(full, Err(ObjectError::Denied(_))), "{full:?}");
    let full = dict.cas("j", None, Some(b"x"));
    assert!(matches!(full, Err(ObjectError::Denied(_))), "{full:?}");
    // 11 bytes held; replacing the value holds the new one before the old
    // one goes, so 11 + 14 is over the budget of 24.
    let over = dict.cas("k", Some(&[1; 10]), Some(&[2; 13]));
    assert!(matches!(over, Err(ObjectError::Denied(_))), "{over:?}");
    assert_eq!(dict.cas("k", Some(&[1; 10]), Some(&[2; 12])), Ok(true));
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
        // 12 bytes, and three items' overheads.
        max_job_bytes: 12 + 3 * ITEM_OVERHEAD,
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
fn values_and_arrays_count_against_the_job_budget() {
    let slot = std::mem::size_of::<Scalar>();
    let limits = HubLimits {
        max_job_bytes: 8 * 4096 * slot,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let open_array = |name: String| {
        let open = array::Open {
            name,
            len: 4096,
            initial: Scalar::Int(0),
        };
        call(&hub, me, open, None)
    };
    // Eight arrays of 4096 slots fill the budget; the ninth is refused.
    for i in 0..8 {
        open_array(format!("a{i}")).unwrap();
    }
    assert!(matches!(
        open_array("a8".into()),
        Err(ObjectError::Denied(_))
    ));
    // So is a value, even of one int.
    let value = value::Open {
        name: "v".into(),
        initial: Scalar::Int(0),
    };
    assert!(matches!(
        call(&hub, me, value, None),
        Err(ObjectError::Denied(_))
    ));
}

#[test]
fn a_value_that_grows_is_charged_and_one_that_shrinks_gives_back() {
    let slot = std::mem::size_of::<Scalar>();
    let limits = HubLimits {
        max_message: 800,
        max_job_bytes: 2 * slot + 1000,
        ..HubLimits::default()
    };
    let hub = Hub::new(limits);
    let me = task(1, 0, 0);
    let open = |name: &str, len: usize| {
        let open = value::Open {
            name: name.into(),
            initial: Scalar::Bytes(vec![0; len]),
        };
        call(&hub, me, open, None)
    };
    let set = |handle, len: usize| {
        let set = value::Set {
            handle,
            new: Scalar::Bytes(vec![1; len]),
        };
        call(&hub, me, set, None)
    };
    let first = open("a", 100).unwrap();
    set(first, 800).unwrap();
    // 800 + 300 bytes would pass the budget: refused, and nothing changes.
    assert!(matches!(open("b", 300), Err(ObjectError::Denied(_))));
    assert_eq!(
        call(&hub, me, value::Get { handle: first }, None),
        Ok(Scalar::Bytes(vec![1; 800]))
    );
    // The first value shrinks: its bytes come back, the second fits.
    set(first, 10).unwrap();
    open("b", 300).unwrap();
    assert!(matches!(set(first, 800), Err(ObjectError::Denied(_))));
    // A swap that would grow past the budget is refused like a set.
    let swap = value::CompareAndSwap {
        handle: first,
        expected: Scalar::Bytes(vec![1; 10]),
        new: Scalar::Bytes(vec![2; 800]),
    };
    assert!(matches!(
        call(&hub, me, swap, None),
        Err(ObjectError::Denied(_))
    ));
    assert_eq!(
        call(&hub, me, value::Get { handle: first }, None),
        Ok(Scalar::Bytes(vec![1; 10]))
    );
}

#[test]
fn dict_keys_come_a_page_of_one_message_at_a_time() {
    let hub = Hub::new(HubLimits {
        max_message: 100,
        ..HubLimits::default()
    });
    let me = task(1, 0, 0);
    let dict = call(&hub, me, dict::Open { name: "d".into() }, None).unwrap();
    let names: Vec<String> = (0..30).map(|i| format!("key-{i:02}")).collect();
    for key in &names {
        let set = dict::Set {
            handle: dict,
            key: key.clone(),
            value: Vec::new(),
        };
        call(&hub, me, set, None).unwrap();
    }
    // Each key counts 6 bytes and a prefix of 8: seven fit in 100 bytes.
    let page = |after: Option<&str>| {
        let keys = dict::Keys {
            handle: dict,
            after: after.map(Into::into),
        };
        call(&hub, me, keys, None).unwrap()
    };
    let first = page(None);
    assert_eq!(first, names[..7]);
    assert_eq!(page(Some("key-06")), names[7..14]);
    // A key that is not in the dict still marks a place.
    assert_eq!(page(Some("key-065")), names[7..14]);
    assert_eq!(page(Some("key-29")), Vec::<String>::new());
    // The host's handle pages through all of them.
    let host = Dict::open(&hub, 1, "d").unwrap();
    assert_eq!(host.keys().unwrap(), names);
}
