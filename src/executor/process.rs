//! The process executor: each container's `command` + `args` runs as a local program.
//!
//! The embedded default and the fastest; it ignores `image`. Folders are passed as
//! absolute paths in `KRATIX_INPUT`, `KRATIX_OUTPUT` and `KRATIX_METADATA`. Each
//! container runs in its own process group so that a timeout kills everything it started.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use futures_util::future::BoxFuture;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::log::Logs;
use super::{ExecError, Executor, StepDirs, ensure_output, literal_env, step_dirs};
use crate::model::Container;
use crate::pipeline::{Job, Workspace};

/// The only variables a pipeline inherits from promised's environment: what programs
/// need to run at all. Nothing else leaks in (promised's own secrets included).
pub(crate) const INHERITED_ENV: [&str; 7] =
    ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// Runs containers as local processes.
#[derive(Debug, Default)]
pub struct ProcessExecutor {
    /// Programs already found in `PATH`: a pass runs the same few thousands of times.
    found: ProgramCache,
    /// What a pipeline inherits of promised's environment.
    inherited: Inherited,
}

/// The variables of [`INHERITED_ENV`] that promised's environment holds, read when the
/// executor is made rather than at each container's start: reading the environment
/// copies every variable in it, and promised never changes its own.
#[derive(Debug)]
struct Inherited(Vec<(OsString, OsString)>);

impl Default for Inherited {
    fn default() -> Self {
        let inherited = std::env::vars_os()
            .filter(|(key, _)| key.to_str().is_some_and(|k| INHERITED_ENV.contains(&k)));
        Inherited(inherited.collect())
    }
}

impl Executor for ProcessExecutor {
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let containers = &job.pipeline.containers;
            let deadline = Instant::now() + job.timeout;
            let dirs = step_dirs(workspace, containers.len(), job.pipeline.chained);
            for (i, (container, dirs)) in containers.iter().zip(dirs).enumerate() {
                if job.stop.is_cancelled() {
                    return Err(ExecError::Cancelled);
                }
                ensure_output(i, &dirs, workspace)?;
                let log = format!("{i}-{}", container.name);
                run_container(job, container, &dirs, workspace, &log, deadline, self).await?;
            }
            Ok(())
        })
    }
}

async fn run_container(
    job: &Job<'_>,
    container: &Container,
    dirs: &StepDirs,
    workspace: &Workspace,
    log: &str,
    deadline: Instant,
    executor: &ProcessExecutor,
) -> Result<(), ExecError> {
    let found = &executor.found;
    let (program, rest) = container
        .command
        .split_first()
        .ok_or_else(|| ExecError::NoCommand {
            container: container.name.clone(),
        })?;
    let spawn_error = |source| ExecError::Spawn {
        container: container.name.clone(),
        program: program.clone(),
        source,
    };
    let spawn = |path: &Path| -> Result<(Child, Logs), ExecError> {
        let (logs, stdout, stderr) = Logs::open(&workspace.logs, log)?;
        let mut command = Command::new(path);
        command
            .args(rest)
            .args(&container.args)
            .current_dir(&dirs.input)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            // A run dropped before its end (its pass stopped) takes its process along.
            .kill_on_drop(true)
            .env_clear()
            .envs(executor.inherited.0.iter().map(|(k, v)| (k, v)))
            .envs(literal_env(container)?);
        // The contract's variables come last, so a container's env cannot redirect them.
        command
            .env("KRATIX_INPUT", &dirs.input)
            .env("KRATIX_OUTPUT", &dirs.output)
            .env("KRATIX_METADATA", &dirs.metadata)
            .envs(job.kratix_env());
        if let Some(pipelines) = job.pipelines {
            command.env("PROMISED_PIPELINES", pipelines);
        }
        // The command, holding the pipes' write ends, is dropped here: only the child
        // keeps them open.
        let child = command.spawn().map_err(spawn_error)?;
        Ok((child, logs))
    };
    let find = || found.resolve(program, &dirs.input).map_err(spawn_error);
    let (mut child, mut logs) = match spawn(&find()?) {
        // The program found by an earlier run may have moved since: look again, once.
        Err(ExecError::Spawn { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && found.forget(program) =>
        {
            spawn(&find()?)?
        }
        spawned => spawned?,
    };
    // The group id is the child's pid (process_group(0)).
    let group = Pid::from_raw(child.id().expect("a child not yet waited for has an id") as i32);
    let Some(status) = logs.wait(&mut child, deadline, job.stop).await? else {
        let _ = killpg(group, Signal::SIGKILL);
        child.wait().await?;
        return Err(ExecError::killed(job, &container.name));
    };
    // What the container left running dies with it, as in a Pod. (What left the group
    // survives, but finds only this run's folder, which no later run uses.) While
    // any member is left the kernel keeps the group's id from being reused.
    let _ = killpg(group, Signal::SIGKILL);
    let (_, stderr) = logs.finish()?;
    if status.success() {
        return Ok(());
    }
    Err(ExecError::Failed {
        container: container.name.clone(),
        exit: describe(status),
        stderr_tail: String::from_utf8_lossy(&stderr.tail).into_owned(),
    })
}

/// Where the programs named by containers were found: a pass runs the same few
/// programs thousands of times, and each lookup is a `stat` per `PATH` entry.
#[derive(Debug, Default)]
struct ProgramCache {
    found: Mutex<HashMap<String, PathBuf>>,
}

impl ProgramCache {
    /// The program's path, looked up in promised's `PATH` (which the pipeline inherits).
    /// Resolving it here, rather than leaving it to `Command`, lets the standard library
    /// start the process with `posix_spawn` instead of `fork`: with the environment
    /// cleared, it would otherwise fork to search the child's `PATH`, and forking copies
    /// the page tables of a process whose pass holds many requests.
    fn resolve(&self, program: &str, cwd: &Path) -> std::io::Result<PathBuf> {
        if program.contains('/') {
            return Ok(cwd.join(program));
        }
        if let Some(path) = self.lock().get(program) {
            return Ok(path.clone());
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let found = which::which_in(program, Some(path), cwd).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{e} (looked in PATH)"),
            )
        })?;
        self.lock().insert(program.to_string(), found.clone());
        Ok(found)
    }

    /// Forgets where `program` was found; whether it had been.
    fn forget(&self, program: &str) -> bool {
        self.lock().remove(program).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        // The map stays whole whatever panicked while holding it.
        self.found
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_err as fs;
    use std::time::Duration;

    /// Long enough for any test, short enough to notice a hang.
    const TEST_TIMEOUT: Duration = Duration::from_secs(30);
    use crate::model::{Action, Pipeline, Promise, RequestFile, WorkflowType};
    use crate::pipeline::{LogFolder, Subject};

    fn pipeline(scripts: &[&str], chained: bool) -> Pipeline {
        let containers = scripts.iter().enumerate();
        Pipeline {
            name: "configure".into(),
            chained,
            containers: containers
                .map(|(i, script)| Container {
                    name: format!("step{i}"),
                    image: "unused".into(),
                    command: vec!["sh".into(), "-c".into()],
                    args: vec![script.to_string()],
                    env: vec![crate::model::EnvVar {
                        name: "GREETING".into(),
                        value: Some("hi".into()),
                        value_from: None,
                    }],
                    extra: Default::default(),
                })
                .collect(),
            pod: Default::default(),
        }
    }

    fn run(pipeline: &Pipeline, timeout: Duration) -> (Result<(), ExecError>, tempfile::TempDir) {
        run_with(&ProcessExecutor::default(), pipeline, timeout)
    }

    fn run_with(
        executor: &ProcessExecutor,
        pipeline: &Pipeline,
        timeout: Duration,
    ) -> (Result<(), ExecError>, tempfile::TempDir) {
        run_logging(executor, pipeline, timeout, None)
    }

    /// Runs `pipeline` in a new folder, its logs in `logs` (or beside its folders).
    fn run_logging(
        executor: &ProcessExecutor,
        pipeline: &Pipeline,
        timeout: Duration,
        logs: Option<&std::sync::Arc<LogFolder>>,
    ) -> (Result<(), ExecError>, tempfile::TempDir) {
        let promise = Promise::test("app").build();
        let object = "apiVersion: test.promised.dev/v1\nkind: App\nmetadata: {name: cache, namespace: team}\n";
        let request = RequestFile::parse("requests/app/cache.yaml", "0".into(), object.into());
        let job = Job {
            promise: &promise,
            pipeline,
            workflow: (WorkflowType::Resource, Action::Configure),
            object: Subject::request(&request.key, request.document.as_ref().unwrap()),
            object_yaml: &request.bytes,
            timeout,
            limits: Default::default(),
            stop: &Default::default(),
            pipelines: None,
        };
        let root = tempfile::tempdir().unwrap();
        let logs = logs.cloned();
        let logs = logs.unwrap_or_else(|| crate::pipeline::logs_in(root.path()));
        let workspace = Workspace::create(root.path(), logs, &request.bytes).unwrap();
        let ran = crate::runtime::block_here(executor.run(&job, &workspace));
        (ran, root)
    }

    #[test]
    fn a_log_file_kept_open_from_an_earlier_run_holds_only_the_next_run_s_lines() {
        let dir = tempfile::tempdir().unwrap();
        let logs = std::sync::Arc::new(LogFolder::new(dir.path().to_path_buf(), 4));
        let stderr = dir.path().join("0-step0.stderr");
        let executor = ProcessExecutor::default();
        for (script, logged) in [
            ("echo a first run >&2", "a first run\n"),
            ("true", ""),
            ("echo third >&2", "third\n"),
        ] {
            let pipeline = pipeline(&[script], false);
            let (ran, _root) = run_logging(&executor, &pipeline, TEST_TIMEOUT, Some(&logs));
            ran.unwrap();
            assert_eq!(fs::read_to_string(&stderr).unwrap(), logged, "{script}");
        }
    }

    #[test]
    fn containers_see_the_contract_and_share_output() {
        let first = r#"echo "$KRATIX_OBJECT_NAME $KRATIX_OBJECT_NAMESPACE $KRATIX_CRD_PLURAL $GREETING" > "$KRATIX_OUTPUT/a" && cp "$KRATIX_INPUT/object.yaml" "$KRATIX_OUTPUT/"
        "#;
        let second = r#"ls "$KRATIX_OUTPUT" > "$KRATIX_METADATA/seen""#;
        let (result, root) = run(&pipeline(&[first, second], false), TEST_TIMEOUT);
        result.unwrap();
        let out = root.path().join("output");
        assert_eq!(
            fs::read_to_string(out.join("a")).unwrap(),
            "cache team apps hi\n"
        );
        let seen = fs::read_to_string(root.path().join("metadata/seen")).unwrap();
        assert_eq!(seen, "a\nobject.yaml\n");
    }

    #[test]
    fn a_container_finds_its_output_folder_though_one_before_removed_it() {
        // As a Pod's `emptyDir` mount would be there for each container.
        let first = r#"rm -r "$KRATIX_OUTPUT""#;
        let second = r#"echo two > "$KRATIX_OUTPUT/from-second""#;
        let (result, root) = run(&pipeline(&[first, second], false), TEST_TIMEOUT);
        result.unwrap();
        let written = fs::read_to_string(root.path().join("output/from-second"));
        assert_eq!(written.unwrap(), "two\n");
    }

    #[test]
    fn chained_containers_read_the_previous_output() {
        let first = r#"echo one > "$KRATIX_OUTPUT/from-first""#;
        let second = r#"cat "$KRATIX_INPUT/from-first" > "$KRATIX_OUTPUT/from-second""#;
        let (result, root) = run(&pipeline(&[first, second], true), TEST_TIMEOUT);
        result.unwrap();
        let out = root.path().join("output");
        assert_eq!(
            fs::read_to_string(out.join("from-second")).unwrap(),
            "one\n"
        );
        assert!(!out.join("from-first").exists());
    }

    #[test]
    fn the_first_failure_stops_the_pipeline_and_keeps_the_stderr_tail() {
        let failing = "echo starting; echo 'bad size' >&2; exit 3";
        let never = r#"touch "$KRATIX_OUTPUT/never""#;
        let (result, root) = run(&pipeline(&[failing, never], false), TEST_TIMEOUT);
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "container \"step0\" failed (exit code 3)\nbad size"
        );
        assert!(!root.path().join("output/never").exists());
    }

    #[test]
    fn a_container_writing_200_mib_to_stderr_leaves_a_bounded_log_and_tail() {
        let flood = "head -c 209715200 /dev/zero | tr '\\0' x >&2; echo; echo the end >&2; exit 5";
        let (result, root) = run(&pipeline(&[flood], false), TEST_TIMEOUT);
        let Err(ExecError::Failed { stderr_tail, .. }) = result else {
            panic!("{result:?}");
        };
        let on_disk = fs::metadata(root.path().join("0-step0.stderr"))
            .unwrap()
            .len();
        let bound = crate::executor::HEAD_BYTES + crate::executor::TAIL_BYTES as u64 + 100;
        assert!(on_disk <= bound, "{on_disk} bytes on disk");
        assert!(stderr_tail.len() <= crate::executor::TAIL_BYTES);
        assert!(
            stderr_tail.ends_with("xthe end\n"),
            "{}",
            &stderr_tail[stderr_tail.len() - 20..]
        );
    }

    #[test]
    fn a_pipeline_past_its_timeout_is_killed_with_its_children() {
        let started = Instant::now();
        let slow = "sleep 30 & sleep 30; wait";
        let (result, _root) = run(&pipeline(&[slow], false), Duration::from_millis(300));
        assert!(
            matches!(result, Err(ExecError::TimedOut { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn what_a_container_leaves_running_dies_with_it() {
        // Without a kill, the background job would write into the (reused) folder later.
        let leaves =
            r#"(sleep 1; echo late > "$KRATIX_OUTPUT/late") & echo now > "$KRATIX_OUTPUT/now""#;
        let (result, root) = run(&pipeline(&[leaves], false), TEST_TIMEOUT);
        result.unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let out = root.path().join("output");
        assert!(out.join("now").exists());
        assert!(!out.join("late").exists(), "the background job was killed");
    }

    #[test]
    fn a_container_without_command_names_itself_and_suggests_oci() {
        let mut pipeline = pipeline(&["true"], false);
        pipeline.containers[0].command.clear();
        let err = run(&pipeline, TEST_TIMEOUT).0.unwrap_err().to_string();
        assert!(
            err.starts_with("container \"step0\" has no command"),
            "{err}"
        );
        assert!(err.contains("podman"), "{err}");
    }

    #[test]
    fn a_program_found_earlier_that_moved_is_looked_up_again() {
        let executor = ProcessExecutor::default();
        let moved = PathBuf::from("/nonexistent/promised-test/sh");
        executor.found.lock().insert("sh".into(), moved.clone());
        let script = r#"echo ran > "$KRATIX_OUTPUT/ran""#;
        let (result, root) = run_with(&executor, &pipeline(&[script], false), TEST_TIMEOUT);
        result.unwrap();
        assert!(root.path().join("output/ran").exists());
        let found = executor.found.lock().get("sh").cloned();
        assert!(found.is_some_and(|path| path != moved && path.ends_with("sh")));
    }

    #[test]
    fn only_the_basic_environment_is_inherited() {
        // Variables cargo sets for the test process stand in for promised's own.
        let script = r#"env | cut -d= -f1 | sort > "$KRATIX_OUTPUT/env""#;
        let (result, root) = run(&pipeline(&[script], false), TEST_TIMEOUT);
        result.unwrap();
        let names = fs::read_to_string(root.path().join("output/env")).unwrap();
        assert!(
            !names
                .lines()
                .any(|n| n == "CARGO_PKG_NAME" || n == "RUST_TEST_THREADS"),
            "{names}"
        );
        assert!(names.lines().any(|n| n == "KRATIX_OBJECT_NAME"), "{names}");
        assert!(names.lines().any(|n| n == "GREETING"), "{names}");
    }
}
