//! A job's shared memory: a `memfd` the hub creates for each job and maps,
//! and every worker of the job maps too ([`Arena`]), where each of the
//! job's locks and number values keeps its state in a [`Cell`]. A task
//! takes a free lock, releases one nobody waits for, and reads or changes a
//! number value with atomic operations on its cell, as Python's `Lock` and
//! `Value` do in their shared memory, without a message to the hub.
//!
//! The hub keeps what needs a queue or a clock: the tasks waiting for a
//! lock, a condition's waiters, timeouts, and letting go of what ended or
//! dead tasks held. It serves the same operations on the same cells for
//! whoever sends it one (a task that found the lock taken, the host's
//! handles, an agent's workers).
//!
//! # A lock's cell
//! `word` is 0 while the lock is free; otherwise the [`holder`] tag of the
//! task holding it, with [`WAITING`] set while the hub has tasks waiting
//! for it. Only the hub sets or clears `WAITING`, and only the hub hands a
//! lock it holds waiters for to the next one: a task's own release fails
//! while the flag is set, and goes to the hub. `count` is how many times
//! the holder took a re-entrant lock; only the holder (or the hub on its
//! behalf, while it waits for the hub's answer) changes it. `abandons`
//! counts the times the lock was taken from a task that died: a task that
//! was spinning for the lock sees it change and answers `abandoned`.
//!
//! # A number value's cell
//! `word` holds the value's bits (an `i64`, or an `f64`'s bits); its kind
//! never changes, and both sides know it from the `open`. Bytes values
//! live in the hub.
//!
//! A worker's cells are plain memory to it: a worker that escaped its
//! sandbox could write anything there, but only into its own job's cells.
//! The hub never trusts a cell for more than the lock's or value's state.
// Mapping the `memfd` and viewing it as cells is the one thing here that
// needs `unsafe`.
#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use rustix::fs::MemfdFlags;
use rustix::mm::{MapFlags, ProtFlags};

use super::ops::{ObjectError, Scalar};

/// The bit of a lock's `word` that says the hub has tasks waiting for it.
pub(crate) const WAITING: u64 = 1 << 63;

/// A job's shared memory, mapped in this process.
pub(crate) struct Arena {
    map: NonNull<Cell>,
    cells: u32,
    fd: OwnedFd,
}

// SAFETY: the mapping is only reached through `&Cell`, whose fields are
// atomics.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena").field("cells", &self.cells).finish()
    }
}

impl Arena {
    /// A new arena of `cells` cells, all zero: free locks, values of 0.
    pub(crate) fn create(cells: u32) -> io::Result<Arena> {
        let fd = rustix::fs::memfd_create("wpool-shared", MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, Self::bytes(cells) as u64)?;
        Self::map(fd, cells)
    }

    /// Maps the arena of `cells` cells that another process created.
    pub(crate) fn open(fd: OwnedFd, cells: u32) -> io::Result<Arena> {
        // A mapping past the file's end would fault when touched.
        if rustix::fs::fstat(&fd)?.st_size < Self::bytes(cells) as i64 {
            return Err(io::Error::other("the shared memory is smaller than said"));
        }
        Self::map(fd, cells)
    }

    fn bytes(cells: u32) -> usize {
        (cells as usize).max(1) * size_of::<Cell>()
    }

    fn map(fd: OwnedFd, cells: u32) -> io::Result<Arena> {
        // SAFETY: a fresh shared mapping of the whole file, which is at
        // least this long; nothing else in this process refers to it, and
        // it stays mapped until `drop`.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                Self::bytes(cells),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let map = NonNull::new(map.cast::<Cell>()).ok_or_else(|| io::Error::other("mmap"))?;
        Ok(Arena { map, cells, fd })
    }

    /// How many cells the arena has.
    pub(crate) fn cells(&self) -> u32 {
        self.cells
    }

    /// Cell `index`, if the arena has it.
    pub(crate) fn cell(&self, index: u32) -> Option<&Cell> {
        // SAFETY: the mapping holds `cells` cells, page-aligned and so
        // aligned for `Cell`, initialized (a `memfd` reads as zeros, a
        // valid `Cell`), and mapped as long as `self` lives. Other
        // processes change them only through atomics.
        (index < self.cells).then(|| unsafe { self.map.add(index as usize).as_ref() })
    }
}

impl AsFd for Arena {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: every `&Cell` borrows `self`, so none is left.
        let _ = unsafe { rustix::mm::munmap(self.map.as_ptr().cast(), Self::bytes(self.cells)) };
    }
}

/// One lock's or number value's state, on a cache line of its own.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Cell {
    word: AtomicU64,
    count: AtomicU32,
    abandons: AtomicU32,
}

/// The tag of the task `task` of worker `worker` (or of the host's thread
/// `task`, when `worker` is the host's id) in a lock's `word`: never 0, and
/// never with [`WAITING`] set.
pub(crate) fn holder(worker: u32, task: u64) -> u64 {
    ((u64::from(worker) & 0x3FFF_FFFF) + 1) << 32 | (task & 0xFFFF_FFFF)
}

/// Whether `tag` is a [`holder`] of worker `worker`.
pub(crate) fn held_by_worker(tag: u64, worker: u32) -> bool {
    tag >> 32 == (u64::from(worker) & 0x3FFF_FFFF) + 1
}

/// What a task's attempt to take a lock found.
#[derive(Debug, PartialEq)]
pub(crate) enum Take {
    /// The task holds it now (once more, if it held it already).
    Taken,
    /// Another task holds it.
    Busy,
    /// The task holds this plain lock already, or too many times.
    Refused(ObjectError),
}

/// What a task's attempt to release a lock found.
#[derive(Debug, PartialEq)]
pub(crate) enum Release {
    Released,
    /// The hub has tasks waiting for the lock: it hands it over.
    ToHub,
    NotHeld,
}

impl Cell {
    /// The tag of the task holding the lock, if any.
    pub(crate) fn holder(&self) -> Option<u64> {
        Some(self.word.load(SeqCst) & !WAITING).filter(|&tag| tag != 0)
    }

    /// Takes the lock for `tag`: if it is free, or again if `tag` holds
    /// this `reentrant` lock.
    pub(crate) fn take(&self, tag: u64, reentrant: bool) -> Take {
        if self.claim(tag, 1) {
            return Take::Taken;
        }
        if self.holder() != Some(tag) {
            return Take::Busy;
        }
        if !reentrant {
            return Take::Refused(ObjectError::Denied(
                "this task already holds the lock".into(),
            ));
        }
        match self.count.load(SeqCst).checked_add(1) {
            Some(more) => {
                self.count.store(more, SeqCst);
                Take::Taken
            }
            None => Take::Refused(ObjectError::Denied(
                "the lock is held too many times".into(),
            )),
        }
    }

    /// Releases the lock once for `tag`, unless the hub must hand it over.
    pub(crate) fn release(&self, tag: u64) -> Release {
        let word = self.word.load(SeqCst);
        if word & !WAITING != tag {
            return Release::NotHeld;
        }
        let count = self.count.load(SeqCst);
        if count > 1 {
            self.count.store(count - 1, SeqCst);
            return Release::Released;
        }
        match self.word.compare_exchange(tag, 0, SeqCst, SeqCst) {
            Ok(_) => Release::Released,
            Err(_) => Release::ToHub,
        }
    }

    /// Takes the lock for `tag`, `count` times, if it is free.
    pub(crate) fn claim(&self, tag: u64, count: u32) -> bool {
        let claimed = self.word.compare_exchange(0, tag, SeqCst, SeqCst).is_ok();
        if claimed {
            self.count.store(count, SeqCst);
        }
        claimed
    }

    /// Releases the lock for `tag` however many times it took it, unless
    /// the hub must hand it over: the task ended.
    pub(crate) fn release_all(&self, tag: u64) -> Release {
        if self.holder() != Some(tag) {
            return Release::NotHeld;
        }
        self.count.store(1, SeqCst);
        self.release(tag)
    }

    /// How many times the lock was taken from a task that died.
    pub(crate) fn abandons(&self) -> u32 {
        self.abandons.load(SeqCst)
    }

    /// How many times its holder took the lock.
    pub(crate) fn count(&self) -> u32 {
        self.count.load(SeqCst)
    }

    /// For the hub: sets [`WAITING`] on the held lock, which makes its
    /// holder's release come to the hub; `false` if the lock is free.
    pub(crate) fn mark_waiting(&self) -> bool {
        let mut word = self.word.load(SeqCst);
        loop {
            if word & !WAITING == 0 {
                return false;
            }
            match self
                .word
                .compare_exchange(word, word | WAITING, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// For the hub: clears [`WAITING`]; nobody waits any more.
    pub(crate) fn clear_waiting(&self) {
        self.word.fetch_and(!WAITING, SeqCst);
    }

    /// For the hub: hands the lock its holder releases to `tag`, taken
    /// `count` times; `waiting` if more tasks wait for it. Nobody else
    /// changes a held lock's word meanwhile: its holder is waiting for the
    /// hub's answer, or gone. (A free lock is [`Cell::claim`]ed: a task
    /// may take it at any time.)
    pub(crate) fn give(&self, tag: u64, count: u32, waiting: bool) {
        self.count.store(count, SeqCst);
        let flag = if waiting { WAITING } else { 0 };
        self.word.store(tag | flag, SeqCst);
    }

    /// For the hub: frees the lock, which nobody waits for; `abandoned` if
    /// its holder died, which tasks spinning for it then see.
    pub(crate) fn free(&self, abandoned: bool) {
        if abandoned {
            self.abandons.fetch_add(1, SeqCst);
        }
        self.word.store(0, SeqCst);
    }

    /// The number value, of kind `kind`.
    pub(crate) fn get(&self, kind: ScalarKind) -> Scalar {
        kind.scalar(self.word.load(SeqCst))
    }

    /// Stores `new` in the number value of kind `kind`.
    pub(crate) fn set(&self, kind: ScalarKind, new: &Scalar) -> Result<(), ObjectError> {
        self.word.store(kind.bits(new)?, SeqCst);
        Ok(())
    }

    /// Adds `delta` to the number value of kind `kind` (ints wrap around,
    /// like a C `long`); answers the sum.
    pub(crate) fn add(&self, kind: ScalarKind, delta: &Scalar) -> Result<Scalar, ObjectError> {
        let delta = kind.bits(delta)?;
        let sum = |bits: u64| match kind {
            ScalarKind::Float => (f64::from_bits(bits) + f64::from_bits(delta)).to_bits(),
            _ => (bits as i64).wrapping_add(delta as i64) as u64,
        };
        let old = self
            .word
            .fetch_update(SeqCst, SeqCst, |bits| Some(sum(bits)))
            .unwrap_or_else(|bits| bits);
        Ok(kind.scalar(sum(old)))
    }

    /// Stores `new` if the number value equals `expected`, both of its
    /// kind (floats compare as numbers: NaN never equals, -0.0 equals 0.0);
    /// answers whether it did.
    pub(crate) fn compare_and_swap(
        &self,
        kind: ScalarKind,
        expected: &Scalar,
        new: &Scalar,
    ) -> Result<bool, ObjectError> {
        kind.check(expected)?;
        let new = kind.bits(new)?;
        let mut bits = self.word.load(SeqCst);
        loop {
            if kind.scalar(bits) != *expected {
                return Ok(false);
            }
            match self.word.compare_exchange(bits, new, SeqCst, SeqCst) {
                Ok(_) => return Ok(true),
                Err(now) => bits = now,
            }
        }
    }
}

/// The kind of a [`Scalar`], which a value or array keeps for its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Int,
    Float,
    Bytes,
}

impl fmt::Display for ScalarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScalarKind::Int => "int",
            ScalarKind::Float => "float",
            ScalarKind::Bytes => "bytes",
        })
    }
}

impl ScalarKind {
    /// Whether values of this kind live in a [`Cell`].
    pub(crate) fn in_cell(self) -> bool {
        self != ScalarKind::Bytes
    }

    /// `denied` unless `scalar` is of this kind.
    pub(crate) fn check(self, scalar: &Scalar) -> Result<(), ObjectError> {
        if scalar.kind() == self {
            Ok(())
        } else {
            Err(ObjectError::Denied(format!(
                "this holds {self}, not {}",
                scalar.kind()
            )))
        }
    }

    /// The bits a cell holds for `scalar`, which must be of this kind.
    fn bits(self, scalar: &Scalar) -> Result<u64, ObjectError> {
        self.check(scalar)?;
        Ok(match scalar {
            Scalar::Int(n) => *n as u64,
            Scalar::Float(x) => x.to_bits(),
            Scalar::Bytes(_) => unreachable!("no cell holds bytes"),
        })
    }

    /// The scalar of this kind whose bits a cell holds.
    fn scalar(self, bits: u64) -> Scalar {
        match self {
            ScalarKind::Float => Scalar::Float(f64::from_bits(bits)),
            _ => Scalar::Int(bits as i64),
        }
    }
}

impl Scalar {
    /// The scalar's kind.
    pub(crate) fn kind(&self) -> ScalarKind {
        match self {
            Scalar::Int(_) => ScalarKind::Int,
            Scalar::Float(_) => ScalarKind::Float,
            Scalar::Bytes(_) => ScalarKind::Bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two mappings of one arena, as the hub and a worker have.
    fn two_views() -> (Arena, Arena) {
        let arena = Arena::create(4).unwrap();
        let fd = arena.as_fd().try_clone_to_owned().unwrap();
        let other = Arena::open(fd, 4).unwrap();
        (arena, other)
    }

    #[test]
    fn a_lock_taken_in_one_mapping_is_held_in_the_other() {
        let (hub, worker) = two_views();
        let (a, b) = (holder(0, 7), holder(1, 8));
        assert_eq!(worker.cell(2).unwrap().take(a, false), Take::Taken);
        let cell = hub.cell(2).unwrap();
        assert_eq!(cell.holder(), Some(a));
        assert_eq!(cell.take(b, false), Take::Busy);
        assert!(matches!(cell.take(a, false), Take::Refused(_)));
        assert_eq!(cell.release(b), Release::NotHeld);
        // The hub parks b: a's release goes to the hub, which hands over.
        assert!(cell.mark_waiting());
        assert_eq!(worker.cell(2).unwrap().release(a), Release::ToHub);
        cell.give(b, 1, false);
        assert_eq!(worker.cell(2).unwrap().holder(), Some(b));
        assert_eq!(cell.release(b), Release::Released);
        assert_eq!(cell.holder(), None);
        assert!(!cell.mark_waiting(), "a free lock has nobody to wait for");
    }

    #[test]
    fn a_reentrant_lock_counts_its_holds() {
        let (hub, worker) = two_views();
        // The host's own id: its threads hold locks too.
        let a = holder(u32::MAX, 1);
        let cell = worker.cell(0).unwrap();
        for _ in 0..3 {
            assert_eq!(cell.take(a, true), Take::Taken);
        }
        assert_eq!(hub.cell(0).unwrap().count(), 3);
        assert_eq!(cell.release(a), Release::Released);
        assert_eq!(cell.release(a), Release::Released);
        assert_eq!(hub.cell(0).unwrap().holder(), Some(a));
        assert_eq!(cell.release(a), Release::Released);
        assert_eq!(hub.cell(0).unwrap().holder(), None);
        // A task that ends lets go of every hold at once.
        cell.take(a, true);
        cell.take(a, true);
        assert_eq!(cell.release_all(a), Release::Released);
        assert_eq!(cell.holder(), None);
        assert_eq!(cell.release_all(a), Release::NotHeld);
    }

    #[test]
    fn a_dead_holders_lock_is_freed_and_counted_abandoned() {
        let (hub, worker) = two_views();
        let cell = worker.cell(3).unwrap();
        assert_eq!(cell.take(holder(5, 0), false), Take::Taken);
        assert!(held_by_worker(hub.cell(3).unwrap().holder().unwrap(), 5));
        assert!(!held_by_worker(holder(6, 0), 5));
        hub.cell(3).unwrap().free(true);
        assert_eq!((cell.holder(), cell.abandons()), (None, 1));
    }

    #[test]
    fn number_values_change_atomically_across_mappings() {
        let (hub, worker) = two_views();
        let (int, float) = (worker.cell(0).unwrap(), worker.cell(1).unwrap());
        int.set(ScalarKind::Int, &Scalar::Int(i64::MAX)).unwrap();
        assert_eq!(
            int.add(ScalarKind::Int, &Scalar::Int(1)),
            Ok(Scalar::Int(i64::MIN)),
            "ints wrap around"
        );
        assert!(int.set(ScalarKind::Int, &Scalar::Float(1.0)).is_err());
        float.set(ScalarKind::Float, &Scalar::Float(1.5)).unwrap();
        assert_eq!(
            hub.cell(1)
                .unwrap()
                .add(ScalarKind::Float, &Scalar::Float(1.0)),
            Ok(Scalar::Float(2.5))
        );
        let cas = |expected, new| {
            float.compare_and_swap(
                ScalarKind::Float,
                &Scalar::Float(expected),
                &Scalar::Float(new),
            )
        };
        assert_eq!(cas(2.0, 9.0), Ok(false));
        assert_eq!(cas(2.5, f64::NAN), Ok(true));
        assert_eq!(cas(f64::NAN, 1.0), Ok(false), "NaN never equals");
        // Many threads adding at once lose nothing.
        let hub_int = hub.cell(0).unwrap();
        hub_int.set(ScalarKind::Int, &Scalar::Int(0)).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        int.add(ScalarKind::Int, &Scalar::Int(1)).unwrap();
                    }
                });
            }
        });
        assert_eq!(hub_int.get(ScalarKind::Int), Scalar::Int(40_000));
    }

    #[test]
    fn an_arena_smaller_than_said_is_refused() {
        let arena = Arena::create(2).unwrap();
        let fd = arena.as_fd().try_clone_to_owned().unwrap();
        assert!(Arena::open(fd, 1000).is_err());
        assert!(arena.cell(2).is_none());
    }
}
