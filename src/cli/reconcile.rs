//! `promised reconcile`: one pass, then exit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::executor_args::ExecutorArgs;
use super::json::{Format, ReconcileView};
use super::output_limit_args::OutputLimitArgs;
use super::{EXIT_OK, EXIT_PROBLEMS, style};
use crate::escape::one_line;
use crate::git::{GixStore, WorktreeCheck, check_worktree, sync_worktree};
use crate::reconcile::{Options, PassReport, Progress, PromiseReport, Scope, reconcile};
use crate::state::promise_status::Availability;
use crate::state::status::Phase;

/// Arguments of `promised reconcile`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReconcileArgs {
    /// The platform repository: a worktree, a folder of one (found as git finds it), or a
    /// bare repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub(crate) repo: PathBuf,
    /// The branch to read and commit to [default: the branch HEAD names].
    #[arg(long, env = "PROMISED_BRANCH")]
    pub(crate) branch: Option<String>,
    /// How long one pipeline may run before it is killed (e.g. 90s, 10m).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// How many pipelines run at once [default: the number of cores; 32 with
    /// --executor kubernetes].
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// Author and committer of output commits, as "Name <email>".
    #[arg(long, default_value = "promised <promised@localhost>")]
    pub(crate) author: String,
    #[command(flatten)]
    pub(crate) executors: ExecutorArgs,
    #[command(flatten)]
    pub(crate) output_limits: OutputLimitArgs,
    /// Rerun only this request file: a file of the worktree, relative to the current
    /// folder or absolute, or a repository path such as requests/redis/a.yaml; may be
    /// given more than once. Other requests are left as they are, except ones
    /// never reconciled before and ones whose file changed since, which always run.
    #[arg(long = "request", value_name = "PATH")]
    pub(crate) requests: Vec<String>,
    /// Place this request file's requests anew, as terraform's -replace: where their
    /// outputs went is forgotten, they run from their first pipeline, and each output
    /// goes where the selectors say now (an output left on a destination that no longer
    /// matches moves). Implies --request PATH; may be given more than once.
    #[arg(long = "replace", value_name = "PATH")]
    pub(crate) replace: Vec<String>,
    /// Print only what went wrong: errors, and the requests and Promises that failed or
    /// are invalid; no warnings, no summary. The exit code says the rest.
    #[arg(short, long, conflicts_with = "show_unchanged")]
    pub(crate) quiet: bool,
    /// Print a line for every request, also the ready ones whose outputs and status
    /// this pass left as they were (by default they are only counted).
    #[arg(long)]
    pub(crate) show_unchanged: bool,
    /// `text` for people; `json` for machines: every request, changed or not, and the
    /// warnings, as one object (docs/output.md).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
}

/// Runs the pass and prints a line per request and a summary.
pub(crate) fn run(args: ReconcileArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let (name, email) = parse_author(&args.author)?;
    let defaults = Options::default();
    let options = Options {
        timeout: args.timeout,
        jobs: args
            .jobs
            .unwrap_or(args.executors.executor.default_jobs(defaults.jobs))
            .max(1),
        author_name: name,
        author_email: email,
        output_limits: args.output_limits.limits(),
        stop: crate::runtime::stop_on_signal(),
        ..defaults
    };
    let store = GixStore::open(&args.repo, args.branch.as_deref())?;
    store.require_commit()?;
    let mut warnings = Warnings {
        format: args.format,
        quiet: args.quiet,
        collected: Vec::new(),
    };
    // An earlier worktree update cut short is repaired before the pass, so that this
    // pass's update starts from an index that agrees with HEAD.
    let locked = report_worktree(&store, &mut warnings, out)?;
    if let Some(warning) = super::uncommitted(store.path(), "reconciled") {
        warnings.say(warning, out)?;
    }
    let cwd = std::env::current_dir().ok();
    let path_of = |p: &String| repository_path(p, store.path(), cwd.as_deref());
    let replace: Vec<String> = args.replace.iter().map(path_of).collect();
    let mut requested: Vec<String> = Vec::new();
    // Each path once, in the order given: a path named twice is reported once.
    for path in args
        .requests
        .iter()
        .map(path_of)
        .chain(replace.iter().cloned())
    {
        if !requested.contains(&path) {
            requested.push(path);
        }
    }
    let scope = if requested.is_empty() {
        Scope::all()
    } else {
        Scope {
            request_paths: requested.iter().cloned().collect(),
            replace: replace.into_iter().collect(),
            ..Scope::default()
        }
    };
    let started = Instant::now();
    let bar = ProgressBar::hidden();
    let progress = |event: Progress<'_>| match event {
        Progress::Start(total) => {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} requests {msg}")
                    .expect("the template is valid"),
            );
        }
        Progress::Ran(key) => {
            bar.inc(1);
            bar.set_message(key.to_string());
        }
    };
    let report = reconcile(
        &store,
        None,
        &scope,
        &args.executors.executors(&format!(
            "reconcile {} {}",
            store.path().display(),
            store.reference()
        )),
        &options,
        &progress,
    )?;
    bar.finish_and_clear();
    let listing = match (args.quiet, args.show_unchanged) {
        (true, _) => Listing::Problems,
        (false, true) => Listing::Every,
        (false, false) => Listing::News,
    };
    if args.format == Format::Text {
        print_report(&report, listing, out)?;
    }

    let commits = (&report.input_commit, &report.output_commit);
    if let (Some(old), Some(new), false) = (commits.0, commits.1, locked) {
        match sync_worktree(store.path(), store.reference(), old, new) {
            Ok(true) => tracing::info!("updated the checked-out worktree"),
            Ok(false) => {}
            Err(err) => warnings.say(
                format!(
                    "the commit is made, but the checked-out worktree was left as it was: {err}"
                ),
                out,
            )?,
        }
    }
    if !locked {
        report_worktree(&store, &mut warnings, out)?;
    }
    let unknown: Vec<String> = requested
        .into_iter()
        .filter(|path| !report.requests.iter().any(|r| r.path == *path))
        .collect();
    if args.format == Format::Json {
        let view = ReconcileView::new(&report, warnings.collected, &unknown);
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
        return Ok(if view.ok { EXIT_OK } else { EXIT_PROBLEMS });
    }
    if !args.quiet {
        writeln!(out, "{}", summary(&report, started.elapsed()))?;
    }
    if report.not_run > 0 {
        writeln!(
            out,
            "{} by a signal: {} not run or cut short, left as they were; the next pass runs them",
            style::label("stopped"),
            super::count(report.not_run, "request", "requests"),
        )?;
    }
    for path in &unknown {
        writeln!(
            out,
            "{} {path}: no request file at this path on the branch",
            style::label("error")
        )?;
    }
    Ok(if report.succeeded() && unknown.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// Where warnings go: printed at once as text (unless quiet), or kept for the JSON
/// report.
struct Warnings {
    format: Format,
    quiet: bool,
    collected: Vec<String>,
}

impl Warnings {
    fn say(&mut self, warning: String, out: &mut dyn Write) -> std::io::Result<()> {
        match (self.format, self.quiet) {
            (Format::Json, _) => self.collected.push(warning),
            (Format::Text, false) => writeln!(out, "{} {warning}", style::label("warning"))?,
            (Format::Text, true) => {}
        }
        Ok(())
    }
}

/// Checks the checked-out worktree for an interrupted update and says what it found.
/// Returns whether its index is locked, so the worktree is not to be updated.
fn report_worktree(
    store: &GixStore,
    warnings: &mut Warnings,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    match check_worktree(store.path(), store.reference()) {
        Ok(WorktreeCheck::Clean) => Ok(false),
        Ok(found) => {
            let locked = matches!(found, WorktreeCheck::Locked { .. });
            warnings.say(found.to_string(), out)?;
            Ok(locked)
        }
        Err(err) => {
            warnings.say(
                format!("cannot check the worktree for an interrupted update: {err}"),
                out,
            )?;
            Ok(false)
        }
    }
}

/// The repository path of a `--request` argument: a file of the worktree named
/// relative to the current folder or absolutely, as git takes paths, else the argument
/// as a repository path (a removed request's file is not in the worktree).
fn repository_path(given: &str, top: &Path, cwd: Option<&Path>) -> String {
    let in_worktree = || {
        let file = cwd?.join(given).canonicalize().ok()?;
        let top = top.canonicalize().ok()?;
        let relative = file.strip_prefix(&top).ok()?;
        let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
        Some(parts?.join("/"))
    };
    in_worktree().unwrap_or_else(|| given.trim_start_matches("./").to_string())
}

pub(super) fn parse_author(author: &str) -> anyhow::Result<(String, String)> {
    let parsed = author
        .strip_suffix('>')
        .and_then(|rest| rest.split_once('<'))
        .map(|(name, email)| (name.trim().to_string(), email.trim().to_string()))
        .filter(|(name, email)| !name.is_empty() && !email.is_empty());
    parsed.with_context(|| format!("--author {author:?}: expected \"Name <email>\""))
}

/// Which requests get a line of their own in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// Those that failed, are invalid or were skipped (`--quiet`).
    Problems,
    /// Those whose outputs or status changed, and those not ready; the rest are
    /// counted in the summary. A pass over thousands of requests that changed nothing
    /// prints a line.
    News,
    /// Every request (`--show-unchanged`).
    Every,
}

/// The report's label for a Promise worth a line (it failed, waits or was removed);
/// `None` for one that is available or was left as it was.
pub(super) fn promise_label(promise: &PromiseReport) -> Option<&'static str> {
    match (promise.failed, promise.removed, promise.availability) {
        (true, _, _) => Some("failed"),
        (_, true, _) => Some("removed"),
        (_, _, Some(Availability::Unavailable)) => Some("waiting"),
        _ => None,
    }
}

/// The report's label for a request's phase; `None`: left unreconciled.
pub(super) fn phase_label(phase: Option<Phase>) -> &'static str {
    match phase {
        Some(Phase::Ready) => "ready",
        Some(Phase::Pending) => "pending",
        Some(Phase::Failed) => "failed",
        Some(Phase::Invalid) => "invalid",
        Some(Phase::Waiting) => "waiting",
        Some(Phase::Suspended) => "suspended",
        Some(Phase::DeleteFailed) => "failed",
        Some(Phase::Paused) => "paused",
        None => "skipped",
    }
}

/// A line per problem, per Promise that is not available, per request that `listing`
/// lists and per request removed.
fn print_report(report: &PassReport, listing: Listing, out: &mut dyn Write) -> std::io::Result<()> {
    let quiet = listing == Listing::Problems;
    for problem in &report.problems {
        let message = problem.message();
        let (path, message) = (one_line(&problem.path), one_line(&message));
        writeln!(out, "{} {path}: {message}", style::label("error"))?;
    }
    for promise in &report.promises {
        let Some(label) = promise_label(promise) else {
            continue;
        };
        if quiet && label != "failed" {
            continue;
        }
        let message = one_line(promise.message.lines().next().unwrap_or_default());
        writeln!(
            out,
            "{} Promise {}: {message}",
            style::label(label),
            promise.name
        )?;
    }
    for request in &report.requests {
        // A ready request whose output stays on a destination that no longer matches is
        // worth a line of its own, changed or not.
        let (label, message) = match (&request.misplaced, request.phase) {
            (Some(why), Some(Phase::Ready)) => ("misplaced", why.as_str()),
            _ => (phase_label(request.phase), request.message.as_str()),
        };
        let listed = match listing {
            Listing::Problems => matches!(label, "failed" | "invalid" | "skipped"),
            Listing::News => label != "ready" || report.changed.contains(&request.key),
            Listing::Every => true,
        };
        if !listed {
            continue;
        }
        let mut lines = message.lines();
        let first = lines.next().unwrap_or_default();
        let path = one_line(&request.path);
        writeln!(
            out,
            "{} {} ({path}): {}",
            style::label(label),
            request.key,
            one_line(first)
        )?;
        for line in lines {
            writeln!(out, "         {}", one_line(line))?;
        }
    }
    for (key, path) in report.removed.iter().filter(|_| !quiet) {
        let path = one_line(path);
        writeln!(
            out,
            "{} {key} ({path}): outputs and status removed",
            style::label("removed")
        )?;
    }
    Ok(())
}

/// The requests of the report that are ready, placed where their selectors say, and
/// that this pass left as they were.
fn unchanged(report: &PassReport) -> usize {
    let unchanged = report.requests.iter().filter(|r| {
        r.phase == Some(Phase::Ready) && r.misplaced.is_none() && !report.changed.contains(&r.key)
    });
    unchanged.count()
}

fn summary(report: &PassReport, elapsed: Duration) -> String {
    let failed = report
        .requests
        .iter()
        .filter(|r| !r.phase.is_some_and(Phase::is_settled))
        .count();
    let outcome = match &report.output_commit {
        Some(commit) => format!(
            "committed {} ({} changed)",
            &commit[..commit.len().min(12)],
            super::count(report.files_changed, "file", "files")
        ),
        None => "nothing changed, no commit".to_string(),
    };
    let unchanged = match unchanged(report) {
        0 => String::new(),
        n => format!(" ({n} ready and unchanged)"),
    };
    format!(
        "{}{unchanged}, {failed} with problems, {}; {outcome} in {:.2}s",
        super::count(report.requests.len(), "request", "requests"),
        super::count(report.problems.len(), "unreadable file", "unreadable files"),
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_path_is_taken_from_the_current_folder_or_as_a_repository_path() {
        let top = tempfile::tempdir().unwrap();
        let requests = top.path().join("requests/redis");
        fs_err::create_dir_all(&requests).unwrap();
        fs_err::write(requests.join("a.yaml"), "").unwrap();
        let inside = top.path().join("requests");
        let cases = [
            ("redis/a.yaml", Some(inside.as_path())),
            ("requests/redis/a.yaml", Some(top.path())),
            ("./requests/redis/a.yaml", Some(top.path())),
            ("../../requests/redis/a.yaml", Some(requests.as_path())),
            ("requests/redis/a.yaml", None),
        ];
        for (given, cwd) in cases {
            assert_eq!(
                repository_path(given, top.path(), cwd),
                "requests/redis/a.yaml",
                "{given} from {cwd:?}"
            );
        }
        let absolute = requests.join("a.yaml");
        assert_eq!(
            repository_path(absolute.to_str().unwrap(), top.path(), Some(Path::new("/"))),
            "requests/redis/a.yaml"
        );
        // A file no longer in the worktree: taken as a repository path.
        assert_eq!(
            repository_path("./requests/redis/gone.yaml", top.path(), Some(top.path())),
            "requests/redis/gone.yaml"
        );
    }

    #[test]
    fn authors_need_a_name_and_an_email() {
        let parsed = parse_author("Platform Bot <bot@example.com>").unwrap();
        assert_eq!(
            parsed,
            ("Platform Bot".to_string(), "bot@example.com".to_string())
        );
        assert!(parse_author("bot@example.com").is_err());
        assert!(parse_author("<bot@example.com>").is_err());
    }
}
