//! Guest stdout and stderr, captured per task into a bounded buffer: the
//! first bytes up to the cap are kept, the rest counted and dropped, and the
//! guest's writes always succeed, so a chatty guest is never failed for it.
//! When the host asks for streaming (a spawned process), nothing is kept:
//! whole lines go to the host as they are written, through a buffer of at
//! most [`CHUNK`] bytes, and the last unfinished line when the task ends.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::link::HostLink;
use crate::protocol::{Captured, FromWorker, Stream};

/// Bytes a streaming capture holds before it sends them without waiting
/// for the end of the line.
const CHUNK: usize = 16 << 10;

/// A sink for one guest output stream. Clones share the buffer: the store
/// holds one, the worker reads the other when the task ends.
#[derive(Clone)]
pub(crate) struct Capture {
    /// Kept output; when streaming, the bytes not sent yet.
    inner: Arc<Mutex<Captured>>,
    /// Bytes kept; what is written past them is counted in `dropped`.
    cap: usize,
    /// Where the output goes as it is written, when it streams.
    streaming: Option<(HostLink, Stream)>,
}

impl Capture {
    /// A capture that keeps the first `cap` bytes for the task's result.
    pub(crate) fn new(cap: usize) -> Capture {
        Capture {
            inner: Arc::default(),
            cap,
            streaming: None,
        }
    }

    /// A capture that sends `stream`'s lines to the host as they come.
    pub(crate) fn streaming(link: HostLink, stream: Stream) -> Capture {
        Capture {
            inner: Arc::default(),
            cap: CHUNK,
            streaming: Some((link, stream)),
        }
    }

    /// Takes what was kept so far, leaving the capture empty; a streaming
    /// capture sends what it holds and keeps nothing.
    pub(crate) fn take(&self) -> Captured {
        let mut captured = self.lock();
        let len = captured.bytes.len();
        self.send(&mut captured, len);
        std::mem::take(&mut *captured)
    }

    fn write(&self, buf: &[u8]) {
        let mut captured = self.lock();
        if self.streaming.is_some() {
            captured.bytes.extend_from_slice(buf);
            let lines = match captured.bytes.len() >= CHUNK {
                true => captured.bytes.len(),
                false => captured
                    .bytes
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1),
            };
            self.send(&mut captured, lines);
            return;
        }
        let room = self.cap.saturating_sub(captured.bytes.len());
        let kept = buf.len().min(room);
        captured.bytes.extend_from_slice(&buf[..kept]);
        captured.dropped += (buf.len() - kept) as u64;
    }

    /// Sends the first `len` bytes held, when streaming. A host gone
    /// meanwhile ends the worker through its reader thread.
    fn send(&self, captured: &mut Captured, len: usize) {
        let Some((link, stream)) = &self.streaming else {
            return;
        };
        if len == 0 {
            return;
        }
        let rest = captured.bytes.split_off(len);
        let bytes = std::mem::replace(&mut captured.bytes, rest);
        let _ = link.send(&FromWorker::Output {
            stream: *stream,
            bytes,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        // A poisoned lock only means a writer panicked mid-append; the bytes
        // are still a valid prefix.
        self.inner
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

    // Not a reason to send a streaming capture's unfinished line: WASI's
    // `blocking-write-and-flush`, which Rust's `print!` uses, flushes after
    // every piece of a line.
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
