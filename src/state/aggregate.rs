//! The one file an `aggregatedYAML` destination presents: every Kubernetes document of
//! its folder, in the order its `kustomization.yaml` would list their files, as one YAML
//! stream. Pure: the caller reads the files.
//!
//! Each document is parsed and written again rather than its file's text copied, so
//! that the stream holds exactly the documents kustomize reads from the files, whatever
//! they start or end with (a leading `---`, a `...`, a `%YAML` directive, JSON). The
//! price is the files' comments, which the aggregate does not keep.

use crate::model::LoadError;
use crate::yaml;

/// The line the aggregate starts with.
const HEADER: &str =
    "# Written by promised: every document of this destination, dependencies first.\n";

/// Builds the aggregate from `files` (`(path, bytes)`, in order). A file that does not
/// read as YAML (it was written by hand: promised checks every document it writes) is
/// a problem naming it, and no aggregate is built.
pub fn aggregate<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<u8>, LoadError> {
    let mut text = String::from(HEADER);
    for (path, bytes) in files {
        let unreadable = |why: String| {
            LoadError::new(
                path,
                format!(
                    "{why}; this file of the state folder was changed by hand, and the \
                     destination's aggregate is left as it was: remove the file, and promised \
                     writes it again when its request or Promise next runs"
                ),
            )
        };
        let file = std::str::from_utf8(bytes)
            .map_err(|_| unreadable("the file is not UTF-8 text".into()))?;
        let documents =
            yaml::documents(file).map_err(|e| unreadable(format!("is not YAML: {e}")))?;
        for document in documents {
            text.push_str("---\n");
            text.push_str(&yaml::to_string(&document));
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(files: &[(&'static str, &str)]) -> Result<String, LoadError> {
        let files = files.iter().map(|(p, t)| (*p, t.as_bytes()));
        aggregate(files).map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn every_document_of_every_file_is_one_document_of_the_stream_in_order() {
        let text = build(&[
            (
                "dependencies/app/static-dependencies.yaml",
                "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n...\n",
            ),
            (
                "resources/ns/app/a/cm.json",
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}"#,
            ),
            (
                "resources/ns/app/a/two.yaml",
                "# a comment\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: b}\ndata:\n  script: |\n    echo one\n    echo two\n---\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: c}\n",
            ),
        ])
        .unwrap();
        let documents = yaml::documents(&text).unwrap();
        let names: Vec<&str> = documents
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "a", "b", "c"]);
        assert_eq!(documents[2]["data"]["script"], "echo one\necho two\n");
        assert!(text.starts_with(HEADER), "{text}");
        assert!(
            text.contains("---\nkind: ConfigMap\napiVersion: v1\n"),
            "keys keep their order: {text}"
        );
    }

    #[test]
    fn a_file_that_is_not_yaml_is_a_problem_naming_it() {
        let err = build(&[
            ("resources/ns/app/a/ok.yaml", "kind: A\n"),
            ("resources/ns/app/a/bad.yaml", "kind: [\n"),
        ])
        .unwrap_err();
        assert_eq!(err.path, "resources/ns/app/a/bad.yaml");
        assert!(err.message.starts_with("is not YAML: "), "{}", err.message);
        assert!(err.message.contains("left as it was"), "{}", err.message);
    }
}
