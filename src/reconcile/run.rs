//! Running the pipelines of the requests a pass selects, up to `jobs` at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::failure;
use super::prepare::{Ready, Schemas, prepare};
use super::render::Outcome;
use super::{Options, Progress};
use crate::executor::Executor;
use crate::model::{Platform, RequestFile};
use crate::pipeline::{RunError, RunFolder};

/// Reconciles the `selected` requests of `platform`, up to `jobs` at once, and hands
/// each outcome to `sink` as soon as it is known, in no particular order (so that a pass
/// over many requests never holds all their outputs). `sink` runs on the calling thread.
pub fn outcomes<'p>(
    platform: &'p Platform,
    selected: &[&'p RequestFile],
    executor: &dyn Executor,
    options: &Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
    sink: &mut dyn FnMut(&'p RequestFile, Outcome),
) {
    progress(Progress::Start(selected.len()));

    let schemas = Schemas::default();
    let next = AtomicUsize::new(0);
    let workers = options.jobs.clamp(1, selected.len().max(1));
    // Bounded: when rendering falls behind, workers wait rather than pile up outputs.
    let (done, finished) = mpsc::sync_channel::<(&RequestFile, Outcome)>(workers * 4);
    std::thread::scope(|threads| {
        for _ in 0..workers {
            let done = done.clone();
            let (next, schemas) = (&next, &schemas);
            threads.spawn(move || {
                let mut folder = None;
                while let Some(request) = selected.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = match prepare(platform, schemas, request) {
                        Ok(ready) => run_request(executor, options, &mut folder, request, &ready),
                        Err(outcome) => outcome,
                    };
                    progress(Progress::Ran(&request.key));
                    if done.send((request, outcome)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        for (request, outcome) in finished {
            sink(request, outcome);
        }
    });
}

/// Runs every pipeline of the request's workflow in order; the first failure stops it.
/// `folder` is the worker's run folder, created on first use; each run makes a new
/// folder in it.
fn run_request(
    executor: &dyn Executor,
    options: &Options,
    folder: &mut Option<RunFolder>,
    request: &RequestFile,
    ready: &Ready<'_>,
) -> Outcome {
    let span = tracing::info_span!("request", request = %request.key, path = %request.path);
    let _entered = span.enter();
    let mut outputs = Vec::new();
    for pipeline in &ready.promise.configure {
        let job = ready.job(pipeline, request, options.timeout, options.output_limits);
        let ran = reuse(folder).and_then(|folder| folder.run(executor, &job));
        match ran {
            Ok(output) => {
                tracing::debug!(pipeline = %pipeline.name, files = output.files.len(), "pipeline succeeded");
                outputs.push((pipeline.name.clone(), output));
            }
            Err(err) => {
                failure::log_failure(pipeline, &err);
                return Outcome::Failed(failure::status_message(ready.promise, pipeline, &err));
            }
        }
    }
    Outcome::Ran(outputs)
}

/// The worker's run folder, created if it has none.
fn reuse(folder: &mut Option<RunFolder>) -> Result<&RunFolder, RunError> {
    if folder.is_none() {
        *folder = Some(RunFolder::new()?);
    }
    Ok(folder.as_ref().expect("just created"))
}
