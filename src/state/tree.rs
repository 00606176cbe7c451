//! The managed part of the output tree, as it should be after a pass, and what differs
//! from the tree as it is. Pure: blob ids are computed by a function the caller passes.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::digest::{sums_file, unit_digest};
use super::layout::{DIGEST_FILE, dependency_owner, is_managed, resource_owner, status_owner};
use crate::model::RequestKey;

/// Managed files as they are: path to blob id (hex).
pub type CurrentTree = BTreeMap<String, String>;

/// Files of the managed area that stay as they are, whatever the pass computes: the
/// outputs of requests that could not be reconciled, so bad input never removes a
/// running service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Every output file and the status of this request.
    Request(RequestKey),
    /// Output files (not the status) of this request.
    RequestOutputs(RequestKey),
    /// The dependency files of every Promise not in this set (the loaded ones).
    DependenciesOfOtherPromises(BTreeSet<String>),
    /// Everything under `state/` outside these destination folders.
    UnknownDestinations(BTreeSet<String>),
}

impl Keep {
    fn covers(&self, path: &str) -> bool {
        match self {
            Keep::Request(key) => {
                resource_owner(path).as_ref() == Some(key)
                    || status_owner(path).as_ref() == Some(key)
            }
            Keep::RequestOutputs(key) => resource_owner(path).as_ref() == Some(key),
            Keep::DependenciesOfOtherPromises(known) => {
                dependency_owner(path).is_some_and(|promise| !known.contains(promise))
            }
            Keep::UnknownDestinations(known) => {
                let rest = path.strip_prefix("state/").unwrap_or("");
                !rest.is_empty() && !known.iter().any(|f| rest.starts_with(&format!("{f}/")))
            }
        }
    }
}

/// The managed files a pass wants, and what it keeps untouched.
#[derive(Debug, Clone, Default)]
pub struct DesiredTree {
    files: BTreeMap<String, Vec<u8>>,
    /// Requests kept whole, and requests whose outputs are kept: looked up by the owner
    /// of each path, so keeping many requests costs no more per path than keeping one.
    kept_requests: HashSet<RequestKey>,
    kept_outputs: HashSet<RequestKey>,
    /// The other rules; a pass has at most a few.
    rules: Vec<Keep>,
}

/// What a pass changes in the managed area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files to add or overwrite.
    pub upserts: BTreeMap<String, Vec<u8>>,
    /// Files to remove.
    pub removals: BTreeSet<String>,
}

impl Changes {
    /// Whether the pass changes nothing.
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }
}

impl DesiredTree {
    /// Wants `bytes` at `path`, which must be in the managed area.
    pub fn file(&mut self, path: String, bytes: Vec<u8>) {
        debug_assert!(is_managed(&path), "{path} is outside the managed folders");
        self.files.insert(path, bytes);
    }

    /// Wants `files` under `dir` plus their `SHA256SUMS`; returns the unit's digest.
    pub fn unit(&mut self, dir: &str, files: &BTreeMap<String, Vec<u8>>) -> String {
        let sums = sums_file(files);
        for (path, bytes) in files {
            self.file(format!("{dir}/{path}"), bytes.clone());
        }
        let digest = unit_digest(&sums);
        self.file(format!("{dir}/{DIGEST_FILE}"), sums.into_bytes());
        digest
    }

    /// Leaves what `rule` covers as it is.
    pub fn keep(&mut self, rule: Keep) {
        match rule {
            Keep::Request(key) => {
                self.kept_requests.insert(key);
            }
            Keep::RequestOutputs(key) => {
                self.kept_outputs.insert(key);
            }
            other => self.rules.push(other),
        }
    }

    /// Whether a keep rule covers `path`.
    fn kept(&self, path: &str) -> bool {
        if let Some(owner) = resource_owner(path) {
            if self.kept_requests.contains(&owner) || self.kept_outputs.contains(&owner) {
                return true;
            }
        } else if let Some(owner) = status_owner(path) {
            if self.kept_requests.contains(&owner) {
                return true;
            }
        }
        self.rules.iter().any(|rule| rule.covers(path))
    }

    /// What must change to turn `current` into this tree. `blob_id` computes the id a
    /// content would have, to compare with `current` without writing anything.
    pub fn changes(self, current: &CurrentTree, blob_id: impl Fn(&[u8]) -> String) -> Changes {
        let mut changes = Changes::default();
        for path in current.keys() {
            let wanted = self.files.contains_key(path);
            if !wanted && is_managed(path) && !self.kept(path) {
                changes.removals.insert(path.clone());
            }
        }
        // The tree is consumed: its bytes move into the changes instead of being copied.
        for (path, bytes) in self.files {
            if current.get(&path) != Some(&blob_id(&bytes)) {
                changes.upserts.insert(path, bytes);
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> String {
        format!("id-{}", String::from_utf8_lossy(bytes))
    }

    fn current(pairs: &[(&str, &str)]) -> CurrentTree {
        let pairs = pairs.iter();
        pairs
            .map(|(p, c)| (p.to_string(), id(c.as_bytes())))
            .collect()
    }

    fn key(name: &str) -> RequestKey {
        RequestKey {
            promise: "redis".into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[test]
    fn an_identical_tree_changes_nothing() {
        let mut desired = DesiredTree::default();
        desired.file("status/redis/default/a.yaml".into(), b"ok".to_vec());
        let changes = desired.changes(&current(&[("status/redis/default/a.yaml", "ok")]), id);
        assert!(changes.is_empty());
    }

    #[test]
    fn unexplained_managed_files_are_removed_and_inputs_never() {
        let desired = DesiredTree::default();
        let now = current(&[
            ("state/dev/resources/default/redis/a/x.yaml", "x"),
            ("requests/redis/a.yaml", "r"),
        ]);
        let changes = desired.changes(&now, id);
        assert_eq!(
            changes.removals,
            BTreeSet::from(["state/dev/resources/default/redis/a/x.yaml".to_string()])
        );
    }

    #[test]
    fn kept_requests_and_folders_are_left_alone() {
        let mut desired = DesiredTree::default();
        desired.keep(Keep::Request(key("a")));
        desired.keep(Keep::UnknownDestinations(BTreeSet::from([
            "dev".to_string()
        ])));
        let now = current(&[
            ("state/dev/resources/default/redis/a/x.yaml", "x"),
            ("status/redis/default/a.yaml", "s"),
            ("state/dev/resources/default/redis/b/x.yaml", "x"),
            ("state/prod/resources/default/redis/b/x.yaml", "x"),
        ]);
        let changes = desired.changes(&now, id);
        assert_eq!(
            changes.removals,
            BTreeSet::from(["state/dev/resources/default/redis/b/x.yaml".to_string()])
        );
    }

    #[test]
    fn units_carry_their_sums_and_digest() {
        let mut desired = DesiredTree::default();
        let files = BTreeMap::from([("svc.yaml".to_string(), b"kind: Service".to_vec())]);
        let digest = desired.unit("state/dev/resources/default/redis/a", &files);
        let changes = desired.changes(&CurrentTree::new(), id);
        let paths: Vec<&String> = changes.upserts.keys().collect();
        assert_eq!(
            paths,
            [
                "state/dev/resources/default/redis/a/SHA256SUMS",
                "state/dev/resources/default/redis/a/svc.yaml"
            ]
        );
        assert!(digest.starts_with("sha256:"));
    }
}
