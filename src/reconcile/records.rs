//! The records of the last pass: what each status file on the output branch says a
//! request or a Promise was reconciled from, and where its outputs went.
//!
//! A full pass reads every request's status file before it runs anything, and parsing
//! their records is the longest part of that wait (longer than reading the inputs,
//! which goes on beside it). So the status files are read a slice at a time by whichever
//! thread asks next ([`StatusSlices`]): the thread that reads the inputs joins in once
//! it is done, and both cores parse until none is left.

use std::collections::BTreeMap;
use std::sync::Mutex;
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
/// that read them, and the records read so far.
pub(super) struct StatusSlices<'a> {
    store: &'a dyn Store,
    snapshot: &'a Snapshot,
    paths: Vec<&'a str>,
    /// Files per slice: small enough that a thread joining late still finds some.
    per_slice: usize,
    /// The next slice no thread has taken.
    next: AtomicUsize,
    /// One map that every thread adds to: a map per thread would be merged into a third
    /// at the end.
    records: Mutex<BTreeMap<RequestKey, Record>>,
}

impl<'a> StatusSlices<'a> {
    /// The request status files of `snapshot` but those of the requests `known` holds
    /// the records of (from the [cache](super::record_cache)), none taken yet.
    pub(super) fn new(
        store: &'a dyn Store,
        snapshot: &'a Snapshot,
        known: BTreeMap<RequestKey, Record>,
    ) -> Self {
        let paths =
            snapshot.paths(|path| status_owner(path).is_some_and(|key| !known.contains_key(&key)));
        let per_slice = (paths.len() / 32).clamp(64, MOST_PER_SLICE);
        StatusSlices {
            store,
            snapshot,
            paths,
            per_slice,
            next: AtomicUsize::new(0),
            records: Mutex::new(known),
        }
    }

    /// Reads slices until none is left; their records join the others.
    pub(super) fn read(&self) -> Result<(), GitError> {
        loop {
            let at = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slice) = self.paths.chunks(self.per_slice).nth(at) else {
                return Ok(());
            };
            let files = self.store.read(self.snapshot, slice)?;
            // Parsed apart, added together: the lock is held for the insertions only.
            let read: Vec<(RequestKey, Record)> = files.iter().filter_map(record_of).collect();
            drop(files);
            self.lock().extend(read);
        }
    }

    /// How many status files are read from the branch (those not cached).
    pub(super) fn files(&self) -> usize {
        self.paths.len()
    }

    /// Every record read, by request.
    pub(super) fn into_records(self) -> BTreeMap<RequestKey, Record> {
        self.records
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RequestKey, Record>> {
        // A map a panicking thread held is still whole (it only inserts).
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    Some((key, as_previous(read_record(&file.bytes)?)))
}

/// A record as a pass keeps it from the last: a pass records the pipelines it runs, and
/// the ones recorded before are dropped, but for an Invalid request, where none means
/// it was never admitted.
pub(super) fn as_previous(mut record: Record) -> Record {
    if record.phase != Phase::Invalid {
        record.pipelines = Vec::new();
    }
    record
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
        let slices = StatusSlices::new(&store, &snapshot, BTreeMap::new());
        assert!(slices.paths.len() >= slices.per_slice * 4, "several slices");
        let read = std::thread::scope(|threads| {
            let helper = threads.spawn(|| slices.read().unwrap());
            slices.read().unwrap();
            helper.join().unwrap();
            slices.next.load(Ordering::Relaxed)
        });
        let slices_taken = slices.paths.len().div_ceil(slices.per_slice);
        // Each thread asked once more than it read, when none was left.
        assert_eq!(read, slices_taken + 2, "each slice taken once");
        let all = slices.into_records();
        assert_eq!(all.len(), 300, "by each of its requests");
        let key = status_owner("status/app/default/r7.yaml").unwrap();
        assert_eq!(all[&key].request.blob, "b7");
    }
}
