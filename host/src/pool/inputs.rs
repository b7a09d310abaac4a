//! What a run takes as its inputs ([`IntoInputs`]): any iterator of
//! [`Input`]s, which the run reads itself as its workers need inputs, or an
//! [`InputStream`], read on a thread of its own.

use std::iter::Empty;

use crate::pool::dispatch::Source;
use crate::pool::task::Task;
use crate::pool::value::Input;

/// Inputs an [`InputStream`] reads ahead of its run, at most.
const READ_AHEAD: usize = 256;

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
pub struct InputStream(Box<dyn Iterator<Item = Input> + Send>);

impl InputStream {
    /// The inputs `inputs` yields, read on a thread of their own.
    pub fn new<I>(inputs: I) -> InputStream
    where
        I: IntoIterator<Item = Input>,
        I::IntoIter: Send + 'static,
    {
        InputStream(Box::new(inputs.into_iter()))
    }
}

impl std::fmt::Debug for InputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputStream").finish_non_exhaustive()
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
        let (sender, receiver) = crossbeam_channel::bounded(READ_AHEAD);
        let task = task.clone();
        std::thread::Builder::new()
            .name("wpool-inputs".into())
            .spawn(move || {
                for (index, input) in (0..).zip(self.0) {
                    // The run ended: nobody takes inputs any more.
                    if sender.send((index, task.clone(), input)).is_err() {
                        break;
                    }
                }
            })
            .expect("cannot start a thread to read the inputs");
        Sourced(Source::Submitted(receiver))
    }
}
