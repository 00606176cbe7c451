//! The JSON forms of the reports, for machines. Field names are stable: docs/output.md
//! describes them, and docs/schemas/*-report.schema.json is what the tests check them
//! against. A field is added, never renamed or removed.

use serde::Serialize;

use crate::reconcile::{PassReport, RequestReport};
use crate::state::promise_status::Availability;
use crate::state::status::Phase;

/// `--format` of the commands whose report is text or JSON (`reconcile`, `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people: lines, or a table.
    Text,
    /// For machines: one JSON object.
    Json,
}

/// One request, as `reconcile` and `plan` report it.
#[derive(Debug, Serialize)]
pub(super) struct RequestView {
    /// `promise/namespace/name`.
    pub(crate) request: String,
    pub(crate) path: String,
    /// `Ready`, `Pending`, `Failed`, … or `Skipped` when it was left unreconciled.
    pub(crate) phase: String,
    pub(crate) message: String,
    pub(crate) destinations: Vec<String>,
    /// Whether this pass changed its outputs or status (`reconcile` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) changed: Option<bool>,
    /// The phase as the pass has it (`None`: skipped), for the text forms to decide on.
    #[serde(skip)]
    pub(crate) state: Option<Phase>,
}

impl RequestView {
    pub(crate) fn of(report: &RequestReport, changed: Option<bool>) -> Self {
        RequestView {
            request: report.key.to_string(),
            path: report.path.clone(),
            phase: report.phase.map_or("Skipped".into(), |p| p.to_string()),
            message: report.message.clone(),
            destinations: report
                .outputs
                .iter()
                .map(|o| o.destination.clone())
                .collect(),
            changed,
            state: report.phase,
        }
    }
}

/// What `reconcile --format json` prints.
#[derive(Debug, Serialize)]
pub(super) struct ReconcileView {
    /// Whether every input read and every request reconciled (exit 0).
    pub(crate) ok: bool,
    pub(crate) input_commit: Option<String>,
    /// The commit written; `null` when nothing changed.
    pub(crate) output_commit: Option<String>,
    pub(crate) files_changed: usize,
    pub(crate) pipelines_run: usize,
    /// Requests not run because the pass was stopped by a signal.
    pub(crate) not_run: usize,
    pub(crate) requests: Vec<RequestView>,
    pub(crate) removed: Vec<RemovedView>,
    pub(crate) promises: Vec<PromiseView>,
    pub(crate) problems: Vec<ProblemView>,
    pub(crate) warnings: Vec<String>,
}

/// A request removed with its outputs and status.
#[derive(Debug, Serialize)]
pub(super) struct RemovedView {
    pub(crate) request: String,
    pub(crate) path: String,
}

/// A Promise as the pass left it.
#[derive(Debug, Serialize)]
pub(super) struct PromiseView {
    pub(crate) promise: String,
    /// `Available`, `Unavailable`, `Failed`, `Removed`, or `Unchanged` when the pass
    /// left it as it was.
    pub(crate) state: &'static str,
    pub(crate) message: String,
}

/// An input file that could not be read, or a finding of `validate`.
#[derive(Debug, Serialize)]
pub(super) struct ProblemView {
    pub(crate) path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

impl ReconcileView {
    pub(crate) fn new(report: &PassReport, warnings: Vec<String>, unknown: &[String]) -> Self {
        let problems = report.problems.iter().map(|p| ProblemView {
            path: p.path.clone(),
            // The line a syntax error names, or that of the document (of a file of
            // several) at fault; finding a field's line is `validate`'s.
            line: p.problem.line,
            message: p.message(),
        });
        let unknown = unknown.iter().map(|path| ProblemView {
            path: path.clone(),
            line: None,
            message: "no request file at this path on the branch".into(),
        });
        ReconcileView {
            ok: report.succeeded() && unknown.len() == 0,
            input_commit: report.input_commit.clone(),
            output_commit: report.output_commit.clone(),
            files_changed: report.files_changed,
            pipelines_run: report.pipelines_run,
            not_run: report.not_run,
            requests: report
                .requests
                .iter()
                .map(|r| RequestView::of(r, Some(report.changed.contains(&r.key))))
                .collect(),
            removed: report
                .removed
                .iter()
                .map(|(key, path)| RemovedView {
                    request: key.to_string(),
                    path: path.clone(),
                })
                .collect(),
            promises: report
                .promises
                .iter()
                .map(|p| PromiseView {
                    promise: p.name.clone(),
                    state: match (p.failed, p.removed, p.availability) {
                        (true, _, _) => "Failed",
                        (_, true, _) => "Removed",
                        (_, _, Some(Availability::Available)) => "Available",
                        (_, _, Some(Availability::Unavailable)) => "Unavailable",
                        (_, _, None) => "Unchanged",
                    },
                    message: p.message.clone(),
                })
                .collect(),
            problems: problems.chain(unknown).collect(),
            warnings,
        }
    }
}
