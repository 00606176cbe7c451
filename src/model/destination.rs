//! Kratix `Destination` documents: the clusters outputs are written for.

use serde::Deserialize;

use super::{Labels, LoadError, promise::Metadata};
use crate::path_segment::SegmentPath;
use crate::yaml;

/// A destination, as read from `destinations/<file>.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// `metadata.name`.
    pub name: String,
    /// Repository path of the file it came from.
    pub path: String,
    /// `metadata.labels`, matched against selectors.
    pub labels: Labels,
    /// The folder under the state directory: `spec.path`, or the name. Every segment is
    /// safe to write.
    pub folder: SegmentPath,
    /// `spec.strictMatchLabels`: take nothing that comes without selectors.
    pub strict_match_labels: bool,
}

#[derive(Deserialize)]
struct DestinationDoc {
    metadata: Metadata,
    #[serde(default)]
    spec: Option<DestinationSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DestinationSpec {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    strict_match_labels: bool,
}

/// Folder names a destination's folder may not contain: a path is read back as a
/// request's output or a Promise's dependency by the first of them it holds.
const RESERVED: [&str; 2] = ["resources", "dependencies"];

/// The kinds read as destinations: Kratix's `Destination`, and the seed era's `Cluster`,
/// which has the same name, labels and path.
const KINDS: [&str; 2] = ["Destination", "Cluster"];

impl Destination {
    /// Reads a file of `destinations/`: every `Destination` (or `Cluster`) document of
    /// it. Teams keep the credentials Secret and the GitStateStore beside their
    /// Destination in one file; documents of other kinds are skipped, never read
    /// further nor copied anywhere. A file with no destination document at all is an
    /// error, so that a misspelt kind does not pass unseen. Also returns a note for each
    /// document skipped or read under the seed era's `Cluster`, for `validate`.
    pub fn parse_file(path: &str, text: &str) -> Result<(Vec<Self>, Vec<String>), LoadError> {
        let fail = |err: yaml::YamlError| LoadError::new(path, err.to_string());
        let docs = yaml::documents(text).map_err(fail)?;
        let kind_of = |doc: &serde_json::Value| {
            let kind = doc.get("kind").and_then(serde_json::Value::as_str);
            kind.unwrap_or_default().to_string()
        };
        let kinds: Vec<String> = docs.iter().map(kind_of).collect();
        let notes = kinds.iter().enumerate().filter_map(|(i, kind)| match kind.as_str() {
            "Destination" => None,
            "Cluster" => Some(format!(
                "document {}: kind: Cluster is the seed era's name, deprecated; read as a Destination",
                i + 1
            )),
            other => Some(format!("document {}: kind: {other:?} is not read", i + 1)),
        });
        let notes: Vec<String> = notes.collect();
        let destinations: Vec<Self> = docs
            .into_iter()
            .zip(&kinds)
            .filter(|(_, kind)| KINDS.contains(&kind.as_str()))
            .map(|(doc, _)| Self::from_value(path, doc))
            .collect::<Result<_, _>>()?;
        if destinations.is_empty() {
            let found = match kinds.as_slice() {
                [] => "no document".to_string(),
                [one] => format!("{one:?}"),
                many => format!("{many:?}"),
            };
            return Err(LoadError::new(
                path,
                format!("kind: expected Destination (or Cluster), found {found}"),
            ));
        }
        Ok((destinations, notes))
    }

    /// The first destination of a file, for tests of one document.
    #[cfg(test)]
    pub(crate) fn parse(path: &str, text: &str) -> Result<Self, LoadError> {
        Ok(Self::parse_file(path, text)?.0.remove(0))
    }

    fn from_value(path: &str, value: serde_json::Value) -> Result<Self, LoadError> {
        let fail = |err: yaml::YamlError| LoadError::new(path, err.to_string());
        let doc: DestinationDoc = yaml::typed(value).map_err(fail)?;
        let spec = doc.spec.unwrap_or_default();
        // The name is the folder when there is no spec.path, and is written into status
        // files and commit messages: a Kubernetes name, as Kratix has it.
        let name = &doc.metadata.name;
        super::kubernetes_name(name, 253)
            .map_err(|e| LoadError::new(path, format!("metadata.name: {name:?} {e}")))?;
        let (field, folder) = match &spec.path {
            Some(folder) => ("spec.path", folder.trim_matches('/')),
            None => ("metadata.name", name.as_str()),
        };
        let folder = SegmentPath::new(folder).map_err(|e| {
            LoadError::new(
                path,
                format!(
                    "{field}: {folder:?} must be a relative path inside the state folder: its {e}"
                ),
            )
        })?;
        if let Some(reserved) = folder.split('/').find(|part| RESERVED.contains(part)) {
            return Err(LoadError::new(
                path,
                format!(
                    "spec.path: {folder:?} has a folder named {reserved:?}, which the output \
                     layout reserves (state/<destination>/resources/..., \
                     state/<destination>/dependencies/...); choose another name"
                ),
            ));
        }
        Ok(Destination {
            name: doc.metadata.name.clone(),
            path: path.to_string(),
            labels: doc.metadata.labels.unwrap_or_default(),
            folder,
            strict_match_labels: spec.strict_match_labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_destination_of_a_file_counts_and_other_kinds_are_skipped() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {token: RkFLRQ==}\n---\napiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: repo}\n---\nkind: Destination\nmetadata: {name: dev, labels: {env: dev}}\n---\nkind: Cluster\nmetadata: {name: old, labels: {env: old}}\n";
        let (all, notes) = Destination::parse_file("destinations/dev.yaml", text).unwrap();
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["dev", "old"]);
        assert_eq!(all[1].folder.as_str(), "old");
        assert_eq!(
            notes,
            [
                "document 1: kind: \"Secret\" is not read",
                "document 2: kind: \"GitStateStore\" is not read",
                "document 4: kind: Cluster is the seed era's name, deprecated; read as a Destination",
            ]
        );
    }

    #[test]
    fn a_file_without_a_destination_is_an_error_naming_what_it_holds() {
        let text =
            "kind: Secret\nmetadata: {name: creds}\n---\nkind: Destinaton\nmetadata: {name: dev}\n";
        let err = Destination::parse_file("destinations/dev.yaml", text).unwrap_err();
        assert_eq!(
            err.message,
            "kind: expected Destination (or Cluster), found [\"Secret\", \"Destinaton\"]"
        );
    }

    #[test]
    fn folder_defaults_to_the_name() {
        let text = "kind: Destination\nmetadata:\n  name: dev\n  labels: {env: dev}\n";
        let dest = Destination::parse("destinations/dev.yaml", text).unwrap();
        assert_eq!(dest.folder.as_str(), "dev");
        assert_eq!(dest.labels["env"], "dev");
        assert!(!dest.strict_match_labels);
    }

    #[test]
    fn an_empty_spec_is_no_spec() {
        let text = "kind: Destination\nmetadata:\n  name: dev\n  labels:\nspec:\n";
        let dest = Destination::parse("destinations/dev.yaml", text).unwrap();
        assert!(dest.labels.is_empty());
    }

    #[test]
    fn a_folder_may_not_use_the_names_the_layout_reserves() {
        for path in ["resources", "team/resources/prod", "eu/dependencies"] {
            let text =
                format!("kind: Destination\nmetadata: {{name: x}}\nspec: {{path: {path}}}\n");
            let err = Destination::parse("destinations/x.yaml", &text).unwrap_err();
            assert!(err.message.starts_with("spec.path:"), "{}", err.message);
            assert!(err.message.contains("reserves"), "{}", err.message);
        }
        let text = "kind: Destination\nmetadata: {name: x}\nspec: {path: team/my-resources}\n";
        assert!(Destination::parse("destinations/x.yaml", text).is_ok());
        // The name is the folder when there is no spec.path.
        let text = "kind: Destination\nmetadata: {name: resources}\n";
        assert!(Destination::parse("destinations/x.yaml", text).is_err());
    }

    #[test]
    fn path_must_stay_inside_the_state_folder() {
        let text = "kind: Destination\nmetadata: {name: x}\nspec: {path: ../etc}\n";
        let err = Destination::parse("destinations/x.yaml", text).unwrap_err();
        assert!(err.message.starts_with("spec.path:"), "{}", err.message);
    }

    #[test]
    fn no_folder_may_be_named_git_or_anything_git_reads_as_it() {
        for path in [
            ".git",
            ".git/hooks",
            "dev/.GIT",
            "git~1/x",
            "a/.git.",
            "a\\b",
            "a//b",
        ] {
            let text =
                format!("kind: Destination\nmetadata: {{name: x}}\nspec: {{path: {path:?}}}\n");
            let err = Destination::parse("destinations/x.yaml", &text).unwrap_err();
            assert!(err.message.starts_with("spec.path:"), "{}", err.message);
        }
        for name in [".git", "\".git/hooks\"", "Dev"] {
            let text = format!("kind: Destination\nmetadata: {{name: {name}}}\n");
            let err = Destination::parse("destinations/x.yaml", &text).unwrap_err();
            assert!(err.message.starts_with("metadata.name:"), "{}", err.message);
        }
    }
}
