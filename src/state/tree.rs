//! The managed part of the output tree, as it should be after a pass, and what differs
//! from the tree as it is. Pure: blob ids are computed by a function the caller passes.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::digest::{sums_file, unit_digest};
use super::layout::{DIGEST_FILE, Owned, is_managed};
use crate::git::BlobId;
use crate::model::RequestKey;

/// Managed files as they are: path to blob id.
pub(crate) type CurrentTree = BTreeMap<String, BlobId>;

/// Files of the managed area that stay as they are, whatever the pass computes: the
/// outputs of requests that could not be reconciled, so bad input never removes a
/// running service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Every output file and the status of this request.
    Request(RequestKey),
    /// Output files (not the status) of this request.
    RequestOutputs(RequestKey),
    /// The dependency files of this Promise and its status file.
    Promise(String),
    /// The dependency files (not the status) of this Promise.
    PromiseOutputs(String),
    /// The dependency files of every Promise not in this set (the loaded ones).
    DependenciesOfOtherPromises(BTreeSet<String>),
    /// Everything under `state/` outside these destination folders.
    UnknownDestinations(BTreeSet<String>),
}

impl Keep {
    /// Whether the rule covers the file at `path`, whose owner is `owned`.
    fn covers(&self, path: &str, owned: Option<&Owned>) -> bool {
        match (self, owned) {
            (Keep::Request(key), Some(Owned::RequestOutput(k) | Owned::RequestStatus(k)))
            | (Keep::RequestOutputs(key), Some(Owned::RequestOutput(k))) => k == key,
            (Keep::Promise(name), Some(Owned::PromiseOutput(n) | Owned::PromiseStatus(n)))
            | (Keep::PromiseOutputs(name), Some(Owned::PromiseOutput(n))) => n.as_str() == name,
            (Keep::DependenciesOfOtherPromises(known), Some(Owned::PromiseOutput(n))) => {
                !known.contains(n.as_str())
            }
            (Keep::UnknownDestinations(known), _) => {
                let rest = path.strip_prefix("state/").unwrap_or("");
                !rest.is_empty() && !known.iter().any(|f| rest.starts_with(&format!("{f}/")))
            }
            _ => false,
        }
    }
}

/// What a wanted file holds: bytes not yet in the repository, or a blob that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The content itself, to be written.
    Bytes(Vec<u8>),
    /// The id of a blob in the repository's object database.
    Blob(BlobId),
}

impl Content {
    /// The bytes, when they are held here.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Content::Bytes(bytes) => Some(bytes),
            Content::Blob(_) => None,
        }
    }
}

/// The managed files a pass wants, and what it keeps untouched, against the managed
/// files as they are (`current`).
///
/// A file wanted with the content it already has costs only a borrowed path once it has
/// been compared (by [`DesiredTree::spill`] or [`DesiredTree::changes`]): a rerun of 100k
/// requests holds no copy of the 300k files it leaves as they are.
#[derive(Debug, Clone)]
pub(crate) struct DesiredTree<'c> {
    current: &'c CurrentTree,
    /// Wanted as they are in `current`.
    unchanged: HashSet<&'c str>,
    /// Wanted with new content, written as blobs.
    written: BTreeMap<String, BlobId>,
    /// Wanted, not compared yet.
    pending: BTreeMap<String, Vec<u8>>,
    /// How many bytes `pending` holds.
    pending_bytes: usize,
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
    pub upserts: BTreeMap<String, Content>,
    /// Files to remove.
    pub removals: BTreeSet<String>,
}

impl Changes {
    /// Whether the pass changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }
}

impl<'c> DesiredTree<'c> {
    /// Wants nothing yet; `current` is the managed part of the branch.
    pub(crate) fn new(current: &'c CurrentTree) -> Self {
        DesiredTree {
            current,
            unchanged: HashSet::new(),
            written: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_bytes: 0,
            kept_requests: HashSet::new(),
            kept_outputs: HashSet::new(),
            rules: Vec::new(),
        }
    }

    /// Wants `bytes` at `path`, which must be in the managed area.
    pub(crate) fn file(&mut self, path: String, bytes: Vec<u8>) {
        debug_assert!(is_managed(&path), "{path} is outside the managed folders");
        self.unchanged.remove(path.as_str());
        self.written.remove(&path);
        self.pending_bytes += bytes.len();
        if let Some(old) = self.pending.insert(path, bytes) {
            self.pending_bytes -= old.len();
        }
    }

    /// How many bytes of wanted files are held in memory, not compared or written yet.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Compares every file held as bytes with the current tree (by `blob_id`), so that
    /// a pass over many requests does not hold all their outputs: a file with the content
    /// it has is kept as a path only, and the others go to `write` in one batch of
    /// `(path, bytes)`, which returns their blob ids in order.
    pub(crate) fn spill<E>(
        &mut self,
        blob_id: impl Fn(&[u8]) -> BlobId,
        write: impl FnOnce(&[(&str, &[u8])]) -> Result<Vec<BlobId>, E>,
    ) -> Result<(), E> {
        let mut changed = Vec::new();
        for (path, bytes) in std::mem::take(&mut self.pending) {
            // Hashed only to compare: `write` gives the ids of what it writes.
            match self.current.get_key_value(&path) {
                Some((current_path, current_id)) if *current_id == blob_id(&bytes) => {
                    self.unchanged.insert(current_path);
                }
                _ => changed.push((path, bytes)),
            }
        }
        self.pending_bytes = 0;
        let batch: Vec<(&str, &[u8])> = changed
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
            .collect();
        let ids = write(&batch)?;
        drop(batch);
        self.written
            .extend(changed.into_iter().map(|(path, _)| path).zip(ids));
        Ok(())
    }

    /// Wants `files` under `dir` plus their `SHA256SUMS`; returns the unit's digest.
    pub(crate) fn unit(&mut self, dir: &str, files: &BTreeMap<String, Vec<u8>>) -> String {
        let sums = sums_file(files);
        for (path, bytes) in files {
            self.file(format!("{dir}/{path}"), bytes.clone());
        }
        let digest = unit_digest(&sums);
        self.file(format!("{dir}/{DIGEST_FILE}"), sums.into_bytes());
        digest
    }

    /// Leaves what `rule` covers as it is.
    pub(crate) fn keep(&mut self, rule: Keep) {
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
        let owned = Owned::of(path);
        let by_key = match &owned {
            Some(Owned::RequestOutput(key)) => {
                self.kept_requests.contains(key) || self.kept_outputs.contains(key)
            }
            Some(Owned::RequestStatus(key)) => self.kept_requests.contains(key),
            _ => false,
        };
        by_key
            || self
                .rules
                .iter()
                .any(|rule| rule.covers(path, owned.as_ref()))
    }

    /// What must change to turn the current tree into this one. `blob_id` computes the
    /// id a content would have, to compare without writing anything.
    pub(crate) fn changes(self, blob_id: impl Fn(&[u8]) -> BlobId) -> Changes {
        let mut changes = Changes::default();
        for path in self.current.keys() {
            let wanted = self.unchanged.contains(path.as_str())
                || self.pending.contains_key(path)
                || self.written.contains_key(path);
            if !wanted && is_managed(path) && !self.kept(path) {
                changes.removals.insert(path.clone());
            }
        }
        // The tree is consumed: its bytes move into the changes instead of being copied.
        for (path, bytes) in self.pending {
            let current = self.current.get(&path);
            if current.is_none_or(|id| *id != blob_id(&bytes)) {
                changes.upserts.insert(path, Content::Bytes(bytes));
            }
        }
        for (path, id) in self.written {
            changes.upserts.insert(path, Content::Blob(id));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> BlobId {
        crate::git::sha1_blob_id(bytes)
    }

    fn current(pairs: &[(&str, &str)]) -> CurrentTree {
        let pairs = pairs.iter();
        pairs
            .map(|(p, c)| (p.to_string(), id(c.as_bytes())))
            .collect()
    }

    fn key(name: &str) -> RequestKey {
        RequestKey::test("redis", "default", name)
    }

    #[test]
    fn an_identical_tree_changes_nothing() {
        let now = current(&[("status/redis/default/a.yaml", "ok")]);
        let mut desired = DesiredTree::new(&now);
        desired.file("status/redis/default/a.yaml".into(), b"ok".to_vec());
        assert!(desired.changes(id).is_empty());
    }

    #[test]
    fn unexplained_managed_files_are_removed_and_inputs_never() {
        let now = current(&[
            ("state/dev/resources/default/redis/a/x.yaml", "x"),
            ("requests/redis/a.yaml", "r"),
        ]);
        let changes = DesiredTree::new(&now).changes(id);
        assert_eq!(
            changes.removals,
            BTreeSet::from(["state/dev/resources/default/redis/a/x.yaml".to_string()])
        );
    }

    #[test]
    fn kept_requests_and_folders_are_left_alone() {
        let now = current(&[
            ("state/dev/resources/default/redis/a/x.yaml", "x"),
            ("status/redis/default/a.yaml", "s"),
            ("state/dev/resources/default/redis/b/x.yaml", "x"),
            ("state/prod/resources/default/redis/b/x.yaml", "x"),
        ]);
        let mut desired = DesiredTree::new(&now);
        desired.keep(Keep::Request(key("a")));
        desired.keep(Keep::UnknownDestinations(BTreeSet::from([
            "dev".to_string()
        ])));
        let changes = desired.changes(id);
        assert_eq!(
            changes.removals,
            BTreeSet::from(["state/dev/resources/default/redis/b/x.yaml".to_string()])
        );
    }

    #[test]
    fn spilled_files_are_written_once_unless_already_current() {
        let now = current(&[
            ("status/redis/default/a.yaml", "same"),
            ("status/redis/default/c.yaml", "gone"),
        ]);
        let mut desired = DesiredTree::new(&now);
        desired.file("status/redis/default/a.yaml".into(), b"same".to_vec());
        desired.file("status/redis/default/b.yaml".into(), b"new".to_vec());
        assert_eq!(desired.pending_bytes(), 7);
        let mut written = Vec::new();
        let spilled = desired.spill(id, |batch| {
            written.extend(batch.iter().map(|(path, _)| path.to_string()));
            Ok::<_, ()>(batch.iter().map(|(_, bytes)| id(bytes)).collect())
        });
        assert_eq!(spilled, Ok(()));
        assert_eq!(written, ["status/redis/default/b.yaml"]);
        assert_eq!(desired.pending_bytes(), 0);
        let changes = desired.changes(id);
        let upserts: Vec<(&String, &Content)> = changes.upserts.iter().collect();
        let blob = Content::Blob(id(b"new"));
        assert_eq!(
            upserts,
            [(&"status/redis/default/b.yaml".to_string(), &blob)]
        );
        let removed = BTreeSet::from(["status/redis/default/c.yaml".to_string()]);
        assert_eq!(
            changes.removals, removed,
            "a.yaml, compared when spilled, stays"
        );
    }

    #[test]
    fn units_carry_their_sums_and_digest() {
        let now = CurrentTree::new();
        let mut desired = DesiredTree::new(&now);
        let files = BTreeMap::from([("svc.yaml".to_string(), b"kind: Service".to_vec())]);
        let digest = desired.unit("state/dev/resources/default/redis/a", &files);
        let changes = desired.changes(id);
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
