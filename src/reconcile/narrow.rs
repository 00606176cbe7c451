//! A narrow pass: after a change to a few request files (or a retry, or a rerun of a
//! request), read only those files, the Promises and Destinations, and the managed files
//! the changed requests own, instead of the whole branch. Its cost follows the change,
//! not the size of the platform.
//!
//! It is taken only where it gives exactly what reading everything gives, which the
//! caller vouches for with [`Since`]: the last pass read every file without a problem
//! (so no identity is contested and no file is unreadable), and this pass checks that
//! nobody has touched the managed folders since (so the destinations' indexes list
//! what promised wrote). Anything else reads the whole branch: a Promise or Destination
//! change, a Promise workflow that is due, a file that does not read or holds a request
//! that does not read (now or before), an `aggregatedYAML` destination (its one file
//! holds every document), or a status record that is not of its request as the last
//! pass read it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::Branch;
use super::decide::{self, PromiseDecision};
use super::scope::{Scope, Since};
use crate::git::{BlobId, GitError, PartialRead, Snapshot, Store};
use crate::model::{FilepathMode, Platform, RequestKey, is_input};
use crate::state::kustomization::{INDEX_HEADER, KUSTOMIZATION_FILE};
use crate::state::layout::{STATE_DIR, STATUS_DIR, request_folder, resource_dir, status_path};
use crate::state::promise_status::PromiseRecord;
use crate::state::status::Record;

/// What a narrow pass did not read, that the rest of the pass needs.
#[derive(Debug, Default)]
pub(super) struct Frame {
    /// Each destination folder's `kustomization.yaml`, by blob id.
    indexes: BTreeMap<String, BlobId>,
    /// The folders, relative to a destination's folder, of the requests the pass read:
    /// their index entries are made again, with the dependencies'.
    request_dirs: BTreeSet<String>,
}

impl Frame {
    /// The documents the index of destination folder `folder` lists outside what the
    /// pass read: they stay listed.
    pub(crate) fn unlisted(
        &self,
        store: &dyn Store,
        folder: &str,
    ) -> Result<Vec<String>, GitError> {
        let Some(blob) = self.indexes.get(folder) else {
            return Ok(Vec::new());
        };
        let path = format!("{STATE_DIR}/{folder}/{KUSTOMIZATION_FILE}");
        // The pass was narrow only because the managed folders were as the last pass
        // left them, so this is an index promised wrote.
        let listed = listed(&store.read_blob(blob, &path)?).ok_or_else(|| GitError::Read {
            what: path,
            message: "not an index as promised writes it".into(),
        })?;
        let reread = |entry: &String| {
            let request_dir = entry.match_indices('/').nth(3).map(|(at, _)| &entry[..=at]);
            entry.starts_with("dependencies/")
                || request_dir.is_some_and(|d| self.request_dirs.contains(d))
        };
        Ok(listed.into_iter().filter(|e| !reread(e)).collect())
    }
}

/// Reads what a narrow pass of `scope` needs, or `None` when the pass must read the
/// whole branch (the log says why).
pub(super) fn read(
    inputs: &dyn Store,
    outputs: Option<&dyn Store>,
    scope: &Scope,
) -> Result<Option<Branch>, GitError> {
    let Some(since) = &scope.since else {
        return Ok(None);
    };
    let wide = scope.all
        || !scope.promises.is_empty()
        || !scope.promise_files.is_empty()
        || !scope.destination_files.is_empty();
    if wide {
        return whole("Promises or Destinations rerun");
    }
    if !scope.edited_outputs.is_empty() {
        return whole("files under state/ or status/ were changed by hand");
    }
    if !scope.other_files.is_empty() {
        return whole("a file under an input folder that is not an input changed");
    }
    let store = outputs.unwrap_or(inputs);
    let (Some(input_reader), Some(output_reader)) = (inputs.partial(), store.partial()) else {
        return Ok(None);
    };
    let Some(input_commit) = input_reader.tip()? else {
        return Ok(None);
    };
    let output_commit = match outputs {
        None => Some(input_commit.clone()),
        Some(_) => output_reader.tip()?,
    };
    let Some(output_commit) = output_commit else {
        return Ok(None);
    };
    if !untouched_since(output_reader, since, &output_commit) {
        return whole("the managed folders changed since the last pass");
    }
    let read = Reader {
        store,
        reader: output_reader,
        commit: &output_commit,
    };

    // The request files: the changed ones, and those of the requests rerun by key.
    let mut paths: BTreeSet<String> = scope.request_files.clone();
    paths.extend(scope.request_paths.iter().cloned());
    let retried = read.records(&scope.requests)?;
    paths.extend(retried.values().map(|r| r.request.path.clone()));

    let pick = Pick::new(
        [],
        ["promises".into(), "destinations".into()],
        paths.clone(),
    );
    let listing = input_reader.select(&input_commit, &|p, folder| pick.wanted(p, folder))?;
    if !listing.skipped.is_empty() {
        return whole("an input is a symbolic link or a submodule");
    }
    let platform = load(inputs, &listing)?;
    if !platform.problems.is_empty() || platform.promises_incomplete {
        return whole("an input file does not read");
    }
    let aggregated = platform
        .destinations
        .values()
        .any(|d| matches!(d.filepath, FilepathMode::AggregatedYaml { .. }));
    if aggregated {
        return whole("an aggregatedYAML destination's file holds every document");
    }

    // What the changed files held before: requests they no longer hold are removed.
    let old = Pick::new([], [], paths.clone());
    let Ok(old) = input_reader.select(&since.inputs, &|p, folder| old.wanted(p, folder)) else {
        return whole("the last pass's input commit cannot be read");
    };
    let old = load(inputs, &old)?;
    if !old.problems.is_empty() {
        return whole("a changed file did not read before");
    }
    // A request that does not read has only its file's name for an identity, and a
    // pass gives it back the one its file's record holds: which record that is, only a
    // read of every record says.
    let unread = platform.requests.iter().chain(&old.requests);
    if unread.into_iter().any(|r| r.document.is_err()) {
        return whole("a changed file holds a request that does not read, now or before");
    }
    // The requests the files declare, now and before, and those rerun by key (whose
    // records were read above).
    let declared = platform.requests.iter().chain(&old.requests);
    let mut keys: BTreeSet<RequestKey> = declared
        .map(|r| r.key.clone())
        .filter(|key| !scope.requests.contains(key))
        .collect();
    let mut previous = retried;
    previous.extend(read.records(&keys)?);
    keys.extend(scope.requests.iter().cloned());
    // Each record must be of the request its key names in the files as the last pass
    // read them: then no file outside the changed ones declares it (a record naming
    // another file, or one kept from before, as an Invalid request's is, could hide a
    // request of an unchanged file that declares the same identity).
    let described = |(key, record): (&RequestKey, &Record)| {
        let before = old.requests.iter().find(|r| r.key == *key);
        before.is_some_and(|request| record.request.describes(request))
    };
    if !previous.iter().all(described) {
        return whole("a request's record is not of its file as the last pass read it");
    }

    let promise_records = read.promise_records()?;
    let due = decide::promises(&platform, &promise_records, scope);
    if !due.values().all(runs_nothing) {
        return whole("a Promise workflow is due, or a Promise is gone");
    }

    let owned = Pick::owned(&platform, &keys);
    let managed = output_reader.select(&output_commit, &|p, folder| owned.wanted(p, folder))?;
    let indexes = platform.destinations.values().filter_map(|d| {
        let index = format!("{STATE_DIR}/{}/{KUSTOMIZATION_FILE}", d.folder);
        Some((d.folder.to_string(), *managed.files.get(&index)?))
    });
    let frame = Frame {
        indexes: indexes.collect(),
        request_dirs: keys
            .iter()
            .map(|k| format!("{}/", request_folder(k)))
            .collect(),
    };
    tracing::info!(
        commit = %input_commit,
        request_files = paths.len(),
        requests = keys.len(),
        managed = managed.files.len(),
        "narrow pass: read only the changed requests"
    );
    Ok(Some(Branch {
        input_commit: Some(input_commit),
        platform,
        previous,
        promise_records,
        managed,
        frame: Some(frame),
        // A narrow pass checks its few requests before their runs.
        schemas: super::prepare::Schemas::default(),
    }))
}

/// Whether a Promise decided so runs no workflow in this pass: then it renders from its
/// own record alone, whatever its requests.
fn runs_nothing(decision: &PromiseDecision) -> bool {
    matches!(
        decision,
        PromiseDecision::Keep
            | PromiseDecision::Static
            | PromiseDecision::Pause(_)
            | PromiseDecision::Wait(_)
    )
}

fn whole(why: &str) -> Result<Option<Branch>, GitError> {
    tracing::info!(why, "reading the whole branch");
    Ok(None)
}

/// Whether the managed folders of `now` are those the last pass left.
fn untouched_since(reader: &dyn PartialRead, since: &Since, now: &str) -> bool {
    [STATE_DIR, STATUS_DIR].into_iter().all(|folder| {
        let then = reader.folder(&since.outputs, folder);
        let now = reader.folder(now, folder);
        matches!((then, now), (Ok(then), Ok(now)) if then == now)
    })
}

/// Loads the input files of `listing`.
fn load(inputs: &dyn Store, listing: &Snapshot) -> Result<Platform, GitError> {
    let paths = listing.paths(is_input);
    Ok(Platform::load(inputs.read(listing, &paths)?))
}

/// The entries of an index as promised writes it (see `state::kustomization`): its own
/// header, then one `  - <path>` line per document. Read line by line, since at 100k
/// requests an index holds 100k lines; `None` when it is not in that form, as after an
/// edit by hand.
fn listed(bytes: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let entries = text.strip_prefix(INDEX_HEADER)?;
    let entries = entries.lines().map(|line| line.strip_prefix("  - "));
    entries.map(|entry| entry.map(str::to_string)).collect()
}

/// Reads status files of the output commit.
struct Reader<'a> {
    store: &'a dyn Store,
    reader: &'a dyn PartialRead,
    commit: &'a str,
}

impl Reader<'_> {
    /// The records of `keys` that have one.
    fn records(
        &self,
        keys: &BTreeSet<RequestKey>,
    ) -> Result<BTreeMap<RequestKey, Record>, GitError> {
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let pick = Pick::new([], [], keys.iter().map(status_path));
        let listing = self
            .reader
            .select(self.commit, &|p, folder| pick.wanted(p, folder))?;
        let files = self.store.read(&listing, &listing.paths(|_| true))?;
        Ok(files.iter().filter_map(super::records::record_of).collect())
    }

    /// Every Promise's record.
    fn promise_records(&self) -> Result<BTreeMap<String, PromiseRecord>, GitError> {
        let pick = Pick::new([], [STATUS_DIR.to_string()], []);
        let listing = self
            .reader
            .select(self.commit, &|p, folder| pick.wanted(p, folder))?;
        super::records::promise_records(self.store, &listing)
    }
}

/// The files a partial read picks. Folders are named without a trailing `/`.
#[derive(Debug, Default)]
struct Pick {
    /// Folders whose every file is picked, at any depth.
    whole: HashSet<String>,
    /// Folders whose own files, not their folders', are picked.
    shallow: HashSet<String>,
    /// Files picked by path.
    files: HashSet<String>,
    /// Every folder the walk enters to reach the above.
    on_the_way: HashSet<String>,
    /// The folder whose files were asked about last, and whether all of them are picked:
    /// a walk asks about a folder's files one after another, and a folder of 400 status
    /// files needs the answer once, not once per file.
    last_folder: RefCell<(String, bool)>,
}

impl Pick {
    fn new(
        whole: impl IntoIterator<Item = String>,
        shallow: impl IntoIterator<Item = String>,
        files: impl IntoIterator<Item = String>,
    ) -> Pick {
        let mut pick = Pick {
            whole: whole.into_iter().collect(),
            shallow: shallow.into_iter().collect(),
            files: files.into_iter().collect(),
            ..Pick::default()
        };
        let folders = pick.whole.iter().chain(&pick.shallow);
        let mut on_the_way: HashSet<String> = folders.clone().cloned().collect();
        for path in folders.chain(&pick.files) {
            let above = path.match_indices('/').map(|(at, _)| &path[..at]);
            on_the_way.extend(above.map(String::from));
        }
        pick.on_the_way = on_the_way;
        pick
    }

    /// The managed files a pass over the requests `keys` may change: their own (status
    /// file, folder on each destination), every Promise's dependencies, and the top of
    /// each destination folder (its index), with every Promise's status file.
    fn owned(platform: &Platform, keys: &BTreeSet<RequestKey>) -> Pick {
        let destinations = platform.destinations.values();
        let dependencies = destinations
            .clone()
            .map(|d| format!("{STATE_DIR}/{}/dependencies", d.folder));
        let outputs = keys.iter().flat_map(|key| {
            let destinations = platform.destinations.values();
            destinations.map(move |d| resource_dir(&d.folder, key))
        });
        let tops = destinations.map(|d| format!("{STATE_DIR}/{}", d.folder));
        Pick::new(
            dependencies.chain(outputs),
            tops.chain([STATUS_DIR.to_string()]),
            keys.iter().map(status_path),
        )
    }

    /// Whether the walk enters the folder, or picks the file, at `path`.
    fn wanted(&self, path: &str, folder: bool) -> bool {
        // Called for every entry of every folder entered (thousands in a namespace's
        // folder of status files): no allocation, and for a file in the folder asked
        // about last, one lookup.
        if folder {
            return self.on_the_way.contains(path) || self.covers(path);
        }
        let parent = path.rfind('/').map_or("", |at| &path[..at]);
        self.files.contains(path) || self.picks_all_files_of(parent)
    }

    /// Whether every file of the folder `parent` is picked: it lies in a folder picked
    /// whole, or is picked shallow.
    fn picks_all_files_of(&self, parent: &str) -> bool {
        let mut last = self.last_folder.borrow_mut();
        if last.0 != parent {
            let all = self.covers(parent) || self.shallow.contains(parent);
            last.0.replace_range(.., parent);
            last.1 = all;
        }
        last.1
    }

    /// Whether the folder `path` is picked whole, or lies in one that is.
    fn covers(&self, path: &str) -> bool {
        self.whole.contains(path)
            || path
                .match_indices('/')
                .any(|(at, _)| self.whole.contains(&path[..at]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pick_enters_only_the_folders_on_the_way_to_what_it_picks() {
        let pick = Pick::new(
            ["state/dev/resources/ns/app/a".into()],
            ["state/dev".into()],
            ["status/app/ns/a.yaml".into()],
        );
        for folder in [
            "state",
            "state/dev",
            "state/dev/resources",
            "state/dev/resources/ns/app/a",
            "state/dev/resources/ns/app/a/deep",
            "status",
            "status/app/ns",
        ] {
            assert!(pick.wanted(folder, true), "{folder}");
        }
        for folder in [
            "state/prod",
            "state/dev/resources/ns/app/b",
            "state/dev/resources/ns/app/ab",
            "status/app/other",
            "requests",
        ] {
            assert!(!pick.wanted(folder, true), "{folder}");
        }
        for file in [
            "state/dev/kustomization.yaml",
            "state/dev/resources/ns/app/a/x.yaml",
            "state/dev/resources/ns/app/a/deep/y.yaml",
            "status/app/ns/a.yaml",
        ] {
            assert!(pick.wanted(file, false), "{file}");
        }
        for file in [
            "state/dev/resources/x.yaml",
            "state/dev/resources/ns/app/ab.yaml",
            "status/app/ns/b.yaml",
            "state/kustomization.yaml",
        ] {
            assert!(!pick.wanted(file, false), "{file}");
        }
    }

    #[test]
    fn an_index_reads_back_as_its_entries() {
        let entries = ["dependencies/a/x.yaml", "resources/ns/p/r/y.yaml"].map(String::from);
        let index = crate::state::kustomization::kustomization(&entries);
        assert_eq!(listed(&index).unwrap(), entries);
        assert_eq!(listed(b"resources: {a: b}\n"), None);
        let edited = [index.as_slice(), b"  # a comment\n"].concat();
        assert_eq!(listed(&edited), None);
    }
}
