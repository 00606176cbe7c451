//! Executors run a pipeline's containers. The contract (folders, variables) is prepared
//! by [`crate::pipeline`]; an executor only has to run each container against it.

pub mod kubernetes;
mod log;
mod oci;
mod process;

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

pub(crate) use kubernetes::{KubeSettings, KubernetesExecutor};
#[cfg(test)]
use log::HEAD_BYTES;
pub use log::StreamLog;
pub(crate) use log::TAIL_BYTES;
pub use oci::{OciExecutor, OciExit, OciRun};
pub use process::ProcessExecutor;

pub use crate::pipeline::{ExecError, Executor};
use crate::pipeline::{Job, Workspace};
pub(crate) use crate::pipeline::{StepDirs, last_lines, step_dirs};

/// The annotation with which a Promise picks its executor, overriding `--executor`.
pub(crate) const EXECUTOR_ANNOTATION: &str = "promised.dev/executor";

/// How many Pods the kubernetes executor runs at once unless `--jobs` says.
pub(crate) const KUBERNETES_JOBS: usize = 32;

/// The executors `--executor` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum ExecutorKind {
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
    /// How many pipelines run at once unless `--jobs` says: the number of cores for
    /// executors whose pipelines run on this machine; for kubernetes, whose Pods run on
    /// the cluster and mostly wait, [`KUBERNETES_JOBS`]. A pipeline in flight that waits
    /// holds no thread: the pass runs them on as many threads as there are cores.
    pub(crate) fn default_jobs(self, cores: usize) -> usize {
        match self {
            ExecutorKind::Kubernetes => KUBERNETES_JOBS,
            _ => cores,
        }
    }

    /// The name used on the command line and in the annotation.
    pub(crate) fn name(self) -> &'static str {
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
pub(crate) struct Executors {
    default: ExecutorKind,
    allow_process: bool,
    all: BTreeMap<ExecutorKind, Box<dyn Executor>>,
}

impl Executors {
    /// The executors, with `default` for Promises that do not pick one.
    ///
    /// Nothing connects or probes until a pipeline runs. `allow_process` lets a Promise
    /// pick `process` when `default` is another executor (see [`choose`]).
    pub(crate) fn new(default: ExecutorKind, allow_process: bool, kube: &KubeSettings) -> Self {
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
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        let annotation = job.promise.annotations.get(EXECUTOR_ANNOTATION);
        let chosen = choose(
            self.default,
            annotation.map(String::as_str),
            self.allow_process,
        );
        match chosen {
            Ok(chosen) => {
                tracing::debug!(executor = chosen.name(), pipeline = %job.pipeline.name, "running pipeline");
                self.all[&chosen].run(job, workspace)
            }
            Err(what) => Box::pin(std::future::ready(Err(ExecError::Unsupported {
                container: "(all)".into(),
                what: format!("Promise {:?}: {what}", job.promise.name),
            }))),
        }
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

/// Makes the output folder of the container at `step`, unless it is the workspace's
/// and no container ran before it: [`Workspace::create`] has just made that one. A later
/// container finds its folder again even if one before removed it, as it would an
/// `emptyDir` mount in a Pod; the chained form's own folders are made here.
pub(crate) fn ensure_output(
    step: usize,
    dirs: &StepDirs,
    workspace: &Workspace,
) -> Result<(), ExecError> {
    if step == 0 && dirs.output == workspace.output {
        return Ok(());
    }
    Ok(fs_err::create_dir_all(&dirs.output)?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
