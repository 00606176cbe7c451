//! `promised serve`: the daemon. It follows a remote repository, reruns the pipelines
//! whose inputs changed, reruns everything on a schedule, retries failures with backoff,
//! and pushes its output commits back.
//!
//! The loop ([`driver`]) wakes on the poll interval, a webhook call, a file-system change
//! of a local remote, the cron schedule, a Promise's own interval, or a due retry; each
//! wake is one [`daemon::Daemon::sync`] on a worker thread. SIGTERM or SIGINT lets the
//! sync in flight finish (its ref updates are atomic either way) and then exits.

mod connections;
pub(crate) mod daemon;
pub(crate) mod driver;
pub(crate) mod http;
pub(crate) mod kube_lease;
pub(crate) mod lease;
mod log_limit;
pub(crate) mod metrics;
mod rerun;
pub(crate) mod state;
pub(crate) mod timing;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub(crate) use connections::HttpLimits;
pub(crate) use daemon::LeaseSettings;
use daemon::{Daemon, INPUT_REMOTE, OUTPUT_REMOTE, OutputTarget, SyncConfig};
use metrics::Metrics;
pub(crate) use rerun::MIN_TOKEN_BYTES;
use timing::{Backoff, Schedule};

use crate::executor::Executor;
use crate::git::GitCli;
use crate::reconcile::{Options, Scope};

/// Everything `serve` is told.
pub(crate) struct ServeConfig {
    /// The input repository's URL or path.
    pub(crate) remote: String,
    /// The input branch.
    pub(crate) branch: String,
    /// Where the local bare repository lives.
    pub(crate) workdir: PathBuf,
    /// How often to fetch.
    pub(crate) poll: Duration,
    /// When to rerun everything.
    pub(crate) schedule: Schedule,
    /// Another repository for outputs.
    pub(crate) output_remote: Option<String>,
    /// Another branch for outputs.
    pub(crate) output_branch: Option<String>,
    /// Where the HTTP endpoints listen; `None`: no HTTP.
    pub(crate) listen: Option<SocketAddr>,
    /// The webhook's shared secret.
    pub(crate) webhook_secret: Option<String>,
    /// The bearer token of `POST /reconcile`.
    pub(crate) reconcile_token: Option<String>,
    /// Timeouts and the connection bound of the HTTP server.
    pub(crate) http_limits: HttpLimits,
    /// Watch a local remote's folder for changes.
    pub(crate) watch: bool,
    /// How passes run.
    pub(crate) options: Options,
    /// Retry delays of failed pipelines.
    pub(crate) retry_backoff: Backoff,
    /// The lease among daemons on one branch; `None`: every daemon works.
    pub(crate) lease: Option<LeaseSettings>,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) async fn serve(
    mut config: ServeConfig,
    executor: Box<dyn Executor>,
) -> anyhow::Result<()> {
    // git runs in the work folder: a relative path remote must not be read from there.
    config.remote = absolute_if_local(&config.remote);
    config.output_remote = config.output_remote.as_deref().map(absolute_if_local);
    let wake = Arc::new(Notify::new());
    let _watcher = if config.watch {
        Some(watch::watch_remote(&config.remote, wake.clone())?)
    } else {
        None
    };
    let git = GitCli::new(&config.workdir, Duration::from_secs(300));
    git.init_with_remote(INPUT_REMOTE, &config.remote)?;
    let output = match (&config.output_remote, &config.output_branch) {
        (None, None) => None,
        (Some(url), branch) => {
            git.init_with_remote(OUTPUT_REMOTE, url)?;
            let branch = branch.clone().unwrap_or_else(|| config.branch.clone());
            Some(OutputTarget {
                remote: OUTPUT_REMOTE.into(),
                branch,
            })
        }
        (None, Some(branch)) if *branch == config.branch => None,
        (None, Some(branch)) => Some(OutputTarget {
            remote: INPUT_REMOTE.into(),
            branch: branch.clone(),
        }),
    };
    let (push_remote, push_branch) = match &output {
        None => (config.remote.as_str(), config.branch.as_str()),
        Some(target) if target.remote == OUTPUT_REMOTE => (
            config.output_remote.as_deref().unwrap_or_default(),
            target.branch.as_str(),
        ),
        Some(target) => (config.remote.as_str(), target.branch.as_str()),
    };
    if let Some(problem) = refuses_pushes(push_remote, push_branch) {
        anyhow::bail!(problem);
    }
    let metrics = Arc::new(Metrics::default());
    let requested = Arc::new(Mutex::new(Scope::default()));
    let standby = Arc::new(Mutex::new(None));
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_handler(stop.clone(), config.options.stop.clone(), wake.clone());

    if let Some(addr) = config.listen {
        let listener = connections::bind(addr)?;
        let local = listener.local_addr()?;
        println!("promised: listening on http://{local}");
        let access = http::Access {
            webhook_secret: config.webhook_secret.clone(),
            branch: config.branch.clone(),
            reconcile_token: config.reconcile_token.clone(),
        };
        let state = http::AppState::new(
            metrics.clone(),
            ready.clone(),
            wake.clone(),
            requested.clone(),
            standby.clone(),
            access,
        );
        tokio::spawn(connections::serve(
            listener,
            http::router(state),
            config.http_limits,
        ));
    }

    let sync_config = SyncConfig {
        workdir: config.workdir.clone(),
        branch: config.branch.clone(),
        output,
        options: config.options.clone(),
        push_backoff: Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        },
        retry_backoff: config.retry_backoff,
        push_attempts: 8,
        schedule: config.schedule.clone(),
        lease: config.lease.clone(),
    };
    let daemon = Daemon::new(sync_config, executor, metrics.clone());
    tracing::info!(remote = %redact_url(&config.remote), branch = %config.branch, schedule = config.schedule.as_str(), "serving");
    println!(
        "promised: following {} ({})",
        redact_url(&config.remote),
        config.branch
    );
    let shared = driver::Shared {
        wake,
        stop,
        requested,
        ready,
        standby,
        metrics,
    };
    driver::drive(daemon, driver::Pacing::new(config.poll), &shared, Utc::now).await?;
    println!("promised: stopped");
    Ok(())
}

/// Why the local repository `remote` will refuse every push to `branch`, if it will:
/// it is not bare and has `branch` checked out, which git refuses to move unless
/// `receive.denyCurrentBranch` allows it. Said at start, rather than as git's error at
/// every sync.
fn refuses_pushes(remote: &str, branch: &str) -> Option<String> {
    let reference = format!("refs/heads/{branch}");
    let repo = crate::git::checked_out(std::path::Path::new(remote), &reference)?;
    let config = repo.config_snapshot();
    let allowed = config
        .string("receive.denyCurrentBranch")
        .map(|v| v.to_string());
    if matches!(
        allowed.as_deref(),
        Some("ignore" | "warn" | "updateInstead" | "false")
    ) {
        return None;
    }
    Some(format!(
        "{remote} is a repository with a worktree, and {branch} is checked out there: git \
         refuses to push to a checked-out branch. Serve a bare clone instead \
         (git clone --bare {remote} platform.git, then --remote platform.git), or push \
         the outputs to another branch (--output-branch)"
    ))
}

/// A remote that is a folder on this machine, made absolute; URLs are returned as given.
fn absolute_if_local(remote: &str) -> String {
    let path = std::path::Path::new(remote);
    if remote.contains("://") || !path.exists() {
        return remote.to_string();
    }
    std::path::absolute(path).map_or_else(|_| remote.to_string(), |p| p.display().to_string())
}

/// A URL with any user name and password hidden, for logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if !user.contains('/') => format!("{scheme}://***@{host}"),
        _ => url.to_string(),
    }
}

/// On SIGTERM or SIGINT: sets `stop`, cancels the pipelines in flight (`cancel`, which
/// end and clean up; the pass commits what finished) and wakes the loop.
fn spawn_signal_handler(stop: Arc<AtomicBool>, cancel: CancellationToken, wake: Arc<Notify>) {
    tokio::spawn(crate::runtime::on_stop_signal(move || {
        tracing::info!("stopping: pipelines in flight end and clean up, then the pass commits");
        stop.store(true, Ordering::Relaxed);
        cancel.cancel();
        wake.notify_one();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_stay_out_of_logs() {
        assert_eq!(
            redact_url("https://bot:t0ken@git.example.com/p.git"),
            "https://***@git.example.com/p.git"
        );
        assert_eq!(
            redact_url("ssh://git@git.example.com/p.git"),
            "ssh://***@git.example.com/p.git"
        );
        assert_eq!(
            redact_url("https://git.example.com/a@b"),
            "https://git.example.com/a@b"
        );
        assert_eq!(redact_url("/srv/platform.git"), "/srv/platform.git");
    }
}
