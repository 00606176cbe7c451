//! One sync of the daemon: fetch, decide what reruns, run the pass, push. Blocking; the
//! async loop in [`super`] calls it on a worker thread.
//!
//! Nothing is lost on a lost race: when the push is rejected because the remote moved,
//! the work that was selected stays selected, the new remote head is fetched, and the
//! pass runs again on top of it, with backoff.
//!
//! Nothing runs twice across a restart: the first sync reads what the last daemon
//! saved ([`super::state`]) and reruns what changed since and what is due, not
//! everything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

mod holding;
mod saved;

use super::kube_lease::KubeLease;
use super::lease::lease_ref;
use super::metrics::Metrics;
use super::state::{DaemonState, state_ref};
use super::timing::{Backoff, Intervals, Retries, Schedule};
use crate::executor::Executor;
use crate::git::{
    GitCli, GitError, GixStore, PushOutcome, RefUpdate, Remote, Store, fetched_promised_ref,
};
use crate::reconcile::{Options, PassReport, ReconcileError, Scope, Since, reconcile};
use crate::state::layout::{STATE_DIR, STATUS_DIR};
use crate::state::status::Phase;

/// The remote the inputs come from.
pub(crate) const INPUT_REMOTE: &str = "origin";
/// The remote outputs go to when they go to another repository.
pub(crate) const OUTPUT_REMOTE: &str = "output";
/// The local branch the outputs are committed on before the push, when they do not go
/// to the input branch.
const OUTPUT_REF: &str = "refs/promised/output";
/// The local ref the next saved state is committed on before the push.
const STATE_NEXT_REF: &str = "refs/promised/daemon-next";
/// The local ref the next lease is committed on before the push.
const LEASE_NEXT_REF: &str = "refs/promised/lease-next";
/// The local ref a daemon's file is read through.
const READ_REF: &str = "refs/promised/read";

/// Where outputs are pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputTarget {
    /// [`INPUT_REMOTE`] or [`OUTPUT_REMOTE`].
    pub(crate) remote: String,
    /// The branch on that remote.
    pub(crate) branch: String,
}

/// What a sync needs, fixed for the daemon's life.
pub(crate) struct SyncConfig {
    /// The local bare repository.
    pub(crate) workdir: PathBuf,
    /// The input branch.
    pub(crate) branch: String,
    /// Where outputs go; `None`: the input branch itself.
    pub(crate) output: Option<OutputTarget>,
    /// How the pass runs.
    pub(crate) options: Options,
    /// Delays between push attempts.
    pub(crate) push_backoff: Backoff,
    /// Retry delays of failed pipelines.
    pub(crate) retry_backoff: Backoff,
    /// How many times one sync tries to push before giving up until the next wake.
    pub(crate) push_attempts: u32,
    /// When to rerun everything.
    pub(crate) schedule: Schedule,
    /// The lease among daemons on one branch; `None` (`--lease none`): no lease.
    pub(crate) lease: Option<LeaseSettings>,
}

/// This daemon's part in the lease.
#[derive(Clone)]
pub(crate) struct LeaseSettings {
    /// Who this daemon is (`--replica-id`).
    pub(crate) id: String,
    /// How long a lease holds once taken or renewed.
    pub(crate) duration: Duration,
    /// Where the lease is kept: `None`, in a ref of the remote (`--lease git`); or a
    /// Kubernetes `Lease` (`--lease kubernetes`).
    pub(crate) kubernetes: Option<Arc<KubeLease>>,
}

/// Why a sync stopped. Whatever was selected stays selected for the next one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    /// Git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The pass failed.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The Kubernetes lease could not be read or written.
    #[error("the lease: {0}")]
    Lease(String),
    /// The remote kept moving.
    #[error(
        "the push was rejected {attempts} times (the remote kept moving): {last}; will try again"
    )]
    Contended {
        attempts: u32,
        /// The last rejection.
        last: String,
    },
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Synced {
    /// The remote has no input branch yet.
    NoBranch,
    /// Nothing selected: no pass ran.
    Idle,
    /// A pass ran; the commit pushed, if anything changed.
    Reconciled {
        /// The commit pushed.
        pushed: Option<String>,
        /// Requests whose pipelines ran.
        pipelines_run: usize,
    },
    /// Another daemon holds the lease: this one does nothing.
    Standby {
        holder: String,
        /// Until when, unless renewed.
        until: DateTime<Utc>,
    },
}

/// The folders whose changes select work: the inputs, and the scripts of `pipelines/`.
const WATCHED_DIRS: [&str; 4] = [
    crate::model::INPUT_DIRS[0],
    crate::model::INPUT_DIRS[1],
    crate::model::INPUT_DIRS[2],
    crate::model::PIPELINES_DIR,
];

/// The daemon's memory between syncs. What must survive a restart is saved in Git
/// ([`DaemonState`], retries included); the first pass after a start reads the rest
/// (the Promises' intervals, and requests waiting that the state does not name) from the
/// status records.
pub(crate) struct Daemon {
    config: SyncConfig,
    git: Box<dyn Remote>,
    /// The work repository, opened at the first sync ([`Daemon::store_at`]).
    repository: std::sync::OnceLock<GixStore>,
    executor: Box<dyn Executor>,
    metrics: Arc<Metrics>,
    /// The input commit of the last state pushed; `None` until the first sync, which
    /// reads it from the saved state (or, on a first start, reruns everything).
    last_input_commit: Option<String>,
    /// What the last pass read and left, when it read every file without a problem:
    /// the next pass of request changes alone then reads only those (a narrow pass).
    since: Option<Since>,
    /// Work selected but not yet pushed.
    pending: Scope,
    /// Whether the next pass is the first since the daemon started: it runs even with
    /// nothing selected, and its report seeds the retries the saved state does not name.
    first_pass: bool,
    /// Failed requests and when they are retried.
    pub(crate) retries: Retries,
    /// Promises whose Promise workflow failed, and when each is retried.
    pub(crate) promise_retries: Retries<String>,
    /// Promises with their own rerun interval.
    pub(crate) intervals: Intervals,
    /// When the schedule next fires.
    next_full_pass: Option<DateTime<Utc>>,
    /// The state as the remote holds it, once read: `None` until the first sync, and
    /// again whenever this daemon stands by (another may change it meanwhile).
    saved: Option<DaemonState>,
    /// When the lease next matters: when to renew it, or when another's ends.
    lease_due: Option<DateTime<Utc>>,
    /// Whether this daemon held the lease at its last sync.
    leading: bool,
    /// The lease commit this daemon last pushed, while it holds the lease.
    lease_tip: Option<String>,
    /// The lease commit this daemon last read, and when it first read it.
    lease_seen: Option<(String, DateTime<Utc>)>,
}

impl Daemon {
    /// A daemon over the bare repository `config.workdir`, whose remotes are set up.
    pub(crate) fn new(
        config: SyncConfig,
        executor: Box<dyn Executor>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let git = Box::new(GitCli::new(&config.workdir, Duration::from_secs(300)));
        Self::with_remote(config, git, executor, metrics)
    }

    /// A daemon whose network side is `git`: the `git` program, or a double in tests.
    pub(crate) fn with_remote(
        config: SyncConfig,
        git: Box<dyn Remote>,
        executor: Box<dyn Executor>,
        metrics: Arc<Metrics>,
    ) -> Self {
        if config.lease.is_none() {
            metrics.leader.set(1);
        }
        Daemon {
            config,
            git,
            repository: std::sync::OnceLock::new(),
            executor,
            metrics,
            last_input_commit: None,
            since: None,
            pending: Scope::default(),
            first_pass: true,
            retries: Retries::default(),
            promise_retries: Retries::default(),
            intervals: Intervals::default(),
            next_full_pass: None,
            saved: None,
            lease_due: None,
            leading: false,
            lease_tip: None,
            lease_seen: None,
        }
    }

    /// The ref `reference` of the work repository. The repository is opened once, at
    /// the first call, and every store shares its object database, so that a sync of
    /// one changed request does not load every pack index again.
    pub(super) fn store_at(&self, reference: &str) -> Result<GixStore, GitError> {
        if let Some(repository) = self.repository.get() {
            return Ok(repository.at_reference(reference));
        }
        let store = GixStore::open_reference(&self.config.workdir, reference)?;
        Ok(self
            .repository
            .get_or_init(|| store)
            .at_reference(reference))
    }

    /// Where the outputs go: `--output-remote` and `--output-branch`, or the input
    /// branch itself. Its branch names the daemon's refs (its saved state, its lease) on
    /// its remote: daemons that write different branches work side by side.
    fn target(&self) -> OutputTarget {
        self.config.output.clone().unwrap_or_else(|| OutputTarget {
            remote: INPUT_REMOTE.into(),
            branch: self.config.branch.clone(),
        })
    }

    /// Adds work for the next sync: a rerun asked for over HTTP.
    pub(crate) fn select(&mut self, scope: Scope) {
        self.pending.extend(scope);
    }

    /// Selects what is due at `now` for the next sync: the scheduled full pass, and
    /// the Promises whose interval came. Before the first sync nothing is known yet:
    /// that sync decides from the saved state.
    pub(crate) fn select_due(&mut self, now: DateTime<Utc>) {
        if self.saved.is_none() {
            return;
        }
        if self.next_full_pass.is_some_and(|at| at <= now) {
            tracing::info!("scheduled full pass");
            self.pending.all = true;
            self.next_full_pass = self.config.schedule.next_after(now);
        }
        let due = self.intervals.take_due(now);
        if !due.is_empty() {
            tracing::info!(promises = ?due, "Promise intervals due");
            self.pending.promises.extend(due);
        }
    }

    /// When something is next due: the schedule, a retry or a Promise's interval.
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        [
            self.next_full_pass,
            self.retries.next(),
            self.promise_retries.next(),
            self.intervals.next(),
            self.lease_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fetches, reruns what changed or is due, and pushes.
    pub(crate) fn sync(&mut self, now: DateTime<Utc>) -> Result<Synced, SyncError> {
        let started = Instant::now();
        let mut last_rejection = String::new();
        for attempt in 0..self.config.push_attempts {
            if attempt > 0 {
                std::thread::sleep(self.config.push_backoff.delay(attempt - 1));
            }
            match self.try_sync(after(now, started))? {
                Attempt::Done(synced) => return Ok(synced),
                Attempt::Rejected(reason) => {
                    tracing::info!(attempt, %reason, "push rejected: the remote moved; fetching and running again");
                    self.metrics.push_rejections.inc();
                    last_rejection = reason;
                }
            }
        }
        Err(SyncError::Contended {
            attempts: self.config.push_attempts,
            last: last_rejection,
        })
    }

    fn try_sync(&mut self, now: DateTime<Utc>) -> Result<Attempt, SyncError> {
        let attempt_started = Instant::now();
        let branch = self.config.branch.clone();
        let Some(head) = self.git.fetch(INPUT_REMOTE, &branch)? else {
            tracing::warn!(%branch, "the remote has no such branch yet");
            return Ok(Attempt::Done(Synced::NoBranch));
        };
        let input_ref = format!("refs/heads/{branch}");
        self.git.set_ref(&input_ref, Some(&head))?;
        let inputs = self.store_at(&input_ref)?;

        let push_to = self.target();
        let (outputs, expected) = match &self.config.output {
            None => (None, Some(head.clone())),
            Some(target) => {
                let tip = if target.remote == INPUT_REMOTE {
                    self.git
                        .resolve(&format!("refs/remotes/{INPUT_REMOTE}/{}", target.branch))
                } else {
                    self.git.fetch(&target.remote, &target.branch)?
                };
                self.git.set_ref(OUTPUT_REF, tip.as_deref())?;
                let store = self.store_at(OUTPUT_REF)?;
                (Some(store), tip)
            }
        };

        let fetched = |name: &str| fetched_promised_ref(&push_to.remote, name);
        let state_tip = self
            .git
            .resolve(&fetched(&format!("daemon/{}", push_to.branch)));
        let lease_found = self.read_lease(&fetched(&format!("lease/{}", push_to.branch)))?;
        let lease_tip = match self.lease(&push_to.remote, lease_found, now)? {
            Leased::Held(tip) => tip,
            Leased::Standby(synced) => return Ok(Attempt::Done(synced)),
            Leased::Lost(reason) => return Ok(Attempt::Rejected(reason)),
        };
        if self.saved.is_none() {
            self.restore(state_tip.as_deref(), now);
        }
        let mut scope = self.pending.clone();
        match &self.last_input_commit {
            None => scope.all = true,
            Some(old) => match inputs.changed_under(old, &head, &WATCHED_DIRS) {
                Ok(changed) => scope.extend(Scope::from_changed_paths(&changed)),
                // The saved commit is gone from the branch's history (a force push).
                Err(err) if self.first_pass => {
                    tracing::warn!(commit = %old, "cannot compare with the saved input commit ({err}); rerunning everything");
                    scope.all = true;
                }
                Err(err) => return Err(err.into()),
            },
        }
        scope.requests.extend(self.retries.due(now));
        scope.promises.extend(self.promise_retries.due(now));
        if !self.first_pass {
            scope.since = self.since.clone();
        }
        // With a lease, only this daemon writes the outputs: files under state/ or
        // status/ that changed since its last pass were changed by someone else (a
        // merged pull request), and what they belong to reruns, which writes its files
        // again as the inputs say. Without one, other daemons write there too.
        let sole_writer = self.config.lease.is_some();
        if let (Some(since), Some(tip), true) = (&self.since, &expected, sole_writer) {
            let managed = [STATE_DIR, STATUS_DIR];
            match inputs.changed_under(&since.outputs, tip, &managed) {
                Ok(edited) if !edited.is_empty() => {
                    tracing::warn!(files = edited.len(), first = %edited[0], "files under state/ or status/ changed by hand: their requests rerun");
                    scope.extend(Scope::from_edited_outputs(&edited));
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!("cannot compare the outputs with the last pass's ({err})")
                }
            }
        }
        if scope.is_empty() && !self.first_pass {
            self.last_input_commit = Some(head);
            self.metrics.last_success.set(now.timestamp() as f64);
            return Ok(Attempt::Done(Synced::Idle));
        }

        let span = tracing::info_span!("pass", commit = %head, full = scope.all);
        let _entered = span.enter();
        let started = Instant::now();
        let outputs_store = outputs.as_ref().map(|s| s as &dyn Store);
        let (report, lease_tip) = self.renewing(&push_to.remote, lease_tip, || {
            reconcile(
                &inputs,
                outputs_store,
                &scope,
                self.executor.as_ref(),
                &self.config.options,
                &|_| {},
            )
        });
        // The renewals during the pass hold, whatever follows: a hand-back on stop
        // starts from the last of them.
        if lease_tip.is_some() {
            self.lease_tip.clone_from(&lease_tip);
        }
        let report = match report {
            Ok(report) => report,
            Err(err) => {
                self.pending = scope;
                // Whatever failed, the next pass reads the whole branch.
                self.since = None;
                return Err(err.into());
            }
        };
        self.metrics.passes.inc();
        if report.narrow {
            self.metrics.narrow_passes.inc();
        }
        self.metrics
            .pass_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .pipeline_runs
            .inc_by(report.pipelines_run as u64);

        self.intervals.update(&report.intervals, now);
        let saved = self.saved.clone().unwrap_or_default();
        let retries = self.retries_after(&report, now);
        let state = DaemonState {
            input_commit: report.input_commit.clone(),
            full_pass: if scope.all {
                Some(now)
            } else {
                saved.full_pass
            },
            interval_passes: self.intervals.last_runs(),
            retries: retries.0.saved(ToString::to_string),
            promise_retries: retries.1.saved(String::clone),
        };
        let state_commit = match state != saved {
            true => Some(self.commit_state(&state, state_tip.as_deref())?),
            false => None,
        };
        let branch_ref = format!("refs/heads/{}", push_to.branch);
        let daemon_ref = state_ref(&push_to.branch);
        let lease_ref = lease_ref(&push_to.branch);
        // Renewed with every push of outputs: the push is refused if the lease moved,
        // so a daemon that lost it while the pass ran writes nothing. A Kubernetes
        // lease cannot travel with the push: it is renewed just before.
        let pushes = report.output_commit.is_some() || state_commit.is_some();
        let mut renewal = None;
        let mut renewed_in_cluster = None;
        if let (Some(settings), true) = (&self.config.lease, pushes) {
            // Renewed as of the push, not of the sync's start: the pass may have
            // outlasted the lease (its renewals kept it meanwhile).
            let held = holding::held(settings, after(now, attempt_started));
            if settings.kubernetes.is_some() {
                match self.push_lease(&push_to.remote, &held, lease_tip.as_deref()) {
                    Ok((PushOutcome::Pushed, version)) => {
                        self.lease_tip = Some(version.clone());
                        renewed_in_cluster = Some(version);
                    }
                    Ok((PushOutcome::Rejected(reason), _)) => {
                        self.pending = scope;
                        return Ok(Attempt::Rejected(reason));
                    }
                    Err(err) => {
                        self.pending = scope;
                        return Err(err);
                    }
                }
            } else {
                renewal = Some(self.commit_lease(&held, lease_tip.as_deref())?);
            }
        }
        let mut updates = Vec::new();
        if let Some(commit) = &renewal {
            updates.push(RefUpdate {
                reference: &lease_ref,
                commit,
                expected: lease_tip.as_deref(),
            });
        }
        if let Some(commit) = &report.output_commit {
            updates.push(RefUpdate {
                reference: &branch_ref,
                commit,
                expected: expected.as_deref(),
            });
        }
        if let Some(commit) = &state_commit {
            updates.push(RefUpdate {
                reference: &daemon_ref,
                commit,
                expected: state_tip.as_deref(),
            });
        }
        if !updates.is_empty() {
            if let PushOutcome::Rejected(reason) = self.git.push(&push_to.remote, &updates)? {
                self.pending = scope;
                return Ok(Attempt::Rejected(reason));
            }
            tracing::info!(commit = ?report.output_commit, state = state_commit.is_some(), remote = %push_to.remote, branch = %push_to.branch, "pushed");
        }
        if scope.all {
            self.next_full_pass = self.config.schedule.next_after(now);
        }
        self.saved = Some(state);
        self.lease_tip = renewal.or(renewed_in_cluster).or(lease_tip);
        let left = report.output_commit.clone().or(expected);
        self.since = match (&report.input_commit, left) {
            (Some(inputs), Some(outputs)) if report.problems.is_empty() => Some(Since {
                inputs: inputs.clone(),
                outputs,
            }),
            _ => None,
        };
        self.finish(report, retries, now)
    }

    /// The retries after `report`'s pass: failures wait longer each time, requests that
    /// succeeded or are gone are forgotten. The first pass after a start also takes the
    /// requests left waiting for a retry from their status records, each where the saved
    /// state says its backoff was (or at the first step, when it says nothing of it), and
    /// no later than this daemon's options would put it from now: a restart with a
    /// shorter `--retry-base` or `--retry-max` retries sooner.
    fn retries_after(&self, report: &PassReport, now: DateTime<Utc>) -> (Retries, Retries<String>) {
        let backoff = self.config.retry_backoff;
        let floor = backoff.base;
        let (mut retries, mut promise_retries) =
            (self.retries.clone(), self.promise_retries.clone());
        for request in &report.requests {
            if matches!(request.phase, Some(Phase::Failed | Phase::DeleteFailed)) {
                retries.failed(request.key.clone(), now, backoff);
            } else if let Some(after) = request.retry_after {
                retries.after(request.key.clone(), now, after, floor);
            } else {
                retries.succeeded(&request.key);
            }
        }
        for promise in &report.promises {
            if promise.failed {
                promise_retries.failed(promise.name.clone(), now, backoff);
            } else if let Some(after) = promise.retry_after {
                promise_retries.after(promise.name.clone(), now, after, floor);
            } else {
                promise_retries.succeeded(&promise.name);
            }
        }
        for (key, _) in &report.removed {
            retries.succeeded(key);
        }
        if self.first_pass {
            let saved = self.saved.clone().unwrap_or_default();
            for (key, after) in &report.awaiting_retry {
                let key = key.clone();
                match (saved.retries.get(&key.to_string()), after) {
                    (Some(retry), None) => retries.resume_failed(key, *retry, now, backoff),
                    (Some(retry), Some(after)) => {
                        retries.resume_after(key, *retry, now, *after, floor)
                    }
                    (None, None) => retries.failed(key, now, backoff),
                    (None, Some(after)) => retries.after(key, now, *after, floor),
                }
            }
            for name in &report.promises_awaiting_retry {
                match saved.promise_retries.get(name) {
                    Some(retry) => {
                        promise_retries.resume_failed(name.clone(), *retry, now, backoff)
                    }
                    None => promise_retries.failed(name.clone(), now, backoff),
                }
            }
        }
        (retries, promise_retries)
    }

    /// Records a pass whose result reached the remote, with the retries it leaves.
    fn finish(
        &mut self,
        report: PassReport,
        retries: (Retries, Retries<String>),
        now: DateTime<Utc>,
    ) -> Result<Attempt, SyncError> {
        for request in &report.requests {
            if matches!(request.phase, Some(Phase::Failed | Phase::DeleteFailed)) {
                self.metrics.pipeline_failures.inc();
            }
        }
        let failed_promises = report.promises.iter().filter(|p| p.failed);
        self.metrics
            .pipeline_failures
            .inc_by(failed_promises.count() as u64);
        (self.retries, self.promise_retries) = retries;
        self.first_pass = false;
        self.metrics.queue_depth.set(self.retries.len() as i64);
        self.metrics.last_success.set(now.timestamp() as f64);
        self.pending = Scope::default();
        self.last_input_commit = report.input_commit;
        Ok(Attempt::Done(Synced::Reconciled {
            pushed: report.output_commit,
            pipelines_run: report.pipelines_run,
        }))
    }
}

/// `now` moved on by the real time since `since`: the time of a step of a sync that began
/// at `now`, on the sync's own clock (a test's virtual time moves with the time the sync
/// really takes).
fn after(now: DateTime<Utc>, since: Instant) -> DateTime<Utc> {
    now + chrono::Duration::from_std(since.elapsed()).unwrap_or_default()
}

enum Attempt {
    Done(Synced),
    Rejected(String),
}

/// Where this daemon stands with the lease for one attempt.
enum Leased {
    /// It works; the lease ref's commit, which its push moves on from (`None`: no
    /// lease, or none on the remote).
    Held(Option<String>),
    /// Another daemon holds it.
    Standby(Synced),
    /// Another daemon took it as this one tried to.
    Lost(String),
}

#[cfg(test)]
mod tests;
