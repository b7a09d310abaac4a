//! Ctrl-C. The first SIGINT stops `wpool run` from taking more inputs (a
//! stream of them too, while it waits for its next line): the tasks
//! already handed to workers finish and are printed, then wpool exits
//! 130. It stops `wpool spawn`'s processes still running, as Python's
//! KeyboardInterrupt reaches every process: each is reported terminated,
//! then wpool exits 130. A second SIGINT exits at once, with status 130
//! (the workers die with wpool). For `wpool agent`, SIGTERM does the same
//! as SIGINT: the first stops the agent, the second exits at once. Workers
//! have their own process group, so a Ctrl-C at the terminal reaches wpool
//! alone.

use std::ffi::c_int;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

/// The exit status of a run stopped by SIGINT, as shells report it.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Whether SIGINT (or another of the signals it was installed for) has
/// come.
pub(crate) struct Interrupt {
    flag: Arc<AtomicBool>,
    signals: Vec<c_int>,
}

impl Interrupt {
    /// Installs the handlers for SIGINT.
    pub(crate) fn install() -> io::Result<Interrupt> {
        Interrupt::install_for(&[SIGINT])
    }

    /// Installs the handlers for `signals`: the first of them sets the
    /// flag, the next exits with status 130. The exit handler is
    /// registered first, so that it sees the flag only once the first
    /// signal has set it.
    pub(crate) fn install_for(signals: &[c_int]) -> io::Result<Interrupt> {
        let flag = Arc::new(AtomicBool::new(false));
        for &signal in signals {
            signal_hook::flag::register_conditional_shutdown(
                signal,
                EXIT_INTERRUPTED.into(),
                Arc::clone(&flag),
            )?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        Ok(Interrupt {
            flag,
            signals: signals.to_vec(),
        })
    }

    pub(crate) fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Calls `stop` on a thread of its own once the first signal has come,
    /// at once if it came already: for what a signal must end while the
    /// thread that would look at the flag waits (the agent's fetching, a
    /// stream of inputs waiting for its next line).
    pub(crate) fn on_signal(&self, stop: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let mut woken = Signals::new(&self.signals)?;
        let flag = Arc::clone(&self.flag);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                // One that came before `woken` was made only set the flag.
                if flag.load(Ordering::SeqCst) || woken.forever().next().is_some() {
                    stop();
                }
            })?;
        Ok(())
    }

    /// `inputs`, ending early once SIGINT has come.
    pub(crate) fn guard<I: Iterator>(&self, inputs: I) -> impl Iterator<Item = I::Item> + use<I> {
        let flag = Arc::clone(&self.flag);
        inputs.take_while(move |_| !flag.load(Ordering::SeqCst))
    }
}
