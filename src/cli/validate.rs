//! `promised validate`: check every input file of a commit, write nothing.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::json::ProblemView;
use super::{EXIT_OK, EXIT_PROBLEMS};
use crate::git::{GixStore, Store};
use crate::model::{is_input, outside_layout};
use crate::validate::{Finding, Validation, validate};

/// Arguments of `promised validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The platform repository: a worktree, a folder of one (found as git finds it), or a
    /// bare repository.
    #[arg(long, default_value = ".", env = "PROMISED_REPO")]
    pub(crate) repo: PathBuf,
    /// The commit to check (anything `git rev-parse` takes).
    #[arg(long, default_value = "HEAD")]
    pub(crate) rev: String,
    /// `text`: `path:line: field: message`; `json`: one object; `github`: workflow
    /// commands, which put each finding on its line of the pull request; `gitlab`: a
    /// code quality report (the `codequality` artifact of a merge request).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
}

/// How the findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A line per finding, and a summary.
    Text,
    /// One JSON object (docs/output.md).
    Json,
    /// GitHub Actions' `::error`/`::warning` workflow commands, and the summary.
    Github,
    /// A GitLab code quality report: a JSON array.
    Gitlab,
}

/// Prints `path:line: field: message` per problem and `path:line: warning: ...` per
/// warning; exit 1 when there is a problem (warnings alone exit 0).
pub(crate) fn run(args: ValidateArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let store = GixStore::open_revision(&args.repo, &args.rev)?;
    store.require_commit()?;
    let uncommitted = match args.rev.as_str() {
        "HEAD" => super::uncommitted(store.path(), "validated"),
        _ => None,
    };
    if let (Some(warning), Format::Text) = (&uncommitted, args.format) {
        writeln!(out, "warning: {warning}")?;
    }
    let snapshot = store.snapshot()?;
    let paths = snapshot.paths(is_input);
    let Validation {
        findings,
        warnings,
        checked,
    } = validate(store.read(&snapshot, &paths)?, &snapshot.skipped);
    // Files where someone may expect them to be read, and which are not.
    let mut warnings = warnings;
    let ignored = snapshot.files.keys().filter_map(|path| {
        let why = outside_layout(path)?;
        Some(Finding {
            path: path.clone(),
            line: 1,
            message: format!("warning: not read: {why}"),
        })
    });
    warnings.extend(ignored);
    warnings.sort();
    let summary = summary(checked, findings.len(), warnings.len());
    match args.format {
        Format::Text => {
            for line in findings.iter().chain(&warnings) {
                writeln!(out, "{line}")?;
            }
            writeln!(out, "{summary}")?;
        }
        Format::Json => {
            let view = ValidateView {
                ok: findings.is_empty(),
                checked,
                problems: findings.iter().map(problem).collect(),
                warnings: warnings.iter().map(problem).collect(),
                uncommitted,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
        }
        Format::Github => {
            if let Some(warning) = &uncommitted {
                writeln!(out, "::warning::{}", github_data(warning))?;
            }
            for (level, finding) in tagged(&findings, &warnings) {
                writeln!(out, "{}", github_command(level, finding))?;
            }
            writeln!(out, "{summary}")?;
        }
        Format::Gitlab => {
            let report: Vec<CodeQuality> = tagged(&findings, &warnings)
                .map(|(level, finding)| CodeQuality::of(level, finding))
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        }
    }
    Ok(if findings.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

fn summary(checked: usize, problems: usize, warnings: usize) -> String {
    let mut summary = format!(
        "{} checked, {}",
        super::count(checked, "file", "files"),
        super::count(problems, "problem", "problems")
    );
    if warnings > 0 {
        summary.push_str(&format!(
            ", {}",
            super::count(warnings, "warning", "warnings")
        ));
    }
    summary
}

/// Whether a finding stops a file or a request, or only deserves a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warning,
}

fn tagged<'a>(
    findings: &'a [Finding],
    warnings: &'a [Finding],
) -> impl Iterator<Item = (Level, &'a Finding)> {
    let errors = findings.iter().map(|f| (Level::Error, f));
    errors.chain(warnings.iter().map(|f| (Level::Warning, f)))
}

/// A finding's message without the `warning: ` its text form starts with.
fn message(finding: &Finding) -> &str {
    let message = finding.message.as_str();
    message.strip_prefix("warning: ").unwrap_or(message)
}

/// What `validate --format json` prints.
#[derive(Debug, Serialize)]
struct ValidateView {
    /// Whether there was no problem (exit 0).
    ok: bool,
    /// How many input files were read.
    checked: usize,
    problems: Vec<ProblemView>,
    warnings: Vec<ProblemView>,
    /// Input files of the worktree that differ from the commit checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    uncommitted: Option<String>,
}

fn problem(finding: &Finding) -> ProblemView {
    ProblemView {
        path: finding.path.clone(),
        line: Some(finding.line),
        message: message(finding).to_string(),
    }
}

/// A GitHub Actions workflow command that annotates the finding's line. GitHub reads
/// the command up to the end of the line: the data escapes `%`, CR and LF, and the
/// properties also `:` and `,`, so a hostile path or message stays one annotation.
fn github_command(level: Level, finding: &Finding) -> String {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    format!(
        "::{command} file={},line={},title=promised validate::{}",
        github_property(&finding.path),
        finding.line,
        github_data(message(finding))
    )
}

fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One entry of a GitLab code quality report.
#[derive(Debug, Serialize)]
struct CodeQuality {
    description: String,
    check_name: &'static str,
    /// Identifies the finding across runs: the same finding in the same place keeps it.
    fingerprint: String,
    severity: &'static str,
    location: CodeQualityLocation,
}

#[derive(Debug, Serialize)]
struct CodeQualityLocation {
    path: String,
    lines: CodeQualityLines,
}

#[derive(Debug, Serialize)]
struct CodeQualityLines {
    begin: usize,
}

impl CodeQuality {
    fn of(level: Level, finding: &Finding) -> Self {
        let fingerprint = Sha256::new()
            .chain_update(finding.path.as_bytes())
            .chain_update([0])
            .chain_update(finding.line.to_string())
            .chain_update([0])
            .chain_update(finding.message.as_bytes())
            .finalize();
        CodeQuality {
            description: message(finding).to_string(),
            check_name: "promised-validate",
            fingerprint: hex::encode(fingerprint),
            severity: match level {
                Level::Error => "major",
                Level::Warning => "minor",
            },
            location: CodeQualityLocation {
                path: finding.path.clone(),
                lines: CodeQualityLines {
                    begin: finding.line,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_github_annotation_stays_one_command_whatever_the_path_and_message_hold() {
        let finding = Finding {
            path: "requests/a,line=1::b%.yaml".into(),
            line: 3,
            message: "spec.size: 50%\n::error::forged".into(),
        };
        assert_eq!(
            github_command(Level::Error, &finding),
            "::error file=requests/a%2Cline=1%3A%3Ab%25.yaml,line=3,title=promised validate::spec.size: 50%25%0A::error::forged"
        );
    }
}
