//! What a task wrote to its stdout and stderr, as the worker captured it.

/// What a task wrote to one of its output streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Captured {
    /// The first bytes written, up to the cap.
    pub bytes: Vec<u8>,
    /// How many bytes were written past the cap and dropped.
    pub dropped: u64,
}

impl Captured {
    /// Whether the task wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.dropped == 0
    }
}
