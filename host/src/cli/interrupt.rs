//! Ctrl-C. The first SIGINT stops `wpool run` from taking more inputs: the
//! tasks already handed to workers finish and are printed, then wpool exits
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

/// The exit status of a run stopped by SIGINT, as shells report it.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Whether SIGINT has come.
pub(crate) struct Interrupt {
    flag: Arc<AtomicBool>,
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
        Ok(Interrupt { flag })
    }

    pub(crate) fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// `inputs`, ending early once SIGINT has come.
    pub(crate) fn guard<I: Iterator>(&self, inputs: I) -> impl Iterator<Item = I::Item> + use<I> {
        let flag = Arc::clone(&self.flag);
        inputs.take_while(move |_| !flag.load(Ordering::SeqCst))
    }
}
