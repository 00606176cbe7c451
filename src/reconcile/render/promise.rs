//! A Promise's dependencies and status: its static `spec.dependencies` and what its
//! Promise configure workflow produced, written to every destination that matches
//! (each directory group by its own selectors), and `status/<promise>.yaml`. Pure.

use std::collections::BTreeMap;

use super::{FileUnderFile, groups, owners};
use crate::model::{Platform, Promise};
use crate::pipeline::RunOutput;
use crate::reconcile::run::{Stopped, Suspension, merged_status};
use crate::scheduling::place_everywhere;
use crate::state::layout::{STATIC_DEPENDENCIES_FILE, dependency_dir, promise_status_path};
use crate::state::promise_status::{Availability, PromiseRecord, PromiseStatus, Unavailable};
use crate::state::status::{OutputRef, PipelineRef, RequestRef};
use crate::state::{DesiredTree, Keep};
use crate::yaml;

/// What happened to a Promise in this pass.
#[derive(Debug)]
pub(crate) enum PromiseOutcome {
    /// It has no Promise workflow: its static dependencies are written.
    Static,
    /// Its Promise configure workflow succeeded: its outputs, in pipeline order.
    Ran(Vec<(String, RunOutput)>),
    /// Its Promise workflow failed: earlier outputs stay, and it is unavailable.
    Failed(Stopped),
    /// A pipeline's `workflow-control.yaml` suspended its Promise workflow: earlier
    /// outputs stay, and it is unavailable until a later pass runs the workflow through.
    Suspended(Box<Suspension>),
    /// A Promise it requires is not available: earlier outputs stay.
    Waiting(String),
    /// It is paused (`kratix.io/paused`): earlier outputs stay.
    Paused(String),
    /// Left as the last pass wrote it.
    Kept,
    /// Its file is gone (or does not read) but it cannot go yet: its outputs stay, and
    /// its status says why it is unavailable.
    Held(String),
    /// Its file is gone and its delete workflow (if any) succeeded: everything goes.
    Deleted,
    /// Its file is gone and its delete workflow failed: outputs stay, the status says so.
    DeleteFailed(String),
}

impl PromiseOutcome {
    /// Why the Promise's requests may not run after this outcome, in the words its
    /// status records as `reason`: a later pass that keeps the Promise reads that back,
    /// so its waiting requests say the same and a rerun commits nothing. `None` when
    /// they may run.
    pub(crate) fn unavailable(&self, promise: &Promise) -> Option<String> {
        match self {
            PromiseOutcome::Ran(results) => clash(promise, results),
            PromiseOutcome::Failed(stopped) => Some(stopped.message.clone()),
            PromiseOutcome::Suspended(suspension) => Some(suspended_reason(suspension)),
            PromiseOutcome::Waiting(why) | PromiseOutcome::Paused(why) => Some(why.clone()),
            _ => None,
        }
    }
}

/// Why a Promise whose workflow a pipeline suspended is unavailable.
fn suspended_reason(
    Suspension {
        pipeline, control, ..
    }: &Suspension,
) -> String {
    let why = control
        .message
        .as_ref()
        .map_or(String::new(), |m| format!(": {m}"));
    format!("its Promise workflow is suspended by pipeline {pipeline:?}{why}")
}

/// Two sources of one dependency file (`spec.dependencies` and a pipeline, or two
/// pipelines), said as a status reason.
fn clash(promise: &Promise, results: &[(String, RunOutput)]) -> Option<String> {
    let who = |owner: &str| match owner {
        STATIC_SOURCE => owner.to_string(),
        _ => format!("pipeline {owner:?}"),
    };
    let mut seed = BTreeMap::new();
    if !promise.dependencies.is_empty() {
        seed.insert(STATIC_DEPENDENCIES_FILE, STATIC_SOURCE);
    }
    match owners(seed, results) {
        Err((other, pipeline, path)) => Some(format!(
            "output: {} and pipeline {pipeline:?} both write {path}; each dependency file \
             must come from one place",
            who(other)
        )),
        Ok(owners) => FileUnderFile::find(&owners).map(|clash| clash.say(who)),
    }
}

/// Who writes the static dependencies file, in a clash.
const STATIC_SOURCE: &str = "spec.dependencies";

/// What the pass reports about one Promise.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PromiseReport {
    pub(crate) name: String,
    /// Whether its requests may run after this pass; `None` when it was left as it was
    /// or removed.
    pub(crate) availability: Option<Availability>,
    /// What happened, for the platform team.
    pub(crate) message: String,
    /// Whether one of its workflows failed in this pass.
    pub(crate) failed: bool,
    /// Whether it was removed, with its dependencies and status.
    pub(crate) removed: bool,
    /// When its suspended Promise workflow asked to run again (`retryAfter`).
    pub(crate) retry_after: Option<std::time::Duration>,
}

/// Lays out one Promise's outcome. `promise` is the Promise as loaded, or as last
/// committed when its file is gone; `before` its record from the last pass.
pub(super) fn render_promise(
    platform: &Platform,
    promise: &Promise,
    outcome: PromiseOutcome,
    before: Option<&PromiseRecord>,
    tree: &mut DesiredTree,
) -> PromiseReport {
    let name = promise.name.to_string();
    let mut report = PromiseReport {
        name: name.clone(),
        availability: None,
        message: String::new(),
        failed: false,
        removed: false,
        retry_after: None,
    };
    let source = RequestRef {
        path: promise.path.clone(),
        blob: promise.blob.clone(),
        document: None,
    };
    let pipelines: Vec<PipelineRef> = promise
        .workflows
        .promise
        .configure
        .iter()
        .map(|p| PipelineRef {
            name: p.name.clone(),
            images: p.images().map(String::from).collect(),
        })
        .collect();
    let placed = match outcome {
        PromiseOutcome::Kept => {
            tree.keep(Keep::Promise(name));
            return report;
        }
        PromiseOutcome::Deleted => {
            report.removed = true;
            let pipelines: Vec<&str> = promise
                .workflows
                .promise
                .delete
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            report.message = if pipelines.is_empty() {
                "dependencies and status removed".into()
            } else {
                format!(
                    "its delete workflow runs first ({}), then its dependencies and status are removed",
                    pipelines.join(", ")
                )
            };
            return report;
        }
        PromiseOutcome::Static => place(platform, promise, &[]).map(|units| (units, None)),
        PromiseOutcome::Ran(results) => place(platform, promise, &results).map(|units| {
            // As in Kratix, `message` is the one key of a Promise workflow's status kept.
            (units, merged_status(&results).remove("message"))
        }),
        PromiseOutcome::Failed(stopped) => Err((stopped.message, Unavailable::Failed)),
        PromiseOutcome::Suspended(suspension) => {
            report.retry_after = suspension.control.retry_after;
            Err((suspended_reason(&suspension), Unavailable::Suspended))
        }
        PromiseOutcome::Waiting(why) => Err((why, Unavailable::Requirements)),
        PromiseOutcome::Paused(why) => Err((why, Unavailable::Paused)),
        PromiseOutcome::Held(why) => Err((why, Unavailable::Removed)),
        PromiseOutcome::DeleteFailed(why) => Err((
            format!("delete workflow failed: {why}"),
            Unavailable::Failed,
        )),
    };
    let status = match placed {
        Ok((units, pipeline_message)) => {
            let mut outputs = Vec::new();
            for (destination, files) in &units {
                let folder = &platform.destinations[destination].folder;
                let dir = dependency_dir(folder, &promise.name);
                let digest = tree.unit(&dir, files);
                outputs.push(OutputRef {
                    destination: destination.clone(),
                    path: dir,
                    digest,
                });
            }
            report.availability = Some(Availability::Available);
            report.message = if outputs.is_empty() {
                "available".into()
            } else {
                let names: Vec<&str> = outputs.iter().map(|o| o.destination.as_str()).collect();
                format!("available; dependencies written to {}", names.join(", "))
            };
            PromiseStatus {
                message: report.message.clone(),
                pipeline_message,
                unavailable: None,
                record: PromiseRecord {
                    availability: Availability::Available,
                    reason: None,
                    unavailable: None,
                    promise: source,
                    pipelines,
                    placements: Vec::new(),
                    outputs,
                },
            }
        }
        Err((why, unavailable)) => {
            tree.keep(Keep::PromiseOutputs(name));
            report.availability = Some(Availability::Unavailable);
            report.failed = unavailable == Unavailable::Failed;
            report.message = why.clone();
            PromiseStatus {
                message: why.clone(),
                pipeline_message: None,
                unavailable: Some(unavailable),
                record: PromiseRecord {
                    availability: Availability::Unavailable,
                    reason: Some(why),
                    unavailable: Some(unavailable),
                    promise: source,
                    pipelines,
                    placements: Vec::new(),
                    outputs: before.map(|b| b.outputs.clone()).unwrap_or_default(),
                },
            }
        }
    };
    tree.file(promise_status_path(&promise.name), status.render());
    report
}

/// The files of each destination's dependency folder: the static dependencies on every
/// destination the Promise's selectors match, and each output group of its Promise
/// workflow on every destination its selectors (with the Promise's) match.
type Units = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

fn place(
    platform: &Platform,
    promise: &Promise,
    results: &[(String, RunOutput)],
) -> Result<Units, (String, Unavailable)> {
    if let Some(why) = clash(promise, results) {
        return Err((why, Unavailable::Failed));
    }
    let mut units = Units::new();
    if !promise.dependencies.is_empty() {
        let docs: Vec<String> = promise.dependencies.iter().map(yaml::to_string).collect();
        let text = docs.join("---\n").into_bytes();
        for name in place_everywhere(&platform.destinations, &promise.destination_selectors) {
            let unit = units.entry(name).or_default();
            unit.insert(STATIC_DEPENDENCIES_FILE.to_string(), text.clone());
        }
    }
    for (pipeline, output) in results {
        for group in groups(pipeline, output, &promise.destination_selectors) {
            for name in place_everywhere(&platform.destinations, &group.selectors) {
                let unit = units.entry(name).or_default();
                let files = group
                    .files
                    .iter()
                    .map(|(p, b)| ((*p).clone(), (*b).clone()));
                unit.extend(files);
            }
        }
    }
    Ok(units)
}
