//! `promised status`: what the status files of a branch say.

use std::io::Write;
use std::path::PathBuf;

use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::git::{GixStore, Store};
use crate::state::layout::{promise_status_owner, status_owner};
use crate::state::promise_status::{Availability, Unavailable, read_promise_record};
use crate::state::status::read_record;
use crate::yaml;

/// Arguments of `promised status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The platform repository: a worktree, a folder of one (found as git finds it), or a
    /// bare repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub repo: PathBuf,
    /// The commit to read (anything `git rev-parse` takes).
    #[arg(long, default_value = "HEAD")]
    pub rev: String,
    /// Show this request's whole status file: promise/namespace/name, or a request file
    /// path (requests/redis/a.yaml), which shows the status of every request of the
    /// file, one YAML document each; or a Promise's, as Promise/<name>.
    pub request: Option<String>,
}

/// Prints a table of every Promise and request, or one status file.
pub fn run(args: StatusArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let store = GixStore::open_revision(&args.repo, &args.rev)?;
    store.require_commit()?;
    let snapshot = store.snapshot()?;
    let mut rows = Vec::new();
    let promise_paths = snapshot.paths(|path| promise_status_owner(path).is_some());
    for file in store.read(&snapshot, &promise_paths)? {
        let name = promise_status_owner(&file.path).expect("filtered to Promise status files");
        let key = format!("Promise/{name}");
        if let Some(wanted) = &args.request {
            if *wanted == key {
                out.write_all(&file.bytes)?;
                return Ok(EXIT_OK);
            }
            continue;
        }
        let record = read_promise_record(&file.bytes);
        let available = record
            .as_ref()
            .is_some_and(|r| r.availability == Availability::Available);
        let phase = if available {
            "Available"
        } else {
            "Unavailable"
        };
        let destinations: Vec<String> = record
            .as_ref()
            .map(|r| r.outputs.iter().map(|o| o.destination.clone()).collect())
            .unwrap_or_default();
        // A Promise waiting for a required Promise or a person is not a problem, as in
        // `reconcile`; one whose workflow failed is, and so is a record that does not read.
        let failed = record
            .as_ref()
            .is_none_or(|r| r.unavailable == Some(Unavailable::Failed));
        rows.push((
            key,
            phase.to_string(),
            destinations.join(","),
            first_message_line(&file.bytes),
            failed,
        ));
    }
    let paths = snapshot.paths(|path| status_owner(path).is_some());
    let files = store.read(&snapshot, &paths)?;
    let mut shown = 0;
    for file in &files {
        let key = status_owner(&file.path).expect("filtered to status files");
        let record = read_record(&file.bytes);
        let request_path = record
            .as_ref()
            .map(|r| r.request.path.clone())
            .unwrap_or_default();
        if let Some(wanted) = &args.request {
            if *wanted == key.to_string() || *wanted == request_path {
                if shown > 0 {
                    out.write_all(b"---\n")?;
                }
                out.write_all(&file.bytes)?;
                shown += 1;
            }
            continue;
        }
        let message = first_message_line(&file.bytes);
        let phase = record
            .as_ref()
            .map_or("?".to_string(), |r| format!("{:?}", r.phase));
        let destinations: Vec<String> = record
            .as_ref()
            .map(|r| r.outputs.iter().map(|o| o.destination.clone()).collect())
            .unwrap_or_default();
        let failed = record.as_ref().is_none_or(|r| !r.phase.is_settled());
        rows.push((
            key.to_string(),
            phase,
            destinations.join(","),
            message,
            failed,
        ));
    }
    if let Some(wanted) = &args.request {
        if shown == 0 {
            anyhow::bail!("no status for {wanted} at {}", args.rev);
        }
        return Ok(EXIT_OK);
    }
    let width = |column: fn(&(String, String, String, String, bool)) -> &String, title: &str| {
        rows.iter()
            .map(|r| column(r).len())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (w0, w1, w2) = (
        width(|r| &r.0, "OBJECT"),
        width(|r| &r.1, "PHASE"),
        width(|r| &r.2, "DESTINATIONS"),
    );
    writeln!(
        out,
        "{:w0$}  {:w1$}  {:w2$}  MESSAGE",
        "OBJECT", "PHASE", "DESTINATIONS"
    )?;
    for (key, phase, destinations, message, _) in &rows {
        writeln!(out, "{key:w0$}  {phase:w1$}  {destinations:w2$}  {message}")?;
    }
    Ok(if rows.iter().any(|r| r.4) {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}

/// The first line of a status file's `message`.
fn first_message_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let message = yaml::document(&text).ok().and_then(|doc| {
        let message = doc.get("message")?.as_str()?;
        Some(message.lines().next().unwrap_or_default().to_string())
    });
    message.unwrap_or_default()
}
