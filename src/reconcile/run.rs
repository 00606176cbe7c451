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

/// A workflow that ran to its end, or until a pipeline's `workflow-control.yaml`
/// suspended it.
#[derive(Debug)]
pub struct Finished {
    /// The outputs of the pipelines that ran, in order; empty when suspended (the
    /// outputs written before stay as they are, as in Kratix's suspended workflow).
    pub outputs: Vec<(String, RunOutput)>,
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
    /// The status the pipelines wrote up to it, its own included, merged: Kratix keeps
    /// it in the object's status while the workflow is suspended.
    pub status: Map<String, Value>,
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

    /// Runs every pipeline in order; the first failure stops it, and so does a
    /// pipeline whose `workflow-control.yaml` suspends the workflow. Each pipeline after
    /// the first reads `object.yaml` with the `status` the earlier ones wrote to
    /// `status.yaml`, merged as Kratix's status updater merges it.
    pub fn run(
        &self,
        executor: &dyn Executor,
        options: &Options,
        folder: &mut Option<RunFolder>,
    ) -> Result<Finished, Stopped> {
        let span = tracing::info_span!("workflow", object = %self.subject, workflow = %self.kind.0, action = %self.kind.1);
        let _entered = span.enter();
        let mut outputs: Vec<(String, RunOutput)> = Vec::new();
        for pipeline in self.pipelines() {
            let object_yaml = object_for(self.object_yaml, &outputs);
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
            match ran {
                Ok(mut output) => {
                    tracing::debug!(pipeline = %pipeline.name, files = output.files.len(), "pipeline succeeded");
                    if let Some(control) = output.metadata.control.take() {
                        tracing::info!(pipeline = %pipeline.name, "workflow-control.yaml suspends the workflow");
                        let pipeline = pipeline.name.clone();
                        outputs.push((pipeline.clone(), output));
                        let status = merged_status(&outputs);
                        return Ok(Finished {
                            outputs: Vec::new(),
                            suspended: Some(Box::new(Suspension {
                                pipeline,
                                control,
                                status,
                            })),
                        });
                    }
                    outputs.push((pipeline.name.clone(), output));
                }
                Err(err) => {
                    failure::log_failure(pipeline, &err);
                    return Err(Stopped {
                        pipeline: pipeline.name.clone(),
                        message: failure::status_message(self.promise, pipeline, &err),
                        error: err,
                    });
                }
            }
        }
        Ok(Finished {
            outputs,
            suspended: None,
        })
    }

    /// Runs it as a delete workflow: what it leaves is ignored, as in Kratix, and a
    /// suspension leaves the deletion undone (it runs again on the next pass).
    pub fn run_to_delete(
        &self,
        executor: &dyn Executor,
        options: &Options,
        folder: &mut Option<RunFolder>,
    ) -> Result<(), String> {
        let finished = self.run(executor, options, folder).map_err(|s| s.message)?;
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

/// What a pipeline reads as `object.yaml` after the pipelines that gave `earlier`: the
/// object as it is when they wrote no status, else with their status merged in.
pub fn object_for<'o>(object_yaml: &'o [u8], earlier: &[(String, RunOutput)]) -> Cow<'o, [u8]> {
    let status = merged_status(earlier);
    match status.is_empty() {
        true => Cow::Borrowed(object_yaml),
        false => Cow::Owned(object_with_status(object_yaml, status)),
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

/// The pipelines' `status.yaml` keys, as Kratix's status updater merges them: a later
/// pipeline's key replaces an earlier one's, except `conditions`, which merge by `type`.
pub fn merged_status(results: &[(String, RunOutput)]) -> Map<String, Value> {
    let mut merged = Map::new();
    for (_, output) in results {
        for (key, value) in &output.metadata.status {
            if key == "conditions" {
                let list = merged
                    .entry("conditions")
                    .or_insert_with(|| Value::Array(Vec::new()));
                let list = list
                    .as_array_mut()
                    .expect("conditions is always a list here");
                for cond in value.as_array().into_iter().flatten() {
                    match list.iter_mut().find(|c| c.get("type") == cond.get("type")) {
                        Some(existing) => *existing = cond.clone(),
                        None => list.push(cond.clone()),
                    }
                }
            } else {
                merged.insert(key.clone(), value.clone());
            }
        }
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
