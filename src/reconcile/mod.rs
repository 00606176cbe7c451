//! One reconcile pass: read the branch, run what must run, lay out the outputs, commit
//! what changed (at most one commit), and report.
//!
//! The steps that decide (`prepare`, `render`, `message`) are pure; this file
//! only moves data between them and the edges ([`Store`], [`Executor`]).

mod cache_file;
mod carry;
pub(crate) mod decide;
mod failure;
mod history;
pub(crate) mod message;
mod narrow;
pub(crate) mod plan;
pub(crate) mod prepare;
mod record_cache;
mod records;
pub(crate) mod render;
mod request_cache;
mod run;
mod scope;
mod slices;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub(crate) use render::{
    Outcome, PromiseOutcome, PromiseReport, RequestReport, preview_placements,
};
pub(crate) use run::{merge_status, object_for};
pub use scope::{Scope, Since};

use decide::{PromiseDecision, RequestDecision};
use history::Removed;
use run::{Undeleted, Workflow};
use slices::Slices;

use crate::executor::Executor;
use crate::git::{CommitRequest, GitError, Snapshot, Store};
use crate::model::PIPELINES_DIR;
use crate::model::{
    Action, LoadError, Platform, Problem, Promise, RequestDoc, RequestFile, RequestKey, SourceFile,
    WorkflowType, is_input,
};
use crate::pipeline::{OutputLimits, RunFolder, Subject};
use crate::state::kustomization::{Unlisted, index_destinations};
use crate::state::layout::{Owned, is_managed};
use crate::state::promise_status::{PromiseRecord, Unavailable};
use crate::state::status::{Phase, Record};
use crate::state::{Changes, DesiredTree};

/// How a pass runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long one pipeline may run before it is killed.
    pub timeout: Duration,
    /// How many pipelines run at once.
    pub jobs: usize,
    /// Author and committer name of output commits.
    pub author_name: String,
    /// Author and committer email of output commits.
    pub author_email: String,
    /// How many bytes of rendered files a pass holds before it writes them as blobs
    /// (see `DesiredTree::spill`).
    pub spill_bytes: usize,
    /// How much output one pipeline may leave.
    pub output_limits: OutputLimits,
    /// Whether delete workflows run. `plan` says which would run instead: a plan runs
    /// configure pipelines (their outputs are what it shows) but must not tear down
    /// what a removed request holds before the change is merged.
    pub run_delete_workflows: bool,
    /// Cancelled when the reconciler is asked to stop (SIGTERM): runs in flight end
    /// and clean up, runs not started are not started, and the pass commits what
    /// finished, leaving the rest as it was for the next pass.
    pub stop: CancellationToken,
    /// The repository's `pipelines/` folder as the process executor's containers reach
    /// it (`PROMISED_PIPELINES`): a pass sets it to the folder of the commit it reads;
    /// `pipeline run` to the worktree's.
    pub pipelines: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(600),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            author_name: "promised".into(),
            author_email: "promised@localhost".into(),
            spill_bytes: 8 << 20,
            output_limits: OutputLimits::default(),
            run_delete_workflows: true,
            stop: CancellationToken::new(),
            pipelines: None,
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// The commit that was read.
    pub(crate) input_commit: Option<String>,
    /// Whether the pass read only the changed requests (see [`Scope::since`]).
    pub narrow: bool,
    /// The commit written, if anything changed.
    pub output_commit: Option<String>,
    /// Every request, in key order.
    pub(crate) requests: Vec<RequestReport>,
    /// Every Promise rendered, in name order.
    pub(crate) promises: Vec<PromiseReport>,
    /// Requests whose outputs or status changed.
    pub(crate) changed: BTreeSet<RequestKey>,
    /// Requests removed with their outputs, with the path they had.
    pub(crate) removed: Vec<(RequestKey, String)>,
    /// The delete workflow's pipelines of each removed request that has one (run, or
    /// that would run when delete workflows do not run, as in a plan).
    pub(crate) delete_workflows: BTreeMap<RequestKey, Vec<String>>,
    /// Images of the pipelines of the changed requests' Promises.
    pub(crate) images: BTreeSet<String>,
    /// Promises whose dependency files changed.
    pub(crate) dependencies_changed: BTreeSet<String>,
    /// Input files that could not be read.
    pub problems: Vec<LoadError>,
    /// How many files the commit added, changed or removed.
    pub(crate) files_changed: usize,
    /// How many requests had their pipelines run.
    pub pipelines_run: usize,
    /// How many requests were due but not run, or cut short, because the reconciler was
    /// stopping ([`Options::stop`]): left as they were, they run on the next pass.
    pub(crate) not_run: usize,
    /// Promises with their own rerun interval.
    pub(crate) intervals: BTreeMap<String, Duration>,
    /// Requests left as they were whose record says they wait for a retry: failed
    /// (`None`), or suspended by a pipeline that asked to run again after a while. A
    /// restarted daemon, which keeps its retries in memory, schedules them from this.
    pub(crate) awaiting_retry: Vec<(RequestKey, Option<Duration>)>,
    /// Promises left as they were whose record says their Promise workflow failed.
    pub(crate) promises_awaiting_retry: Vec<String>,
}

impl PassReport {
    /// Whether every input read, every Promise workflow succeeded and every request
    /// reconciled. Pending, waiting and suspended count as reconciled: each waits (for
    /// a destination, its Promise, a retry or a person), which is not an error of the
    /// request; a Promise that keeps its requests waiting is reported on its own.
    pub(crate) fn succeeded(&self) -> bool {
        self.not_run == 0
            && self.problems.is_empty()
            && self.promises.iter().all(|p| !p.failed)
            && self
                .requests
                .iter()
                .all(|r| r.phase.is_some_and(Phase::is_settled))
    }
}

/// Progress of a pass, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// This many requests are about to be checked and, when they may, run.
    Start(usize),
    /// One request's pipelines finished.
    Ran(&'a RequestKey),
}

/// Why a pass stopped with nothing written.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading or writing Git failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Runs one pass: reads the inputs from `inputs`, reruns the requests `scope` selects,
/// and commits the outputs to `outputs`, or to the inputs' branch when that is `None`.
pub fn reconcile(
    inputs: &dyn Store,
    outputs: Option<&dyn Store>,
    scope: &Scope,
    executor: &dyn Executor,
    options: &Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<PassReport, ReconcileError> {
    let store = outputs.unwrap_or(inputs);
    let branch = match narrow::read(inputs, outputs, scope)? {
        Some(narrow) => narrow,
        None => read_branch(inputs, outputs)?,
    };
    let Branch {
        input_commit,
        mut platform,
        mut previous,
        promise_records,
        managed,
        frame,
        schemas,
    } = branch;
    for problem in &platform.problems {
        tracing::warn!(path = %problem.path, "{}", problem.problem);
    }
    prepare::keep_identities(&mut platform, &previous);
    prepare::forget_placements(&mut previous, &scope.replace);
    // The scripts under `pipelines/` as this commit holds them, for the process
    // executor: kept for the pass, removed after it.
    let scripts = match (&options.pipelines, &input_commit) {
        (None, Some(commit)) => inputs.export_folder(commit, PIPELINES_DIR)?,
        _ => None,
    };
    let with_scripts;
    let options = match &scripts {
        Some(dir) => {
            with_scripts = Options {
                pipelines: Some(dir.path().join(PIPELINES_DIR)),
                ..options.clone()
            };
            &with_scripts
        }
        None => options,
    };
    let Snapshot {
        commit,
        files: current,
        ..
    } = managed;
    let base = Snapshot {
        commit,
        ..Snapshot::default()
    };

    // Decide, as data: each Promise, then (once Promise workflows have run) each request.
    let promise_decisions = decide::promises(&platform, &promise_records, scope);
    let mut removed = Removed::read(inputs, &platform, &promise_records, &promise_decisions);
    let removed_problems = std::mem::take(&mut removed.problems);
    for problem in &removed_problems {
        tracing::warn!(path = %problem.path, "{}", problem.problem);
    }
    let mut promise_outcomes =
        run_promise_configures(&platform, &promise_decisions, executor, options);
    let ran: BTreeMap<String, Result<(), String>> = promise_outcomes
        .iter()
        .map(|(name, outcome)| {
            let why = outcome.unavailable(&platform.promises[name]);
            (name.clone(), why.map_or(Ok(()), Err))
        })
        .collect();
    let available =
        |promise: &str| decide::availability(&promise_decisions, &promise_records, &ran, promise);
    let mut selected: Vec<(&RequestFile, Option<usize>)> = Vec::new();
    // Requests that do not run: they wait for their Promise, or are paused.
    let mut waiting: Vec<(&RequestFile, Outcome)> = Vec::new();
    let mut unselected: Vec<&RequestFile> = Vec::new();
    for request in &platform.requests {
        let record = previous.get(&request.key);
        match decide::present_request(&platform, scope, request, record, available) {
            RequestDecision::Configure { resume } => selected.push((request, resume)),
            RequestDecision::Wait(why) => waiting.push((request, Outcome::Waiting(why))),
            RequestDecision::Pause(why) => waiting.push((request, Outcome::Paused(why))),
            _ => unselected.push(request),
        }
    }
    let present: BTreeSet<&RequestKey> = platform.requests.iter().map(|r| &r.key).collect();
    let gone = decide::gone_requests(
        &previous,
        &present,
        |name| {
            platform
                .promises
                .get(name)
                .or_else(|| removed.promises.get(name))
        },
        |name| platform.promises.contains_key(name),
        |name| platform.promises_incomplete || promise_records.contains_key(name),
    );
    let kept_gone: Vec<RequestKey> = gone
        .iter()
        .filter(|(_, decision)| *decision == RequestDecision::Keep)
        .map(|(key, _)| (*key).clone())
        .collect();
    let deletes: Vec<history::RemovedRequest<'_>> = gone
        .iter()
        .filter(|(_, decision)| *decision == RequestDecision::Delete)
        .filter_map(|(key, _)| removed.request(inputs, &platform, key, &previous[*key]))
        .collect();
    drop(gone);
    let mut held = Vec::new();
    // What the workers need of the records: those of workflows of several pipelines,
    // whose pipelines that do not run keep their outputs, and of suspended workflows.
    let recorded: BTreeMap<&RequestKey, Record> = selected
        .iter()
        .filter_map(|(request, _)| {
            let record = previous.get(&request.key)?;
            let files = record.placements.iter().any(|p| !p.files.is_empty());
            (files || record.suspended.is_some()).then(|| (&request.key, record.clone()))
        })
        .collect();
    let runner = carry::Runner {
        branch: carry::Branch {
            store,
            current: &current,
            platform: &platform,
        },
        executor,
        options,
    };

    // A full pass leaves the records of the status files it writes or keeps for the
    // next one (see `record_cache`).
    let mut cache = match frame {
        None => record_cache::CacheWriter::create(store, &current, &scope.replace),
        Some(_) => None,
    };
    let mut renderer = render::Renderer::new(&platform, previous, &current);
    if let Some(cache) = &mut cache {
        renderer = renderer.with_sink(cache);
    }
    for key in &kept_gone {
        renderer.keep_gone(key);
    }
    let awaiting_retry = unselected
        .iter()
        .filter_map(|request| {
            let record = renderer.record(&request.key)?;
            let after = match record.phase {
                Phase::Failed | Phase::DeleteFailed => None,
                Phase::Suspended => {
                    let asked = record.suspended.as_ref()?.retry_after.as_deref()?;
                    Some(humantime::parse_duration(asked).ok()?)
                }
                _ => return None,
            };
            Some((request.key.clone(), after))
        })
        .collect();
    let promises_awaiting_retry = promise_decisions
        .iter()
        .filter(|(name, decision)| {
            let failed = promise_records
                .get(*name)
                .is_some_and(|r| r.unavailable == Some(Unavailable::Failed));
            **decision == PromiseDecision::Keep && failed
        })
        .map(|(name, _)| name.clone())
        .collect();
    for request in unselected {
        renderer.add(request, Outcome::Unchanged);
    }
    for (request, outcome) in waiting {
        renderer.add(request, outcome);
    }
    let mut pipelines_run = 0;
    let mut not_run = 0;
    let mut spilled = Ok(());
    progress(Progress::Start(selected.len() + deletes.len()));
    run::pool(
        &selected,
        options.jobs,
        &async |(request, resume), folder| {
            if options.stop.is_cancelled() {
                return Outcome::Unchanged;
            }
            let outcome = match prepare::prepare(&platform, &schemas, request) {
                Ok(ready) => {
                    let workflow = Workflow {
                        promise: ready.promise,
                        kind: (WorkflowType::Resource, Action::Configure),
                        subject: Subject::request(&request.key, ready.document),
                        object_yaml: &ready.object,
                    };
                    let record = recorded.get(&request.key);
                    let runner = &runner;
                    runner
                        .configure(&request.key, &workflow, *resume, record, folder)
                        .await
                }
                Err(outcome) => outcome,
            };
            progress(Progress::Ran(&request.key));
            match outcome {
                // Stopped, not failed: the request stays as it was, for the next pass.
                Outcome::Failed(stopped) if stopped.cancelled() => Outcome::Unchanged,
                outcome => outcome,
            }
        },
        &mut |(request, _), outcome| {
            match outcome {
                Outcome::Ran(_) | Outcome::Failed(_) => pipelines_run += 1,
                Outcome::Unchanged => not_run += 1,
                _ => {}
            }
            renderer.add(request, outcome);
            if spilled.is_ok() && renderer.tree().pending_bytes() > options.spill_bytes {
                spilled = spill(renderer.tree(), store);
            }
        },
    );
    let mut failed_deletes: BTreeSet<String> = BTreeSet::new();
    // Promises a request's delete workflow was stopped for: they stay as they are too.
    let mut stopped_deletes: BTreeSet<String> = BTreeSet::new();
    let delete_workflows: BTreeMap<RequestKey, Vec<String>> = deletes
        .iter()
        .map(|d| {
            let names = d.promise.workflows.resource.delete.iter();
            (d.key.clone(), names.map(|p| p.name.clone()).collect())
        })
        .collect();
    let deletes_to_run = if options.run_delete_workflows {
        &deletes[..]
    } else {
        &[]
    };
    run::pool(
        deletes_to_run,
        options.jobs,
        &async |removed, folder| {
            if options.stop.is_cancelled() {
                return Err(Undeleted::Stopped);
            }
            let result = match removed.workflow() {
                Ok(workflow) => workflow.run_to_delete(executor, options, folder).await,
                Err(message) => Err(Undeleted::Failed(message)),
            };
            progress(Progress::Ran(&removed.key));
            result
        },
        &mut |removed, result| {
            let promise = removed.key.promise.to_string();
            match result {
                Ok(()) => pipelines_run += 1,
                // Not run or cut short: left as it is, to be deleted next pass.
                Err(Undeleted::Stopped) => {
                    not_run += 1;
                    stopped_deletes.insert(promise);
                    renderer.keep_gone(&removed.key);
                }
                Err(Undeleted::Failed(message)) => {
                    pipelines_run += 1;
                    failed_deletes.insert(promise);
                    renderer.delete_failed(&removed.key, message);
                }
            }
        },
    );
    pipelines_run += promise_outcomes
        .values()
        .filter(|o| matches!(o, PromiseOutcome::Ran(_) | PromiseOutcome::Failed(_)))
        .count();
    for (name, decision) in &promise_decisions {
        let before = promise_records.get(name);
        let outcome = match decision {
            PromiseDecision::Static => PromiseOutcome::Static,
            PromiseDecision::Keep => PromiseOutcome::Kept,
            PromiseDecision::Wait(why) => PromiseOutcome::Waiting(why.clone()),
            PromiseDecision::Pause(why) => PromiseOutcome::Paused(why.clone()),
            PromiseDecision::Hold(why) => {
                let path = before.map_or("promises/", |b| b.promise.path.as_str());
                held.push(LoadError::new(path, Problem::new(why.clone())));
                PromiseOutcome::Held(why.clone())
            }
            PromiseDecision::Configure => match promise_outcomes.remove(name) {
                Some(outcome) => outcome,
                None => PromiseOutcome::Kept,
            },
            PromiseDecision::Delete => {
                let Some(promise) = removed.promises.get(name) else {
                    renderer.keep_promise(name);
                    continue;
                };
                let stopped = stopped_deletes.contains(name) || options.stop.is_cancelled();
                if options.run_delete_workflows && stopped {
                    not_run += 1;
                    renderer.keep_promise(name);
                    continue;
                }
                if !options.run_delete_workflows {
                    PromiseOutcome::Deleted
                } else if failed_deletes.contains(name) {
                    PromiseOutcome::DeleteFailed(
                        "a delete workflow of its requests failed; it runs again on the next pass"
                            .into(),
                    )
                } else {
                    pipelines_run += usize::from(!promise.workflows.promise.delete.is_empty());
                    let workflow = Workflow {
                        promise,
                        kind: (WorkflowType::Promise, Action::Delete),
                        subject: Subject::promise(promise),
                        object_yaml: &promise.source,
                    };
                    let folder = RunFolder::new();
                    let ran = workflow.run_to_delete(executor, options, &folder);
                    match crate::runtime::block_here(ran) {
                        Ok(()) => PromiseOutcome::Deleted,
                        Err(Undeleted::Failed(message)) => PromiseOutcome::DeleteFailed(message),
                        Err(Undeleted::Stopped) => {
                            not_run += 1;
                            renderer.keep_promise(name);
                            continue;
                        }
                    }
                }
            }
        };
        let promise = platform
            .promises
            .get(name)
            .or_else(|| removed.promises.get(name));
        match promise {
            Some(promise) => renderer.promise(promise, outcome, before),
            None => renderer.keep_promise(name),
        }
    }
    spilled?;
    let rendered = renderer.finish();
    drop(selected);
    drop(deletes);
    drop(removed);
    platform.problems.extend(removed_problems);
    platform.problems.extend(held);
    // Where a full pass caches the records, it keeps what it read of the request files
    // too, while it holds their bytes.
    if let (Some(_), Some(dir)) = (&cache, store.cache_dir()) {
        request_cache::write(&dir, &platform);
    }
    // Every pipeline has run, so the request files' bytes are done with; what follows
    // (the changes and the commit) is where a large first pass peaks in memory.
    for request in &mut platform.requests {
        request.bytes = Vec::new();
    }

    let mut changes = rendered.tree.changes(|bytes| store.blob_id(bytes));
    let folders = platform
        .destinations
        .values()
        .map(|d| (d.folder.to_string(), d.filepath.clone()))
        .collect();
    let keep_unknown = platform.destinations_incomplete;
    let unlisted = frame
        .as_ref()
        .map(|frame| |folder: &str| frame.unlisted(store, folder));
    let unreadable = index_destinations(
        &mut changes,
        &current,
        &folders,
        keep_unknown,
        unlisted.as_ref().map(|f| f as &Unlisted<'_, GitError>),
        |id| store.read_blob(id, "a document of an aggregatedYAML destination"),
        |bytes| store.blob_id(bytes),
    )?;
    platform.problems.extend(unreadable);
    let mut report = PassReport {
        input_commit,
        narrow: frame.is_some(),
        requests: rendered.requests,
        promises: rendered.promises,
        delete_workflows,
        problems: platform.problems.clone(),
        files_changed: changes.upserts.len() + changes.removals.len(),
        pipelines_run,
        not_run,
        intervals: platform
            .promises
            .values()
            .filter_map(|p| Some((p.name.to_string(), p.reconciliation_interval?)))
            .collect(),
        awaiting_retry,
        promises_awaiting_retry,
        ..PassReport::default()
    };
    attribute(&changes, &platform, &rendered.unrendered, &mut report);
    if let Some(cache) = cache {
        cache.persist();
    }
    if changes.is_empty() {
        tracing::info!(pipelines = pipelines_run, "nothing changed; no commit");
        return Ok(report);
    }
    let message = message::commit_message(&report);
    let commit = store.commit(
        &base,
        &changes,
        &CommitRequest {
            name: &options.author_name,
            email: &options.author_email,
            message: &message,
        },
    )?;
    tracing::info!(commit = %commit, files = report.files_changed, pipelines = pipelines_run, "committed");
    report.output_commit = Some(commit);
    Ok(report)
}

/// What a pass reads before it runs anything.
struct Branch {
    /// The commit the inputs were read from.
    input_commit: Option<String>,
    /// Every Promise, Destination and request.
    platform: Platform,
    /// The records of the requests' status files on the output branch.
    previous: BTreeMap<RequestKey, Record>,
    /// The records of the Promises' status files on the output branch.
    promise_records: BTreeMap<String, PromiseRecord>,
    /// The managed files of the output branch: all of them, or for a narrow pass those
    /// it may change.
    managed: Snapshot,
    /// What a narrow pass did not read; `None` when the pass read everything.
    frame: Option<narrow::Frame>,
    /// The schemas compiled while reading the requests, for the checks before their
    /// runs: each compiles once per pass.
    schemas: prepare::Schemas,
}

/// Lists the branch (or the two branches) and reads the inputs and the last pass's
/// records. Of the listing only the inputs and the managed files are kept, each once.
fn read_branch(inputs: &dyn Store, outputs: Option<&dyn Store>) -> Result<Branch, GitError> {
    let input_snapshot = inputs.snapshot()?;
    let output_snapshot = outputs.map(|o| o.snapshot()).transpose()?;
    let store = outputs.unwrap_or(inputs);
    tracing::info!(
        commit = input_snapshot.commit.as_deref().unwrap_or("none"),
        files = input_snapshot.files.len(),
        "read inputs"
    );
    let input_commit = input_snapshot.commit.clone();
    let (input_listing, managed) = match output_snapshot {
        None => {
            let Snapshot {
                commit,
                files,
                skipped,
            } = input_snapshot;
            let (files, rest) = files.into_iter().partition(|(path, _)| is_managed(path));
            let inputs = Snapshot {
                commit: commit.clone(),
                files: rest,
                skipped,
            };
            let managed = Snapshot {
                commit,
                files,
                ..Snapshot::default()
            };
            (inputs, managed)
        }
        Some(Snapshot { commit, files, .. }) => {
            let files = files.into_iter().filter(|(path, _)| is_managed(path));
            let managed = Snapshot {
                commit,
                files: files.collect(),
                ..Snapshot::default()
            };
            (input_snapshot, managed)
        }
    };
    // The requests and their records are read side by side, each a parse per request,
    // while no pipeline runs yet: both threads take slices of request files, then of
    // status files, until none is left. Records an earlier pass cached are not read
    // again: the helper takes them from the cache before any status file is read.
    let mut platform = read_definitions(inputs, &input_listing)?;
    let request_paths = input_listing.paths(Platform::is_request_file);
    // Each request's schema check is made as it is read, while its parsed document is
    // at hand; one admitted as committed is not parsed again before its run.
    let schemas = prepare::Schemas::default();
    let admits = |promise: &Promise, document: &RequestDoc, value| {
        prepare::admits_as_committed(promise, &schemas, document, value)
    };
    let reader = platform.request_reader(Some(&admits));
    // What the last full pass read from each request file: a file that reads the same
    // (same bytes, same Promise) is neither read nor parsed again.
    let known = store
        .cache_dir()
        .map(|dir| request_cache::Reads::read(&dir))
        .unwrap_or_default();
    let promise_blob = |folder: &str| platform.promises.get(folder).map(|p| p.blob.as_str());
    let blob_id = |bytes: &[u8]| store.blob_id(bytes);
    // Room for a request per file at once, so that the list of 100k is not copied as it
    // grows.
    let mut room = Vec::with_capacity(request_paths.len());
    let request_paths = known.take(
        &input_listing,
        request_paths,
        promise_blob,
        blob_id,
        &mut room,
    );
    let cached_requests = room.len();
    let read_requests = |files: Vec<SourceFile>| -> Vec<RequestFile> {
        files.into_iter().flat_map(&reader).collect()
    };
    let requests = Slices::new(inputs, &input_listing, request_paths, room, read_requests);
    let statuses = std::sync::OnceLock::new();
    let (mine, theirs) = std::thread::scope(|threads| {
        let helper = threads.spawn(|| {
            let promises = records::promise_records(store, &managed)?;
            let cached = store
                .cache_dir()
                .map(|dir| record_cache::read(&dir, &managed));
            let statuses = statuses.get_or_init(|| {
                records::status_slices(store, &managed, cached.unwrap_or_default())
            });
            requests.read()?;
            statuses.read()?;
            Ok::<_, GitError>(promises)
        });
        let mine = requests
            .read()
            .and_then(|()| statuses.get().map_or(Ok(()), Slices::read));
        let theirs = helper
            .join()
            .expect("reading requests and records does not panic");
        (mine, theirs)
    });
    let promise_records = theirs?;
    mine?;
    let read = requests.files();
    let loaded = requests.into_parsed();
    tracing::debug!(cached = cached_requests, read, "request files");
    drop(reader);
    platform.add_requests(loaded);
    for (path, skipped) in &input_listing.skipped {
        platform.add_unread(path, &skipped.to_string());
    }
    drop(input_listing);
    let statuses = statuses
        .into_inner()
        .expect("made before the helper read records");
    let read = statuses.files();
    let previous = statuses.into_parsed();
    let cached = previous.len().saturating_sub(read);
    tracing::debug!(cached, read, "status records");
    Ok(Branch {
        input_commit,
        platform,
        previous,
        promise_records,
        managed,
        frame: None,
        schemas,
    })
}

/// Reads and loads the Promises and Destinations of `listing`.
fn read_definitions(inputs: &dyn Store, listing: &Snapshot) -> Result<Platform, GitError> {
    let paths = listing.paths(|path| is_input(path) && !Platform::is_request_file(path));
    let (platform, requests) = Platform::load_definitions(inputs.read(listing, &paths)?);
    debug_assert!(requests.is_empty(), "request files are read apart");
    Ok(platform)
}

/// Writes the rendered files held as bytes to the object database.
fn spill(tree: &mut DesiredTree<'_>, store: &dyn Store) -> Result<(), GitError> {
    tracing::debug!(
        bytes = tree.pending_bytes(),
        "writing rendered files as blobs"
    );
    tree.spill(
        |bytes| store.blob_id(bytes),
        |blobs| store.write_blobs(blobs),
    )
}

/// Runs the Promise configure workflow of each Promise decided so, one at a time (there
/// are few, and requests wait on them), required Promises first
/// ([`decide::configure_order`]). A Promise whose required Promise's workflow did not
/// succeed in this pass waits instead of running, as it would on the next pass.
fn run_promise_configures(
    platform: &Platform,
    decisions: &BTreeMap<String, PromiseDecision>,
    executor: &dyn Executor,
    options: &Options,
) -> BTreeMap<String, PromiseOutcome> {
    let mut outcomes: BTreeMap<String, PromiseOutcome> = BTreeMap::new();
    let folder = RunFolder::new();
    for name in decide::configure_order(platform, decisions) {
        let promise = &platform.promises[name];
        let held_back = promise.required_promises.iter().find_map(|required| {
            let outcome = outcomes.get(&required.name)?;
            let why = outcome.unavailable(&platform.promises[&required.name])?;
            Some(format!(
                "requires Promise {:?}, which is not available: {why}",
                required.name
            ))
        });
        if let Some(why) = held_back {
            outcomes.insert(name.to_string(), PromiseOutcome::Waiting(why));
            continue;
        }
        let workflow = Workflow {
            promise,
            kind: (WorkflowType::Promise, Action::Configure),
            subject: Subject::promise(promise),
            object_yaml: &promise.source,
        };
        let ran = workflow.run(run::Start::default(), executor, options, &folder);
        let outcome = match crate::runtime::block_here(ran) {
            Ok(run::Finished {
                suspended: Some(suspension),
                ..
            }) => PromiseOutcome::Suspended(suspension),
            Ok(finished) => PromiseOutcome::Ran(finished.outputs),
            Err(stopped) => PromiseOutcome::Failed(stopped),
        };
        outcomes.insert(name.to_string(), outcome);
    }
    outcomes
}

/// Says which requests and Promises the changes belong to. `gone_records` holds those of
/// requests whose file is no longer there.
fn attribute(
    changes: &Changes,
    platform: &Platform,
    gone_records: &BTreeMap<RequestKey, Record>,
    report: &mut PassReport,
) {
    let paths = changes.upserts.keys().chain(&changes.removals);
    for path in paths {
        match Owned::of(path) {
            Some(Owned::RequestOutput(key) | Owned::RequestStatus(key)) => {
                report.changed.insert(key);
            }
            Some(Owned::PromiseOutput(promise)) => {
                report.dependencies_changed.insert(promise.to_string());
            }
            Some(Owned::PromiseStatus(_)) | None => {}
        }
    }
    let present: BTreeSet<&RequestKey> = platform.requests.iter().map(|r| &r.key).collect();
    // A request whose file is gone is removed when its record went unrendered; one
    // whose delete workflow failed was rendered (its status says so) and stays changed.
    let gone: Vec<RequestKey> = report
        .changed
        .iter()
        .filter(|k| !present.contains(k) && gone_records.contains_key(*k))
        .cloned()
        .collect();
    for key in gone {
        report.changed.remove(&key);
        let path = gone_records[&key].request.path.clone();
        report.removed.push((key, path));
    }
    let promises = report
        .changed
        .iter()
        .filter_map(|k| platform.promises.get(k.promise.as_str()));
    let pipelines = promises.flat_map(|p| &p.workflows.resource.configure);
    report.images = pipelines
        .flat_map(|p| p.images())
        .map(String::from)
        .collect();
}

#[cfg(test)]
mod tests;
