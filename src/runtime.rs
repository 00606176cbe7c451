//! The one tokio runtime that pipelines and Kubernetes calls wait on.
//!
//! A pass is synchronous code; only waiting is async. The pool's threads poll their runs'
//! futures themselves ([`block_on`]), while this runtime's two threads drive the I/O and
//! the timers those futures wait on: a run that waits for a process or a Pod holds no
//! thread. The runtime lives as long as the process, so that none is ever dropped
//! inside another (the daemon's).

use std::future::Future;
use std::sync::OnceLock;

/// Runs `future` to completion on the calling thread, which must not be one of a
/// runtime's own (a thread of a pass, of the pool, or of `spawn_blocking`).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    runtime().handle().block_on(future)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("promised-io")
            .enable_all()
            .build()
            .expect("a tokio runtime starts")
    })
}
