//! The records of the last pass: what each status file on the output branch says a
//! request or a Promise was reconciled from, and where its outputs went.
//!
//! A full pass reads every request's status file before it runs anything, and parsing
//! their records is the longest part of that wait (longer than reading the inputs,
//! which goes on beside it). So the status files are read a slice at a time by whichever
//! thread asks next ([`StatusSlices`]): the thread that reads the inputs joins in once
//! it is done, and both cores parse until none is left.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::git::{GitError, Snapshot, Store};
use crate::model::{RequestKey, SourceFile};
use crate::state::layout::{promise_status_owner, status_owner};
use crate::state::promise_status::{PromiseRecord, read_promise_record};
use crate::state::status::{Phase, Record, read_record};

/// The most status files read at once by one thread: at 100k requests the files
/// themselves are ~70 MiB, and only the records are kept.
const MOST_PER_SLICE: usize = 1024;

/// The request status files of a branch, handed out a slice at a time to the threads
/// that read them.
pub(super) struct StatusSlices<'a> {
    store: &'a dyn Store,
    snapshot: &'a Snapshot,
    paths: Vec<&'a str>,
    /// Files per slice: small enough that a thread joining late still finds some.
    per_slice: usize,
    /// The next slice no thread has taken.
    next: AtomicUsize,
}

impl<'a> StatusSlices<'a> {
    /// The request status files of `snapshot`, none taken yet.
    pub(super) fn new(store: &'a dyn Store, snapshot: &'a Snapshot) -> Self {
        let paths = snapshot.paths(|path| status_owner(path).is_some());
        let per_slice = (paths.len() / 32).clamp(64, MOST_PER_SLICE);
        StatusSlices {
            store,
            snapshot,
            paths,
            per_slice,
            next: AtomicUsize::new(0),
        }
    }

    /// Reads slices until none is left: the records of the files this thread read.
    pub(super) fn read(&self) -> Result<BTreeMap<RequestKey, Record>, GitError> {
        let mut records = BTreeMap::new();
        loop {
            let at = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slice) = self.paths.chunks(self.per_slice).nth(at) else {
                return Ok(records);
            };
            let files = self.store.read(self.snapshot, slice)?;
            records.extend(files.iter().filter_map(record_of));
        }
    }
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
    let mut record = read_record(&file.bytes)?;
    // A pass records the pipelines it runs; the ones recorded before are not read, but
    // for an Invalid request, where none means it was never admitted.
    if record.phase != Phase::Invalid {
        record.pipelines = Vec::new();
    }
    Some((key, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tests::MemoryStore;

    #[test]
    fn every_status_file_is_read_once_whichever_threads_take_the_slices() {
        let statuses: Vec<(String, String)> = (0..300)
            .map(|i| {
                let record = format!(
                    "promised:\n  phase: Ready\n  request:\n    path: requests/app/r{i}.yaml\n    blob: b{i}\n"
                );
                (format!("status/app/default/r{i}.yaml"), record)
            })
            .collect();
        let files: Vec<(&str, &str)> = statuses
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let store = MemoryStore::with(&files);
        let snapshot = store.snapshot().unwrap();
        let slices = StatusSlices::new(&store, &snapshot);
        assert!(slices.paths.len() >= slices.per_slice * 4, "several slices");
        let (mine, theirs) = std::thread::scope(|threads| {
            let helper = threads.spawn(|| slices.read().unwrap());
            (slices.read().unwrap(), helper.join().unwrap())
        });
        assert_eq!(mine.len() + theirs.len(), 300, "each file read once");
        let mut all = mine;
        all.extend(theirs);
        assert_eq!(all.len(), 300, "by each of its requests");
        let key = status_owner("status/app/default/r7.yaml").unwrap();
        assert_eq!(all[&key].request.blob, "b7");
    }
}
