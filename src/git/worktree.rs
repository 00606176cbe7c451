//! Keeping a checked-out worktree in step after the branch moved under it.
//!
//! The store commits without touching the worktree. When the branch it moved is the one
//! checked out, the worktree and index would then show the pass's changes reversed. The
//! `git` program brings them forward the way a fast-forward merge does
//! (`git read-tree -m -u OLD NEW`), and refuses if that would overwrite local edits.
//!
//! That update can be cut short (both processes killed at once). `git read-tree` writes
//! the worktree first and the index last, through `index.lock`; cut short, it leaves
//! the lock, and an index still holding the old outputs: `git status` shows the pass's
//! changes staged in reverse, and a developer's next commit would revert them.
//! [`check_worktree`] finds both after the fact: see there for what it checks and does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::GitError;
use crate::state::{STATE_DIR, STATUS_DIR};

/// Brings the worktree at `dir` from `old` to `new` if `reference` is checked out there.
/// Returns whether it did. A bare repository, or another branch checked out, is left
/// alone.
pub(crate) fn sync_worktree(
    dir: &Path,
    reference: &str,
    old: &str,
    new: &str,
) -> Result<bool, GitError> {
    if checked_out(dir, reference).is_none() {
        return Ok(false);
    }
    git(dir, &["read-tree", "-m", "-u", old, new], None)?;
    Ok(true)
}

/// What [`check_worktree`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WorktreeCheck {
    /// Not a checked-out worktree of the branch, or the index agrees with `HEAD` in the
    /// folders `promised` owns.
    Clean,
    /// `index.lock` is there: a `git` command that writes the index runs, or one was cut
    /// short. Nothing was changed.
    Locked {
        lock: PathBuf,
        /// Running `git` processes whose working folder is in the worktree (Linux only;
        /// a program that uses Git as a library, such as an editor, is not seen).
        git_processes: Vec<u32>,
    },
    /// The index differed from `HEAD` in `state/` or `status/` (an update cut short):
    /// those paths, and only those, were restored to `HEAD` in the index and worktree.
    Repaired {
        /// How many paths were restored.
        paths: usize,
    },
}

impl std::fmt::Display for WorktreeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorktreeCheck::Clean => write!(f, "the worktree agrees with HEAD"),
            WorktreeCheck::Locked {
                lock,
                git_processes,
            } if git_processes.is_empty() => write!(
                f,
                "{} exists and no git process runs in this worktree: a git command was cut \
                 short (perhaps promised's worktree update), and the index may show the \
                 outputs reverted. If no git command or Git tool is at work here, remove \
                 it (rm '{}') and run promised reconcile again: it restores state/ and \
                 status/ to HEAD",
                lock.display(),
                lock.display()
            ),
            WorktreeCheck::Locked {
                lock,
                git_processes,
            } => write!(
                f,
                "{} exists and git runs in this worktree (pid {}): wait for it to end, \
                 then run promised reconcile again; if the lock is still there then, \
                 remove it (rm '{}')",
                lock.display(),
                git_processes
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                lock.display()
            ),
            WorktreeCheck::Repaired { paths } => write!(
                f,
                "the index held {paths} paths of state/ and status/ that differ from HEAD \
                 (an earlier worktree update was cut short): restored them to HEAD; other \
                 paths were left as they were"
            ),
        }
    }
}

/// Finds what an interrupted [`sync_worktree`] leaves, in the worktree at `dir` if
/// `reference` is checked out there, and repairs what is safe to repair:
///
/// - `index.lock` present: left alone, as git itself does, since no check can tell a
///   stale lock from one a live writer holds (a program using Git as a library does not
///   show as a `git` process). What is checked and reported is whether a `git` process
///   works in the worktree; the message says what to remove and run.
/// - Otherwise, the paths under `state/` and `status/` where the index differs from
///   `HEAD` are restored to `HEAD` in the index and the worktree (`git restore
///   --source=HEAD --staged --worktree` on exactly those paths). These folders belong
///   to `promised`: every file there is an output. Staged or unstaged edits anywhere
///   else are not touched.
pub(crate) fn check_worktree(dir: &Path, reference: &str) -> Result<WorktreeCheck, GitError> {
    let Some(repo) = checked_out(dir, reference) else {
        return Ok(WorktreeCheck::Clean);
    };
    if repo.head_id().is_err() {
        return Ok(WorktreeCheck::Clean);
    }
    let mut lock = repo.index_path().into_os_string();
    lock.push(".lock");
    let lock = PathBuf::from(lock);
    let workdir = repo.workdir().unwrap_or(dir);
    if fs_err::symlink_metadata(&lock).is_ok() {
        let workdir = fs_err::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
        return Ok(WorktreeCheck::Locked {
            lock,
            git_processes: git_processes_in(&workdir),
        });
    }
    let diff = [
        "diff",
        "--cached",
        "--name-only",
        "--no-renames",
        "-z",
        "HEAD",
        "--",
        STATE_DIR,
        STATUS_DIR,
    ];
    let differing = git(workdir, &diff, None)?;
    let paths = differing
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .count();
    if paths == 0 {
        return Ok(WorktreeCheck::Clean);
    }
    let restore = [
        "restore",
        "--source=HEAD",
        "--staged",
        "--worktree",
        "--quiet",
        "--pathspec-from-file=-",
        "--pathspec-file-nul",
    ];
    git(workdir, &restore, Some(&differing))?;
    Ok(WorktreeCheck::Repaired { paths })
}

/// The repository at `dir` if it has a worktree whose `HEAD` names `reference`.
/// The files under `promises/`, `destinations/` and `requests/` of the worktree at
/// `dir` that differ from its `HEAD` (changed, added, removed or untracked): what a
/// command reading the commit does not see. None for a bare repository.
pub(crate) fn uncommitted_inputs(dir: &Path) -> Result<Vec<String>, GitError> {
    let worktree = gix::open(dir)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf));
    let Some(worktree) = worktree else {
        return Ok(Vec::new());
    };
    let args = [
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
        "promises",
        "destinations",
        "requests",
        crate::model::PIPELINES_DIR,
    ];
    let listed = git(&worktree, &args, None)?;
    // Each entry is `XY path`, NUL-terminated.
    let paths = listed
        .split(|b| *b == 0)
        .filter(|entry| entry.len() > 3)
        .map(|entry| String::from_utf8_lossy(&entry[3..]).into_owned());
    Ok(paths.collect())
}

/// The warning for `paths` not committed: how many, under which folders, and the
/// first few. `None` when there are none.
pub(crate) fn uncommitted_warning(paths: &[String], what: &str) -> Option<String> {
    let first = paths.first()?;
    let mut folders: Vec<&str> = paths
        .iter()
        .filter_map(|p| p.split_once('/').map(|(top, _)| top))
        .collect();
    folders.dedup();
    let folders: Vec<String> = folders.iter().map(|f| format!("{f}/")).collect();
    let (changes, are, them) = match paths.len() {
        1 => ("change", "is", "it"),
        _ => ("changes", "are", "them"),
    };
    let more = match paths.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "{} uncommitted {changes} under {} {are} not {what}: commit {them} first ({first}{more})",
        paths.len(),
        folders.join(" and ")
    ))
}

/// The repository at `dir` when it has a worktree with `reference` checked out.
pub(crate) fn checked_out(dir: &Path, reference: &str) -> Option<gix::Repository> {
    let repo = gix::open(dir).ok()?;
    repo.workdir()?;
    let head = repo.head_name().ok().flatten()?;
    (head.as_bstr() == reference).then_some(repo)
}

/// Makes `dir` a new Git repository whose first branch is `main`.
pub(crate) fn init_repository(dir: &Path) -> Result<(), GitError> {
    git(dir, &["init", "--quiet", "--initial-branch=main"], None).map(drop)
}

/// Runs `git args` in `dir` with `stdin`, paths taken literally; returns its stdout.
fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
    let failure = |message: String| GitError::Command {
        args: args.join(" "),
        dir: dir.display().to_string(),
        message,
    };
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failure(e.to_string()))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // git reads all of stdin before it writes much: no deadlock with stdout.
        pipe.write_all(bytes).map_err(|e| failure(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failure(e.to_string()))?;
    if !output.status.success() {
        return Err(failure(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(output.stdout)
}

/// The ids of running `git` processes whose working folder is `workdir` or below it.
#[cfg(target_os = "linux")]
fn git_processes_in(workdir: &Path) -> Vec<u32> {
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = fs_err::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cwd = fs_err::read_link(format!("/proc/{pid}/cwd"));
            comm.trim() == "git" && cwd.is_ok_and(|cwd| cwd.starts_with(workdir))
        })
        .collect();
    found.sort_unstable();
    found
}

/// Processes are not looked at outside Linux.
#[cfg(not(target_os = "linux"))]
fn git_processes_in(_workdir: &Path) -> Vec<u32> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uncommitted_warning_counts_names_the_folders_and_agrees_in_number() {
        let paths = |list: &[&str]| -> Vec<String> { list.iter().map(|p| p.to_string()).collect() };
        assert_eq!(uncommitted_warning(&[], "reconciled"), None);
        assert_eq!(
            uncommitted_warning(&paths(&["requests/app/a.yaml"]), "reconciled").unwrap(),
            "1 uncommitted change under requests/ is not reconciled: commit it first (requests/app/a.yaml)"
        );
        assert_eq!(
            uncommitted_warning(
                &paths(&[
                    "destinations/dev.yaml",
                    "requests/app/a.yaml",
                    "requests/app/b.yaml"
                ]),
                "validated"
            )
            .unwrap(),
            "3 uncommitted changes under destinations/ and requests/ are not validated: commit them first (destinations/dev.yaml and 2 more)"
        );
    }
}
