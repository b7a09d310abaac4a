//! Operations as a broken or hostile worker could send them: decoded from
//! arbitrary bytes, served for random tasks of random workers, with workers
//! dying and tasks ending between them. The hub never panics, and answers
//! every request exactly once.

use std::sync::mpsc;

use proptest::prelude::*;

use super::*;

/// One step: the bytes of an operation, who sends it, and what happens
/// after. The bytes are mostly small numbers, as the tags, handles, lengths
/// and characters of real operations are, so that most of them decode.
fn step() -> impl Strategy<Value = (Vec<u8>, u32, u64, u8)> {
    let byte = prop_oneof![4 => 0u8..8, 1 => b'a'..=b'c', 1 => any::<u8>()];
    (
        proptest::collection::vec(byte, 2..24),
        0u32..3,
        0u64..4,
        any::<u8>(),
    )
}

proptest! {
    #![proptest_config(crate::protocol::prop_config(500))]

    #[test]
    fn arbitrary_operations_are_answered_exactly_once(
        steps in proptest::collection::vec(step(), 1..64)
    ) {
        // Small limits, so that random operations reach them.
        let hub = Hub::new(HubLimits {
            max_message: 64,
            max_objects_per_job: 8,
            max_name: 8,
            max_queued_items: 4,
            max_job_bytes: 2048,
        });
        let (answers, answered) = mpsc::channel();
        let mut sent = 0;
        for (bytes, worker, task, event) in steps {
            let caller = Caller { job: 1, worker, task };
            if let Ok(op) = postcard::from_bytes::<Op>(&bytes) {
                let answers = answers.clone();
                let reply = Box::new(move |answer| {
                    let _ = answers.send(answer);
                });
                // No timeout (answered when the job goes), or one that
                // passes at once or soon.
                let timeout = match event & 3 {
                    0 => None,
                    1 => Some(Duration::ZERO),
                    _ => Some(Duration::from_millis(2)),
                };
                hub.request(caller, op, timeout, reply);
                sent += 1;
            }
            match event >> 5 {
                0 => hub.task_ended(caller),
                1 => hub.worker_died(1, worker),
                _ => {}
            }
        }
        // Whatever still waits is answered when the job goes.
        hub.drop_job(1);
        for _ in 0..sent {
            prop_assert!(
                answered.recv_timeout(Duration::from_secs(5)).is_ok(),
                "a request was never answered"
            );
        }
        drop(answers);
        prop_assert!(answered.recv().is_err(), "a request was answered twice");
    }
}
