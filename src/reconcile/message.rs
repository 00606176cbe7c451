//! The commit message of a pass: a subject a person reads in `git log --oneline`, a line
//! per request, and trailers a machine parses (`git interpret-trailers --parse`).

use super::PassReport;
use crate::escape::one_line;
use crate::state::status::Phase;

/// Trailer naming a request file the commit changes outputs or status for.
pub(crate) const TRAILER_REQUEST: &str = "Promised-Request";
/// Trailer naming the input commit that was reconciled.
pub(crate) const TRAILER_REQUEST_COMMIT: &str = "Promised-Request-Commit";
/// Trailer listing the pipeline images that produced the changed outputs.
pub(crate) const TRAILER_IMAGES: &str = "Promised-Images";
/// Trailer giving a written unit's folder and digest.
pub(crate) const TRAILER_DIGEST: &str = "Promised-Digest";

/// Trailer saying how many changed requests the message does not list.
pub(crate) const TRAILER_UNLISTED: &str = "Promised-Unlisted-Requests";

/// How many changed and removed requests a message lists, with a line and trailers
/// each. A first pass over 100k requests would otherwise write a message of many MiB;
/// the rest are counted, and each has its own status file in the same commit.
pub(crate) const LISTED_REQUESTS: usize = 100;

/// Builds the message for the changes `report` describes.
pub(crate) fn commit_message(report: &PassReport) -> String {
    let changed: Vec<_> = report
        .requests
        .iter()
        .filter(|r| report.changed.contains(&r.key))
        .collect();
    let listed_changed = &changed[..changed.len().min(LISTED_REQUESTS)];
    let listed_removed = &report.removed[..report
        .removed
        .len()
        .min(LISTED_REQUESTS - listed_changed.len())];
    let unlisted =
        changed.len() + report.removed.len() - listed_changed.len() - listed_removed.len();
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
    for request in listed_changed {
        let phase = request.phase.map(|p| format!("{p:?}")).unwrap_or_default();
        let first_line = request.message.lines().next().unwrap_or_default();
        body.push(format!(
            "{}: {phase}: {}",
            request.key,
            one_line(first_line)
        ));
    }
    for (key, _) in listed_removed {
        body.push(format!("{key}: removed, with its outputs"));
    }
    if unlisted > 0 {
        body.push(format!(
            "...and {unlisted} more requests, not listed here: see their files under status/"
        ));
    }
    for promise in &report.dependencies_changed {
        body.push(format!("{promise}: dependencies updated"));
    }

    let mut trailers = Vec::new();
    // One trailer per request file: the requests of a file of several share it.
    let mut named = std::collections::BTreeSet::new();
    let paths = listed_changed.iter().map(|r| r.path.as_str());
    for path in paths.chain(listed_removed.iter().map(|(_, path)| path.as_str())) {
        if named.insert(path) {
            trailers.push(format!("{TRAILER_REQUEST}: {}", one_line(path)));
        }
    }
    if unlisted > 0 {
        trailers.push(format!("{TRAILER_UNLISTED}: {unlisted}"));
    }
    if let Some(commit) = &report.input_commit {
        trailers.push(format!("{TRAILER_REQUEST_COMMIT}: {commit}"));
    }
    if !report.images.is_empty() {
        let images: Vec<String> = report
            .images
            .iter()
            .map(|i| one_line(i).into_owned())
            .collect();
        trailers.push(format!("{TRAILER_IMAGES}: {}", images.join(", ")));
    }
    for request in listed_changed {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RequestKey;
    use crate::reconcile::RequestReport;

    fn report(changed: usize, removed: usize) -> PassReport {
        let key = |i: usize| RequestKey::test("redis", "default", &format!("r{i}"));
        let mut report = PassReport::default();
        for i in 0..changed {
            report.changed.insert(key(i));
            report.requests.push(RequestReport {
                key: key(i),
                path: format!("requests/redis/r{i}.yaml"),
                phase: Some(Phase::Ready),
                message: "output written to dev".into(),
                outputs: Vec::new(),
                retry_after: None,
                new: true,
                misplaced: None,
            });
        }
        for i in changed..changed + removed {
            report
                .removed
                .push((key(i), format!("requests/redis/r{i}.yaml")));
        }
        report
    }

    #[test]
    fn a_request_path_or_image_with_a_newline_cannot_forge_a_trailer() {
        let mut report = report(1, 1);
        report.requests[0].path = "requests/redis/x\nPromised-Digest: forged".into();
        report.removed[0].1 = "requests/redis/y\r\nPromised-Request-Commit: forged".into();
        report
            .images
            .insert("img:v1\nPromised-Images: forged".into());
        let message = commit_message(&report);
        let forged = message.lines().filter(|line| line.contains("forged"));
        for line in forged {
            assert!(
                line.starts_with(&format!("{TRAILER_REQUEST}: "))
                    || line.starts_with(&format!("{TRAILER_IMAGES}: ")),
                "{line:?} in\n{message}"
            );
        }
        assert!(message.contains("Promised-Request: requests/redis/x\\nPromised-Digest: forged\n"));
    }

    #[test]
    fn the_requests_of_one_file_share_its_trailer() {
        let mut report = report(3, 1);
        for request in &mut report.requests {
            request.path = "requests/redis/team.yaml".into();
        }
        report.removed[0].1 = "requests/redis/team.yaml".into();
        let message = commit_message(&report);
        assert_eq!(
            message.matches(&format!("{TRAILER_REQUEST}: ")).count(),
            1,
            "{message}"
        );
    }

    #[test]
    fn a_few_requests_are_all_listed() {
        let message = commit_message(&report(2, 1));
        assert!(message.starts_with("promised: reconcile 3 requests (2 new, 1 removed)\n"));
        assert_eq!(message.matches(&format!("{TRAILER_REQUEST}: ")).count(), 3);
        assert!(!message.contains(TRAILER_UNLISTED));
    }

    #[test]
    fn past_the_limit_requests_are_counted_not_listed() {
        let message = commit_message(&report(LISTED_REQUESTS + 40, 20));
        let subject = "promised: reconcile 160 requests (140 new, 20 removed)\n";
        assert!(message.starts_with(subject), "{message}");
        assert_eq!(
            message.matches(&format!("{TRAILER_REQUEST}: ")).count(),
            LISTED_REQUESTS
        );
        assert!(message.contains("...and 60 more requests, not listed here"));
        assert!(message.ends_with(&format!("{TRAILER_UNLISTED}: 60\n")));
    }
}
