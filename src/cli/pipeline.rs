//! `promised pipeline run`: one Promise's pipelines on one request file, for Promise
//! authors. Nothing is read from or written to Git.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use fs_err as fs;

use super::executor_args::ExecutorArgs;
use super::output_limit_args::OutputLimitArgs;
use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::model::{Platform, Promise, RequestFile, SourceFile};
use crate::pipeline;
use crate::reconcile::Outcome;
use crate::reconcile::prepare::{Schemas, prepare};

/// `promised pipeline ...`
#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Run a Promise's configure pipelines on a request file and keep what they wrote.
    Run(RunArgs),
}

/// Arguments of `promised pipeline run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The Promise file.
    #[arg(long)]
    pub promise: PathBuf,
    /// The request file.
    #[arg(long)]
    pub request: PathBuf,
    /// Which request of a request file of several documents to run, by
    /// `metadata.name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Where to write each pipeline's input, output and metadata folders
    /// (`<out>/<pipeline>/{input,output,metadata}`); must not exist or be empty.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub executors: ExecutorArgs,
    #[command(flatten)]
    pub output_limits: OutputLimitArgs,
    /// How long each pipeline may run before it is killed.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Runs `promised pipeline ...`.
pub fn run(command: PipelineCommand, out: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        PipelineCommand::Run(args) => run_pipelines(args, out),
    }
}

fn run_pipelines(args: RunArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let promise_text = fs::read_to_string(&args.promise)?;
    let promise = Promise::parse(&args.promise.display().to_string(), &promise_text)?;
    // Pipelines run in their input folder: the paths they are given must be absolute.
    let out_dir = std::path::absolute(&args.out)?;
    if out_dir.exists() && fs::read_dir(&out_dir)?.next().is_some() {
        anyhow::bail!("--out {}: the folder is not empty", out_dir.display());
    }
    let file_name = args
        .request
        .file_name()
        .context("--request names no file")?;
    let bytes = fs::read(&args.request)?;
    let repo_path = format!("requests/{}/{}", promise.name, file_name.to_string_lossy());
    let platform = Platform::load([
        SourceFile {
            path: "promises/promise.yaml".into(),
            blob: String::new(),
            bytes: promise_text.into_bytes(),
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
                args.request.display(),
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
                    args.request.display()
                )
            })?,
    };
    let ready = match prepare(&platform, &Schemas::default(), request) {
        Ok(ready) => ready,
        Err(
            Outcome::Invalid(message) | Outcome::Unreconciled(message) | Outcome::Failed(message),
        ) => {
            writeln!(out, "invalid  {}: {message}", args.request.display())?;
            return Ok(EXIT_PROBLEMS);
        }
        Err(other) => anyhow::bail!("unexpected outcome {other:?}"),
    };
    let executors = args.executors.executors();
    for pipeline in &ready.promise.configure {
        let job = ready.job(pipeline, request, args.timeout, args.output_limits.limits());
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
