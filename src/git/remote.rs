//! The network edge: fetch and push through the `git` program.
//!
//! gix cannot push, and the `git` program already knows how to reach every remote a
//! platform team uses (file paths, `file://`, https with credential helpers, ssh with the
//! agent and `GIT_SSH_COMMAND`). Every call runs with `GIT_TERMINAL_PROMPT=0` and a
//! timeout, so a remote that asks for a password or hangs fails instead of blocking.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::GitError;
use crate::child::{CaptureError, Captured, run_captured};

/// What became of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// The remote branch now points at the commit.
    Pushed,
    /// The remote branch moved since it was fetched (or the remote refused); nothing
    /// was overwritten. Fetch and try again.
    Rejected(String),
}

/// One ref a push moves: to `commit`, only if the remote's ref is still at `expected`
/// (`None`: only if it does not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefUpdate<'a> {
    /// The full ref name, `refs/heads/main`.
    pub(crate) reference: &'a str,
    /// The commit it moves to.
    pub(crate) commit: &'a str,
    /// Where it must still be.
    pub(crate) expected: Option<&'a str>,
}

/// What the daemon needs from the network side of Git: fetch a branch, move local
/// refs, push with a lease. [`GitCli`] implements it with the `git` program.
pub(crate) trait Remote: Send + Sync {
    /// Fetches `remote` and returns the commit its `branch` points at, if any.
    fn fetch(&self, remote: &str, branch: &str) -> Result<Option<String>, GitError>;
    /// The commit a local reference points at, if it exists.
    fn resolve(&self, reference: &str) -> Option<String>;
    /// Points a local reference at `commit`, or deletes it.
    fn set_ref(&self, reference: &str, commit: Option<&str>) -> Result<(), GitError>;
    /// Moves every ref of `updates` on `remote`, all or none, each only if it is still
    /// where it is expected.
    fn push(&self, remote: &str, updates: &[RefUpdate<'_>]) -> Result<PushOutcome, GitError>;
}

impl Remote for GitCli {
    fn fetch(&self, remote: &str, branch: &str) -> Result<Option<String>, GitError> {
        GitCli::fetch(self, remote, branch)
    }

    fn resolve(&self, reference: &str) -> Option<String> {
        GitCli::resolve(self, reference)
    }

    fn set_ref(&self, reference: &str, commit: Option<&str>) -> Result<(), GitError> {
        GitCli::set_ref(self, reference, commit)
    }

    fn push(&self, remote: &str, updates: &[RefUpdate<'_>]) -> Result<PushOutcome, GitError> {
        GitCli::push(self, remote, updates)
    }
}

/// Where [`GitCli::fetch`] keeps `remote`'s ref `refs/promised/<name>` (the daemons'
/// saved states and leases).
pub(crate) fn fetched_promised_ref(remote: &str, name: &str) -> String {
    format!("refs/promised-remotes/{remote}/{name}")
}

/// A local repository driven through the `git` program.
#[derive(Debug, Clone)]
pub(crate) struct GitCli {
    dir: PathBuf,
    timeout: Duration,
}

impl GitCli {
    /// Works on the repository at `dir`; each command is killed after `timeout`.
    pub(crate) fn new(dir: &Path, timeout: Duration) -> Self {
        GitCli {
            dir: dir.to_path_buf(),
            timeout,
        }
    }

    /// Creates a bare repository at the folder unless one is there, and points the
    /// remote `name` at `url`.
    pub(crate) fn init_with_remote(&self, name: &str, url: &str) -> Result<(), GitError> {
        if !self.dir.join("HEAD").exists() {
            fs_err::create_dir_all(&self.dir)
                .map_err(|e| self.failure(&["init"], e.to_string()))?;
            self.run(&["init", "--quiet", "--bare"])?;
        }
        if self.run(&["remote", "get-url", name]).is_ok() {
            self.run(&["remote", "set-url", name, url])?;
        } else {
            self.run(&["remote", "add", name, url])?;
        }
        Ok(())
    }

    /// Fetches every branch of `remote`, and the daemons' refs (`refs/promised/*`: saved
    /// states and leases, into [`fetched_promised_ref`]), and returns the commit its
    /// `branch` points at, or `None` when the remote has no such branch yet.
    pub(crate) fn fetch(&self, remote: &str, branch: &str) -> Result<Option<String>, GitError> {
        let branches = format!("+refs/heads/*:refs/remotes/{remote}/*");
        let daemons = format!("+refs/promised/*:{}", fetched_promised_ref(remote, "*"));
        let args = ["fetch", "--quiet", "--prune", "--no-tags", remote];
        self.run(&[&args[..], &[&branches, &daemons]].concat())?;
        let tracking = format!("refs/remotes/{remote}/{branch}");
        Ok(self.resolve(&tracking))
    }

    /// The commit `reference` points at, if it exists.
    pub(crate) fn resolve(&self, reference: &str) -> Option<String> {
        let spec = format!("{reference}^{{commit}}");
        let out = self
            .run(&["rev-parse", "--verify", "--quiet", &spec])
            .ok()?;
        Some(out.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// Points `reference` at `commit`, or deletes it when `commit` is `None`.
    pub(crate) fn set_ref(&self, reference: &str, commit: Option<&str>) -> Result<(), GitError> {
        match commit {
            Some(commit) => self.run(&["update-ref", reference, commit]).map(drop),
            None => {
                if self.resolve(reference).is_some() {
                    self.run(&["update-ref", "-d", reference])?;
                }
                Ok(())
            }
        }
    }

    /// Moves the refs of `updates` on `remote` in one atomic push, each only if the
    /// remote's ref is still where it is expected.
    pub(crate) fn push(
        &self,
        remote: &str,
        updates: &[RefUpdate<'_>],
    ) -> Result<PushOutcome, GitError> {
        let leases = updates.iter().map(|u| {
            format!(
                "--force-with-lease={}:{}",
                u.reference,
                u.expected.unwrap_or("")
            )
        });
        let refspecs = updates
            .iter()
            .map(|u| format!("{}:{}", u.commit, u.reference));
        let mut args: Vec<String> = ["push", "--porcelain", "--atomic"].map(String::from).into();
        args.extend(leases);
        args.push(remote.to_string());
        args.extend(refspecs);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.output(&args)? {
            (true, _, _) => Ok(PushOutcome::Pushed),
            (false, stdout, stderr) => {
                // "[rejected] (stale info)", "(fetch first)", "(non-fast-forward)": the
                // branch moved. "[remote rejected]" (a protected branch, a hook) is not a
                // race, and retrying would not help.
                let rejected = stdout.lines().find(|line| line.starts_with('!'));
                match rejected {
                    Some(line) if !line.contains("[remote rejected]") => {
                        Ok(PushOutcome::Rejected(line.trim().to_string()))
                    }
                    Some(line) => Err(self.failure(&args, format!("{}\n{stderr}", line.trim()))),
                    None => Err(self.failure(&args, stderr)),
                }
            }
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, GitError> {
        match self.output(args)? {
            (true, stdout, _) => Ok(stdout),
            (false, _, stderr) => Err(self.failure(args, stderr)),
        }
    }

    /// Runs `git` with output going to temporary files (no pipe can fill up and block),
    /// and kills it after the timeout.
    fn output(&self, args: &[&str]) -> Result<(bool, String, String), GitError> {
        let fail = |message: String| self.failure(args, message);
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_TERMINAL_PROMPT", "0");
        match run_captured(&mut command, self.timeout) {
            Ok(Captured::Finished {
                status,
                stdout,
                stderr,
            }) => Ok((status.success(), stdout, stderr)),
            Ok(Captured::TimedOut) => Err(fail(format!("timed out after {:?}", self.timeout))),
            Err(CaptureError::Start(e)) => Err(fail(format!("cannot run git: {e}"))),
            Err(CaptureError::Io(e)) => Err(fail(e.to_string())),
        }
    }

    fn failure(&self, args: &[&str], message: String) -> GitError {
        GitError::Command {
            args: args.join(" "),
            dir: self.dir.display().to_string(),
            message: message.trim().to_string(),
        }
    }
}
