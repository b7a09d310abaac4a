//! `wpool:task/shared`: values and arrays of scalars, locks and dicts.

use std::collections::BTreeMap;
use std::fmt;

use super::budget::Held;
use super::waiters::{Flow, Outbox, WaitList, Waiter};
use super::{Answer, Caller, Gone, ObjectError, Scalar};

/// The kind of a [`Scalar`], which a value or array keeps for its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScalarKind {
    Int,
    Float,
    Bytes,
}

impl fmt::Display for ScalarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScalarKind::Int => "int",
            ScalarKind::Float => "float",
            ScalarKind::Bytes => "bytes",
        })
    }
}

impl Scalar {
    pub(super) fn kind(&self) -> ScalarKind {
        match self {
            Scalar::Int(_) => ScalarKind::Int,
            Scalar::Float(_) => ScalarKind::Float,
            Scalar::Bytes(_) => ScalarKind::Bytes,
        }
    }

    /// `denied` unless `other` is of this scalar's kind.
    fn same_kind(&self, other: &Scalar) -> Result<(), ObjectError> {
        if self.kind() == other.kind() {
            Ok(())
        } else {
            Err(ObjectError::Denied(format!(
                "this holds {}, not {}",
                self.kind(),
                other.kind()
            )))
        }
    }

    /// Stores `new`, of the same kind.
    fn store(&mut self, new: Scalar) -> Result<(), ObjectError> {
        self.same_kind(&new)?;
        *self = new;
        Ok(())
    }

    /// Adds `delta`, of the same numeric kind (ints wrap around, like a C
    /// `long`); returns the sum.
    fn add(&mut self, delta: &Scalar) -> Result<Scalar, ObjectError> {
        self.same_kind(delta)?;
        match (&mut *self, delta) {
            (Scalar::Int(x), Scalar::Int(d)) => *x = x.wrapping_add(*d),
            (Scalar::Float(x), Scalar::Float(d)) => *x += d,
            _ => return Err(ObjectError::Denied("bytes cannot be added".into())),
        }
        Ok(self.clone())
    }
}

/// A `value`: one scalar.
pub(super) struct ValueObject(Scalar);

impl ValueObject {
    pub fn new(initial: Scalar) -> ValueObject {
        ValueObject(initial)
    }

    pub fn get(&self) -> Answer {
        Answer::Scalar(self.0.clone())
    }

    pub fn set(&mut self, new: Scalar) -> Result<Answer, ObjectError> {
        self.0.store(new).map(|()| Answer::Unit)
    }

    pub fn add(&mut self, delta: &Scalar) -> Result<Answer, ObjectError> {
        self.0.add(delta).map(Answer::Scalar)
    }

    /// Stores `new` if the value equals `expected` (floats compare as
    /// numbers: NaN never equals).
    pub fn compare_and_swap(
        &mut self,
        expected: &Scalar,
        new: Scalar,
    ) -> Result<Answer, ObjectError> {
        self.0.same_kind(&new)?;
        let swap = self.0 == *expected;
        if swap {
            self.0 = new;
        }
        Ok(Answer::Bool(swap))
    }
}

/// An `array`: a fixed number of scalars of one kind.
pub(super) struct ArrayObject(Vec<Scalar>);

impl ArrayObject {
    pub fn new(len: u32, initial: Scalar) -> ArrayObject {
        ArrayObject(vec![initial; len as usize])
    }

    fn slot(&mut self, index: u32) -> Result<&mut Scalar, ObjectError> {
        let len = self.0.len();
        self.0.get_mut(index as usize).ok_or_else(|| {
            ObjectError::Denied(format!("index {index} is out of range for length {len}"))
        })
    }

    pub fn get(&mut self, index: u32) -> Result<Answer, ObjectError> {
        Ok(Answer::Scalar(self.slot(index)?.clone()))
    }

    pub fn set(&mut self, index: u32, new: Scalar) -> Result<Answer, ObjectError> {
        self.slot(index)?.store(new).map(|()| Answer::Unit)
    }

    pub fn add(&mut self, index: u32, delta: &Scalar) -> Result<Answer, ObjectError> {
        self.slot(index)?.add(delta).map(Answer::Scalar)
    }

    pub fn len(&self) -> Answer {
        Answer::count(self.0.len())
    }
}

/// A `lock`, owned by the task that acquired it and handed to its waiters
/// in arrival order.
pub(super) struct LockObject {
    reentrant: bool,
    /// The holder, and how many times it acquired the lock.
    owner: Option<(Caller, u32)>,
    waiters: WaitList,
}

impl LockObject {
    pub fn new(reentrant: bool) -> LockObject {
        LockObject {
            reentrant,
            owner: None,
            waiters: WaitList::default(),
        }
    }

    /// Takes the lock if it is free, again if the caller holds this
    /// re-entrant lock, or waits. A task acquiring a plain lock it holds
    /// gets `denied`, where Python would deadlock.
    pub fn acquire(&mut self, waiter: Waiter, out: &mut Outbox) -> Flow {
        let result = match &mut self.owner {
            None => {
                self.owner = Some((waiter.caller, 1));
                Ok(Answer::Unit)
            }
            Some((owner, count)) if *owner == waiter.caller => match count.checked_add(1) {
                Some(more) if self.reentrant => {
                    *count = more;
                    Ok(Answer::Unit)
                }
                Some(_) => Err(ObjectError::Denied(
                    "this task already holds the lock".into(),
                )),
                None => Err(ObjectError::Denied(
                    "the lock is held too many times".into(),
                )),
            },
            Some(_) => return self.waiters.park(waiter),
        };
        out.answer(waiter, result);
        Flow::Done
    }

    /// Releases once; `denied` if the caller does not hold the lock.
    pub fn release(&mut self, caller: Caller, out: &mut Outbox) -> Result<Answer, ObjectError> {
        match &mut self.owner {
            Some((owner, count)) if *owner == caller => {
                *count -= 1;
                if *count == 0 {
                    self.hand_over(out);
                }
                Ok(Answer::Unit)
            }
            _ => Err(ObjectError::Denied(
                "this task does not hold the lock".into(),
            )),
        }
    }

    /// Gives the lock to the first waiter, or leaves it free.
    fn hand_over(&mut self, out: &mut Outbox) {
        self.owner = self.waiters.pop_waiter().map(|next| {
            let owner = next.caller;
            out.answer(next, Ok(Answer::Unit));
            (owner, 1)
        });
    }

    /// Frees the lock if a task that is `gone` holds it. If the task died,
    /// every waiter gets `abandoned` and the lock is left free; otherwise
    /// the first waiter gets it.
    pub fn release_held_by(&mut self, gone: Gone, out: &mut Outbox) {
        if !self.owner.is_some_and(|(owner, _)| gone.covers(&owner)) {
            return;
        }
        if gone.died() {
            self.owner = None;
            self.waiters
                .answer_all(out, |_| Err(ObjectError::Abandoned));
        } else {
            self.hand_over(out);
        }
    }

    pub fn take_waiters(&mut self, pick: &mut dyn FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        self.waiters.take_where(pick)
    }
}

/// A `dict` from strings to byte strings, its keys listed in order.
pub(super) struct DictObject {
    /// The most entries it holds.
    capacity: usize,
    entries: BTreeMap<String, Held>,
}

impl DictObject {
    pub fn new(capacity: usize) -> DictObject {
        DictObject {
            capacity,
            entries: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &str) -> Answer {
        Answer::MaybeBytes(self.entries.get(key).map(|v| v.bytes().to_vec()))
    }

    /// `denied` if `key` is new and the dict is full.
    pub fn set(&mut self, key: String, value: Held) -> Result<Answer, ObjectError> {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            return Err(ObjectError::Denied(format!(
                "the dict is full at {} entries",
                self.capacity
            )));
        }
        self.entries.insert(key, value);
        Ok(Answer::Unit)
    }

    pub fn remove(&mut self, key: &str) -> Answer {
        Answer::MaybeBytes(self.entries.remove(key).map(Held::take))
    }

    pub fn keys(&self) -> Answer {
        Answer::Keys(self.entries.keys().cloned().collect())
    }

    pub fn len(&self) -> Answer {
        Answer::count(self.entries.len())
    }
}
