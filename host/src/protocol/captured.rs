//! What a task wrote to its stdout and stderr, as the worker captured it.

/// What a task wrote to one of its output streams: its first bytes and its
/// last, and how many between them were dropped to keep within the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Captured {
    /// The first bytes written: all of them when none was dropped.
    pub bytes: Vec<u8>,
    /// How many bytes were written past `bytes`, before `tail`, and
    /// dropped.
    pub dropped: u64,
    /// When bytes were dropped, the last ones written, from a line's start
    /// where one falls within them (such as a failing task's last words);
    /// empty when none was dropped.
    pub tail: Vec<u8>,
}

impl Captured {
    /// Whether the task wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.dropped == 0
    }

    /// How many bytes were kept.
    pub fn kept(&self) -> usize {
        self.bytes.len() + self.tail.len()
    }
}
