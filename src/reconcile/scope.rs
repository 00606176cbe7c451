//! Which requests a pass reruns. A full pass reruns every request; a scoped pass reruns
//! only the ones whose inputs changed (or that are due for a retry), and leaves every
//! other request's outputs and status exactly as they are. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::git::BlobId;
use crate::model::{Platform, RequestFile, RequestKey, input_dir, is_input, is_script};
use crate::state::layout::Owned;
use crate::state::status::{Phase, Record};

/// What a pass reruns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Rerun every request.
    pub(crate) all: bool,
    /// Request files (repository paths) whose every request reruns.
    pub(crate) request_paths: BTreeSet<String>,
    /// Request files that changed (added, changed or removed). A request of a file of
    /// one document reruns; one of a file of several reruns only when its own document
    /// changed since its status was written. Requests whose file or document is gone
    /// are removed in any pass.
    pub(crate) request_files: BTreeSet<String>,
    /// Promises whose every request reruns, by name.
    pub(crate) promises: BTreeSet<String>,
    /// Promise files that changed: their requests rerun, and so do requests whose
    /// Promise is gone.
    pub(crate) promise_files: BTreeSet<String>,
    /// Destination files that changed: requests placed on those destinations or on ones
    /// that are gone, and pending requests, rerun.
    pub(crate) destination_files: BTreeSet<String>,
    /// Requests to rerun by key (retries, manual reruns).
    pub requests: BTreeSet<RequestKey>,
    /// Request files whose requests are placed anew: where their output groups went is
    /// forgotten, so each goes where the selectors say now (a misplaced output moves).
    /// They also rerun: give them in `request_paths` too.
    pub(crate) replace: BTreeSet<String>,
    /// Files under the input folders that changed but are not inputs (a `README.md`, a
    /// symbolic link not named `.yaml`). They select nothing, but a narrow pass does not
    /// list their folders, where a pass that reads everything reports a link or a
    /// submodule as unread: with any of them, the pass reads everything.
    pub(crate) other_files: BTreeSet<String>,
    /// Files under `state/` or `status/` that someone else changed since the last pass
    /// (a merged pull request): a pass runs, reading everything (so the destinations'
    /// indexes are made again and files nothing explains go), and the requests and
    /// Promises they belong to rerun, which writes their files again.
    pub(crate) edited_outputs: BTreeSet<String>,
    /// What the last pass read and left, given when that pass read every file without a
    /// problem: then a pass that reruns only changed request files, retries and reruns
    /// reads just those requests, their Promises and their own files, whatever the size
    /// of the platform (a narrow pass). `None`: the pass reads everything.
    pub since: Option<Since>,
}

/// The commits a narrow pass starts from: the input commit the last pass read (the old
/// versions of the changed request files are read there, to find what they held) and
/// the output commit it left (the managed folders must be as it left them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The input commit the last pass read.
    pub inputs: String,
    /// The output branch's commit after the last pass: its commit, or the one it read.
    pub outputs: String,
}

impl Scope {
    /// A pass that reruns everything.
    pub fn all() -> Self {
        Scope {
            all: true,
            ..Scope::default()
        }
    }

    /// What reruns when the files at `paths` changed (were added, changed or removed).
    /// Only inputs count.
    pub fn from_changed_paths<'a>(paths: impl IntoIterator<Item = &'a String>) -> Self {
        let mut scope = Scope::default();
        for path in paths {
            if is_script(path) {
                scope.all = true;
            } else if !is_input(path) {
                if input_dir(path).is_some() {
                    scope.other_files.insert(path.clone());
                }
            } else if path.starts_with("promises/") {
                scope.promise_files.insert(path.clone());
            } else if path.starts_with("destinations/") {
                scope.destination_files.insert(path.clone());
            } else {
                scope.request_files.insert(path.clone());
            }
        }
        scope
    }

    /// What reruns when the managed files at `paths` were changed by someone else: the
    /// requests and Promises the layout says they belong to
    /// ([`Owned::of`](crate::state::layout::Owned::of)).
    pub(crate) fn from_edited_outputs<'a>(paths: impl IntoIterator<Item = &'a String>) -> Self {
        let mut scope = Scope::default();
        for path in paths {
            match Owned::of(path) {
                Some(Owned::RequestOutput(key) | Owned::RequestStatus(key)) => {
                    scope.requests.insert(key);
                }
                Some(Owned::PromiseOutput(name) | Owned::PromiseStatus(name)) => {
                    scope.promises.insert(name.to_string());
                }
                None => {}
            }
            scope.edited_outputs.insert(path.clone());
        }
        scope
    }

    /// What reruns when the input files (path to blob id) went from `old` to `new`.
    /// Only `promises/`, `destinations/` and `requests/` count: a change anywhere else,
    /// such as promised's own output, selects nothing.
    pub(crate) fn from_input_changes(
        old: &BTreeMap<String, BlobId>,
        new: &BTreeMap<String, BlobId>,
    ) -> Self {
        let changed = new
            .iter()
            .filter(|(path, blob)| old.get(*path) != Some(*blob))
            .map(|(path, _)| path)
            .chain(old.keys().filter(|path| !new.contains_key(*path)));
        Self::from_changed_paths(changed)
    }

    /// Whether nothing would rerun (requests never reconciled still run).
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.request_paths.is_empty()
            && self.request_files.is_empty()
            && self.promises.is_empty()
            && self.promise_files.is_empty()
            && self.destination_files.is_empty()
            && self.requests.is_empty()
            && self.edited_outputs.is_empty()
    }

    /// Adds everything `other` reruns.
    pub(crate) fn extend(&mut self, other: Scope) {
        self.all |= other.all;
        self.request_paths.extend(other.request_paths);
        self.request_files.extend(other.request_files);
        self.promises.extend(other.promises);
        self.promise_files.extend(other.promise_files);
        self.destination_files.extend(other.destination_files);
        self.requests.extend(other.requests);
        self.replace.extend(other.replace);
        self.other_files.extend(other.other_files);
        self.edited_outputs.extend(other.edited_outputs);
        if self.since.is_none() {
            self.since = other.since;
        }
    }

    /// Whether `request` reruns, given its record from the last pass. A request with no
    /// record, or whose record is of another file version (of another version of its
    /// own document, in a file of several), always runs.
    pub(crate) fn includes(
        &self,
        platform: &Platform,
        request: &RequestFile,
        record: Option<&Record>,
    ) -> bool {
        let Some(record) = record else {
            return true;
        };
        if !record.request.describes(request) {
            return true;
        }
        let key = &request.key;
        if record.phase == Phase::Suspended {
            // A suspended workflow waits for a person or its retry: only a rerun of this
            // request (which the daemon's retries are) or a change to its Promise
            // resumes it; a change to the request itself was seen above.
            let promise = platform.promises.get(key.promise.as_str());
            let suspended_under = record.suspended.as_ref().map(|s| s.promise.as_str());
            let promise_changed_since = match (promise, suspended_under) {
                (Some(promise), Some(blob)) if !blob.is_empty() => promise.blob != blob,
                _ => false,
            };
            return self.request_paths.contains(&request.path)
                || self.requests.contains(key)
                || promise_changed_since
                || (!self.promise_files.is_empty()
                    && self.promise_changed(platform, &key.promise));
        }
        let changed_file = request.part.is_none() && self.request_files.contains(&request.path);
        self.all
            || self.request_paths.contains(&request.path)
            || changed_file
            || self.promises.contains(key.promise.as_str())
            || self.requests.contains(key)
            || (!self.promise_files.is_empty() && self.promise_changed(platform, &key.promise))
            || (!self.destination_files.is_empty() && self.placement_changed(platform, record))
    }

    fn promise_changed(&self, platform: &Platform, promise: &str) -> bool {
        match platform.promises.get(promise) {
            Some(p) => self.promise_files.contains(&p.path),
            None => true,
        }
    }

    fn placement_changed(&self, platform: &Platform, record: &Record) -> bool {
        let destinations = record
            .placements
            .iter()
            .filter_map(|p| p.destination.as_ref());
        record.phase == Phase::Pending
            || destinations
                .into_iter()
                .any(|name| match platform.destinations.get(name) {
                    Some(d) => self.destination_files.contains(&d.path),
                    None => true,
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::status::{PlacementRef, RequestRef};

    fn request(path: &str, blob: &str) -> RequestFile {
        let doc = "apiVersion: a.b/v1\nkind: App\nmetadata: {name: a}\n";
        RequestFile::parse(path, blob.into(), doc.into())
    }

    fn record(path: &str, blob: &str, phase: Phase, destination: &str) -> Record {
        Record {
            phase,
            request: RequestRef {
                path: path.into(),
                blob: blob.into(),
                document: None,
            },
            pipelines: vec![],
            placements: vec![PlacementRef {
                group: "configure".into(),
                destination: Some(destination.into()),
                state: crate::state::status::PlacementState::Placed,
                reason: None,
                files: vec![],
                selectors: Default::default(),
            }],
            outputs: vec![],
            suspended: None,
        }
    }

    fn platform() -> Platform {
        use crate::model::fixtures::destination;
        let promise = crate::model::Promise::test("app").file();
        Platform::load([promise, destination("dev"), destination("prod")])
    }

    fn scope(promise_files: &[&str], destination_files: &[&str]) -> Scope {
        Scope {
            promise_files: promise_files.iter().map(|s| s.to_string()).collect(),
            destination_files: destination_files.iter().map(|s| s.to_string()).collect(),
            ..Scope::default()
        }
    }

    #[test]
    fn an_edited_output_reruns_what_the_layout_says_it_belongs_to() {
        let edited = [
            "state/dev/resources/team/app/a/evil.yaml",
            "status/app/team/b.yaml",
            "state/dev/dependencies/db/crd.yaml",
            "status/cache.yaml",
            "state/dev/kustomization.yaml",
        ]
        .map(String::from);
        let scope = Scope::from_edited_outputs(&edited);
        let keys: Vec<String> = scope.requests.iter().map(ToString::to_string).collect();
        assert_eq!(keys, ["app/team/a", "app/team/b"]);
        let promises: Vec<&String> = scope.promises.iter().collect();
        assert_eq!(promises, ["cache", "db"]);
        assert_eq!(scope.edited_outputs.len(), 5);
        // An edited index alone belongs to no one, and still makes a pass run.
        let index = Scope::from_edited_outputs(&edited[4..]);
        assert!(index.requests.is_empty() && !index.is_empty());
    }

    #[test]
    fn a_changed_script_of_pipelines_reruns_everything() {
        let changed = Scope::from_changed_paths([&"pipelines/app/render".to_string()]);
        assert!(changed.all);
        let elsewhere = Scope::from_changed_paths([&"pipelinesx/a".to_string()]);
        assert!(!elsewhere.all);
    }

    #[test]
    fn only_input_changes_select_work() {
        let files = |pairs: &[(&str, &str)]| -> BTreeMap<String, BlobId> {
            pairs
                .iter()
                .map(|(p, b)| (p.to_string(), crate::git::sha1_blob_id(b.as_bytes())))
                .collect()
        };
        let old = files(&[
            ("promises/app.yaml", "1"),
            ("requests/app/a.yaml", "1"),
            ("requests/app/b.yaml", "1"),
            ("state/dev/x.yaml", "1"),
        ]);
        let new = files(&[
            ("promises/app.yaml", "1"),
            ("requests/app/a.yaml", "2"),
            ("requests/app/c.yaml", "1"),
            ("destinations/dev.yaml", "1"),
            ("state/dev/x.yaml", "2"),
            ("README.md", "2"),
        ]);
        let scope = Scope::from_input_changes(&old, &new);
        let paths: Vec<&String> = scope.request_files.iter().collect();
        assert_eq!(
            paths,
            [
                "requests/app/a.yaml",
                "requests/app/b.yaml",
                "requests/app/c.yaml"
            ]
        );
        assert!(scope.promise_files.is_empty());
        assert_eq!(scope.destination_files.len(), 1);
        assert!(Scope::from_input_changes(&new, &new).is_empty());
    }

    #[test]
    fn an_empty_scope_reruns_only_what_was_never_reconciled_or_changed() {
        let platform = platform();
        let scope = Scope::default();
        let file = request("requests/app/a.yaml", "b1");
        assert!(scope.includes(&platform, &file, None));
        let same = record("requests/app/a.yaml", "b1", Phase::Ready, "dev");
        assert!(!scope.includes(&platform, &file, Some(&same)));
        let older = record("requests/app/a.yaml", "b0", Phase::Ready, "dev");
        assert!(scope.includes(&platform, &file, Some(&older)));
    }

    #[test]
    fn a_suspended_request_reruns_only_when_asked_for_or_changed() {
        let platform = platform();
        let file = request("requests/app/a.yaml", "b1");
        let suspended = record("requests/app/a.yaml", "b1", Phase::Suspended, "dev");
        assert!(!Scope::all().includes(&platform, &file, Some(&suspended)));
        let by_path = Scope {
            request_paths: ["requests/app/a.yaml".to_string()].into(),
            ..Scope::default()
        };
        assert!(by_path.includes(&platform, &file, Some(&suspended)));
        let by_key = Scope {
            requests: [file.key.clone()].into(),
            ..Scope::default()
        };
        assert!(by_key.includes(&platform, &file, Some(&suspended)));
        let changed = record("requests/app/a.yaml", "b0", Phase::Suspended, "dev");
        assert!(Scope::default().includes(&platform, &file, Some(&changed)));
    }

    #[test]
    fn a_request_of_a_file_of_several_reruns_only_when_its_own_document_changed() {
        let platform = platform();
        let doc = |name: &str, size: &str| {
            format!(
                "apiVersion: a.b/v1\nkind: App\nmetadata: {{name: {name}}}\nspec: {{size: {size}}}\n"
            )
        };
        let path = "requests/app/x.yaml";
        let before = RequestFile::read_all(
            path,
            "b1".into(),
            format!("{}---\n{}", doc("a", "1"), doc("b", "1")).into(),
        );
        let after = RequestFile::read_all(
            path,
            "b2".into(),
            format!("{}---\n{}", doc("a", "1"), doc("b", "2")).into(),
        );
        let record_of = |request: &RequestFile| Record {
            request: RequestRef::of(request),
            ..record(path, "b1", Phase::Ready, "dev")
        };
        let changed = Scope::from_changed_paths([&path.to_string()]);
        assert!(!changed.includes(&platform, &after[0], Some(&record_of(&before[0]))));
        assert!(changed.includes(&platform, &after[1], Some(&record_of(&before[1]))));
        let explicit = Scope {
            request_paths: [path.to_string()].into(),
            ..Scope::default()
        };
        assert!(explicit.includes(&platform, &after[0], Some(&record_of(&before[0]))));
        let single = request(path, "b2");
        let as_one = record(path, "b2", Phase::Ready, "dev");
        assert!(
            changed.includes(&platform, &single, Some(&as_one)),
            "a file of one reruns as before"
        );
    }

    #[test]
    fn a_changed_promise_file_selects_its_requests() {
        let platform = platform();
        let file = request("requests/app/a.yaml", "b1");
        let on_dev = record("requests/app/a.yaml", "b1", Phase::Ready, "dev");
        assert!(scope(&["promises/app.yaml"], &[]).includes(&platform, &file, Some(&on_dev)));
        assert!(!scope(&["promises/other.yaml"], &[]).includes(&platform, &file, Some(&on_dev)));
        let orphan = RequestFile::parse(
            "requests/gone/a.yaml",
            "b1".into(),
            b"metadata: {name: a}".to_vec(),
        );
        let record = record("requests/gone/a.yaml", "b1", Phase::Ready, "dev");
        assert!(scope(&["promises/gone.yaml"], &[]).includes(&platform, &orphan, Some(&record)));
    }

    #[test]
    fn a_changed_destination_file_selects_what_is_placed_there_and_what_waits() {
        let platform = platform();
        let file = request("requests/app/a.yaml", "b1");
        let on_dev = record("requests/app/a.yaml", "b1", Phase::Ready, "dev");
        assert!(!scope(&[], &["destinations/prod.yaml"]).includes(&platform, &file, Some(&on_dev)));
        assert!(scope(&[], &["destinations/dev.yaml"]).includes(&platform, &file, Some(&on_dev)));
        let pending = record("requests/app/a.yaml", "b1", Phase::Pending, "dev");
        assert!(scope(&[], &["destinations/prod.yaml"]).includes(&platform, &file, Some(&pending)));
        let on_gone = record("requests/app/a.yaml", "b1", Phase::Ready, "gone");
        assert!(scope(&[], &["destinations/gone.yaml"]).includes(&platform, &file, Some(&on_gone)));
    }
}
