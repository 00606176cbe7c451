//! The folders a worker's pipeline runs happen in: a new one for every run.
//!
//! Nothing an earlier run left behind may reach a later run's folders. A pipeline's
//! process can outlive its run: one that calls `setsid` escapes the kill of its process
//! group, and may write later to the paths it was given or into the folder it was
//! started in. A pipeline can also leave `input/object.yaml` replaced by a hard link to
//! a file elsewhere, which a reused folder would then write the next request into. So
//! each run gets a new folder, with a name no earlier run could know (16 random
//! characters), made inside the worker's own folder; the run's `object.yaml` is created
//! new in it; and it is removed after the run's output is read (a few runs later: see
//! [`Remover`]), and never used again. Containers' logs stay in
//! the worker's folder, rewritten from run to run: `promised` writes them from pipes, so
//! no container reaches them, and each run makes and removes two files fewer. A leftover
//! process's paths and working folder then point into a removed folder, where nothing
//! can be created.
//!
//! This guards against what a run leaves behind, not against a hostile process that
//! looks for the next folder: under the process executor a pipeline runs as
//! `promised`'s own user and can list `TMPDIR` (see docs/executors.md).
//!
//! Runs used to reuse one folder, emptied in between, because new folders cost: on
//! ext4 each new inode is a search past recently deleted ones, and removing a folder
//! frees its block (with `discard`, a wait for the device). Making a run's four folders
//! is cheap; their removal happens on a thread of the worker's own ([`Remover`]), name
//! by name where the folder holds only what was made and read back. Per
//! step this still costs about 0.2 to 0.4 ms more than reusing one folder did (see
//! docs/performance.md).

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use fs_err as fs;

use super::{ExecError, Executor, LogFolder};
use super::{Job, RunError, RunOutput, Workspace, run_on};

/// How many of a worker's log folders keep their files open from run to run, and how
/// many files each keeps (see [`LogFolder`]): two containers' streams, in the log
/// folders of the first four runs in flight; at most 16 open files per worker, whatever
/// `--jobs`.
const FOLDERS_KEEPING_FILES: usize = 4;
const FILES_KEPT: usize = 4;

/// How many finished runs' folders may wait for removal before a worker waits too.
const REMOVALS_WAITING: usize = 64;

/// How many finished runs' folders go to the remover at once: waking it for each run
/// cost more CPU (a `futex` call on each side, and a switch of threads) than most
/// removals.
const REMOVAL_BATCH: usize = 16;

/// A worker's folder: each [`RunFolder::run`] happens in a new folder inside it, removed
/// after the run. It is made on the first run, and removed when this is dropped, with
/// anything a run's removal missed. Runs may share it at once (a worker keeps several
/// runs in flight while they wait): each takes a log folder of its own for as long as
/// it runs.
#[derive(Debug, Default)]
pub struct RunFolder {
    made: OnceLock<Made>,
    /// Log folders no run is using, and how many were made.
    logs: Mutex<(Vec<Arc<LogFolder>>, usize)>,
}

/// The worker's folder once made, and what removes its runs' folders.
#[derive(Debug)]
struct Made {
    /// Taken when this is dropped.
    remover: Option<Remover>,
    root: tempfile::TempDir,
}

/// The thread that removes the folders of finished runs. Removing a folder is slow on
/// some file systems (on ext4 mounted with `discard`, up to 1 ms of waiting for the
/// device per folder, for 0.01 to 0.03 ms of CPU), so the worker goes on with its next
/// run meanwhile. A folder waiting for removal is one no later run uses, so nothing
/// reads it again. Folders are handed over [`REMOVAL_BATCH`] at a time: up to that many
/// less one wait, with whatever their runs left in them, until the batch fills or the
/// worker ends.
#[derive(Debug)]
struct Remover {
    queue: SyncSender<Vec<Finished>>,
    /// Finished runs not handed over yet.
    batch: Mutex<Vec<Finished>>,
    thread: JoinHandle<()>,
}

impl Remover {
    /// Hands `finished` over for removal, with the batch it completes.
    fn remove(&self, finished: Finished) {
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        batch.push(finished);
        if batch.len() >= REMOVAL_BATCH {
            let full = std::mem::replace(&mut *batch, Vec::with_capacity(REMOVAL_BATCH));
            drop(batch);
            // Only fails if the thread has gone; the folders are then removed here.
            let _ = self.queue.send(full);
        }
    }

    /// Removes what is still waiting, and ends the thread.
    fn finish(self) {
        let Remover {
            queue,
            batch,
            thread,
        } = self;
        let _ = queue.send(batch.into_inner().unwrap_or_else(PoisonError::into_inner));
        drop(queue);
        let _ = thread.join();
    }
}

/// A finished run's folder, and the files its output was read back from.
#[derive(Debug)]
struct Finished {
    folder: tempfile::TempDir,
    outputs: Vec<String>,
}

impl RunFolder {
    /// A worker's folder, made under the system's temporary directory (`TMPDIR`) on the
    /// first run.
    pub fn new() -> Self {
        RunFolder::default()
    }

    /// Runs `job` in a new folder and reads back what it produced; the folder is then
    /// removed.
    pub async fn run(&self, executor: &dyn Executor, job: &Job<'_>) -> Result<RunOutput, RunError> {
        let made = self.made()?;
        let folder = tempfile::Builder::new()
            .prefix("")
            .rand_bytes(16)
            .tempdir_in(made.root.path())
            .map_err(|e| in_folder(made.root.path(), e))?;
        let logs = self.take_logs(made.root.path())?;
        let workspace = Workspace::create(folder.path(), logs.folder.clone(), job.object_yaml)?;
        let result = run_on(executor, job, &workspace).await;
        drop(logs);
        if let Some(remover) = &made.remover {
            let outputs = match &result {
                Ok(output) => output.files.keys().cloned().collect(),
                Err(_) => Vec::new(),
            };
            remover.remove(Finished { folder, outputs });
        }
        result
    }

    fn made(&self) -> Result<&Made, ExecError> {
        if let Some(made) = self.made.get() {
            return Ok(made);
        }
        let made = Made::new()?;
        Ok(self.made.get_or_init(|| made))
    }

    /// A log folder no run in flight uses, given back when the run ends (or its future
    /// is dropped): containers' logs are rewritten from run to run in the same few
    /// folders, and no two runs write the same file.
    fn take_logs(&self, root: &Path) -> Result<LogSlot<'_>, ExecError> {
        let mut logs = self.lock_logs();
        let folder = match logs.0.pop() {
            Some(free) => free,
            None => {
                let made = logs.1;
                let path = root.join(format!("logs-{made}"));
                fs::create_dir(&path)?;
                logs.1 += 1;
                let keep = if made < FOLDERS_KEEPING_FILES {
                    FILES_KEPT
                } else {
                    0
                };
                Arc::new(LogFolder::new(path, keep))
            }
        };
        Ok(LogSlot { run: self, folder })
    }

    fn lock_logs(&self) -> std::sync::MutexGuard<'_, (Vec<Arc<LogFolder>>, usize)> {
        self.logs.lock().expect("no panics hold the lock")
    }
}

/// A log folder held by one run; dropping it gives it back.
struct LogSlot<'f> {
    run: &'f RunFolder,
    folder: Arc<LogFolder>,
}

impl Drop for LogSlot<'_> {
    fn drop(&mut self) {
        self.run.lock_logs().0.push(self.folder.clone());
    }
}

impl Made {
    fn new() -> Result<Self, ExecError> {
        let root = tempfile::Builder::new()
            .prefix("promised-run-")
            .tempdir()
            .map_err(|e| in_folder(&std::env::temp_dir(), e))?;
        let (queue, batches) = sync_channel::<Vec<Finished>>(REMOVALS_WAITING / REMOVAL_BATCH);
        let thread = std::thread::Builder::new()
            .name("run-folder-remover".into())
            .spawn(move || {
                for Finished { mut folder, outputs } in batches.into_iter().flatten() {
                    if remove_as_laid_out(folder.path(), &outputs) {
                        folder.disable_cleanup(true);
                        continue;
                    }
                    let path = folder.path().to_path_buf();
                    if let Err(err) = folder.close() {
                        // Something the run left is still writing there; the worker's
                        // folder goes with what is left when the worker ends.
                        tracing::warn!(folder = %path.display(), "cannot remove a run's folder: {err}");
                    }
                }
            })?;
        Ok(Made {
            remover: Some(Remover {
                queue,
                batch: Mutex::new(Vec::with_capacity(REMOVAL_BATCH)),
                thread,
            }),
            root,
        })
    }
}

/// Removes a finished run's folder as [`Workspace::create`] laid it out and the
/// read-back found it: `input/object.yaml`, the files of `outputs`, an empty
/// `metadata`, then the four folders. Each is one call on a name in a folder opened
/// with `O_NOFOLLOW`, and no folder is listed: about a quarter of the system calls of a
/// walk, which were most of the remover's CPU. Anything else in the folder (what a
/// pipeline left in `metadata` or beside the three, a subfolder of the output, a file
/// written after the read-back) makes a step fail, and `false` says that the folder
/// must be walked for what is left.
fn remove_as_laid_out(root: &Path, outputs: &[String]) -> bool {
    use nix::fcntl::{AT_FDCWD, OFlag, open, openat};
    use nix::sys::stat::Mode;
    use nix::unistd::{UnlinkatFlags, unlinkat};

    if outputs.iter().any(|path| path.contains('/')) {
        return false;
    }
    let folder = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let Ok(root_fd) = open(root, folder, Mode::empty()) else {
        return false;
    };
    let rmdir = |name: &str| unlinkat(&root_fd, name, UnlinkatFlags::RemoveDir).is_ok();
    let emptied = |name: &str, files: &[&str]| {
        let Ok(dir) = openat(&root_fd, name, folder, Mode::empty()) else {
            return false;
        };
        let unlinked = |file: &&str| unlinkat(&dir, *file, UnlinkatFlags::NoRemoveDir).is_ok();
        files.iter().all(unlinked) && rmdir(name)
    };
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    emptied("input", &["object.yaml"])
        && emptied("output", &outputs)
        && rmdir("metadata")
        && unlinkat(AT_FDCWD, root, UnlinkatFlags::RemoveDir).is_ok()
}

fn in_folder(dir: &Path, e: std::io::Error) -> ExecError {
    let message = format!("cannot create a run folder in {}: {e}", dir.display());
    ExecError::Io(std::io::Error::new(e.kind(), message))
}

impl Drop for Made {
    fn drop(&mut self) {
        if let Some(remover) = self.remover.take() {
            remover.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::model::{Action, Promise, RequestFile, WorkflowType};
    use crate::pipeline::Subject;

    /// An executor that runs `step` on the workspace instead of containers, and
    /// remembers each workspace.
    struct Step<F> {
        step: F,
        seen: Mutex<Vec<Workspace>>,
    }

    impl<F: Fn(&Workspace) + Send + Sync> Executor for Step<F> {
        fn run<'a>(
            &'a self,
            _job: &'a Job<'_>,
            workspace: &'a Workspace,
        ) -> futures_util::future::BoxFuture<'a, Result<(), ExecError>> {
            (self.step)(workspace);
            self.seen.lock().unwrap().push(workspace.clone());
            Box::pin(std::future::ready(Ok(())))
        }
    }

    fn request(name: &str) -> RequestFile {
        let file = crate::model::fixtures::request("app", name);
        RequestFile::parse(&file.path, file.blob, file.bytes)
    }

    fn job<'a>(promise: &'a Promise, request: &'a RequestFile) -> Job<'a> {
        Job {
            promise,
            pipeline: &promise.workflows.resource.configure[0],
            workflow: (WorkflowType::Resource, Action::Configure),
            object: Subject::request(&request.key, request.document.as_ref().unwrap()),
            object_yaml: &request.bytes,
            timeout: Duration::from_secs(3600),
            limits: Default::default(),
            pipelines: None,
            stop: Box::leak(Box::default()),
        }
    }

    /// Runs `step` twice in one worker's folder, on two requests; the workspaces it ran in.
    fn run_twice(step: impl Fn(&Workspace) + Send + Sync) -> Vec<Workspace> {
        run_in_one_folder(&["a", "b"], step).1
    }

    /// Runs `step` in one worker's folder on a request per name, one after the other;
    /// the folder, still there, and the workspaces it ran in.
    fn run_in_one_folder(
        names: &[&str],
        step: impl Fn(&Workspace) + Send + Sync,
    ) -> (RunFolder, Vec<Workspace>) {
        let promise = Promise::test("app")
            .with_pipeline("resource.configure", "render")
            .build();
        let executor = Step {
            step,
            seen: Mutex::new(Vec::new()),
        };
        let folder = RunFolder::new();
        for name in names {
            let request = request(name);
            crate::runtime::block_here(folder.run(&executor, &job(&promise, &request))).unwrap();
        }
        (folder, executor.seen.into_inner().unwrap())
    }

    /// An executor whose runs each wait until two are in flight.
    struct InPairs {
        both_started: tokio::sync::Barrier,
        seen: Mutex<Vec<Workspace>>,
    }

    impl Executor for InPairs {
        fn run<'a>(
            &'a self,
            _job: &'a Job<'_>,
            workspace: &'a Workspace,
        ) -> futures_util::future::BoxFuture<'a, Result<(), ExecError>> {
            Box::pin(async move {
                self.seen.lock().unwrap().push(workspace.clone());
                self.both_started.wait().await;
                Ok(())
            })
        }
    }

    #[test]
    fn runs_in_flight_at_once_write_their_logs_apart_and_later_runs_reuse_them() {
        let promise = Promise::test("app")
            .with_pipeline("resource.configure", "render")
            .build();
        let executor = InPairs {
            both_started: tokio::sync::Barrier::new(2),
            seen: Mutex::new(Vec::new()),
        };
        let folder = RunFolder::new();
        let [a, b, c, d] = ["a", "b", "c", "d"].map(request);
        for (first, second) in [(&a, &b), (&c, &d)] {
            let (first, second) = (job(&promise, first), job(&promise, second));
            let both = futures_util::future::join(
                folder.run(&executor, &first),
                folder.run(&executor, &second),
            );
            let (first, second) = crate::runtime::block_here(both);
            first.unwrap();
            second.unwrap();
        }
        let logs: Vec<PathBuf> = executor
            .seen
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|w| w.logs.path().to_path_buf())
            .collect();
        assert_ne!(logs[0], logs[1]);
        let mut earlier = logs[..2].to_vec();
        let mut later = logs[2..].to_vec();
        earlier.sort();
        later.sort();
        assert_eq!(
            earlier, later,
            "the second pair reuses the first pair's log folders"
        );
    }

    #[test]
    fn logs_stay_in_the_worker_s_folder_outside_every_run_s_folder() {
        let seen = run_twice(|_| {});
        assert_eq!(seen[0].logs, seen[1].logs);
        for workspace in &seen {
            assert!(!workspace.logs.path().starts_with(&workspace.scratch));
            assert_eq!(workspace.scratch.parent(), workspace.logs.path().parent());
        }
    }

    #[test]
    fn finished_runs_folders_go_to_the_remover_a_batch_at_a_time_and_all_by_the_end() {
        let names = vec!["a"; REMOVAL_BATCH - 1];
        let (folder, seen) = run_in_one_folder(&names, |_| {});
        assert_eq!(seen.len(), REMOVAL_BATCH - 1);
        assert!(
            seen.iter().all(|w| w.scratch.exists()),
            "a batch not yet full waits with its worker"
        );
        drop(folder);
        assert!(seen.iter().all(|w| !w.scratch.exists()));
    }

    #[test]
    fn each_run_has_a_new_folder_and_the_earlier_one_is_gone() {
        let objects = Mutex::new(Vec::new());
        let seen = run_twice(|workspace| {
            let object = fs::read_to_string(workspace.object_yaml()).unwrap();
            objects.lock().unwrap().push(object);
        });
        assert_ne!(seen[0].scratch, seen[1].scratch);
        assert_eq!(seen[0].scratch.parent(), seen[1].scratch.parent());
        assert!(!seen[0].scratch.exists() && !seen[1].scratch.exists());
        let objects = objects.into_inner().unwrap();
        assert!(
            objects[0].contains("name: a}") && objects[1].contains("name: b}"),
            "{objects:?}"
        );
    }

    #[test]
    fn a_hard_link_left_in_place_of_object_yaml_does_not_carry_the_next_request_outside() {
        let elsewhere = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let victim: PathBuf = elsewhere.path().join("kubeconfig");
        fs::write(&victim, "untouched\n").unwrap();
        run_twice(|workspace| {
            fs::remove_file(workspace.object_yaml()).unwrap();
            fs::hard_link(&victim, workspace.object_yaml()).unwrap();
        });
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched\n");
    }

    /// A run's folder as `Workspace::create` lays it out, with `outputs` written.
    fn laid_out(outputs: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let worker = tempfile::tempdir().unwrap();
        let root = worker.path().join("run");
        fs::create_dir(&root).unwrap();
        let workspace =
            Workspace::create(&root, crate::pipeline::logs_in(worker.path()), b"kind: A\n")
                .unwrap();
        for output in outputs {
            fs::write(workspace.output.join(output), "kind: B\n").unwrap();
        }
        (worker, root)
    }

    #[test]
    fn a_run_s_folder_as_it_was_laid_out_is_removed_name_by_name() {
        let (_worker, root) = laid_out(&["a.yaml", "b.yaml"]);
        let outputs = ["a.yaml".to_string(), "b.yaml".to_string()];
        assert!(remove_as_laid_out(&root, &outputs));
        assert!(!root.exists());
    }

    #[test]
    fn anything_else_in_a_run_s_folder_is_left_to_the_walk() {
        type Change = fn(&Path);
        let changes: [(&str, Change); 5] = [
            ("a file in metadata", |root| {
                fs::write(root.join("metadata/status.yaml"), "x: 1\n").unwrap()
            }),
            ("a file beside the three", |root| {
                fs::write(root.join("left.txt"), "x").unwrap()
            }),
            ("an output file written after the read-back", |root| {
                fs::write(root.join("output/late.yaml"), "kind: C\n").unwrap()
            }),
            ("a subfolder of the output", |root| {
                fs::create_dir(root.join("output/sub")).unwrap()
            }),
            ("object.yaml removed", |root| {
                fs::remove_file(root.join("input/object.yaml")).unwrap()
            }),
        ];
        for (what, change) in changes {
            let (_worker, root) = laid_out(&["a.yaml"]);
            change(&root);
            assert!(!remove_as_laid_out(&root, &["a.yaml".into()]), "{what}");
            assert!(root.exists(), "{what}");
        }
        let (_worker, root) = laid_out(&["a.yaml"]);
        assert!(
            !remove_as_laid_out(&root, &["sub/a.yaml".into()]),
            "a nested path"
        );
    }

    #[test]
    fn a_link_in_place_of_a_run_s_folder_is_not_followed_by_its_removal() {
        let elsewhere = tempfile::tempdir().unwrap();
        fs::write(elsewhere.path().join("object.yaml"), "untouched\n").unwrap();
        fs::write(elsewhere.path().join("a.yaml"), "untouched\n").unwrap();
        for replaced in ["input", "output"] {
            let (_worker, root) = laid_out(&["a.yaml"]);
            fs::remove_dir_all(root.join(replaced)).unwrap();
            std::os::unix::fs::symlink(elsewhere.path(), root.join(replaced)).unwrap();
            assert!(!remove_as_laid_out(&root, &["a.yaml".into()]), "{replaced}");
        }
        for file in ["object.yaml", "a.yaml"] {
            let text = fs::read_to_string(elsewhere.path().join(file)).unwrap();
            assert_eq!(text, "untouched\n", "{file}");
        }
    }
}
