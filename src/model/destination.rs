//! Kratix `Destination` documents: the clusters outputs are written for.

use serde::Deserialize;

use super::{Labels, LoadError, Problem, promise::Metadata};
use crate::path_segment::{Segment, SegmentPath};
use crate::yaml;

/// A destination, as read from `destinations/<file>.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Destination {
    /// `metadata.name`.
    pub(crate) name: String,
    /// Repository path of the file it came from.
    pub(crate) path: String,
    /// `metadata.labels`, matched against selectors.
    pub(crate) labels: Labels,
    /// The folder under the state directory: `spec.path`, or the name. Every segment is
    /// safe to write.
    pub(crate) folder: SegmentPath,
    /// `spec.strictMatchLabels`: take nothing that comes without selectors.
    pub(crate) strict_match_labels: bool,
    /// `spec.filepath`: how the folder presents its documents.
    pub(crate) filepath: FilepathMode,
}

/// Kratix's `spec.filepath.mode`, as `promised` honours it. Every mode keeps each
/// request's and each Promise's files in their own folder (ownership is read from
/// those paths); the mode decides what else the destination's folder holds and what
/// its `kustomization.yaml` lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum FilepathMode {
    /// `nestedByMetadata`, the default: `kustomization.yaml` lists every document file.
    #[default]
    NestedByMetadata,
    /// `aggregatedYAML`: every document of the destination also goes into one file at
    /// the top of its folder, `filename`, and `kustomization.yaml` lists only that.
    AggregatedYaml {
        /// `spec.filepath.filename`, default `aggregated.yaml`: one segment ending in
        /// `.yaml` or `.yml`, never a name kustomize reads as a kustomization.
        filename: Segment,
    },
}

/// Kratix's default for `spec.filepath.filename`.
const DEFAULT_AGGREGATE: &str = "aggregated.yaml";

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
    #[serde(default)]
    filepath: Option<FilepathDoc>,
    /// Fields promised does not read, kept to name the unknown ones in warnings.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// The fields of a Kratix Destination's `spec`. `stateStoreRef`, `cleanup` and
/// `initWorkloads` are Kratix's and not read: the state store is this repository's
/// `state/` folder (see the compatibility table).
const SPEC_FIELDS: [&str; 6] = [
    "path",
    "strictMatchLabels",
    "filepath",
    "stateStoreRef",
    "cleanup",
    "initWorkloads",
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilepathDoc {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    filename: Option<String>,
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
    pub(crate) fn parse_file(
        path: &str,
        text: &str,
    ) -> Result<(Vec<Self>, Vec<Problem>), LoadError> {
        let fail = |err: yaml::YamlError| LoadError::new(path, err);
        // Each document with the line it starts on, where kubectl's split of the file
        // gives one document a piece (not `~` alone, not two for want of a separator on
        // a line of its own); otherwise the file is read as one stream, without lines.
        let pieces: Option<Vec<(serde_json::Value, usize)>> =
            yaml::split_documents(text.as_bytes())
                .map(|slice| {
                    let mut found = yaml::documents(&text[slice.range]).ok()?;
                    (found.len() == 1).then(|| (found.remove(0), slice.line))
                })
                .collect();
        let (docs, starts): (Vec<serde_json::Value>, Option<Vec<usize>>) = match pieces {
            Some(pieces) => {
                let (docs, starts) = pieces.into_iter().unzip();
                (docs, Some(starts))
            }
            None => (yaml::documents(text).map_err(fail)?, None),
        };
        let kind_of = |doc: &serde_json::Value| {
            let kind = doc.get("kind").and_then(serde_json::Value::as_str);
            kind.unwrap_or_default().to_string()
        };
        let kinds: Vec<String> = docs.iter().map(kind_of).collect();
        let in_document = |i: usize, message: &dyn std::fmt::Display| Problem {
            line: starts.as_ref().map(|starts| starts[i]),
            ..Problem::new(format!("document {}: {message}", i + 1))
        };
        let notes = kinds
            .iter()
            .enumerate()
            .filter_map(|(i, kind)| match kind.as_str() {
                "Destination" => None,
                "Cluster" => Some(in_document(
                    i,
                    &"kind: Cluster is the seed era's name, deprecated; read as a Destination",
                )),
                other => Some(in_document(i, &format!("kind: {other:?} is not read"))),
            });
        let mut notes: Vec<Problem> = notes.collect();
        let several = docs.len() > 1;
        let mut destinations = Vec::new();
        for (i, (doc, kind)) in docs.into_iter().zip(&kinds).enumerate() {
            if !KINDS.contains(&kind.as_str()) {
                continue;
            }
            let (destination, unknown) = Self::from_value(path, doc)?;
            // In a file of several, the warning names the document, and is placed on
            // the line the document starts on.
            notes.extend(unknown.into_iter().map(|note| match several {
                true => in_document(i, &note),
                false => note,
            }));
            destinations.push(destination);
        }
        if destinations.is_empty() {
            let found = match kinds.as_slice() {
                [] => "no document".to_string(),
                [one] => format!("{one:?}"),
                many => format!("{many:?}"),
            };
            let why = format!("expected Destination (or Cluster), found {found}");
            return Err(LoadError::new(path, Problem::at("kind", why)));
        }
        Ok((destinations, notes))
    }

    /// Where its aggregate goes, under the state folder, when it has one.
    pub(crate) fn aggregate_path(&self) -> Option<String> {
        match &self.filepath {
            FilepathMode::NestedByMetadata => None,
            FilepathMode::AggregatedYaml { filename } => {
                Some(format!("{}/{filename}", self.folder))
            }
        }
    }

    /// The first destination of a file, for tests of one document.
    #[cfg(test)]
    pub(crate) fn parse(path: &str, text: &str) -> Result<Self, LoadError> {
        Ok(Self::parse_file(path, text)?.0.remove(0))
    }

    /// One destination document, with a warning for each unknown field of its spec.
    fn from_value(path: &str, value: serde_json::Value) -> Result<(Self, Vec<Problem>), LoadError> {
        let fail = |err: yaml::YamlError| LoadError::new(path, err);
        let doc: DestinationDoc = yaml::typed(value).map_err(fail)?;
        let spec = doc.spec.unwrap_or_default();
        let unknown = spec
            .other
            .keys()
            .filter(|f| !SPEC_FIELDS.contains(&f.as_str()));
        let notes: Vec<Problem> = unknown
            .map(|field| {
                super::unknown_field(field, "a Kratix Destination's spec", &SPEC_FIELDS)
                    .within("spec")
            })
            .collect();
        // The name is the folder when there is no spec.path, and is written into status
        // files and commit messages: a Kubernetes name, as Kratix has it.
        let name = &doc.metadata.name;
        super::kubernetes_name(name, 253).map_err(|e| {
            LoadError::new(path, Problem::at("metadata.name", format!("{name:?} {e}")))
        })?;
        let (field, folder) = match &spec.path {
            Some(folder) => ("spec.path", folder.trim_matches('/')),
            None => ("metadata.name", name.as_str()),
        };
        let folder = SegmentPath::new(folder).map_err(|e| {
            let why =
                format!("{folder:?} must be a relative path inside the state folder: its {e}");
            LoadError::new(path, Problem::at(field, why))
        })?;
        if let Some(reserved) = folder.split('/').find(|part| RESERVED.contains(part)) {
            let why = format!(
                "{folder:?} has a folder named {reserved:?}, which the output layout reserves \
                 (state/<destination>/resources/..., state/<destination>/dependencies/...); \
                 choose another name"
            );
            return Err(LoadError::new(path, Problem::at("spec.path", why)));
        }
        let destination = Destination {
            name: doc.metadata.name.clone(),
            path: path.to_string(),
            labels: doc.metadata.labels.unwrap_or_default(),
            folder,
            strict_match_labels: spec.strict_match_labels,
            filepath: filepath_mode(spec.filepath.unwrap_or_default())
                .map_err(|message| LoadError::new(path, message))?,
        };
        Ok((destination, notes))
    }
}

/// Reads `spec.filepath`; the error names the field and says what to write instead.
fn filepath_mode(doc: FilepathDoc) -> Result<FilepathMode, Problem> {
    let (mode, filename) = ("spec.filepath.mode", "spec.filepath.filename");
    match (doc.mode.as_deref(), doc.filename) {
        (None | Some("nestedByMetadata"), None) => Ok(FilepathMode::NestedByMetadata),
        (None | Some("nestedByMetadata"), Some(name)) => Err(Problem::at(
            filename,
            format!(
                "{name:?} is only read with mode: aggregatedYAML; set spec.filepath.mode: \
                 aggregatedYAML, or remove the filename"
            ),
        )),
        (Some("aggregatedYAML"), name) => {
            let name = name.unwrap_or_else(|| DEFAULT_AGGREGATE.to_string());
            aggregate_name(&name)
                .map(|filename| FilepathMode::AggregatedYaml { filename })
                .map_err(|why| Problem::at(filename, format!("{name:?} {why}")))
        }
        (Some("none"), _) => Err(Problem::at(
            mode,
            "\"none\" (every file flat at the top of the destination's folder) is not \
             supported: promised knows which request a file belongs to by its folder, and \
             flat files of two requests could overwrite each other; use nestedByMetadata (the \
             default), or aggregatedYAML for one file",
        )),
        (Some(other), _) => Err(Problem::at(
            mode,
            format!(
                "{other:?} is not a filepath mode: write nestedByMetadata (the default) or \
                 aggregatedYAML"
            ),
        )),
    }
}

/// Checks the aggregate's file name: one segment safe to write, read as YAML, and not
/// the destination's `kustomization.yaml`.
fn aggregate_name(filename: &str) -> Result<Segment, String> {
    let segment = Segment::new(filename).map_err(|e| {
        format!("must be a file name at the top of the destination's folder: it {e}")
    })?;
    if !(filename.ends_with(".yaml") || filename.ends_with(".yml")) {
        return Err("must end in .yaml or .yml".into());
    }
    if crate::state::kustomization::is_kustomization(&filename.to_ascii_lowercase()) {
        return Err(
            "is the name of the kustomization promised writes beside it; choose another name"
                .into(),
        );
    }
    Ok(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_spec_fields_are_named_and_kratix_s_own_are_not() {
        let text = "kind: Destination\nmetadata: {name: dev}\nspec:\n  strictMatchLabel: true\n  stateStoreRef: {name: repo, kind: GitStateStore}\n  cleanup: all\n";
        let (_, notes) = Destination::parse_file("destinations/dev.yaml", text).unwrap();
        assert_eq!(
            notes,
            [
                "spec.strictMatchLabel: not a field of a Kratix Destination's spec, and not read; did you mean strictMatchLabels?"
            ]
        );
    }

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
            err.message(),
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
            assert!(err.message().starts_with("spec.path:"), "{}", err.message());
            assert!(err.message().contains("reserves"), "{}", err.message());
        }
        let text = "kind: Destination\nmetadata: {name: x}\nspec: {path: team/my-resources}\n";
        assert!(Destination::parse("destinations/x.yaml", text).is_ok());
        // The name is the folder when there is no spec.path.
        let text = "kind: Destination\nmetadata: {name: resources}\n";
        assert!(Destination::parse("destinations/x.yaml", text).is_err());
    }

    fn filepath_of(spec: &str) -> Result<FilepathMode, String> {
        let text = format!("kind: Destination\nmetadata: {{name: x}}\nspec: {spec}\n");
        Destination::parse("destinations/x.yaml", &text)
            .map(|d| d.filepath)
            .map_err(|e| e.message())
    }

    #[test]
    fn the_filepath_mode_is_nested_by_metadata_unless_it_says_otherwise() {
        for spec in [
            "{}",
            "{filepath: {}}",
            "{filepath: }",
            "{filepath: {mode: nestedByMetadata}}",
        ] {
            assert_eq!(
                filepath_of(spec),
                Ok(FilepathMode::NestedByMetadata),
                "{spec}"
            );
        }
    }

    #[test]
    fn aggregated_yaml_writes_aggregated_yaml_unless_a_filename_is_given() {
        let aggregated = |name: &str| {
            Ok(FilepathMode::AggregatedYaml {
                filename: Segment::new(name).unwrap(),
            })
        };
        assert_eq!(
            filepath_of("{filepath: {mode: aggregatedYAML}}"),
            aggregated("aggregated.yaml")
        );
        assert_eq!(
            filepath_of("{filepath: {mode: aggregatedYAML, filename: catalog.yml}}"),
            aggregated("catalog.yml")
        );
    }

    #[test]
    fn an_aggregate_filename_must_be_one_yaml_file_beside_the_kustomization() {
        for (filename, why) in [
            ("catalog", "must end in .yaml or .yml"),
            ("sub/catalog.yaml", "must be a file name at the top"),
            ("../catalog.yaml", "must be a file name at the top"),
            (".git", "must be a file name at the top"),
            ("kustomization.yaml", "the kustomization promised writes"),
            ("Kustomization.yml", "the kustomization promised writes"),
        ] {
            let spec = format!("{{filepath: {{mode: aggregatedYAML, filename: {filename:?}}}}}");
            let err = filepath_of(&spec).unwrap_err();
            assert!(
                err.starts_with(&format!("spec.filepath.filename: {filename:?} ")),
                "{err}"
            );
            assert!(err.contains(why), "{filename}: {err}");
        }
    }

    #[test]
    fn a_filename_without_aggregated_yaml_is_an_error_not_ignored() {
        let err = filepath_of("{filepath: {filename: catalog.yaml}}").unwrap_err();
        assert_eq!(
            err,
            "spec.filepath.filename: \"catalog.yaml\" is only read with mode: aggregatedYAML; \
             set spec.filepath.mode: aggregatedYAML, or remove the filename"
        );
    }

    #[test]
    fn mode_none_and_unknown_modes_are_errors_naming_the_field() {
        let err = filepath_of("{filepath: {mode: none}}").unwrap_err();
        assert!(
            err.starts_with("spec.filepath.mode: \"none\" (every file flat"),
            "{err}"
        );
        assert!(err.contains("is not supported"), "{err}");
        let err = filepath_of("{filepath: {mode: aggregatedYaml}}").unwrap_err();
        assert_eq!(
            err,
            "spec.filepath.mode: \"aggregatedYaml\" is not a filepath mode: write \
             nestedByMetadata (the default) or aggregatedYAML"
        );
        let err = filepath_of("{filepath: {mode: aggregatedYAML, fileName: x.yaml}}").unwrap_err();
        assert!(
            err.contains("spec.filepath") && err.contains("fileName"),
            "{err}"
        );
    }

    #[test]
    fn path_must_stay_inside_the_state_folder() {
        let text = "kind: Destination\nmetadata: {name: x}\nspec: {path: ../etc}\n";
        let err = Destination::parse("destinations/x.yaml", text).unwrap_err();
        assert!(err.message().starts_with("spec.path:"), "{}", err.message());
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
            assert!(err.message().starts_with("spec.path:"), "{}", err.message());
        }
        for name in [".git", "\".git/hooks\"", "Dev"] {
            let text = format!("kind: Destination\nmetadata: {{name: {name}}}\n");
            let err = Destination::parse("destinations/x.yaml", &text).unwrap_err();
            assert!(
                err.message().starts_with("metadata.name:"),
                "{}",
                err.message()
            );
        }
    }
}
