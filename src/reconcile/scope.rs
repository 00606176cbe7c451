//! Which requests a pass reruns. A full pass reruns every request; a scoped pass reruns
//! only the ones whose inputs changed (or that are due for a retry), and leaves every
//! other request's outputs and status exactly as they are. Pure.

use std::collections::BTreeSet;

use crate::model::{RequestFile, RequestKey};
use crate::state::status::{Phase, Record};

/// What a pass reruns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Rerun every request.
    pub all: bool,
    /// Request files (repository paths) to rerun.
    pub request_paths: BTreeSet<String>,
    /// Promises whose every request reruns.
    pub promises: BTreeSet<String>,
    /// Destinations that changed: requests placed on them, and pending requests, rerun.
    pub destinations: BTreeSet<String>,
    /// Requests to rerun by key (retries, manual reruns).
    pub requests: BTreeSet<RequestKey>,
}

impl Scope {
    /// A pass that reruns everything.
    pub fn all() -> Self {
        Scope {
            all: true,
            ..Scope::default()
        }
    }

    /// Whether nothing would rerun (requests never reconciled still run).
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.request_paths.is_empty()
            && self.promises.is_empty()
            && self.destinations.is_empty()
            && self.requests.is_empty()
    }

    /// Adds everything `other` reruns.
    pub fn extend(&mut self, other: Scope) {
        self.all |= other.all;
        self.request_paths.extend(other.request_paths);
        self.promises.extend(other.promises);
        self.destinations.extend(other.destinations);
        self.requests.extend(other.requests);
    }

    /// Whether `request` reruns, given its record from the last pass. A request with no
    /// record, or whose record is of another file version, always runs.
    pub fn includes(&self, request: &RequestFile, record: Option<&Record>) -> bool {
        let Some(record) = record else {
            return true;
        };
        if record.request.blob != request.blob || record.request.path != request.path {
            return true;
        }
        self.all
            || self.request_paths.contains(&request.path)
            || self.promises.contains(&request.key.promise)
            || self.requests.contains(&request.key)
            || (!self.destinations.is_empty()
                && (record.phase == Phase::Pending
                    || record.placements.iter().any(|p| {
                        p.destination
                            .as_ref()
                            .is_some_and(|d| self.destinations.contains(d))
                    })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::status::{PlacementRef, RequestRef};

    fn request(path: &str, blob: &str) -> RequestFile {
        let doc = "apiVersion: a.b/v1\nkind: App\nmetadata: {name: a}\n";
        RequestFile::parse(path, blob.into(), doc.into())
    }

    fn record(path: &str, blob: &str, phase: Phase, destination: &str) -> Record {
        Record {
            phase,
            request: RequestRef {
                path: path.into(),
                blob: blob.into(),
            },
            pipelines: vec![],
            placements: vec![PlacementRef {
                group: "configure".into(),
                destination: Some(destination.into()),
                state: "placed".into(),
                reason: None,
            }],
            outputs: vec![],
        }
    }

    #[test]
    fn an_empty_scope_reruns_only_what_was_never_reconciled_or_changed() {
        let scope = Scope::default();
        let file = request("requests/app/a.yaml", "b1");
        assert!(scope.includes(&file, None));
        let same = record("requests/app/a.yaml", "b1", Phase::Ready, "dev");
        assert!(!scope.includes(&file, Some(&same)));
        let older = record("requests/app/a.yaml", "b0", Phase::Ready, "dev");
        assert!(scope.includes(&file, Some(&older)));
    }

    #[test]
    fn promises_and_destinations_select_their_requests() {
        let file = request("requests/app/a.yaml", "b1");
        let on_dev = record("requests/app/a.yaml", "b1", Phase::Ready, "dev");
        let promise = Scope {
            promises: ["app".to_string()].into(),
            ..Scope::default()
        };
        assert!(promise.includes(&file, Some(&on_dev)));
        let prod = Scope {
            destinations: ["prod".to_string()].into(),
            ..Scope::default()
        };
        assert!(!prod.includes(&file, Some(&on_dev)));
        let pending = record("requests/app/a.yaml", "b1", Phase::Pending, "dev");
        assert!(prod.includes(&file, Some(&pending)));
    }
}
