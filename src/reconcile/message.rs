//! The commit message of a pass: a subject a person reads in `git log --oneline`, a line
//! per request, and trailers a machine parses (`git interpret-trailers --parse`).

use std::collections::BTreeSet;

use super::PassReport;
use crate::state::status::Phase;

/// Trailer naming a request file the commit changes outputs or status for.
pub const TRAILER_REQUEST: &str = "Promised-Request";
/// Trailer naming the input commit that was reconciled.
pub const TRAILER_REQUEST_COMMIT: &str = "Promised-Request-Commit";
/// Trailer listing the pipeline images that produced the changed outputs.
pub const TRAILER_IMAGES: &str = "Promised-Images";
/// Trailer giving a written unit's folder and digest.
pub const TRAILER_DIGEST: &str = "Promised-Digest";

/// Builds the message for the changes `report` describes.
pub fn commit_message(report: &PassReport) -> String {
    let changed: Vec<_> = report
        .requests
        .iter()
        .filter(|r| report.changed.contains(&r.key))
        .collect();
    let count = |phase: Phase| changed.iter().filter(|r| r.phase == Some(phase)).count();
    let new = changed
        .iter()
        .filter(|r| r.new && matches!(r.phase, Some(Phase::Ready)))
        .count();
    let parts = [
        (new, "new"),
        (count(Phase::Ready) - new, "updated"),
        (count(Phase::Pending), "pending"),
        (count(Phase::Failed), "failed"),
        (count(Phase::Invalid), "invalid"),
        (report.removed.len(), "removed"),
    ];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    let total = changed.len() + report.removed.len();
    let mut subject = match total {
        0 => "promised: update dependencies".to_string(),
        1 => "promised: reconcile 1 request".to_string(),
        n => format!("promised: reconcile {n} requests"),
    };
    if !parts.is_empty() {
        subject.push_str(&format!(" ({})", parts.join(", ")));
    }

    let mut body = Vec::new();
    for request in &changed {
        let phase = request.phase.map(|p| format!("{p:?}")).unwrap_or_default();
        let first_line = request.message.lines().next().unwrap_or_default();
        body.push(format!("{}: {phase}: {first_line}", request.key));
    }
    for (key, _) in &report.removed {
        body.push(format!("{key}: removed, with its outputs"));
    }
    for promise in &report.dependencies_changed {
        body.push(format!("{promise}: dependencies updated"));
    }

    let mut trailers = Vec::new();
    for request in &changed {
        trailers.push(format!("{TRAILER_REQUEST}: {}", request.path));
    }
    for (_, path) in &report.removed {
        trailers.push(format!("{TRAILER_REQUEST}: {path}"));
    }
    if let Some(commit) = &report.input_commit {
        trailers.push(format!("{TRAILER_REQUEST_COMMIT}: {commit}"));
    }
    let images: BTreeSet<&str> = changed
        .iter()
        .flat_map(|r| r.images.iter().map(String::as_str))
        .collect();
    if !images.is_empty() {
        let images: Vec<&str> = images.into_iter().collect();
        trailers.push(format!("{TRAILER_IMAGES}: {}", images.join(", ")));
    }
    for request in &changed {
        for output in &request.outputs {
            trailers.push(format!(
                "{TRAILER_DIGEST}: {} {}",
                output.path, output.digest
            ));
        }
    }
    let sections = [subject, body.join("\n"), trailers.join("\n")];
    let sections: Vec<&String> = sections.iter().filter(|s| !s.is_empty()).collect();
    let mut message = sections
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    message.push('\n');
    message
}
