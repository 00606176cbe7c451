//! The pipeline contract: what a pipeline run is given (an `input` folder with
//! `object.yaml`, empty `output` and `metadata` folders, `KRATIX_*` variables), and what
//! is read back from it (output documents, selector files, `status.yaml`).
//!
//! Executors ([`crate::executor`]) only run containers; preparing the folders and reading
//! the results is done here, once for all of them. What a pipeline leaves is read as
//! hostile input (`read_back`).

mod executor;
mod log_folder;
mod metadata;
mod output;
mod plain_secret;
mod read_back;
mod run_folder;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fs_err as fs;
use tokio_util::sync::CancellationToken;

pub use executor::{ExecError, Executor};
pub(crate) use executor::{StepDirs, last_lines, step_dirs};
pub(crate) use log_folder::LogFile;
pub use log_folder::LogFolder;
#[cfg(not(target_os = "linux"))]
pub(crate) use log_folder::open_log;
#[cfg(test)]
pub(crate) use metadata::Selector;
pub(crate) use metadata::{Metadata, RESERVED_STATUS_KEY, WorkflowControl, read_metadata};
pub(crate) use output::{OutputFiles, read_output};
pub(crate) use read_back::Deadline;
pub use read_back::OutputLimits;
pub use run_folder::RunFolder;

use crate::model::{
    Action, PLATFORM_API_VERSION, Pipeline, Promise, RequestDoc, RequestKey, WorkflowType,
};

/// One run of one pipeline on one object (a request, or the Promise itself): everything
/// an executor needs.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The Promise whose workflow this is.
    pub promise: &'a Promise,
    /// The pipeline to run.
    pub pipeline: &'a Pipeline,
    /// Whose workflow it is and why it runs (`KRATIX_WORKFLOW_TYPE`, `_ACTION`).
    pub workflow: (WorkflowType, Action),
    /// The object the workflow runs on.
    pub object: Subject<'a>,
    /// The object as the pipeline reads it in `object.yaml`: a request as the API
    /// server would store it (`reconcile::prepare::Ready::object`), or the Promise file;
    /// with the status the workflow's earlier pipelines wrote.
    pub object_yaml: &'a [u8],
    /// How long the whole pipeline may run, reading back its output included.
    pub timeout: Duration,
    /// How much output it may leave.
    pub limits: OutputLimits,
    /// Cancelled when the reconciler stops: the run ends early, with
    /// [`ExecError::Cancelled`], after removing what it made.
    pub stop: &'a CancellationToken,
    /// The repository's `pipelines/` folder, for the process executor
    /// (`PROMISED_PIPELINES`); `None` when the commit has none.
    pub pipelines: Option<&'a std::path::Path>,
}

/// Who a workflow runs on: what `KRATIX_OBJECT_*` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    /// `apiVersion`, `group/version`.
    pub(crate) api_version: &'a str,
    /// `kind`.
    pub(crate) kind: &'a str,
    /// `metadata.name`.
    pub(crate) name: &'a str,
    /// `metadata.namespace`; empty for a Promise.
    pub(crate) namespace: &'a str,
}

impl<'a> Subject<'a> {
    /// A request, as its key names it and its document types it.
    pub fn request(key: &'a RequestKey, document: &'a RequestDoc) -> Self {
        Subject {
            api_version: &document.api_version,
            kind: &document.kind,
            name: &key.name,
            namespace: &key.namespace,
        }
    }

    /// The Promise itself, which its Promise workflows run on.
    pub(crate) fn promise(promise: &'a Promise) -> Self {
        Subject {
            api_version: PLATFORM_API_VERSION,
            kind: "Promise",
            name: &promise.name,
            namespace: "",
        }
    }
}

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.namespace {
            "" => write!(f, "{}/{}", self.kind, self.name),
            namespace => write!(f, "{}/{namespace}/{}", self.kind, self.name),
        }
    }
}

impl Job<'_> {
    /// The variables Kratix sets for every container, besides the folder paths.
    pub(crate) fn kratix_env(&self) -> Vec<(String, String)> {
        let (group, version) = self
            .object
            .api_version
            .split_once('/')
            .unwrap_or(("", self.object.api_version));
        let (plural, cluster_scoped) = self
            .promise
            .api
            .as_ref()
            .map_or(("", false), |api| (api.plural.as_str(), api.cluster_scoped));
        let (kind, action) = (self.workflow.0.to_string(), self.workflow.1.to_string());
        let pairs = [
            ("KRATIX_WORKFLOW_ACTION", action.as_str()),
            ("KRATIX_WORKFLOW_TYPE", kind.as_str()),
            ("KRATIX_PROMISE_NAME", &self.promise.name),
            ("KRATIX_PIPELINE_NAME", &self.pipeline.name),
            ("KRATIX_OBJECT_KIND", self.object.kind),
            ("KRATIX_OBJECT_GROUP", group),
            ("KRATIX_OBJECT_VERSION", version),
            ("KRATIX_OBJECT_NAME", self.object.name),
            ("KRATIX_OBJECT_NAMESPACE", self.object.namespace),
            ("KRATIX_CRD_PLURAL", plural),
            (
                "KRATIX_CLUSTER_SCOPED",
                if cluster_scoped { "true" } else { "false" },
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
    pub(crate) input: PathBuf,
    /// Where the (final) container leaves the documents to schedule.
    pub(crate) output: PathBuf,
    /// Selector files and `status.yaml`.
    pub(crate) metadata: PathBuf,
    /// The run's own folder, beside the three: the seed form's intermediate outputs go
    /// here.
    pub(crate) scratch: PathBuf,
    /// Where executors write each container's stdout and stderr. `promised` writes these
    /// files from pipes, so no container reaches them, and a worker keeps them in its own
    /// folder from run to run: two fewer files made and removed per container (see
    /// `RunFolder`). `pipeline run` keeps them beside the run's folders.
    pub(crate) logs: Arc<LogFolder>,
}

impl Workspace {
    /// Lays out empty folders under `root` and writes `object.yaml`, as a new file: an
    /// entry already there (a link to a file elsewhere) is an error, never written through.
    /// Logs go to `logs`.
    pub(crate) fn create(
        root: &Path,
        logs: Arc<LogFolder>,
        object_yaml: &[u8],
    ) -> Result<Self, ExecError> {
        let workspace = Workspace {
            input: root.join("input"),
            output: root.join("output"),
            metadata: root.join("metadata"),
            scratch: root.to_path_buf(),
            logs,
        };
        for dir in [&workspace.input, &workspace.output, &workspace.metadata] {
            fs::create_dir_all(dir)?;
        }
        let mut object = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(workspace.object_yaml())?;
        object.write_all(object_yaml)?;
        Ok(workspace)
    }

    /// Where the request is given to the pipeline.
    pub(crate) fn object_yaml(&self) -> PathBuf {
        self.input.join("object.yaml")
    }
}

/// Logs written into `root` itself, no file kept open: a single run's, as `pipeline run`
/// leaves them beside the run's folders.
pub(crate) fn logs_in(root: &Path) -> Arc<LogFolder> {
    Arc::new(LogFolder::new(root.to_path_buf(), 0))
}

/// What a successful run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The output documents, by path relative to the output folder.
    pub(crate) files: OutputFiles,
    /// What the pipeline said in its metadata folder.
    pub(crate) metadata: Metadata,
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

/// Runs `job` with its workspace under `root` (empty or absent), and leaves the folders
/// there: how `promised pipeline run` shows a Promise author everything the pipeline
/// wrote.
pub(crate) fn run_in(
    executor: &dyn Executor,
    job: &Job<'_>,
    root: &Path,
) -> Result<RunOutput, RunError> {
    let workspace = Workspace::create(root, logs_in(root), job.object_yaml)?;
    crate::runtime::block_here(run_on(executor, job, &workspace))
}

/// Runs `job` in a prepared `workspace` and reads back what it produced, all within
/// the job's timeout.
async fn run_on(
    executor: &dyn Executor,
    job: &Job<'_>,
    workspace: &Workspace,
) -> Result<RunOutput, RunError> {
    let deadline = Deadline::after(job.timeout);
    executor.run(job, workspace).await?;
    let files = read_output(
        &workspace.output,
        job.pipeline.chained,
        job.limits,
        &deadline,
    )
    .map_err(RunError::Output)?;
    plain_secret::refuse_plain_secrets(&files, job.promise).map_err(RunError::Output)?;
    let metadata = read_metadata(&workspace.metadata, &deadline).map_err(RunError::Metadata)?;
    Ok(RunOutput { files, metadata })
}
