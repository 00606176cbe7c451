//! The run folder a worker reuses from run to run, and the file writes that keep reusing
//! it cheap.
//!
//! Creating and removing the three folders and the log files for every run costs more
//! than a short step itself: on ext4 each new inode is a search past recently deleted
//! ones. Truncating a file to nothing is not free either: ext4 frees its blocks, and
//! when the file is closed it writes the new content out at once (its `auto_da_alloc`
//! guard for programs that rewrite a file by truncating it). So a reused folder keeps
//! its files and overwrites them in place, and empties only what holds something.

use std::io::Write;
use std::path::Path;

use fs_err as fs;

use super::{Job, RunError, RunOutput, Workspace, run_on};
use crate::executor::{ExecError, Executor};

/// A temporary run folder that one worker reuses from run to run, emptied in between.
///
/// It keeps its folders, `object.yaml` and log files (rewritten by the next run), and
/// allocates only what the pipeline writes. The folder is removed when this is dropped.
#[derive(Debug)]
pub struct RunFolder {
    root: tempfile::TempDir,
    workspace: Workspace,
}

impl RunFolder {
    /// Creates an empty run folder under the system's temporary directory (`TMPDIR`).
    pub fn new() -> Result<Self, ExecError> {
        let root = tempfile::Builder::new()
            .prefix("promised-run-")
            .tempdir()
            .map_err(|e| {
                let dir = std::env::temp_dir();
                let message = format!("cannot create a run folder in {}: {e}", dir.display());
                ExecError::Io(std::io::Error::new(e.kind(), message))
            })?;
        let workspace = Workspace::create(root.path(), b"")?;
        Ok(RunFolder { root, workspace })
    }

    /// Where the folder is.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Empties what an earlier run left, then runs `job` here.
    pub fn run(&self, executor: &dyn Executor, job: &Job<'_>) -> Result<RunOutput, RunError> {
        empty_run_folder(&self.workspace)?;
        rewrite(&self.workspace.object_yaml(), job.object_yaml)?;
        run_on(executor, job, &self.workspace)
    }
}

/// Leaves the workspace as a new run finds it: `input` (with its `object.yaml`, which the
/// run rewrites), empty `output` and `metadata`, and the log files directly in the root,
/// emptied (so no run reads another's logs) but kept, as the executors write them again
/// under the same names. Anything else goes; a folder a container removed comes back.
fn empty_run_folder(workspace: &Workspace) -> Result<(), ExecError> {
    let root = &workspace.scratch;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        match entry.file_name().to_str() {
            Some("input") if kind.is_dir() => empty_dir(&path, Some("object.yaml"))?,
            Some("output" | "metadata") if kind.is_dir() => empty_dir(&path, None)?,
            _ if kind.is_file() => {
                if entry.metadata()?.len() > 0 {
                    fs::OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(&path)?;
                }
            }
            _ => remove(&path, kind)?,
        }
    }
    for dir in [&workspace.input, &workspace.output, &workspace.metadata] {
        if !dir.is_dir() {
            fs::create_dir(dir)?;
        }
    }
    Ok(())
}

/// Removes everything in `dir` but the regular file named `keep`.
fn empty_dir(dir: &Path, keep: Option<&str>) -> Result<(), ExecError> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() && keep.is_some_and(|k| entry.file_name() == k) {
            continue;
        }
        remove(&entry.path(), kind)?;
    }
    Ok(())
}

fn remove(path: &Path, kind: std::fs::FileType) -> Result<(), ExecError> {
    if kind.is_dir() {
        fs::remove_dir_all(path)?;
    } else {
        fs::remove_file(path)?;
    }
    Ok(())
}

/// Makes `path` hold exactly `bytes`, overwriting the file in place if it exists rather
/// than truncating it to nothing first.
pub(crate) fn rewrite(path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
    let mut file = fs::OpenOptions::new().write(true).create(true).open(path)?;
    file.write_all(bytes)?;
    if file.metadata()?.len() != bytes.len() as u64 {
        file.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

/// Opens `path` for a container's log: created if absent, emptied if it holds anything.
pub(crate) fn open_log(path: &Path) -> Result<std::fs::File, ExecError> {
    let file = fs::OpenOptions::new().write(true).create(true).open(path)?;
    if file.metadata()?.len() > 0 {
        file.set_len(0)?;
    }
    Ok(file.into_parts().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_reused_run_folder_is_emptied_but_keeps_its_folders_and_log_names() {
        let folder = RunFolder::new().unwrap();
        let root = folder.path();
        let workspace = &folder.workspace;
        rewrite(&workspace.object_yaml(), b"kind: A\n").unwrap();
        fs::write(workspace.output.join("cm.yaml"), "x").unwrap();
        fs::create_dir(workspace.output.join("nested")).unwrap();
        fs::remove_dir(&workspace.metadata).unwrap();
        fs::write(workspace.input.join("extra"), "x").unwrap();
        fs::write(root.join("0-render.stderr"), "a secret").unwrap();
        fs::write(root.join("0-render.stdout"), "").unwrap();
        fs::create_dir(root.join("chain-0")).unwrap();

        empty_run_folder(workspace).unwrap();

        assert_eq!(
            names(root),
            [
                "0-render.stderr",
                "0-render.stdout",
                "input",
                "metadata",
                "output"
            ]
        );
        assert_eq!(names(&workspace.input), ["object.yaml"]);
        assert!(names(&workspace.output).is_empty());
        assert!(names(&workspace.metadata).is_empty());
        assert_eq!(fs::read(root.join("0-render.stderr")).unwrap(), b"");
    }

    #[test]
    fn rewriting_leaves_exactly_the_new_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object.yaml");
        for text in ["a longer first text\n", "short\n", "", "same\n", "same\n"] {
            rewrite(&path, text.as_bytes()).unwrap();
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn a_log_is_opened_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.stderr");
        for earlier in [None, Some(""), Some("an earlier run's log\n")] {
            if let Some(text) = earlier {
                fs::write(&path, text).unwrap();
            }
            let mut log = open_log(&path).unwrap();
            log.write_all(b"new\n").unwrap();
            drop(log);
            assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        }
    }
}
