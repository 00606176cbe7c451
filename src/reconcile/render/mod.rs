//! From what the pipelines produced to the files the managed folders should hold. Pure:
//! no Git, no processes; everything it needs comes in as data.

mod promise;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Map;

pub(crate) use promise::{PromiseOutcome, PromiseReport};

use super::carry::Carried;
use super::run::{Finished, Stopped, Suspension};
use crate::model::{Platform, Promise, RequestFile, RequestKey};
use crate::pipeline::{OutputFiles, RunOutput};
use crate::scheduling::{GroupId, Placement, merge_selectors, place};
use crate::state::layout::{resource_dir, status_path};
use crate::state::promise_status::PromiseRecord;
use crate::state::status::{
    OutputRef, Phase, PipelineRef, PlacementRef, PlacementState, Record, RequestRef, RequestStatus,
    SuspendedRef,
};
use crate::state::{CurrentTree, DesiredTree, Keep};

/// What happened to one request in this pass.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Its workflow ran, to its end or until a pipeline's `workflow-control.yaml`
    /// suspended it.
    Ran(Box<Ran>),
    /// A pipeline failed or its output is unusable. Earlier outputs stay.
    Failed(Stopped),
    /// The request cannot run (unreadable, no such Promise, schema). Earlier outputs stay.
    Invalid(String),
    /// Its Promise is not available. Earlier outputs stay.
    Waiting(String),
    /// It or its Promise is paused (`kratix.io/paused`). Earlier outputs stay.
    Paused(String),
    /// Left entirely as it is, status included, because its inputs could not be read.
    Unreconciled(String),
    /// Not in this pass's scope: left as it is, and not reported.
    Unchanged,
}

/// A run of a request's workflow: what the pipelines that ran produced, and what it
/// keeps from those that did not (the later ones when it was suspended, the earlier
/// ones when it resumed).
#[derive(Debug)]
pub(crate) struct Ran {
    /// The pipelines that ran.
    pub(crate) finished: Finished,
    /// The recorded outputs of the others.
    pub(crate) carried: Vec<Carried>,
}

/// What the pass reports about one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestReport {
    pub(crate) key: RequestKey,
    pub(crate) path: String,
    /// Its phase; `None` when it was left unreconciled.
    pub(crate) phase: Option<Phase>,
    /// The status message.
    pub(crate) message: String,
    /// Units written, with digests.
    pub(crate) outputs: Vec<OutputRef>,
    /// Whether it had no status before this pass.
    pub(crate) new: bool,
    /// When a suspended workflow asked to run again (`retryAfter`).
    pub(crate) retry_after: Option<std::time::Duration>,
    /// Why an output group of it stays on a destination that no longer matches its
    /// selectors (the first such group), when one does.
    pub(crate) misplaced: Option<String>,
}

/// The managed tree a pass wants, and its per-request reports.
#[derive(Debug)]
pub(crate) struct Rendered<'c> {
    /// Files wanted and kept.
    pub(crate) tree: DesiredTree<'c>,
    /// One report per request, in key order.
    pub(crate) requests: Vec<RequestReport>,
    /// One report per Promise rendered, in name order.
    pub(crate) promises: Vec<PromiseReport>,
    /// The records of requests that were not rendered: those whose file is gone.
    pub(crate) unrendered: BTreeMap<RequestKey, Record>,
}

/// Told of each request status file a pass leaves, and of the record it holds: how the
/// records reach the next pass without being parsed again (see
/// `reconcile::record_cache`).
pub(crate) trait RecordSink: Send {
    /// A status file rendered in this pass: its path, its bytes and its record.
    fn rendered(&mut self, path: &str, bytes: &[u8], record: &Record);
    /// A status file left as it was, and the record read from it.
    fn kept(&mut self, path: &str, record: &Record);
}

/// Lays out every request's outcome, one at a time as outcomes arrive, and every
/// Promise's static dependencies.
pub(crate) struct Renderer<'a, 'c> {
    platform: &'a Platform,
    /// Records not used yet: each goes once its request is rendered, so a pass does not
    /// hold every record and every report at once.
    previous: BTreeMap<RequestKey, Record>,
    rendered: Rendered<'c>,
    sink: Option<&'a mut dyn RecordSink>,
}

impl<'a, 'c> Renderer<'a, 'c> {
    /// Starts with nothing rendered, from the records of the status files on the branch
    /// (`previous`) and the managed files as they are (`current`).
    pub(crate) fn new(
        platform: &'a Platform,
        previous: BTreeMap<RequestKey, Record>,
        current: &'c CurrentTree,
    ) -> Self {
        Renderer {
            platform,
            previous,
            rendered: Rendered {
                tree: DesiredTree::new(current),
                requests: Vec::new(),
                promises: Vec::new(),
                unrendered: BTreeMap::new(),
            },
            sink: None,
        }
    }

    /// Tells `sink` of every request status file rendered or kept from now on.
    pub(crate) fn with_sink(mut self, sink: &'a mut dyn RecordSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The record of a request from the last pass, until its request is rendered.
    pub(crate) fn record(&self, key: &RequestKey) -> Option<&Record> {
        self.previous.get(key)
    }

    /// Lays out one request's outcome.
    pub(crate) fn add(&mut self, request: &RequestFile, outcome: Outcome) {
        let before = self.previous.remove(&request.key);
        let tree = &mut self.rendered.tree;
        let sink = self.sink.as_deref_mut();
        if let Outcome::Unchanged = outcome {
            tree.keep(Keep::Request(request.key.clone()));
            if let (Some(sink), Some(before)) = (sink, &before) {
                sink.kept(&status_path(&request.key), before);
            }
            return;
        }
        let report = render_request(self.platform, request, outcome, before.as_ref(), tree, sink);
        self.rendered.requests.push(report);
    }

    /// Lays out one Promise's outcome: `promise` as loaded, or as last committed when its
    /// file is gone.
    pub(crate) fn promise(
        &mut self,
        promise: &Promise,
        outcome: PromiseOutcome,
        before: Option<&PromiseRecord>,
    ) {
        let tree = &mut self.rendered.tree;
        let report = promise::render_promise(self.platform, promise, outcome, before, tree);
        self.rendered.promises.push(report);
    }

    /// Leaves a Promise exactly as it is, outputs and status: one that cannot be read
    /// (its file is gone and history does not give it back), or whose deletion was
    /// stopped with the reconciler.
    pub(crate) fn keep_promise(&mut self, name: &str) {
        self.rendered.tree.keep(Keep::Promise(name.to_string()));
    }

    /// Leaves a request whose file is gone exactly as it is, outputs and status: what
    /// would delete it cannot be known in this pass.
    pub(crate) fn keep_gone(&mut self, key: &RequestKey) {
        if let Some(record) = self.previous.remove(key) {
            self.rendered.tree.keep(Keep::Request(key.clone()));
            if let Some(sink) = self.sink.as_deref_mut() {
                sink.kept(&status_path(key), &record);
            }
        }
    }

    /// Records that the delete workflow of a request whose file is gone failed: its
    /// outputs stay, and its status says so until a later pass deletes it.
    pub(crate) fn delete_failed(&mut self, key: &RequestKey, message: String) {
        let Some(mut record) = self.previous.remove(key) else {
            return;
        };
        let tree = &mut self.rendered.tree;
        tree.keep(Keep::RequestOutputs(key.clone()));
        record.phase = Phase::DeleteFailed;
        let status = RequestStatus {
            message: format!(
                "delete workflow failed; the outputs stay until it succeeds: {message}"
            ),
            pipeline_status: Map::new(),
            record,
        };
        write_status(tree, key, &status, self.sink.as_deref_mut());
        self.rendered.requests.push(RequestReport {
            key: key.clone(),
            path: status.record.request.path.clone(),
            phase: Some(Phase::DeleteFailed),
            message: status.message,
            outputs: status.record.outputs,
            new: false,
            retry_after: None,
            misplaced: None,
        });
    }

    /// The tree so far, to [spill](DesiredTree::spill) its bytes.
    pub(crate) fn tree(&mut self) -> &mut DesiredTree<'c> {
        &mut self.rendered.tree
    }

    /// Adds the static dependencies and the keep rules of files that could not be read,
    /// and puts the reports in key order.
    pub(crate) fn finish(self) -> Rendered<'c> {
        let Renderer {
            platform,
            previous,
            mut rendered,
            sink: _,
        } = self;
        rendered.unrendered = previous;
        rendered.requests.sort_by(|a, b| a.key.cmp(&b.key));
        rendered.promises.sort_by(|a, b| a.name.cmp(&b.name));
        if platform.promises_incomplete {
            let loaded = platform.promises.keys().cloned().collect();
            rendered
                .tree
                .keep(Keep::DependenciesOfOtherPromises(loaded));
        }
        if platform.destinations_incomplete {
            let known = platform
                .destinations
                .values()
                .map(|d| d.folder.to_string())
                .collect();
            rendered.tree.keep(Keep::UnknownDestinations(known));
        }
        rendered
    }
}

/// Writes a request's status file, and tells `sink` of it.
fn write_status<'s>(
    tree: &mut DesiredTree,
    key: &RequestKey,
    status: &RequestStatus,
    sink: Option<&mut (dyn RecordSink + 's)>,
) {
    let path = status_path(key);
    let bytes = status.render();
    if let Some(sink) = sink {
        sink.rendered(&path, &bytes, &status.record);
    }
    tree.file(path, bytes);
}

fn render_request<'s>(
    platform: &Platform,
    request: &RequestFile,
    outcome: Outcome,
    before: Option<&Record>,
    tree: &mut DesiredTree,
    sink: Option<&mut (dyn RecordSink + 's)>,
) -> RequestReport {
    let key = &request.key;
    let promise = platform.promises.get(key.promise.as_str());
    let pipelines: Vec<PipelineRef> = promise
        .map(|p| p.workflows.resource.configure.iter())
        .into_iter()
        .flatten()
        .map(|p| PipelineRef {
            name: p.name.clone(),
            images: p.images().map(String::from).collect(),
        })
        .collect();
    let mut report = RequestReport {
        key: key.clone(),
        path: request.path.clone(),
        phase: None,
        message: String::new(),
        outputs: Vec::new(),
        new: before.is_none(),
        retry_after: None,
        misplaced: None,
    };
    let placed = match outcome {
        Outcome::Unchanged => unreachable!("unchanged requests are kept by the caller"),
        Outcome::Unreconciled(message) => {
            tree.keep(Keep::Request(key.clone()));
            report.message = message;
            return report;
        }
        Outcome::Invalid(message) => Err((Phase::Invalid, message)),
        Outcome::Waiting(message) => Err((Phase::Waiting, message)),
        Outcome::Paused(message) => Err((Phase::Paused, message)),
        Outcome::Failed(stopped) => Err((Phase::Failed, stopped.message)),
        Outcome::Ran(ran) => {
            let promise = promise.expect("a request only runs when its Promise is loaded");
            let Ran { finished, carried } = *ran;
            let suspension = finished
                .suspended
                .map(|s| suspended(*s, before, &request.path, promise.blob.clone()))
                .transpose();
            suspension
                .and_then(|suspension| {
                    let placed =
                        place_outputs(platform, promise, key, &finished.outputs, &carried, before)?;
                    Ok((placed, finished.status, suspension))
                })
                .map_err(|message| (Phase::Failed, message))
        }
    };
    let request_ref = RequestRef::of(request);
    let status = match placed {
        Ok((placed, pipeline_status, suspension)) => {
            let mut outputs = Vec::new();
            for (destination, files) in &placed.by_destination {
                let folder = &platform.destinations[destination].folder;
                let dir = resource_dir(folder, key);
                let digest = tree.unit(&dir, files);
                outputs.push(OutputRef {
                    destination: destination.clone(),
                    path: dir,
                    digest,
                });
            }
            let phase = match (&suspension, placed.pending.is_empty()) {
                (Some(_), _) => Phase::Suspended,
                (None, true) => Phase::Ready,
                (None, false) => Phase::Pending,
            };
            let message = match (&phase, outputs.is_empty()) {
                (Phase::Suspended, _) => {
                    let (message, _) = suspension.as_ref().expect("phase says so");
                    message.clone()
                }
                (Phase::Pending, _) => {
                    format!("waiting for a destination: {}", placed.pending.join("; "))
                }
                (_, true) => "pipelines succeeded; they produced no output".to_string(),
                (_, false) => {
                    let names: Vec<&str> = outputs.iter().map(|o| o.destination.as_str()).collect();
                    format!("output written to {}", names.join(", "))
                }
            };
            RequestStatus {
                message,
                pipeline_status,
                record: Record {
                    phase,
                    request: request_ref,
                    pipelines,
                    placements: placed.placements,
                    outputs,
                    suspended: suspension.map(|(_, record)| Box::new(record)),
                },
            }
        }
        Err((phase, message)) => {
            // Nothing of this run is written: earlier outputs and placements stay.
            tree.keep(Keep::RequestOutputs(key.clone()));
            let before = before.cloned();
            // The API server refuses an invalid request and keeps the one it held: a
            // delete workflow reads that one back from history, defaults and all, and
            // the pipelines are those that last ran on it (none, for a request never
            // admitted, whose removal then runs no delete workflow).
            let (request, pipelines) = match (&phase, &before) {
                (Phase::Invalid, Some(b)) if b.phase == Phase::Invalid => {
                    (b.request.clone(), b.pipelines.clone())
                }
                (Phase::Invalid, Some(b)) => (b.request.clone(), pipelines),
                (Phase::Invalid, None) => (request_ref, Vec::new()),
                _ => (request_ref, pipelines),
            };
            RequestStatus {
                message,
                pipeline_status: Map::new(),
                record: Record {
                    phase,
                    request,
                    pipelines,
                    placements: before
                        .as_ref()
                        .map(|b| b.placements.clone())
                        .unwrap_or_default(),
                    outputs: before.map(|b| b.outputs).unwrap_or_default(),
                    suspended: None,
                },
            }
        }
    };
    write_status(tree, key, &status, sink);
    report.retry_after = status
        .record
        .suspended
        .as_ref()
        .filter(|_| status.record.phase == Phase::Suspended)
        .and_then(|s| s.retry_after.as_deref())
        .and_then(|text| humantime::parse_duration(text).ok());
    report.misplaced = status
        .record
        .placements
        .iter()
        .find(|p| p.state == PlacementState::Misplaced)
        .map(|p| format!("{}: {}", p.group, p.reason.as_deref().unwrap_or_default()));
    report.phase = Some(status.record.phase);
    report.message = status.message.clone();
    report.outputs = status.record.outputs.clone();
    report
}

/// The message and record of a suspended workflow. A `retryAfter` that has suspended
/// the same pipeline more often in a row than its `maxAttempts` allows fails the request
/// instead: the error is why.
fn suspended(
    suspension: Suspension,
    before: Option<&Record>,
    path: &str,
    promise_blob: String,
) -> Result<(String, SuspendedRef), String> {
    let Suspension {
        pipeline,
        control,
        status_before,
    } = suspension;
    let retrying = control.retry_after.is_some();
    let earlier = before
        .and_then(|b| b.suspended.as_ref())
        .filter(|s| s.pipeline == pipeline && s.retry_after.is_some());
    // Counted only against a bound: an unbounded count would change the status, and so
    // make a commit, at every retry for as long as the pipeline asks.
    let attempts = match (retrying, control.max_attempts) {
        (false, _) => 0,
        (true, None) => 1,
        (true, Some(_)) => earlier.map_or(1, |s| s.attempts + 1),
    };
    let why = control
        .message
        .as_deref()
        .map_or(String::new(), |m| format!(": {m}"));
    if let Some(max) = control
        .max_attempts
        .filter(|max| retrying && attempts > *max)
    {
        return Err(format!(
            "pipeline {pipeline:?} asked for a retry {attempts} times in a row, more than its \
             maxAttempts ({max}){why}"
        ));
    }
    let message = match control.retry_after {
        Some(after) => format!(
            "suspended by pipeline {pipeline:?}{why}; it runs again after {}{}",
            humantime::format_duration(after),
            control.max_attempts.map_or(String::new(), |max| format!(
                " (attempt {attempts} of {max})"
            )),
        ),
        None => format!(
            "suspended by pipeline {pipeline:?}{why}; resume it with `promised reconcile \
             --request {path}`"
        ),
    };
    let record = SuspendedRef {
        pipeline,
        message: control.message,
        retry_after: control
            .retry_after
            .map(|d| humantime::format_duration(d).to_string()),
        attempts,
        promise: promise_blob,
        status: Map::new(),
        status_before,
    };
    Ok((message, record))
}

/// Who writes each output path of one unit: `seed` (paths promised writes itself, by
/// who it says writes them), then each pipeline's files. A path written twice is
/// returned as (the first writer, the second, the path).
pub(super) fn owners<'a>(
    mut seed: BTreeMap<&'a str, &'a str>,
    results: &'a [(String, RunOutput)],
) -> Result<BTreeMap<&'a str, &'a str>, (&'a str, &'a str, &'a str)> {
    for (pipeline, output) in results {
        for path in output.files.keys() {
            if let Some(other) = seed.insert(path, pipeline) {
                return Err((other, pipeline, path));
            }
        }
    }
    Ok(seed)
}

/// A file written where another source of the same unit writes a folder (`cm`, and
/// `cm/cm.yaml`): Git holds one name as one or the other, so one would be lost without
/// a word, and the unit's `SHA256SUMS` would list what is not there.
pub(super) struct FileUnderFile<'a> {
    file: &'a str,
    file_owner: &'a str,
    nested: &'a str,
    nested_owner: &'a str,
}

impl<'a> FileUnderFile<'a> {
    /// The first such pair among `owners` (path to who writes it).
    pub(super) fn find(owners: &BTreeMap<&'a str, &'a str>) -> Option<Self> {
        owners.iter().find_map(|(nested, nested_owner)| {
            let folders = nested.match_indices('/').map(|(at, _)| &nested[..at]);
            folders
                .filter_map(|folder| owners.get_key_value(folder))
                .map(|(file, file_owner)| FileUnderFile {
                    file,
                    file_owner,
                    nested,
                    nested_owner,
                })
                .next()
        })
    }

    /// Says it as a status reason; `who` names an owner.
    pub(super) fn say(&self, who: impl Fn(&str) -> String) -> String {
        format!(
            "output: {} writes the file {} and {} writes {}; a name is a file or a \
             folder, not both",
            who(self.file_owner),
            self.file,
            who(self.nested_owner),
            self.nested
        )
    }
}

/// A request's output split by destination, with the placement record.
struct Placed {
    by_destination: BTreeMap<String, OutputFiles>,
    placements: Vec<PlacementRef>,
    pending: Vec<String>,
}

/// One placeable part of a pipeline's output.
pub(super) struct Group<'a> {
    id: GroupId,
    pub(super) selectors: crate::model::Labels,
    pub(super) files: Vec<(&'a String, &'a Vec<u8>)>,
}

/// Places the outputs of the pipelines that ran, each group on the destination it had
/// or one its selectors choose, beside the groups `carried` from earlier runs.
fn place_outputs(
    platform: &Platform,
    promise: &Promise,
    key: &RequestKey,
    results: &[(String, RunOutput)],
    carried: &[Carried],
    before: Option<&Record>,
) -> Result<Placed, String> {
    let seed = carried.iter().flat_map(|c| {
        let pipeline = c.placement.pipeline();
        c.files.keys().map(move |path| (path.as_str(), pipeline))
    });
    let owners = owners(seed.collect(), results).map_err(|(other, pipeline, path)| {
        format!(
            "output: pipelines {other:?} and {pipeline:?} both write {path}; \
             each file must come from one pipeline"
        )
    })?;
    if let Some(clash) = FileUnderFile::find(&owners) {
        return Err(clash.say(|pipeline| format!("pipeline {pipeline:?}")));
    }
    let mut placed = Placed {
        by_destination: BTreeMap::new(),
        placements: Vec::new(),
        pending: Vec::new(),
    };
    for Carried { placement, files } in carried {
        // Placed again, on the destination it has: whether that still matches its
        // selectors is said as a run from the first pipeline would say it.
        let destination = placement.destination.as_deref();
        let id = match placement.group.split_once('/') {
            Some((pipeline, dir)) => GroupId {
                pipeline: pipeline.into(),
                directory: Some(dir.into()),
            },
            None => GroupId {
                pipeline: placement.group.clone(),
                directory: None,
            },
        };
        let again = place(
            &platform.destinations,
            key,
            &id,
            &placement.selectors,
            destination,
        );
        let mut placement = placement.clone();
        let (Placement::Placed(d) | Placement::Misplaced(d)) = &again else {
            unreachable!("a carried group's destination is loaded: it is kept")
        };
        (placement.state, placement.reason) = placement_state(&again);
        let unit = placed.by_destination.entry(d.clone()).or_default();
        unit.extend(files.iter().map(|(p, b)| (p.clone(), b.clone())));
        placed.placements.push(placement);
    }
    // Which pipeline wrote which file matters only when not every pipeline runs.
    let record_files = promise.workflows.resource.configure.len() > 1;
    for (pipeline, output) in results {
        for group in groups(pipeline, output, &promise.destination_selectors) {
            let group_name = group.id.to_string();
            let previous = before
                .and_then(|b| b.placements.iter().find(|p| p.group == group_name))
                .and_then(|p| p.destination.as_deref());
            if let Some(name) = previous
                && platform.destinations_incomplete
                && !platform.destinations.contains_key(name)
            {
                return Err(format!(
                    "output group {group_name} is placed on destination {name:?}, which is \
                     not loaded while a file under destinations/ has errors; fix it to go on"
                ));
            }
            let placement = place(
                &platform.destinations,
                key,
                &group.id,
                &group.selectors,
                previous,
            );
            let destination = match &placement {
                Placement::Placed(d) | Placement::Misplaced(d) => Some(d.clone()),
                Placement::Pending(why) => {
                    placed.pending.push(format!("{group_name}: {why}"));
                    None
                }
            };
            let (state, reason) = placement_state(&placement);
            if let Some(d) = &destination {
                let files = placed.by_destination.entry(d.clone()).or_default();
                files.extend(
                    group
                        .files
                        .iter()
                        .map(|(p, b)| ((*p).clone(), (*b).clone())),
                );
            }
            let (files, selectors) = match (record_files, &placement) {
                (true, Placement::Placed(_) | Placement::Misplaced(_)) => (
                    group.files.iter().map(|(p, _)| (*p).clone()).collect(),
                    group.selectors.clone(),
                ),
                _ => Default::default(),
            };
            placed.placements.push(PlacementRef {
                group: group_name,
                destination,
                state,
                reason,
                files,
                selectors,
            });
        }
    }
    let order = |group: &PlacementRef| {
        let pipelines = &promise.workflows.resource.configure;
        pipelines.iter().position(|p| p.name == group.pipeline())
    };
    placed.placements.sort_by_key(order);
    Ok(placed)
}

/// Where each output group of one pipeline's `output` would go for a new request `key`
/// of `promise`, among `platform`'s destinations: what `pipeline run --repo` shows.
pub(crate) fn preview_placements(
    platform: &Platform,
    promise: &Promise,
    key: &RequestKey,
    pipeline: &str,
    output: &RunOutput,
) -> Vec<(String, Placement)> {
    groups(pipeline, output, &promise.destination_selectors)
        .into_iter()
        .map(|group| {
            let placement = place(
                &platform.destinations,
                key,
                &group.id,
                &group.selectors,
                None,
            );
            (group.id.to_string(), placement)
        })
        .collect()
}

/// The `state` and `reason` a placement record says for `placement`.
fn placement_state(placement: &Placement) -> (PlacementState, Option<String>) {
    match placement {
        Placement::Placed(_) => (PlacementState::Placed, None),
        Placement::Misplaced(d) => (
            PlacementState::Misplaced,
            Some(format!(
                "destination {d:?} no longer matches the selectors; the output stays there \
                 (`promised reconcile --replace` with the request's file places it anew)"
            )),
        ),
        Placement::Pending(why) => (PlacementState::Pending, Some(why.clone())),
    }
}

/// Splits a pipeline's output into its directory groups and the rest; groups with no
/// files are dropped, as there is nothing to place.
pub(super) fn groups<'a>(
    pipeline: &str,
    output: &'a RunOutput,
    promise_selectors: &crate::model::Labels,
) -> Vec<Group<'a>> {
    let selectors = &output.metadata.selectors;
    let default_labels = merge_selectors(
        selectors
            .iter()
            .filter(|s| s.directory.is_none())
            .map(|s| &s.match_labels),
    );
    let directories: BTreeSet<&str> = selectors
        .iter()
        .filter_map(|s| s.directory.as_deref())
        .collect();
    let mut rest = Group {
        id: GroupId {
            pipeline: pipeline.to_string(),
            directory: None,
        },
        selectors: merge_selectors([&default_labels, promise_selectors]),
        files: Vec::new(),
    };
    let mut by_directory: Vec<Group<'a>> = selectors
        .iter()
        .filter_map(|s| {
            let directory = s.directory.clone()?;
            Some(Group {
                id: GroupId {
                    pipeline: pipeline.to_string(),
                    directory: Some(directory),
                },
                selectors: merge_selectors([&s.match_labels, promise_selectors]),
                files: Vec::new(),
            })
        })
        .collect();
    for (path, bytes) in &output.files {
        let top = path.split_once('/').map(|(dir, _)| dir);
        match top.filter(|dir| directories.contains(dir)) {
            Some(dir) => {
                let group = by_directory
                    .iter_mut()
                    .find(|g| g.id.directory.as_deref() == Some(dir));
                group
                    .expect("every listed directory has a group")
                    .files
                    .push((path, bytes));
            }
            None => rest.files.push((path, bytes)),
        }
    }
    let mut all = vec![rest];
    all.extend(by_directory);
    all.retain(|g| !g.files.is_empty());
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Promise, SourceFile, fixtures};
    use crate::pipeline::{Metadata, Selector};

    #[test]
    fn a_file_under_a_file_is_found_and_a_sibling_with_a_longer_name_is_not() {
        let owners = BTreeMap::from([("cm", "one"), ("cm-2/x.yaml", "two"), ("cm.d/y", "two")]);
        assert!(FileUnderFile::find(&owners).is_none());
        let owners = BTreeMap::from([("a/b", "one"), ("a/b/c/d.yaml", "two"), ("z", "two")]);
        let clash = FileUnderFile::find(&owners).expect("a/b is a file and a folder");
        assert_eq!(
            clash.say(|who| format!("pipeline {who:?}")),
            "output: pipeline \"one\" writes the file a/b and pipeline \"two\" writes \
             a/b/c/d.yaml; a name is a file or a folder, not both"
        );
    }

    /// Renders `outcomes` in order, with no earlier records.
    fn render<'c>(
        platform: &Platform,
        outcomes: Vec<(&RequestFile, Outcome)>,
        current: &'c CurrentTree,
    ) -> Rendered<'c> {
        let mut renderer = Renderer::new(platform, BTreeMap::new(), current);
        for (request, outcome) in outcomes {
            renderer.add(request, outcome);
        }
        renderer.finish()
    }

    fn platform() -> Platform {
        let dest = |name: &str, env: &str| {
            let text = format!(
                "kind: Destination\nmetadata: {{name: {name}, labels: {{tier: gold, env: {env}}}}}\n"
            );
            SourceFile::test(&format!("destinations/{name}.yaml"), &text)
        };
        let promise = Promise::test("app")
            .selecting("tier", "gold")
            .with_pipeline("resource.configure", "configure");
        Platform::load([
            promise.file(),
            dest("dev", "dev"),
            dest("prod", "prod"),
            fixtures::request("app", "a"),
        ])
    }

    fn output(files: &[&str], selectors: Vec<Selector>) -> RunOutput {
        RunOutput {
            files: files
                .iter()
                .map(|f| (f.to_string(), b"x".to_vec()))
                .collect(),
            metadata: Metadata {
                selectors,
                ..Metadata::default()
            },
        }
    }

    /// A workflow that ran through, from its first pipeline.
    fn ran(results: Vec<(String, RunOutput)>) -> Outcome {
        Outcome::Ran(Box::new(Ran {
            finished: Finished {
                outputs: results,
                status: Map::new(),
                suspended: None,
            },
            carried: Vec::new(),
        }))
    }

    fn selector(directory: Option<&str>, env: &str) -> Selector {
        Selector {
            directory: directory.map(String::from),
            match_labels: [("env".to_string(), env.to_string())].into(),
        }
    }

    #[test]
    fn directory_groups_split_from_the_rest_and_carry_the_promise_selectors() {
        let out = output(
            &["a.yaml", "db/b.yaml", "db2/c.yaml"],
            vec![selector(None, "dev"), selector(Some("db"), "prod")],
        );
        let promise_labels = [("tier".to_string(), "gold".to_string())].into();
        let groups = groups("configure", &out, &promise_labels);
        let summary: Vec<(String, Vec<&str>, String)> = groups
            .iter()
            .map(|g| {
                let files = g.files.iter().map(|(p, _)| p.as_str()).collect();
                let labels = g
                    .selectors
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>();
                (g.id.to_string(), files, labels.join(","))
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "configure".to_string(),
                    vec!["a.yaml", "db2/c.yaml"],
                    "env=dev,tier=gold".to_string()
                ),
                (
                    "configure/db".to_string(),
                    vec!["db/b.yaml"],
                    "env=prod,tier=gold".to_string()
                ),
            ]
        );
    }

    #[test]
    fn two_pipelines_writing_one_path_fail_the_request() {
        let platform = platform();
        let results = vec![
            ("one".to_string(), output(&["x.yaml"], vec![])),
            ("two".to_string(), output(&["x.yaml"], vec![])),
        ];
        let request = &platform.requests[0];
        let current = CurrentTree::new();
        let rendered = render(&platform, vec![(request, ran(results))], &current);
        let report = &rendered.requests[0];
        assert_eq!(report.phase, Some(Phase::Failed));
        assert!(
            report.message.contains("both write x.yaml"),
            "{}",
            report.message
        );
    }

    #[test]
    fn a_placed_request_writes_one_unit_and_its_status() {
        let platform = platform();
        let results = vec![(
            "configure".to_string(),
            output(&["x.yaml"], vec![selector(None, "prod")]),
        )];
        let request = &platform.requests[0];
        let current = CurrentTree::new();
        let rendered = render(&platform, vec![(request, ran(results))], &current);
        let changes = rendered
            .tree
            .changes(|_| crate::git::BlobId::null(gix::hash::Kind::Sha1));
        let paths: Vec<&String> = changes.upserts.keys().collect();
        assert_eq!(
            paths,
            [
                "state/prod/resources/default/app/a/SHA256SUMS",
                "state/prod/resources/default/app/a/x.yaml",
                "status/app/default/a.yaml"
            ]
        );
        assert_eq!(rendered.requests[0].phase, Some(Phase::Ready));
    }

    #[test]
    fn a_suspended_run_writes_what_ran_beside_what_it_carries_and_a_clash_fails_it() {
        let platform = platform();
        let request = &platform.requests[0];
        let carried = |file: &str| Carried {
            placement: PlacementRef {
                group: "deploy".into(),
                destination: Some("prod".into()),
                state: PlacementState::Placed,
                reason: None,
                files: vec![file.into()],
                selectors: [("env".to_string(), "prod".to_string())].into(),
            },
            files: [(file.to_string(), b"kept".to_vec())].into(),
        };
        let suspended = |carried: Carried| {
            Outcome::Ran(Box::new(Ran {
                finished: Finished {
                    outputs: vec![(
                        "configure".to_string(),
                        output(&["x.yaml"], vec![selector(None, "prod")]),
                    )],
                    status: Map::new(),
                    suspended: Some(Box::new(Suspension {
                        pipeline: "configure".into(),
                        control: crate::pipeline::WorkflowControl {
                            message: Some("wait".into()),
                            retry_after: None,
                            max_attempts: None,
                        },
                        status_before: Map::new(),
                    })),
                },
                carried: vec![carried],
            }))
        };
        let current = CurrentTree::new();
        let rendered = render(
            &platform,
            vec![(request, suspended(carried("deploy.yaml")))],
            &current,
        );
        assert_eq!(rendered.requests[0].phase, Some(Phase::Suspended));
        let changes = rendered
            .tree
            .changes(|_| crate::git::BlobId::null(gix::hash::Kind::Sha1));
        let unit = "state/prod/resources/default/app/a";
        assert_eq!(
            changes.upserts[&format!("{unit}/deploy.yaml")],
            crate::state::Content::Bytes(b"kept".to_vec())
        );
        assert!(changes.upserts.contains_key(&format!("{unit}/x.yaml")));

        let rendered = render(
            &platform,
            vec![(request, suspended(carried("x.yaml")))],
            &current,
        );
        let report = &rendered.requests[0];
        assert_eq!(report.phase, Some(Phase::Failed));
        assert!(
            report.message.contains("both write x.yaml"),
            "{}",
            report.message
        );
    }
}
