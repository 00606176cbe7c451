//! What the measuring examples share: the `promised` binary they run, and `git`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `promised` binary built beside the running example (`target/<profile>/`); the
/// message says how to build it when it is missing.
pub fn promised_binary() -> PathBuf {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("promised");
    assert!(
        binary.exists(),
        "{}: build it first (cargo build --release, or cargo test)",
        binary.display()
    );
    binary
}

/// Runs `git args` in `dir`; returns its stdout, and fails with its stderr.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
