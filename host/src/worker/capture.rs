//! Guest stdout and stderr, captured per task into a bounded buffer: the
//! first bytes and the last, up to the cap, the rest between them counted
//! and dropped; the guest's writes always succeed, so a chatty guest is
//! never failed for it. When the host asks for streaming (a spawned
//! process), nothing is kept for the result: each write, up to the cap,
//! goes to the host as it is made, which cuts it into lines, so that what a
//! process wrote is shown even if its worker is killed; the rest is counted
//! and dropped.
//!
//! Either way, the last [`REPORT`] bytes of stderr are kept until the task
//! ends: an uncaught exception's report is read from them.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::link::HostLink;
use crate::protocol::{Captured, FromWorker, Stream};

/// Bytes of the end of stderr kept to read an uncaught exception's report
/// from, whatever the cap: the report ends what the task wrote.
const REPORT: usize = 16 << 10;

/// A sink for one guest output stream. Clones share the buffer: the store
/// holds one, the worker reads the other when the task ends.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Shared>,
    /// Bytes kept, or sent when streaming, from the start.
    head: usize,
    /// Bytes of the end shown after them, when some were dropped between.
    shown_tail: usize,
    /// Bytes of the end kept: the shown ones, and for stderr the report's.
    tail: usize,
    /// Where the output goes as it is written, when it streams.
    streaming: Option<(HostLink, Stream)>,
}

/// What the clones share.
#[derive(Default)]
struct Shared {
    kept: Mutex<Kept>,
    /// Whether anything was written since the last take: most tasks write
    /// nothing, and their take then costs no lock.
    written: AtomicBool,
}

/// What a task wrote, as far as it is kept.
#[derive(Default)]
struct Kept {
    /// The first bytes written, or how many were sent when streaming.
    head: Vec<u8>,
    sent: usize,
    /// Bytes written past the head: dropped, but for the tail.
    past: u64,
    /// The last bytes written past the head (when streaming, the last
    /// written): at least [`Capture::tail`] of them, when there were as
    /// many.
    tail: Vec<u8>,
}

impl Capture {
    /// A capture that keeps, of what is written to `stream`, the first
    /// three quarters of `cap` bytes and the last quarter for the task's
    /// result.
    pub(crate) fn new(cap: usize, stream: Stream) -> Capture {
        let shown_tail = cap / 4;
        Capture {
            inner: Arc::default(),
            head: cap - shown_tail,
            shown_tail,
            tail: shown_tail.max(Self::report(stream)),
            streaming: None,
        }
    }

    /// A capture that sends the first `cap` bytes written to `stream` to
    /// the host as they come.
    pub(crate) fn streaming(cap: usize, link: HostLink, stream: Stream) -> Capture {
        Capture {
            inner: Arc::default(),
            head: cap,
            shown_tail: 0,
            tail: Self::report(stream),
            streaming: Some((link, stream)),
        }
    }

    /// The bytes of `stream`'s end kept for an exception's report.
    fn report(stream: Stream) -> usize {
        match stream {
            Stream::Stdout => 0,
            Stream::Stderr => REPORT,
        }
    }

    /// Takes what was kept so far for the task's result (when streaming,
    /// only the count of the bytes dropped), leaving the capture empty.
    pub(crate) fn take(&self) -> Captured {
        // The guest writes on the thread that takes, between takes.
        if !self.inner.written.load(Ordering::Relaxed) {
            return Captured::default();
        }
        self.inner.written.store(false, Ordering::Relaxed);
        let Kept {
            head, past, tail, ..
        } = std::mem::take(&mut *self.lock());
        if self.streaming.is_some() {
            return Captured::new(Vec::new(), past, Vec::new());
        }
        // Nothing was dropped: the tail is all that followed the head.
        if past <= self.shown_tail as u64 {
            let mut bytes = head;
            bytes.extend_from_slice(&tail);
            return Captured::new(bytes, 0, Vec::new());
        }
        let start = tail.len() - self.shown_tail;
        let mut shown = &tail[start..];
        // Cut to the first line that starts within, unless one starts
        // right there (a byte kept before it ends a line).
        let at_line_start = start > 0 && tail[start - 1] == b'\n';
        if let Some(end) = shown.iter().position(|&b| b == b'\n')
            && end + 1 < shown.len()
            && !at_line_start
        {
            shown = &shown[end + 1..];
        }
        Captured::new(head, past - shown.len() as u64, shown.to_vec())
    }

    /// The end of what was written: its last [`REPORT`] bytes, for stderr
    /// (where an uncaught exception's report is read, see `exception`).
    pub(crate) fn end(&self) -> Vec<u8> {
        let kept = self.lock();
        let mut end = Vec::new();
        if kept.past == kept.tail.len() as u64 {
            end.extend_from_slice(&kept.head);
        }
        end.extend_from_slice(&kept.tail);
        end.drain(..end.len().saturating_sub(REPORT));
        end
    }

    fn write(&self, buf: &[u8]) {
        self.inner.written.store(true, Ordering::Relaxed);
        let mut kept = self.lock();
        let room = self.head.saturating_sub(kept.sent + kept.head.len());
        let (first, rest) = buf.split_at(buf.len().min(room));
        match &self.streaming {
            // A host gone meanwhile ends the worker through its reader
            // thread.
            Some((link, stream)) if !first.is_empty() => {
                kept.sent += first.len();
                let _ = link.send(&FromWorker::Output {
                    stream: *stream,
                    bytes: first.to_vec(),
                });
            }
            Some(_) => {}
            None => kept.head.extend_from_slice(first),
        }
        kept.past += rest.len() as u64;
        let last = match self.streaming {
            Some(_) => buf,
            None => rest,
        };
        // Trimmed once it holds twice what is kept: each byte moves once
        // at most, not at every write.
        let tail = &mut kept.tail;
        tail.extend_from_slice(&last[last.len().saturating_sub(self.tail)..]);
        if tail.len() > 2 * self.tail {
            tail.drain(..tail.len() - self.tail);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        // A poisoned lock only means a writer panicked mid-append; what is
        // kept is still what was written, in order.
        self.inner
            .kept
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        Capture::write(self, &bytes);
        Ok(())
    }

    // Every write is sent (or kept) as it is made: nothing to flush.
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Capture::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::{Capture, Stream};

    /// `lines` numbered lines written to a capture of `cap` bytes, a
    /// line a write.
    fn captured(cap: usize, lines: usize) -> crate::protocol::Captured {
        let capture = Capture::new(cap, Stream::Stderr);
        for i in 0..lines {
            capture.write(format!("line {i}\n").as_bytes());
        }
        capture.take()
    }

    #[test]
    fn what_fits_is_kept_whole() {
        let kept = captured(1024, 10);
        let written: String = (0..10).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8_lossy(kept.bytes()), written);
        assert_eq!((kept.dropped(), kept.tail().len()), (0, 0));
    }

    #[test]
    fn the_first_bytes_and_the_last_lines_are_kept_and_the_rest_counted() {
        let written: usize = (0..10_000).map(|i| format!("line {i}\n").len()).sum();
        let kept = captured(1024, 10_000);
        assert_eq!(kept.bytes().len(), 768);
        assert!(kept.bytes().starts_with(b"line 0\nline 1\n"));
        let tail = String::from_utf8_lossy(kept.tail());
        assert!(
            tail.starts_with("line ") && tail.ends_with("line 9999\n"),
            "{tail}"
        );
        assert!(kept.tail().len() <= 256);
        assert_eq!(kept.kept() as u64 + kept.dropped(), written as u64);
    }

    #[test]
    fn a_tail_that_starts_a_line_keeps_that_line() {
        // 1024 bytes: 768 kept first, then 256 of lines of 8 bytes each,
        // the last 256 written starting a line.
        let capture = Capture::new(1024, Stream::Stdout);
        for i in 0..1000 {
            capture.write(format!("line{i:03}\n").as_bytes());
        }
        let kept = capture.take();
        assert!(
            kept.tail().starts_with(b"line968\n"),
            "{:?}",
            String::from_utf8_lossy(kept.tail())
        );
        assert_eq!(kept.tail().len(), 256);
    }

    #[test]
    fn the_end_is_kept_whatever_the_cap() {
        let capture = Capture::new(0, Stream::Stderr);
        for _ in 0..10_000 {
            capture.write(b"chatter\n");
        }
        capture.write(b"the end\n");
        let end = capture.end();
        assert_eq!(end.len(), super::REPORT);
        assert!(end.ends_with(b"chatter\nthe end\n"));
        assert_eq!(capture.take().kept(), 0);
        assert_eq!(capture.end(), b"", "taken, nothing is left to read");
    }
}
