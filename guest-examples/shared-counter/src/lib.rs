//! Seed example 4, `Value` with `Lock`: many tasks increment one shared
//! counter; the lock makes each read-then-write atomic, so the total is
//! exact.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:shared-counter/shared-counter",
    generate_all,
});

use wpool::task::shared::{Lock, Value};
use wpool::task::types::{Error, Scalar};

struct SharedCounter;

fn describe(error: Error) -> String {
    format!("counter: {error:?}")
}

impl Guest for SharedCounter {
    fn increment(times: u32) -> Result<i64, String> {
        let counter = Value::open("counter", &Scalar::Int(0)).map_err(describe)?;
        let lock = Lock::open("counter-lock", false).map_err(describe)?;
        let mut last = 0;
        for _ in 0..times {
            lock.acquire(None).map_err(describe)?;
            let Scalar::Int(now) = counter.get().map_err(describe)? else {
                return Err("counter is not an integer".into());
            };
            last = now + 1;
            counter.set(&Scalar::Int(last)).map_err(describe)?;
            lock.release().map_err(describe)?;
        }
        Ok(last)
    }
}

export!(SharedCounter);
