//! What the daemon remembers between runs, kept in Git beside its outputs: the input
//! commit its last pass reconciled, when the last scheduled full pass ran, and when each
//! Promise's own interval last ran. A restarted daemon, on the same work folder or an
//! empty one, reads it back and reruns only what changed since, plus what is due; the
//! work folder is a cache.
//!
//! It lives in one file, `daemon.yaml`, in a commit that the ref
//! `refs/promised/daemon/<output branch>` of the remote the outputs go to points at: out of
//! every branch Flux or Argo CD reads, and pushed only when it changes (with the output
//! commit of the pass, in one atomic push, when there is one), so a scheduled pass that
//! changes nothing costs one small push and a tick that runs nothing costs none.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The file holding the state, in the state ref's commit.
pub(crate) const STATE_FILE: &str = "daemon.yaml";

/// The ref holding the state of the daemon that writes `branch` (its output branch: the
/// input branch unless `--output-branch` says), on the remote the outputs go to.
pub(crate) fn state_ref(branch: &str) -> String {
    format!("refs/promised/daemon/{branch}")
}

/// What a restarted daemon needs to know to rerun nothing that already ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DaemonState {
    /// The input commit whose pass last reached the remote: a restart reruns what
    /// changed between it and the branch as it is then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input_commit: Option<String>,
    /// When the last scheduled full pass ran: a restart runs one at once only when the
    /// schedule fired since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) full_pass: Option<DateTime<Utc>>,
    /// When each Promise's own interval (`kratix.io/reconcile-interval`) last reran its
    /// requests.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) interval_passes: BTreeMap<String, DateTime<Utc>>,
    /// Requests (`promise/namespace/name`) waiting for a retry: how many times in a row
    /// each failed, and when it is retried. A restart keeps the backoff where it was
    /// instead of starting it over.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) retries: BTreeMap<String, SavedRetry>,
    /// Promises waiting for a retry of their Promise workflow, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) promise_retries: BTreeMap<String, SavedRetry>,
}

/// One retry as saved: the attempt the backoff is at, and when the retry is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SavedRetry {
    pub(crate) attempt: u32,
    pub(crate) due: DateTime<Utc>,
}

impl DaemonState {
    /// Reads the state file; the error says what is wrong with it.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{STATE_FILE}: {e}"))?;
        serde_saphyr::from_str(text).map_err(|e| format!("{STATE_FILE}: {e}"))
    }

    /// The state file's bytes. Nothing in it but times the daemon recorded, so the same
    /// state gives the same bytes.
    pub(crate) fn render(&self) -> Vec<u8> {
        let body = serde_saphyr::to_string(self).expect("the state serializes");
        format!("# Written by promised serve: what a restarted daemon needs to rerun nothing twice.\n{body}")
            .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reads_back_and_an_empty_one_is_a_first_start() {
        let state = DaemonState {
            input_commit: Some("0123abcd".into()),
            full_pass: DateTime::from_timestamp(1_800_000_000, 0),
            interval_passes: BTreeMap::from([(
                "app".to_string(),
                DateTime::from_timestamp(1_800_000_060, 0).unwrap(),
            )]),
            retries: BTreeMap::from([(
                "app/team/a".to_string(),
                SavedRetry {
                    attempt: 2,
                    due: DateTime::from_timestamp(1_800_000_120, 0).unwrap(),
                },
            )]),
            promise_retries: BTreeMap::new(),
        };
        let text = String::from_utf8(state.render()).unwrap();
        assert!(
            text.contains("fullPass: \"2027-01-15T08:00:00Z\""),
            "{text}"
        );
        assert_eq!(DaemonState::parse(text.as_bytes()).unwrap(), state);
        assert_eq!(DaemonState::parse(b"{}\n").unwrap(), DaemonState::default());
        let err = DaemonState::parse(b"fullpass: x\n").unwrap_err();
        assert!(err.starts_with("daemon.yaml:"), "{err}");
    }
}
