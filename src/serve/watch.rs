//! Waking the daemon when a remote on this machine changes, through notify: a push to a
//! local bare repository rewrites its refs, and the watcher sees it before the next poll.

use std::path::Path;
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Watches the remote's folder (a plain path or a `file://` URL); every change wakes the
/// daemon, which then fetches. The watcher stops when the returned value is dropped.
pub(crate) fn watch_remote(
    remote: &str,
    wake: Arc<Notify>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let path = remote.strip_prefix("file://").unwrap_or(remote);
    let path = Path::new(path);
    anyhow::ensure!(
        path.is_dir(),
        "--watch needs a remote on this machine (a path or file:// URL); {} is not a folder",
        super::redact_url(remote)
    );
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            wake.notify_one();
        }
    })?;
    watcher.watch(path, RecursiveMode::Recursive)?;
    tracing::info!(path = %path.display(), "watching the remote for changes");
    Ok(watcher)
}
