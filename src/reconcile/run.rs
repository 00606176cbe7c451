//! Running workflows: a pool of workers that runs the pass's work items up to `jobs` at
//! once, and the run of one workflow (its pipelines in order, each seeing the status the
//! earlier ones wrote).

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use serde_json::{Map, Value};

use super::Options;
use super::failure;
use crate::executor::Executor;
use crate::model::{Action, Pipeline, Promise, WorkflowType};
use crate::pipeline::{Job, RunError, RunFolder, RunOutput, Subject, WorkflowControl};
use crate::yaml;

/// Runs `work` on every item, up to `jobs` at once, and hands each result to `sink` as
/// soon as it is known, in no particular order (so that a pass over many requests never
/// holds all their outputs). Each worker has its own run folder, created on first use.
/// `sink` runs on the calling thread.
pub fn pool<T: Sync, O: Send>(
    items: &[T],
    jobs: usize,
    work: &(dyn Fn(&T, &mut Option<RunFolder>) -> O + Sync),
    sink: &mut dyn FnMut(&T, O),
) {
    let next = AtomicUsize::new(0);
    let workers = jobs.clamp(1, items.len().max(1));
    // Bounded: when rendering falls behind, workers wait rather than pile up outputs.
    let (done, finished) = mpsc::sync_channel::<(usize, O)>(workers * 4);
    std::thread::scope(|threads| {
        for _ in 0..workers {
            let done = done.clone();
            let next = &next;
            threads.spawn(move || {
                let mut folder = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    if done.send((i, work(item, &mut folder))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        for (i, outcome) in finished {
            sink(&items[i], outcome);
        }
    });
}

/// One workflow to run: which pipelines, on what.
pub struct Workflow<'a> {
    /// The Promise whose workflow it is.
    pub promise: &'a Promise,
    /// Its type and action.
    pub kind: (WorkflowType, Action),
    /// The object it runs on.
    pub subject: Subject<'a>,
    /// The object as committed (the request as the schema leaves it).
    pub object_yaml: &'a [u8],
}

/// Where a run of a workflow starts: at its first pipeline, or, resuming a suspended
/// workflow, at the pipeline that suspended it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Start {
    /// The index of the first pipeline to run.
    pub pipeline: usize,
    /// The status the pipelines before it wrote: what the run's status builds on, so
    /// that a resumed run ends with the status a run from the first pipeline gives.
    pub status: Map<String, Value>,
    /// The status its `object.yaml` shows, when not `status`: a resumed pipeline sees
    /// the status as it was when it suspended, its own keys included, as Kratix shows
    /// the object's stored status.
    pub seen: Option<Map<String, Value>>,
}

/// A workflow that ran to its end, or until a pipeline's `workflow-control.yaml`
/// suspended it.
#[derive(Debug)]
pub struct Finished {
    /// The outputs of the pipelines that ran, in order, the suspending one included.
    pub outputs: Vec<(String, RunOutput)>,
    /// The status so far: the [`Start`]'s, with what each pipeline that ran wrote to its
    /// `status.yaml` merged in, as Kratix's status updater merges it.
    pub status: Map<String, Value>,
    /// Why and where it stopped early, if it did.
    pub suspended: Option<Box<Suspension>>,
}

/// A workflow suspended by the `workflow-control.yaml` of one of its pipelines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    /// The pipeline that asked.
    pub pipeline: String,
    /// What it asked.
    pub control: WorkflowControl,
    /// The status the pipelines before it wrote: where a resumed run starts from.
    pub status_before: Map<String, Value>,
}

/// Why a workflow stopped before its last pipeline: the run's own error, kept typed,
/// and the message a status file shows of it (redacted, cut to its last lines).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Stopped {
    /// The pipeline that failed.
    pub pipeline: String,
    /// What went wrong.
    #[source]
    pub error: RunError,
    /// The status message: what failed, with the last lines of its log.
    pub message: String,
}

impl Workflow<'_> {
    /// The pipelines it runs.
    pub fn pipelines(&self) -> &[Pipeline] {
        self.promise.workflows.pipelines(self.kind.0, self.kind.1)
    }

    /// Runs every pipeline in order from `start`; the first failure stops it, and so
    /// does a pipeline whose `workflow-control.yaml` suspends the workflow. Each pipeline
    /// reads `object.yaml` with the `status` so far: the start's, and what the earlier
    /// pipelines wrote to `status.yaml`.
    pub fn run(
        &self,
        start: Start,
        executor: &dyn Executor,
        options: &Options,
        folder: &mut Option<RunFolder>,
    ) -> Result<Finished, Stopped> {
        let span = tracing::info_span!("workflow", object = %self.subject, workflow = %self.kind.0, action = %self.kind.1);
        let _entered = span.enter();
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
            };
            let ran = reuse(folder).and_then(|folder| folder.run(executor, &job));
            let mut output = match ran {
                Ok(output) => output,
                Err(err) => {
                    failure::log_failure(pipeline, &err);
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
    pub fn run_to_delete(
        &self,
        executor: &dyn Executor,
        options: &Options,
        folder: &mut Option<RunFolder>,
    ) -> Result<(), String> {
        let finished = self
            .run(Start::default(), executor, options, folder)
            .map_err(|s| s.message)?;
        match finished.suspended {
            None => Ok(()),
            Some(suspension) => Err(format!(
                "pipeline {:?} suspended the delete workflow{}",
                suspension.pipeline,
                suspension
                    .control
                    .message
                    .map_or(String::new(), |m| format!(": {m}"))
            )),
        }
    }
}

/// What a pipeline reads as `object.yaml` once the pipelines before it wrote `status`:
/// the object as it is when they wrote none, else with their status in it.
pub fn object_for<'o>(object_yaml: &'o [u8], status: &Map<String, Value>) -> Cow<'o, [u8]> {
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
pub fn merge_status(merged: &mut Map<String, Value>, status: &Map<String, Value>) {
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
pub fn merged_status(results: &[(String, RunOutput)]) -> Map<String, Value> {
    let mut merged = Map::new();
    for (_, output) in results {
        merge_status(&mut merged, &output.metadata.status);
    }
    merged
}

/// The worker's run folder, created if it has none.
fn reuse(folder: &mut Option<RunFolder>) -> Result<&RunFolder, RunError> {
    if folder.is_none() {
        *folder = Some(RunFolder::new()?);
    }
    Ok(folder.as_ref().expect("just created"))
}

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
        pool(&items, 3, &|i, _| i * 2, &mut |i, doubled| {
            seen.push((*i, doubled))
        });
        seen.sort();
        assert_eq!(seen, items.iter().map(|i| (*i, i * 2)).collect::<Vec<_>>());
    }
}
