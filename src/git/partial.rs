//! [`PartialRead`] for [`GixStore`]: a walk that reads only the folders it is asked to
//! enter, so that listing one request's files costs a few tree reads at any size.
//! Each is a small read ([`GixStore::reader`]).

use std::fmt::Write as _;

use super::{GitError, GixStore, PartialRead, Skipped, Snapshot};

impl GixStore {
    /// The root tree of `commit` (hex), read through `repo`.
    fn root_tree(&self, repo: &gix::Repository, commit: &str) -> Result<gix::ObjectId, GitError> {
        let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| GitError::Read {
            what: format!("commit {commit:?}"),
            message: e.to_string(),
        })?;
        let tree = repo
            .find_commit(id)
            .and_then(|c| c.tree_id())
            .map_err(self.read_error(&format!("the tree of commit {commit}")))?;
        Ok(tree.detach())
    }
}

impl PartialRead for GixStore {
    fn tip(&self) -> Result<Option<String>, GitError> {
        let repo = self.reader(1)?;
        Ok(self.tip_in(&repo)?.map(|id| id.to_string()))
    }

    fn select(
        &self,
        commit: &str,
        wanted: &dyn Fn(&str, bool) -> bool,
    ) -> Result<Snapshot, GitError> {
        let repo = self.reader(1)?;
        let mut snapshot = Snapshot {
            commit: Some(commit.to_string()),
            ..Snapshot::default()
        };
        let mut folders = vec![(String::new(), self.root_tree(&repo, commit)?)];
        while let Some((folder, id)) = folders.pop() {
            let tree = repo.find_tree(id).map_err(self.read_error(&folder))?;
            let decoded = tree.decode().map_err(self.read_error(&folder))?;
            // One buffer for the paths of a folder's entries: most are not wanted.
            let mut path = folder.clone();
            if !path.is_empty() {
                path.push('/');
            }
            let prefix = path.len();
            for entry in &decoded.entries {
                path.truncate(prefix);
                write!(path, "{}", entry.filename).expect("writing to a String does not fail");
                let mode = entry.mode;
                if !wanted(&path, mode.is_tree()) {
                    continue;
                }
                let path = path.clone();
                let id = entry.oid.to_owned();
                if mode.is_tree() {
                    folders.push((path, id));
                } else if mode.is_blob() {
                    snapshot.files.insert(path, id);
                } else if mode.is_link() {
                    snapshot.skipped.insert(path, Skipped::Symlink);
                } else if mode.is_commit() {
                    snapshot.skipped.insert(path, Skipped::Submodule);
                }
            }
        }
        Ok(snapshot)
    }

    fn folder(&self, commit: &str, path: &str) -> Result<Option<String>, GitError> {
        let repo = self.reader(1)?;
        let mut id = self.root_tree(&repo, commit)?;
        for name in path.split('/') {
            let tree = repo.find_tree(id).map_err(self.read_error(path))?;
            let entry = tree.find_entry(name);
            match entry.filter(|e| e.mode().is_tree()) {
                Some(entry) => id = entry.object_id(),
                None => return Ok(None),
            }
        }
        Ok(Some(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{Store, run_git as git};

    #[test]
    fn a_selection_reads_only_the_folders_it_enters() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        for (path, text) in [("a/x.yaml", "1"), ("a/b/y.yaml", "2"), ("c/z.yaml", "3")] {
            let file = dir.path().join(path);
            fs_err::create_dir_all(file.parent().unwrap()).unwrap();
            fs_err::write(file, text).unwrap();
        }
        git(dir.path(), &["add", "."]);
        git(
            dir.path(),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                "x",
            ],
        );
        let store = GixStore::open(dir.path(), Some("main")).unwrap();
        let tip = store.tip().unwrap().unwrap();
        let entered = std::sync::Mutex::new(Vec::new());
        let picked = store
            .select(&tip, &|path, folder| {
                if folder {
                    entered.lock().unwrap().push(path.to_string());
                }
                path == "a" || path == "a/x.yaml"
            })
            .unwrap();
        let files: Vec<&String> = picked.files.keys().collect();
        assert_eq!(files, ["a/x.yaml"]);
        let mut entered = entered.into_inner().unwrap();
        entered.sort();
        assert_eq!(entered, ["a", "a/b", "c"]);
        let full = store.snapshot().unwrap();
        assert_eq!(picked.files["a/x.yaml"], full.files["a/x.yaml"]);
        let b = store.folder(&tip, "a/b").unwrap();
        let expected = git(dir.path(), &["rev-parse", "main:a/b"]);
        assert_eq!(b.as_deref(), Some(expected.trim()));
        assert_eq!(store.folder(&tip, "a/x.yaml").unwrap(), None);
        assert_eq!(store.folder(&tip, "nothing/here").unwrap(), None);
    }
}
