//! The records of request status files, kept between passes beside the object database
//! (`<git dir>/promised/<branch's ref>/status-records`), so that a full pass does not
//! read and parse again the status files an earlier pass left.
//!
//! A full pass needs every request's record before it runs anything, and reading them
//! (each blob, then its YAML) was the largest part of promised's own CPU in a full
//! rerun. A record is a function of its status file's bytes, and a blob id names those
//! bytes: so each entry here is a status file's path, its blob id and its record, as
//! JSON, and a pass takes an entry only where the branch holds that blob at that path.
//! A stale, foreign or damaged entry then costs a read of the file, never a wrong
//! record; deleting the cache costs one slower pass. Git stays the only state: this is
//! derived from it, and nothing here is ever committed.
//!
//! Each full pass writes the cache anew, with an entry for every request status file it
//! leaves (rendered, or kept as it was), and replaces the old one when it ends. A
//! narrow pass neither reads nor writes it: it reads only the records it needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cache_file::{CacheFile, LineWriter};
use super::render::RecordSink;
use crate::git::{BlobId, Snapshot, Store};
use crate::model::RequestKey;
use crate::state::CurrentTree;
use crate::state::layout::status_owner;
use crate::state::status::{Record, record_read_alone};

/// The cache's file. Raise its format with any change to [`Record`], to how a status
/// file is read into one (`read_record`, `records::as_previous`) or to what is cached.
const CACHE: CacheFile = CacheFile {
    name: "status-records",
    holds: "promised status records",
    format: 1,
};

/// One line after the header, as read.
#[derive(Deserialize)]
struct Entry {
    path: String,
    blob: String,
    record: Record,
}

/// One line after the header, as written.
#[derive(Serialize)]
struct EntryRef<'a> {
    path: &'a str,
    blob: &'a str,
    record: &'a Record,
}

/// The records the cache in `dir` holds for status files `snapshot` holds as they were
/// when cached, by request.
pub(super) fn read(dir: &Path, snapshot: &Snapshot) -> BTreeMap<RequestKey, Record> {
    let mut records = BTreeMap::new();
    for entry in CACHE.entries::<Entry>(dir) {
        let Some(key) = status_owner(&entry.path) else {
            continue;
        };
        let cached = BlobId::from_hex(entry.blob.as_bytes()).ok();
        if cached.is_some() && snapshot.files.get(&entry.path) == cached.as_ref() {
            records.insert(key, super::records::as_previous(entry.record));
        }
    }
    records
}

/// Writes a new cache, entry by entry as the pass renders or keeps each status file;
/// [`CacheWriter::persist`] puts it in place of the old one.
pub(super) struct CacheWriter<'p> {
    store: &'p dyn Store,
    /// The status files the pass started from: the blob ids of those it keeps.
    current: &'p CurrentTree,
    /// The request files whose records the pass changed before it rendered them
    /// (`--replace` forgets their placements): such a record is not its file's.
    replaced: &'p BTreeSet<String>,
    lines: LineWriter,
}

impl<'p> CacheWriter<'p> {
    /// A new cache for `store`'s cache folder, `None` when the store has none.
    pub(super) fn create(
        store: &'p dyn Store,
        current: &'p CurrentTree,
        replaced: &'p BTreeSet<String>,
    ) -> Option<Self> {
        let lines = CACHE.create(&store.cache_dir()?)?;
        Some(CacheWriter {
            store,
            current,
            replaced,
            lines,
        })
    }

    /// Puts the new cache in place of the old one.
    pub(super) fn persist(self) {
        self.lines.persist();
    }

    fn add(&mut self, path: &str, blob: BlobId, record: &Record) {
        // The status a suspended workflow's pipelines wrote is read back from the rest
        // of the file, which the cache does not hold.
        if record.suspended.is_some() {
            return;
        }
        let blob = blob.to_string();
        self.lines.add(&EntryRef {
            path,
            blob: &blob,
            record,
        });
    }
}

impl RecordSink for CacheWriter<'_> {
    fn rendered(&mut self, path: &str, bytes: &[u8], record: &Record) {
        // Only where reading the file gives this record back (see `record_read_alone`).
        if !record_read_alone(bytes) {
            return;
        }
        let blob = self.store.blob_id(bytes);
        self.add(path, blob, record);
    }

    fn kept(&mut self, path: &str, record: &Record) {
        if self.replaced.contains(&record.request.path) {
            return;
        }
        if let Some(&blob) = self.current.get(path) {
            self.add(path, blob, record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tests::MemoryStore;
    use crate::state::status::read_record;

    /// A status file whose record uses every field a cached record keeps.
    const STATUS: &str = "\
message: output written to dev
promised:
  phase: Ready
  request: {path: requests/app/a.yaml, blob: 0123}
  pipelines:
  - {name: one, images: [img:1, img:2]}
  placements:
  - group: one/extra
    destination: dev
    state: misplaced
    reason: \"no longer matches env: prod\"
    files: [extra/cm.yaml]
    selectors: {env: prod}
  - {group: two, state: pending, reason: no destination}
  outputs:
  - {destination: dev, path: state/dev/resources/default/app/a, digest: \"sha256:00\"}
";

    fn record() -> Record {
        read_record(STATUS.as_bytes()).unwrap()
    }

    fn entry(path: &str, blob: &str, record: &Record) -> String {
        let entry = EntryRef { path, blob, record };
        serde_json::to_string(&entry).unwrap()
    }

    fn snapshot(files: &[(&str, &str)]) -> Snapshot {
        let files = files.iter().map(|(p, text)| {
            let blob = crate::git::sha1_blob_id(text.as_bytes());
            (p.to_string(), blob)
        });
        Snapshot {
            files: files.collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_record_comes_back_from_the_cache_as_it_went_in() {
        let record = record();
        let text = entry("status/app/default/a.yaml", "00", &record);
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back.record, record);
    }

    #[test]
    fn only_an_entry_for_the_blob_the_branch_holds_at_its_path_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let branch = [
            ("status/app/default/a.yaml", "a"),
            ("status/app/default/b.yaml", "b"),
            ("status/app/default/d.yaml", "d"),
        ];
        let id = |text: &str| crate::git::sha1_blob_id(text.as_bytes()).to_string();
        let record = record();
        let lines = [
            CACHE.header_line(),
            entry("status/app/default/a.yaml", &id("a"), &record),
            // Another blob than the branch holds there: the file changed since.
            entry("status/app/default/b.yaml", &id("old b"), &record),
            // Not a request's status file.
            entry("status/app.yaml", &id("a"), &record),
            entry("status/app/default/c.yaml", "not a blob id", &record),
            // A write cut short: nothing after it is read.
            "{\"path\": \"status/app/def".to_string(),
            entry("status/app/default/d.yaml", &id("d"), &record),
        ];
        fs_err::write(dir.path().join(CACHE.name), lines.join("\n")).unwrap();
        let read = read(dir.path(), &snapshot(&branch));
        let keys: Vec<String> = read.keys().map(|k| k.name.to_string()).collect();
        assert_eq!(keys, ["a"]);
        let a = &read.values().next().unwrap();
        assert!(a.pipelines.is_empty(), "dropped as from a status file");
        assert_eq!(a.placements, record.placements);
        // A pass holds a record per request: read one element at a time, a list has
        // room for four.
        assert_eq!(a.placements.capacity(), a.placements.len(), "no spare room");
    }

    #[test]
    fn a_pass_caches_what_it_writes_and_keeps_but_not_a_record_it_changed() {
        let store = MemoryStore::default().with_cache();
        let kept = "status/app/default/kept.yaml";
        let current = CurrentTree::from([
            (kept.to_string(), crate::git::sha1_blob_id(b"kept")),
            (
                "status/app/default/replaced.yaml".into(),
                crate::git::sha1_blob_id(b"r"),
            ),
        ]);
        let replaced = BTreeSet::from(["requests/app/replaced.yaml".to_string()]);
        let mut writer = CacheWriter::create(&store, &current, &replaced).unwrap();
        let mut replaced_record = record();
        replaced_record.request.path = "requests/app/replaced.yaml".into();
        let mut suspended = record();
        suspended.suspended = Some(Box::new(crate::state::status::SuspendedRef {
            pipeline: "one".into(),
            message: None,
            retry_after: None,
            attempts: 0,
            promise: String::new(),
            status: Default::default(),
            status_before: Default::default(),
        }));
        let rendered = "message: ok\npromised:\n  phase: Ready\n";
        // Read whole, as a file with a document marker among the pipelines' keys is.
        let marked = "# Status\n...x: 1\npromised:\n  phase: Ready\n";
        writer.rendered(
            "status/app/default/new.yaml",
            rendered.as_bytes(),
            &record(),
        );
        writer.rendered(
            "status/app/default/marked.yaml",
            marked.as_bytes(),
            &record(),
        );
        writer.rendered("status/app/default/suspended.yaml", b"s", &suspended);
        writer.kept(kept, &record());
        writer.kept("status/app/default/replaced.yaml", &replaced_record);
        let dir = store.cache_dir().unwrap();
        assert!(
            !dir.join(CACHE.name).exists(),
            "in place only once the pass ends"
        );
        writer.persist();
        let branch = [
            ("status/app/default/new.yaml", rendered),
            ("status/app/default/marked.yaml", marked),
            ("status/app/default/suspended.yaml", "s"),
            (kept, "kept"),
            ("status/app/default/replaced.yaml", "r"),
        ];
        let read = read(&dir, &snapshot(&branch));
        let names: Vec<String> = read.keys().map(|k| k.name.to_string()).collect();
        assert_eq!(names, ["kept", "new"]);
    }
}
