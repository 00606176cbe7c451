//! Names the commit the binary is built from, for `promised --version`: the
//! `PROMISED_COMMIT` environment variable when set (a build from a source archive), else
//! `git rev-parse` of the checkout, else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PROMISED_COMMIT");
    // A new commit moves HEAD or the branch it names; both live under .git.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = std::env::var("PROMISED_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=PROMISED_COMMIT={}", commit.trim());
}

fn git_commit() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !commit.trim().is_empty()).then_some(commit)
}
