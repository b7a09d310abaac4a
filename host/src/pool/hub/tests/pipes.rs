//! Pipes: ping-pong, closed ends, room in the inbox, messages taken ahead,
//! poll.

use super::*;

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
    // A send answers the room left in the peer's inbox: none.
    assert_eq!(call(&hub, ta, send(b"1"), None), Ok(0));
    let second = start(&hub, ta, send(b"2"), None);
    assert_parked(&second);
    assert_eq!(
        call(&hub, tb, pipe::Recv { handle: b }, None).unwrap(),
        b"1"
    );
    assert_eq!(second.wait(), Ok(0));
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
fn recv_many_takes_the_messages_ahead_and_frees_as_many_senders() {
    let hub = Hub::new(HubLimits {
        max_queued_items: 4,
        ..HubLimits::default()
    });
    let (ta, tb) = (task(1, 0, 0), task(1, 1, 0));
    let a = open_end(&hub, ta, End::A).unwrap();
    let b = open_end(&hub, tb, End::B).unwrap();
    let send = |n: u8| pipe::Send {
        handle: a,
        message: vec![n],
    };
    let many = |most| pipe::RecvMany { handle: b, most };
    // Waiting, a recv-many gets the first message sent, as a list.
    let waiting = start(&hub, tb, many(10), None);
    assert_parked(&waiting);
    assert_eq!(call(&hub, ta, send(0), None), Ok(4));
    assert_eq!(waiting.wait(), Ok(vec![vec![0]]));
    let rooms: Vec<_> = (1..=4).map(|n| call(&hub, ta, send(n), None)).collect();
    assert_eq!(rooms, [Ok(3), Ok(2), Ok(1), Ok(0)]);
    let (fifth, sixth) = (
        start(&hub, ta, send(5), None),
        start(&hub, ta, send(6), None),
    );
    assert_parked(&fifth);
    // Three taken ahead make room for both waiting sends.
    assert_eq!(
        call(&hub, tb, many(3), None),
        Ok(vec![vec![1], vec![2], vec![3]])
    );
    assert_eq!((fifth.wait(), sixth.wait()), (Ok(2), Ok(1)));
    assert_eq!(
        call(&hub, tb, many(100), None),
        Ok(vec![vec![4], vec![5], vec![6]])
    );
    // The peer gone, a recv-many drains nothing more: `closed`.
    hub.task_ended(ta);
    assert_eq!(call(&hub, tb, many(2), None), Err(ObjectError::Closed));
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
