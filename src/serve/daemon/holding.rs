//! The daemon's side of the lease (see [`crate::serve::lease`]): take it, renew it
//! while a pass runs, stand by while another daemon holds it, hand it back on stop.

use std::sync::mpsc::RecvTimeoutError;

use chrono::{DateTime, Utc};

use super::{Daemon, LEASE_NEXT_REF, LeaseSettings, Leased, SyncError, Synced};
use crate::git::{GitError, PushOutcome, RefUpdate};
use crate::serve::kube_lease::Written;
use crate::serve::lease::{Found, LEASE_FILE, Lease, Role, lease_ref, role};
use crate::serve::timing::{Intervals, Retries};

impl Daemon {
    /// Hands the lease back, when this daemon holds it, so that a standby (or the next
    /// Pod of a rollout) takes over at once instead of when it ends. What cannot be
    /// pushed is left to end.
    pub(crate) fn release(&mut self) {
        let (Some(settings), Some(tip), true) = (&self.config.lease, &self.lease_tip, self.leading)
        else {
            return;
        };
        let ended = Lease {
            holder: settings.id.clone(),
            renewed: Utc::now(),
            duration: "0s".into(),
        };
        let pushed = self.push_lease(&self.target().remote, &ended, Some(tip));
        match pushed {
            Ok((PushOutcome::Pushed, _)) => tracing::info!("handed the lease back"),
            Ok((PushOutcome::Rejected(reason), _)) => {
                tracing::info!(%reason, "the lease had moved")
            }
            Err(err) => tracing::warn!("cannot hand the lease back ({err}); it ends by itself"),
        }
        self.leading = false;
    }

    /// The lease as it is now, with its version (the lease ref's commit as fetched,
    /// `fetched`; or the Kubernetes object's `resourceVersion`); `None` when there is no
    /// lease, or no lease yet.
    pub(super) fn read_lease(&self, fetched: &str) -> Result<Option<Found>, SyncError> {
        let Some(settings) = &self.config.lease else {
            return Ok(None);
        };
        if let Some(kubernetes) = &settings.kubernetes {
            return kubernetes.read().map_err(SyncError::Lease);
        }
        let Some(tip) = self.git.resolve(fetched) else {
            return Ok(None);
        };
        let lease = self
            .read_file(&tip, LEASE_FILE)
            .and_then(|b| Lease::parse(&b));
        Ok(Some((tip, lease)))
    }

    /// Takes, renews or respects the lease at `now`, as `found` ([`Daemon::read_lease`]).
    /// Without a lease, this daemon always works.
    pub(super) fn lease(
        &mut self,
        remote: &str,
        found: Option<Found>,
        now: DateTime<Utc>,
    ) -> Result<Leased, SyncError> {
        let Some(settings) = self.config.lease.clone() else {
            return Ok(Leased::Held(None));
        };
        let (tip, lease) = match found {
            Some((tip, Ok(lease))) => (Some(tip), Some(lease)),
            Some((tip, Err(why))) => {
                tracing::warn!("the lease does not read ({why}); taking it");
                (Some(tip), None)
            }
            None => (None, None),
        };
        // When this daemon first saw this very lease: a lease that does not move ends
        // one duration after that, whatever its `renewed` says.
        let seen = match (&tip, &self.lease_seen) {
            (Some(tip), Some((seen_tip, at))) if seen_tip == tip => *at,
            _ => now,
        };
        self.lease_seen = tip.clone().map(|tip| (tip, seen));
        let lease = lease.as_ref().map(|lease| (lease, seen));
        match role(&settings.id, lease, settings.duration, now) {
            Role::Leader { renew_at } => {
                self.lease_due = Some(renew_at);
                self.leading = true;
                self.lease_tip.clone_from(&tip);
                Ok(Leased::Held(tip))
            }
            Role::Standby { holder, until } => Ok(Leased::Standby(self.stand_by(holder, until))),
            Role::Take => {
                // Whether the lease taken is the one this daemon last wrote: if another
                // daemon held it since (this one stalled), what this one remembers is
                // out of date, whatever it believed.
                let own = tip.is_some() && tip == self.lease_tip;
                let held = held(&settings, now);
                let (pushed, commit) = self.push_lease(remote, &held, tip.as_deref())?;
                if let PushOutcome::Rejected(reason) = pushed {
                    // Another daemon took it first: the next attempt fetches and sees whom.
                    return Ok(Leased::Lost(reason));
                }
                if !self.leading || !own {
                    tracing::info!(id = %settings.id, "took the lease: this daemon does the work");
                    // Another daemon may have worked meanwhile: start from what it saved.
                    self.forget();
                }
                self.leading = true;
                self.metrics.leader.set(1);
                let renew =
                    chrono::Duration::from_std(settings.duration * 2 / 3).unwrap_or_default();
                self.lease_due = Some(now + renew);
                self.lease_tip = Some(commit.clone());
                Ok(Leased::Held(Some(commit)))
            }
        }
    }

    /// Runs `work` (a pass, which may outlast the lease) while a thread renews the lease
    /// every third of its duration; returns what `work` gave and the lease ref's commit
    /// as last pushed. A renewal that another daemon beat stops renewing: the push of
    /// the pass's outputs, which expects the lease where this daemon left it, is then
    /// refused.
    pub(super) fn renewing<T>(
        &self,
        remote: &str,
        tip: Option<String>,
        work: impl FnOnce() -> T,
    ) -> (T, Option<String>) {
        let Some(settings) = &self.config.lease else {
            return (work(), tip);
        };
        let every = settings.duration / 3;
        // The first renewal is when this daemon's renewal is due (the pass may start
        // just before), the others a third of the duration apart.
        let first = self
            .lease_due
            .and_then(|due| (due - Utc::now()).to_std().ok())
            .map_or(every, |due| due.min(every));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|threads| {
            let renewer = threads.spawn(move || {
                let mut tip = tip;
                let mut wait = first;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    wait = every;
                    let renewal = held(settings, Utc::now());
                    match self.push_lease(remote, &renewal, tip.as_deref()) {
                        Ok((PushOutcome::Pushed, commit)) => tip = Some(commit),
                        Ok((PushOutcome::Rejected(reason), _)) => {
                            tracing::warn!(%reason, "lost the lease during a pass: its outputs will not be pushed");
                            break;
                        }
                        Err(err) => tracing::warn!("cannot renew the lease ({err}); trying again"),
                    }
                }
                tip
            });
            let done = work();
            drop(stop);
            (done, renewer.join().expect("the renewer does not panic"))
        })
    }

    /// Stands by while `holder` holds the lease, until `until`; forgets what it knew, so
    /// that it starts from the saved state if it takes the lease.
    fn stand_by(&mut self, holder: String, until: DateTime<Utc>) -> Synced {
        if self.leading || self.saved.is_some() {
            tracing::info!(%holder, %until, "another daemon holds the lease: standing by");
        }
        self.forget();
        self.leading = false;
        self.lease_tip = None;
        self.metrics.leader.set(0);
        self.lease_due = Some(until);
        Synced::Standby { holder, until }
    }

    /// Forgets what a restart forgets: the next sync reads the saved state again.
    fn forget(&mut self) {
        self.saved = None;
        self.last_input_commit = None;
        self.since = None;
        self.first_pass = true;
        self.next_full_pass = None;
        self.retries = Retries::default();
        self.promise_retries = Retries::default();
        self.intervals = Intervals::default();
    }

    /// Writes `lease` where the lease is kept, if it is still at `tip`: commits it on top
    /// of `tip` and pushes it alone to `remote`, expecting the lease ref at `tip`; or
    /// replaces the Kubernetes Lease at version `tip`. Returns whether it was written
    /// and its new version (the commit, or the `resourceVersion`).
    pub(super) fn push_lease(
        &self,
        remote: &str,
        lease: &Lease,
        tip: Option<&str>,
    ) -> Result<(PushOutcome, String), SyncError> {
        if let Some(kubernetes) = self
            .config
            .lease
            .as_ref()
            .and_then(|s| s.kubernetes.as_ref())
        {
            let written = kubernetes.write(lease, tip).map_err(SyncError::Lease)?;
            return Ok(match written {
                Written::Held(version) => (PushOutcome::Pushed, version),
                Written::Lost(reason) => (PushOutcome::Rejected(reason), String::new()),
            });
        }
        let commit = self.commit_lease(lease, tip)?;
        let reference = lease_ref(&self.target().branch);
        let update = RefUpdate {
            reference: &reference,
            commit: &commit,
            expected: tip,
        };
        Ok((self.git.push(remote, &[update])?, commit))
    }

    /// Commits `lease` on top of `tip`, for a push.
    pub(super) fn commit_lease(
        &self,
        lease: &Lease,
        tip: Option<&str>,
    ) -> Result<String, GitError> {
        let message = "promised serve: the lease\n";
        self.commit_file(LEASE_NEXT_REF, tip, LEASE_FILE, lease.render(), message)
    }
}

/// The lease this daemon holds from `now` on.
pub(super) fn held(settings: &LeaseSettings, now: DateTime<Utc>) -> Lease {
    Lease {
        holder: settings.id.clone(),
        renewed: now,
        duration: humantime::format_duration(settings.duration).to_string(),
    }
}
