//! The frames between the host and a worker process: a little-endian `u32`
//! length, then the message encoded with postcard. The host writes
//! [`ToWorker`] frames to the worker's stdin and reads [`FromWorker`] frames
//! from its stdout. This is the narrow interface a networked transport would
//! replace.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::capture::Captured;
use crate::error::Failure;
use crate::hub::{Answer, ObjectError, Op};

/// The largest frame either side accepts; a longer length prefix means the
/// stream is corrupt.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// What a worker runs: sent once, first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// Unique within the pool; guests read it as `context.worker-id`.
    pub worker_id: u32,
    pub wasm: Arc<[u8]>,
    /// The export name of the interface holding the function, if any.
    pub instance: Option<String>,
    pub func: String,
    pub limits: Limits,
    /// The component compiled by an earlier worker, from the compile cache,
    /// its tag verified by the host.
    pub compiled: Option<Arc<[u8]>>,
    /// Whether to send the compiled artifact back in [`FromWorker::Ready`],
    /// for the host to cache.
    pub serialize: bool,
}

/// The per-task limits, as a worker applies them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Limits {
    pub timeout: Duration,
    pub fuel: Option<u64>,
    pub max_memory: u64,
    pub max_output: usize,
    pub max_value: usize,
    /// How many tasks one instance serves before it is replaced.
    pub reuse: u32,
}

/// Host to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    Setup(Setup),
    /// Run these tasks, in order, and answer with one [`FromWorker::Done`].
    Batch(Vec<Call>),
    /// The hub's answer to the worker's [`FromWorker::Request`] `id`.
    Reply {
        id: u64,
        result: Result<Answer, ObjectError>,
    },
}

/// One task: its index in the job and one WAVE text per parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Call {
    pub index: u64,
    pub args: Arc<[String]>,
}

/// Worker to host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The component compiled and links: tasks may come. `artifact` is the
    /// compiled component when the setup asked for it.
    Ready { artifact: Option<Vec<u8>> },
    /// The component cannot run here; the worker exits after saying so.
    SetupFailed(String),
    /// The results of one batch, in the batch's order.
    Done {
        busy: Duration,
        results: Vec<CallResult>,
    },
    /// Task `task` operates on a shared object; the hub answers with a
    /// [`ToWorker::Reply`] within `timeout`.
    Request {
        id: u64,
        task: u64,
        op: Op,
        timeout: Option<Duration>,
    },
}

/// The outcome of one task: its result as WAVE text, or why it failed.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CallResult {
    pub index: u64,
    pub outcome: Result<String, Failure>,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// Writes one frame and flushes it.
pub(crate) fn write_frame(w: &mut impl Write, msg: &impl Serialize) -> io::Result<()> {
    let body = postcard::to_stdvec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("frame of {} bytes is too large", body.len())))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&body)?;
    w.flush()
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
    // Grown as bytes arrive, not sized from the prefix: a corrupt length
    // costs no more memory than the bytes that really follow it.
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
#[path = "transport_props.rs"]
mod props;
