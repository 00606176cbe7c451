//! Keeping a checked-out worktree in step after the branch moved under it.
//!
//! The store commits without touching the worktree. When the branch it moved is the one
//! checked out, the worktree and index would then show the pass's changes reversed. The
//! `git` program brings them forward the way a fast-forward merge does
//! (`git read-tree -m -u OLD NEW`), and refuses if that would overwrite local edits.

use std::path::Path;
use std::process::Command;

use super::GitError;

/// Brings the worktree at `dir` from `old` to `new` if `reference` is checked out there.
/// Returns whether it did. A bare repository, or another branch checked out, is left
/// alone.
pub fn sync_worktree(dir: &Path, reference: &str, old: &str, new: &str) -> Result<bool, GitError> {
    let Ok(repo) = gix::open(dir) else {
        return Ok(false);
    };
    if repo.workdir().is_none() {
        return Ok(false);
    }
    let head = repo.head_name().ok().flatten();
    if head
        .as_ref()
        .map(|name| name.as_bstr().to_string())
        .as_deref()
        != Some(reference)
    {
        return Ok(false);
    }
    let args = ["read-tree", "-m", "-u", old, new];
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output();
    let failure = |message: String| GitError::Command {
        args: args.join(" "),
        dir: dir.display().to_string(),
        message,
    };
    let output = output.map_err(|e| failure(e.to_string()))?;
    if !output.status.success() {
        return Err(failure(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(true)
}
