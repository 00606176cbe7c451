//! Resource Requests: the documents developers add under `requests/<promise>/`.

use std::fmt;

use serde_json::Value;

use super::{Problem, kubernetes_name};
use crate::path_segment::{Segment, SegmentError};
use crate::state::digest::sha256;
use crate::yaml;

/// The namespace of a request that names none.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// The namespace folder of the status of a request whose names cannot be folder names
/// (`status/<promise>/_invalid-names/<hash>.yaml`). No request can claim it: a namespace
/// must be a Kubernetes name, which has no `_`.
pub(crate) const INVALID_NAMES: &str = "_invalid-names";

/// Who a request is: the Promise it asks, its namespace and name. Outputs and status are
/// keyed by this, so two files may not claim the same one. Each part is a [`Segment`],
/// safe as a folder name in Git, and the name is also safe with `.yaml` added: a key is
/// always a path `promised` may write (see `RequestFile::parse` for a request whose
/// names are not).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// Name of the Promise (the folder under `requests/`).
    pub promise: Segment,
    /// `metadata.namespace`, or `default`.
    pub namespace: Segment,
    /// `metadata.name`.
    pub name: Segment,
}

#[cfg(test)]
impl RequestKey {
    /// A key for tests: `RequestKey::test("app", "team", "a")`.
    pub(crate) fn test(promise: &str, namespace: &str, name: &str) -> Self {
        RequestKey {
            promise: promise.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.promise, self.namespace, self.name)
    }
}

/// How many documents a request file may hold. Each is a request with its pipelines to
/// run: a bound keeps one file from costing a pass without limit, far above what a team
/// keeps in one file.
pub(crate) const MAX_DOCUMENTS: usize = 1000;

/// A request as found in the repository: one document of a request file (the whole file
/// when it holds one), parsed as far as it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFile {
    /// Repository path of its file, e.g. `requests/redis/team-a.yaml`.
    pub(crate) path: String,
    /// Git blob id of the file: changes exactly when the file changes.
    pub(crate) blob: String,
    /// The document's bytes as committed (the whole file when it holds one document,
    /// comments and `---` included); the pipeline sees these as `object.yaml` unless
    /// storing the request as the API server would changes it
    /// (`reconcile::prepare::Ready::object`).
    pub bytes: Vec<u8>,
    /// Identity: from the document, or from the path when the document has none.
    pub key: RequestKey,
    /// The parsed document, or why it could not be read (one problem or more).
    pub(crate) document: Result<RequestDoc, Vec<Problem>>,
    /// Where in its file the document is, when the file holds several. Boxed: most
    /// files hold one, and a pass may hold 100k requests.
    pub(crate) part: Option<Box<Part>>,
    /// Whether this is a request the status records for this file although the file no
    /// longer gives it, because a document of it (or the whole file) does not read: it
    /// is left as it is, outputs and status, until the file reads again (see
    /// `reconcile::prepare::keep_identities`). `document` says why.
    pub(crate) held: bool,
    /// Whether its Promise's schema admitted the document as committed when it was
    /// read (nothing pruned or defaulted, nothing wrong): the check before its run then
    /// does not parse it again. Only [`Platform::request_reader`](super::Platform)
    /// sets it, against the platform's own Promise.
    pub(crate) admitted: bool,
}

/// Asks, of a document just parsed, whether its Promise admits it as committed: the
/// request's key and document, and the whole parsed document.
pub(crate) type Admits<'a> = &'a dyn Fn(&RequestKey, &RequestDoc, Value) -> bool;

/// Where a request is in a file of several documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// 1-based, counting the documents that are not empty.
    pub(crate) index: usize,
    /// 1-based line of the file on which the document's text starts.
    pub(crate) line: usize,
    /// sha256 of the document's bytes: with several requests in a file, a request
    /// reruns when its own document changed, not whenever the file did.
    pub(crate) digest: String,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {} (line {})", self.index, self.line)
    }
}

/// The parts of a request document that `promised` reads. The whole document is not
/// kept: a pass may hold 100k requests, and the schema check parses the bytes again
/// (`RequestFile::value`) only for the requests that run.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestDoc {
    /// `apiVersion`, `group/version`.
    pub(crate) api_version: String,
    /// `kind`.
    pub(crate) kind: String,
    /// Whether it carries Kratix's `kratix.io/paused: "true"` label: no pipeline runs
    /// for it until the label goes.
    pub(crate) paused: bool,
}

impl RequestFile {
    /// Reads every request of a request file under `requests/<promise>/`: one per
    /// document, documents split as kubectl splits them ([`yaml::split_documents`]),
    /// empty ones skipped. Never fails: a document that cannot be read is a request
    /// that says why (see [`RequestFile::parse`] for its key), and does not stop the
    /// others; a file that cannot be read as a whole (no document, more than
    /// [`MAX_DOCUMENTS`]) is one such request. A file of one document reads exactly as
    /// [`RequestFile::parse`] reads it.
    ///
    /// This is also how a request is found again in a file from history: read the blob
    /// its status records and pick the request by key.
    pub(crate) fn read_all(path: &str, blob: String, bytes: Vec<u8>) -> Vec<RequestFile> {
        RequestFile::read_admitting(path, blob, bytes, None)
    }

    /// [`RequestFile::read_all`], asking `admits` of each document that reads whether
    /// it is [admitted](RequestFile::admitted) as committed.
    pub(crate) fn read_admitting(
        path: &str,
        blob: String,
        bytes: Vec<u8>,
        admits: Option<Admits<'_>>,
    ) -> Vec<RequestFile> {
        let slices = yaml::split_documents(&bytes).take(MAX_DOCUMENTS + 1);
        let slices: Vec<yaml::Slice> = slices.collect();
        if slices.len() > MAX_DOCUMENTS {
            let message = format!(
                "the file holds more than {MAX_DOCUMENTS} documents; split its requests \
                 into several files"
            );
            let mut request = RequestFile::parse(path, blob, Vec::new());
            request.document = Err(vec![Problem::new(message)]);
            return vec![request];
        }
        if slices.len() <= 1 {
            return vec![RequestFile::parse_admitting(path, blob, bytes, admits)];
        }
        let requests = slices.into_iter().enumerate().filter_map(|(i, slice)| {
            let text = bytes[slice.range].to_vec();
            let part = Part {
                index: i + 1,
                line: slice.line,
                digest: sha256(&text),
            };
            RequestFile::parse_part(path, &blob, text, Box::new(part), admits)
        });
        requests.collect()
    }

    /// Reads a request file of one document (the whole file, as one request). A file
    /// that cannot be read still gets a key (from its path) so that its status can say
    /// why.
    pub(crate) fn parse(path: &str, blob: String, bytes: Vec<u8>) -> Self {
        RequestFile::parse_admitting(path, blob, bytes, None)
    }

    fn parse_admitting(path: &str, blob: String, bytes: Vec<u8>, admits: Option<Admits>) -> Self {
        let promise = promise_folder(path).unwrap_or_default();
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| Problem::new("the file is not UTF-8 text"))
            .and_then(|text| yaml::document(text).map_err(Problem::from));
        let (names, document, value) = match parsed {
            Ok(value) => read_document(value),
            Err(problem) => (Names::default(), Err(problem), None),
        };
        let (key, document) = match names.key(promise, Some(file_stem(path))) {
            Ok(key) => (key, document.map_err(|problem| vec![problem])),
            Err(naming) => (fallback_key(path, promise), Err(joined(naming, document))),
        };
        RequestFile {
            path: path.to_string(),
            blob,
            bytes,
            admitted: admitted(admits, &key, &document, value),
            key,
            document,
            part: None,
            held: false,
        }
    }

    /// Reads one document of a file of several, `None` when it holds nothing (`~`).
    /// A document's name is its own: one without a name, or whose names cannot be
    /// folders, gets a key of safe parts of its own (the file name is no one's).
    fn parse_part(
        path: &str,
        blob: &str,
        bytes: Vec<u8>,
        part: Box<Part>,
        admits: Option<Admits>,
    ) -> Option<Self> {
        let promise = promise_folder(path).unwrap_or_default();
        let parsed = match std::str::from_utf8(&bytes) {
            Err(_) => Err(Problem::new("the document is not UTF-8 text")),
            Ok(text) => match yaml::documents(text) {
                Err(err) => Err(Problem::from(err.at_line(part.line))),
                // Nothing but `~`: no document, as an empty one.
                Ok(mut values) if values.len() <= 1 => Ok(values.pop()?),
                Ok(values) => Err(Problem::new(format!(
                    "the document holds {} YAML documents: a `---` that starts a request \
                     must stand on a line of its own",
                    values.len()
                ))),
            },
        };
        let (names, document, value) = match parsed {
            Ok(value) => read_document(value),
            Err(problem) => (Names::default(), Err(problem), None),
        };
        let (key, document) = match names.key(promise, None) {
            Ok(key) => (key, document.map_err(|problem| vec![problem])),
            Err(naming) => {
                let own = format!("{path}#{}", part.index);
                (fallback_key(&own, promise), Err(joined(naming, document)))
            }
        };
        Some(RequestFile {
            path: path.to_string(),
            blob: blob.to_string(),
            bytes,
            admitted: admitted(admits, &key, &document, value),
            key,
            document,
            part: Some(part),
            held: false,
        })
    }

    /// The key a document naming `namespace` and `name` has in the folder of `promise`,
    /// checked as reading the document checks it; `None` where reading would refuse
    /// the names.
    pub(crate) fn key_of(promise: &str, namespace: &str, name: &str) -> Option<RequestKey> {
        let names = Names {
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
        };
        names.key(promise, None).ok()
    }

    /// A request file of one document that an earlier reading of the same bytes, against
    /// the same Promise, found to read as `key` and `document`, `admitted` or not: how a
    /// full pass takes a request from what the last one read (`reconcile::request_cache`)
    /// without parsing it again.
    pub(crate) fn read_before(
        path: &str,
        blob: String,
        bytes: Vec<u8>,
        key: RequestKey,
        document: RequestDoc,
        admitted: bool,
    ) -> Self {
        RequestFile {
            path: path.to_string(),
            blob,
            bytes,
            key,
            document: Ok(document),
            part: None,
            held: false,
            admitted,
        }
    }

    /// Where the request is: its file, and the document when the file holds several
    /// (`document 2 (line 7) of requests/app/x.yaml`).
    pub(crate) fn origin(&self) -> String {
        match &self.part {
            Some(part) => format!("{part} of {}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Whether `admits` admits a document that reads, as committed.
fn admitted(
    admits: Option<Admits>,
    key: &RequestKey,
    document: &Result<RequestDoc, Vec<Problem>>,
    value: Option<Value>,
) -> bool {
    match (admits, document, value) {
        (Some(admits), Ok(document), Some(value)) => admits(key, document, value),
        _ => false,
    }
}

/// What is wrong with a document's names, and with the rest of it if anything is. A
/// document that names nothing because it does not read says only why it does not.
fn joined(naming: Problem, document: Result<RequestDoc, Problem>) -> Vec<Problem> {
    match document {
        Ok(_) => vec![naming],
        Err(other) if naming == no_name() => vec![other],
        Err(other) => vec![naming, other],
    }
}

impl RequestFile {
    /// Its document, when it reads.
    pub fn document(&self) -> Option<&RequestDoc> {
        self.document.as_ref().ok()
    }

    /// What is wrong with its document, one problem per line, for tests to match.
    #[cfg(test)]
    pub(crate) fn error(&self) -> String {
        super::problem::lines(self.document.as_ref().expect_err("the document reads"))
    }

    /// The whole document, parsed again from the bytes, for the schema check of a
    /// request not [admitted](RequestFile::admitted) as it was read.
    pub(crate) fn value(&self) -> Result<Value, Problem> {
        let text = std::str::from_utf8(&self.bytes)
            .map_err(|_| Problem::new("the file is not UTF-8 text"))?;
        Ok(yaml::document(text)?)
    }
}

/// The names a document claims: `None` where it has none.
#[derive(Default)]
struct Names {
    namespace: Option<String>,
    name: Option<String>,
}

impl Names {
    /// The key these names give a request of `promise` (its folder) in a file named
    /// `stem`, or what the requester must change. A name or namespace from the document
    /// must be a Kubernetes name; each part must be a safe path segment.
    /// A document of a file of several has no `stem`: its name must be its own.
    fn key(&self, promise: &str, stem: Option<&str>) -> Result<RequestKey, Problem> {
        // Kubernetes names only, here as for the document's names: two folders or file
        // names that differ only in case or Unicode form are two requests here, and one
        // file on a clone to macOS or Windows.
        let promise = super::promise_name(promise)
            .map_err(|e| Problem::new(format!("the folder {promise:?} under requests/ {e}")))?;
        let namespace = self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let namespace = kubernetes_name(namespace, 63)
            .map_err(|e| Problem::at("metadata.namespace", format!("{namespace:?} {e}")))?;
        let name = match (self.name.as_deref(), stem) {
            (Some(name), _) => kubernetes_name(name, 253)
                .and_then(|s| file_name(s).map_err(Into::into))
                .map_err(|e| Problem::at("metadata.name", format!("{name:?} {e}")))?,
            (None, Some(stem)) => kubernetes_name(stem, 250).map_err(|e| {
                Problem::new(format!(
                    "the file name {stem:?}, the request's name while it has none, {e}"
                ))
            })?,
            (None, None) => return Err(no_name()),
        };
        Ok(RequestKey {
            promise,
            namespace,
            name,
        })
    }
}

/// `name` if `<name>.yaml`, its status file, is a safe segment too.
fn file_name(name: Segment) -> Result<Segment, SegmentError> {
    crate::path_segment::check(&format!("{name}.yaml"))?;
    Ok(name)
}

/// The key of a request whose names cannot be folder names: the status goes to
/// `status/<promise folder>/_invalid-names/<hash>.yaml`, with `<hash>` the first 32 hex
/// digits of the sha256 of the request file's path (with `#<document>` for a document of
/// a file of several), so each file and document has its own; the Promise
/// folder is `_invalid-names` too when it cannot be a folder name. Built only of safe
/// parts.
fn fallback_key(path: &str, promise: &str) -> RequestKey {
    let reserved = || Segment::new(INVALID_NAMES).expect("the reserved name is safe");
    let hash = sha256(path.as_bytes());
    let hash = hash.strip_prefix("sha256:").unwrap_or(&hash)[..32].to_string();
    RequestKey {
        promise: super::promise_name(promise).unwrap_or_else(|_| reserved()),
        namespace: reserved(),
        name: Segment::new(hash).expect("hex digits are a safe segment"),
    }
}

/// Where a document's `kratix.io/paused` label is (`/` in a key is `~1` in a pointer).
const PAUSED_POINTER: &str = "/metadata/labels/kratix.io~1paused";

/// Why a document without `metadata.name` does not run.
fn no_name() -> Problem {
    Problem::at("metadata.name", "a request needs a name")
}

/// The names and the document `value` gives; `value` itself too when it is a request's,
/// for the schema check.
fn read_document(value: Value) -> (Names, Result<RequestDoc, Problem>, Option<Value>) {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    let names = Names {
        namespace: text("/metadata/namespace").map(String::from),
        name: text("/metadata/name").map(String::from),
    };
    if names.name.is_none() {
        return (names, Err(no_name()), None);
    }
    let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
        let required = Problem::new("apiVersion and kind are required");
        return (names, Err(required), None);
    };
    let (api_version, kind) = (api_version.to_string(), kind.to_string());
    let paused = text(PAUSED_POINTER) == Some("true");
    let doc = RequestDoc {
        api_version,
        kind,
        paused,
    };
    (names, Ok(doc), Some(value))
}

/// `requests/<promise>/...` gives `<promise>`.
pub(crate) fn promise_folder(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("requests/")?;
    let (folder, file) = rest.split_once('/')?;
    (!folder.is_empty() && !file.is_empty()).then_some(folder)
}

fn file_stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.rsplit_once('.').map_or(file, |(stem, _)| stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RequestFile {
        RequestFile::parse("requests/redis/team-a.yaml", "b10b".into(), text.into())
    }

    #[test]
    fn namespace_defaults_and_key_comes_from_metadata() {
        let file = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {name: cache}\n");
        assert_eq!(file.key.to_string(), "redis/default/cache");
        assert_eq!(file.document.unwrap().kind, "redis");
    }

    #[test]
    fn unreadable_files_still_get_a_key_from_their_path() {
        let file = parse("apiVersion: [\n");
        assert_eq!(file.key.to_string(), "redis/default/team-a");
        assert!(file.error().starts_with("line "));
    }

    #[test]
    fn a_name_is_required() {
        let file = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {namespace: ns}\n");
        assert_eq!(file.key.to_string(), "redis/ns/team-a");
        assert_eq!(file.error(), "metadata.name: a request needs a name");
    }

    #[test]
    fn names_that_would_escape_the_layout_are_refused() {
        let file = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {name: ../x}\n");
        assert!(file.document.is_err());
    }

    #[test]
    fn a_request_whose_names_cannot_be_folders_gets_a_key_of_safe_parts() {
        let long = "a".repeat(300);
        let cases = [
            (
                "namespace: ../../state, name: x",
                "metadata.namespace: \"../../state\"",
            ),
            ("namespace: a/b, name: x", "metadata.namespace: \"a/b\""),
            (
                "namespace: \"a\\nb\", name: x",
                "metadata.namespace: \"a\\nb\"",
            ),
            ("namespace: .git, name: x", "metadata.namespace: \".git\""),
            ("name: \"x\\ny\"", "metadata.name: \"x\\ny\""),
            ("name: x/y", "metadata.name: \"x/y\""),
            ("name: .git.", "metadata.name: \".git.\""),
            (&format!("name: {long}"), "metadata.name: \"aaaa"),
            (
                &format!("name: {}", "a".repeat(252)),
                "metadata.name: \"aaaa",
            ),
        ];
        for (metadata, field) in cases {
            let file = parse(&format!(
                "apiVersion: a.b/v1\nkind: redis\nmetadata: {{{metadata}}}\n"
            ));
            let error = file.error();
            assert!(error.starts_with(field), "{metadata}: {error}");
            assert_eq!(file.key.promise.as_str(), "redis");
            assert_eq!(file.key.namespace.as_str(), INVALID_NAMES);
            assert_eq!(file.key.name.len(), 32, "{metadata}");
        }
        let other = RequestFile::parse(
            "requests/redis/other.yaml",
            "b".into(),
            b"apiVersion: a.b/v1\nkind: redis\nmetadata: {name: ../x}\n".to_vec(),
        );
        let first = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {name: ../x}\n");
        assert_ne!(other.key, first.key, "each file has its own");
    }

    #[test]
    fn a_promise_folder_that_cannot_be_a_folder_is_replaced_too() {
        let file = RequestFile::parse(
            "requests/.Git/a.yaml",
            "b".into(),
            b"metadata: {name: a}".to_vec(),
        );
        assert_eq!(file.key.promise.as_str(), INVALID_NAMES);
        assert!(
            file.error()
                .starts_with("the folder \".Git\" under requests/")
        );
        let file = RequestFile::parse("requests/redis/.git.yaml", "b".into(), b"kind: [".to_vec());
        assert_eq!(file.key.namespace.as_str(), INVALID_NAMES);
    }

    #[test]
    fn a_name_that_is_a_safe_folder_but_not_a_kubernetes_name_is_refused() {
        let file = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {name: Cache}\n");
        let error = file.error();
        assert!(error.contains("is not a Kubernetes name"), "{error}");
    }

    fn read_all(text: &str) -> Vec<RequestFile> {
        RequestFile::read_all("requests/redis/team-a.yaml", "b10b".into(), text.into())
    }

    const A: &str = "apiVersion: a.b/v1\nkind: redis\nmetadata: {name: a}\n";

    #[test]
    fn every_document_of_a_file_is_a_request_with_its_own_text() {
        let text = format!(
            "# the team's caches\n---\n{A}---\n\n# b\n{}---\n{}",
            A.replace("name: a", "name: b"),
            A.replace("name: a", "name: c, namespace: ns")
        );
        let requests = read_all(&text);
        let keys: Vec<String> = requests.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(keys, ["redis/default/a", "redis/default/b", "redis/ns/c"]);
        assert_eq!(requests[0].bytes, A.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&requests[1].bytes),
            format!("\n# b\n{}", A.replace("name: a", "name: b"))
        );
        let parts: Vec<String> = requests
            .iter()
            .map(|r| r.part.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            parts,
            [
                "document 1 (line 3)",
                "document 2 (line 7)",
                "document 3 (line 13)"
            ]
        );
        assert_eq!(
            requests[1].origin(),
            "document 2 (line 7) of requests/redis/team-a.yaml"
        );
        assert!(
            requests
                .iter()
                .all(|r| r.document.is_ok() && r.blob == "b10b")
        );
        assert_eq!(requests[2].value().unwrap()["metadata"]["namespace"], "ns");
    }

    #[test]
    fn a_request_is_found_again_in_an_older_version_of_its_file_by_its_key() {
        let b = A.replace("name: a", "name: b");
        let old = read_all(&format!("{A}---\n{b}"));
        let new = read_all(&format!(
            "{}---\n{b}",
            A.replace("kind: redis", "kind: cache")
        ));
        let key = &new[1].key;
        let again = old.into_iter().find(|r| r.key == *key).unwrap();
        assert_eq!(again.bytes, new[1].bytes, "what its pipeline was given");
        assert_eq!(
            again.part.unwrap().digest,
            new[1].part.as_ref().unwrap().digest
        );
    }

    #[test]
    fn a_file_of_one_document_reads_whole_as_before() {
        for text in [
            A.to_string(),
            format!("# header\n---\n{A}---\n# nothing\n---\n"),
        ] {
            let requests = read_all(&text);
            assert_eq!(requests.len(), 1);
            assert_eq!(requests[0], parse(&text), "{text}");
            assert_eq!(
                requests[0].bytes,
                text.as_bytes(),
                "object.yaml is the file"
            );
            assert_eq!(requests[0].part, None);
        }
    }

    #[test]
    fn empty_documents_are_skipped_and_a_file_without_any_is_a_problem() {
        let requests = read_all(&format!(
            "---\n---\n# only a comment\n---\n~\n---\n{A}---\n{A}"
        ));
        let indexes: Vec<usize> = requests
            .iter()
            .map(|r| r.part.as_ref().unwrap().index)
            .collect();
        assert_eq!(indexes, [2, 3], "`~` is no document, and counts as text");
        let requests = read_all("---\n# nothing\n---\n");
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].key.to_string(), "redis/default/team-a");
        assert!(requests[0].error().contains("no YAML document"));
    }

    #[test]
    fn a_document_that_does_not_read_says_where_and_spares_the_others() {
        let text = format!(
            "{A}---\nmetadata: {{name: [\n---\napiVersion: a.b/v1\nkind: redis\n---\n{}",
            A.replace("name: a", "name: d")
        );
        let requests = read_all(&text);
        assert_eq!(requests.len(), 4);
        let broken = &requests[1];
        assert_eq!(broken.part.as_ref().unwrap().line, 5);
        let error = broken.error();
        assert!(
            error.starts_with("line 5 column 18"),
            "lines of the file: {error}"
        );
        assert_eq!(broken.key.namespace.as_str(), INVALID_NAMES);
        let nameless = &requests[2];
        assert_eq!(nameless.document, Err(vec![no_name()]));
        assert_eq!(
            nameless.key.namespace.as_str(),
            INVALID_NAMES,
            "not the file name"
        );
        assert_ne!(nameless.key, broken.key, "each document has its own");
        assert!(requests[0].document.is_ok() && requests[3].document.is_ok());
        assert_eq!(requests[3].key.name.as_str(), "d");
    }

    #[test]
    fn a_document_on_its_separator_line_is_refused_not_merged() {
        let requests = read_all(&format!("{A}---\n{A}--- {{b: 1}}\n"));
        let error = requests[1].error();
        assert!(error.contains("on a line of its own"), "{error}");
        assert!(requests[0].document.is_ok());
    }

    #[test]
    fn a_file_of_more_documents_than_the_cap_is_one_problem() {
        let text = "---\na: 1\n".repeat(100_000);
        let requests = read_all(&text);
        assert_eq!(requests.len(), 1);
        let error = requests[0].error();
        assert!(
            error.starts_with("the file holds more than 1000 documents"),
            "{error}"
        );
        assert!(requests[0].bytes.is_empty());
        let text = format!("---\n{A}").repeat(MAX_DOCUMENTS);
        let requests = read_all(&text.replace("name: a", "name: x"));
        assert_eq!(requests.len(), MAX_DOCUMENTS, "the cap itself reads");
    }

    #[test]
    fn promise_folder_is_the_first_level_under_requests() {
        assert_eq!(promise_folder("requests/redis/a/b.yaml"), Some("redis"));
        assert_eq!(promise_folder("requests/b.yaml"), None);
        assert_eq!(promise_folder("other/redis/b.yaml"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        #[test]
        fn whatever_a_request_names_its_paths_are_made_of_safe_segments(
            name in "\\PC{0,12}|[a-z.]{0,300}|\\.git[. ]{0,2}",
            namespace in proptest::option::of("\\PC{0,12}|[a-z./]{0,70}"),
            file in "[a-z.~]{1,12}",
        ) {
            let mut metadata = serde_json::json!({"name": name});
            if let Some(namespace) = namespace {
                metadata["namespace"] = namespace.into();
            }
            let doc = serde_json::json!({"apiVersion": "a/v1", "kind": "X", "metadata": metadata});
            let path = format!("requests/redis/{file}.yaml");
            let request = RequestFile::parse(&path, "b".into(), doc.to_string().into_bytes());
            let dest = crate::path_segment::SegmentPath::new("dev").unwrap();
            for written in [
                crate::state::layout::status_path(&request.key),
                crate::state::layout::resource_dir(&dest, &request.key),
            ] {
                for segment in written.split('/') {
                    proptest::prop_assert!(
                        crate::path_segment::check(segment).is_ok(),
                        "{written:?} from {doc}"
                    );
                }
            }
        }
    }
}
