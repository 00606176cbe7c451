//! Writing a commit's tree: a base tree with sorted path edits applied, one directory at
//! a time. Only the directories on the edited paths are read and written, and only the
//! ones on the path being edited are held: a pass that writes 300k files holds a few
//! directories, not an in-memory copy of every tree it touches.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::bstr::BString;
use gix::objs::WriteTo;
use gix::objs::tree::{Entry, EntryKind, EntryMode};

use super::GitError;
use super::objects::ObjectBatch;

/// What happens at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    /// A blob, added or replacing whatever is there.
    Upsert(ObjectId),
    /// Whatever is there goes; a directory left empty goes with it.
    Remove,
}

/// Writes `base` (`None`: the empty tree) with `edits` applied, and returns the new
/// root tree's id. `edits` are sorted by path and hold each path once.
///
/// The new trees go to the object database as one batch ([`ObjectBatch`]): a pack when
/// there are many.
pub(crate) fn write_edited(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    edits: &[(&str, Edit)],
) -> Result<ObjectId, GitError> {
    let mut batch = ObjectBatch::new(repo);
    let root = match edit_dir(repo, &mut batch, "", base, edits)? {
        Some(id) => id,
        None => write(&mut batch, "", Vec::new())?,
    };
    batch.finish()?;
    Ok(root)
}

/// Applies `edits` (whose paths all start with `dir`, `""` or ending in `/`) to the tree
/// `base`; `None` when it ends up empty. The edits of a subdirectory are a sub-slice of
/// `edits`, so nothing is copied on the way down.
fn edit_dir(
    repo: &gix::Repository,
    batch: &mut ObjectBatch<'_>,
    dir: &str,
    base: Option<ObjectId>,
    edits: &[(&str, Edit)],
) -> Result<Option<ObjectId>, GitError> {
    let mut entries: BTreeMap<BString, (EntryMode, ObjectId)> = match base {
        Some(id) => read(repo, dir, id)?,
        None => BTreeMap::new(),
    };
    let mut rest = edits;
    while let Some(((path, edit), _)) = rest.split_first() {
        let relative = &path[dir.len()..];
        match relative.split_once('/') {
            None => {
                let name = BString::from(relative);
                match edit {
                    Edit::Upsert(id) => entries.insert(name, (EntryKind::Blob.into(), *id)),
                    Edit::Remove => entries.remove(&name),
                };
                rest = &rest[1..];
            }
            Some((name, _)) => {
                let subdir = format!("{dir}{name}/");
                let end = rest
                    .iter()
                    .position(|(p, _)| !p.starts_with(&subdir))
                    .unwrap_or(rest.len());
                let key = BString::from(name);
                let subtree = entries
                    .remove(&key)
                    .filter(|(mode, _)| mode.is_tree())
                    .map(|(_, id)| id);
                if let Some(id) = edit_dir(repo, batch, &subdir, subtree, &rest[..end])? {
                    entries.insert(key, (EntryKind::Tree.into(), id));
                }
                rest = &rest[end..];
            }
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let entries = entries.into_iter().map(|(filename, (mode, oid))| Entry {
        mode,
        filename,
        oid,
    });
    write(batch, dir, entries.collect()).map(Some)
}

fn read(
    repo: &gix::Repository,
    dir: &str,
    id: ObjectId,
) -> Result<BTreeMap<BString, (EntryMode, ObjectId)>, GitError> {
    let error = |message: String| GitError::Read {
        what: format!("tree {id} ({})", display(dir)),
        message,
    };
    let tree = repo.find_tree(id).map_err(|e| error(e.to_string()))?;
    let decoded = tree.decode().map_err(|e| error(e.to_string()))?;
    let entries = decoded.entries.iter();
    Ok(entries
        .map(|e| (e.filename.to_owned(), (e.mode, e.oid.to_owned())))
        .collect())
}

fn write(
    batch: &mut ObjectBatch<'_>,
    dir: &str,
    mut entries: Vec<Entry>,
) -> Result<ObjectId, GitError> {
    // Git orders a directory as if its name ended with '/'; `Entry`'s order does that.
    entries.sort();
    let tree = gix::objs::Tree { entries };
    let mut bytes = Vec::new();
    tree.write_to(&mut bytes).map_err(|e| GitError::Write {
        what: format!("the tree of {}", display(dir)),
        message: e.to_string(),
    })?;
    batch.add(gix::objs::Kind::Tree, bytes)
}

fn display(dir: &str) -> &str {
    if dir.is_empty() { "the root" } else { dir }
}
