//! One sync of the daemon: fetch, decide what reruns, run the pass, push. Blocking; the
//! async loop in [`super`] calls it on a worker thread.
//!
//! Nothing is lost on a lost race: when the push is rejected because the remote moved,
//! the work that was selected stays selected, the new remote head is fetched, and the
//! pass runs again on top of it, with backoff.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::metrics::Metrics;
use super::timing::{Backoff, Intervals, Retries};
use crate::executor::Executor;
use crate::git::{GitCli, GitError, GixStore, PushOutcome, Remote, Store};
use crate::reconcile::{Options, PassReport, ReconcileError, Scope, reconcile};
use crate::state::status::Phase;

/// The remote the inputs come from.
pub const INPUT_REMOTE: &str = "origin";
/// The remote outputs go to when they go to another repository.
pub const OUTPUT_REMOTE: &str = "output";
/// The local branch the outputs are committed on before the push, when they do not go
/// to the input branch.
const OUTPUT_REF: &str = "refs/promised/output";

/// Where outputs are pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTarget {
    /// [`INPUT_REMOTE`] or [`OUTPUT_REMOTE`].
    pub remote: String,
    /// The branch on that remote.
    pub branch: String,
}

/// What a sync needs, fixed for the daemon's life.
pub struct SyncConfig {
    /// The local bare repository.
    pub workdir: PathBuf,
    /// The input branch.
    pub branch: String,
    /// Where outputs go; `None`: the input branch itself.
    pub output: Option<OutputTarget>,
    /// How the pass runs.
    pub options: Options,
    /// Delays between push attempts.
    pub push_backoff: Backoff,
    /// Retry delays of failed pipelines.
    pub retry_backoff: Backoff,
    /// How many times one sync tries to push before giving up until the next wake.
    pub push_attempts: u32,
}

/// Why a sync stopped. Whatever was selected stays selected for the next one.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The pass failed.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The remote kept moving.
    #[error(
        "the push was rejected {attempts} times (the remote kept moving): {last}; will try again"
    )]
    Contended {
        /// Attempts made.
        attempts: u32,
        /// The last rejection.
        last: String,
    },
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
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
}

/// The daemon's memory between syncs.
pub struct Daemon {
    config: SyncConfig,
    git: Box<dyn Remote>,
    executor: Box<dyn Executor>,
    metrics: Arc<Metrics>,
    /// The input commit of the last state pushed; `None` until the first sync, which
    /// reruns everything (as a restarted Kratix controller does).
    last_input_commit: Option<String>,
    /// Work selected but not yet pushed.
    pending: Scope,
    /// Failed requests and when they are retried.
    pub retries: Retries,
    /// Promises whose Promise workflow failed, and when each is retried.
    pub promise_retries: Retries<String>,
    /// Promises with their own rerun interval.
    pub intervals: Intervals,
}

impl Daemon {
    /// A daemon over the bare repository `config.workdir`, whose remotes are set up.
    pub fn new(config: SyncConfig, executor: Box<dyn Executor>, metrics: Arc<Metrics>) -> Self {
        let git = Box::new(GitCli::new(&config.workdir, Duration::from_secs(300)));
        Daemon {
            config,
            git,
            executor,
            metrics,
            last_input_commit: None,
            pending: Scope::default(),
            retries: Retries::default(),
            promise_retries: Retries::default(),
            intervals: Intervals::default(),
        }
    }

    /// Adds work for the next sync (a scheduled full pass, a Promise's interval).
    pub fn select(&mut self, scope: Scope) {
        self.pending.extend(scope);
    }

    /// Fetches, reruns what changed or is due, and pushes.
    pub fn sync(&mut self, now: DateTime<Utc>) -> Result<Synced, SyncError> {
        let mut last_rejection = String::new();
        for attempt in 0..self.config.push_attempts {
            if attempt > 0 {
                std::thread::sleep(self.config.push_backoff.delay(attempt - 1));
            }
            match self.try_sync(now)? {
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
        let branch = self.config.branch.clone();
        let Some(head) = self.git.fetch(INPUT_REMOTE, &branch)? else {
            tracing::warn!(%branch, "the remote has no such branch yet");
            return Ok(Attempt::Done(Synced::NoBranch));
        };
        let input_ref = format!("refs/heads/{branch}");
        self.git.set_ref(&input_ref, Some(&head))?;
        let inputs = GixStore::open_reference(&self.config.workdir, &input_ref)?;

        let (outputs, push_to, expected) = match &self.config.output {
            None => (
                None,
                OutputTarget {
                    remote: INPUT_REMOTE.into(),
                    branch,
                },
                Some(head.clone()),
            ),
            Some(target) => {
                let tip = if target.remote == INPUT_REMOTE {
                    self.git
                        .resolve(&format!("refs/remotes/{INPUT_REMOTE}/{}", target.branch))
                } else {
                    self.git.fetch(&target.remote, &target.branch)?
                };
                self.git.set_ref(OUTPUT_REF, tip.as_deref())?;
                let store = GixStore::open_reference(&self.config.workdir, OUTPUT_REF)?;
                (Some(store), target.clone(), tip)
            }
        };

        let mut scope = self.pending.clone();
        match &self.last_input_commit {
            None => scope.all = true,
            Some(old) => scope.extend(Scope::from_changed_paths(
                &inputs.changed_inputs(old, &head)?,
            )),
        }
        scope.requests.extend(self.retries.due(now));
        scope.promises.extend(self.promise_retries.due(now));
        if scope.is_empty() {
            self.last_input_commit = Some(head);
            self.metrics.last_success.set(now.timestamp() as f64);
            return Ok(Attempt::Done(Synced::Idle));
        }

        let span = tracing::info_span!("pass", commit = %head, full = scope.all);
        let _entered = span.enter();
        let started = Instant::now();
        let outputs_store = outputs.as_ref().map(|s| s as &dyn Store);
        let report = reconcile(
            &inputs,
            outputs_store,
            &scope,
            self.executor.as_ref(),
            &self.config.options,
            &|_| {},
        );
        let report = match report {
            Ok(report) => report,
            Err(err) => {
                self.pending = scope;
                return Err(err.into());
            }
        };
        self.metrics.passes.inc();
        self.metrics
            .pass_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .pipeline_runs
            .inc_by(report.pipelines_run as u64);

        if let Some(commit) = &report.output_commit {
            let pushed = self.git.push(
                &push_to.remote,
                commit,
                &push_to.branch,
                expected.as_deref(),
            )?;
            if let PushOutcome::Rejected(reason) = pushed {
                self.pending = scope;
                return Ok(Attempt::Rejected(reason));
            }
            tracing::info!(commit = %commit, remote = %push_to.remote, branch = %push_to.branch, "pushed");
        }
        self.finish(report, now)
    }

    /// Records a pass whose result reached the remote.
    fn finish(&mut self, report: PassReport, now: DateTime<Utc>) -> Result<Attempt, SyncError> {
        for request in &report.requests {
            if matches!(request.phase, Some(Phase::Failed | Phase::DeleteFailed)) {
                self.metrics.pipeline_failures.inc();
                self.retries
                    .failed(request.key.clone(), now, self.config.retry_backoff);
            } else if let Some(after) = request.retry_after {
                let floor = self.config.retry_backoff.base;
                self.retries.after(request.key.clone(), now, after, floor);
            } else {
                self.retries.succeeded(&request.key);
            }
        }
        for promise in &report.promises {
            if promise.failed {
                self.metrics.pipeline_failures.inc();
                let name = promise.name.clone();
                self.promise_retries
                    .failed(name, now, self.config.retry_backoff);
            } else if let Some(after) = promise.retry_after {
                let floor = self.config.retry_backoff.base;
                self.promise_retries
                    .after(promise.name.clone(), now, after, floor);
            } else {
                self.promise_retries.succeeded(&promise.name);
            }
        }
        for (key, _) in &report.removed {
            self.retries.succeeded(key);
        }
        self.intervals.update(&report.intervals, now);
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

enum Attempt {
    Done(Synced),
    Rejected(String),
}
