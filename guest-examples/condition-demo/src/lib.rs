//! Producers and consumers meeting at a condition variable
//! (`multiprocessing.Condition`): a consumer holds the lock, and waits on
//! the condition (which gives the lock up meanwhile) until the shelf has
//! an item; a producer stocks it under the lock and notifies.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:condition-demo/condition-demo",
    generate_all,
});

use wpool::task::shared::{Condition, Lock, Value};
use wpool::task::types::{Error, Scalar};

struct ConditionDemo;

/// The shelf: its lock, the condition consumers wait on, and its count.
struct Shelf {
    lock: Lock,
    restocked: Condition,
    stock: Value,
}

impl Shelf {
    fn open() -> Result<Shelf, Error> {
        // The lock first: a condition is opened on an existing lock.
        let lock = Lock::open("shelf", false)?;
        Ok(Shelf {
            restocked: Condition::open("restocked", "shelf")?,
            stock: Value::open("stock", &Scalar::Int(0))?,
            lock,
        })
    }

    fn stock(&self) -> Result<i64, Error> {
        match self.stock.get()? {
            Scalar::Int(n) => Ok(n),
            other => Err(Error::Denied(format!("stock is {other:?}"))),
        }
    }
}

/// Python's `Condition.wait_for`: with the lock held, waits on `condition`
/// until `predicate` holds, each wait giving the lock up and having it
/// again when it returns. Returns the predicate's last value: `false` when
/// a wait timed out first.
fn wait_for(
    condition: &Condition,
    mut predicate: impl FnMut() -> Result<bool, Error>,
    timeout_ms: u64,
) -> Result<bool, Error> {
    while !predicate()? {
        if !condition.wait(Some(timeout_ms))? {
            return predicate();
        }
    }
    Ok(true)
}

impl Guest for ConditionDemo {
    fn producer(items: u32) -> Result<u32, String> {
        let shelf = Shelf::open().map_err(|e| format!("{e:?}"))?;
        for _ in 0..items {
            shelf.lock.acquire(None).map_err(|e| format!("{e:?}"))?;
            let stocked = shelf
                .stock
                .add(&Scalar::Int(1))
                .and_then(|_| shelf.restocked.notify(1));
            shelf.lock.release().map_err(|e| format!("{e:?}"))?;
            stocked.map_err(|e| format!("{e:?}"))?;
        }
        Ok(items)
    }

    fn consumer(items: u32, timeout_ms: u64) -> Result<u32, String> {
        let shelf = Shelf::open().map_err(|e| format!("{e:?}"))?;
        for taken in 0..items {
            shelf.lock.acquire(None).map_err(|e| format!("{e:?}"))?;
            let took = wait_for(&shelf.restocked, || Ok(shelf.stock()? > 0), timeout_ms).and_then(
                |ready| match ready {
                    true => shelf.stock.add(&Scalar::Int(-1)).map(|_| true),
                    false => Ok(false),
                },
            );
            shelf.lock.release().map_err(|e| format!("{e:?}"))?;
            match took.map_err(|e| format!("{e:?}"))? {
                true => println!("took item {}", taken + 1),
                false => {
                    return Err(format!(
                        "no stock within {timeout_ms} ms after {taken} items"
                    ));
                }
            }
        }
        Ok(items)
    }
}

export!(ConditionDemo);
