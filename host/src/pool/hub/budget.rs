//! The bytes a job's queues, pipes, dicts and lists hold in the host process,
//! counted against [`HubLimits::max_job_bytes`](super::HubLimits): each
//! stored message is a [`Held`], which gives its bytes back when it is taken
//! or dropped, whichever way it leaves its object.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::protocol::ObjectError;

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

    /// Holds `bytes`, counted with `extra` bytes more (a dict entry's key);
    /// `denied` if the job would hold more than its limit.
    pub fn hold(&self, bytes: Vec<u8>, extra: usize) -> Result<Held, ObjectError> {
        let charge = bytes.len() + extra;
        let used = self.used.load(Ordering::Relaxed);
        if used + charge > self.limit {
            return Err(ObjectError::Denied(format!(
                "the job's objects hold {used} bytes; the limit is {}",
                self.limit
            )));
        }
        self.used.fetch_add(charge, Ordering::Relaxed);
        Ok(Held {
            bytes,
            charge,
            used: Arc::clone(&self.used),
        })
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
