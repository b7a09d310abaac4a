//! Frames: a little-endian `u32` length, then the message encoded with
//! postcard. Both directions between the host and a worker (a socket to
//! the worker's stdin, a pipe from its stdout) are a stream of frames.
//!
//! A message is written straight to the writer, not built in a buffer
//! first: a large value's bytes go from where they are to the stream. A value
//! that is most of the frame it arrives in is read as a slice of that frame
//! ([`shared_bytes`]), not copied out of it.

use std::cell::RefCell;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::event::{PollFd, PollFlags, Timespec};
use serde::{Serialize, de::DeserializeOwned};

/// The largest frame either side accepts; a longer length prefix means the
/// stream is corrupt.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// How much of a frame's length prefix [`read_frame`] believes before the
/// bytes arrive: room for the largest values most runs send at once.
pub(crate) const FIRST_READ: usize = 64 << 20;

/// How long a side waits awake for the other's next frame, when one is
/// due at once: see [`await_awake`].
const AWAKE: Duration = Duration::from_micros(50);

/// Asks `ready` for the frame one side expects from the other (a hub
/// answer, a task's next request) until it has come or [`AWAKE`] has
/// passed, yielding the core between asks; `None` then, and the caller
/// sleeps until it comes. A thread that sleeps costs a wake-up, which on a
/// busy machine can take longer than the answer (a locked counter's hub
/// operations took 62 µs each asleep, 10 µs with both sides awake), and
/// yielding lets whatever brings the frame run on the core meanwhile.
pub(crate) fn await_awake<T>(mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < AWAKE {
        if let Some(frame) = ready() {
            return Some(frame);
        }
        std::thread::yield_now();
    }
    None
}

/// Waits awake a moment ([`await_awake`]) for the next frame on `reader`,
/// which the other side is about to send: a hub answer a worker waits for,
/// a task's next request once its last was answered. The wait is over at
/// once if `reader` holds bytes already.
pub(crate) fn linger<R: AsFd>(reader: &BufReader<R>) {
    if !reader.buffer().is_empty() {
        return;
    }
    let mut ready = [PollFd::new(reader.get_ref(), PollFlags::IN)];
    let now = Timespec::default();
    await_awake(|| {
        let arrived = rustix::event::poll(&mut ready, Some(&now)).is_ok_and(|n| n > 0);
        arrived.then_some(())
    });
}

/// Frames up to this size are encoded into a buffer and written at once;
/// larger ones, whose bulk is values, are encoded straight to the writer.
/// postcard's writer takes a write for each field, and each byte of an
/// integer: for a batch of a thousand small results, more time than the
/// copy a buffer costs.
const BUFFERED_FRAME: usize = 1 << 20;

thread_local! {
    /// The buffer small frames are encoded into on this thread.
    static ENCODING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes one frame and flushes it.
pub(crate) fn write_frame(w: &mut impl Write, msg: &impl Serialize) -> io::Result<()> {
    let size = postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
        .map_err(io::Error::other)?;
    let len = u32::try_from(size)
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("frame of {size} bytes is too large")))?;
    if size <= BUFFERED_FRAME {
        ENCODING.with_borrow_mut(|kept| {
            let mut buffer = std::mem::take(kept);
            buffer.clear();
            buffer.extend_from_slice(&len.to_le_bytes());
            let buffer = postcard::to_extend(msg, buffer).map_err(io::Error::other)?;
            let written = w.write_all(&buffer);
            *kept = buffer;
            written
        })?;
        return w.flush();
    }
    w.write_all(&len.to_le_bytes())?;
    let mut writing = Writing { w, failed: None };
    if let Err(error) = postcard::to_io(msg, &mut writing) {
        // postcard names a failed write "the serialize buffer is full":
        // the write's own error says what happened (a closed pipe, say).
        return Err(writing.failed.unwrap_or_else(|| io::Error::other(error)));
    }
    w.flush()
}

/// A writer that keeps the error of a failed write, which postcard's
/// streaming serializer drops.
struct Writing<'a, W> {
    w: &'a mut W,
    failed: Option<io::Error>,
}

impl<W> Writing<'_, W> {
    fn keep<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        result.map_err(|error| {
            let told = io::Error::new(error.kind(), error.to_string());
            self.failed = Some(error);
            told
        })
    }
}

impl<W: Write> Write for Writing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.w.write(buf);
        self.keep(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.w.flush();
        self.keep(flushed)
    }
}

thread_local! {
    /// The frame being decoded on this thread, for [`shared_bytes`].
    static DECODING: RefCell<Bytes> = const { RefCell::new(Bytes::new()) };
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub(crate) fn read_frame<T: DeserializeOwned>(r: &mut impl Read) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} exceeds the limit"),
        ));
    }
    // Read in place, into a zeroed buffer sized from the prefix up to
    // FIRST_READ, which doubles beyond that as bytes arrive: a corrupt
    // length costs at most FIRST_READ of memory, and no more than the
    // bytes that really follow it past that. (Growing from nothing, as
    // `read_to_end` does, made a 16 MiB value cross at half the speed:
    // small reads, and buffers reallocated and zeroed on the way.)
    let mut body = vec![0u8; len.min(FIRST_READ)];
    let mut filled = 0;
    loop {
        r.read_exact(&mut body[filled..])?;
        filled = body.len();
        if filled == len {
            break;
        }
        body.resize(len.min(2 * filled), 0);
    }
    let body = Bytes::from(body);
    DECODING.with_borrow_mut(|frame| *frame = body.clone());
    let decoded = postcard::from_bytes(&body);
    DECODING.with_borrow_mut(|frame| *frame = Bytes::new());
    decoded
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Decodes a message's `Bytes` field (`#[serde(deserialize_with = ...)]`):
/// one that takes at least half of the frame it arrives in is a slice of
/// the frame, not a copy, so that a 16 MiB argument or result is not
/// copied again once read; a smaller one is copied, so that a small value
/// kept never holds a large frame's memory.
pub(crate) fn shared_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Bytes;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Bytes, E> {
            Ok(DECODING.with_borrow(|frame| {
                let within = frame.as_ptr_range().start <= v.as_ptr_range().start
                    && v.as_ptr_range().end <= frame.as_ptr_range().end;
                match within {
                    true => part_of(frame, v),
                    false => Bytes::copy_from_slice(v),
                }
            }))
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
            Ok(Bytes::copy_from_slice(v))
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
            Ok(Bytes::from(v))
        }
    }
    d.deserialize_bytes(Visitor)
}

/// `part`, a part of `whole`, to keep: a slice of `whole` when it takes at
/// least half of it, otherwise a copy, so that a small part kept never holds
/// the memory of a much larger whole.
pub(crate) fn part_of(whole: &Bytes, part: &[u8]) -> Bytes {
    match part.len() >= whole.len() / 2 {
        true => whole.slice_ref(part),
        false => Bytes::copy_from_slice(part),
    }
}

#[cfg(test)]
#[path = "frame_props.rs"]
mod props;
