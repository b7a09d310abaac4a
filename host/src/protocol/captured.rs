//! What a task wrote to its stdout and stderr, as the worker captured it.

use serde::{Deserialize, Serialize};

/// What a task wrote to one of its output streams: its first bytes and its
/// last, and how many between them were dropped to keep within the cap.
///
/// Most tasks write nothing: a stream that stayed silent is one pointer,
/// with nothing allocated, so that the output of a tiny task stays small to
/// move and to send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured(Option<Box<Written>>);

/// A stream that was written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Written {
    bytes: Vec<u8>,
    dropped: u64,
    tail: Vec<u8>,
}

impl Captured {
    /// What was kept of a stream: its first `bytes`, then `dropped` bytes
    /// left out, then its last bytes, `tail`.
    pub(crate) fn new(bytes: Vec<u8>, dropped: u64, tail: Vec<u8>) -> Captured {
        match bytes.is_empty() && dropped == 0 && tail.is_empty() {
            true => Captured(None),
            false => Captured(Some(Box::new(Written {
                bytes,
                dropped,
                tail,
            }))),
        }
    }

    /// The first bytes written: all of them when none was dropped.
    pub fn bytes(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |w| &w.bytes)
    }

    /// How many bytes were written past [`bytes`](Self::bytes), before
    /// [`tail`](Self::tail), and dropped.
    pub fn dropped(&self) -> u64 {
        self.0.as_ref().map_or(0, |w| w.dropped)
    }

    /// When bytes were dropped, the last ones written, from a line's start
    /// where one falls within them (such as a failing task's last words);
    /// empty when none was dropped.
    pub fn tail(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |w| &w.tail)
    }

    /// Whether the task wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty() && self.dropped() == 0
    }

    /// How many bytes were kept.
    pub fn kept(&self) -> usize {
        self.bytes().len() + self.tail().len()
    }
}
