//! The folder a run's containers' logs go to, and the log files that stay open in it
//! from run to run.
//!
//! A worker's runs rewrite their containers' logs in the same few folders (see
//! [`RunFolder`](super::RunFolder)): the next run of the same container writes the
//! same file. So a folder keeps the files its last runs wrote open, and the next run
//! takes one as it is, emptied if anything was written to it: no `open`, `fstat` and
//! `close` per stream and run, and none of the file's path to walk. `promised` writes
//! these files from pipes, so no container holds or reaches them.

use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fs_err as fs;

use super::ExecError;

/// A folder of container logs, with the files it keeps open.
#[derive(Debug)]
pub struct LogFolder {
    path: PathBuf,
    /// How many files it keeps open at most: a bound on promised's open files, whatever
    /// the number of runs in flight and of containers per pipeline.
    keep: usize,
    kept: Mutex<Vec<LogFile>>,
}

/// A container's log file being written.
#[derive(Debug)]
pub(crate) struct LogFile {
    name: String,
    pub(crate) path: PathBuf,
    file: File,
    /// How many bytes it holds.
    len: u64,
}

impl LogFolder {
    /// The folder at `path`, which keeps up to `keep` files open.
    pub fn new(path: PathBuf, keep: usize) -> Self {
        LogFolder {
            path,
            keep,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file `name` of this folder, empty: the one an earlier run gave back, or the
    /// file at its path, created if absent.
    pub(crate) fn file(&self, name: &str) -> Result<LogFile, ExecError> {
        let kept = {
            let mut kept = self.lock();
            let at = kept.iter().position(|file| file.name == name);
            at.map(|at| kept.swap_remove(at))
        };
        let Some(mut kept) = kept else {
            let path = self.path.join(name);
            let file = open_log(&path)?;
            return Ok(LogFile {
                name: name.to_string(),
                path,
                file,
                len: 0,
            });
        };
        if kept.len > 0 {
            let in_file = |e| in_file(&kept.path, e);
            kept.file.set_len(0).map_err(in_file)?;
            kept.file.rewind().map_err(in_file)?;
            kept.len = 0;
        }
        Ok(kept)
    }

    /// Takes back a file written to its end, to keep it open for the next run of its
    /// container, while there is room.
    pub(crate) fn give_back(&self, file: LogFile) {
        let mut kept = self.lock();
        if kept.len() < self.keep {
            kept.push(file);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LogFile>> {
        // The list stays whole whatever panicked while holding it.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Folders are told apart by their path.
impl PartialEq for LogFolder {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for LogFolder {}

impl LogFile {
    /// Appends `bytes`.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), ExecError> {
        self.file
            .write_all(bytes)
            .map_err(|e| in_file(&self.path, e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The file, for a child to write to itself (where promised does not read its
    /// streams).
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn into_file(self) -> File {
        self.file
    }
}

/// Opens `path` for a container's log: created if absent, emptied if it holds anything.
pub(crate) fn open_log(path: &Path) -> Result<File, ExecError> {
    let file = fs::OpenOptions::new().write(true).create(true).open(path)?;
    if file.metadata()?.len() > 0 {
        file.set_len(0)?;
    }
    Ok(file.into_parts().0)
}

fn in_file(path: &Path, e: std::io::Error) -> ExecError {
    ExecError::Io(std::io::Error::new(
        e.kind(),
        format!("writing {}: {e}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_given_back_is_the_next_run_s_emptied_and_the_folder_keeps_no_more_than_it_may() {
        let dir = tempfile::tempdir().unwrap();
        let folder = LogFolder::new(dir.path().to_path_buf(), 1);
        let mut first = folder.file("0-step.stderr").unwrap();
        first.write_all(b"a long first line\n").unwrap();
        let other = folder.file("0-step.stdout").unwrap();
        folder.give_back(first);
        folder.give_back(other);
        assert_eq!(folder.lock().len(), 1, "room for one");

        let mut again = folder.file("0-step.stderr").unwrap();
        assert!(folder.lock().is_empty(), "the kept file was taken");
        again.write_all(b"short\n").unwrap();
        let path = dir.path().join("0-step.stderr");
        assert_eq!(
            fs::read(&path).unwrap(),
            b"short\n",
            "emptied, then written"
        );
        folder.give_back(again);
        let reopened = folder.file("0-step.stdout").unwrap();
        assert_eq!(reopened.len, 0);
        assert_eq!(fs::read(dir.path().join("0-step.stdout")).unwrap(), b"");
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
