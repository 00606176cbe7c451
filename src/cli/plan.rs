//! `promised plan`: what a pull request would change, as text, Markdown for a PR
//! comment, or JSON. Writes nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use similar::TextDiff;

use super::executor_args::ExecutorArgs;
use super::json::RequestView;
use super::output_limit_args::OutputLimitArgs;
use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::escape::{code_block, code_span, html_code, one_line, table_cell};
use crate::git::GixStore;
use crate::reconcile::plan::{Change, FileChange, Plan, plan};
use crate::reconcile::{Options, RequestReport};
use crate::state::status::Phase;

/// How the plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For a terminal.
    Text,
    /// For a pull-request comment: tables, diffs folded away.
    Markdown,
    /// For machines.
    Json,
}

/// Arguments of `promised plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The platform repository: a worktree, a folder of one (found as git finds it), or a
    /// bare repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub(crate) repo: PathBuf,
    /// The commit the change starts from (the target branch).
    #[arg(long)]
    pub(crate) base: String,
    /// The commit with the change (the pull request's head).
    #[arg(long)]
    pub(crate) head: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
    /// How long one pipeline may run before it is killed.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: std::time::Duration,
    #[command(flatten)]
    pub(crate) executors: ExecutorArgs,
    #[command(flatten)]
    pub(crate) output_limits: OutputLimitArgs,
}

/// Runs the plan and prints it; exit 1 when a request would fail.
pub(crate) fn run(args: PlanArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let base = GixStore::open_revision(&args.repo, &args.base)?;
    let head = GixStore::open_revision(&args.repo, &args.head)?;
    base.require_commit()?;
    head.require_commit()?;
    if args.head == "HEAD"
        && let Some(warning) = super::uncommitted(head.path(), "planned")
    {
        // On stderr: the plan itself may be JSON.
        eprintln!("promised: warning: {warning}");
    }
    let options = Options {
        timeout: args.timeout,
        output_limits: args.output_limits.limits(),
        run_delete_workflows: false,
        stop: crate::runtime::stop_on_signal(),
        ..Options::default()
    };
    let reconciler = format!("plan {}", base.path().display());
    let executors = args.executors.executors(&reconciler);
    let plan = plan(&base, &head, &executors, &options, &|_| {})?;
    let view = View::new(&plan, &args.base, &args.head);
    match args.format {
        Format::Text => write!(out, "{}", view.text())?,
        Format::Markdown => write!(out, "{}", view.markdown())?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?,
    }
    Ok(if view.ok { EXIT_OK } else { EXIT_PROBLEMS })
}

/// The plan as it is shown.
#[derive(Debug, Serialize)]
struct View {
    base: String,
    head: String,
    ok: bool,
    requests: Vec<RequestView>,
    removed: Vec<String>,
    promises: Vec<String>,
    problems: Vec<String>,
    files: Vec<FileView>,
}

#[derive(Debug, Serialize)]
struct FileView {
    path: String,
    destination: String,
    change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
    diff: String,
}

impl View {
    fn new(plan: &Plan, base: &str, head: &str) -> Self {
        let request = |r: &RequestReport| RequestView::of(r, None);
        let report = &plan.report;
        View {
            base: base.to_string(),
            head: head.to_string(),
            ok: report.succeeded(),
            requests: report.requests.iter().map(request).collect(),
            removed: report
                .removed
                .iter()
                .map(|(key, path)| match report.delete_workflows.get(key) {
                    Some(pipelines) => format!(
                        "{key} ({path}): its delete workflow runs first ({})",
                        pipelines.join(", ")
                    ),
                    None => format!("{key} ({path})"),
                })
                .collect(),
            promises: report
                .promises
                .iter()
                .filter_map(|p| {
                    let label = super::reconcile::promise_label(p)?;
                    let message = p.message.lines().next().unwrap_or_default();
                    Some(format!("{label:<8} Promise {}: {message}", p.name))
                })
                .collect(),
            problems: report.problems.iter().map(ToString::to_string).collect(),
            files: plan.files.iter().map(file_view).collect(),
        }
    }

    fn headline(&self) -> String {
        let failing = self
            .requests
            .iter()
            .filter(|r| {
                matches!(
                    r.state,
                    Some(Phase::Failed | Phase::Invalid | Phase::DeleteFailed)
                )
            })
            .count();
        format!(
            "{} requests would be reconciled ({failing} failing), {} removed; {} files would change",
            self.requests.len(),
            self.removed.len(),
            self.files.len()
        )
    }

    fn text(&self) -> String {
        let mut out = format!(
            "Plan for {} -> {}: {}\n",
            self.base,
            self.head,
            self.headline()
        );
        for problem in &self.problems {
            out.push_str(&format!("\nerror    {problem}\n"));
        }
        for promise in &self.promises {
            out.push_str(&format!("\n{}\n", one_line(promise)));
        }
        for request in &self.requests {
            let first = request.message.lines().next().unwrap_or_default();
            out.push_str(&format!(
                "\n{:<8} {} ({}): {}\n",
                super::reconcile::phase_label(request.state),
                request.request,
                one_line(&request.path),
                one_line(first)
            ));
            for line in request.message.lines().skip(1) {
                out.push_str(&format!("         {}\n", one_line(line)));
            }
        }
        for removed in &self.removed {
            out.push_str(&format!("\nremoved  {removed}\n"));
        }
        if !self.files.is_empty() {
            out.push('\n');
        }
        for file in &self.files {
            let mark = match file.change {
                Change::Added => '+',
                Change::Changed => '~',
                Change::Removed => '-',
            };
            out.push_str(&format!("{mark} {}\n", file.path));
        }
        for file in self.files.iter().filter(|f| !f.diff.is_empty()) {
            out.push_str(&format!("\n{}", file.diff));
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "### promised plan\n\n`{}` → `{}`: {}\n",
            self.base,
            self.head,
            self.headline()
        );
        if !self.problems.is_empty() {
            out.push_str("\n**Files with problems**\n\n");
            for problem in &self.problems {
                out.push_str(&format!("- {}\n", code_span(problem)));
            }
        }
        if !self.promises.is_empty() {
            out.push_str("\n**Promises**\n\n");
            for promise in &self.promises {
                out.push_str(&format!("- {}\n", code_span(promise)));
            }
        }
        if !self.requests.is_empty() || !self.removed.is_empty() {
            out.push_str("\n| Request | Phase | Destinations | Message |\n|---|---|---|---|\n");
            for r in &self.requests {
                let icon = match r.state {
                    Some(Phase::Ready) => "✅",
                    Some(Phase::Pending | Phase::Waiting) => "⏳",
                    Some(Phase::Suspended | Phase::Paused) => "⏸️",
                    Some(Phase::Failed | Phase::Invalid | Phase::DeleteFailed) | None => "❌",
                };
                let message = table_cell(&r.message);
                out.push_str(&format!(
                    "| {} | {icon} {} | {} | {message} |\n",
                    code_span(&r.request),
                    r.phase,
                    r.destinations.join(", ")
                ));
            }
            for removed in &self.removed {
                out.push_str(&format!(
                    "| {} | 🗑️ Removed | | outputs and status removed |\n",
                    code_span(removed)
                ));
            }
        }
        let mut by_destination: BTreeMap<&str, Vec<&FileView>> = BTreeMap::new();
        for file in &self.files {
            by_destination
                .entry(file.destination.as_str())
                .or_default()
                .push(file);
        }
        for (destination, files) in by_destination {
            out.push_str(&format!(
                "\n#### {destination}\n\n| File | Change |\n|---|---|\n"
            ));
            for file in &files {
                out.push_str(&format!(
                    "| {} | {:?} |\n",
                    code_span(&file.path),
                    file.change
                ));
            }
            for file in files.iter().filter(|f| !f.diff.is_empty()) {
                out.push_str(&format!(
                    "\n<details><summary>Diff of {}</summary>\n\n{}\n\n</details>\n",
                    html_code(&file.path),
                    code_block("diff", &file.diff)
                ));
            }
        }
        out
    }
}

fn file_view(file: &FileChange) -> FileView {
    let text = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned()
    };
    let (before, after) = (text(&file.before), text(&file.after));
    let diff = TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{}", file.path), &format!("b/{}", file.path))
        .to_string();
    FileView {
        path: file.path.clone(),
        destination: destination_of(&file.path),
        change: file.change.clone(),
        blob: file.blob.map(|id| id.to_string()),
        diff,
    }
}

/// `state/<folder>/...` gives the folder; status files group under `status`.
fn destination_of(path: &str) -> String {
    let Some(rest) = path.strip_prefix("state/") else {
        return "status".into();
    };
    for marker in ["/resources/", "/dependencies/"] {
        if let Some((folder, _)) = rest.split_once(marker) {
            return folder.to_string();
        }
    }
    rest.rsplit_once('/')
        .map_or(rest, |(folder, _)| folder)
        .to_string()
}
