//! Running workflows: a pool of workers that runs the pass's work items up to `jobs` at
//! once, and the run of one workflow (its pipelines in order, each seeing the status the
//! earlier ones wrote).

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::Options;
use super::failure;
use crate::executor::{ExecError, Executor};
use crate::model::{Action, Pipeline, Promise, WorkflowType};
use crate::pipeline::{Job, RunError, RunFolder, RunOutput, Subject, WorkflowControl};
use crate::yaml;

/// Runs `work` on every item, up to `jobs` at once, and hands each result to `sink` as
/// soon as it is known, in no particular order (so that a pass over many requests never
/// holds all their outputs). `sink` runs on the worker that has the result, one worker
/// at a time: handing each result to another thread woke that thread once per run (a
/// `futex` call on each side, and a switch of threads), which cost more than the
/// rendering it was for. While a worker is in `sink` (or waits for it), its runs in
/// flight are not polled: a container that fills its pipe meanwhile waits, and a
/// deadline that passes is seen once the worker is back. A pass's sink renders, and now
/// and then writes the outputs it holds to the object database (`spill`).
///
/// The work runs on one thread per core at most, each keeping its share of the `jobs`
/// in flight on a runtime of its own: a run that waits (for a process, a container
/// engine, a Pod) is a future that holds no thread, so `jobs` can be in the hundreds on
/// a two-core machine. What work does between waits (preparing a request, reading
/// output back) runs on these threads in parallel. Each thread has one run folder,
/// made on first use, that its runs share.
pub(crate) fn pool<T: Sync, O: Send>(
    items: &[T],
    jobs: usize,
    work: &(impl AsyncFn(&T, &RunFolder) -> O + Sync),
    sink: &mut (dyn FnMut(&T, O) + Send),
) {
    if items.is_empty() {
        return;
    }
    let next = AtomicUsize::new(0);
    let jobs = jobs.clamp(1, items.len());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = jobs.min(cores);
    let sink = Mutex::new(sink);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let in_flight = jobs / threads + usize::from(thread < jobs % threads);
            let (next, sink) = (&next, &sink);
            scope.spawn(move || {
                let folder = RunFolder::new();
                let claimed = std::iter::from_fn(|| {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    items.get(i).map(|item| (i, item))
                });
                let runs = futures_util::stream::iter(claimed)
                    .map(|(i, item)| {
                        let folder = &folder;
                        async move { (i, work(item, folder).await) }
                    })
                    .buffer_unordered(in_flight);
                crate::runtime::for_this_thread().block_on(async {
                    futures_util::pin_mut!(runs);
                    while let Some((i, outcome)) = runs.next().await {
                        let Ok(mut sink) = sink.lock() else {
                            // Another worker's sink panicked: no item is started any
                            // more, the runs in flight are dropped (their processes
                            // killed), and the scope passes the panic on.
                            next.store(items.len(), Ordering::Relaxed);
                            return;
                        };
                        sink(&items[i], outcome);
                    }
                });
            });
        }
    });
}

/// One workflow to run: which pipelines, on what.
pub(crate) struct Workflow<'a> {
    /// The Promise whose workflow it is.
    pub(crate) promise: &'a Promise,
    /// Its type and action.
    pub(crate) kind: (WorkflowType, Action),
    /// The object it runs on.
    pub(crate) subject: Subject<'a>,
    /// The object as committed (the request as the schema leaves it).
    pub(crate) object_yaml: &'a [u8],
}

/// Where a run of a workflow starts: at its first pipeline, or, resuming a suspended
/// workflow, at the pipeline that suspended it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Start {
    /// The index of the first pipeline to run.
    pub(crate) pipeline: usize,
    /// The status the pipelines before it wrote: what the run's status builds on, so
    /// that a resumed run ends with the status a run from the first pipeline gives.
    pub(crate) status: Map<String, Value>,
    /// The status its `object.yaml` shows, when not `status`: a resumed pipeline sees
    /// the status as it was when it suspended, its own keys included, as Kratix shows
    /// the object's stored status.
    pub(crate) seen: Option<Map<String, Value>>,
}

/// A workflow that ran to its end, or until a pipeline's `workflow-control.yaml`
/// suspended it.
#[derive(Debug)]
pub(crate) struct Finished {
    /// The outputs of the pipelines that ran, in order, the suspending one included.
    pub(crate) outputs: Vec<(String, RunOutput)>,
    /// The status so far: the [`Start`]'s, with what each pipeline that ran wrote to its
    /// `status.yaml` merged in, as Kratix's status updater merges it.
    pub(crate) status: Map<String, Value>,
    /// Why and where it stopped early, if it did.
    pub(crate) suspended: Option<Box<Suspension>>,
}

/// A workflow suspended by the `workflow-control.yaml` of one of its pipelines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suspension {
    /// The pipeline that asked.
    pub(crate) pipeline: String,
    /// What it asked.
    pub(crate) control: WorkflowControl,
    /// The status the pipelines before it wrote: where a resumed run starts from.
    pub(crate) status_before: Map<String, Value>,
}

/// Why a workflow stopped before its last pipeline: the run's own error, kept typed,
/// and the message a status file shows of it (redacted, cut to its last lines).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Stopped {
    /// The pipeline that failed.
    pub(crate) pipeline: String,
    /// What went wrong.
    #[source]
    pub(crate) error: RunError,
    /// The status message: what failed, with the last lines of its log.
    pub(crate) message: String,
}

impl Stopped {
    /// Whether the run was cut short because the reconciler is stopping, rather than
    /// failed.
    pub(crate) fn cancelled(&self) -> bool {
        matches!(self.error, RunError::Exec(ExecError::Cancelled))
    }
}

impl Workflow<'_> {
    pub(crate) fn pipelines(&self) -> &[Pipeline] {
        self.promise.workflows.pipelines(self.kind.0, self.kind.1)
    }

    /// Runs every pipeline in order from `start`; the first failure stops it, and so
    /// does a pipeline whose `workflow-control.yaml` suspends the workflow. Each pipeline
    /// reads `object.yaml` with the `status` so far: the start's, and what the earlier
    /// pipelines wrote to `status.yaml`.
    #[tracing::instrument(name = "workflow", skip_all, fields(object = %self.subject, workflow = %self.kind.0, action = %self.kind.1))]
    pub(crate) async fn run(
        &self,
        start: Start,
        executor: &dyn Executor,
        options: &Options,
        folder: &RunFolder,
    ) -> Result<Finished, Stopped> {
        let mut seen = start.seen.unwrap_or_else(|| start.status.clone());
        let mut finished = Finished {
            outputs: Vec::new(),
            status: start.status,
            suspended: None,
        };
        for pipeline in self.pipelines().iter().skip(start.pipeline) {
            let object_yaml = object_for(self.object_yaml, &seen);
            let job = Job {
                promise: self.promise,
                pipeline,
                workflow: self.kind,
                object: self.subject,
                object_yaml: &object_yaml,
                timeout: options.timeout,
                limits: options.output_limits,
                stop: &options.stop,
                pipelines: options.pipelines.as_deref(),
            };
            let mut output = match folder.run(executor, &job).await {
                Ok(output) => output,
                Err(err) => {
                    failure::log_failure(&self.subject, pipeline, &err);
                    return Err(Stopped {
                        pipeline: pipeline.name.clone(),
                        message: failure::status_message(self.promise, pipeline, &err),
                        error: err,
                    });
                }
            };
            tracing::debug!(pipeline = %pipeline.name, files = output.files.len(), "pipeline succeeded");
            let status_before = finished.status.clone();
            merge_status(&mut finished.status, &output.metadata.status);
            merge_status(&mut seen, &output.metadata.status);
            let control = output.metadata.control.take();
            finished.outputs.push((pipeline.name.clone(), output));
            if let Some(control) = control {
                tracing::info!(pipeline = %pipeline.name, "workflow-control.yaml suspends the workflow");
                finished.suspended = Some(Box::new(Suspension {
                    pipeline: pipeline.name.clone(),
                    control,
                    status_before,
                }));
                break;
            }
        }
        Ok(finished)
    }

    /// Runs it as a delete workflow: what it leaves is ignored, as in Kratix, and a
    /// suspension leaves the deletion undone (it runs again on the next pass).
    pub(crate) async fn run_to_delete(
        &self,
        executor: &dyn Executor,
        options: &Options,
        folder: &RunFolder,
    ) -> Result<(), Undeleted> {
        let finished = self
            .run(Start::default(), executor, options, folder)
            .await
            .map_err(|stopped| match stopped.cancelled() {
                true => Undeleted::Stopped,
                false => Undeleted::Failed(stopped.message),
            })?;
        match finished.suspended {
            None => Ok(()),
            Some(suspension) => Err(Undeleted::Failed(format!(
                "pipeline {:?} suspended the delete workflow{}",
                suspension.pipeline,
                suspension
                    .control
                    .message
                    .map_or(String::new(), |m| format!(": {m}"))
            ))),
        }
    }
}

/// Why a delete workflow did not delete.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Undeleted {
    /// The reconciler is stopping: the workflow was cut short, or not started. What
    /// it would delete stays as it is, for the next pass.
    Stopped,
    /// It failed or was suspended: what the status shows.
    Failed(String),
}

/// What a pipeline reads as `object.yaml` once the pipelines before it wrote `status`:
/// the object as it is when they wrote none, else with their status in it.
pub(crate) fn object_for<'o>(object_yaml: &'o [u8], status: &Map<String, Value>) -> Cow<'o, [u8]> {
    match status.is_empty() {
        true => Cow::Borrowed(object_yaml),
        false => Cow::Owned(object_with_status(object_yaml, status.clone())),
    }
}

/// The object with `status` set: what a pipeline after the first reads. An object that
/// does not read as a mapping (it was read once already, so this is unexpected) is given
/// as it is. It is read at a Promise's depth bound, the larger: the object was read at
/// its own bound already, and a Promise's CRD may nest deeper than a request may.
fn object_with_status(object_yaml: &[u8], status: Map<String, Value>) -> Vec<u8> {
    let text = String::from_utf8_lossy(object_yaml);
    match yaml::document_nested(&text, yaml::PROMISE_MAX_DEPTH) {
        Ok(Value::Object(mut object)) => {
            object.insert("status".into(), Value::Object(status));
            yaml::to_string(&Value::Object(object)).into_bytes()
        }
        _ => object_yaml.to_vec(),
    }
}

/// Merges one pipeline's `status.yaml` keys into the status so far, as Kratix's status
/// updater merges them: a later pipeline's key replaces an earlier one's, except
/// `conditions`, which merge by `type`.
pub(crate) fn merge_status(merged: &mut Map<String, Value>, status: &Map<String, Value>) {
    for (key, value) in status {
        if key != "conditions" {
            merged.insert(key.clone(), value.clone());
            continue;
        }
        let list = merged
            .entry("conditions")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        let list = list.as_array_mut().expect("made a list above");
        for cond in value.as_array().into_iter().flatten() {
            match list.iter_mut().find(|c| c.get("type") == cond.get("type")) {
                Some(existing) => *existing = cond.clone(),
                None => list.push(cond.clone()),
            }
        }
    }
}

/// The status the pipelines that gave `results` wrote, merged in order.
pub(crate) fn merged_status(results: &[(String, RunOutput)]) -> Map<String, Value> {
    let mut merged = Map::new();
    for (_, output) in results {
        merge_status(&mut merged, &output.metadata.status);
    }
    merged
}

/// The worker's run folder, created if it has none.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Metadata;
    use serde_json::json;

    fn output(status: Value) -> RunOutput {
        RunOutput {
            files: Default::default(),
            metadata: Metadata {
                status: status.as_object().unwrap().clone(),
                ..Metadata::default()
            },
        }
    }

    #[test]
    fn pipeline_status_keys_merge_in_pipeline_order() {
        let first = output(
            json!({"message": "one", "a": 1, "conditions": [{"type": "X", "status": "False"}]}),
        );
        let second = output(
            json!({"message": "two", "conditions": [{"type": "X", "status": "True"}, {"type": "Y"}]}),
        );
        let merged = merged_status(&[("1".into(), first), ("2".into(), second)]);
        assert_eq!(
            Value::Object(merged),
            json!({"message": "two", "a": 1, "conditions": [{"type": "X", "status": "True"}, {"type": "Y"}]})
        );
    }

    #[test]
    fn a_later_pipeline_reads_the_status_so_far_in_its_object() {
        let object = b"apiVersion: a/v1\nkind: App\nmetadata: {name: x}\nspec: {size: 1}\nstatus: {old: true}\n";
        let status = json!({"url": "redis://x"}).as_object().unwrap().clone();
        let text = String::from_utf8(object_with_status(object, status)).unwrap();
        let doc = yaml::document(&text).unwrap();
        assert_eq!(doc["status"], json!({"url": "redis://x"}));
        assert_eq!(doc["spec"]["size"], 1);
    }

    #[test]
    fn a_promise_nested_deeper_than_a_request_may_still_gets_the_status() {
        let mut object = String::from("kind: Promise\nmetadata: {name: deep}\nspec:\n");
        for level in 1..100 {
            object.push_str(&format!("{}a:\n", "  ".repeat(level)));
        }
        object.push_str(&format!("{}b: 1\n", "  ".repeat(100)));
        let status = json!({"url": "x"}).as_object().unwrap().clone();
        let text = String::from_utf8(object_with_status(object.as_bytes(), status)).unwrap();
        assert!(text.contains("url: x"), "{text}");
    }

    #[test]
    fn the_pool_hands_every_result_over_once() {
        let items: Vec<usize> = (0..50).collect();
        let mut seen = Vec::new();
        pool(&items, 3, &async |i, _| i * 2, &mut |i, doubled| {
            seen.push((*i, doubled))
        });
        seen.sort();
        assert_eq!(seen, items.iter().map(|i| (*i, i * 2)).collect::<Vec<_>>());
    }

    #[test]
    fn a_sink_that_panics_stops_every_worker_from_starting_more() {
        let items: Vec<usize> = (0..500).collect();
        let started = AtomicUsize::new(0);
        let work = async |_: &usize, _: &RunFolder| {
            started.fetch_add(1, Ordering::Relaxed);
            tokio::task::yield_now().await;
        };
        let mut first = true;
        let pass = std::panic::AssertUnwindSafe(|| {
            pool(&items, 2, &work, &mut |_, ()| {
                // Only once: the other worker's sink would work.
                if std::mem::take(&mut first) {
                    panic!("a sink that fails");
                }
            })
        });
        assert!(
            std::panic::catch_unwind(pass).is_err(),
            "the panic is passed on"
        );
        let started = started.into_inner();
        assert!(started < 50, "{started} of {} started", items.len());
    }

    #[test]
    fn runs_that_wait_are_all_in_flight_at_once_on_a_thread_per_core() {
        // Each run waits until `jobs` runs wait together: with fewer in flight than
        // `jobs`, none would get past the barrier, and each would end in a timeout.
        let jobs = 24;
        let items: Vec<usize> = (0..jobs * 2).collect();
        let barrier = tokio::sync::Barrier::new(jobs);
        let threads = std::sync::Mutex::new(std::collections::HashSet::new());
        let mut met = 0;
        let wait = async |_: &usize, _: &RunFolder| {
            threads.lock().unwrap().insert(std::thread::current().id());
            let all_there = std::time::Duration::from_secs(30);
            tokio::time::timeout(all_there, barrier.wait())
                .await
                .is_ok()
        };
        pool(&items, jobs, &wait, &mut |_, all_there| {
            met += usize::from(all_there)
        });
        assert_eq!(met, items.len(), "every run met {jobs} others in flight");
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert!(threads.into_inner().unwrap().len() <= cores);
    }
}
