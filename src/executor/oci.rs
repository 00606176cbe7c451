//! The OCI executor: each container runs its image through `podman` or `docker` on this
//! machine, with the pipeline's folders mounted at `/kratix/input|output|metadata` and
//! at the seed's `/input|output|metadata`.
//!
//! Containers run with no network (unless the Promise asks for it), all capabilities
//! dropped and `no-new-privileges`. Some hosts cannot apply the engine's default rlimits
//! (crun or runc fail with "error setting rlimits"); the flags that work are found once,
//! by a probe that starts the first image with an entrypoint that does not exist, and
//! logged at info level (`-v`).

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fs_err as fs;
use wait_timeout::ChildExt;

use super::process::tail;
use super::{ExecError, Executor, StepDirs, ensure_dir, step_dirs};
use crate::model::Container;
use crate::pipeline::{Job, Workspace};

/// The annotation with which a Promise lets its pipelines reach the network.
pub const NETWORK_ANNOTATION: &str = "promised.dev/pipeline-network";

/// Runs containers with `podman` or `docker`.
#[derive(Debug)]
pub struct OciExecutor {
    program: &'static str,
    flags: OnceLock<Result<Vec<String>, String>>,
}

impl OciExecutor {
    /// An executor driving `program` (`podman` or `docker`).
    pub fn new(program: &'static str) -> Self {
        OciExecutor {
            program,
            flags: OnceLock::new(),
        }
    }

    /// The extra `run` flags this host needs, probed once with `image`.
    fn host_flags(&self, image: &str) -> Result<&[String], ExecError> {
        let probed = self.flags.get_or_init(|| probe(self.program, image));
        match probed {
            Ok(flags) => Ok(flags),
            Err(message) => Err(ExecError::Unsupported {
                container: "(probe)".into(),
                what: message.clone(),
            }),
        }
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
fn probe(program: &str, image: &str) -> Result<Vec<String>, String> {
    let mut last = String::new();
    for flags in candidates() {
        let output = Command::new(program)
            .args(["run", "--rm", "--network", "none"])
            .args(&flags)
            .args(["--entrypoint", "/promised-probe-does-not-exist", image])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}; is it installed?"))?;
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
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

impl Executor for OciExecutor {
    fn name(&self) -> &'static str {
        self.program
    }

    fn run(&self, job: &Job<'_>, workspace: &Workspace) -> Result<(), ExecError> {
        let containers = &job.pipeline.containers;
        let deadline = Instant::now() + job.timeout;
        let dirs = step_dirs(workspace, containers.len(), job.pipeline.chained);
        for (i, (container, dirs)) in containers.iter().zip(dirs).enumerate() {
            ensure_dir(&dirs.output)?;
            let flags = self.host_flags(&container.image)?.to_vec();
            let log = workspace.scratch.join(format!("{i}-{}", container.name));
            self.run_container(job, container, &dirs, &flags, &log, deadline)?;
        }
        Ok(())
    }
}

impl OciExecutor {
    fn run_container(
        &self,
        job: &Job<'_>,
        container: &Container,
        dirs: &StepDirs,
        flags: &[String],
        log: &std::path::Path,
        deadline: Instant,
    ) -> Result<(), ExecError> {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "promised-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let mut command = Command::new(self.program);
        command.args(["run", "--rm", "--name", &name]);
        command.args(flags);
        let network = job
            .promise
            .annotations
            .get(NETWORK_ANNOTATION)
            .map(String::as_str);
        if network != Some("enabled") {
            command.args(["--network", "none"]);
        }
        command.args(["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]);
        let mount = |host: &std::path::Path, at: &str, read_only: bool| {
            let mode = if read_only { ":ro" } else { "" };
            format!("{}:{at}{mode}", host.display())
        };
        for (host, at, read_only) in [
            (&dirs.input, "/kratix/input", true),
            (&dirs.output, "/kratix/output", false),
            (&dirs.metadata, "/kratix/metadata", false),
            (&dirs.input, "/input", true),
            (&dirs.output, "/output", false),
            (&dirs.metadata, "/metadata", false),
        ] {
            command.arg("--volume").arg(mount(host, at, read_only));
        }
        for var in &container.env {
            if var.value_from.is_some() {
                return Err(ExecError::Unsupported {
                    container: container.name.clone(),
                    what: format!(
                        "env {:?} uses valueFrom, which only the kubernetes executor resolves; give a value",
                        var.name
                    ),
                });
            }
            let value = var.value.as_deref().unwrap_or_default();
            command.args(["--env", &format!("{}={value}", var.name)]);
        }
        let contract = [
            ("KRATIX_INPUT", "/kratix/input"),
            ("KRATIX_OUTPUT", "/kratix/output"),
            ("KRATIX_METADATA", "/kratix/metadata"),
        ];
        for (key, value) in contract
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(job.kratix_env())
        {
            command.args(["--env", &format!("{key}={value}")]);
        }
        let mut words = container.command.iter();
        if let Some(entrypoint) = words.next() {
            command.args(["--entrypoint", entrypoint]);
        }
        command
            .arg(&container.image)
            .args(words)
            .args(&container.args);
        command.stdin(Stdio::null());
        let stderr_path = log.with_extension("stderr");
        command.stdout(
            fs::File::create(log.with_extension("stdout"))?
                .into_parts()
                .0,
        );
        command.stderr(fs::File::create(&stderr_path)?.into_parts().0);
        tracing::debug!(container = %container.name, image = %container.image, "starting container");

        let mut child = command.spawn().map_err(|source| ExecError::Spawn {
            container: container.name.clone(),
            program: self.program.to_string(),
            source,
        })?;
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(status) = child.wait_timeout(left)? else {
            // SIGKILL; --rm then removes the container.
            let _ = Command::new(self.program)
                .args(["kill", &name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            child.wait()?;
            return Err(ExecError::TimedOut {
                container: container.name.clone(),
                timeout: job.timeout,
            });
        };
        if status.success() {
            return Ok(());
        }
        Err(ExecError::Failed {
            container: container.name.clone(),
            exit: match status.code() {
                Some(code) => format!("exit code {code}"),
                None => status.to_string(),
            },
            stderr_tail: tail(&fs::read(&stderr_path)?),
        })
    }
}
