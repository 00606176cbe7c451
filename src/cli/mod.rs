//! The command line. Arguments are parsed by clap into plain structs; each command is a
//! function that writes to a `&mut dyn Write` and returns an exit code, so tests and the
//! binary share it. Exit codes: 0 success, 1 a request or input has a problem (reported),
//! 2 an error stopped the command (nothing written).

mod executor_args;
mod init;
mod internal;
mod json;
mod output_limit_args;
mod pipeline;
mod plan;
mod reconcile;
mod serve;
mod status;
mod style;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Everything went as asked.
pub(crate) const EXIT_OK: u8 = 0;
/// The command ran, and found requests or inputs with problems.
pub(crate) const EXIT_PROBLEMS: u8 = 1;
/// An error stopped the command.
pub(crate) const EXIT_ERROR: u8 = 2;

/// `n` and the noun, singular for one: `1 request`, `2 requests`.
fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// The warning for the input files of the worktree at `repo` that differ from its
/// commit, which a command reading the commit does not see (`what`: "reconciled",
/// "validated", "planned"); `None` when there are none, or they cannot be listed.
fn uncommitted(repo: &std::path::Path, what: &str) -> Option<String> {
    match crate::git::uncommitted_inputs(repo) {
        Ok(paths) => crate::git::uncommitted_warning(&paths, what),
        Err(err) => {
            tracing::debug!("cannot list uncommitted inputs: {err}");
            None
        }
    }
}

/// `promised --version`: the release and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PROMISED_COMMIT"),
    ")"
);

/// promised: a GitOps-native reconciler for Kratix-style Promises.
#[derive(Debug, Parser)]
#[command(name = "promised", version = VERSION, about, long_about = None)]
pub(crate) struct Cli {
    /// More logging: -v for info, -vv for debug (or set RUST_LOG).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// How log lines on stderr look.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub(crate) log_format: LogFormat,
    /// When to colour the report and the log: `auto` colours a terminal unless
    /// `NO_COLOR` is set.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub(crate) color: clap::ColorChoice,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run one reconcile pass over a platform repository and commit what changed.
    #[command(after_help = RECONCILE_HELP)]
    Reconcile(reconcile::ReconcileArgs),
    /// Follow a remote repository: rerun what changes, rerun everything on a schedule,
    /// push the outputs back.
    #[command(after_help = SERVE_HELP)]
    Serve(Box<serve::ServeArgs>),
    /// Show what a change (a pull request) would do to the outputs and statuses,
    /// writing nothing.
    #[command(after_help = PLAN_HELP)]
    Plan(plan::PlanArgs),
    /// Check every Promise, Destination and request of a commit against its schema.
    #[command(after_help = VALIDATE_HELP)]
    Validate(validate::ValidateArgs),
    /// Show what the status files say, as a table or for one request.
    #[command(after_help = STATUS_HELP)]
    Status(status::StatusArgs),
    /// Work on one Promise's pipelines, without Git.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Lay out a platform repository: promises/, destinations/ (one to start), requests/.
    Init(init::InitArgs),
    /// Start a Promise: `promised promise new NAME`.
    #[command(subcommand)]
    Promise(init::PromiseCommand),
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell):
    /// for bash, `promised completions bash > ~/.local/share/bash-completion/completions/promised`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Steps run inside pipeline Pods.
    #[command(subcommand, hide = true)]
    Internal(internal::InternalCommand),
}

const RECONCILE_HELP: &str = "\
Examples:
  promised reconcile                                 the branch HEAD names, here
  promised reconcile --request requests/redis/a.yaml one request again
  promised reconcile --replace requests/redis/a.yaml place it anew (a misplaced output moves)
  promised reconcile --executor podman -q            containers; print only what went wrong

Exit codes:
  0  every request is ready, or pending a destination
  1  a request or input file has a problem (the pass still commits what it could)
  2  an error stopped the pass, or there was nothing to read; nothing was committed";

const SERVE_HELP: &str = "\
Examples:
  promised serve --remote git@github.com:acme/platform.git --executor kubernetes
  promised serve --remote /srv/git/platform.git --poll 10s --listen 127.0.0.1:8080

Exit codes:
  0  stopped by SIGTERM or SIGINT, after the pass in flight
  2  an error stopped it at the start (the remote, the workdir or an option)";

const STATUS_HELP: &str = "\
Examples:
  promised status                                    every Promise and request
  promised status -o wide                            with the phase recorded and each file
  promised status requests/redis/a.yaml              that request's whole status file
  promised status --format json

Exit codes:
  0  every Promise and request is fine, or waits
  1  one failed, is invalid, or its status does not read
  2  an error stopped the command";

const PLAN_HELP: &str = "\
Examples:
  promised plan --base origin/main --head HEAD       what a pull request would change
  promised plan --base main --head HEAD --format markdown > plan.md

Exit codes:
  0  the change would leave every request ready or pending
  1  a request would fail or an input file has a problem
  2  an error stopped the plan (a revision not fetched, say)";

const VALIDATE_HELP: &str = "\
Examples:
  promised validate                                  the commit HEAD names
  promised validate --rev origin/main

Exit codes:
  0  no problem (warnings may be printed)
  1  a problem, printed as path:line: field: message
  2  an error stopped the check";

/// Runs the parsed command line, writing its report to `out`.
pub(crate) fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<u8> {
    match cli.command {
        Command::Reconcile(args) => reconcile::run(args, out),
        Command::Serve(args) => serve::run(*args, out),
        Command::Pipeline(command) => pipeline::run(command, out),
        Command::Validate(args) => validate::run(args, out),
        Command::Plan(args) => plan::run(args, out),
        Command::Status(args) => status::run(args, out),
        Command::Init(args) => init::init(args, out),
        Command::Promise(init::PromiseCommand::New(args)) => init::new_promise(args, out),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "promised", out);
            Ok(EXIT_OK)
        }
        Command::Internal(command) => internal::run(command, out),
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Sets up logging to stderr: warnings by default (for `serve`, whose log is its
/// report, also what each pass did), more with `-v`, or as `RUST_LOG` says.
pub(crate) fn init_logging(verbose: u8, format: LogFormat, daemon: bool, colour: bool) {
    let default = match (verbose, daemon) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(colour).init(),
    }
}

/// The binary's `main`: parse, run, print errors as `promised: {error:#}`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Command::Serve(_));
    let stderr_colour = style::wanted(cli.color, &std::io::stderr());
    init_logging(cli.verbose, cli.log_format, daemon, stderr_colour);
    let stdout = std::io::stdout();
    let colour = style::wanted(cli.color, &stdout);
    let mut out: Box<dyn Write> = match colour {
        true => Box::new(stdout.lock()),
        false => Box::new(anstream::StripStream::new(stdout.lock())),
    };
    let code = match run(cli, &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let _ = out.flush();
            eprintln!("promised: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    };
    if std::env::var("PROMISED_REPORT_USAGE").is_ok_and(|v| v == "1") {
        report_usage();
    }
    code
}

/// For the benchmark harness, on stderr: the process's peak resident set size (Linux's
/// `VmHWM`), and the CPU time it used itself and that of the processes it started and
/// waited for (its pipelines, and git where a pass runs it), which wall time on a
/// busy machine cannot tell apart.
fn report_usage() {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let status = fs_err::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    if let Some(peak) = peak {
        eprintln!("promised: peak RSS {}", peak.trim().replace(" kB", " KiB"));
    }
    let cpu_ms = |who| {
        getrusage(who).map_or(0, |usage| {
            usage.user_time().num_milliseconds() + usage.system_time().num_milliseconds()
        })
    };
    eprintln!(
        "promised: CPU {} ms own, {} ms of its children",
        cpu_ms(UsageWho::RUSAGE_SELF),
        cpu_ms(UsageWho::RUSAGE_CHILDREN)
    );
}
