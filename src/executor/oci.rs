//! The OCI executor: each container runs its image through `podman` or `docker` on this
//! machine, with the pipeline's folders mounted at `/kratix/input|output|metadata` and
//! at the seed's `/input|output|metadata`.
//!
//! Containers run with no network (unless the Promise asks for it), all capabilities
//! dropped and `no-new-privileges`. Some hosts cannot apply the engine's default rlimits
//! (crun or runc fail with "error setting rlimits"); the flags that work are found once,
//! by a probe that starts the first image with an entrypoint that does not exist, and
//! logged at info level (`-v`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::log::{Logs, StreamLog};
use super::{ExecError, Executor, StepDirs, ensure_output, literal_env, step_dirs};
use crate::child::{CaptureError, Captured, exit_before, run_captured};
use crate::model::Container;
use crate::pipeline::{Job, LogFolder, Workspace};

/// The annotation with which a Promise lets its pipelines reach the network.
pub(crate) const NETWORK_ANNOTATION: &str = "promised.dev/pipeline-network";

/// Runs containers with `podman` or `docker`.
#[derive(Debug)]
pub struct OciExecutor {
    program: &'static str,
    /// Set by the first successful probe; a failed probe is tried again next time.
    flags: tokio::sync::OnceCell<Vec<String>>,
}

impl OciExecutor {
    /// An executor driving `program` (`podman` or `docker`).
    pub fn new(program: &'static str) -> Self {
        OciExecutor {
            program,
            flags: tokio::sync::OnceCell::new(),
        }
    }

    /// The extra `run` flags this host needs, probed with `image` until a probe works or
    /// `deadline` passes (a probe may pull the image). Runs that start meanwhile wait
    /// for the one probe.
    async fn host_flags(&self, image: &str, deadline: Instant) -> Result<&[String], ExecError> {
        let program = self.program;
        let probed = self.flags.get_or_try_init(|| {
            let image = image.to_string();
            // The probe runs a few short commands; it may block a thread, not the run's.
            let probing = tokio::task::spawn_blocking(move || probe(program, &image, deadline));
            async move { probing.await.unwrap_or_else(|e| Err(e.to_string())) }
        });
        let flags = probed.await.map_err(|what| ExecError::Unsupported {
            container: "(probe)".into(),
            what,
        })?;
        Ok(flags)
    }
}

/// Candidate flag sets, tried in order: the engine's defaults, then explicit rlimits
/// (for hosts where the defaults cannot be applied), then runc with explicit rlimits.
fn candidates() -> Vec<Vec<String>> {
    let ulimits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut sets = vec![Vec::new(), ulimits.iter().map(|s| s.to_string()).collect()];
    for runc in ["/usr/sbin/runc", "/usr/bin/runc"] {
        if std::path::Path::new(runc).exists() {
            let mut set = vec!["--runtime".to_string(), runc.to_string()];
            set.extend(ulimits.iter().map(|s| s.to_string()));
            sets.push(set);
            break;
        }
    }
    sets
}

/// Finds flags with which a container of `image` starts: the probe's entrypoint does not
/// exist, so "not found" means the runtime got as far as exec, and nothing ran.
fn probe(program: &str, image: &str, deadline: Instant) -> Result<Vec<String>, String> {
    let mut last = String::new();
    for flags in candidates() {
        let stderr = probe_once(program, image, &flags, deadline)?;
        let reached_exec = stderr.contains("no such file") || stderr.contains("not found");
        if reached_exec && !stderr.contains("rlimit") {
            tracing::info!(program, flags = ?flags, "container runtime flags that work on this host");
            return Ok(flags);
        }
        last = stderr;
    }
    Err(format!(
        "{program} cannot start containers of {image} on this host: {}",
        last.trim()
    ))
}

/// Runs one probe with `flags` and returns what it wrote to stderr; an error if it
/// cannot start or is still running at `deadline` (then it is killed).
fn probe_once(
    program: &str,
    image: &str,
    flags: &[String],
    deadline: Instant,
) -> Result<String, String> {
    let mut command = Command::new(program);
    command
        .args(["run", "--rm", "--network", "none"])
        .args(flags)
        .args(["--entrypoint", "/promised-probe-does-not-exist", image]);
    let left = deadline.saturating_duration_since(Instant::now());
    match run_captured(&mut command, left) {
        Ok(Captured::Finished { stderr, .. }) => Ok(stderr),
        Ok(Captured::TimedOut) => Err(format!(
            "{program} did not start a container of {image} within the pipeline's timeout \
             (while probing which flags this host needs; pulling the image can take that long)"
        )),
        Err(CaptureError::Start(e)) => Err(format!("cannot run {program}: {e}; is it installed?")),
        Err(CaptureError::Io(e)) => Err(format!("probing {program}: {e}")),
    }
}

/// One container to run: what the pipeline executor and a Pod's init containers both
/// come down to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OciRun {
    /// Container name, for errors.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Entrypoint override (Kubernetes `command`).
    pub command: Vec<String>,
    /// Arguments (Kubernetes `args`).
    pub args: Vec<String>,
    /// Environment, in order; a later duplicate wins.
    pub env: Vec<(String, String)>,
    /// Host folder, path in the container, read-only.
    pub mounts: Vec<(PathBuf, String, bool)>,
    /// Whether the container may reach the network.
    pub network: bool,
}

/// How a container ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OciExit {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// What it wrote to stdout: its file (capped) and its last bytes.
    pub stdout: StreamLog,
    /// What it wrote to stderr: its file (capped) and its last bytes.
    pub stderr: StreamLog,
}

impl OciExecutor {
    /// Runs one container to completion, or kills it at `deadline` or when `stop` is
    /// cancelled (then `Ok(None)`). `log_dir` holds its stdout and stderr files.
    pub async fn run_one(
        &self,
        spec: &OciRun,
        log_dir: &LogFolder,
        deadline: Instant,
        stop: &CancellationToken,
    ) -> Result<Option<OciExit>, ExecError> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "promised-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let flags = self.host_flags(&spec.image, deadline).await?;
        let mut command = tokio::process::Command::new(self.program);
        command.args(["run", "--rm", "--name", &name]).args(flags);
        if !spec.network {
            command.args(["--network", "none"]);
        }
        command.args(["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]);
        for (host, at, read_only) in &spec.mounts {
            let mode = if *read_only { ":ro" } else { "" };
            command
                .arg("--volume")
                .arg(format!("{}:{at}{mode}", host.display()));
        }
        for (key, value) in &spec.env {
            command.args(["--env", &format!("{key}={value}")]);
        }
        let mut words = spec.command.iter();
        if let Some(entrypoint) = words.next() {
            command.args(["--entrypoint", entrypoint]);
        }
        command.arg(&spec.image).args(words).args(&spec.args);
        command.stdin(Stdio::null()).kill_on_drop(true);
        // Named after the container, not the run: a worker's log folder lasts across runs,
        // and the next run of the same container truncates these files instead of adding
        // two.
        let (mut logs, stdout, stderr) = Logs::open(log_dir, &spec.name)?;
        command.stdout(stdout).stderr(stderr);
        tracing::debug!(container = %spec.name, image = %spec.image, "starting container");

        let mut child = command.spawn().map_err(|source| ExecError::Spawn {
            container: spec.name.clone(),
            program: self.program.to_string(),
            source,
        })?;
        // Only the child holds the pipes' write ends now.
        drop(command);
        let Some(status) = logs.wait(&mut child, deadline, stop).await? else {
            // SIGKILL the container; `run --rm` then removes it and exits. Only if the
            // client hangs is it killed too, and the container removed by force.
            let quiet = |args: &[&str]| {
                tokio::process::Command::new(self.program)
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
            };
            let _ = quiet(&["kill", &name]).await;
            let grace = Instant::now() + Duration::from_secs(30);
            if exit_before(&mut child, grace).await?.is_none() {
                let _ = child.kill().await;
                let _ = quiet(&["rm", "--force", &name]).await;
            }
            return Ok(None);
        };
        let (stdout, stderr) = logs.finish()?;
        Ok(Some(OciExit {
            code: status.code(),
            stdout,
            stderr,
        }))
    }
}

impl Executor for OciExecutor {
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(self.run_pipeline(job, workspace))
    }
}

impl OciExecutor {
    async fn run_pipeline(&self, job: &Job<'_>, workspace: &Workspace) -> Result<(), ExecError> {
        let containers = &job.pipeline.containers;
        let deadline = Instant::now() + job.timeout;
        let dirs = step_dirs(workspace, containers.len(), job.pipeline.chained);
        let network = job
            .promise
            .annotations
            .get(NETWORK_ANNOTATION)
            .map(String::as_str)
            == Some("enabled");
        for (i, (container, dirs)) in containers.iter().zip(dirs).enumerate() {
            if job.stop.is_cancelled() {
                return Err(ExecError::Cancelled);
            }
            ensure_output(i, &dirs, workspace)?;
            let spec = OciRun {
                name: container.name.clone(),
                image: container.image.clone(),
                command: container.command.clone(),
                args: container.args.clone(),
                env: container_env(job, container)?,
                mounts: mounts(&dirs),
                network,
            };
            let ran = self
                .run_one(&spec, &workspace.logs, deadline, job.stop)
                .await?;
            let Some(exit) = ran else {
                return Err(ExecError::killed(job, &container.name));
            };
            if exit.code != Some(0) {
                return Err(ExecError::Failed {
                    container: container.name.clone(),
                    exit: match exit.code {
                        Some(code) => format!("exit code {code}"),
                        None => "killed by a signal".into(),
                    },
                    stderr_tail: String::from_utf8_lossy(&exit.stderr.tail).into_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The container's env, then the contract's variables (which therefore win).
fn container_env(job: &Job<'_>, container: &Container) -> Result<Vec<(String, String)>, ExecError> {
    let mut env = Vec::new();
    env.extend(literal_env(container)?);
    let contract = [
        ("KRATIX_INPUT", "/kratix/input"),
        ("KRATIX_OUTPUT", "/kratix/output"),
        ("KRATIX_METADATA", "/kratix/metadata"),
    ];
    env.extend(
        contract
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env.extend(job.kratix_env());
    Ok(env)
}

/// The step's folders at Kratix's paths and at the seed's; inputs read-only.
fn mounts(dirs: &StepDirs) -> Vec<(PathBuf, String, bool)> {
    let mut mounts = Vec::new();
    for root in ["/kratix/", "/"] {
        mounts.push((dirs.input.clone(), format!("{root}input"), true));
        mounts.push((dirs.output.clone(), format!("{root}output"), false));
        mounts.push((dirs.metadata.clone(), format!("{root}metadata"), false));
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_err as fs;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for podman: a shell script at a path of its own.
    fn engine(script: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine");
        fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path.to_string_lossy().into_owned())
    }

    #[test]
    fn a_probe_still_running_at_the_deadline_is_killed() {
        let (_dir, engine) = engine("exec sleep 30");
        let started = Instant::now();
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = probe(&engine, "img", deadline).unwrap_err();
        assert!(err.contains("did not start a container of img"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn the_first_flags_that_reach_exec_are_kept() {
        // The engine's defaults fail on rlimits; with explicit ulimits it gets to exec.
        let (_dir, engine) = engine(
            r#"case "$*" in
  *nofile*) echo 'exec: "/promised-probe-does-not-exist": no such file' >&2 ;;
  *) echo 'error setting rlimits' >&2 ;;
esac
exit 127"#,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let flags = probe(&engine, "img", deadline).unwrap();
        let expected = [
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        assert_eq!(flags, expected);
    }
}
