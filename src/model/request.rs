//! Resource Requests: the documents developers add under `requests/<promise>/`.

use std::fmt;

use serde_json::Value;

use crate::yaml;

/// The namespace of a request that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Who a request is: the Promise it asks, its namespace and name. Outputs and status are
/// keyed by this, so two files may not claim the same one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// Name of the Promise (the folder under `requests/`).
    pub promise: String,
    /// `metadata.namespace`, or `default`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
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
    /// The bytes as committed; the pipeline sees these as `object.yaml`.
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
        let promise = promise_folder(path).unwrap_or_default().to_string();
        let stem = file_stem(path).to_string();
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|_| "the file is not UTF-8 text".to_string())
            .and_then(|text| yaml::document(text).map_err(|e| e.to_string()));
        let (key, document) = match parsed {
            Ok(value) => read_document(&promise, &stem, value),
            Err(message) => (key(&promise, DEFAULT_NAMESPACE, &stem), Err(message)),
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

fn read_document(
    promise: &str,
    stem: &str,
    value: Value,
) -> (RequestKey, Result<RequestDoc, String>) {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    let namespace = text("/metadata/namespace").unwrap_or(DEFAULT_NAMESPACE);
    let Some(name) = text("/metadata/name") else {
        let message = "metadata.name: a request needs a name".to_string();
        return (key(promise, namespace, stem), Err(message));
    };
    let key = key(promise, namespace, name);
    if !super::is_safe_name(name) || !super::is_safe_name(namespace) {
        let message = "metadata: name and namespace must be DNS labels (a-z, 0-9, '-', '.')";
        return (key, Err(message.to_string()));
    }
    let (Some(api_version), Some(kind)) = (text("/apiVersion"), text("/kind")) else {
        return (key, Err("apiVersion and kind are required".to_string()));
    };
    let (api_version, kind) = (api_version.to_string(), kind.to_string());
    (key, Ok(RequestDoc { api_version, kind }))
}

fn key(promise: &str, namespace: &str, name: &str) -> RequestKey {
    RequestKey {
        promise: promise.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
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
    fn promise_folder_is_the_first_level_under_requests() {
        assert_eq!(promise_folder("requests/redis/a/b.yaml"), Some("redis"));
        assert_eq!(promise_folder("requests/b.yaml"), None);
        assert_eq!(promise_folder("other/redis/b.yaml"), None);
    }
}
