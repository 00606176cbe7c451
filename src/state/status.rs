//! Status files: what the requester reads at `status/<promise>/<namespace>/<request>.yaml`.
//!
//! Shaped like a Kubernetes `status`: `message` and `conditions` first, then the keys the
//! pipeline wrote to `status.yaml`, then promised's own record under `promised`. Nothing
//! in it depends on the clock, so a rerun that changes nothing writes the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::RequestFile;
use crate::pipeline::RESERVED_STATUS_KEY;
use crate::yaml;

/// Where a request stands after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    /// Pipelines succeeded and every output group is placed.
    Ready,
    /// Pipelines succeeded but some output has no destination yet.
    Pending,
    /// A pipeline failed or produced unusable output; earlier outputs stay.
    Failed,
    /// The request (or its Promise) cannot be read or fails the schema; earlier outputs stay.
    Invalid,
    /// Its Promise is not available (its Promise workflow failed, or a Promise it requires
    /// is missing): it runs once the Promise is. Earlier outputs stay.
    Waiting,
    /// A pipeline's `workflow-control.yaml` suspended its workflow: the later pipelines
    /// did not run, and what they wrote before stays. Scheduled and full passes leave
    /// it so; a rerun of the request (`reconcile --request`, or the daemon's retry after
    /// `retryAfter`) resumes it at that pipeline, and a change to it or its Promise
    /// runs it from the first.
    Suspended,
    /// Its file was removed and its delete workflow failed: its outputs and status stay
    /// until the workflow succeeds on a later pass.
    DeleteFailed,
    /// It or its Promise carries `kratix.io/paused: "true"`: no pipeline runs, and its
    /// outputs stay, until the label goes (Kratix's `PausedReconciliation`).
    Paused,
}

impl Phase {
    /// Whether the request is where it should be, or waits for something that is not
    /// its own error: a destination, its Promise, a retry or a person.
    pub(crate) fn is_settled(self) -> bool {
        matches!(
            self,
            Phase::Ready | Phase::Pending | Phase::Waiting | Phase::Suspended | Phase::Paused
        )
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Ready => "Ready",
            Phase::Pending => "Pending",
            Phase::Failed => "Failed",
            Phase::Invalid => "Invalid",
            Phase::Waiting => "Waiting",
            Phase::Suspended => "Suspended",
            Phase::DeleteFailed => "DeleteFailed",
            Phase::Paused => "Paused",
        })
    }
}

/// What promised records about a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Where it stands.
    pub(crate) phase: Phase,
    /// The request file and its blob id.
    pub(crate) request: RequestRef,
    /// Pipelines run, with their images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) pipelines: Vec<PipelineRef>,
    /// Where each output group went. Read back on the next pass: a placement is kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) placements: Vec<PlacementRef>,
    /// The units written, with their digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outputs: Vec<OutputRef>,
    /// Where and why its workflow is suspended, when it is. Boxed: a pass holds a
    /// record per request, and few are suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) suspended: Option<Box<SuspendedRef>>,
}

impl Record {
    /// Gives back the room its lists were read with: a list deserialized one element at
    /// a time has room for four, and a pass holds a record per request (at 100k
    /// requests, some 60 MB).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.pipelines.shrink_to_fit();
        for pipeline in &mut self.pipelines {
            pipeline.images.shrink_to_fit();
        }
        self.placements.shrink_to_fit();
        self.outputs.shrink_to_fit();
    }
}

/// A workflow suspended by a pipeline's `workflow-control.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SuspendedRef {
    /// The pipeline that suspended it.
    pub(crate) pipeline: String,
    /// Its `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// Its `retryAfter`, as written by promised (`10s`, `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after: Option<String>,
    /// How many times in a row this pipeline has asked for a retry, counted only when it
    /// sets `maxAttempts` (else 1: a count would make a commit at every retry).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) attempts: u32,
    /// The blob id of the Promise file it was suspended under: a changed Promise reruns
    /// it from its first pipeline, in any pass.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) promise: String,
    /// The status the pipelines had written when it was suspended: what the resumed
    /// pipeline reads in its `object.yaml`. Not part of the record; [`read_record`]
    /// reads it back from the status file's own keys (all but `message`, which the file
    /// shows only once a request is Ready).
    #[serde(skip)]
    pub(crate) status: Map<String, Value>,
    /// The status the pipelines before it wrote, `message` included: where the resumed
    /// run's status starts, so that it ends as a run from the first pipeline would.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub(crate) status_before: Map<String, Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The request a status describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RequestRef {
    /// Repository path.
    pub(crate) path: String,
    /// Git blob id of the file that was reconciled. With several requests in the file,
    /// that blob read with [`RequestFile::read_all`] gives this one by its key.
    pub(crate) blob: String,
    /// sha256 of the request's own document, when its file holds several: a change to
    /// another document of the file does not rerun this one, and then `blob` stays that
    /// of the file it last ran from. Absent for a file of one document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) document: Option<String>,
}

impl RequestRef {
    /// The reference to `request` as it is now.
    pub(crate) fn of(request: &RequestFile) -> Self {
        RequestRef {
            path: request.path.clone(),
            blob: request.blob.clone(),
            document: request.part.as_ref().map(|part| part.digest.clone()),
        }
    }

    /// Whether this reference is to `request` as it is now: same file, and same file
    /// version or, in a file of several documents, same document bytes.
    pub(crate) fn describes(&self, request: &RequestFile) -> bool {
        let same_document = match (&self.document, &request.part) {
            (Some(digest), Some(part)) => *digest == part.digest,
            _ => false,
        };
        self.path == request.path && (self.blob == request.blob || same_document)
    }
}

/// A pipeline that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PipelineRef {
    pub(crate) name: String,
    /// Container images, in order.
    pub(crate) images: Vec<String>,
}

/// Where one output group went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlacementRef {
    /// The group: pipeline name, and `/directory` for a directory group.
    pub(crate) group: String,
    /// The destination, unless pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) destination: Option<String>,
    /// Whether it is where its selectors place it.
    pub(crate) state: PlacementState,
    /// Why it is pending or misplaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The group's files, as paths in the request's folder on its destination. Recorded
    /// only for a workflow of several pipelines: a suspension keeps the files of the
    /// pipelines after the suspending one, and a resumed workflow those before it,
    /// without running them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<String>,
    /// The group's selectors (its own and the Promise's), recorded with `files`: a
    /// group kept from an earlier run is checked against them again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) selectors: BTreeMap<String, String>,
}

/// Where an output group stands, as its status record says: `placed`, `misplaced` or
/// `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PlacementState {
    /// On the destination its selectors choose.
    Placed,
    /// On a destination its selectors no longer choose: it stays there.
    Misplaced,
    /// On no destination: none matches.
    Pending,
}

impl PlacementRef {
    /// The pipeline whose output the group is: the group name up to its `/directory`.
    pub(crate) fn pipeline(&self) -> &str {
        self.group.split_once('/').map_or(&self.group, |(p, _)| p)
    }
}

/// One written unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutputRef {
    pub(crate) destination: String,
    /// Folder in the repository.
    pub(crate) path: String,
    /// sha256 of its `SHA256SUMS`.
    pub(crate) digest: String,
}

/// A status file's content, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestStatus {
    /// The message for the requester.
    pub(crate) message: String,
    /// Keys from the pipelines' `status.yaml`, merged in pipeline order.
    pub(crate) pipeline_status: Map<String, Value>,
    /// promised's own record.
    pub(crate) record: Record,
}

impl RequestStatus {
    /// The status file's bytes.
    pub(crate) fn render(&self) -> Vec<u8> {
        let mut doc = Map::new();
        // The pipeline's message is shown once its request is Ready; until then, what
        // keeps it from being ready is what the requester needs to read.
        // The message's first line says what happened; the rest (a failed container's
        // last log lines) is in the condition only, so that it is written once.
        let theirs = self.pipeline_status.get("message").cloned();
        let message = theirs.filter(|_| self.record.phase == Phase::Ready);
        let summary = self.message.lines().next().unwrap_or_default();
        doc.insert("message".into(), message.unwrap_or(json!(summary)));
        doc.insert("conditions".into(), Value::Array(self.conditions()));
        for (key, value) in &self.pipeline_status {
            if key != "message" && key != "conditions" {
                doc.insert(key.clone(), value.clone());
            }
        }
        status_file(&self.record.request.path, &doc, &self.record)
    }

    /// promised's conditions, then the pipelines', merged by `type`; a pipeline cannot
    /// replace promised's own two (ConfigureWorkflowCompleted, Scheduled).
    fn conditions(&self) -> Vec<Value> {
        let record = &self.record;
        let workflow = match record.phase {
            Phase::Ready | Phase::Pending => {
                condition("ConfigureWorkflowCompleted", true, "PipelinesSucceeded", "")
            }
            Phase::Failed => condition(
                "ConfigureWorkflowCompleted",
                false,
                "PipelineFailed",
                &self.message,
            ),
            Phase::Invalid => condition(
                "ConfigureWorkflowCompleted",
                false,
                "InvalidRequest",
                &self.message,
            ),
            Phase::Waiting => condition(
                "ConfigureWorkflowCompleted",
                false,
                "PromiseUnavailable",
                &self.message,
            ),
            Phase::Suspended => condition(
                "ConfigureWorkflowCompleted",
                false,
                "WorkflowSuspended",
                &self.message,
            ),
            Phase::DeleteFailed => condition(
                "DeleteWorkflowCompleted",
                false,
                "DeleteWorkflowFailed",
                &self.message,
            ),
            // Kratix's condition for a paused object: neither true nor false.
            Phase::Paused => json!({
                "type": "Reconciled",
                "status": "Unknown",
                "reason": "PausedReconciliation",
                "message": self.message,
            }),
        };
        let mut conditions = vec![workflow];
        if matches!(record.phase, Phase::Ready | Phase::Pending) {
            conditions.push(self.scheduled());
        }
        let theirs = self
            .pipeline_status
            .get("conditions")
            .and_then(Value::as_array);
        let ours = conditions.len();
        for cond in theirs.into_iter().flatten() {
            let kind = cond.get("type");
            if kind
                .and_then(Value::as_str)
                .is_some_and(|k| OWN_CONDITIONS.contains(&k))
            {
                continue;
            }
            match conditions[ours..]
                .iter_mut()
                .find(|c| c.get("type") == kind)
            {
                Some(existing) => *existing = cond.clone(),
                None => conditions.push(cond.clone()),
            }
        }
        conditions
    }

    fn scheduled(&self) -> Value {
        let placements = &self.record.placements;
        let pending: Vec<&PlacementRef> = placements
            .iter()
            .filter(|p| p.state == PlacementState::Pending)
            .collect();
        let misplaced: Vec<&PlacementRef> = placements
            .iter()
            .filter(|p| p.state == PlacementState::Misplaced)
            .collect();
        if let Some(p) = pending.first() {
            let reason = p.reason.as_deref().unwrap_or_default();
            return condition(
                "Scheduled",
                false,
                "Pending",
                &format!("{}: {reason}", p.group),
            );
        }
        if let Some(p) = misplaced.first() {
            let reason = p.reason.as_deref().unwrap_or_default();
            return condition(
                "Scheduled",
                true,
                "Misplaced",
                &format!("{}: {reason}", p.group),
            );
        }
        condition("Scheduled", true, "Placed", "")
    }
}

/// The condition types promised sets itself.
const OWN_CONDITIONS: [&str; 3] = [
    "ConfigureWorkflowCompleted",
    "DeleteWorkflowCompleted",
    "Scheduled",
];

/// The bytes of the status file of `path` (a request's or a Promise's): a header
/// comment naming it, then `doc` with the `record` last, under `promised:`, where
/// [`read_record`] looks for it first. The path is written on one line: one that holds
/// a newline would end the comment and make the rest of it YAML, so that the file no
/// longer parses.
///
/// The record is serialized as it is, not made a `Value` first: that copy was a tenth of
/// rendering a request's outcome.
pub(super) fn status_file(
    path: &str,
    doc: &Map<String, Value>,
    record: &impl Serialize,
) -> Vec<u8> {
    /// `doc`, then `promised:` and the record (a pipeline cannot set that key).
    struct File<'a, R> {
        doc: &'a Map<String, Value>,
        record: &'a R,
    }
    impl<R: Serialize> Serialize for File<'_, R> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(None)?;
            for (key, value) in self
                .doc
                .iter()
                .filter(|(key, _)| *key != RESERVED_STATUS_KEY)
            {
                map.serialize_entry(key, value)?;
            }
            map.serialize_entry(RESERVED_STATUS_KEY, self.record)?;
            map.end()
        }
    }
    let header = format!(
        "# Status of {}, written by promised: edits are overwritten.\n",
        crate::escape::one_line(path)
    );
    (header + &yaml::to_string(&File { doc, record })).into_bytes()
}

/// A Kubernetes condition, without the time (so that reruns write the same bytes).
pub(super) fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let mut cond = json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "reason": reason,
    });
    if !message.is_empty() {
        cond["message"] = json!(message);
    }
    cond
}

/// Reads promised's record back from a status file written earlier, for the placements
/// and outputs it holds. A file that cannot be read counts as no record.
pub(crate) fn read_record(bytes: &[u8]) -> Option<Record> {
    /// The part of a status file read back; the rest is skipped, not built.
    #[derive(Deserialize)]
    struct StatusFile {
        promised: Record,
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let parse = |text| serde_saphyr::from_str::<StatusFile>(text).ok();
    let mut record = parse(record_part(text)).or_else(|| parse(text))?.promised;
    record.shrink_to_fit();
    if let Some(suspended) = &mut record.suspended {
        // The status the pipelines wrote is read from the whole file: one that does
        // not parse whole gives no record, rather than a resumed run without it.
        suspended.status = status_so_far(text)?;
    }
    Some(record)
}

/// The end of a status file that holds the record: from its `promised:` key, which
/// [`RequestStatus::render`] writes last and at the start of a line (the YAML
/// serializer indents every line of a multi-line value, and quotes a key that holds a
/// newline). Parsing only this part skips the message, the conditions and the
/// pipelines' own keys, which can hold many lines of a failed container's log: YAML
/// parsing is most of what reading every status file costs. A file without that line,
/// or with a document marker (so that a record in a second document is refused as the
/// whole file's parse refuses it), is parsed whole; so is one whose part does not
/// parse alone. What comes before the record is not read, so a hand edit that breaks
/// it no longer costs the record.
fn record_part(text: &str) -> &str {
    let markers = text.starts_with("---") || text.contains("\n---") || text.contains("\n...");
    match text.rfind("\npromised:\n") {
        Some(at) if !markers => &text[at + 1..],
        _ => text,
    }
}

/// Whether [`read_record`] reads a status file promised rendered from its record part
/// alone (see [`record_part`]): then it reads back the record the file was rendered
/// from. One with a document marker among the pipelines' keys is parsed whole, within
/// the parser's limits, which a large status can exceed.
pub(crate) fn record_read_alone(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| record_part(text).len() < text.len())
}

/// The keys the pipelines wrote to a status file: every key but promised's own, and
/// the conditions but promised's own.
fn status_so_far(text: &str) -> Option<Map<String, Value>> {
    let Ok(Value::Object(mut doc)) = yaml::document(text) else {
        return None;
    };
    // `shift_remove`: the keys keep their order, so a resumed run writes them as a run
    // from the first pipeline would.
    doc.shift_remove("message");
    doc.shift_remove("promised");
    if let Some(Value::Array(conditions)) = doc.get_mut("conditions") {
        conditions.retain(|c| {
            let kind = c.get("type").and_then(Value::as_str);
            !kind.is_some_and(|k| OWN_CONDITIONS.contains(&k))
        });
        if conditions.is_empty() {
            doc.shift_remove("conditions");
        }
    }
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: Phase) -> RequestStatus {
        RequestStatus {
            message: "done".into(),
            pipeline_status: Map::new(),
            record: Record {
                phase,
                request: RequestRef {
                    path: "requests/redis/a.yaml".into(),
                    blob: "abc".into(),
                    document: None,
                },
                pipelines: vec![PipelineRef {
                    name: "configure".into(),
                    images: vec!["example/redis:v1".into()],
                }],
                placements: vec![PlacementRef {
                    group: "configure".into(),
                    destination: Some("dev".into()),
                    state: PlacementState::Placed,
                    reason: None,
                    files: vec![],
                    selectors: BTreeMap::new(),
                }],
                outputs: vec![],
                suspended: None,
            },
        }
    }

    /// A pass holds a record per request (100k of them at 100k requests): what few
    /// records have (a suspension) is boxed, so that it costs 8 bytes in the others.
    #[test]
    fn a_record_stays_small() {
        assert!(
            std::mem::size_of::<Record>() <= 160,
            "{} bytes",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn a_suspended_record_reads_back_the_status_the_pipelines_wrote() {
        let mut status = status(Phase::Suspended);
        status.record.suspended = Some(Box::new(SuspendedRef {
            pipeline: "approve".into(),
            message: Some("waiting".into()),
            retry_after: None,
            attempts: 0,
            promise: "p1".into(),
            status: Map::new(),
            status_before: Map::new(),
        }));
        let theirs = json!({
            "message": "theirs",
            "approval": "requested",
            "conditions": [{"type": "Approved", "status": "False"}]
        });
        status.pipeline_status = theirs.as_object().unwrap().clone();
        let record = read_record(&status.render()).unwrap();
        let so_far = Value::Object(record.suspended.unwrap().status);
        assert_eq!(
            so_far,
            json!({"approval": "requested", "conditions": [{"type": "Approved", "status": "False"}]})
        );
    }

    #[test]
    fn a_record_names_the_document_only_in_a_file_of_several() {
        let mut status = status(Phase::Ready);
        let text = String::from_utf8(status.render()).unwrap();
        assert!(!text.contains("document:"), "{text}");
        let old = read_record(text.as_bytes()).unwrap();
        assert_eq!(old.request.document, None);
        status.record.request.document = Some("sha256:0a".into());
        let record = read_record(&status.render()).unwrap();
        assert_eq!(record.request.document.as_deref(), Some("sha256:0a"));
    }

    /// The record is read from its key on: lines of a pipeline's status or of a failed
    /// container's log that look like the key are indented (and a key that holds a
    /// newline is quoted), so never taken for it.
    #[test]
    fn lines_that_look_like_the_record_in_other_keys_are_not_read_as_it() {
        let mut status = status(Phase::Failed);
        let fake = "promised:\n  phase: Ready\n  request:\n    path: elsewhere\n    blob: x\n";
        status.message = format!("container failed\n{fake}");
        let theirs = json!({"notes": fake, "x\npromised": fake, "zzz": {"log": fake}});
        status.pipeline_status = theirs.as_object().unwrap().clone();
        let text = String::from_utf8(status.render()).unwrap();
        assert!(text.matches("promised:").count() > 3, "{text}");
        let part = record_part(&text);
        assert!(part.starts_with("promised:\n  phase: Failed\n"), "{part}");
        let alone = serde_saphyr::from_str::<Value>(part).unwrap();
        assert_eq!(
            alone["promised"],
            serde_json::to_value(&status.record).unwrap()
        );
        assert_eq!(read_record(text.as_bytes()).unwrap(), status.record);
    }

    /// A request path that holds a newline stays in the header comment: the file parses
    /// whole, as a suspended record's status needs it to.
    #[test]
    fn a_request_path_with_a_newline_keeps_the_file_readable() {
        let mut status = status(Phase::Ready);
        status.record.request.path = "requests/redis/x\n- y.yaml\npromised: 1 #".into();
        let text = String::from_utf8(status.render()).unwrap();
        assert!(yaml::document(&text).is_ok(), "{text}");
        assert_eq!(read_record(text.as_bytes()).unwrap(), status.record);
    }

    /// A suspended record whose file does not parse whole is no record: the status the
    /// pipelines wrote, which its resumed run needs, is not in the part read first.
    #[test]
    fn a_suspended_record_in_a_file_that_does_not_parse_whole_is_no_record() {
        let mut status = status(Phase::Suspended);
        status.record.suspended = Some(Box::new(SuspendedRef {
            pipeline: "approve".into(),
            message: None,
            retry_after: None,
            attempts: 0,
            promise: "p1".into(),
            status: Map::new(),
            status_before: Map::new(),
        }));
        let text = String::from_utf8(status.render()).unwrap();
        assert!(read_record(text.as_bytes()).is_some());
        let broken = text.replacen("message:", "message: [\nmessage:", 1);
        assert_eq!(read_record(broken.as_bytes()), None);
    }

    /// A file edited by hand out of the shape promised writes is read whole.
    #[test]
    fn a_record_written_by_hand_in_another_shape_reads_back() {
        let record = "promised: {phase: Ready, request: {path: requests/a.yaml, blob: b1}}\n";
        let first = format!("{record}message: by hand\n");
        let read = read_record(first.as_bytes()).unwrap();
        assert_eq!(
            (read.phase, read.request.blob.as_str()),
            (Phase::Ready, "b1")
        );
        // The part from the last `promised:` line does not parse alone: a quoted value
        // whose second line starts with the key.
        let block =
            "promised:\n  phase: Ready\n  request:\n    path: requests/a.yaml\n    blob: b2\n";
        let tricky = format!("{block}note: \"one\npromised:\n two\"\n");
        let read = read_record(tricky.as_bytes()).unwrap();
        assert_eq!(read.request.blob, "b2");
    }

    /// A record in a document after the first is no record, whichever part is parsed.
    #[test]
    fn a_record_in_a_second_document_is_not_read() {
        let text = String::from_utf8(status(Phase::Ready).render()).unwrap();
        let second = format!(
            "message: by hand\n---\n{}",
            &text[text.find("promised:").unwrap()..]
        );
        assert_eq!(read_record(second.as_bytes()), None);
        let ended = format!(
            "message: by hand\n...\n---\n{}",
            &text[text.find("promised:").unwrap()..]
        );
        assert_eq!(read_record(ended.as_bytes()), None);
    }

    #[test]
    fn the_record_reads_back() {
        let status = status(Phase::Ready);
        let record = read_record(&status.render()).unwrap();
        assert_eq!(record, status.record);
    }

    #[test]
    fn files_without_a_record_read_as_none() {
        assert_eq!(read_record(b"message: written by hand\n"), None);
        assert_eq!(read_record(b"promised: [\n"), None);
        assert_eq!(read_record(b"promised: {phase: Ready}\n"), None);
    }

    #[test]
    fn pipeline_keys_and_conditions_merge_in() {
        let mut status = status(Phase::Ready);
        let theirs = json!({
            "message": "cache is up",
            "url": "redis://a",
            "conditions": [
                {"type": "Scheduled", "status": "True", "reason": "Custom"},
                {"type": "Backup", "status": "False"}
            ]
        });
        status.pipeline_status = theirs.as_object().unwrap().clone();
        let text = String::from_utf8(status.render()).unwrap();
        let doc = yaml::document(&text).unwrap();
        assert_eq!(doc["message"], "cache is up");
        assert_eq!(doc["url"], "redis://a");
        let types: Vec<&str> = doc["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["ConfigureWorkflowCompleted", "Scheduled", "Backup"]);
        assert_eq!(
            doc["conditions"][1]["reason"], "Placed",
            "promised's own conditions stay"
        );
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["message", "conditions", "url", "promised"]);
    }

    #[test]
    fn a_failure_s_log_lines_are_written_once_in_the_condition() {
        let mut status = status(Phase::Failed);
        status.message = "container \"x\" failed (exit code 1)\nits last line".into();
        let text = String::from_utf8(status.render()).unwrap();
        assert_eq!(text.matches("its last line").count(), 1, "{text}");
        let doc = yaml::document(&text).unwrap();
        assert_eq!(doc["message"], "container \"x\" failed (exit code 1)");
        assert_eq!(doc["conditions"][0]["message"], status.message.as_str());
    }

    #[test]
    fn a_failure_says_why_in_the_condition() {
        let mut status = status(Phase::Failed);
        status.message = "container \"x\" failed".into();
        let doc = yaml::document(std::str::from_utf8(&status.render()).unwrap()).unwrap();
        assert_eq!(doc["conditions"][0]["status"], "False");
        assert_eq!(doc["conditions"][0]["reason"], "PipelineFailed");
        assert_eq!(doc["promised"]["phase"], "Failed");
    }
}
