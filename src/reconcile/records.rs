//! The records of the last pass: what each status file on the output branch says a
//! request or a Promise was reconciled from, and where its outputs went.

use std::collections::BTreeMap;

use super::slices::Slices;
use crate::git::{GitError, Snapshot, Store};
use crate::model::{RequestKey, SourceFile};
use crate::state::layout::{promise_status_owner, status_owner};
use crate::state::promise_status::{PromiseRecord, read_promise_record};
use crate::state::status::{Phase, Record, read_record};

/// Records by request.
pub(super) type Records = BTreeMap<RequestKey, Record>;

/// The request status files of a branch, read a slice at a time by the threads that
/// ask (see [`Slices`]), into their records.
pub(super) type StatusSlices<'a> = Slices<'a, Records, fn(Vec<SourceFile>) -> Records>;

/// The request status files of `snapshot` but those of the requests `known` holds the
/// records of (from the [cache](super::record_cache)), which start the records.
pub(super) fn status_slices<'a>(
    store: &'a dyn Store,
    snapshot: &'a Snapshot,
    known: Records,
) -> StatusSlices<'a> {
    let paths =
        snapshot.paths(|path| status_owner(path).is_some_and(|key| !known.contains_key(&key)));
    let parse: fn(Vec<SourceFile>) -> Records =
        |files| files.iter().filter_map(record_of).collect();
    Slices::new(store, snapshot, paths, known, parse)
}

/// The records of every Promise's status file on the branch, by Promise.
pub(super) fn promise_records(
    store: &dyn Store,
    snapshot: &Snapshot,
) -> Result<BTreeMap<String, PromiseRecord>, GitError> {
    let paths = snapshot.paths(|path| promise_status_owner(path).is_some());
    let mut promises = BTreeMap::new();
    for file in store.read(snapshot, &paths)? {
        let owner = promise_status_owner(&file.path).expect("listed as a Promise's status");
        if let Some(record) = read_promise_record(&file.bytes) {
            promises.insert(owner.to_string(), record);
        }
    }
    Ok(promises)
}

/// The record of a request's status file, by the request's key.
pub(super) fn record_of(file: &SourceFile) -> Option<(RequestKey, Record)> {
    let key = status_owner(&file.path)?;
    Some((key, as_previous(read_record(&file.bytes)?)))
}

/// A record as a pass keeps it from the last: a pass records the pipelines it runs, and
/// the ones recorded before are dropped, but for an Invalid request, where none means
/// it was never admitted; and its lists keep no spare room (see
/// [`Record::shrink_to_fit`]), whether it was read from YAML or from the cache.
pub(super) fn as_previous(mut record: Record) -> Record {
    if record.phase != Phase::Invalid {
        record.pipelines = Vec::new();
    }
    record.shrink_to_fit();
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tests::MemoryStore;

    #[test]
    fn status_files_whose_records_are_known_are_not_read() {
        let record = |i: usize| {
            format!(
                "promised:\n  phase: Ready\n  request:\n    path: requests/app/r{i}.yaml\n    blob: b{i}\n"
            )
        };
        let statuses: Vec<(String, String)> = (0..3)
            .map(|i| (format!("status/app/default/r{i}.yaml"), record(i)))
            .chain([("status/app.yaml".into(), "promised: {}\n".into())])
            .collect();
        let files: Vec<(&str, &str)> = statuses.iter().map(|(p, t)| (&p[..], &t[..])).collect();
        let store = MemoryStore::with(&files);
        let snapshot = store.snapshot().unwrap();
        let known_key = status_owner("status/app/default/r1.yaml").unwrap();
        let mut known_record = read_record(record(1).as_bytes()).unwrap();
        known_record.request.blob = "from the cache".into();
        let known = Records::from([(known_key.clone(), known_record)]);
        let slices = status_slices(&store, &snapshot, known);
        assert_eq!(slices.files(), 2, "r0 and r2; not a Promise's status");
        slices.read().unwrap();
        let records = slices.into_parsed();
        let blobs: Vec<&str> = records.values().map(|r| r.request.blob.as_str()).collect();
        assert_eq!(blobs, ["b0", "from the cache", "b2"]);
    }
}
