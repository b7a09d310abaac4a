//! The bytes a job's objects hold in the host process, counted against
//! [`HubLimits::max_job_bytes`](super::HubLimits): each message stored in a
//! queue, pipe, dict or list is a [`Held`], charged its bytes and what
//! holding it costs beyond them ([`ITEM_OVERHEAD`], and [`key_cost`] for a
//! dict entry's key), which it gives back when it is taken or dropped,
//! whichever way it leaves its object; the scalars of values and arrays are
//! charged in place ([`Budget::resize`]) for as long as the job lives.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::protocol::ObjectError;

/// What holding one message costs the host beyond its bytes: its [`Held`]
/// (40 bytes) in its queue, list or dict, with room for that container's
/// growth, and the allocator's header and rounding of the bytes. An empty
/// message costs this much, not nothing: the suite's
/// `multiprocessing::shared::shared_objects_stay_within_their_budget`
/// fills a job with empty items and checks that the host grows by no more
/// than the budget.
pub(super) const ITEM_OVERHEAD: usize = 128;

/// What a dict entry's key costs: its bytes, its own allocation, and its
/// `String` in a B-tree node with the node's unused slots.
pub(super) fn key_cost(key: &str) -> usize {
    key.len() + 128
}

/// One job's count of held bytes, and its limit. The count is atomic only
/// so that a [`Held`] can give its bytes back wherever it drops; holding
/// happens under the hub's lock, so a check and its count agree.
#[derive(Clone)]
pub(super) struct Budget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            used: Arc::default(),
            limit,
        }
    }

    /// Holds `bytes`, charged with [`ITEM_OVERHEAD`] and `extra` bytes more
    /// (a dict entry's [`key_cost`]); `denied` if the job would hold more
    /// than its limit.
    pub fn hold(&self, bytes: Vec<u8>, extra: usize) -> Result<Held, ObjectError> {
        let charge = bytes.len() + ITEM_OVERHEAD + extra;
        self.resize(0, charge)?;
        Ok(Held {
            bytes,
            charge,
            used: Arc::clone(&self.used),
        })
    }

    /// Holds `bytes` again after they were taken, whatever the job holds
    /// now: they were within its limit when first held, and an item taken
    /// ahead and put back must not be lost to puts that came meanwhile.
    pub fn hold_again(&self, bytes: Vec<u8>) -> Held {
        let charge = bytes.len() + ITEM_OVERHEAD;
        self.used.fetch_add(charge, Ordering::Relaxed);
        Held {
            bytes,
            charge,
            used: Arc::clone(&self.used),
        }
    }

    /// The bytes the job may still hold.
    pub fn left(&self) -> usize {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Something the job holds in place goes from `old` bytes to `new`:
    /// `denied`, and nothing changes, if the job would then hold more than
    /// its limit.
    pub fn resize(&self, old: usize, new: usize) -> Result<(), ObjectError> {
        let used = self.used.load(Ordering::Relaxed);
        if new > old && used + (new - old) > self.limit {
            return Err(ObjectError::Denied(format!(
                "the job's objects hold {used} bytes; the limit is {}",
                self.limit
            )));
        }
        self.used.fetch_add(new, Ordering::Relaxed);
        self.used.fetch_sub(old, Ordering::Relaxed);
        Ok(())
    }
}

/// A message an object holds. Dropping it, or taking its bytes, gives its
/// charge back to the job's budget.
pub(super) struct Held {
    bytes: Vec<u8>,
    charge: usize,
    used: Arc<AtomicUsize>,
}

impl Held {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, no longer held.
    pub fn take(mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.used.fetch_sub(self.charge, Ordering::Relaxed);
    }
}
