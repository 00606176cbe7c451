//! `promised pipeline run`: one Promise's pipelines on one request file, for Promise
//! authors. Nothing is read from or written to Git.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use fs_err as fs;

use super::executor_args::ExecutorArgs;
use super::output_limit_args::OutputLimitArgs;
use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::model::{Action, Platform, Promise, RequestFile, SourceFile, WorkflowType};
use crate::pipeline::{self, Job, Subject};
use crate::reconcile::Outcome;
use crate::reconcile::prepare::{Schemas, prepare};
use crate::reconcile::{merge_status, object_for, preview_placements};
use crate::scheduling::Placement;
use crate::state::layout::resource_dir;

/// `promised pipeline ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PipelineCommand {
    /// Run one of a Promise's workflows (by default its resource configure workflow, on
    /// a request file) and keep what each pipeline wrote.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
}

const RUN_HELP: &str = "\
Examples:
  promised pipeline run --promise promises/redis.yaml --request requests/redis/a.yaml
  promised pipeline run --promise promises/redis.yaml --request requests/redis/a.yaml --repo .
  promised pipeline run --promise promises/redis.yaml --workflow promise --out /tmp/run

Exit codes:
  0  every pipeline succeeded (their folders are kept, and named)
  1  a pipeline failed, or the request is invalid
  2  an error stopped the command (a file that does not read, --out not empty)";

/// Arguments of `promised pipeline run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The Promise file.
    #[arg(long)]
    pub(crate) promise: PathBuf,
    /// The request file; a resource workflow runs on it.
    #[arg(long, required_if_eq("workflow", "resource"))]
    pub(crate) request: Option<PathBuf>,
    /// Whose workflow runs: a request's (`resource`) or the Promise's own (`promise`,
    /// on the Promise document).
    #[arg(long, value_enum, default_value = "resource")]
    pub(crate) workflow: WorkflowArg,
    /// Which of its workflows runs.
    #[arg(long, value_enum, default_value = "configure")]
    pub(crate) action: ActionArg,
    /// Which request of a request file of several documents to run, by
    /// `metadata.name`.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Where to write each pipeline's input, output and metadata folders
    /// (`<out>/<pipeline>/{input,output,metadata}`); must not exist or be empty.
    /// [default: a new folder under the system's temporary folder, kept and named]
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// A platform repository: say which of its destinations (at the commit HEAD names)
    /// each output group of the request would be placed on.
    #[arg(long)]
    pub(crate) repo: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) executors: ExecutorArgs,
    #[command(flatten)]
    pub(crate) output_limits: OutputLimitArgs,
    /// How long each pipeline may run before it is killed.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
}

/// `--workflow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum WorkflowArg {
    /// `spec.workflows.resource`, on a request.
    Resource,
    /// `spec.workflows.promise`, on the Promise.
    Promise,
}

/// `--action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ActionArg {
    /// `configure`.
    Configure,
    /// `delete`.
    Delete,
}

pub(crate) fn run(command: PipelineCommand, out: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        PipelineCommand::Run(args) => run_pipelines(args, out),
    }
}

fn run_pipelines(args: RunArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let promise_text = fs::read_to_string(&args.promise)?;
    let promise = Promise::parse(&args.promise.display().to_string(), &promise_text)?;
    // Pipelines run in their input folder: the paths they are given must be absolute.
    let out_dir = match &args.out {
        Some(out) => std::path::absolute(out)?,
        None => {
            let made = tempfile::Builder::new()
                .prefix("promised-run-")
                .tempdir()
                .context("cannot make a folder for the pipelines' folders")?;
            made.keep()
        }
    };
    if out_dir.exists() && fs::read_dir(&out_dir)?.next().is_some() {
        anyhow::bail!("--out {}: the folder is not empty", out_dir.display());
    }
    let destinations = match &args.repo {
        Some(repo) => Some(destinations_of(repo)?),
        None => None,
    };
    let kind = match args.workflow {
        WorkflowArg::Resource => WorkflowType::Resource,
        WorkflowArg::Promise => WorkflowType::Promise,
    };
    let action = match args.action {
        ActionArg::Configure => Action::Configure,
        ActionArg::Delete => Action::Delete,
    };
    if promise.workflows.pipelines(kind, action).is_empty() {
        writeln!(
            out,
            "Promise {:?} has no spec.workflows.{kind}.{action} pipelines; nothing to run",
            promise.name
        )?;
        return Ok(EXIT_PROBLEMS);
    }
    let platform;
    let mut request_key = None;
    let (subject, object) = match (kind, &args.request) {
        (WorkflowType::Promise, _) => (
            Subject::promise(&promise),
            std::borrow::Cow::Borrowed(promise_text.as_bytes()),
        ),
        (WorkflowType::Resource, None) => {
            anyhow::bail!("--request: a resource workflow runs on a request file")
        }
        (WorkflowType::Resource, Some(request_path)) => {
            let file_name = request_path
                .file_name()
                .context("--request names no file")?;
            let bytes = fs::read(request_path)?;
            let repo_path = format!("requests/{}/{}", promise.name, file_name.to_string_lossy());
            platform = Platform::load([
                SourceFile {
                    path: "promises/promise.yaml".into(),
                    blob: String::new(),
                    bytes: promise_text.clone().into_bytes(),
                },
                SourceFile {
                    path: repo_path,
                    blob: String::new(),
                    bytes,
                },
            ]);
            let request: &RequestFile = match (&args.name, platform.requests.as_slice()) {
                (None, [one]) => one,
                (None, []) => anyhow::bail!("the request file was not read"),
                (None, several) => {
                    let names: Vec<&str> = several.iter().map(|r| r.key.name.as_str()).collect();
                    anyhow::bail!(
                        "--request {}: the file holds {} requests ({}); pick one with --name",
                        request_path.display(),
                        several.len(),
                        names.join(", ")
                    )
                }
                (Some(name), all) => all
                    .iter()
                    .find(|r| r.key.name.as_str() == name)
                    .with_context(|| {
                        format!(
                            "--request {}: no request named {name:?}",
                            request_path.display()
                        )
                    })?,
            };
            request_key = Some(request.key.clone());
            match prepare(&platform, &Schemas::default(), request) {
                Ok(ready) => (Subject::request(&request.key, ready.document), ready.object),
                Err(Outcome::Invalid(message) | Outcome::Unreconciled(message)) => {
                    writeln!(out, "invalid  {}: {message}", request_path.display())?;
                    return Ok(EXIT_PROBLEMS);
                }
                Err(other) => anyhow::bail!("unexpected outcome {other:?}"),
            }
        }
    };
    // Each `pipeline run` is an instance of its own: there is nothing of an earlier
    // one to remove, and two at once must not remove each other's Pods.
    let executors = args.executors.executors(&format!(
        "pipeline run {} {:?}",
        std::process::id(),
        Instant::now()
    ));
    let stop = crate::runtime::stop_on_signal();
    // The scripts the process executor reaches: `pipelines/` of the nearest folder above
    // the Promise file that has one, as it is on disk (a pass reads them from its commit).
    let promise_file = std::path::absolute(&args.promise)?;
    let pipelines_dir = promise_file
        .ancestors()
        .skip(1)
        .map(|dir| dir.join(crate::model::PIPELINES_DIR))
        .find(|dir| dir.is_dir());
    let mut status = serde_json::Map::new();
    for pipeline in promise.workflows.pipelines(kind, action) {
        let object_yaml = object_for(&object, &status);
        let job = Job {
            promise: &promise,
            pipeline,
            workflow: (kind, action),
            object: subject,
            object_yaml: &object_yaml,
            timeout: args.timeout,
            limits: args.output_limits.limits(),
            stop: &stop,
            pipelines: pipelines_dir.as_deref(),
        };
        let root = out_dir.join(&pipeline.name);
        match pipeline::run_in(&executors, &job, &root) {
            Ok(result) => {
                writeln!(
                    out,
                    "pipeline {}: succeeded; {}",
                    pipeline.name,
                    root.display()
                )?;
                for path in result.files.keys() {
                    writeln!(out, "  output   {path}")?;
                }
                for selector in &result.metadata.selectors {
                    let labels: Vec<String> = selector
                        .match_labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    let scope = selector
                        .directory
                        .as_deref()
                        .unwrap_or("(rest of the output)");
                    writeln!(out, "  selector {scope}: {}", labels.join(", "))?;
                }
                for (key, value) in &result.metadata.status {
                    writeln!(out, "  status   {key}: {value}")?;
                }
                if let (Some(platform), Some(key)) = (&destinations, &request_key) {
                    for (group, placement) in
                        preview_placements(platform, &promise, key, &pipeline.name, &result)
                    {
                        let line = match &placement {
                            Placement::Placed(name) | Placement::Misplaced(name) => {
                                let folder = &platform.destinations[name].folder;
                                format!("destination {name} ({})", resource_dir(folder, key))
                            }
                            Placement::Pending(why) => format!("pending: {why}"),
                        };
                        writeln!(out, "  placed   {group}: {line}")?;
                    }
                }
                merge_status(&mut status, &result.metadata.status);
            }
            Err(err) => {
                writeln!(
                    out,
                    "pipeline {}: failed; {}\n{err}",
                    pipeline.name,
                    root.display()
                )?;
                return Ok(EXIT_PROBLEMS);
            }
        }
    }
    Ok(EXIT_OK)
}

/// The destinations of the platform repository at `repo`, at the commit HEAD names.
fn destinations_of(repo: &std::path::Path) -> anyhow::Result<Platform> {
    use crate::git::{GixStore, Store};
    let store = GixStore::open_revision(repo, "HEAD")?;
    store.require_commit()?;
    let snapshot = store.snapshot()?;
    let paths = snapshot.paths(|path| path.starts_with("destinations/"));
    let platform = Platform::load(store.read(&snapshot, &paths)?);
    if let Some(problem) = platform.problems.first() {
        anyhow::bail!("--repo {}: {problem}", repo.display());
    }
    Ok(platform)
}
