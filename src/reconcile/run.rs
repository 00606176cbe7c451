//! Running the pipelines of every request that may run, up to `jobs` at once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::prepare::{Ready, Schemas, prepare};
use super::render::Outcome;
use super::{Options, Progress, Scope};
use crate::executor::Executor;
use crate::model::{Platform, RequestFile, RequestKey};
use crate::pipeline;
use crate::state::status::Record;

/// The outcome of every request of `platform`, in request order.
pub fn outcomes<'p>(
    platform: &'p Platform,
    scope: &Scope,
    previous: &BTreeMap<RequestKey, Record>,
    executor: &dyn Executor,
    options: &Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Vec<(&'p RequestFile, Outcome)> {
    let mut schemas = Schemas::default();
    let checked: Vec<(&RequestFile, Result<Ready<'_>, Outcome>)> = platform
        .requests
        .iter()
        .map(|request| {
            if !scope.includes(platform, request, previous.get(&request.key)) {
                return (request, Err(Outcome::Unchanged));
            }
            (request, prepare(platform, &mut schemas, request))
        })
        .collect();
    let runnable: Vec<(usize, &RequestFile, &Ready<'_>)> = checked
        .iter()
        .enumerate()
        .filter_map(|(i, (request, check))| check.as_ref().ok().map(|ready| (i, *request, ready)))
        .collect();
    progress(Progress::Start(runnable.len()));

    let results: Mutex<Vec<Option<Outcome>>> =
        Mutex::new((0..checked.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let workers = options.jobs.clamp(1, runnable.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some((i, request, ready)) =
                    runnable.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    let outcome = run_request(executor, options, request, ready);
                    progress(Progress::Ran(&request.key));
                    results
                        .lock()
                        .expect("no worker panics while holding the lock")[*i] = Some(outcome);
                }
            });
        }
    });

    let mut results = results.into_inner().expect("workers are done");
    checked
        .into_iter()
        .zip(results.iter_mut())
        .map(|((request, check), ran)| match check {
            Ok(_) => (request, ran.take().expect("every runnable request ran")),
            Err(outcome) => (request, outcome),
        })
        .collect()
}

/// Runs every pipeline of the request's workflow in order; the first failure stops it.
fn run_request(
    executor: &dyn Executor,
    options: &Options,
    request: &RequestFile,
    ready: &Ready<'_>,
) -> Outcome {
    let span = tracing::info_span!("request", request = %request.key, path = %request.path);
    let _entered = span.enter();
    let mut outputs = Vec::new();
    for pipeline in &ready.promise.configure {
        let job = ready.job(pipeline, request, options.timeout);
        match pipeline::run(executor, &job) {
            Ok(output) => {
                tracing::debug!(pipeline = %pipeline.name, files = output.files.len(), "pipeline succeeded");
                outputs.push((pipeline.name.clone(), output));
            }
            Err(err) => {
                tracing::warn!(pipeline = %pipeline.name, "pipeline failed: {err}");
                return Outcome::Failed(format!("pipeline {:?}: {err}", pipeline.name));
            }
        }
    }
    Outcome::Ran(outputs)
}
