//! [`Store`] on a local repository through gix: trees are read and edited in the object
//! database, and the branch moves by a compare-and-swap ref update.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::objects::{object_id, write_objects};
use super::tree_edit::{Edit, write_edited};
use super::{BlobId, CommitRequest, GitError, PartialRead, Skipped, Snapshot, Store};
use crate::model::SourceFile;
use crate::path_segment::Segment;
use crate::state::{Changes, Content};

/// Reads of fewer objects than this go through the long-lived handle
/// ([`GixStore::reader`]).
const LARGE_READ: usize = 256;

/// The bytes of objects the long-lived handle keeps once read: a pass reads some of
/// the same folders several times (a diff, then a listing, then the commit's edit),
/// and a namespace's folder of thousands of requests is a tree of about 100 KiB.
const SMALL_READ_CACHE: usize = 4 << 20;

/// How many files [`Store::read`] reads through one [`GixStore::reader`].
const READ_CHUNK: usize = 1024;

/// A branch of a local Git repository.
pub struct GixStore {
    repo: gix::ThreadSafeRepository,
    /// The handle small reads share, with its cache of objects: shared too by the
    /// stores [`GixStore::at_reference`] makes, so that a daemon's syncs find the trees
    /// the previous sync read (objects never change under their id).
    small: std::sync::Arc<Mutex<gix::Repository>>,
    path: PathBuf,
    reference: String,
    /// A revision (`HEAD~1`, a commit id, a tag) read instead of the branch; such a
    /// store cannot commit.
    pub(super) revision: Option<String>,
    /// SHA-1 or SHA-256, as the repository says.
    object_hash: gix::hash::Kind,
}

impl GixStore {
    /// Opens the repository `path` is in (a worktree, a folder of one, or a bare
    /// repository) to work on `branch`; without one, on the branch `HEAD` names (even
    /// before its first commit).
    pub fn open(path: &Path, branch: Option<&str>) -> Result<Self, GitError> {
        let (repo, path) = discover_repo(path)?;
        let path = path.as_path();
        let head = repo.head_name().ok().flatten();
        let head = head.as_ref().map(|name| name.as_bstr().to_string());
        let head = head
            .as_deref()
            .and_then(|name| name.strip_prefix("refs/heads/"));
        let Some(branch) = branch.or(head) else {
            return Err(GitError::Open {
                path: path.display().to_string(),
                message: "HEAD names no branch (detached?): pass --branch".into(),
            });
        };
        let reference = format!("refs/heads/{branch}");
        Ok(Self::with(repo, path, reference, None))
    }

    /// Opens the repository `path` is in to read the commit `revision` names (anything
    /// `git rev-parse` takes). Committing to it fails.
    pub(crate) fn open_revision(path: &Path, revision: &str) -> Result<Self, GitError> {
        let (repo, path) = discover_repo(path)?;
        let path = path.as_path();
        Ok(Self::with(
            repo,
            path,
            revision.to_string(),
            Some(revision.to_string()),
        ))
    }

    /// Opens the repository at `path` to work on the full reference name `reference`
    /// (e.g. `refs/heads/main`), which need not exist yet.
    pub(crate) fn open_reference(path: &Path, reference: &str) -> Result<Self, GitError> {
        let repo = open_repo(path)?;
        Ok(Self::with(repo, path, reference.to_string(), None))
    }

    fn with(
        repo: gix::Repository,
        path: &Path,
        reference: String,
        revision: Option<String>,
    ) -> Self {
        let mut small = repo.clone();
        small.object_cache_size(SMALL_READ_CACHE);
        GixStore {
            object_hash: repo.object_hash(),
            small: std::sync::Arc::new(Mutex::new(small)),
            repo: repo.into_sync(),
            path: path.to_path_buf(),
            reference,
            revision,
        }
    }

    /// The ref `reference` of the same repository, sharing this store's object
    /// database: the pack indexes it loaded stay loaded (loading them costs more as the
    /// repository grows, about a millisecond at 100k requests).
    pub fn at_reference(&self, reference: &str) -> GixStore {
        GixStore {
            repo: self.repo.clone(),
            small: self.small.clone(),
            path: self.path.clone(),
            reference: reference.to_string(),
            revision: None,
            object_hash: self.object_hash,
        }
    }

    /// Checks that the branch (or revision) names a commit, with an error that says
    /// what to do when it does not: a repository with no commits yet, a branch that
    /// does not exist (and which do, the closest first), a revision not fetched. Commands
    /// that read a branch call it first, so that a typo never reads as an empty platform.
    pub(crate) fn require_commit(&self) -> Result<(), GitError> {
        let repo = self.reader(1)?;
        let path = self.path.display().to_string();
        let branches = || -> Result<Vec<String>, GitError> {
            let references = repo.references().map_err(|e| GitError::Read {
                what: format!("the branches of {path}"),
                message: e.to_string(),
            })?;
            let local = references.local_branches().map_err(|e| GitError::Read {
                what: format!("the branches of {path}"),
                message: e.to_string(),
            })?;
            Ok(local
                .filter_map(Result::ok)
                .map(|r| r.name().shorten().to_string())
                .collect())
        };
        if let Some(revision) = &self.revision {
            let Err(err) = repo.rev_parse_single(revision.as_str()) else {
                return Ok(());
            };
            if branches()?.is_empty() {
                return Err(GitError::NoCommits { path });
            }
            return Err(GitError::UnknownRevision {
                revision: revision.clone(),
                path,
                message: err.to_string(),
            });
        }
        if self.tip_in(&repo)?.is_some() {
            return Ok(());
        }
        let mut existing = branches()?;
        if existing.is_empty() {
            return Err(GitError::NoCommits { path });
        }
        let branch = self.reference.trim_start_matches("refs/heads/").to_string();
        let likeness = |name: &String| strsim::jaro_winkler(name, &branch);
        existing.sort_by(|a, b| likeness(b).total_cmp(&likeness(a)).then(a.cmp(b)));
        Err(GitError::NoBranch {
            path,
            branch,
            existing,
        })
    }

    /// The full name of the branch, `refs/heads/<branch>`.
    pub(crate) fn reference(&self) -> &str {
        &self.reference
    }

    /// The repository folder given to [`GixStore::open`].
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn read_error(&self, what: &str) -> impl Fn(gix::Error) -> GitError {
        let what = format!("{what} in {}", self.path.display());
        move |e| GitError::Read {
            what: what.clone(),
            message: e.to_string(),
        }
    }

    /// The input files (`promises/`, `destinations/`, `requests/`) that differ between
    /// two commits. Only subtrees whose ids differ are read, so when nothing changed
    /// this costs a few object reads, whatever the size of the repository.
    pub fn changed_inputs(&self, old: &str, new: &str) -> Result<Vec<String>, GitError> {
        self.changed_under(old, new, &crate::model::INPUT_DIRS)
    }

    /// The files under the top folders `dirs` that differ between two commits (added,
    /// changed or removed), read as [`GixStore::changed_inputs`] reads them.
    pub(crate) fn changed_under(
        &self,
        old: &str,
        new: &str,
        dirs: &[&str],
    ) -> Result<Vec<String>, GitError> {
        let repo = self.reader(1)?;
        let tree_of = |commit: &str| -> Result<gix::ObjectId, GitError> {
            let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| GitError::Read {
                what: commit.to_string(),
                message: e.to_string(),
            })?;
            let commit = repo.find_commit(id).map_err(self.read_error("a commit"))?;
            Ok(commit
                .tree_id()
                .map_err(self.read_error("a commit's tree"))?
                .detach())
        };
        let (old_tree, new_tree) = (tree_of(old)?, tree_of(new)?);
        let mut changed = Vec::new();
        for dir in dirs {
            let old_id = self.entry(&repo, old_tree, dir)?;
            let new_id = self.entry(&repo, new_tree, dir)?;
            self.compare(&repo, dir, old_id, new_id, &mut changed)?;
        }
        Ok(changed)
    }

    /// The id and whether it is a tree, of the entry `name` of tree `tree`.
    fn entry(
        &self,
        repo: &gix::Repository,
        tree: gix::ObjectId,
        name: &str,
    ) -> Result<Option<(gix::ObjectId, bool)>, GitError> {
        let tree = repo.find_tree(tree).map_err(self.read_error("a tree"))?;
        let found = tree.find_entry(name);
        Ok(found.map(|e| (e.object_id(), e.mode().is_tree())))
    }

    /// Adds the files under `path` that differ between two entries (an id, and whether
    /// it is a tree): gix's tree diff, which skips subtrees whose ids are equal.
    fn compare(
        &self,
        repo: &gix::Repository,
        path: &str,
        old: Option<(gix::ObjectId, bool)>,
        new: Option<(gix::ObjectId, bool)>,
        changed: &mut Vec<String>,
    ) -> Result<(), GitError> {
        use gix::diff::tree::{Recorder, State, recorder::Change};
        if old == new {
            return Ok(());
        }
        let is_file = |entry: Option<(gix::ObjectId, bool)>| entry.is_some_and(|(_, tree)| !tree);
        if is_file(old) || is_file(new) {
            changed.push(path.to_string());
        }
        let tree = |entry: Option<(gix::ObjectId, bool)>| -> Result<Vec<u8>, GitError> {
            match entry {
                Some((id, true)) => Ok(repo
                    .find_tree(id)
                    .map_err(self.read_error(path))?
                    .detach()
                    .data),
                // A tree with no entries.
                _ => Ok(Vec::new()),
            }
        };
        let (old_tree, new_tree) = (tree(old)?, tree(new)?);
        let mut recorder = Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old_tree, self.object_hash),
            gix::objs::TreeRefIter::from_bytes(&new_tree, self.object_hash),
            State::default(),
            &repo.objects,
            &mut recorder,
        )
        .map_err(|e| GitError::Read {
            what: format!("the changes under {path} in {}", self.path.display()),
            message: e.to_string(),
        })?;
        for change in recorder.records {
            let (modes, file) = match &change {
                Change::Addition {
                    entry_mode, path, ..
                }
                | Change::Deletion {
                    entry_mode, path, ..
                } => ([*entry_mode, *entry_mode], path),
                Change::Modification {
                    previous_entry_mode,
                    entry_mode,
                    path,
                    ..
                } => ([*previous_entry_mode, *entry_mode], path),
            };
            if modes.iter().any(|mode| !mode.is_tree()) {
                changed.push(format!("{path}/{file}"));
            }
        }
        Ok(())
    }

    /// The commit the store reads: its revision's, or its branch's tip (`None` before
    /// the branch's first commit).
    pub(super) fn tip_in(&self, repo: &gix::Repository) -> Result<Option<gix::ObjectId>, GitError> {
        if let Some(revision) = &self.revision {
            let id = repo
                .rev_parse_single(revision.as_str())
                .map_err(|e| GitError::Read {
                    what: format!("revision {revision:?} in {}", self.path.display()),
                    message: e.to_string(),
                })?;
            return Ok(Some(id.detach()));
        }
        let reference = repo
            .try_find_reference(self.reference.as_str())
            .map_err(self.read_error(&self.reference))?;
        let Some(mut reference) = reference else {
            return Ok(None);
        };
        let commit_id = reference
            .peel_to_id()
            .map_err(self.read_error(&self.reference))?;
        Ok(Some(commit_id.detach()))
    }

    /// Every file of `commit_id`'s tree.
    fn snapshot_of(
        &self,
        repo: &gix::Repository,
        commit_id: gix::ObjectId,
    ) -> Result<Snapshot, GitError> {
        let commit = repo
            .find_commit(commit_id)
            .map_err(self.read_error("the branch's commit"))?;
        let tree = commit
            .tree()
            .map_err(self.read_error("the commit's tree"))?;
        let entries = tree
            .traverse()
            .breadthfirst
            .files()
            .map_err(self.read_error("the commit's tree"))?;
        let mut files = std::collections::BTreeMap::new();
        let mut skipped = std::collections::BTreeMap::new();
        for entry in entries {
            let path = entry.filepath.to_string();
            if entry.mode.is_blob() {
                files.insert(path, entry.oid);
            } else if entry.mode.is_link() {
                skipped.insert(path, Skipped::Symlink);
            } else if entry.mode.is_commit() {
                skipped.insert(path, Skipped::Submodule);
            }
        }
        Ok(Snapshot {
            commit: Some(commit_id.to_string()),
            files,
            skipped,
        })
    }

    /// A blob to write, with its id.
    fn blob<'b>(&self, bytes: &'b [u8]) -> (gix::ObjectId, gix::objs::Kind, &'b [u8]) {
        let kind = gix::objs::Kind::Blob;
        (object_id(self.object_hash, kind, bytes), kind, bytes)
    }

    /// Reads the blobs at `paths` of `snapshot` through `repo`.
    fn read_with(
        &self,
        repo: &gix::Repository,
        snapshot: &Snapshot,
        paths: &[&str],
    ) -> Result<Vec<SourceFile>, GitError> {
        paths
            .iter()
            .map(|path| {
                let blob = snapshot.files.get(*path).ok_or_else(|| GitError::Read {
                    what: (*path).to_string(),
                    message: "not in the commit".into(),
                })?;
                let data = repo.find_blob(*blob).map_err(self.read_error(path))?;
                Ok(SourceFile {
                    path: (*path).to_string(),
                    blob: blob.to_string(),
                    bytes: data.data.clone(),
                })
            })
            .collect()
    }

    /// A handle to read about `objects` objects through.
    ///
    /// A large read gets the repository opened anew: what its object database maps of
    /// pack files is unmapped when it is dropped. Pages of a pack read through the
    /// long-lived handle would stay counted in the process's memory for the whole pass
    /// (98 MiB of a 326 MiB peak at 100k requests), though they are only the kernel's
    /// cache. A small read gets the long-lived handle: opening anew loads and checks
    /// every pack index, which costs more as the repository grows (a 14 MiB index at
    /// 100k requests, about a millisecond each time) than the read itself.
    pub(super) fn reader(&self, objects: usize) -> Result<Reader<'_>, GitError> {
        if objects < LARGE_READ {
            let shared = self.small.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(Reader::Shared(shared));
        }
        open_repo(&self.path).map(|repo| Reader::Own(Box::new(repo)))
    }

    /// A lock file that stops the branch from moving: the branch's own (`<ref>.lock`) or
    /// that of the packed refs. gix's error does not say which, so the disk is looked at.
    fn ref_lock(&self, repo: &gix::Repository) -> Option<PathBuf> {
        let common = repo.common_dir();
        let own = common.join(format!("{}.lock", self.reference));
        let packed = common.join("packed-refs.lock");
        [own, packed]
            .into_iter()
            .find(|lock| fs_err::symlink_metadata(lock).is_ok())
    }

    fn write_error(&self, what: &str) -> impl Fn(gix::Error) -> GitError {
        let what = format!("{what} in {}", self.path.display());
        move |e| GitError::Write {
            what: what.clone(),
            message: e.to_string(),
        }
    }
}

/// A handle to read through ([`GixStore::reader`]): the shared one, held until it is
/// dropped, or one of its own. The shared one is behind a lock that is not reentrant:
/// code holding it must not ask the same store for another small read.
pub(super) enum Reader<'s> {
    Shared(MutexGuard<'s, gix::Repository>),
    Own(Box<gix::Repository>),
}

impl Deref for Reader<'_> {
    type Target = gix::Repository;

    fn deref(&self) -> &gix::Repository {
        match self {
            Reader::Shared(repo) => repo,
            Reader::Own(repo) => repo,
        }
    }
}

/// The repository `path` is in, found as `git` finds it (from a subfolder of a worktree,
/// or a bare repository itself), and its top folder: the worktree, or the bare
/// repository's own folder.
fn discover_repo(path: &Path) -> Result<(gix::Repository, PathBuf), GitError> {
    let repo = gix::discover(path).map_err(|e| GitError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let top = repo
        .workdir()
        .unwrap_or_else(|| repo.git_dir())
        .to_path_buf();
    Ok((repo, top))
}

/// The top folder of the repository `path` is in (see [`discover_repo`]).
pub(crate) fn repository_top(path: &Path) -> Result<PathBuf, GitError> {
    discover_repo(path).map(|(_, top)| top)
}

fn open_repo(path: &Path) -> Result<gix::Repository, GitError> {
    gix::open(path).map_err(|e| GitError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

impl Store for GixStore {
    fn snapshot(&self) -> Result<Snapshot, GitError> {
        // Every tree of the branch.
        let repo = self.reader(usize::MAX)?;
        match self.tip_in(&repo)? {
            Some(commit) => self.snapshot_of(&repo, commit),
            None => Ok(Snapshot::default()),
        }
    }

    fn partial(&self) -> Option<&dyn PartialRead> {
        Some(self)
    }

    fn export_folder(
        &self,
        commit: &str,
        folder: &str,
    ) -> Result<Option<tempfile::TempDir>, GitError> {
        let repo = self.reader(1)?;
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| GitError::Read {
            what: commit.to_string(),
            message: e.to_string(),
        })?;
        let tree = repo
            .find_commit(id)
            .map_err(self.read_error("a commit"))?
            .tree_id()
            .map_err(self.read_error("a commit's tree"))?
            .detach();
        let Some((folder_tree, true)) = self.entry(&repo, tree, folder)? else {
            return Ok(None);
        };
        let entries = repo
            .find_tree(folder_tree)
            .map_err(self.read_error("a tree"))?
            .traverse()
            .breadthfirst
            .files()
            .map_err(self.read_error("a tree"))?;
        let write_error = |path: &Path, e: std::io::Error| GitError::Read {
            what: format!("{folder}/ of {commit}"),
            message: format!("cannot write {}: {e}", path.display()),
        };
        let made = tempfile::Builder::new()
            .prefix("promised-export-")
            .tempdir()
            .map_err(|e| write_error(&std::env::temp_dir(), e))?;
        let into = made.path();
        for entry in entries.iter().filter(|e| e.mode.is_blob()) {
            let relative = entry.filepath.to_string();
            // Git allows names no file system should get (`..`, `.git`): such a file is
            // left out rather than written outside `into`.
            if relative.split('/').any(|part| Segment::new(part).is_err()) {
                tracing::warn!(path = %relative, "not exported: not a safe path");
                continue;
            }
            let path = into.join(folder).join(&relative);
            let blob = repo
                .find_blob(entry.oid)
                .map_err(self.read_error("a blob"))?;
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
            }
            fs_err::write(&path, &blob.data).map_err(|e| write_error(&path, e))?;
            let mode = if entry.mode.is_executable() {
                0o555
            } else {
                0o444
            };
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| write_error(&path, e))?;
        }
        Ok(Some(made))
    }

    fn read(&self, snapshot: &Snapshot, paths: &[&str]) -> Result<Vec<SourceFile>, GitError> {
        let mut files = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(READ_CHUNK) {
            files.extend(self.read_with(&*self.reader(chunk.len())?, snapshot, chunk)?);
        }
        Ok(files)
    }

    fn read_blob(&self, id: &BlobId, what: &str) -> Result<Vec<u8>, GitError> {
        let failed = |message: String| GitError::Read {
            what: format!("{what} (blob {id})"),
            message,
        };
        let repo = self.reader(1)?;
        let blob = repo.find_blob(*id).map_err(|e| failed(e.to_string()))?;
        Ok(blob.data.clone())
    }

    fn blob_id(&self, bytes: &[u8]) -> BlobId {
        self.blob(bytes).0
    }

    /// `<git dir>/promised/<reference>`: passes on two branches of one repository keep
    /// apart what each derives from its own. A store of a revision writes nothing.
    fn cache_dir(&self) -> Option<PathBuf> {
        let cache = self.repo.git_dir().join("promised").join(&self.reference);
        self.revision.is_none().then_some(cache)
    }

    fn write_blobs(&self, blobs: &[(&str, &[u8])]) -> Result<Vec<BlobId>, GitError> {
        let repo = self.repo.to_thread_local();
        let objects = blobs.iter().map(|(_, bytes)| self.blob(bytes));
        let objects: Vec<(gix::ObjectId, gix::objs::Kind, &[u8])> = objects.collect();
        write_objects(&repo, &objects)?;
        Ok(objects.iter().map(|(id, _, _)| *id).collect())
    }

    fn commit(
        &self,
        base: &Snapshot,
        changes: &Changes,
        request: &CommitRequest<'_>,
    ) -> Result<String, GitError> {
        if let Some(revision) = &self.revision {
            return Err(GitError::Write {
                what: format!("revision {revision:?}"),
                message: "a revision is read-only; open the branch to commit".into(),
            });
        }
        // The trees read are those along the changed paths.
        let repo = self.reader(changes.upserts.len() + changes.removals.len())?;
        let parent = base
            .commit
            .as_deref()
            .map(|hex| gix::ObjectId::from_hex(hex.as_bytes()))
            .transpose()
            .map_err(|e| GitError::Read {
                what: self.reference.clone(),
                message: e.to_string(),
            })?;
        let base_tree = match parent {
            Some(id) => Some(
                repo.find_commit(id)
                    .and_then(|c| c.tree_id())
                    .map_err(self.read_error("the base commit's tree"))?
                    .detach(),
            ),
            None => None,
        };
        let mut edits = Vec::with_capacity(changes.upserts.len() + changes.removals.len());
        let mut blobs = Vec::new();
        for (path, content) in &changes.upserts {
            let id = match content {
                Content::Bytes(bytes) => {
                    let blob = self.blob(bytes);
                    blobs.push(blob);
                    blob.0
                }
                Content::Blob(id) => *id,
            };
            edits.push((path.as_str(), Edit::Upsert(id)));
        }
        let removals = changes.removals.iter();
        let removals = removals.filter(|path| !changes.upserts.contains_key(*path));
        edits.extend(removals.map(|path| (path.as_str(), Edit::Remove)));
        edits.sort_by(|a, b| a.0.cmp(b.0));
        write_objects(&repo, &blobs)?;
        drop(blobs);
        let tree = write_edited(&repo, base_tree, &edits)?;

        let signature = gix::actor::Signature {
            name: request.name.into(),
            email: request.email.into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        let signature = signature.to_ref(&mut time);
        let result = repo.commit_as(
            signature,
            signature,
            self.reference.as_str(),
            request.message,
            tree,
            parent,
        );
        match result {
            Ok(id) => Ok(id.to_string()),
            Err(err) => {
                // Tell a lost race apart from other failures by looking at the ref again.
                let now = self.snapshot().ok().and_then(|s| s.commit);
                if now != base.commit {
                    return Err(GitError::Conflict {
                        reference: self.reference.clone(),
                        expected: base.commit.clone().unwrap_or_else(|| "nothing".into()),
                    });
                }
                if let Some(lock) = self.ref_lock(&repo) {
                    return Err(GitError::Locked {
                        reference: self.reference.clone(),
                        lock: lock.display().to_string(),
                    });
                }
                Err(self
                    .write_error(&format!("the commit on {}", self.reference))(
                    err,
                ))
            }
        }
    }
}
