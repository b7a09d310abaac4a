//! What a run takes as its inputs ([`IntoInputs`]): any iterator of
//! [`Input`]s, which the run reads itself as its workers need inputs, or an
//! [`InputStream`], read on a thread of its own.

use std::iter::Empty;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};

use crate::pool::dispatch::{Source, Submitted};
use crate::pool::task::Task;
use crate::pool::value::Input;

/// Inputs an [`InputStream`] reads ahead of its run, at most.
const READ_AHEAD: usize = 256;

/// How long the reading thread waits for room in the channel before it
/// looks again whether the stream was closed.
const ROOM_WAIT: Duration = Duration::from_millis(10);

/// Inputs that may keep their reader waiting (lines from a pipe or a
/// socket, a generator that sleeps), read on a thread of their own, as
/// Python's `Pool.imap` reads its iterable: the run yields the outputs of
/// the inputs that came while it waits for the next ones.
///
/// An iterator given to [`Pool::imap`](crate::Pool::imap) as it is, is read
/// by the run itself, a batch of inputs at a time: while its `next` waits,
/// the outputs of the inputs before wait too. An `InputStream` reads at most
/// 256 inputs ahead of the workers; its thread ends with the iterator, or
/// at the first input it reads after the run ended.
///
/// ```
/// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
/// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
/// use std::time::Duration;
/// use wpool::{Component, InputStream, Pool};
///
/// let task = Component::from_file(square)?.task(None)?;
/// let pool = Pool::builder().workers(2).worker_program(worker).build();
/// // Numbers that come slowly, as lines from a pipe would.
/// let (send, numbers) = std::sync::mpsc::channel::<i64>();
/// std::thread::spawn(move || {
///     for x in 0..3 {
///         send.send(x).unwrap();
///         std::thread::sleep(Duration::from_millis(200));
///     }
/// });
/// let parse = task.clone();
/// let inputs = numbers.into_iter().map(move |x| parse.parse_input(&x.to_string()).unwrap());
/// // Each square comes out while the next number is awaited.
/// for output in pool.imap(&task, InputStream::new(inputs))? {
///     println!("{}", output?.result.unwrap());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct InputStream {
    inputs: Box<dyn Iterator<Item = Input> + Send>,
    /// The sending end of the channel the reading thread fills, shared with
    /// the stream's closers: `None` once closed.
    sender: Arc<Mutex<Option<Sender<Submitted>>>>,
    receiver: Receiver<Submitted>,
    closed: Arc<AtomicBool>,
}

impl InputStream {
    /// The inputs `inputs` yields, read on a thread of their own.
    pub fn new<I>(inputs: I) -> InputStream
    where
        I: IntoIterator<Item = Input>,
        I::IntoIter: Send + 'static,
    {
        let (sender, receiver) = crossbeam_channel::bounded(READ_AHEAD);
        InputStream {
            inputs: Box::new(inputs.into_iter()),
            sender: Arc::new(Mutex::new(Some(sender))),
            receiver,
            closed: Arc::default(),
        }
    }

    /// A handle that ends the stream from any thread, even while its reader
    /// waits for an input that may never come (such as a line on a
    /// terminal): what `wpool run --input -` does at Ctrl-C.
    pub fn closer(&self) -> InputStreamCloser {
        InputStreamCloser {
            sender: Arc::clone(&self.sender),
            closed: Arc::clone(&self.closed),
        }
    }
}

/// Ends an [`InputStream`] as its run sees it: see [`InputStream::closer`].
#[derive(Clone)]
pub struct InputStreamCloser {
    sender: Arc<Mutex<Option<Sender<Submitted>>>>,
    closed: Arc<AtomicBool>,
}

impl InputStreamCloser {
    /// The run takes no more inputs from the stream: those read ahead and
    /// not yet handed to a worker are dropped, and the tasks handed to
    /// workers finish and yield their outputs, as after the stream's last
    /// input. The thread reading the inputs ends at the next one it reads.
    pub fn close(&self) {
        // The flag first: the run, woken by the channel's end, finds it set.
        self.closed.store(true, Ordering::SeqCst);
        drop(lock(&self.sender).take());
    }
}

impl std::fmt::Debug for InputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for InputStreamCloser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStreamCloser").finish_non_exhaustive()
    }
}

/// The inputs of [`Pool::imap`](crate::Pool::imap) and its kin: any
/// iterator of [`Input`]s, or an [`InputStream`].
pub trait IntoInputs {
    /// The iterator the run reads itself (none for an [`InputStream`]).
    type Iter: Iterator<Item = Input>;

    /// Where a run of `task` takes these inputs from.
    #[doc(hidden)]
    fn into_source(self, task: &Task) -> Sourced<Self::Iter>;
}

/// A run's source of inputs, as [`IntoInputs`] makes it.
#[doc(hidden)]
pub struct Sourced<I>(pub(crate) Source<I>);

impl<T: IntoIterator<Item = Input>> IntoInputs for T {
    type Iter = T::IntoIter;

    fn into_source(self, _task: &Task) -> Sourced<T::IntoIter> {
        Sourced(Source::Inputs(self.into_iter()))
    }
}

impl IntoInputs for InputStream {
    type Iter = Empty<Input>;

    /// A thread reads the inputs into a channel, each with its position,
    /// as submissions to the run.
    fn into_source(self, task: &Task) -> Sourced<Empty<Input>> {
        let InputStream {
            inputs,
            sender,
            receiver,
            closed,
        } = self;
        let task = task.clone();
        std::thread::Builder::new()
            .name("wpool-inputs".into())
            .spawn(move || {
                // Waits for room a while at a time, so that a closer never
                // waits long for the sender. Stops once the stream is
                // closed or the run ended: nobody takes inputs any more.
                let send = |mut submitted| loop {
                    let sender = lock(&sender);
                    let Some(sender) = sender.as_ref() else {
                        return false;
                    };
                    submitted = match sender.send_timeout(submitted, ROOM_WAIT) {
                        Ok(()) => return true,
                        Err(SendTimeoutError::Timeout(back)) => back,
                        Err(SendTimeoutError::Disconnected(_)) => return false,
                    };
                };
                let _ = (0..).zip(inputs).try_for_each(|(index, input)| {
                    send((index, task.clone(), input)).then_some(())
                });
                // The end of the inputs, which the run sees once the sender
                // is gone (a closer may still hold the place it was kept).
                drop(lock(&sender).take());
            })
            .expect("cannot start a thread to read the inputs");
        Sourced(Source::Submitted(receiver, Some(closed)))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding this lock; a poisoned one is still whole.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
