//! A command that reads nothing says so and fails: a misspelt branch, a repository with
//! no commits, a revision not fetched (issue 15).

use crate::support::{TestRepo, promised};

#[test]
fn a_branch_that_does_not_exist_is_an_error_naming_the_branches_that_do() {
    let repo = TestRepo::example();
    repo.git(&["branch", "develop"]);
    let run = repo.reconcile(&["--branch", "mian"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    // Before, it printed `0 requests, 0 with problems … nothing changed` and exited 0.
    assert!(
        run.stderr.contains(r#"there is no branch "mian" in "#)
            && run
                .stderr
                .contains("its branches: main, develop: pass --branch"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("nothing changed"), "{}", run.stdout);
}

#[test]
fn a_repository_with_no_commits_says_what_to_commit_first() {
    let repo = TestRepo::new();
    let dir = repo.path().to_str().unwrap();
    for args in [
        vec!["reconcile", "--repo", dir],
        vec!["validate", "--repo", dir],
        vec!["status", "--repo", dir],
    ] {
        let run = promised(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        // Before, validate said `The rev-spec is malformed and misses a ref name`.
        assert!(
            run.stderr.contains("has no commits yet: commit your promises/, destinations/ and requests/ folders first"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_revision_not_fetched_says_to_fetch_it() {
    let repo = TestRepo::example();
    let dir = repo.path().to_str().unwrap();
    let run = promised(&[
        "plan",
        "--repo",
        dir,
        "--base",
        "origin/main",
        "--head",
        "HEAD",
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(r#""origin/main" names no commit in "#)
            && run.stderr.contains("fetch-depth: 0"),
        "{}",
        run.stderr
    );
}

#[test]
fn uncommitted_inputs_are_named_as_not_seen() {
    let repo = TestRepo::example();
    repo.write("requests/redis/new.yaml", "kind: redis\n");
    let run = repo.reconcile(&[]);
    assert!(
        run.stdout.contains(
            "warning  1 uncommitted change under requests/ is not reconciled: commit it first (requests/redis/new.yaml)"
        ),
        "{}",
        run.stdout
    );
    repo.write("promises/extra.yaml", "kind: Promise\n");
    let run = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert!(
        run.stdout.contains(
            "warning: 2 uncommitted changes under promises/ and requests/ are not validated: commit them first (promises/extra.yaml and 1 more)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn yaml_files_outside_the_layout_are_named_as_not_read() {
    let repo = TestRepo::example();
    repo.write("requests/top-level.yaml", "kind: redis\n")
        .write("request/redis/b.yaml", "kind: redis\n")
        .commit("files where promised does not look");
    let run = promised(&["validate", "--repo", repo.path().to_str().unwrap()]);
    assert!(
        run.stdout.contains(
            "request/redis/b.yaml:1: warning: not read: promised reads requests/, not request/"
        ) && run.stdout.contains(
            "requests/top-level.yaml:1: warning: not read: a request file goes in the folder of its Promise: requests/<promise>/top-level.yaml"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn commands_find_the_repository_from_a_subfolder_and_take_request_paths_from_there() {
    let repo = TestRepo::example();
    let requests = repo.path().join("requests");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_promised"))
            .args(args)
            .current_dir(&requests)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) = run(&["validate"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // Before, `--repo .` in a subfolder was not a repository.
    let request = fs_err::read_dir(requests.join("redis"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let relative = format!("redis/{}", request.to_str().unwrap());
    let (code, stdout, stderr) = run(&["reconcile", "--request", &relative]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("(requests/{relative})")),
        "{stdout}"
    );
}

#[test]
fn serve_against_a_worktree_with_the_branch_checked_out_says_to_serve_a_bare_clone() {
    let repo = TestRepo::example();
    let workdir = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(repo.path(), workdir.path());
    // Before, it ran on, and every sync logged git's refusal to push.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve ran on against a worktree whose branch is checked out");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("main is checked out there") && stderr.contains("git clone --bare"),
        "{stderr}"
    );

    // A branch that is not checked out there takes pushes: no complaint.
    repo.git(&["checkout", "-q", "-b", "elsewhere"]);
    let run = spawn_serve(repo.path(), workdir.path());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = nix::unistd::Pid::from_raw(run.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = run.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn serve_logs_what_each_pass_did_without_being_asked() {
    let repo = TestRepo::example();
    let bare = tempfile::tempdir().unwrap();
    let remote = bare.path().join("platform.git");
    repo.git(&["clone", "-q", "--bare", ".", remote.to_str().unwrap()]);
    let before = crate::support::git_in(&remote, &["rev-parse", "main"]);
    let workdir = tempfile::tempdir().unwrap();
    let child = spawn_serve(&remote, workdir.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while crate::support::git_in(&remote, &["rev-parse", "main"]) == before {
        assert!(std::time::Instant::now() < deadline, "no pass was pushed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Before, serve logged warnings only: a pass that went well left no line.
    assert!(
        stderr.contains("INFO") && stderr.contains("pushed"),
        "{stderr}"
    );
}

/// `promised serve` on `remote`, polling every second, with its log (default level)
/// on a pipe.
fn spawn_serve(remote: &std::path::Path, workdir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_promised"))
        .args(["serve", "--remote", remote.to_str().unwrap()])
        .args(["--workdir", workdir.to_str().unwrap(), "--poll", "1s"])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
