//! The pass with Git and processes replaced by in-memory fakes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::plan::HeldBlobs;
use super::*;
use crate::executor::ExecError;
use crate::git::BlobId;
use crate::git::CommitRequest;
use crate::model::fixtures;
use crate::model::{Promise, SourceFile};
use crate::pipeline::{Job, Workspace};
use crate::state::layout::status_owner;

/// A branch held in memory; blob ids are sha256 of the content.
#[derive(Default)]
pub(super) struct MemoryStore {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Every content ever put, by id: the history a delete workflow reads from.
    history: Mutex<BTreeMap<BlobId, Vec<u8>>>,
    blobs: HeldBlobs,
    commits: Mutex<Vec<String>>,
    /// The cache folder it offers, if any (see `record_cache`).
    cache: Option<tempfile::TempDir>,
    /// How many request status files were read.
    status_reads: Mutex<usize>,
}

impl MemoryStore {
    pub(super) fn with(files: &[(&str, &str)]) -> Self {
        let store = MemoryStore::default();
        for (path, text) in files {
            store.put(path, text);
        }
        store
    }

    /// With a cache folder of its own.
    pub(super) fn with_cache(mut self) -> Self {
        self.cache = Some(tempfile::tempdir().unwrap());
        self
    }

    fn put(&self, path: &str, text: &str) {
        let id = self.blob_id(text.as_bytes());
        self.history.lock().unwrap().insert(id, text.into());
        self.files.lock().unwrap().insert(path.into(), text.into());
    }

    fn paths(&self) -> Vec<String> {
        self.files.lock().unwrap().keys().cloned().collect()
    }
}

impl Store for MemoryStore {
    fn snapshot(&self) -> Result<Snapshot, GitError> {
        let files = self.files.lock().unwrap();
        let listed = files
            .iter()
            .map(|(p, b)| (p.clone(), self.blob_id(b)))
            .collect();
        let commits = self.commits.lock().unwrap();
        Ok(Snapshot {
            commit: Some(format!("commit-{}", commits.len())),
            files: listed,
            ..Snapshot::default()
        })
    }

    fn read(&self, _: &Snapshot, paths: &[&str]) -> Result<Vec<SourceFile>, GitError> {
        let statuses = paths.iter().filter(|p| status_owner(p).is_some()).count();
        *self.status_reads.lock().unwrap() += statuses;
        let files = self.files.lock().unwrap();
        let read = paths.iter().map(|p| SourceFile {
            path: p.to_string(),
            blob: self.blob_id(&files[*p]).to_string(),
            bytes: files[*p].clone(),
        });
        Ok(read.collect())
    }

    fn read_blob(&self, id: &BlobId, what: &str) -> Result<Vec<u8>, GitError> {
        if let Some(bytes) = self.blobs.get(id) {
            return Ok(bytes);
        }
        let history = self.history.lock().unwrap();
        history.get(id).cloned().ok_or_else(|| GitError::Read {
            what: what.into(),
            message: format!("no blob {id}"),
        })
    }

    fn blob_id(&self, bytes: &[u8]) -> BlobId {
        crate::git::sha1_blob_id(bytes)
    }

    fn cache_dir(&self) -> Option<std::path::PathBuf> {
        self.cache.as_ref().map(|dir| dir.path().to_path_buf())
    }

    fn write_blobs(&self, blobs: &[(&str, &[u8])]) -> Result<Vec<BlobId>, GitError> {
        Ok(self.blobs.write(blobs, |bytes| self.blob_id(bytes)))
    }

    fn commit(
        &self,
        _: &Snapshot,
        changes: &Changes,
        request: &CommitRequest<'_>,
    ) -> Result<String, GitError> {
        let mut files = self.files.lock().unwrap();
        for (path, content) in &changes.upserts {
            files.insert(path.clone(), self.blobs.bytes(content.clone()));
        }
        for path in &changes.removals {
            files.remove(path);
        }
        let mut commits = self.commits.lock().unwrap();
        commits.push(request.message.to_string());
        Ok(format!("commit-{}", commits.len()))
    }
}

/// Writes one ConfigMap named after the request; counts its runs.
#[derive(Default)]
struct FakeExecutor {
    runs: Mutex<usize>,
}

impl Executor for FakeExecutor {
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> futures_util::future::BoxFuture<'a, Result<(), ExecError>> {
        *self.runs.lock().unwrap() += 1;
        let doc = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {}}}\n",
            job.object.name
        );
        let written = fs_err::write(workspace.output.join("cm.yaml"), doc);
        Box::pin(std::future::ready(written.map_err(ExecError::from)))
    }
}

/// The Promise `app`, whose one pipeline `configure` the fake executor runs.
fn promise() -> String {
    Promise::test("app")
        .with_pipeline("resource.configure", "configure")
        .text()
}

fn request(name: &str) -> String {
    fixtures::request_text("app", name)
}

/// The Destination `dev`, which takes every output.
const DEV: (&str, &str) = (
    "destinations/dev.yaml",
    "kind: Destination\nmetadata: {name: dev}\n",
);

fn pass(store: &MemoryStore, executor: &FakeExecutor) -> PassReport {
    reconcile(
        store,
        None,
        &Scope::all(),
        executor,
        &Options::default(),
        &|_| {},
    )
    .unwrap()
}

#[test]
fn a_pass_writes_outputs_and_a_rerun_commits_nothing() {
    let store = MemoryStore::with(&[
        ("promises/app.yaml", &promise()),
        DEV,
        ("requests/app/a.yaml", &request("a")),
    ]);
    let executor = FakeExecutor::default();
    let first = pass(&store, &executor);
    assert!(first.succeeded());
    assert_eq!(first.output_commit.as_deref(), Some("commit-1"));
    assert!(
        store
            .paths()
            .contains(&"state/dev/resources/default/app/a/cm.yaml".to_string())
    );

    let second = pass(&store, &executor);
    assert_eq!(second.output_commit, None);
    assert_eq!(store.commits.lock().unwrap().len(), 1);
    assert_eq!(
        *executor.runs.lock().unwrap(),
        2,
        "a full pass reruns every pipeline"
    );
}

#[test]
fn a_full_pass_takes_the_records_an_earlier_one_cached_and_ends_as_one_that_read_them() {
    let promise = promise();
    let files: Vec<(String, String)> = (0..4)
        .map(|i| (format!("requests/app/r{i}.yaml"), request(&format!("r{i}"))))
        .chain([
            ("promises/app.yaml".into(), promise),
            (DEV.0.into(), DEV.1.into()),
        ])
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (&p[..], &t[..])).collect();
    let executor = FakeExecutor::default();
    let paused = request("r1").replace(
        "metadata:",
        "metadata:\n  labels: {kratix.io/paused: \"true\"}",
    );
    // Three full passes; the requests' reports of the last two, the status files each
    // read, and the branch at the end.
    let passes = |store: MemoryStore| {
        let reads = || std::mem::take(&mut *store.status_reads.lock().unwrap());
        let run = |scope: Scope| {
            let report = reconcile(
                &store,
                None,
                &scope,
                &executor,
                &Options::default(),
                &|_| {},
            );
            (report.unwrap().requests, reads())
        };
        let (_, first) = run(Scope::all());
        // r1 is paused (its status is rewritten); the others have not changed, so
        // they are left as they are, status and all.
        store.put("requests/app/r1.yaml", &paused);
        let (second, second_reads) = run(Scope::default());
        // A status file changed by hand since the last pass.
        let edited = "status/app/default/r2.yaml";
        let text = String::from_utf8(store.files.lock().unwrap()[edited].clone()).unwrap();
        store.put(edited, &text.replace("# Status", "# Edited status"));
        let (third, third_reads) = run(Scope::all());
        let branch = store.files.lock().unwrap().clone();
        ((second, third), [first, second_reads, third_reads], branch)
    };

    let (reports, reads, branch) = passes(MemoryStore::with(&files).with_cache());
    // The second pass takes every record from the cache; the third too, but that of
    // the status file edited since, whose entry no longer matches.
    assert_eq!(reads, [0, 0, 1]);
    let (reports_read, reads, branch_read) = passes(MemoryStore::with(&files));
    assert_eq!(reads, [0, 4, 4], "without a cache, a pass reads them all");
    assert_eq!(reports, reports_read);
    assert_eq!(
        branch, branch_read,
        "the same branch, with or without the cache"
    );
}

#[test]
fn a_full_pass_takes_a_request_file_as_the_last_one_read_it_while_its_bytes_and_promise_are_the_same()
 {
    let store = MemoryStore::with(&[
        ("promises/app.yaml", &promise()),
        DEV,
        ("requests/app/a.yaml", &request("a")),
        ("requests/app/b.yaml", &request("b")),
    ])
    .with_cache();
    let executor = FakeExecutor::default();
    assert!(pass(&store, &executor).succeeded());
    // What the pass read of `a`, changed by hand to say that it is paused: a pass that
    // takes the entry pauses `a`; one that reads the file runs it.
    let reads = store.cache_dir().unwrap().join("request-reads");
    let text = fs_err::read_to_string(&reads).unwrap();
    let a = "requests/app/a.yaml";
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.contains(a) {
            true => line.replace(r#""paused":false"#, r#""paused":true"#),
            false => line.to_string(),
        })
        .collect();
    assert_eq!(lines.len(), 3, "a header and both requests: {text}");
    let paused_a = lines.join("\n") + "\n";
    let phases = |report: &PassReport| -> Vec<Option<Phase>> {
        report.requests.iter().map(|r| r.phase).collect()
    };

    fs_err::write(&reads, &paused_a).unwrap();
    let taken = pass(&store, &executor);
    assert_eq!(phases(&taken), [Some(Phase::Paused), Some(Phase::Ready)]);

    // Another Promise file: what was read against the last one is not taken.
    fs_err::write(&reads, &paused_a).unwrap();
    store.put("promises/app.yaml", &format!("{}# changed\n", promise()));
    let read = pass(&store, &executor);
    assert_eq!(phases(&read), [Some(Phase::Ready), Some(Phase::Ready)]);

    // Another request file: the same.
    fs_err::write(&reads, &paused_a).unwrap();
    store.put(a, &format!("{}# changed\n", request("a")));
    let read = pass(&store, &executor);
    assert_eq!(phases(&read), [Some(Phase::Ready), Some(Phase::Ready)]);
}

#[test]
fn files_written_ahead_as_blobs_commit_the_same_tree() {
    let promise = promise();
    let inputs = [("promises/app.yaml", promise.as_str()), DEV];
    let requests: Vec<(String, String)> = (0..5)
        .map(|i| (format!("requests/app/r{i}.yaml"), request(&format!("r{i}"))))
        .collect();
    let files = |store: &MemoryStore| store.files.lock().unwrap().clone();
    let run = |spill_bytes: usize| {
        let store = MemoryStore::with(&inputs);
        for (path, text) in &requests {
            store.put(path, text);
        }
        let options = Options {
            spill_bytes,
            ..Options::default()
        };
        let executor = FakeExecutor::default();
        reconcile(&store, None, &Scope::all(), &executor, &options, &|_| {}).unwrap();
        let again = reconcile(&store, None, &Scope::all(), &executor, &options, &|_| {});
        assert_eq!(
            again.unwrap().output_commit,
            None,
            "a rerun changes nothing"
        );
        store
    };
    let held = run(usize::MAX);
    let spilled = run(0);
    assert!(!spilled.blobs.is_empty(), "blobs were written ahead");
    assert_eq!(files(&spilled), files(&held));
}

#[test]
fn a_plan_shows_the_bytes_of_files_written_ahead() {
    let promise = promise();
    let platform = [("promises/app.yaml", promise.as_str()), DEV];
    let base = MemoryStore::with(&platform);
    let head = MemoryStore::with(&platform);
    head.put("requests/app/a.yaml", &request("a"));
    let planned = |spill_bytes: usize| {
        let options = Options {
            spill_bytes,
            ..Options::default()
        };
        let executor = FakeExecutor::default();
        plan::plan(&base, &head, &executor, &options, &|_| {})
            .unwrap()
            .files
    };
    let spilled = planned(0);
    assert!(
        spilled
            .iter()
            .all(|f| f.after.as_ref().is_some_and(|a| !a.is_empty()))
    );
    assert_eq!(spilled, planned(usize::MAX));
    assert_eq!(
        head.commits.lock().unwrap().len(),
        0,
        "a plan commits nothing"
    );
}

#[test]
fn an_aggregate_is_built_from_files_written_ahead_in_a_pass_and_in_a_plan() {
    let promise = promise();
    let platform = [
        ("promises/app.yaml", promise.as_str()),
        (
            "destinations/dev.yaml",
            "kind: Destination\nmetadata: {name: dev}\nspec: {filepath: {mode: aggregatedYAML}}\n",
        ),
    ];
    let options = Options {
        spill_bytes: 0,
        ..Options::default()
    };
    let executor = FakeExecutor::default();
    let store = MemoryStore::with(&platform);
    store.put("requests/app/a.yaml", &request("a"));
    let report = reconcile(&store, None, &Scope::all(), &executor, &options, &|_| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let aggregate = store.files.lock().unwrap()["state/dev/aggregated.yaml"].clone();
    assert!(String::from_utf8(aggregate).unwrap().contains("name: a}"));

    let base = MemoryStore::with(&platform);
    let head = MemoryStore::with(&platform);
    head.put("requests/app/a.yaml", &request("a"));
    let planned = plan::plan(&base, &head, &executor, &options, &|_| {}).unwrap();
    let aggregate = planned
        .files
        .iter()
        .find(|f| f.path == "state/dev/aggregated.yaml")
        .and_then(|f| f.after.clone())
        .unwrap();
    let aggregate = String::from_utf8(aggregate).unwrap();
    assert!(aggregate.contains("name: a}"), "{aggregate}");
}

#[test]
fn removing_a_request_removes_its_files_and_reports_it() {
    let store = MemoryStore::with(&[
        ("promises/app.yaml", &promise()),
        DEV,
        ("requests/app/a.yaml", &request("a")),
    ]);
    let executor = FakeExecutor::default();
    pass(&store, &executor);
    store.files.lock().unwrap().remove("requests/app/a.yaml");
    let report = pass(&store, &executor);
    let removed: Vec<String> = report
        .removed
        .iter()
        .map(|(k, p)| format!("{k} {p}"))
        .collect();
    assert_eq!(removed, ["app/default/a requests/app/a.yaml"]);
    assert_eq!(
        store.paths(),
        [
            "destinations/dev.yaml",
            "promises/app.yaml",
            "status/app.yaml"
        ]
    );
}

/// Runs like [`FakeExecutor`], but the delete workflow of `stop_at` finds the reconciler
/// stopping: it cancels the pass's token and ends as a cancelled run ends.
struct StoppingExecutor {
    stop_at: WorkflowType,
    inner: FakeExecutor,
}

impl Executor for StoppingExecutor {
    fn run<'a>(
        &'a self,
        job: &'a Job<'_>,
        workspace: &'a Workspace,
    ) -> futures_util::future::BoxFuture<'a, Result<(), ExecError>> {
        if job.workflow == (self.stop_at, Action::Delete) {
            job.stop.cancel();
            return Box::pin(std::future::ready(Err(ExecError::Cancelled)));
        }
        self.inner.run(job, workspace)
    }
}

/// [`promise`] with a delete workflow for its requests and one for itself.
fn deletable_promise() -> String {
    Promise::test("app")
        .with_pipeline("resource.configure", "configure")
        .with_pipeline("resource.delete", "delete")
        .with_pipeline("promise.delete", "delete")
        .text()
}

#[test]
fn a_deletion_stopped_with_the_reconciler_leaves_the_request_and_its_promise_as_they_were() {
    for stop_at in [WorkflowType::Resource, WorkflowType::Promise] {
        let store = MemoryStore::with(&[
            ("promises/app.yaml", &deletable_promise()),
            DEV,
            ("requests/app/a.yaml", &request("a")),
        ]);
        pass(&store, &FakeExecutor::default());
        let promise_status =
            || String::from_utf8(store.files.lock().unwrap()["status/app.yaml"].clone()).unwrap();
        let before = promise_status();
        store.files.lock().unwrap().remove("requests/app/a.yaml");
        store.files.lock().unwrap().remove("promises/app.yaml");

        let executor = StoppingExecutor {
            stop_at,
            inner: FakeExecutor::default(),
        };
        let options = Options::default();
        let report = reconcile(&store, None, &Scope::all(), &executor, &options, &|_| {}).unwrap();
        assert!(!report.succeeded(), "{stop_at:?}");
        // Before, the Promise was recorded as DeleteFailed: "a delete workflow of its
        // requests failed", or the cancelled run's message.
        assert_eq!(
            promise_status(),
            before,
            "{stop_at:?}: the Promise's status stays as it was"
        );
        let outputs = store.paths();
        let request_kept = outputs.contains(&"status/app/default/a.yaml".to_string());
        match stop_at {
            // The request's own delete was stopped: it stays, and so does its Promise.
            WorkflowType::Resource => {
                assert!(request_kept, "{outputs:?}");
                assert_eq!(report.not_run, 2);
                assert_eq!(report.output_commit, None, "nothing changes");
            }
            // The request's delete ran; the Promise's was stopped: only it stays.
            WorkflowType::Promise => {
                assert!(!request_kept, "{outputs:?}");
                assert_eq!(report.not_run, 1);
            }
        }
    }
}
