//! The daemon's side of the lease (see [`crate::serve::lease`]): take it, renew it
//! while a pass runs, stand by while another daemon holds it, hand it back on stop.

use std::sync::mpsc::RecvTimeoutError;

use chrono::{DateTime, Utc};

use super::{Daemon, INPUT_REMOTE, LEASE_NEXT_REF, LeaseSettings, Leased, SyncError, Synced};
use crate::git::{GitError, PushOutcome, RefUpdate};
use crate::serve::lease::{LEASE_FILE, Lease, Role, lease_ref, role};
use crate::serve::timing::{Intervals, Retries};

impl Daemon {
    /// Hands the lease back, when this daemon holds it, so that a standby (or the next
    /// Pod of a rollout) takes over at once instead of when it ends. What cannot be
    /// pushed is left to end.
    pub fn release(&mut self) {
        let (Some(settings), Some(tip), true) = (&self.config.lease, &self.lease_tip, self.leading)
        else {
            return;
        };
        let Some(remote) = self.lease_remote() else {
            return;
        };
        let ended = Lease {
            holder: settings.id.clone(),
            renewed: Utc::now(),
            duration: "0s".into(),
        };
        let message = "promised serve: hand the lease back\n";
        let pushed = self
            .commit_file(
                LEASE_NEXT_REF,
                Some(tip),
                LEASE_FILE,
                ended.render(),
                message,
            )
            .and_then(|commit| {
                let reference = lease_ref(&self.config.branch);
                let update = RefUpdate {
                    reference: &reference,
                    commit: &commit,
                    expected: Some(tip),
                };
                self.git.push(&remote, &[update])
            });
        match pushed {
            Ok(PushOutcome::Pushed) => tracing::info!("handed the lease back"),
            Ok(PushOutcome::Rejected(reason)) => tracing::info!(%reason, "the lease had moved"),
            Err(err) => tracing::warn!("cannot hand the lease back ({err}); it ends by itself"),
        }
        self.leading = false;
    }

    /// The remote the lease lives on: the one the outputs go to.
    fn lease_remote(&self) -> Option<String> {
        match &self.config.output {
            None => Some(INPUT_REMOTE.to_string()),
            Some(target) => Some(target.remote.clone()),
        }
    }

    /// Takes, renews or respects the lease at `now`; `tip` is the lease ref's commit as
    /// fetched. Without a lease, this daemon always works.
    pub(super) fn lease(
        &mut self,
        remote: &str,
        tip: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Leased, SyncError> {
        let Some(settings) = self.config.lease.clone() else {
            return Ok(Leased::Held(None));
        };
        let lease = match tip.as_deref().map(|tip| self.read_file(tip, LEASE_FILE)) {
            Some(Ok(bytes)) => Lease::parse(&bytes)
                .map_err(|why| tracing::warn!("the lease does not read ({why}); taking it"))
                .ok(),
            Some(Err(why)) => {
                tracing::warn!("the lease does not read ({why}); taking it");
                None
            }
            None => None,
        };
        match role(&settings.id, lease.as_ref(), settings.duration, now) {
            Role::Leader { renew_at } => {
                self.lease_due = Some(renew_at);
                self.leading = true;
                self.lease_tip.clone_from(&tip);
                Ok(Leased::Held(tip))
            }
            Role::Standby { holder, until } => Ok(Leased::Standby(self.stand_by(holder, until))),
            Role::Take => {
                let commit = self.commit_lease(&settings, tip.as_deref(), now)?;
                let reference = lease_ref(&self.config.branch);
                let update = RefUpdate {
                    reference: &reference,
                    commit: &commit,
                    expected: tip.as_deref(),
                };
                if let PushOutcome::Rejected(reason) = self.git.push(remote, &[update])? {
                    // Another daemon took it first: the next attempt fetches and sees whom.
                    return Ok(Leased::Lost(reason));
                }
                if !self.leading {
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
        let reference = lease_ref(&self.config.branch);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|threads| {
            let reference = &reference;
            let renewer = threads.spawn(move || {
                let mut tip = tip;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let renewed = self
                        .commit_lease(settings, tip.as_deref(), Utc::now())
                        .and_then(|commit| {
                            let update = RefUpdate {
                                reference,
                                commit: &commit,
                                expected: tip.as_deref(),
                            };
                            Ok((self.git.push(remote, &[update])?, commit))
                        });
                    match renewed {
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
        self.first_pass = true;
        self.next_full_pass = None;
        self.retries = Retries::default();
        self.promise_retries = Retries::default();
        self.intervals = Intervals::default();
    }

    /// Commits a lease held by this daemon from `now` on top of `tip`, for the push.
    pub(super) fn commit_lease(
        &self,
        settings: &LeaseSettings,
        tip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, GitError> {
        let lease = Lease {
            holder: settings.id.clone(),
            renewed: now,
            duration: humantime::format_duration(settings.duration).to_string(),
        };
        self.commit_file(
            LEASE_NEXT_REF,
            tip,
            LEASE_FILE,
            lease.render(),
            "promised serve: hold the lease\n",
        )
    }
}
