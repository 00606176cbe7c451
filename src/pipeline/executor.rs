//! What an executor is to the pipeline contract: the one thing it does (run a
//! pipeline's containers against a prepared workspace), how it fails, and which folders
//! each container sees. The contract ([`super`]) prepares the workspace and reads the
//! results; executors ([`crate::executor`]) are adapters that implement [`Executor`] for
//! a process, podman or docker, or a Kubernetes Pod.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Job, Workspace};

/// Runs the containers of one pipeline run.
pub trait Executor: Send + Sync {
    /// Runs every container of `job.pipeline` in order against `workspace`, stopping at
    /// the first failure and within `job.timeout`.
    ///
    /// A future, so that a run that waits (for a process, a container engine or a Pod)
    /// holds no thread: the reactor of promised's runtime wakes it. What it does between
    /// waits (starting a process, writing a file) may block briefly.
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> BoxFuture<'a, Result<(), ExecError>>;
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
        /// The last bytes it wrote to stderr (at most `TAIL_BYTES`), lossily decoded
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
    /// The reconciler was asked to stop ([`Job::stop`](super::Job::stop)) while the
    /// run was in flight; what it made is removed. Not the pipeline's failure: the
    /// next pass runs it again.
    #[error("stopped: the reconciler is shutting down")]
    Cancelled,
    /// A file of the workspace could not be read or written; fs-err's message names it.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ExecError {
    /// Why `container`, killed before it exited, did not finish: the reconciler is
    /// stopping ([`Job::stop`](super::Job::stop)), or else the run's time ran out.
    pub(crate) fn killed(job: &Job<'_>, container: &str) -> ExecError {
        if job.stop.is_cancelled() {
            ExecError::Cancelled
        } else {
            ExecError::TimedOut {
                container: container.to_string(),
                timeout: job.timeout,
            }
        }
    }
}

/// How many of a log's last lines an error shows, and in how many bytes at most.
const SHOWN_LINES: usize = 20;
const SHOWN_BYTES: usize = 4096;

/// The last lines of a log, at most a few KiB: what an error and a status show of it.
pub(crate) fn last_lines(log: &str) -> &str {
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
pub(crate) struct StepDirs {
    pub(crate) input: PathBuf,
    pub(crate) output: PathBuf,
    /// The metadata folder (shared by all containers).
    pub(crate) metadata: PathBuf,
}

/// The folders of each container of a run. In Kratix's form every container shares the
/// workspace's folders; in the seed's chained form container `i` reads what container
/// `i - 1` wrote, and only the last writes to the workspace's output.
pub(crate) fn step_dirs(workspace: &Workspace, containers: usize, chained: bool) -> Vec<StepDirs> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn workspace() -> Workspace {
        Workspace {
            input: "/w/input".into(),
            output: "/w/output".into(),
            metadata: "/w/metadata".into(),
            scratch: "/w".into(),
            logs: crate::pipeline::logs_in("/w".as_ref()),
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
