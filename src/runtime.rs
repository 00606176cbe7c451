//! Where futures run. A pass is synchronous code; only waiting is async.
//!
//! - Each worker thread of a pass drives its own runs on a current-thread runtime
//!   ([`for_this_thread`]): the thread that starts a process also waits for its pipes
//!   and its exit, in one `epoll_wait`, as a hand-written poll loop would, and a run
//!   that waits holds no thread.
//! - The Kubernetes client lives on one shared runtime ([`block_on`], [`spawn`]), whose
//!   two threads drive its connections whichever worker asked: a client's connections
//!   belong to the runtime they were made on. It lives as long as the process, so that
//!   none is ever dropped inside another (the daemon's).

use std::future::Future;
use std::sync::OnceLock;

/// A runtime for the calling thread alone, which drives its I/O and timers whenever it
/// waits in [`tokio::runtime::Runtime::block_on`].
pub(crate) fn for_this_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Runs `future` to completion on a runtime of the calling thread's own
/// ([`for_this_thread`]): a run outside the pool (a Promise's workflow, `pipeline run`).
pub(crate) fn block_here<F: Future>(future: F) -> F::Output {
    for_this_thread().block_on(future)
}

/// Runs `future` to completion on the calling thread, with the shared runtime's I/O and
/// timers; the thread must not be one of a runtime's own.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    shared().handle().block_on(future)
}

/// Runs `future` on the shared runtime; what it returns is awaited from anywhere.
pub(crate) fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    shared().spawn(future)
}

fn shared() -> &'static tokio::runtime::Runtime {
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

/// Waits for SIGTERM or SIGINT and calls `first`: the process stops its work and
/// cleans up (what `first` starts). A second signal ends the process at once, with
/// the shell's code for a signal, as an impatient Ctrl-C expects.
pub(crate) async fn on_stop_signal(first: impl FnOnce()) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT");
        return;
    };
    let mut wait = async || {
        tokio::select! {
            _ = term.recv() => 143,
            _ = int.recv() => 130,
        }
    };
    wait().await;
    first();
    let code = wait().await;
    tracing::warn!("a second signal: stopping now, without cleaning up");
    std::process::exit(code);
}

/// A token cancelled at the first SIGTERM or SIGINT (see [`on_stop_signal`]), for the
/// commands that run pipelines: their runs in flight end and clean up.
pub(crate) fn stop_on_signal() -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    let cancel = stop.clone();
    spawn(on_stop_signal(move || {
        tracing::info!("stopping: pipelines in flight end and clean up");
        cancel.cancel();
    }));
    stop
}
