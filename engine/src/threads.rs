//! The engine's own threads (capture and encoding, decoding, voice, recording, camera): each is
//! named, and counted while it runs, so a program (and the teardown test) can see that they all
//! end with the session.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A count of one engine's running media threads; clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct MediaThreads(Arc<AtomicUsize>);

/// Counts a thread down however it ends (return or panic).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl MediaThreads {
    /// Run `work` on a new thread named `tether-NAME`. If the system refuses a thread, the work
    /// does not run and the error says so.
    pub(crate) fn spawn(
        &self,
        name: &str,
        work: impl FnOnce() + Send + 'static,
    ) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.0.clone());
        std::thread::Builder::new()
            .name(format!("tether-{name}"))
            .spawn(move || {
                let _running = running;
                work();
            })
            .map(drop)
            .map_err(|e| format!("no thread for {name}: {e}"))
    }

    pub(crate) fn shared(&self) -> Arc<AtomicUsize> {
        self.0.clone()
    }
}
