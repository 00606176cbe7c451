//! Executors run a pipeline's containers. The contract (folders, variables) is prepared
//! by [`crate::pipeline`]; an executor only has to run each container against it.

pub mod kubernetes;
mod log;
mod oci;
mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use kubernetes::{KubeSettings, KubernetesExecutor};
pub use log::{HEAD_BYTES, StreamLog, TAIL_BYTES};
pub use oci::{NETWORK_ANNOTATION, OciExecutor, OciExit, OciRun};
pub use process::ProcessExecutor;

use crate::pipeline::{Job, Workspace};

/// Runs the containers of one pipeline run.
pub trait Executor: Send + Sync {
    /// Short name for logs and `--executor`.
    fn name(&self) -> &'static str;

    /// Runs every container of `job.pipeline` in order against `workspace`, stopping at
    /// the first failure and within `job.timeout`.
    fn run(&self, job: &Job<'_>, workspace: &Workspace) -> Result<(), ExecError>;
}

/// The annotation with which a Promise picks its executor, overriding `--executor`.
pub const EXECUTOR_ANNOTATION: &str = "promised.dev/executor";

/// The executors `--executor` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum ExecutorKind {
    /// Each container's command runs as a local process (no image).
    Process,
    /// Each container's image runs with podman.
    Podman,
    /// Each container's image runs with docker.
    Docker,
    /// One Pod per pipeline run, through the Kubernetes API server.
    Kubernetes,
}

impl ExecutorKind {
    /// The name used on the command line and in the annotation.
    pub fn name(self) -> &'static str {
        match self {
            ExecutorKind::Process => "process",
            ExecutorKind::Podman => "podman",
            ExecutorKind::Docker => "docker",
            ExecutorKind::Kubernetes => "kubernetes",
        }
    }

    fn build(self, kube: &KubeSettings) -> Box<dyn Executor> {
        match self {
            ExecutorKind::Process => Box::new(ProcessExecutor::default()),
            ExecutorKind::Podman => Box::new(OciExecutor::new("podman")),
            ExecutorKind::Docker => Box::new(OciExecutor::new("docker")),
            ExecutorKind::Kubernetes => Box::new(KubernetesExecutor::new(kube.clone())),
        }
    }
}

/// Every executor, and the default one; a Promise's `promised.dev/executor` annotation
/// picks another for its pipelines.
pub struct Executors {
    default: ExecutorKind,
    allow_process: bool,
    all: BTreeMap<ExecutorKind, Box<dyn Executor>>,
}

impl Executors {
    /// The executors, with `default` for Promises that do not pick one.
    ///
    /// Nothing connects or probes until a pipeline runs. `allow_process` lets a Promise
    /// pick `process` when `default` is another executor (see [`choose`]).
    pub fn new(default: ExecutorKind, allow_process: bool, kube: &KubeSettings) -> Self {
        let kinds = [
            ExecutorKind::Process,
            ExecutorKind::Podman,
            ExecutorKind::Docker,
            ExecutorKind::Kubernetes,
        ];
        Executors {
            default,
            allow_process,
            all: kinds.into_iter().map(|k| (k, k.build(kube))).collect(),
        }
    }
}

impl Executor for Executors {
    fn name(&self) -> &'static str {
        self.default.name()
    }

    fn run(&self, job: &Job<'_>, workspace: &Workspace) -> Result<(), ExecError> {
        let annotation = job.promise.annotations.get(EXECUTOR_ANNOTATION);
        let chosen = choose(
            self.default,
            annotation.map(String::as_str),
            self.allow_process,
        )
        .map_err(|what| ExecError::Unsupported {
            container: "(all)".into(),
            what: format!("Promise {:?}: {what}", job.promise.name),
        })?;
        tracing::debug!(executor = chosen.name(), pipeline = %job.pipeline.name, "running pipeline");
        self.all[&chosen].run(job, workspace)
    }
}

/// The executor a Promise's pipelines run on: `default` (`--executor`), or the one its
/// `promised.dev/executor` annotation names. A Promise may move its pipelines into
/// containers, but not out of them: `process` runs a Promise author's commands on this
/// machine as `promised`'s user, so the annotation may pick it over another default
/// only where the operator allowed it (`--allow-process-executor`).
fn choose(
    default: ExecutorKind,
    annotation: Option<&str>,
    allow_process: bool,
) -> Result<ExecutorKind, String> {
    let Some(name) = annotation else {
        return Ok(default);
    };
    let kinds = [
        ExecutorKind::Process,
        ExecutorKind::Podman,
        ExecutorKind::Docker,
        ExecutorKind::Kubernetes,
    ];
    let chosen = kinds.into_iter().find(|k| k.name() == name).ok_or_else(|| {
        format!(
            "asks for executor {name:?} ({EXECUTOR_ANNOTATION}); known: process, podman, docker, kubernetes"
        )
    })?;
    if chosen == ExecutorKind::Process && default != ExecutorKind::Process && !allow_process {
        return Err(format!(
            "asks for the process executor ({EXECUTOR_ANNOTATION}: process), which would run its \
             commands on this machine instead of in {} containers; the operator allows that \
             with --allow-process-executor",
            default.name()
        ));
    }
    Ok(chosen)
}

/// Why a pipeline run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The process executor needs a command to run.
    #[error(
        "container {container:?} has no command: the process executor runs `command` + `args` \
         as a local program; give a command, or run this Promise with an OCI executor \
         (podman, docker or kubernetes), which runs the image's entrypoint"
    )]
    NoCommand {
        /// Container name.
        container: String,
    },
    /// The container asks for something this executor cannot give.
    #[error("container {container:?}: {what}")]
    Unsupported {
        /// Container name.
        container: String,
        /// What it asks for, and what to do instead.
        what: String,
    },
    /// The program could not be started.
    #[error("container {container:?}: cannot start {program:?}: {source}")]
    Spawn {
        /// Container name.
        container: String,
        /// The program that was not found or not executable.
        program: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The container exited unsuccessfully.
    #[error("container {container:?} failed ({exit})\n{}", last_lines(stderr_tail))]
    Failed {
        /// Container name.
        container: String,
        /// Exit code or signal.
        exit: String,
        /// The last bytes it wrote to stderr (at most [`TAIL_BYTES`]), lossily decoded
        /// and unredacted: for promised's own log, not for a status file.
        stderr_tail: String,
    },
    /// The pipeline ran past its timeout and was killed.
    #[error("container {container:?} was killed: the pipeline ran longer than {timeout:?}")]
    TimedOut {
        /// The container that was running.
        container: String,
        /// The timeout in force.
        timeout: Duration,
    },
    /// The API server refused or failed a request, or the Pod could not run.
    #[error("kubernetes: {what}")]
    Kubernetes {
        /// What failed, naming the object.
        what: String,
    },
    /// A file of the workspace could not be read or written; fs-err's message names it.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How many of a log's last lines an error shows, and in how many bytes at most.
const SHOWN_LINES: usize = 20;
const SHOWN_BYTES: usize = 4096;

/// The last lines of a log, at most a few KiB: what an error and a status show of it.
pub fn last_lines(log: &str) -> &str {
    let log = log.trim_end();
    let mut start = log.len().saturating_sub(SHOWN_BYTES);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    let log = &log[start..];
    let from = log
        .rmatch_indices('\n')
        .nth(SHOWN_LINES - 1)
        .map_or(0, |(at, _)| at + 1);
    &log[from..]
}

/// The folders one container of a run sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDirs {
    /// Its input folder.
    pub input: PathBuf,
    /// Its output folder.
    pub output: PathBuf,
    /// The metadata folder (shared by all containers).
    pub metadata: PathBuf,
}

/// The folders of each container of a run. In Kratix's form every container shares the
/// workspace's folders; in the seed's chained form container `i` reads what container
/// `i - 1` wrote, and only the last writes to the workspace's output.
pub fn step_dirs(workspace: &Workspace, containers: usize, chained: bool) -> Vec<StepDirs> {
    let chain_output = |i: usize| workspace.scratch.join(format!("chain-{i}"));
    (0..containers)
        .map(|i| {
            if !chained {
                return StepDirs {
                    input: workspace.input.clone(),
                    output: workspace.output.clone(),
                    metadata: workspace.metadata.clone(),
                };
            }
            let input = if i == 0 {
                workspace.input.clone()
            } else {
                chain_output(i - 1)
            };
            let last = i + 1 == containers;
            let output = if last {
                workspace.output.clone()
            } else {
                chain_output(i)
            };
            StepDirs {
                input,
                output,
                metadata: workspace.metadata.clone(),
            }
        })
        .collect()
}

/// A container's `env` as name and value pairs, for the executors that run on this
/// machine: they cannot resolve `valueFrom` (a Secret or ConfigMap of a cluster).
pub(crate) fn literal_env(
    container: &crate::model::Container,
) -> Result<Vec<(String, String)>, ExecError> {
    container
        .env
        .iter()
        .map(|var| match &var.value_from {
            Some(_) => Err(ExecError::Unsupported {
                container: container.name.clone(),
                what: format!(
                    "env {:?} uses valueFrom, which only the kubernetes executor resolves; give a value",
                    var.name
                ),
            }),
            None => Ok((var.name.clone(), var.value.clone().unwrap_or_default())),
        })
        .collect()
}

/// Creates a step's output folder when the chained form needs a fresh one.
pub(crate) fn ensure_dir(path: &Path) -> Result<(), ExecError> {
    Ok(fs_err::create_dir_all(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace {
        Workspace {
            input: "/w/input".into(),
            output: "/w/output".into(),
            metadata: "/w/metadata".into(),
            scratch: "/w".into(),
            logs: "/w".into(),
        }
    }

    #[test]
    fn an_error_shows_the_last_lines_of_a_log() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let shown = last_lines(&text);
        assert!(shown.starts_with("line 10\n"), "{shown}");
        assert!(shown.ends_with("line 29"));
        let long = "é".repeat(5000);
        assert!(last_lines(&long).len() <= SHOWN_BYTES);
    }

    #[test]
    fn a_promise_may_move_into_containers_but_not_out_of_them() {
        use ExecutorKind::*;
        assert_eq!(choose(Podman, None, false), Ok(Podman));
        assert_eq!(choose(Process, Some("podman"), false), Ok(Podman));
        assert_eq!(choose(Podman, Some("kubernetes"), false), Ok(Kubernetes));
        assert_eq!(choose(Process, Some("process"), false), Ok(Process));
        let refused = choose(Podman, Some("process"), false).unwrap_err();
        assert!(refused.contains("--allow-process-executor"), "{refused}");
        assert_eq!(choose(Kubernetes, Some("process"), true), Ok(Process));
        assert!(choose(Podman, Some("Process"), true).is_err());
    }

    #[test]
    fn shared_form_gives_every_container_the_same_folders() {
        let dirs = step_dirs(&workspace(), 2, false);
        assert_eq!(dirs[0], dirs[1]);
        assert_eq!(dirs[1].output, Path::new("/w/output"));
    }

    #[test]
    fn chained_form_feeds_each_output_to_the_next_input() {
        let dirs = step_dirs(&workspace(), 3, true);
        assert_eq!(dirs[0].input, Path::new("/w/input"));
        assert_eq!(dirs[0].output, Path::new("/w/chain-0"));
        assert_eq!(dirs[1].input, Path::new("/w/chain-0"));
        assert_eq!(dirs[2].input, Path::new("/w/chain-1"));
        assert_eq!(dirs[2].output, Path::new("/w/output"));
    }
}
