//! Files of a branch read and parsed a slice at a time by whichever thread asks next.
//!
//! Before a full pass runs anything it reads and parses a file per request twice over:
//! the request itself, and its status file (unless its record is
//! [cached](super::record_cache)). Both cores are free then, so both read: each thread
//! takes the next slice no thread has taken, parses it without holding anything, and
//! adds what it made to what the others made. A thread that joins late, or is done
//! with other work early, still finds slices left.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::git::{GitError, Snapshot, Store};
use crate::model::SourceFile;

/// The most files read at once by one thread: at 100k requests the status files alone
/// are ~70 MiB, and only what is parsed from them is kept.
const MOST_PER_SLICE: usize = 1024;

/// Files of a branch to read, handed out a slice at a time, and what was parsed from
/// them so far (`C`: a map, a list).
pub(super) struct Slices<'a, C, F> {
    store: &'a dyn Store,
    snapshot: &'a Snapshot,
    paths: Vec<&'a str>,
    /// Files per slice: small enough that a thread joining late still finds some.
    per_slice: usize,
    /// The next slice no thread has taken.
    next: AtomicUsize,
    /// Parses one slice's files.
    parse: F,
    /// What every thread adds to: one collection per thread would be merged into a third
    /// at the end.
    parsed: Mutex<C>,
}

impl<'a, C, F> Slices<'a, C, F>
where
    C: IntoIterator + Extend<C::Item>,
    F: Fn(Vec<SourceFile>) -> C,
{
    /// The files of `snapshot` at `paths`, none taken yet; what `parse` makes of each
    /// slice joins `parsed`.
    pub(super) fn new(
        store: &'a dyn Store,
        snapshot: &'a Snapshot,
        paths: Vec<&'a str>,
        parsed: C,
        parse: F,
    ) -> Self {
        let per_slice = (paths.len() / 32).clamp(64, MOST_PER_SLICE);
        Slices {
            store,
            snapshot,
            paths,
            per_slice,
            next: AtomicUsize::new(0),
            parse,
            parsed: Mutex::new(parsed),
        }
    }

    /// Reads and parses slices until none is left.
    pub(super) fn read(&self) -> Result<(), GitError> {
        loop {
            let at = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slice) = self.paths.chunks(self.per_slice).nth(at) else {
                return Ok(());
            };
            let files = self.store.read(self.snapshot, slice)?;
            // Parsed apart, added together: the lock is held for the additions only.
            let parsed = (self.parse)(files);
            self.lock().extend(parsed);
        }
    }

    /// How many files there are to read.
    pub(super) fn files(&self) -> usize {
        self.paths.len()
    }

    /// Everything parsed.
    pub(super) fn into_parsed(self) -> C {
        self.parsed
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, C> {
        // What a panicking thread held is still whole (it only adds).
        self.parsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tests::MemoryStore;

    #[test]
    fn every_file_is_read_once_whichever_threads_take_the_slices() {
        let files: Vec<(String, String)> = (0..300)
            .map(|i| (format!("requests/app/r{i}.yaml"), format!("r{i}")))
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (&p[..], &t[..])).collect();
        let store = MemoryStore::with(&files);
        let snapshot = store.snapshot().unwrap();
        let paths = snapshot.paths(|_| true);
        let parse = |files: Vec<SourceFile>| -> Vec<Vec<u8>> {
            files.into_iter().map(|f| f.bytes).collect()
        };
        let slices = Slices::new(&store, &snapshot, paths, Vec::new(), parse);
        assert!(slices.files() >= slices.per_slice * 4, "several slices");
        let taken = std::thread::scope(|threads| {
            let helper = threads.spawn(|| slices.read().unwrap());
            slices.read().unwrap();
            helper.join().unwrap();
            slices.next.load(Ordering::Relaxed)
        });
        let slices_there = slices.files().div_ceil(slices.per_slice);
        // Each thread asked once more than it read, when none was left.
        assert_eq!(taken, slices_there + 2, "each slice taken once");
        let mut parsed = slices.into_parsed();
        parsed.sort();
        let mut expected: Vec<Vec<u8>> = (0..300).map(|i| format!("r{i}").into_bytes()).collect();
        expected.sort();
        assert_eq!(parsed, expected);
    }
}
