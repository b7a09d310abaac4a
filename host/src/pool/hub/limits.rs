//! [`HubLimits`]: what the hub lets one job hold.

/// What the hub lets one job hold.
#[derive(Clone, Debug)]
pub(crate) struct HubLimits {
    /// The largest queue item, pipe message, dict entry (key and value),
    /// list items appended or sliced at once, or bytes scalar; a larger one
    /// gets `too-large`.
    pub max_message: usize,
    /// How many objects (of any kind) a job may open.
    pub max_objects_per_job: usize,
    /// The longest name, in bytes.
    pub max_name: usize,
    /// The most items one queue of capacity 0, one pipe inbox, one dict or
    /// one list holds, and the longest array.
    pub max_queued_items: usize,
    /// The most bytes a job's objects hold together (waiting puts and
    /// sends included, each item with what holding it costs, values and
    /// arrays by their slots); beyond, a store gets `denied`.
    pub max_job_bytes: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            max_message: 1 << 20,
            max_objects_per_job: 1024,
            max_name: 256,
            max_queued_items: 65536,
            max_job_bytes: 256 << 20,
        }
    }
}
