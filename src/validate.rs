//! `promised validate`: every Promise, Destination and request checked, each problem
//! reported as `path:line: field: message`, the way compilers report. Pure.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::git::Skipped;
use crate::model::{Platform, Problem, Promise, SourceFile};
use crate::reconcile::Scope;
use crate::reconcile::decide::{self, PromiseDecision};
use crate::reconcile::prepare::{Rejection, Schemas, check};
use crate::yaml::{PROMISE_MAX_DEPTH, document_nested, field_lines, line_of};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Finding {
    /// Repository path.
    pub(crate) path: String,
    /// 1-based line.
    pub(crate) line: usize,
    /// `field: message`, or the message alone.
    pub(crate) message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// What `validate` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validation {
    /// Problems, sorted by file and line: each stops a file or a request.
    pub(crate) findings: Vec<Finding>,
    /// What loads but deserves a word (deprecated seed-era forms, documents of a
    /// destination file that are not read), sorted likewise.
    pub(crate) warnings: Vec<Finding>,
    /// How many input files there were.
    pub(crate) checked: usize,
}

/// Checks the input files of a commit, and reports the tree entries under the input
/// folders that are not read (`skipped`: symbolic links, submodules).
pub(crate) fn validate(files: Vec<SourceFile>, skipped: &BTreeMap<String, Skipped>) -> Validation {
    let texts: HashMap<String, String> = files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                String::from_utf8_lossy(&f.bytes).into_owned(),
            )
        })
        .collect();
    let line_for = |path: &str, problem: &Problem| -> usize {
        let text = texts.get(path).map(String::as_str).unwrap_or_default();
        line_in(text, 1, problem)
    };
    let mut platform = Platform::load(files);
    for (path, why) in skipped {
        platform.add_unread(path, &why.to_string());
    }
    let mut findings: Vec<Finding> = platform
        .problems
        .iter()
        .map(|p| Finding {
            path: p.path.clone(),
            line: line_for(&p.path, &p.problem),
            message: p.message(),
        })
        .collect();
    let schemas = Schemas::default();
    for promise in platform.promises.values() {
        let text = texts
            .get(&promise.path)
            .map(String::as_str)
            .unwrap_or_default();
        for problem in invalid_schemas(promise, &schemas, text) {
            findings.push(Finding {
                path: promise.path.clone(),
                line: line_for(&promise.path, &problem),
                message: problem.to_string(),
            });
        }
    }
    // A request whose Promise's schema does not compile is not reported: the Promise is.
    for request in &platform.requests {
        if let Err(Rejection::Invalid { problems, .. }) = check(&platform, &schemas, request) {
            for problem in problems {
                let (line, message) = match &request.part {
                    None => (line_for(&request.path, &problem), problem.to_string()),
                    Some(part) => {
                        let text = String::from_utf8_lossy(&request.bytes);
                        let line = line_in(&text, part.line, &problem);
                        (line, format!("document {}: {problem}", part.index))
                    }
                };
                findings.push(Finding {
                    path: request.path.clone(),
                    line,
                    message,
                });
            }
        }
    }
    findings.sort();
    let mut warnings: Vec<Finding> = platform
        .notes
        .iter()
        .map(|n| Finding {
            path: n.path.clone(),
            line: line_for(&n.path, &n.problem),
            message: format!("warning: {}", n.problem),
        })
        .collect();
    // Unmet requirements as this commit alone shows them (whether a required Promise's
    // workflow succeeded is for a pass to find out).
    let decisions = decide::promises(&platform, &BTreeMap::new(), &Scope::default());
    for (name, decision) in decisions {
        if let PromiseDecision::Wait(why) = decision {
            let path = platform.promises[&name].path.clone();
            let problem = Problem::at(
                "spec.requiredPromises",
                format!("{why}; the Promise stays unavailable and its requests wait until it is"),
            );
            warnings.push(Finding {
                line: line_for(&path, &problem),
                path,
                message: format!("warning: {problem}"),
            });
        }
    }
    warnings.sort();
    let checked = platform.promises.len()
        + platform.destinations.len()
        + platform.requests.len()
        + platform.problems.len();
    Validation {
        findings,
        warnings,
        checked,
    }
}

/// What is wrong with each schema of `promise` (its file is `text`) that does not
/// compile, with the field dotted from the file's root.
fn invalid_schemas(promise: &Promise, schemas: &Schemas, text: &str) -> Vec<Problem> {
    let Some(api) = &promise.api else {
        return Vec::new();
    };
    // Parsed again only to find where a schema that does not compile is.
    let mut document = None;
    let mut invalid = Vec::new();
    for version in &api.versions {
        if let Err(error) = schemas.get(promise, version).as_ref() {
            let document = document.get_or_insert_with(|| {
                document_nested(text, PROMISE_MAX_DEPTH).unwrap_or_default()
            });
            let at = version_field(document, &version.name)
                .unwrap_or_else(|| format!("spec.api.spec.versions[{}]", version.name));
            let field = match error.field.as_str() {
                "" => format!("{at}.schema.openAPIV3Schema"),
                inner => format!("{at}.schema.openAPIV3Schema.{inner}"),
            };
            let why = format!(
                "{}; requests for {}/{} cannot run until it is fixed",
                error.message, api.group, version.name
            );
            invalid.push(Problem::at(field, why));
        }
    }
    invalid
}

/// Where the version named `name` of a Promise's API is in the Promise's `document`:
/// `spec.api.spec.versions[0]`, or under the seed era's `spec.xaasCrd`.
fn version_field(document: &Value, name: &str) -> Option<String> {
    ["api", "xaasCrd"].into_iter().find_map(|field| {
        let versions = document.pointer(&format!("/spec/{field}/spec/versions"))?;
        let index = versions
            .as_array()?
            .iter()
            .position(|v| v.get("name").and_then(Value::as_str) == Some(name))?;
        Some(format!("spec.{field}.spec.versions[{index}]"))
    })
}

/// The line of `problem` in `text`, a document that starts on line `first_line` of its
/// file: the line the problem names (a syntax error's, or its document's in a file of
/// several; counted in the whole file), else that of the field to blame, else the
/// document's first.
fn line_in(text: &str, first_line: usize, problem: &Problem) -> usize {
    if let Some(line) = problem.line {
        return line;
    }
    problem.field.as_deref().map_or(first_line, |field| {
        first_line - 1 + line_of(&field_lines(text), field)
    })
}

/// Findings and warnings as the CLI prints them, for tests to compare.
#[cfg(test)]
impl Validation {
    fn finding_lines(&self) -> Vec<String> {
        self.findings.iter().map(ToString::to_string).collect()
    }

    fn warning_lines(&self) -> Vec<String> {
        self.warnings.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMISE: &str = "kind: Promise\nmetadata: {name: app}\nspec:\n  api:\n    spec:\n      group: a.b\n      names: {kind: App}\n      versions:\n        - name: v1\n          schema:\n            openAPIV3Schema:\n              type: object\n              properties:\n                spec:\n                  type: object\n                  properties:\n                    size: {type: integer}\n";

    #[test]
    fn unmet_required_promises_are_a_warning_on_the_field() {
        let app = SourceFile::test(
            "promises/app.yaml",
            "kind: Promise\nmetadata: {name: app}\nspec:\n  requiredPromises:\n    - {name: db}\n",
        );
        let validation = validate(vec![app], &BTreeMap::new());
        assert!(validation.findings.is_empty());
        let warnings: Vec<String> = validation.warning_lines();
        assert_eq!(
            warnings,
            [
                "promises/app.yaml:4: warning: spec.requiredPromises: requires Promise \"db\" is not installed; the Promise stays unavailable and its requests wait until it is"
            ]
        );
    }

    #[test]
    fn seed_era_forms_and_unread_documents_are_warnings_not_problems() {
        let old = "kind: Promise\nmetadata: {name: old}\nspec:\n  xaasCrd:\n    spec:\n      group: a.b\n      names: {kind: Old}\n      versions: [{name: v1}]\n";
        let destination =
            "kind: Secret\nmetadata: {name: creds}\n---\nkind: Cluster\nmetadata: {name: dev}\n";
        let validation = validate(
            vec![
                SourceFile::test("promises/old.yaml", old),
                SourceFile::test("destinations/dev.yaml", destination),
            ],
            &BTreeMap::new(),
        );
        assert!(validation.findings.is_empty(), "{:?}", validation.findings);
        let lines: Vec<String> = validation.warning_lines();
        assert_eq!(
            lines,
            [
                "destinations/dev.yaml:1: warning: document 1: kind: \"Secret\" is not read",
                "destinations/dev.yaml:4: warning: document 2: kind: Cluster is the seed era's name, deprecated; read as a Destination",
                "promises/old.yaml:4: warning: spec.xaasCrd: the seed era's field, deprecated; Kratix reads spec.api today",
            ]
        );
    }

    #[test]
    fn findings_in_a_file_of_several_requests_name_the_document_and_the_line_in_the_file() {
        let good = "apiVersion: a.b/v1\nkind: App\nmetadata: {name: a}\n";
        let text = format!(
            "{good}---\napiVersion: a.b/v1\nkind: App\nmetadata: {{name: b}}\nspec:\n  size: big\n---\nkind: [\n---\napiVersion: a.b/v1\nkind: App\nmetadata: {{}}\n---\n{good}"
        );
        let validation = validate(
            vec![
                SourceFile::test("promises/app.yaml", PROMISE),
                SourceFile::test("requests/app/x.yaml", &text),
            ],
            &BTreeMap::new(),
        );
        let lines: Vec<String> = validation.finding_lines();
        assert_eq!(
            lines,
            [
                "requests/app/x.yaml:9: document 2: spec.size: \"big\" is not of type \"integer\"",
                "requests/app/x.yaml:11: document 3: line 11 column 7: unclosed bracket '['",
                "requests/app/x.yaml:15: document 4: metadata.name: a request needs a name",
                "requests/app/x.yaml:17: document 5 (line 17): declares request app/default/a which document 1 (line 1) of requests/app/x.yaml declares already; rename one of them",
            ]
        );
        assert_eq!(validation.checked, 6, "a Promise and five requests");
    }

    #[test]
    fn findings_name_the_file_line_and_field() {
        let skipped = BTreeMap::from([
            ("requests/app/link.yaml".to_string(), Skipped::Symlink),
            ("requests/app/vendor".to_string(), Skipped::Submodule),
            ("docs/link.md".to_string(), Skipped::Symlink),
        ]);
        let Validation {
            findings, checked, ..
        } = validate(
            vec![
                SourceFile::test("promises/app.yaml", PROMISE),
                SourceFile::test(
                    "requests/app/a.yaml",
                    "apiVersion: a.b/v1\nkind: App\nmetadata:\n  name: a\nspec:\n  size: big\n",
                ),
                SourceFile::test(
                    "requests/app/b.yaml",
                    "apiVersion: a.b/v1\nkind: App\nmetadata: {name: [\n",
                ),
                SourceFile::test(
                    "destinations/dev.yaml",
                    "kind: Destination\nmetadata:\n  name: dev\n  labels:\n    on: true\n",
                ),
            ],
            &skipped,
        );
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(checked, 6);
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(
            lines[0].starts_with("destinations/dev.yaml:5: metadata.labels"),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[1],
            "requests/app/a.yaml:6: spec.size: \"big\" is not of type \"integer\""
        );
        assert!(
            lines[2].starts_with("requests/app/b.yaml:3: line 3 column"),
            "{}",
            lines[2]
        );
        assert_eq!(
            lines[3],
            "requests/app/link.yaml:1: a symbolic link, which promised does not follow: commit the file itself"
        );
        assert_eq!(
            lines[4],
            "requests/app/vendor:1: a submodule, whose files promised does not read: commit the files themselves"
        );
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    const PROMISE: &str = "kind: Promise\nmetadata: {name: app}\nspec:\n  api:\n    spec:\n      group: a.b\n      names: {kind: App}\n      versions:\n        - name: v0\n          served: false\n        - name: v1\n          schema:\n            openAPIV3Schema:\n              type: object\n              properties:\n                spec:\n                  type: object\n                  properties:\n                    size: {type: SIZE}\n";

    #[test]
    fn a_schema_that_does_not_compile_is_reported_once_at_the_promise() {
        let request = |name: &str| {
            let text = format!("apiVersion: a.b/v1\nkind: App\nmetadata: {{name: {name}}}\n");
            SourceFile::test(&format!("requests/app/{name}.yaml"), &text)
        };
        let validation = validate(
            vec![
                SourceFile::test("promises/app.yaml", PROMISE),
                request("a"),
                request("b"),
            ],
            &BTreeMap::new(),
        );
        let lines = validation.finding_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "promises/app.yaml:19: spec.api.spec.versions[1].schema.openAPIV3Schema.properties.spec.properties.size.type: "
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with("requests for a.b/v1 cannot run until it is fixed"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_a_suggestion_on_its_line() {
        let promise = PROMISE.replace("{type: SIZE}", "{type: string}");
        let request = "apiVersion: a.b/v1\nkind: App\nmetadata:\n  name: a\n  lables: {a: b}\nspec:\n  sise: small\n";
        let validation = validate(
            vec![
                SourceFile::test("promises/app.yaml", &promise),
                SourceFile::test("requests/app/a.yaml", request),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(
            validation.finding_lines(),
            [
                "requests/app/a.yaml:5: metadata.lables: unknown field, did you mean metadata.labels?",
                "requests/app/a.yaml:7: spec.sise: unknown field, did you mean spec.size?",
            ]
        );
    }

    /// The field is taken from the problem, not read back out of its message: a field
    /// whose name holds a space was put at line 1 when it was.
    #[test]
    fn a_field_whose_name_holds_a_space_is_found_on_its_line() {
        let promise = PROMISE.replace("{type: SIZE}", "{type: string}") + "  \"my notes\": x\n";
        let validation = validate(
            vec![SourceFile::test("promises/app.yaml", &promise)],
            &BTreeMap::new(),
        );
        let warnings: Vec<String> = validation.warning_lines();
        assert_eq!(
            warnings,
            [
                "promises/app.yaml:20: warning: spec.my notes: not a field of a Promise's spec, and not read"
            ]
        );
    }

    /// A warning about a later document of a Destination file is placed on the line
    /// that document starts on, not at the top of the file.
    #[test]
    fn a_warning_about_a_later_destination_document_is_on_its_line() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n---\n# the destination\nkind: Destination\nmetadata: {name: dev}\nspec:\n  strictMatchLabel: true\n";
        let validation = validate(
            vec![SourceFile::test("destinations/dev.yaml", text)],
            &BTreeMap::new(),
        );
        assert_eq!(
            validation.warning_lines(),
            [
                "destinations/dev.yaml:1: warning: document 1: kind: \"Secret\" is not read",
                "destinations/dev.yaml:5: warning: document 2: spec.strictMatchLabel: not a field of a Kratix Destination's spec, and not read; did you mean strictMatchLabels?",
            ]
        );
    }

    /// Where the pieces kubectl's split gives are not one document each, no document
    /// gets a line it might not be on: the warnings stay at the top of the file.
    #[test]
    fn destination_documents_the_split_pairs_wrongly_get_no_line() {
        let text = "~\n---\nkind: Secret\nmetadata: {name: creds}\n--- {kind: Cluster, metadata: {name: dev}}\n";
        let validation = validate(
            vec![SourceFile::test("destinations/dev.yaml", text)],
            &BTreeMap::new(),
        );
        let lines: Vec<String> = validation.warning_lines();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("destinations/dev.yaml:1: ")),
            "{lines:#?}"
        );
    }
}
