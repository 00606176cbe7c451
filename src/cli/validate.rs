//! `promised validate`: check every input file of a commit, write nothing.

use std::io::Write;
use std::path::PathBuf;

use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::git::{GixStore, Store};
use crate::model::{is_input, outside_layout};
use crate::validate::{Finding, Validation, validate};

/// Arguments of `promised validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The platform repository: a worktree, a folder of one (found as git finds it), or a
    /// bare repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub repo: PathBuf,
    /// The commit to check (anything `git rev-parse` takes).
    #[arg(long, default_value = "HEAD")]
    pub rev: String,
}

/// Prints `path:line: field: message` per problem and `path:line: warning: ...` per
/// warning; exit 1 when there is a problem (warnings alone exit 0).
pub fn run(args: ValidateArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let store = GixStore::open_revision(&args.repo, &args.rev)?;
    store.require_commit()?;
    if args.rev == "HEAD"
        && let Some(warning) = super::uncommitted(store.path(), "validated")
    {
        writeln!(out, "warning: {warning}")?;
    }
    let snapshot = store.snapshot()?;
    let paths = snapshot.paths(is_input);
    let Validation {
        findings,
        warnings,
        checked,
    } = validate(store.read(&snapshot, &paths)?, &snapshot.skipped);
    // Files where someone may expect them to be read, and which are not.
    let mut warnings = warnings;
    let ignored = snapshot.files.keys().filter_map(|path| {
        let why = outside_layout(path)?;
        Some(Finding {
            path: path.clone(),
            line: 1,
            message: format!("warning: not read: {why}"),
        })
    });
    warnings.extend(ignored);
    warnings.sort();
    for line in findings.iter().chain(&warnings) {
        writeln!(out, "{line}")?;
    }
    let mut summary = format!(
        "{} checked, {}",
        super::count(checked, "file", "files"),
        super::count(findings.len(), "problem", "problems")
    );
    if !warnings.is_empty() {
        summary.push_str(&format!(
            ", {}",
            super::count(warnings.len(), "warning", "warnings")
        ));
    }
    writeln!(out, "{summary}")?;
    Ok(if findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
