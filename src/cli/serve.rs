//! `promised serve`: the daemon.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::EXIT_OK;
use super::executor_args::ExecutorArgs;
use super::output_limit_args::OutputLimitArgs;
use crate::reconcile::Options;
use crate::serve::kube_lease::KubeLease;
use crate::serve::lease::MAX_DURATION;
use crate::serve::timing::{Backoff, DEFAULT_SCHEDULE, Schedule};
use crate::serve::{HttpLimits, LeaseSettings, MIN_TOKEN_BYTES, ServeConfig, serve};

/// Arguments of `promised serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The platform repository to follow: a path, file://, https:// or ssh URL.
    /// Authentication is Git's own: ssh-agent, GIT_SSH_COMMAND, credential helpers.
    #[arg(long)]
    pub(crate) remote: String,
    /// The branch holding the inputs.
    #[arg(long, default_value = "main")]
    pub(crate) branch: String,
    /// Where to keep the local clone (a bare repository).
    #[arg(long, default_value = ".promised")]
    pub(crate) workdir: PathBuf,
    /// How often to fetch.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) poll: Duration,
    /// When to rerun every pipeline: a cron expression, 5 fields, or 6 with seconds first.
    #[arg(long, default_value = DEFAULT_SCHEDULE)]
    pub(crate) schedule: String,
    /// Push outputs to this repository instead of the input repository.
    #[arg(long)]
    pub(crate) output_remote: Option<String>,
    /// Push outputs to this branch [default: the input branch].
    #[arg(long)]
    pub(crate) output_branch: Option<String>,
    /// Serve /healthz, /readyz, /metrics and /hooks/git on this address (port 0 picks one).
    #[arg(long)]
    pub(crate) listen: Option<SocketAddr>,
    /// The webhook's shared secret (GitHub's X-Hub-Signature-256 or GitLab's
    /// X-Gitlab-Token). Without it, POST /hooks/git is off.
    #[arg(long, env = "PROMISED_WEBHOOK_SECRET", hide_env_values = true)]
    pub(crate) webhook_secret: Option<String>,
    /// A file whose first line is the bearer token of POST /reconcile (at least 16
    /// bytes); or set PROMISED_RECONCILE_TOKEN. Without either, POST /reconcile is off.
    #[arg(long)]
    pub(crate) reconcile_token_file: Option<PathBuf>,
    /// How daemons on one branch choose the one that works: `git`, a lease held in the
    /// ref refs/promised/lease/<output branch> of the remote; `kubernetes`, a
    /// Kubernetes Lease in --lease-namespace; `none`, every daemon works.
    #[arg(long, value_enum, default_value = "git")]
    pub(crate) lease: LeaseKind,
    /// How long a lease holds: the holder renews it every third of this (with
    /// `--lease git`, one push each time), and another daemon takes over once it ends.
    #[arg(long, default_value = "45s", value_parser = humantime::parse_duration)]
    pub(crate) lease_duration: Duration,
    /// With `--lease kubernetes`: the namespace of the Lease [default: --kube-namespace].
    #[arg(long)]
    pub(crate) lease_namespace: Option<String>,
    /// Who this daemon is in the lease [default: the host name and the process id].
    #[arg(long)]
    pub(crate) replica_id: Option<String>,
    /// Close an HTTP connection that has not sent a request's headers within this time.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) http_header_timeout: Duration,
    /// Answer 408 to an HTTP request not handled within this time, its body read included.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) http_request_timeout: Duration,
    /// Serve at most this many HTTP connections at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 64)]
    pub(crate) http_max_connections: usize,
    /// Also wake on file-system changes of a remote on this machine.
    #[arg(long)]
    pub(crate) watch: bool,
    /// How long one pipeline may run before it is killed.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// How many pipelines run at once [default: the number of cores; 32 with
    /// --executor kubernetes].
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// First delay before a failed pipeline is retried; it doubles each time.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) retry_base: Duration,
    /// Longest delay between retries of a failed pipeline.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) retry_max: Duration,
    /// Author and committer of output commits, as "Name <email>".
    #[arg(long, default_value = "promised <promised@localhost>")]
    pub(crate) author: String,
    #[command(flatten)]
    pub(crate) executors: ExecutorArgs,
    #[command(flatten)]
    pub(crate) output_limits: OutputLimitArgs,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) fn run(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let (author_name, author_email) = super::reconcile::parse_author(&args.author)?;
    let schedule = Schedule::parse(&args.schedule).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        args.poll >= Duration::from_millis(10),
        "--poll {:?}: give at least 10ms",
        args.poll
    );
    anyhow::ensure!(
        args.retry_base >= Duration::from_millis(100) && args.retry_max >= args.retry_base,
        "--retry-base {:?} / --retry-max {:?}: give at least 100ms, and a maximum no smaller",
        args.retry_base,
        args.retry_max
    );
    anyhow::ensure!(
        args.http_header_timeout >= Duration::from_millis(100)
            && args.http_request_timeout >= Duration::from_millis(100)
            && args.http_max_connections >= 1,
        "--http-header-timeout {:?} / --http-request-timeout {:?} / --http-max-connections {}: \
         give at least 100ms, 100ms and 1",
        args.http_header_timeout,
        args.http_request_timeout,
        args.http_max_connections
    );
    let reconcile_token = reconcile_token(args.reconcile_token_file.as_deref())?;
    anyhow::ensure!(
        args.lease_duration >= Duration::from_secs(1) && args.lease_duration <= MAX_DURATION,
        "--lease-duration {:?}: give at least 1s and at most 24h",
        args.lease_duration
    );
    let output_branch = args.output_branch.as_deref().unwrap_or(&args.branch);
    let reconciler = format!("serve {} {output_branch}", args.remote);
    let kubernetes = match args.lease {
        LeaseKind::Kubernetes => {
            let mut kube = args.executors.kube(&reconciler);
            if let Some(namespace) = &args.lease_namespace {
                kube.namespace.clone_from(namespace);
            }
            Some(Arc::new(KubeLease::new(kube, output_branch)))
        }
        _ => None,
    };
    let lease = (args.lease != LeaseKind::None).then(|| LeaseSettings {
        id: args.replica_id.clone().unwrap_or_else(replica_id),
        duration: args.lease_duration,
        kubernetes,
    });
    let defaults = Options::default();
    let config = ServeConfig {
        remote: args.remote,
        branch: args.branch,
        workdir: args.workdir,
        poll: args.poll,
        schedule,
        output_remote: args.output_remote,
        output_branch: args.output_branch,
        listen: args.listen,
        webhook_secret: args.webhook_secret,
        reconcile_token,
        lease,
        http_limits: HttpLimits {
            header_timeout: args.http_header_timeout,
            request_timeout: args.http_request_timeout,
            max_connections: args.http_max_connections,
            ..HttpLimits::default()
        },
        watch: args.watch,
        options: Options {
            timeout: args.timeout,
            jobs: args
                .jobs
                .unwrap_or(args.executors.executor.default_jobs(defaults.jobs))
                .max(1),
            author_name,
            author_email,
            output_limits: args.output_limits.limits(),
            ..defaults
        },
        retry_backoff: Backoff {
            base: args.retry_base,
            max: args.retry_max,
        },
    };
    out.flush()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let executors = args.executors.executors(&reconciler);
    runtime.block_on(serve(config, Box::new(executors)))?;
    Ok(EXIT_OK)
}

/// The bearer token of `POST /reconcile`: the first line of `file`, else
/// `PROMISED_RECONCILE_TOKEN` (an environment variable, not a flag, so that it is not
/// in the process list); refused when shorter than [`MIN_TOKEN_BYTES`].
fn reconcile_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    let (token, from) = match file {
        Some(path) => {
            let text = fs_err::read_to_string(path)?;
            let line = text.lines().next().unwrap_or_default().trim().to_string();
            (
                Some(line),
                format!("--reconcile-token-file {}", path.display()),
            )
        }
        None => (
            std::env::var("PROMISED_RECONCILE_TOKEN").ok(),
            "PROMISED_RECONCILE_TOKEN".to_string(),
        ),
    };
    if let Some(token) = &token {
        anyhow::ensure!(
            token.len() >= MIN_TOKEN_BYTES,
            "{from}: the token has {} bytes; give at least {MIN_TOKEN_BYTES}",
            token.len()
        );
    }
    Ok(token)
}

/// How daemons on one branch choose the one that works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LeaseKind {
    /// A lease in the ref `refs/promised/lease/<output branch>` of the remote.
    Git,
    /// A Kubernetes `Lease` named after the output branch, in --lease-namespace, through
    /// --kube-api-server or the kubeconfig or in-cluster configuration.
    Kubernetes,
    /// No lease: every daemon works (they never overwrite each other's commits, but
    /// each runs every pipeline).
    None,
}

/// This daemon's id in the lease: the host name (a Pod's name) and the process id.
fn replica_id() -> String {
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "promised".into());
    format!("{host}-{}", std::process::id())
}
