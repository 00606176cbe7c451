//! A Promise's status file, `status/<promise>.yaml`: whether it is available (its
//! Promise workflows succeeded and the Promises it requires are there), and where its
//! dependencies went. Like a request's status, it holds nothing that depends on the
//! clock, so a rerun that changes nothing writes the same bytes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::status::{OutputRef, PipelineRef, PlacementRef, RequestRef, condition, status_file};

/// Whether requests of a Promise may run, as Kratix's `status.status` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Availability {
    /// Its Promise workflows succeeded (or it has none) and its required Promises are
    /// available: its requests run.
    Available,
    /// Its requests wait: see the record's `reason`.
    Unavailable,
}

/// Why a Promise is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Unavailable {
    /// A workflow of it failed.
    Failed,
    /// A Promise it requires is missing, at another version, or unavailable.
    Requirements,
    /// A pipeline's `workflow-control.yaml` suspended its Promise workflow.
    Suspended,
    /// Its file was removed (or does not read) while requests of it remain.
    Removed,
    /// It carries `kratix.io/paused: "true"`.
    Paused,
}

/// What promised records about a Promise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PromiseRecord {
    /// Whether its requests may run.
    pub(crate) availability: Availability,
    /// Why it is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Which kind of reason: a Promise that waited for the Promises it requires runs its
    /// workflow once they are there, in whichever pass sees that first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unavailable: Option<Unavailable>,
    /// The Promise file and its blob id: read back to run its delete workflows once the
    /// file is gone.
    pub(crate) promise: RequestRef,
    /// Promise workflow pipelines run, with their images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) pipelines: Vec<PipelineRef>,
    /// Where each output group of its Promise workflows went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) placements: Vec<PlacementRef>,
    /// The dependency units written, with their digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outputs: Vec<OutputRef>,
}

/// A Promise status file's content, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PromiseStatus {
    /// What the platform team reads first.
    pub(crate) message: String,
    /// The `message` the Promise workflows wrote to `status.yaml`, if any: as in Kratix,
    /// the only key of a Promise workflow's status that is kept.
    pub(crate) pipeline_message: Option<Value>,
    /// Why it is unavailable, when it is.
    pub(crate) unavailable: Option<Unavailable>,
    /// promised's own record.
    pub(crate) record: PromiseRecord,
}

impl PromiseStatus {
    /// The status file's bytes.
    pub(crate) fn render(&self) -> Vec<u8> {
        let record = &self.record;
        let available = record.availability == Availability::Available;
        let mut doc = Map::new();
        let theirs = self.pipeline_message.clone().filter(|_| available);
        let summary = self.message.lines().next().unwrap_or_default();
        doc.insert("message".into(), theirs.unwrap_or(json!(summary)));
        let status = if available {
            "Available"
        } else {
            "Unavailable"
        };
        doc.insert("status".into(), json!(status));
        let mut conditions = Vec::new();
        let message = self.message.as_str();
        if !record.pipelines.is_empty() || self.unavailable == Some(Unavailable::Failed) {
            conditions.push(match self.unavailable {
                None => condition("ConfigureWorkflowCompleted", true, "PipelinesSucceeded", ""),
                Some(Unavailable::Failed) => condition(
                    "ConfigureWorkflowCompleted",
                    false,
                    "PipelineFailed",
                    message,
                ),
                Some(Unavailable::Suspended) => condition(
                    "ConfigureWorkflowCompleted",
                    false,
                    "WorkflowSuspended",
                    message,
                ),
                Some(Unavailable::Requirements | Unavailable::Removed) => {
                    condition("ConfigureWorkflowCompleted", false, "NotRun", "")
                }
                Some(Unavailable::Paused) => condition(
                    "ConfigureWorkflowCompleted",
                    false,
                    "PausedReconciliation",
                    message,
                ),
            });
        }
        conditions.push(match self.unavailable {
            Some(Unavailable::Requirements) => condition(
                "RequirementsFulfilled",
                false,
                "RequirementsNotInstalled",
                message,
            ),
            _ => condition("RequirementsFulfilled", true, "RequirementsInstalled", ""),
        });
        doc.insert("conditions".into(), Value::Array(conditions));
        status_file(&self.record.promise.path, &doc, record)
    }
}

/// Reads promised's record back from a Promise status file written earlier. A file that
/// cannot be read counts as no record.
pub(crate) fn read_promise_record(bytes: &[u8]) -> Option<PromiseRecord> {
    #[derive(Deserialize)]
    struct StatusFile {
        promised: PromiseRecord,
    }
    let text = std::str::from_utf8(bytes).ok()?;
    Some(serde_saphyr::from_str::<StatusFile>(text).ok()?.promised)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn status(
        availability: Availability,
        reason: Option<&str>,
        unavailable: Option<Unavailable>,
    ) -> PromiseStatus {
        PromiseStatus {
            message: reason.unwrap_or("m").into(),
            pipeline_message: Some(json!("operator installed")),
            unavailable,
            record: PromiseRecord {
                availability,
                reason: reason.map(String::from),
                unavailable,
                promise: RequestRef {
                    path: "promises/redis.yaml".into(),
                    blob: "abc".into(),
                    document: None,
                },
                pipelines: vec![PipelineRef {
                    name: "install".into(),
                    images: vec!["example/op:v1".into()],
                }],
                placements: vec![],
                outputs: vec![],
            },
        }
    }

    #[test]
    fn the_record_reads_back() {
        let status = status(
            Availability::Unavailable,
            Some("needs x"),
            Some(Unavailable::Requirements),
        );
        assert_eq!(
            read_promise_record(&status.render()),
            Some(status.record.clone())
        );
        assert_eq!(read_promise_record(b"promised: {}\n"), None);
    }

    /// A path that holds a newline stays in the header comment, and the record reads
    /// back (the file is read whole).
    #[test]
    fn a_promise_path_with_a_newline_keeps_the_file_readable() {
        let mut status = status(Availability::Available, None, None);
        status.record.promise.path = "promises/x\n- y.yaml".into();
        assert_eq!(
            read_promise_record(&status.render()),
            Some(status.record.clone())
        );
    }

    #[test]
    fn an_available_promise_shows_its_workflow_s_message() {
        let text = String::from_utf8(status(Availability::Available, None, None).render());
        let doc = yaml::document(&text.unwrap()).unwrap();
        assert_eq!(doc["message"], "operator installed");
        assert_eq!(doc["status"], "Available");
        assert_eq!(doc["conditions"][0]["status"], "True");
        assert_eq!(doc["conditions"][1]["type"], "RequirementsFulfilled");
    }

    #[test]
    fn unmet_requirements_and_failures_say_why() {
        let waiting = status(
            Availability::Unavailable,
            Some("needs x"),
            Some(Unavailable::Requirements),
        );
        let waiting = waiting.render();
        let doc = yaml::document(std::str::from_utf8(&waiting).unwrap()).unwrap();
        assert_eq!(doc["message"], "needs x");
        assert_eq!(doc["conditions"][1]["reason"], "RequirementsNotInstalled");
        assert_eq!(doc["conditions"][1]["message"], "needs x");
        let failed = status(
            Availability::Unavailable,
            Some("failed"),
            Some(Unavailable::Failed),
        );
        let failed = failed.render();
        let doc = yaml::document(std::str::from_utf8(&failed).unwrap()).unwrap();
        assert_eq!(doc["conditions"][0]["reason"], "PipelineFailed");
        assert_eq!(doc["conditions"][1]["status"], "True");
    }
}
