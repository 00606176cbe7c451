//! The pipeline contract: what a pipeline run is given (an `input` folder with
//! `object.yaml`, empty `output` and `metadata` folders, `KRATIX_*` variables), and what
//! is read back from it (output documents, selector files, `status.yaml`).
//!
//! Executors ([`crate::executor`]) only run containers; preparing the folders and reading
//! the results is done here, once for all of them.

mod metadata;
mod output;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fs_err as fs;

pub use metadata::{Metadata, Selector, read_metadata};
pub use output::{OutputFiles, read_output};

use crate::executor::{ExecError, Executor};
use crate::model::{Pipeline, Promise, RequestDoc, RequestKey};

/// One run of one pipeline on one request: everything an executor needs.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The Promise whose workflow this is.
    pub promise: &'a Promise,
    /// The pipeline to run.
    pub pipeline: &'a Pipeline,
    /// Who the request is.
    pub key: &'a RequestKey,
    /// The request document.
    pub request: &'a RequestDoc,
    /// The request file as committed, given to the pipeline as `object.yaml`.
    pub object_yaml: &'a [u8],
    /// How long the whole pipeline may run.
    pub timeout: Duration,
}

impl Job<'_> {
    /// The variables Kratix sets for every container, besides the folder paths.
    pub fn kratix_env(&self) -> Vec<(String, String)> {
        let (group, version) = self
            .request
            .api_version
            .split_once('/')
            .unwrap_or(("", self.request.api_version.as_str()));
        let api = &self.promise.api;
        let pairs = [
            ("KRATIX_WORKFLOW_ACTION", "configure"),
            ("KRATIX_WORKFLOW_TYPE", "resource"),
            ("KRATIX_PROMISE_NAME", &self.promise.name),
            ("KRATIX_PIPELINE_NAME", &self.pipeline.name),
            ("KRATIX_OBJECT_KIND", &self.request.kind),
            ("KRATIX_OBJECT_GROUP", group),
            ("KRATIX_OBJECT_VERSION", version),
            ("KRATIX_OBJECT_NAME", &self.key.name),
            ("KRATIX_OBJECT_NAMESPACE", &self.key.namespace),
            ("KRATIX_CRD_PLURAL", &api.plural),
            (
                "KRATIX_CLUSTER_SCOPED",
                if api.cluster_scoped { "true" } else { "false" },
            ),
        ];
        let pairs = pairs.into_iter();
        pairs.map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// The three folders of a run, on local disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Holds `object.yaml`.
    pub input: PathBuf,
    /// Where the (final) container leaves the documents to schedule.
    pub output: PathBuf,
    /// Selector files and `status.yaml`.
    pub metadata: PathBuf,
    /// The run's own folder, beside the three: executors keep logs and the seed form's
    /// intermediate outputs here.
    pub scratch: PathBuf,
}

impl Workspace {
    /// Lays out empty folders under `root` and writes `object.yaml`.
    pub fn create(root: &Path, object_yaml: &[u8]) -> Result<Self, ExecError> {
        let workspace = Workspace {
            input: root.join("input"),
            output: root.join("output"),
            metadata: root.join("metadata"),
            scratch: root.to_path_buf(),
        };
        for dir in [&workspace.input, &workspace.output, &workspace.metadata] {
            fs::create_dir_all(dir)?;
        }
        fs::write(workspace.input.join("object.yaml"), object_yaml)?;
        Ok(workspace)
    }
}

/// What a successful run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The output documents, by path relative to the output folder.
    pub files: OutputFiles,
    /// What the pipeline said in its metadata folder.
    pub metadata: Metadata,
}

/// Why a run produced nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A container failed, timed out or could not start.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The output folder holds something that is not a Kubernetes document.
    #[error("output: {0}")]
    Output(String),
    /// A metadata file is malformed.
    #[error("metadata: {0}")]
    Metadata(String),
}

/// A temporary run folder that one worker reuses from run to run, emptied in between.
///
/// Creating and removing the three folders and the log files for every run costs more
/// than a short step itself: on ext4 each new inode is a search past recently deleted
/// ones. A reused folder keeps its folders, `object.yaml` and log files (rewritten by
/// the next run), and allocates only what the pipeline writes. The folder is removed
/// when this is dropped.
#[derive(Debug)]
pub struct RunFolder {
    root: tempfile::TempDir,
}

impl RunFolder {
    /// Creates an empty folder under the system's temporary directory (`TMPDIR`).
    pub fn new() -> Result<Self, ExecError> {
        let root = tempfile::Builder::new()
            .prefix("promised-run-")
            .tempdir()
            .map_err(|e| {
                let dir = std::env::temp_dir();
                let message = format!("cannot create a run folder in {}: {e}", dir.display());
                ExecError::Io(std::io::Error::new(e.kind(), message))
            })?;
        Ok(RunFolder { root })
    }

    /// Where the folder is.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Empties what an earlier run left, then runs `job` here (see [`run_in`]).
    pub fn run(&self, executor: &dyn Executor, job: &Job<'_>) -> Result<RunOutput, RunError> {
        empty_run_folder(self.root.path())?;
        run_in(executor, job, self.root.path())
    }
}

/// Leaves `root` as a new run finds it: `input` (with its `object.yaml`, which the run
/// rewrites), empty `output` and `metadata`, and the log files directly in `root`,
/// emptied (so no run reads another's logs) but kept, as the executors write them again
/// under the same names. Anything else goes.
fn empty_run_folder(root: &Path) -> Result<(), ExecError> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        match entry.file_name().to_str() {
            Some("input") if kind.is_dir() => empty_dir(&path, Some("object.yaml"))?,
            Some("output" | "metadata") if kind.is_dir() => empty_dir(&path, None)?,
            _ if kind.is_file() => {
                fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)?;
            }
            _ => remove(&path, kind)?,
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

/// Runs `job` with its workspace under `root` (empty, absent, or emptied by
/// [`RunFolder`]), and leaves the folders there: how `promised pipeline run` shows a Promise author
/// everything the pipeline wrote.
pub fn run_in(executor: &dyn Executor, job: &Job<'_>, root: &Path) -> Result<RunOutput, RunError> {
    let workspace = Workspace::create(root, job.object_yaml)?;
    executor.run(job, &workspace)?;
    let files = read_output(&workspace.output, job.pipeline.chained).map_err(RunError::Output)?;
    let metadata = read_metadata(&workspace.metadata).map_err(RunError::Metadata)?;
    Ok(RunOutput { files, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_run_folder_is_emptied_but_keeps_its_folders_and_log_names() {
        let folder = RunFolder::new().unwrap();
        let root = folder.path();
        let workspace = Workspace::create(root, b"kind: A\n").unwrap();
        fs::write(workspace.output.join("cm.yaml"), "x").unwrap();
        fs::create_dir(workspace.output.join("nested")).unwrap();
        fs::write(workspace.metadata.join("status.yaml"), "x").unwrap();
        fs::write(workspace.input.join("extra"), "x").unwrap();
        fs::write(root.join("0-render.stderr"), "a secret").unwrap();
        fs::create_dir(root.join("chain-0")).unwrap();

        empty_run_folder(root).unwrap();

        let names = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(root),
            ["0-render.stderr", "input", "metadata", "output"]
        );
        assert_eq!(names(&workspace.input), ["object.yaml"]);
        assert!(names(&workspace.output).is_empty());
        assert!(names(&workspace.metadata).is_empty());
        assert_eq!(fs::read(root.join("0-render.stderr")).unwrap(), b"");
    }
}
