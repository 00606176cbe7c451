//! What a change would do, without writing anything: the pass runs on the head commit
//! over the requests the change touches, and its commit is captured instead of made.
//! The same code path as a real pass, so a plan and the reconcile after the merge agree.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Options, PassReport, Progress, ReconcileError, Scope, reconcile};
use crate::executor::Executor;
use crate::git::{BlobId, CommitRequest, GitError, Snapshot, Store};
use crate::model::is_script;
use crate::model::{LoadError, Problem, SourceFile, is_input};
use crate::state::layout::is_managed;
use crate::state::{Changes, Content};

/// How one file would change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    /// A new file.
    Added,
    /// A file whose content changes.
    Changed,
    /// A file that goes away.
    Removed,
}

/// One file the change would add, change or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileChange {
    /// Repository path.
    pub(crate) path: String,
    pub(crate) change: Change,
    /// Its content on the head commit, if any.
    pub(crate) before: Option<Vec<u8>>,
    /// Its content after the change, if any.
    pub(crate) after: Option<Vec<u8>>,
    /// The Git blob id of that content: what the real pass will commit at this path.
    pub(crate) blob: Option<BlobId>,
}

/// The outcome of a plan.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The pass as it would run.
    pub(crate) report: PassReport,
    /// Every file it would write or remove, by path.
    pub(crate) files: Vec<FileChange>,
}

/// Plans the change from `base` to `head`: reruns what the change touches (as `serve`
/// would), on `head`, and returns what would be committed.
pub(crate) fn plan(
    base: &dyn Store,
    head: &dyn Store,
    executor: &dyn Executor,
    options: &Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Plan, ReconcileError> {
    let (base_files, head_files) = (base.snapshot()?.files, head.snapshot()?.files);
    let inputs = |files: &BTreeMap<String, BlobId>| -> BTreeMap<String, BlobId> {
        let files = files
            .iter()
            .filter(|(path, _)| is_input(path) || is_script(path));
        files.map(|(path, blob)| (path.clone(), *blob)).collect()
    };
    let scope = Scope::from_input_changes(&inputs(&base_files), &inputs(&head_files));
    let edited = managed_edits(&base_files, &head_files);
    drop((base_files, head_files));
    let capture = Capture {
        store: head,
        changes: Mutex::new(None),
        blobs: HeldBlobs::default(),
    };
    let mut report = reconcile(&capture, None, &scope, executor, options, progress)?;
    report.problems.extend(edited.into_iter().map(|path| {
        let why = "this change edits a file promised writes: outputs under state/ are rebuilt \
                   from the inputs, but status/ holds the records a pass trusts (where each \
                   request is placed); revert the edit and change the inputs instead";
        LoadError::new(&path, Problem::new(why))
    }));
    let changes = capture
        .changes
        .into_inner()
        .expect("no panics hold the lock")
        .unwrap_or_default();

    let snapshot = head.snapshot()?;
    let existing: Vec<&str> = changes
        .upserts
        .keys()
        .chain(&changes.removals)
        .map(String::as_str)
        .filter(|p| snapshot.files.contains_key(*p))
        .collect();
    let before: BTreeMap<String, Vec<u8>> = head
        .read(&snapshot, &existing)?
        .into_iter()
        .map(|SourceFile { path, bytes, .. }| (path, bytes))
        .collect();
    let mut files: Vec<FileChange> = changes
        .upserts
        .into_iter()
        .map(|(path, after)| {
            let blob = match &after {
                Content::Bytes(bytes) => head.blob_id(bytes),
                Content::Blob(id) => *id,
            };
            let after = capture.blobs.bytes(after);
            FileChange {
                change: if before.contains_key(&path) {
                    Change::Changed
                } else {
                    Change::Added
                },
                before: before.get(&path).cloned(),
                blob: Some(blob),
                after: Some(after),
                path,
            }
        })
        .collect();
    files.extend(changes.removals.into_iter().map(|path| FileChange {
        change: Change::Removed,
        before: before.get(&path).cloned(),
        after: None,
        blob: None,
        path,
    }));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Plan { report, files })
}

/// The files under `state/` and `status/` that differ between `base` and `head`: what
/// the change itself edits there, when `base` is where it branched off. Only promised
/// writes these folders; a pull request that edits `status/` could move a request's
/// output past its Promise's selectors, since a pass keeps the placements it records.
fn managed_edits(base: &BTreeMap<String, BlobId>, head: &BTreeMap<String, BlobId>) -> Vec<String> {
    let changed = head
        .iter()
        .filter(|(path, blob)| is_managed(path) && base.get(*path) != Some(*blob))
        .map(|(path, _)| path);
    let removed = base
        .keys()
        .filter(|path| is_managed(path) && !head.contains_key(*path));
    let mut edited: Vec<String> = changed.chain(removed).cloned().collect();
    edited.sort();
    edited
}

/// A store whose commit is only recorded, and whose blobs stay in memory.
struct Capture<'a> {
    store: &'a dyn Store,
    changes: Mutex<Option<Changes>>,
    blobs: HeldBlobs,
}

/// Blobs kept in memory by id, for a store that writes nothing to disk.
#[derive(Default)]
pub(super) struct HeldBlobs(Mutex<BTreeMap<BlobId, Vec<u8>>>);

impl HeldBlobs {
    /// Keeps `blobs` under the ids `blob_id` gives them, and returns the ids in order.
    pub(super) fn write(
        &self,
        blobs: &[(&str, &[u8])],
        blob_id: impl Fn(&[u8]) -> BlobId,
    ) -> Vec<BlobId> {
        let mut kept = self.0.lock().expect("no panics hold the lock");
        let ids = blobs.iter().map(|(_, bytes)| {
            let id = blob_id(bytes);
            kept.insert(id, bytes.to_vec());
            id
        });
        ids.collect()
    }

    /// The bytes of the blob kept under `id`, if one is.
    pub(super) fn get(&self, id: &BlobId) -> Option<Vec<u8>> {
        let kept = self.0.lock().expect("no panics hold the lock");
        kept.get(id).cloned()
    }

    /// Whether no blob was kept.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.0.lock().expect("no panics hold the lock").is_empty()
    }

    /// The bytes of `content`: its own, or those of the blob kept under its id.
    pub(super) fn bytes(&self, content: Content) -> Vec<u8> {
        match content {
            Content::Bytes(bytes) => bytes,
            Content::Blob(id) => {
                let kept = self.0.lock().expect("no panics hold the lock");
                kept.get(&id)
                    .cloned()
                    .expect("a blob id names a blob written here")
            }
        }
    }
}

impl Store for Capture<'_> {
    fn snapshot(&self) -> Result<Snapshot, GitError> {
        self.store.snapshot()
    }

    fn read(&self, snapshot: &Snapshot, paths: &[&str]) -> Result<Vec<SourceFile>, GitError> {
        self.store.read(snapshot, paths)
    }

    fn read_blob(&self, id: &BlobId, what: &str) -> Result<Vec<u8>, GitError> {
        // A blob written ahead in this pass (an aggregate reads it back) is held here.
        match self.blobs.get(id) {
            Some(bytes) => Ok(bytes),
            None => self.store.read_blob(id, what),
        }
    }

    fn blob_id(&self, bytes: &[u8]) -> BlobId {
        self.store.blob_id(bytes)
    }

    fn export_folder(
        &self,
        commit: &str,
        folder: &str,
    ) -> Result<Option<tempfile::TempDir>, GitError> {
        self.store.export_folder(commit, folder)
    }

    fn write_blobs(&self, blobs: &[(&str, &[u8])]) -> Result<Vec<BlobId>, GitError> {
        Ok(self.blobs.write(blobs, |bytes| self.store.blob_id(bytes)))
    }

    fn commit(
        &self,
        _: &Snapshot,
        changes: &Changes,
        _: &CommitRequest<'_>,
    ) -> Result<String, GitError> {
        *self.changes.lock().expect("no panics hold the lock") = Some(changes.clone());
        Ok("(plan: not committed)".into())
    }
}
