//! `promised status`: what the status files of a commit say, set beside the inputs of
//! that commit: a request whose file changed since it ran is `Outdated`, one whose file
//! is gone but whose outputs are still there is `Removing`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::json::Format;
use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::escape::one_line;
use crate::git::{BlobId, GixStore, Snapshot, Store};
use crate::model::RequestFile;
use crate::state::layout::{promise_status_owner, status_owner};
use crate::state::promise_status::{Availability, Unavailable, read_promise_record};
use crate::state::status::{OutputRef, PlacementRef, PlacementState, RequestRef, read_record};
use crate::yaml;

/// Arguments of `promised status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The platform repository: a worktree, a folder of one (found as git finds it), or a
    /// bare repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub(crate) repo: PathBuf,
    /// The commit to read (anything `git rev-parse` takes).
    #[arg(long, default_value = "HEAD")]
    pub(crate) rev: String,
    /// Show this request's whole status file: promise/namespace/name, or a request file
    /// path (requests/redis/a.yaml), which shows the status of every request of the
    /// file, one YAML document each; or a Promise's, as Promise/<name>.
    pub(crate) request: Option<String>,
    /// `wide` adds the request file and the phase recorded at the last pass.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub(crate) output: Output,
    /// `json`: every row, with the whole message, as one object (docs/output.md).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
}

/// The table's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// Object, phase, destinations, reason.
    Table,
    /// Also the phase recorded at the last pass and the file.
    Wide,
}

/// Where an object stands against the commit's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Freshness {
    /// Its status describes its file as it is.
    Current,
    /// Its file changed after the pass that wrote its status.
    Outdated,
    /// Its file is gone; its outputs and status wait for the next pass to remove them.
    Removing,
}

/// One row: a Promise or a request.
#[derive(Debug, Serialize)]
struct Row {
    object: String,
    kind: &'static str,
    /// The phase its status records (`Ready`, `Failed`, … for a request; `Available`
    /// or `Unavailable` for a Promise); `Unreadable` when the status does not read.
    phase: String,
    freshness: Freshness,
    path: String,
    destinations: Vec<DestinationView>,
    /// The message on one line: for a message whose first line only introduces the
    /// rest (`…:`), the line that says what is wrong joined to it.
    reason: String,
    message: String,
    /// Whether it counts as a problem for the exit code.
    #[serde(skip)]
    problem: bool,
}

#[derive(Debug, Serialize)]
struct DestinationView {
    name: String,
    /// Its destination no longer matches the selectors; the output stays there.
    misplaced: bool,
}

impl Row {
    /// What the PHASE column shows: the freshness, when the status is not current.
    fn shown_phase(&self) -> &str {
        match self.freshness {
            Freshness::Current => &self.phase,
            Freshness::Outdated => "Outdated",
            Freshness::Removing => "Removing",
        }
    }

    fn shown_destinations(&self) -> String {
        let names: Vec<String> = self
            .destinations
            .iter()
            .map(|d| match d.misplaced {
                true => format!("{}(misplaced)", d.name),
                false => d.name.clone(),
            })
            .collect();
        names.join(",")
    }
}

/// Prints a table of every Promise and request, or one status file.
pub(crate) fn run(args: StatusArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let store = GixStore::open_revision(&args.repo, &args.rev)?;
    store.require_commit()?;
    let snapshot = store.snapshot()?;
    if let Some(wanted) = &args.request {
        return show_one(&store, &snapshot, wanted, &args.rev, out);
    }
    let mut rows = Vec::new();
    let promise_paths = snapshot.paths(|path| promise_status_owner(path).is_some());
    for file in store.read(&snapshot, &promise_paths)? {
        let name = promise_status_owner(&file.path).expect("filtered to Promise status files");
        let record = read_promise_record(&file.bytes);
        let (phase, problem) = match &record {
            Some(r) if r.availability == Availability::Available => ("Available", false),
            // A Promise waiting for a required Promise or a person is not a problem,
            // as in `reconcile`; one whose workflow failed is.
            Some(r) => ("Unavailable", r.unavailable == Some(Unavailable::Failed)),
            None => ("Unreadable", true),
        };
        let promise = record.as_ref().map(|r| &r.promise);
        let message = message_of(&file.bytes);
        rows.push(Row {
            object: format!("Promise/{name}"),
            kind: "Promise",
            phase: phase.to_string(),
            freshness: freshness(
                &snapshot,
                promise,
                None,
                has_outputs(record.as_ref().map(|r| &r.outputs)),
            ),
            path: promise.map(|p| p.path.clone()).unwrap_or_default(),
            destinations: destinations(record.as_ref().map(|r| (&r.outputs, &r.placements))),
            reason: reason(&message),
            message,
            problem,
        });
    }
    let paths = snapshot.paths(|path| status_owner(path).is_some());
    let files = store.read(&snapshot, &paths)?;
    let records: Vec<_> = files
        .iter()
        .map(|file| {
            (
                status_owner(&file.path).expect("filtered to status files"),
                read_record(&file.bytes),
                file,
            )
        })
        .collect();
    // A file of several requests that changed: which of its requests changed is told
    // by their documents, so those files are read.
    // A file's requests need not have neighbouring status files: a set reads it once.
    let multi: BTreeSet<&str> = records
        .iter()
        .filter_map(|(_, record, _)| {
            let request = &record.as_ref()?.request;
            let changed = !same_blob(snapshot.files.get(&request.path)?, &request.blob);
            (changed && request.document.is_some()).then_some(request.path.as_str())
        })
        .collect();
    let multi: Vec<&str> = multi.into_iter().collect();
    let mut documents: BTreeMap<String, Vec<RequestFile>> = BTreeMap::new();
    for file in store.read(&snapshot, &multi)? {
        let requests = RequestFile::read_all(&file.path, file.blob, file.bytes);
        documents.insert(file.path, requests);
    }
    for (key, record, file) in records {
        let message = message_of(&file.bytes);
        let request = record.as_ref().map(|r| &r.request);
        let current = request
            .and_then(|r| documents.get(&r.path))
            .and_then(|all| all.iter().find(|d| d.key == key));
        let outputs = record.as_ref().map(|r| &r.outputs);
        rows.push(Row {
            object: key.to_string(),
            kind: "Request",
            phase: record
                .as_ref()
                .map_or("Unreadable".to_string(), |r| r.phase.to_string()),
            freshness: freshness(&snapshot, request, current, has_outputs(outputs)),
            path: request.map(|r| r.path.clone()).unwrap_or_default(),
            destinations: destinations(record.as_ref().map(|r| (&r.outputs, &r.placements))),
            reason: reason(&message),
            message,
            problem: record.as_ref().is_none_or(|r| !r.phase.is_settled()),
        });
    }
    let problem = rows.iter().any(|r| r.problem);
    match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct StatusView<'a> {
                rev: &'a str,
                ok: bool,
                objects: &'a [Row],
            }
            let view = StatusView {
                rev: &args.rev,
                ok: !problem,
                objects: &rows,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
        }
        Format::Text => print_table(&rows, args.output, out)?,
    }
    Ok(if problem { EXIT_PROBLEMS } else { EXIT_OK })
}

/// Prints the whole status file of one request, of every request of a file, or of a
/// Promise.
fn show_one(
    store: &GixStore,
    snapshot: &Snapshot,
    wanted: &str,
    rev: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let paths = snapshot.paths(|path| {
        promise_status_owner(path).is_some_and(|name| format!("Promise/{name}") == wanted)
            || status_owner(path).is_some()
    });
    let mut shown = 0;
    for file in store.read(snapshot, &paths)? {
        let matches = match status_owner(&file.path) {
            Some(key) => {
                key.to_string() == wanted
                    || read_record(&file.bytes).is_some_and(|r| r.request.path == wanted)
            }
            None => true,
        };
        if !matches {
            continue;
        }
        if shown > 0 {
            out.write_all(b"---\n")?;
        }
        out.write_all(&file.bytes)?;
        shown += 1;
    }
    if shown == 0 {
        anyhow::bail!("no status for {wanted} at {rev}");
    }
    Ok(EXIT_OK)
}

fn print_table(rows: &[Row], output: Output, out: &mut dyn Write) -> std::io::Result<()> {
    let wide = output == Output::Wide;
    let mut table: Vec<Vec<String>> = vec![match wide {
        true => [
            "OBJECT",
            "PHASE",
            "RECORDED",
            "DESTINATIONS",
            "FILE",
            "REASON",
        ]
        .map(String::from)
        .to_vec(),
        false => ["OBJECT", "PHASE", "DESTINATIONS", "REASON"]
            .map(String::from)
            .to_vec(),
    }];
    for row in rows {
        let reason = one_line(&row.reason).into_owned();
        let object = one_line(&row.object).into_owned();
        table.push(match wide {
            true => vec![
                object,
                row.shown_phase().to_string(),
                row.phase.clone(),
                one_line(&row.shown_destinations()).into_owned(),
                one_line(&row.path).into_owned(),
                reason,
            ],
            false => vec![
                object,
                row.shown_phase().to_string(),
                one_line(&row.shown_destinations()).into_owned(),
                reason,
            ],
        });
    }
    let columns = table[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &table {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            if c + 1 == columns {
                text.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// Whether the status of the file `recorded` still describes the commit: `current` is
/// the request as it is now when its file holds several (read only when the file
/// changed).
fn freshness(
    snapshot: &Snapshot,
    recorded: Option<&RequestRef>,
    current: Option<&RequestFile>,
    has_outputs: bool,
) -> Freshness {
    let Some(recorded) = recorded else {
        return Freshness::Current;
    };
    match snapshot.files.get(&recorded.path) {
        None if has_outputs => Freshness::Removing,
        None => Freshness::Current,
        Some(blob) if same_blob(blob, &recorded.blob) => Freshness::Current,
        Some(_) if current.is_some_and(|request| recorded.describes(request)) => Freshness::Current,
        Some(_) => Freshness::Outdated,
    }
}

/// Whether a file's blob is the one a record names (a record that does not read as a
/// blob id names no blob).
fn same_blob(blob: &BlobId, recorded: &str) -> bool {
    BlobId::from_hex(recorded.as_bytes()).is_ok_and(|id| id == *blob)
}

fn has_outputs(outputs: Option<&Vec<OutputRef>>) -> bool {
    outputs.is_some_and(|o| !o.is_empty())
}

fn destinations(record: Option<(&Vec<OutputRef>, &Vec<PlacementRef>)>) -> Vec<DestinationView> {
    let Some((outputs, placements)) = record else {
        return Vec::new();
    };
    outputs
        .iter()
        .map(|o| DestinationView {
            name: o.destination.clone(),
            misplaced: placements.iter().any(|p| {
                p.state == PlacementState::Misplaced
                    && p.destination.as_deref() == Some(o.destination.as_str())
            }),
        })
        .collect()
}

/// A status file's `message`.
fn message_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let message = yaml::document(&text)
        .ok()
        .and_then(|doc| Some(doc.get("message")?.as_str()?.to_string()));
    message.unwrap_or_default()
}

/// A message on one line: its first line, and when that only introduces what follows
/// (it ends with `:`), the first line that does not.
fn reason(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else {
        return String::new();
    };
    match (first.ends_with(':'), lines.next()) {
        (true, Some(next)) => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_joins_an_introducing_line_to_what_it_introduces() {
        assert_eq!(reason(""), "");
        assert_eq!(reason("output written to dev"), "output written to dev");
        assert_eq!(
            reason(
                "the request does not match the schema of x/v1:\n  spec.size: \"huge\" is not one of \"small\" or \"large\"\n  spec.env: missing"
            ),
            "the request does not match the schema of x/v1: spec.size: \"huge\" is not one of \"small\" or \"large\""
        );
        assert_eq!(reason("failed: exit 1\nlog line"), "failed: exit 1");
    }
}
