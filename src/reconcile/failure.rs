//! What a failed pipeline run leaves where: the status file, committed to Git and read
//! by every developer, says which container failed and how, and keeps at most the last
//! lines of its stderr with credentials redacted (none at all when the Promise says
//! `promised.dev/status-logs: "off"`); promised's own log, read by operators, gets the
//! whole tail it kept, unredacted.

use crate::executor::{ExecError, last_lines};
use crate::model::{Pipeline, Promise};
use crate::pipeline::RunError;
use crate::redact::{Known, STATUS_LOGS_ANNOTATION, redact};

/// Whether the Promise lets its pipelines' logs into status files. Only an absent
/// annotation or `"redacted"` does: a value nobody recognises keeps them out.
fn logs_in_status(promise: &Promise) -> bool {
    let value = promise.annotations.get(STATUS_LOGS_ANNOTATION);
    value.is_none_or(|v| v == "redacted")
}

/// The status message for `err`, which stopped `pipeline`.
pub(super) fn status_message(promise: &Promise, pipeline: &Pipeline, err: &RunError) -> String {
    let known = Known::of(&pipeline.containers);
    let head = format!("pipeline {:?}: ", pipeline.name);
    let RunError::Exec(ExecError::Failed {
        container,
        exit,
        stderr_tail,
    }) = err
    else {
        // Other errors hold what promised says, which may quote what the pipeline wrote.
        return redact(&format!("{head}{err}"), &known);
    };
    let mut message = format!("{head}container {container:?} failed ({exit})");
    if !logs_in_status(promise) {
        message.push_str(&format!(
            "; its log is kept out of this file ({STATUS_LOGS_ANNOTATION} on the Promise): see promised's log"
        ));
        return message;
    }
    // Redacted before it is cut, so that a credential is seen whole.
    let redacted = redact(stderr_tail, &known);
    let shown = last_lines(&redacted);
    if !shown.is_empty() {
        message.push_str("\nlast lines of its stderr, credentials redacted:\n");
        message.push_str(shown);
    }
    message
}

/// Logs the failure for operators, naming the request or Promise, with the log tail as
/// the container wrote it: the report and the status file have it redacted (or, with
/// `promised.dev/status-logs: off`, not at all), so this line is where an operator reads
/// it whole.
pub(super) fn log_failure(object: &impl std::fmt::Display, pipeline: &Pipeline, err: &RunError) {
    match err {
        RunError::Exec(ExecError::Failed {
            container,
            exit,
            stderr_tail,
        }) => tracing::warn!(
            object = %object,
            pipeline = %pipeline.name,
            container = %container,
            exit = %exit,
            stderr = %stderr_tail,
            "pipeline failed"
        ),
        other => {
            tracing::warn!(object = %object, pipeline = %pipeline.name, "pipeline failed: {other}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Container, EnvVar};

    fn promise() -> Promise {
        Promise::test("app").build()
    }

    fn pipeline() -> Pipeline {
        Pipeline {
            name: "configure".into(),
            chained: false,
            containers: vec![Container {
                name: "render".into(),
                image: "i".into(),
                command: vec![],
                args: vec![],
                env: vec![EnvVar {
                    name: "DEPLOY_KEY".into(),
                    value: Some("FAKE-deploy-key-value".into()),
                    value_from: None,
                }],
                extra: Default::default(),
            }],
            pod: Default::default(),
        }
    }

    fn failed(log: &str) -> RunError {
        RunError::Exec(ExecError::Failed {
            container: "render".into(),
            exit: "exit code 3".into(),
            stderr_tail: log.into(),
        })
    }

    #[test]
    fn the_status_names_the_container_and_shows_its_redacted_last_lines() {
        let log =
            "starting\nusing FAKE-deploy-key-value\nAuthorization: Bearer FAKEfakeFAKEfake0000\n";
        let message = status_message(&promise(), &pipeline(), &failed(log));
        assert_eq!(
            message,
            "pipeline \"configure\": container \"render\" failed (exit code 3)\n\
             last lines of its stderr, credentials redacted:\n\
             starting\nusing [REDACTED value of env DEPLOY_KEY]\n\
             Authorization: Bearer [REDACTED authorization]"
        );
    }

    #[test]
    fn a_promise_can_keep_logs_out_of_the_status() {
        let annotated = |value| Promise::test("app").annotated(STATUS_LOGS_ANNOTATION, value);
        for value in ["off", "of", "no"] {
            let promise = annotated(value).build();
            let message = status_message(&promise, &pipeline(), &failed("a line\n"));
            assert!(message.starts_with("pipeline \"configure\": container \"render\" failed (exit code 3); its log is kept out"), "{message}");
            assert!(!message.contains("a line"), "{message}");
        }
        let promise = annotated("redacted").build();
        let message = status_message(&promise, &pipeline(), &failed("a line\n"));
        assert!(message.ends_with("\na line"), "{message}");
    }

    #[test]
    fn a_key_cut_by_the_tail_is_redacted_before_the_lines_are_chosen() {
        let mut log = String::from("-----BEGIN PRIVATE KEY-----\n");
        log.extend((0..40).map(|i| format!("FAKEKEYLINE{i:02}\n")));
        log.push_str("-----END PRIVATE KEY-----\nbye\n");
        let message = status_message(&promise(), &pipeline(), &failed(&log));
        assert!(!message.contains("FAKEKEYLINE"), "{message}");
        assert!(
            message.ends_with("[REDACTED private-key]\nbye"),
            "{message}"
        );
    }
}
