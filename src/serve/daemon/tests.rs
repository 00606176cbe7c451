//! The daemon stepped in process: real Git repositories in temporary folders, a remote
//! whose pushes can be refused at will, and time given to each sync, so that the rules
//! (a refused push keeps the work, a standby takes over when the lease ends, a restart
//! reruns nothing) are tested without sleeping.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::executor::ProcessExecutor;
use crate::git::{GitCli, run_git as git};
use crate::model::RequestKey;

/// The `git` program, except that the first `refuse` pushes are refused as a remote
/// that moved refuses them.
struct FlakyRemote {
    git: GitCli,
    refuse: AtomicUsize,
    pushes: Mutex<Vec<Vec<String>>>,
}

impl Remote for FlakyRemote {
    fn fetch(&self, remote: &str, branch: &str) -> Result<Option<String>, GitError> {
        self.git.fetch(remote, branch)
    }

    fn resolve(&self, reference: &str) -> Option<String> {
        self.git.resolve(reference)
    }

    fn set_ref(&self, reference: &str, commit: Option<&str>) -> Result<(), GitError> {
        self.git.set_ref(reference, commit)
    }

    fn push(&self, remote: &str, updates: &[RefUpdate<'_>]) -> Result<PushOutcome, GitError> {
        let refs = updates.iter().map(|u| u.reference.to_string()).collect();
        self.pushes.lock().unwrap().push(refs);
        let refused = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match refused {
            Ok(_) => Ok(PushOutcome::Rejected("! [rejected] (fetch first)".into())),
            Err(_) => self.git.push(remote, updates),
        }
    }
}

/// `git` in `dir` with `input` on its standard input.
fn git_with(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The pipeline of the `app` Promise: one ConfigMap.
const SCRIPT: &str = "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: x}\\n' > \"$KRATIX_OUTPUT/cm.yaml\"";

/// A remote (a bare repository) holding the `app` Promise, a destination and request
/// `a`, and a developer's clone of it.
struct Platform {
    dir: tempfile::TempDir,
}

impl Platform {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clone = dir.path().join("clone");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        git(dir.path(), &["clone", "-q", "remote.git", "clone"]);
        git(&clone, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        let write = |path: &str, text: &str| {
            let file = clone.join(path);
            fs_err::create_dir_all(file.parent().unwrap()).unwrap();
            fs_err::write(file, text).unwrap();
        };
        let promise = crate::model::Promise::test("app");
        let promise = promise.with_script("resource.configure", "configure", SCRIPT);
        write("promises/app.yaml", &promise.text());
        write(
            "destinations/dev.yaml",
            "kind: Destination\nmetadata: {name: dev, labels: {env: dev}}\n",
        );
        write(
            "requests/app/a.yaml",
            &crate::model::fixtures::request_text("app", "a"),
        );
        let platform = Platform { dir };
        platform.commit("The platform");
        platform
    }

    fn clone(&self) -> std::path::PathBuf {
        self.dir.path().join("clone")
    }

    /// Commits the clone and pushes it, on top of what daemons pushed.
    fn commit(&self, message: &str) {
        let clone = self.clone();
        git(
            &clone,
            &["-c", "user.name=dev", "-c", "user.email=dev@x", "add", "-A"],
        );
        git(
            &clone,
            &[
                "-c",
                "user.name=dev",
                "-c",
                "user.email=dev@x",
                "commit",
                "-qm",
                message,
            ],
        );
        if !git(&clone, &["ls-remote", "origin", "main"]).is_empty() {
            git(&clone, &["pull", "-q", "--rebase", "origin", "main"]);
        }
        git(&clone, &["push", "-q", "origin", "main"]);
    }

    fn remote(&self) -> std::path::PathBuf {
        self.dir.path().join("remote.git")
    }

    /// A daemon on a work folder of its own, whose first `refuse` pushes are refused.
    fn daemon(&self, id: &str, refuse: usize) -> (Daemon, Arc<Metrics>) {
        let workdir = self.dir.path().join(format!("work-{id}"));
        let cli = GitCli::new(&workdir, Duration::from_secs(60));
        cli.init_with_remote(INPUT_REMOTE, self.remote().to_str().unwrap())
            .unwrap();
        let remote = FlakyRemote {
            git: cli,
            refuse: AtomicUsize::new(refuse),
            pushes: Mutex::new(Vec::new()),
        };
        let config = SyncConfig {
            workdir,
            branch: "main".into(),
            output: None,
            options: Options::default(),
            push_backoff: Backoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(1),
            },
            retry_backoff: Backoff {
                base: Duration::from_secs(30),
                max: Duration::from_secs(600),
            },
            push_attempts: 4,
            schedule: Schedule::parse("0 0 1 1 *").unwrap(),
            lease: Some(LeaseSettings {
                id: id.into(),
                duration: Duration::from_secs(45),
                kubernetes: None,
            }),
        };
        let metrics = Arc::new(Metrics::default());
        let executor = Box::new(ProcessExecutor::default());
        let daemon = Daemon::with_remote(config, Box::new(remote), executor, metrics.clone());
        (daemon, metrics)
    }

    fn remote_has(&self, path: &str) -> bool {
        git(&self.remote(), &["ls-tree", "-r", "--name-only", "main"]).contains(path)
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

/// The second of `t` after [`at`]'s origin: a sync's clock moves on with the few
/// milliseconds it really takes.
fn second(t: DateTime<Utc>) -> i64 {
    t.timestamp() - at(0).timestamp()
}

/// Who holds the lease and until which second, for a daemon that stands by.
fn standing_by(synced: Synced) -> (String, i64) {
    match synced {
        Synced::Standby { holder, until } => (holder, second(until)),
        other => panic!("not standing by: {other:?}"),
    }
}

fn ran(synced: Synced) -> usize {
    match synced {
        Synced::Reconciled { pipelines_run, .. } => pipelines_run,
        other => panic!("no pass ran: {other:?}"),
    }
}

#[test]
fn a_refused_push_keeps_the_work_and_the_next_attempt_pushes_it() {
    let platform = Platform::new();
    // The first push takes the lease; the next is the pass's, refused once.
    let (mut daemon, metrics) = platform.daemon("a", 0);
    daemon.sync(at(0)).unwrap();
    let (mut other, _) = platform.daemon("b", 0);
    assert!(matches!(other.sync(at(1)).unwrap(), Synced::Standby { .. }));

    fs_err::write(
        platform.clone().join("requests/app/b.yaml"),
        "apiVersion: test.promised.dev/v1\nkind: App\nmetadata: {name: b}\n",
    )
    .unwrap();
    platform.commit("Request b");
    let remote = FlakyRemote {
        git: GitCli::new(&daemon.config.workdir, Duration::from_secs(60)),
        refuse: AtomicUsize::new(1),
        pushes: Mutex::new(Vec::new()),
    };
    daemon.git = Box::new(remote);
    let synced = daemon.sync(at(2)).unwrap();
    assert_eq!(
        ran(synced),
        1,
        "b ran again, on top of the remote as it is now"
    );
    assert_eq!(metrics.push_rejections.get(), 1);
    assert!(platform.remote_has("status/app/default/b.yaml"));
}

#[test]
fn a_standby_takes_over_when_the_lease_ends_and_reruns_nothing_the_holder_did() {
    let platform = Platform::new();
    let (mut holder, _) = platform.daemon("a", 0);
    assert_eq!(ran(holder.sync(at(0)).unwrap()), 1);
    let (mut standby, metrics) = platform.daemon("b", 0);
    let waiting = standby.sync(at(10)).unwrap();
    assert_eq!(standing_by(waiting), ("a".into(), 45));
    assert_eq!(
        standby.next_due().map(second),
        Some(45),
        "it wakes when the lease ends"
    );
    assert_eq!(metrics.leader.get(), 0);

    // The holder died at 0: at 46 the lease has ended.
    let synced = standby.sync(at(46)).unwrap();
    assert_eq!(ran(synced), 0, "what the holder did is in the saved state");
    assert_eq!(metrics.leader.get(), 1);
    assert!(
        matches!(holder.sync(at(48)).unwrap(), Synced::Standby { ref holder, .. } if holder == "b"),
        "the old holder, back, stands by"
    );
}

#[test]
fn the_holder_renews_the_lease_a_third_before_it_ends_without_a_pass() {
    let platform = Platform::new();
    let (mut holder, _) = platform.daemon("a", 0);
    holder.sync(at(0)).unwrap();
    assert_eq!(
        holder.next_due().map(second),
        Some(30),
        "renewal is what comes next"
    );
    assert_eq!(holder.sync(at(10)).unwrap(), Synced::Idle);
    let (mut standby, _) = platform.daemon("b", 0);
    holder.sync(at(31)).unwrap();
    let waiting = standby.sync(at(50)).unwrap();
    assert_eq!(
        standing_by(waiting),
        ("a".into(), 76),
        "renewed at 31 for 45 s"
    );
}

#[test]
fn a_saved_state_that_does_not_read_reruns_everything_and_is_written_anew() {
    let platform = Platform::new();
    let (mut first, _) = platform.daemon("a", 0);
    assert_eq!(ran(first.sync(at(0)).unwrap()), 1);
    // Anyone who can push to the remote can put anything in the state ref.
    let remote = platform.remote();
    let blob = git_with(
        &remote,
        &["hash-object", "-w", "--stdin"],
        "inputCommit: [x]\n",
    );
    let line = format!("100644 blob {}\tdaemon.yaml\n", blob.trim());
    let tree = git_with(&remote, &["mktree"], &line);
    let commit = git(&remote, &["commit-tree", tree.trim(), "-m", "junk"]);
    git(
        &remote,
        &["update-ref", "refs/promised/daemon/main", commit.trim()],
    );

    // A new daemon (the holder's lease has ended) reads the junk, reruns everything,
    // and saves a state that reads.
    let (mut second, _) = platform.daemon("b", 0);
    assert_eq!(ran(second.sync(at(100)).unwrap()), 1);
    let saved = git(&remote, &["show", "refs/promised/daemon/main:daemon.yaml"]);
    assert!(DaemonState::parse(saved.as_bytes()).is_ok(), "{saved}");
}

#[test]
fn a_restart_keeps_the_retry_backoff_where_the_last_daemon_left_it() {
    let platform = Platform::new();
    let broken = crate::model::Promise::test("broken");
    let broken = broken.with_script("resource.configure", "configure", "exit 3");
    let clone = platform.clone();
    fs_err::write(clone.join("promises/broken.yaml"), broken.text()).unwrap();
    fs_err::create_dir_all(clone.join("requests/broken")).unwrap();
    fs_err::write(
        clone.join("requests/broken/x.yaml"),
        crate::model::fixtures::request_text("broken", "x"),
    )
    .unwrap();
    platform.commit("A request whose pipeline fails");
    let x = RequestKey::test("broken", "default", "x");

    let (mut first, _) = platform.daemon("a", 0);
    first.sync(at(0)).unwrap();
    assert_eq!(
        first.retries.next().map(second),
        Some(30),
        "first retry: 30 s"
    );
    // The retry at 31 fails again: the next waits 60 s.
    assert_eq!(ran(first.sync(at(31)).unwrap()), 1);
    assert_eq!(first.retries.next().map(second), Some(91));
    // (A sync's clock moves on with the milliseconds it takes: due a moment after 91.)
    assert_eq!(first.retries.due(at(92)), vec![x]);
    drop(first);

    // Its lease (renewed at 31 for 45 s) has ended at 76: a new daemon takes over, runs
    // nothing, and keeps the retry at 91, the second step of the backoff.
    let (mut second_daemon, _) = platform.daemon("b", 0);
    assert_eq!(ran(second_daemon.sync(at(77)).unwrap()), 0);
    assert_eq!(second_daemon.retries.next().map(second), Some(91));
    assert_eq!(ran(second_daemon.sync(at(92)).unwrap()), 1);
    assert_eq!(
        second_daemon.retries.next().map(second),
        Some(92 + 120),
        "the third step: 120 s"
    );
}
