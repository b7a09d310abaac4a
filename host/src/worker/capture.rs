//! Guest stdout and stderr, captured per task into a bounded buffer: the
//! first bytes up to the cap are kept, the rest counted and dropped, and the
//! guest's writes always succeed, so a chatty guest is never failed for it.
//! When the host asks for streaming (a spawned process), nothing is kept:
//! each write goes to the host as it is made, which cuts it into lines, so
//! that what a process wrote is shown even if its worker is killed.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::link::HostLink;
use crate::protocol::{Captured, FromWorker, Stream};

/// A sink for one guest output stream. Clones share the buffer: the store
/// holds one, the worker reads the other when the task ends.
#[derive(Clone)]
pub(crate) struct Capture {
    /// Kept output; empty when streaming.
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

    /// A capture that sends what is written to `stream` to the host as it
    /// comes.
    pub(crate) fn streaming(link: HostLink, stream: Stream) -> Capture {
        Capture {
            inner: Arc::default(),
            cap: 0,
            streaming: Some((link, stream)),
        }
    }

    /// Takes what was kept so far, leaving the capture empty.
    pub(crate) fn take(&self) -> Captured {
        std::mem::take(&mut *self.lock())
    }

    fn write(&self, buf: &[u8]) {
        if let Some((link, stream)) = &self.streaming {
            // A host gone meanwhile ends the worker through its reader
            // thread.
            if !buf.is_empty() {
                let _ = link.send(&FromWorker::Output {
                    stream: *stream,
                    bytes: buf.to_vec(),
                });
            }
            return;
        }
        let mut captured = self.lock();
        let room = self.cap.saturating_sub(captured.bytes.len());
        let kept = buf.len().min(room);
        captured.bytes.extend_from_slice(&buf[..kept]);
        captured.dropped += (buf.len() - kept) as u64;
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
