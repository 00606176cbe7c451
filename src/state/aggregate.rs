//! The one file an `aggregatedYAML` destination presents: every Kubernetes document of
//! its folder, in the order its `kustomization.yaml` would list their files, as one YAML
//! stream. Pure: the caller reads the files.
//!
//! Each file's text is copied as it is (comments and all, aliases unexpanded), after a
//! `---` line. That line ends whatever document came before, so the stream holds
//! exactly the files' documents, with one exception: a directive (`%YAML`, `%TAG`)
//! may only start a stream or follow a `...`. A file with a directive line is
//! therefore parsed and its documents written again instead.

use crate::model::{LoadError, Problem};
use crate::yaml;

/// The line the aggregate starts with.
const HEADER: &str =
    "# Written by promised: every document of this destination, dependencies first.\n";

/// Builds the aggregate from `files` (`(path, bytes)`, in order). A file that does not
/// read as YAML (it was written by hand: promised checks every document it writes) is
/// a problem naming it, and no aggregate is built.
pub(crate) fn aggregate<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<u8>, LoadError> {
    let mut text = String::from(HEADER);
    for (path, bytes) in files {
        let unreadable = |why: String| {
            LoadError::new(
                path,
                Problem::new(format!(
                    "{why}; this file of the state folder was changed by hand, and the \
                     destination's aggregate is left as it was: remove the file, and promised \
                     writes it again when its request or Promise next runs"
                )),
            )
        };
        let file = std::str::from_utf8(bytes)
            .map_err(|_| unreadable("the file is not UTF-8 text".into()))?;
        let file = file.strip_prefix('\u{feff}').unwrap_or(file);
        let documents =
            yaml::documents(file).map_err(|e| unreadable(format!("is not YAML: {e}")))?;
        if file.lines().any(|line| line.starts_with('%')) {
            for document in documents {
                push_document(&mut text, &yaml::to_string(&document));
            }
        } else {
            push_document(&mut text, file);
        }
    }
    Ok(text.into_bytes())
}

/// Appends `document` after a `---` line, ending it with a newline.
fn push_document(text: &mut String, document: &str) {
    text.push_str("---\n");
    text.push_str(document);
    if !text.ends_with('\n') {
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(files: &[(&str, &str)]) -> Result<String, LoadError> {
        let files = files.iter().map(|(p, t)| (*p, t.as_bytes()));
        aggregate(files).map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn every_document_of_every_file_is_one_document_of_the_stream_in_order() {
        let files = [
            (
                "dependencies/app/static-dependencies.yaml",
                "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n...\n",
            ),
            (
                "resources/ns/app/a/cm.json",
                "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \"a\"}}",
            ),
            (
                "resources/ns/app/a/two.yaml",
                "# a comment\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: b}\ndata:\n  script: |\n    echo one\n    echo two\n---\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: c}\ndata: {x: y}\n",
            ),
            (
                "resources/ns/app/a/directive.yaml",
                "%YAML 1.2\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: d}\n",
            ),
            (
                "resources/ns/app/a/unended.yaml",
                "kind: ConfigMap\napiVersion: v1\nmetadata: {name: e}\ndata:\n  x: \"one\"",
            ),
        ];
        let text = build(&files).unwrap();
        let documents = yaml::documents(&text).unwrap();
        let expected: Vec<serde_json::Value> = files
            .iter()
            .flat_map(|(_, text)| yaml::documents(text).unwrap())
            .collect();
        assert_eq!(documents, expected, "{text}");
        let names: Vec<&str> = documents
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "a", "b", "c", "d", "e"]);
        assert!(text.starts_with(HEADER), "{text}");
        assert!(text.contains("# a comment\n"), "comments are kept: {text}");
        assert!(!text.contains("%YAML"), "{text}");
    }

    #[test]
    fn aliases_are_copied_not_expanded() {
        let bomb = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\ndata:\n  a: &a [x, x, x, x]\n  b: &b [*a, *a, *a, *a]\n  c: [*b, *b, *b, *b]\n";
        let text = build(&[("resources/ns/app/a/cm.yaml", bomb)]).unwrap();
        assert_eq!(text, format!("{HEADER}---\n{bomb}"));
    }

    #[test]
    fn a_file_that_is_not_yaml_is_a_problem_naming_it() {
        let err = build(&[
            ("resources/ns/app/a/ok.yaml", "kind: A\n"),
            ("resources/ns/app/a/bad.yaml", "kind: [\n"),
        ])
        .unwrap_err();
        assert_eq!(err.path, "resources/ns/app/a/bad.yaml");
        assert!(
            err.message().starts_with("is not YAML: "),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("left as it was"),
            "{}",
            err.message()
        );
    }

    /// Files that end or start in ways a plain join could get wrong.
    const FRAGMENTS: [&str; 7] = [
        "kind: A\nmetadata: {name: a}\n",
        "---\nkind: B\nmetadata: {name: b}\n...\n",
        "kind: C\ndata:\n  x: |+\n    kept\n\n",
        "kind: D\ndata: {x: 'no newline'}",
        "%YAML 1.2\n---\nkind: E\n---\nkind: F\n",
        "# only a comment before\nkind: G\nlist:\n- &x one\n- *x\n",
        "{\"kind\": \"H\",\n\t\"data\": [1, 2]}\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn the_stream_reads_as_the_files_documents_one_after_another(
            picked in proptest::collection::vec(proptest::sample::select(FRAGMENTS.to_vec()), 0..6)
        ) {
            let files: Vec<(&str, &str)> = picked.iter().map(|text| ("f.yaml", *text)).collect();
            let text = build(&files).unwrap();
            let expected: Vec<serde_json::Value> = picked
                .iter()
                .flat_map(|text| yaml::documents(text).unwrap())
                .collect();
            proptest::prop_assert_eq!(yaml::documents(&text).unwrap(), expected, "{}", text);
        }
    }
}
