//! Resource Requests: the documents developers add under `requests/<promise>/`.

use std::fmt;

use serde_json::Value;

use super::kubernetes_name;
use crate::path_segment::{Segment, SegmentError};
use crate::state::digest::sha256;
use crate::yaml;

/// The namespace of a request that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace folder of the status of a request whose names cannot be folder names
/// (`status/<promise>/_invalid-names/<hash>.yaml`). No request can claim it: a namespace
/// must be a Kubernetes name, which has no `_`.
pub const INVALID_NAMES: &str = "_invalid-names";

/// Who a request is: the Promise it asks, its namespace and name. Outputs and status are
/// keyed by this, so two files may not claim the same one. Each part is a [`Segment`],
/// safe as a folder name in Git, and the name is also safe with `.yaml` added: a key is
/// always a path `promised` may write (see [`RequestFile::parse`] for a request whose
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

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.promise, self.namespace, self.name)
    }
}

/// A request file as found in the repository, parsed as far as it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFile {
    /// Repository path, e.g. `requests/redis/team-a.yaml`.
    pub path: String,
    /// Git blob id of the file: changes exactly when the file changes.
    pub blob: String,
    /// The bytes as committed; the pipeline sees these as `object.yaml` unless storing the
    /// request as the API server would changes it (`reconcile::prepare::Ready::object`).
    pub bytes: Vec<u8>,
    /// Identity: from the document, or from the path when the document has none.
    pub key: RequestKey,
    /// The parsed document, or why it could not be read.
    pub document: Result<RequestDoc, String>,
}

/// The parts of a request document that `promised` reads. The whole document is not
/// kept: a pass may hold 100k requests, and the schema check parses the bytes again
/// ([`RequestFile::value`]) only for the requests that run.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestDoc {
    /// `apiVersion`, `group/version`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
}

impl RequestFile {
    /// Reads a request file under `requests/<promise>/`. Never fails: a file that cannot
    /// be read still gets a key (from its path) so that its status can say why.
    pub fn parse(path: &str, blob: String, bytes: Vec<u8>) -> Self {
        let promise = promise_folder(path).unwrap_or_default();
        let stem = file_stem(path);
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| "the file is not UTF-8 text".to_string())
            .and_then(|text| yaml::document(text).map_err(|e| e.to_string()));
        let (names, document) = match parsed {
            Ok(value) => read_document(&value),
            Err(message) => (Names::default(), Err(message)),
        };
        let (key, document) = match names.key(promise, stem) {
            Ok(key) => (key, document),
            Err(naming) => {
                let message = match document {
                    Ok(_) => naming,
                    Err(other) => format!("{naming}\n{other}"),
                };
                (fallback_key(path, promise), Err(message))
            }
        };
        RequestFile {
            path: path.to_string(),
            blob,
            bytes,
            key,
            document,
        }
    }
}

impl RequestFile {
    /// The whole document, parsed again from the bytes, for the schema check.
    pub fn value(&self) -> Result<Value, String> {
        let text = std::str::from_utf8(&self.bytes).map_err(|_| "the file is not UTF-8 text")?;
        yaml::document(text).map_err(|e| e.to_string())
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
    fn key(&self, promise: &str, stem: &str) -> Result<RequestKey, String> {
        // Kubernetes names only, here as for the document's names: two folders or file
        // names that differ only in case or Unicode form are two requests here, and one
        // file on a clone to macOS or Windows.
        let promise = kubernetes_name(promise, 253)
            .map_err(|e| format!("the folder {promise:?} under requests/ {e}"))?;
        let namespace = self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let namespace = kubernetes_name(namespace, 63)
            .map_err(|e| format!("metadata.namespace: {namespace:?} {e}"))?;
        let name = match self.name.as_deref() {
            Some(name) => kubernetes_name(name, 253)
                .and_then(|s| file_name(s).map_err(Into::into))
                .map_err(|e| format!("metadata.name: {name:?} {e}"))?,
            None => kubernetes_name(stem, 250).map_err(|e| {
                format!("the file name {stem:?}, the request's name while it has none, {e}")
            })?,
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
/// digits of the sha256 of the request file's path, so each file has its own; the Promise
/// folder is `_invalid-names` too when it cannot be a folder name. Built only of safe
/// parts.
fn fallback_key(path: &str, promise: &str) -> RequestKey {
    let reserved = || Segment::new(INVALID_NAMES).expect("the reserved name is safe");
    let hash = sha256(path.as_bytes());
    let hash = hash.strip_prefix("sha256:").unwrap_or(&hash)[..32].to_string();
    RequestKey {
        promise: kubernetes_name(promise, 253).unwrap_or_else(|_| reserved()),
        namespace: reserved(),
        name: Segment::new(hash).expect("hex digits are a safe segment"),
    }
}

fn read_document(value: &Value) -> (Names, Result<RequestDoc, String>) {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    let names = Names {
        namespace: text("/metadata/namespace").map(String::from),
        name: text("/metadata/name").map(String::from),
    };
    if names.name.is_none() {
        let message = "metadata.name: a request needs a name".to_string();
        return (names, Err(message));
    }
    let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
        return (names, Err("apiVersion and kind are required".to_string()));
    };
    let (api_version, kind) = (api_version.to_string(), kind.to_string());
    (names, Ok(RequestDoc { api_version, kind }))
}

/// `requests/<promise>/...` gives `<promise>`.
pub fn promise_folder(path: &str) -> Option<&str> {
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
        assert!(file.document.unwrap_err().starts_with("line "));
    }

    #[test]
    fn a_name_is_required() {
        let file = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {namespace: ns}\n");
        assert_eq!(file.key.to_string(), "redis/ns/team-a");
        assert_eq!(
            file.document.unwrap_err(),
            "metadata.name: a request needs a name"
        );
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
            let error = file.document.unwrap_err();
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
            file.document
                .unwrap_err()
                .starts_with("the folder \".Git\" under requests/")
        );
        let file = RequestFile::parse("requests/redis/.git.yaml", "b".into(), b"kind: [".to_vec());
        assert_eq!(file.key.namespace.as_str(), INVALID_NAMES);
    }

    #[test]
    fn a_name_that_is_a_safe_folder_but_not_a_kubernetes_name_is_refused() {
        let file = parse("apiVersion: a.b/v1\nkind: redis\nmetadata: {name: Cache}\n");
        let error = file.document.unwrap_err();
        assert!(error.contains("is not a Kubernetes name"), "{error}");
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
