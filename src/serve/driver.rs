//! The daemon's loop, as a state machine in the manner of kube-runtime's `watcher`:
//! [`Pacing::step`] takes what just happened and answers what to do next, as data;
//! [`drive`] does it, at the edge (a worker thread for the sync, a timer, the wake-up
//! channel). The pure part decides when the next sync runs; the daemon's own timers
//! ([`super::timing`]) say what is due then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::daemon::{Daemon, SyncError, Synced};
use super::metrics::Metrics;
use crate::reconcile::Scope;

/// The work the loop drives: a [`Daemon`], or a double in tests.
pub(crate) trait Work: Send + 'static {
    /// Adds what was asked for over HTTP, and what is due at `now`, to the next sync.
    fn queue(&mut self, asked: Scope, now: DateTime<Utc>);
    /// One sync: fetch, rerun, push. Blocking.
    fn sync(&mut self, now: DateTime<Utc>) -> Result<Synced, SyncError>;
    /// When something is next due, if anything is.
    fn next_due(&self) -> Option<DateTime<Utc>>;
    /// Hands back what this daemon holds (the lease), before it exits.
    fn release(&mut self);
}

impl Work for Daemon {
    fn queue(&mut self, asked: Scope, now: DateTime<Utc>) {
        self.select(asked);
        self.select_due(now);
    }

    fn sync(&mut self, now: DateTime<Utc>) -> Result<Synced, SyncError> {
        Daemon::sync(self, now)
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        Daemon::next_due(self)
    }

    fn release(&mut self) {
        Daemon::release(self);
    }
}

/// What happened, as the loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The daemon started.
    Started,
    /// A sync ended; `next_due` is when the daemon next has something due.
    Synced {
        ok: bool,
        /// What the daemon says is next due.
        next_due: Option<DateTime<Utc>>,
    },
    /// The sleep ended: its time came, or a webhook, a file change or a signal woke it.
    Woke,
}

/// What the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Run a sync now.
    Sync,
    /// Sleep this long, unless woken first.
    Sleep(Duration),
    /// Hand back the lease and exit.
    Stop,
}

/// When the next sync runs: at the next due time, at most a poll away; after failed
/// syncs in a row, not before 1 s, 2 s, 4 s … (at most a poll), so that an unreachable
/// remote or API server is not asked again at once, whatever is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pacing {
    poll: Duration,
    failures: u32,
}

impl Pacing {
    /// Pacing for a daemon that fetches every `poll`.
    pub(crate) fn new(poll: Duration) -> Self {
        Pacing { poll, failures: 0 }
    }

    /// The next action after `event`, at `now`. Once `stopping`, the loop stops at the
    /// first step that is not in the middle of a sync: a sync in flight finishes (its
    /// ref updates are atomic either way).
    pub(crate) fn step(&mut self, event: Event, stopping: bool, now: DateTime<Utc>) -> Action {
        if stopping {
            return Action::Stop;
        }
        match event {
            Event::Started | Event::Woke => Action::Sync,
            Event::Synced { ok, next_due } => {
                self.failures = if ok {
                    0
                } else {
                    self.failures.saturating_add(1)
                };
                Action::Sleep(self.sleep(next_due, now))
            }
        }
    }

    fn sleep(&self, next_due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
        let until_due = next_due.map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
        let sleep = until_due.map_or(self.poll, |due| due.min(self.poll));
        match self.failures {
            0 => sleep,
            n => {
                let backoff = Duration::from_secs(1) * 2u32.saturating_pow((n - 1).min(16));
                sleep.max(backoff.min(self.poll))
            }
        }
    }
}

/// What the loop shares with the HTTP endpoints and the signal handler.
pub(crate) struct Shared {
    /// Wakes the sleep: a webhook, a rerun asked for, a file change, a signal.
    pub(crate) wake: Arc<Notify>,
    /// Set on SIGTERM or SIGINT.
    pub(crate) stop: Arc<AtomicBool>,
    /// Reruns asked for over HTTP since the last sync.
    pub(crate) requested: Arc<Mutex<Scope>>,
    /// Whether the daemon has a branch to follow and its last sync succeeded.
    pub(crate) ready: Arc<AtomicBool>,
    /// Who holds the lease, while this daemon stands by.
    pub(crate) standby: Arc<Mutex<Option<String>>>,
    pub(crate) metrics: Arc<Metrics>,
}

/// Runs `work` until a stop is asked for, pacing its syncs with `pacing`; `now` is the
/// clock (the system's, or tokio's paused one in tests). Returns the work, released.
pub(crate) async fn drive<W: Work>(
    mut work: W,
    mut pacing: Pacing,
    shared: &Shared,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<W, tokio::task::JoinError> {
    let mut event = Event::Started;
    loop {
        let stopping = shared.stop.load(Ordering::Relaxed);
        match pacing.step(event, stopping, now()) {
            Action::Sync => {
                let at = now();
                let asked = std::mem::take(&mut *lock(&shared.requested));
                work.queue(asked, at);
                let (returned, result) = tokio::task::spawn_blocking(move || {
                    let result = work.sync(at);
                    (work, result)
                })
                .await?;
                work = returned;
                report(shared, &result);
                event = Event::Synced {
                    ok: result.is_ok(),
                    next_due: work.next_due(),
                };
            }
            Action::Sleep(duration) => {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => {}
                    _ = shared.wake.notified() => {}
                }
                event = Event::Woke;
            }
            Action::Stop => break,
        }
    }
    tokio::task::spawn_blocking(move || {
        work.release();
        work
    })
    .await
}

/// Makes a sync's outcome visible: `/readyz`, the standby's holder, the metrics, the log.
fn report(shared: &Shared, result: &Result<Synced, SyncError>) {
    match result {
        Ok(synced) => {
            tracing::debug!(?synced, "sync done");
            let held_by = match synced {
                Synced::Standby { holder, until } => Some(format!(
                    "{holder} holds the lease until {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
                _ => None,
            };
            shared
                .ready
                .store(*synced != Synced::NoBranch, Ordering::Relaxed);
            *lock(&shared.standby) = held_by;
        }
        Err(err) => {
            shared.metrics.sync_errors.inc();
            shared.ready.store(false, Ordering::Relaxed);
            tracing::error!("sync failed: {err}");
        }
    }
}

/// The value behind `mutex`, also after a panic elsewhere left it poisoned.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
