//! The Git edge: reading a branch's files and committing a pass's changes.
//!
//! [`Store`] is what the reconcile loop needs from Git; [`GixStore`] implements it with
//! gix on a local repository (bare or not), without touching a worktree or index.

mod gix_store;
mod objects;
mod partial;
mod remote;
mod tree_edit;
mod worktree;

use std::collections::BTreeMap;

pub use gix_store::GixStore;
pub(crate) use gix_store::repository_top;
pub(crate) use remote::{GitCli, PushOutcome, RefUpdate, Remote, fetched_promised_ref};
pub(crate) use worktree::{
    WorktreeCheck, check_worktree, sync_worktree, uncommitted_inputs, uncommitted_warning,
};
pub(crate) use worktree::{checked_out, init_repository};

use crate::model::SourceFile;
use crate::state::Changes;

/// A blob's id: 20 bytes, not the 40 characters of its hex, since a pass lists
/// every file of the branch (400k at 100k requests) and keeps the managed ones.
pub type BlobId = gix::ObjectId;

/// The id Git gives `bytes` as a blob in a SHA-1 repository, without a repository:
/// for stores that keep their blobs in memory.
#[cfg(test)]
pub(crate) fn sha1_blob_id(bytes: &[u8]) -> BlobId {
    objects::object_id(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
}

/// `; its branches: a, b` (or nothing, when it has none).
fn branch_list(existing: &[String]) -> String {
    match existing.is_empty() {
        true => String::new(),
        false => format!("; its branches: {}", existing.join(", ")),
    }
}

/// The blob id that `hex` spells, as a record in a status file holds it; `what` names
/// the file, for the error.
pub(crate) fn parse_blob_id(hex: &str, what: &str) -> Result<BlobId, GitError> {
    BlobId::from_hex(hex.as_bytes()).map_err(|e| GitError::Read {
        what: what.to_string(),
        message: format!("{hex:?} is not a blob id: {e}"),
    })
}

/// The files of a branch at one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The commit read; `None` for a branch with no commits yet.
    pub(crate) commit: Option<String>,
    /// Every file (blob) of the commit's tree: path to blob id.
    pub(crate) files: BTreeMap<String, BlobId>,
    /// Entries of the tree that are neither files nor folders, by path: they are never
    /// read (a link is not followed), and inputs among them are reported.
    pub(crate) skipped: BTreeMap<String, Skipped>,
}

/// A tree entry that `promised` does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// A symbolic link (mode 120000).
    Symlink,
    /// A submodule: a gitlink to a commit of another repository (mode 160000).
    Submodule,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skipped::Symlink => {
                "a symbolic link, which promised does not follow: commit the file itself"
            }
            Skipped::Submodule => {
                "a submodule, whose files promised does not read: commit the files themselves"
            }
        })
    }
}

impl Snapshot {
    /// The paths of the files that `wanted` picks, in order, to hand to [`Store::read`].
    pub(crate) fn paths(&self, wanted: impl Fn(&str) -> bool) -> Vec<&str> {
        let paths = self.files.keys().map(String::as_str);
        paths.filter(|path| wanted(path)).collect()
    }
}

/// Who commits, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest<'a> {
    /// Author and committer name.
    pub name: &'a str,
    /// Author and committer email.
    pub email: &'a str,
    /// The full message: subject, body, trailers.
    pub message: &'a str,
}

/// What the reconcile loop needs from a Git repository. A pass reads from it on two
/// threads at once.
pub trait Store: Sync {
    /// Lists the files of the branch as it is now.
    fn snapshot(&self) -> Result<Snapshot, GitError>;

    /// Reads the content of the files at `paths` of `snapshot`.
    fn read(&self, snapshot: &Snapshot, paths: &[&str]) -> Result<Vec<SourceFile>, GitError>;

    /// Reads one blob by id, from any commit of the repository's history: how a pass
    /// reads a removed request or Promise as last committed, for its delete workflow.
    /// `what` (the path it had) only names a failure.
    fn read_blob(&self, id: &BlobId, what: &str) -> Result<Vec<u8>, GitError>;

    /// The blob id `bytes` would get, without writing it.
    fn blob_id(&self, bytes: &[u8]) -> BlobId;

    /// Writes blobs (`(path, bytes)`; the path only names a failure) to the object
    /// database, and returns their ids in order. Unreferenced, they are left for `git gc`.
    fn write_blobs(&self, blobs: &[(&str, &[u8])]) -> Result<Vec<BlobId>, GitError>;

    /// Commits `changes` on top of `base` and moves the branch only if it still points at
    /// `base.commit` (compare-and-swap). Returns the new commit id.
    fn commit(
        &self,
        base: &Snapshot,
        changes: &Changes,
        request: &CommitRequest<'_>,
    ) -> Result<String, GitError>;

    /// A folder of the repository's own, outside its history, where promised may keep
    /// what it can derive again from Git (see `reconcile::record_cache`); `None` when
    /// the store has none.
    fn cache_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Reading part of a commit, when the store can: then a pass after a small change
    /// reads only what that change touches.
    fn partial(&self) -> Option<&dyn PartialRead> {
        None
    }

    /// Writes the files of the folder `folder` of `commit` to a new temporary folder (as
    /// `<it>/<folder>/...`, executable files executable), skipping symbolic links,
    /// submodules and names that are not safe path segments; `None`, with nothing made,
    /// when the commit has no such folder. A store that cannot says it has none.
    fn export_folder(
        &self,
        commit: &str,
        folder: &str,
    ) -> Result<Option<tempfile::TempDir>, GitError> {
        let _ = (commit, folder);
        Ok(None)
    }
}

/// Reading part of a commit, at a cost that follows what is read rather than the size of
/// the tree: what a narrow pass needs (see [`crate::reconcile`]).
pub trait PartialRead {
    /// The commit the store reads now; `None` before its branch's first commit.
    fn tip(&self) -> Result<Option<String>, GitError>;

    /// The files of `commit` that `wanted` picks. It is asked of each folder (with
    /// `true`) before the folder is read, and of each file of a folder that is read.
    /// Symbolic links and submodules that it picks are listed as skipped.
    fn select(
        &self,
        commit: &str,
        wanted: &dyn Fn(&str, bool) -> bool,
    ) -> Result<Snapshot, GitError>;

    /// The id of the folder at `path` in `commit`; `None` when there is no folder there.
    fn folder(&self, commit: &str, path: &str) -> Result<Option<String>, GitError>;
}

/// A Git operation that failed. Each names the repository, ref or path involved.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository could not be opened.
    #[error("cannot open a Git repository at {path}: {message}")]
    Open {
        /// The folder given.
        path: String,
        /// What gix said.
        message: String,
    },
    /// Reading a ref, commit, tree or blob failed.
    #[error("cannot read {what}: {message}")]
    Read {
        /// What was being read, e.g. `refs/heads/main` or a path.
        what: String,
        /// What gix said.
        message: String,
    },
    /// Writing objects failed.
    #[error("cannot write {what}: {message}")]
    Write {
        /// What was being written.
        what: String,
        /// What gix said.
        message: String,
    },
    /// The branch moved while the pass ran: someone else committed. Nothing was
    /// overwritten; run the pass again on the new commit.
    #[error(
        "{reference} moved from {expected} while the pass ran (another writer committed); \
         nothing was overwritten: run the pass again"
    )]
    Conflict {
        /// The branch.
        reference: String,
        /// The commit the pass started from.
        expected: String,
    },
    /// A lock file stops the branch from moving: another writer holds it, or one was
    /// cut short and left it.
    #[error(
        "cannot move {reference}: the lock file {lock} exists, so another git command is \
         updating it or one was cut short; if no git command runs in this repository, \
         remove it (rm '{lock}') and run again"
    )]
    Locked {
        /// The branch.
        reference: String,
        /// The lock file's path.
        lock: String,
    },
    /// The repository has no commit yet: nothing to read.
    #[error(
        "the repository at {path} has no commits yet: commit your promises/, \
         destinations/ and requests/ folders first (git add . && git commit)"
    )]
    NoCommits {
        /// The repository.
        path: String,
    },
    /// The branch asked for does not exist.
    #[error(
        "there is no branch {branch:?} in {path}{}: pass --branch with one of them",
        branch_list(existing)
    )]
    NoBranch {
        /// The repository.
        path: String,
        /// The branch asked for.
        branch: String,
        /// The branches there are, the closest first.
        existing: Vec<String>,
    },
    /// A revision that names no commit here.
    #[error(
        "{revision:?} names no commit in {path} ({message}); if it is a remote branch, \
         fetch it first (git fetch origin), and in a CI checkout fetch the whole history \
         (GitHub Actions: fetch-depth: 0)"
    )]
    UnknownRevision {
        /// The revision given.
        revision: String,
        /// The repository.
        path: String,
        /// What gix said.
        message: String,
    },
    /// The `git` program failed.
    #[error("`git {args}` in {dir} failed: {message}")]
    Command {
        /// Its arguments.
        args: String,
        /// Where it ran.
        dir: String,
        /// Its stderr, or why it did not start.
        message: String,
    },
}

/// Runs `git args` in `dir` for a test, failing it with git's stderr; returns stdout.
#[cfg(test)]
pub(crate) fn run_git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
