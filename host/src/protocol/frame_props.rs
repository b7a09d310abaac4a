//! Property tests of the frame decoder: on any bytes at all, `read_frame`
//! returns a frame, an error or the end of the stream, never panics, and
//! never allocates more than the bytes it was given could fill, beyond the
//! part of a length prefix it believes.

use std::io::{self, Read};

use proptest::prelude::*;

use super::{FIRST_READ, read_frame, write_frame};
use crate::protocol::{Call, Calls, FromWorker, ToWorker};

/// A reader that fails the test if asked to fill a buffer larger than the
/// part of a length prefix the decoder believes ([`FIRST_READ`]) while it
/// holds less than 1 KiB: a decoder that trusted the whole prefix would
/// allocate that much and ask.
struct Bounded<'a> {
    bytes: &'a [u8],
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(buf.len() <= FIRST_READ, "asked to fill {} bytes", buf.len());
        self.bytes.read(buf)
    }
}

proptest! {
    #![proptest_config(crate::protocol::prop_config(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut reader = Bounded { bytes: &bytes };
        while let Ok(Some(_)) = read_frame::<ToWorker>(&mut reader) {}
        let mut reader = Bounded { bytes: &bytes };
        while let Ok(Some(_)) = read_frame::<FromWorker>(&mut reader) {}
    }

    #[test]
    fn a_large_length_prefix_is_refused_without_allocating_it(
        len in (FIRST_READ as u32 + 1)..=u32::MAX,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend(tail);
        let error = read_frame::<ToWorker>(&mut Bounded { bytes: &bytes }).unwrap_err();
        let expected = match len as usize > super::MAX_FRAME {
            true => io::ErrorKind::InvalidData,
            false => io::ErrorKind::UnexpectedEof,
        };
        prop_assert_eq!(error.kind(), expected);
    }

    #[test]
    fn frames_round_trip(index in any::<u64>(), args in proptest::collection::vec(any::<u8>(), 0..64)) {
        let call = Call { index, size: args.len() as u64 };
        let batch = Calls { task: 0, calls: vec![call], args: args.clone().into() };
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &ToWorker::Batch(batch)).unwrap();
        let Some(ToWorker::Batch(batch)) = read_frame(&mut &bytes[..]).unwrap() else {
            panic!("not a batch");
        };
        prop_assert_eq!(batch.calls[0].index, index);
        prop_assert_eq!(batch.calls[0].size, args.len() as u64);
        prop_assert_eq!(&batch.args[..], &args[..]);
        // Every strict prefix is an error or a clean end, never a frame.
        for cut in 0..bytes.len() {
            prop_assert!(!matches!(read_frame::<ToWorker>(&mut &bytes[..cut]), Ok(Some(_))));
        }
    }
}

/// A writer whose every write and flush fails as a closed pipe does.
struct Closed;

impl io::Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
}

#[test]
fn a_failed_write_is_reported_as_itself() {
    // Through a buffer, the write fails only when the frame is flushed.
    for mut writer in [
        Box::new(Closed) as Box<dyn io::Write>,
        Box::new(io::BufWriter::new(Closed)),
    ] {
        let error = write_frame(&mut writer, &FromWorker::Unfit(7)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{error}");
    }
}
