//! [`Job`]: one namespace of shared objects in the hub, and the settings of
//! the pool it belongs to. Every run of a pool holds its job, so the job's
//! objects live as long as the last run or pool handle that uses them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::settings::Settings;
use crate::pool::hub::{Hub, JobId};

/// A job of a pool. Dropping the last handle forgets its objects: their
/// waiters are answered `closed`.
pub(crate) struct Job {
    pub id: JobId,
    pub hub: Hub,
    pub settings: Arc<Settings>,
    /// Worker ids, unique within the pool: the hub tells tasks apart by them.
    worker_ids: Arc<AtomicU32>,
    /// The next `apply_async` or `spawn` submission's index: its position
    /// among the job's submissions, which its task reads as
    /// `context.task-index`.
    submissions: AtomicU64,
}

impl Job {
    /// The pool's first job, with a new hub.
    pub(crate) fn first(settings: Settings, hub: Hub) -> Job {
        Job {
            id: 0,
            hub,
            settings: Arc::new(settings),
            worker_ids: Arc::default(),
            submissions: AtomicU64::new(0),
        }
    }

    /// Another job `id` of the same pool.
    pub(crate) fn sibling(&self, id: JobId) -> Job {
        Job {
            id,
            hub: self.hub.clone(),
            settings: self.settings.clone(),
            worker_ids: self.worker_ids.clone(),
            submissions: AtomicU64::new(0),
        }
    }

    /// An id for a new worker process.
    pub(crate) fn next_worker_id(&self) -> u32 {
        self.worker_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The index of a new `apply_async` or `spawn` submission.
    pub(crate) fn next_submission(&self) -> u64 {
        self.submissions.fetch_add(1, Ordering::Relaxed)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.hub.drop_job(self.id);
    }
}
