//! A compiled component on its way to a worker, as a file descriptor
//! ([`Artifact`]) passed to each worker that hosts the task, attached
//! (`SCM_RIGHTS`) to the first byte of the frame that needs it on the
//! worker's stdin, a Unix stream socket ([`send_with`]). The worker keeps
//! the descriptors that arrive as it reads ([`FdReader`]) and maps the one
//! its frame names: no copy of tens of megabytes through the socket, none
//! in the host per worker, and no file for a sealed worker to open. A
//! worker's setup carries the job's shared memory the same way.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut, Read, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::Serialize;

use super::frame::write_frame;

/// Compiled code the host verified, in the first [`Artifact::len`] bytes
/// of a file that does not change: a sealed `memfd` (code a worker of this
/// process compiled), or a file of the compile cache, whose tag the host
/// checked over the very bytes this descriptor reads, and which the cache
/// never writes in place. Cloning shares the one descriptor.
#[derive(Clone, Debug)]
pub(crate) struct Artifact {
    fd: Arc<OwnedFd>,
    len: u64,
}

impl Artifact {
    /// A sealed `memfd` holding a copy of `bytes`: its size can no longer
    /// change and nobody can write it.
    pub(crate) fn new(bytes: &[u8]) -> io::Result<Artifact> {
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        let fd = rustix::fs::memfd_create("wpool-artifact", flags)?;
        std::fs::File::from(fd.try_clone()?).write_all(bytes)?;
        let seals = SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL;
        rustix::fs::fcntl_add_seals(&fd, seals)?;
        Ok(Artifact {
            fd: Arc::new(fd),
            len: bytes.len() as u64,
        })
    }

    /// The first `len` bytes of `file`, a file of the compile cache whose
    /// tag the caller verified over those bytes, read through `file`.
    pub(crate) fn verified(file: std::fs::File, len: u64) -> Artifact {
        Artifact {
            fd: Arc::new(file.into()),
            len,
        }
    }

    /// How many bytes of the file the code is.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl AsFd for Artifact {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Writes `message` as one frame to `socket`, with the descriptors `fds`
/// (an [`Artifact`]'s, a job's shared memory) attached to its first byte,
/// in their order. Whoever else writes to the socket must have flushed
/// what it buffered.
pub(crate) fn send_with(
    socket: &UnixStream,
    message: &impl Serialize,
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let mut frame = Vec::new();
    write_frame(&mut frame, message)?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("no room for a descriptor"));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[IoSlice::new(&frame)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    // The descriptor went with the first bytes; the rest, if any, follows.
    let mut rest = socket;
    rest.write_all(&frame[sent..])
}

/// Reads a Unix stream socket, keeping in order the descriptors that come
/// attached to its bytes: [`FdReader::take`] hands out the oldest, for the
/// frame that was sent with it (a sender attaches them to a frame's first
/// byte, and the kernel never merges bytes across such a boundary into one
/// read).
pub(crate) struct FdReader<Fd> {
    socket: Fd,
    fds: VecDeque<OwnedFd>,
}

impl<Fd: AsFd> FdReader<Fd> {
    pub(crate) fn new(socket: Fd) -> FdReader<Fd> {
        FdReader {
            socket,
            fds: VecDeque::new(),
        }
    }

    /// The oldest descriptor received and not yet taken.
    pub(crate) fn take(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }
}

impl<Fd: AsFd> AsFd for FdReader<Fd> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl<Fd: AsFd> Read for FdReader<Fd> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Room for more descriptors than a sender attaches (two at most):
        // any beyond the room would be closed by the kernel, and flagged.
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            &self.socket,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                self.fds.extend(fds);
            }
        }
        Ok(received.bytes)
    }
}
