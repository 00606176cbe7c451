//! A remote repository, a developer's clone of it, and `promised serve` following it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{CONFIGMAP_SCRIPT, TestRepo, app_repo, git_in, request};

/// A bare "remote" and a developer's clone pushing to it.
pub struct Platform {
    /// The developer's worktree, whose `origin` is the remote.
    pub developer: TestRepo,
    /// The bare remote.
    pub remote: PathBuf,
    _dir: tempfile::TempDir,
}

impl Platform {
    /// The `app` Promise's platform (see [`app_repo`]) with requests `r0` … `r<n-1>`
    /// of `team`, published.
    pub fn with_requests(requests: usize) -> Self {
        let developer = app_repo(CONFIGMAP_SCRIPT);
        for i in 0..requests {
            let name = format!("r{i}");
            developer.write(
                &format!("requests/app/{name}.yaml"),
                &request(&name, "team", "small"),
            );
        }
        developer.commit("The platform");
        Platform::publish(developer)
    }

    /// Publishes what `developer` has committed as the remote's `main`.
    pub fn publish(developer: TestRepo) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("platform.git");
        git_in(
            dir.path(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                remote.to_str().unwrap(),
            ],
        );
        developer.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
        developer.git(&["push", "-q", "origin", "main"]);
        Platform {
            developer,
            remote,
            _dir: dir,
        }
    }

    /// Commits the developer's worktree and pushes it, rebasing on what promised pushed
    /// (again, if promised pushed in between), as a developer would.
    pub fn push(&self, message: &str) {
        self.developer.commit(message);
        for _ in 0..20 {
            self.developer
                .git(&["pull", "-q", "--rebase", "origin", "main"]);
            let pushed = Command::new("git")
                .args(["push", "-q", "origin", "main"])
                .current_dir(self.developer.path())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if pushed.success() {
                return;
            }
        }
        panic!("the developer could not push {message:?}");
    }

    /// The commit a branch of the remote points at.
    pub fn remote_head(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args(["rev-parse", "--verify", "--quiet", branch])
            .current_dir(&self.remote)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    }

    /// Whether the remote's `branch` has `path`.
    pub fn remote_has(&self, branch: &str, path: &str) -> bool {
        Command::new("git")
            .args(["cat-file", "-e", &format!("{branch}:{path}")])
            .current_dir(&self.remote)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// A file of the remote's `branch`.
    pub fn remote_show(&self, branch: &str, path: &str) -> String {
        git_in(&self.remote, &["show", &format!("{branch}:{path}")])
    }

    /// The remote's `git log --format=%s` of `branch`.
    pub fn remote_subjects(&self, branch: &str) -> String {
        git_in(&self.remote, &["log", "--format=%s", branch])
    }
}

/// A running `promised serve`, stopped with SIGTERM when dropped.
pub struct Serve {
    child: Child,
    /// Where its HTTP endpoints listen.
    pub addr: String,
    _workdir: Option<tempfile::TempDir>,
}

impl Serve {
    /// Starts `promised serve --remote <remote> --listen 127.0.0.1:0 <args>` and waits
    /// until it listens. `env` is added to its environment.
    pub fn start(remote: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let workdir = tempfile::tempdir().unwrap();
        let mut serve = Self::start_in(remote, &workdir.path().join("work"), args, env);
        serve._workdir = Some(workdir);
        serve
    }

    /// As [`Serve::start`], with the work folder `workdir`, which outlives it.
    pub fn start_in(remote: &Path, workdir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_promised"))
            .args([
                "serve",
                "--remote",
                remote.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--workdir")
            .arg(workdir)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first
            .trim_start_matches("promised: listening on http://")
            .to_string();
        std::thread::spawn(move || for _ in lines {});
        Serve {
            child,
            addr,
            _workdir: None,
        }
    }

    /// Kills it with SIGKILL, as a node that dies would, and waits until it is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path`: the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http(&self.addr, "GET", path, &[], b"")
    }

    /// A metric's value from `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics");
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Sends SIGTERM and waits; returns whether it exited successfully.
    pub fn stop(mut self) -> bool {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client: enough for the daemon's four endpoints.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Polls `condition` every 20 ms until it holds or `limit` passes; returns how long it took.
pub fn wait_for(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}
