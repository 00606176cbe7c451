//! Redacting credentials from a log before it is written where many can read it (a
//! request's status file, committed to Git). Pure: text in, text out.
//!
//! Two kinds of things are replaced, each by a marker naming what it was
//! (`[REDACTED github-token]`):
//!
//! - values the pipeline is known to hold as secrets ([`Known`]): the literal `env`
//!   values whose name says secret (`..TOKEN`, `..PASSWORD`, `..KEY`...), and whatever
//!   follows `NAME=` or `NAME:` for a variable sourced from a Secret (`valueFrom.
//!   secretKeyRef`, or `envFrom` with a `secretRef` and a `prefix`). promised never reads
//!   the Secrets a Pod's env comes from (the kubelet resolves them, and promised has no
//!   permission to `get` Secrets), so their values cannot be matched as such: they are
//!   caught by name and by shape;
//! - well-known credential shapes: private key blocks, AWS keys, a GCP service
//!   account's `private_key`, GitHub, GitLab and Slack tokens, JWTs, `Authorization`
//!   headers and `Bearer` tokens, passwords in URLs, and `password=`/`token:` style
//!   assignments.
//!
//! Redaction is best effort: it removes what it recognises, and a pipeline can print a
//! secret in a shape nobody can recognise (base64 of it, say). A Promise whose pipelines
//! handle secrets can keep logs out of the status altogether (see
//! [`STATUS_LOGS_ANNOTATION`]).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::model::Container;

/// The annotation with which a Promise keeps its pipelines' logs out of status files:
/// `"off"`. By default (`"redacted"`) a failed container's last lines go in, redacted.
/// Any other value counts as `"off"`.
pub(crate) const STATUS_LOGS_ANNOTATION: &str = "promised.dev/status-logs";

/// Every marker starts with this.
const MARKER: &str = "[REDACTED";

/// Values shorter than this are not redacted by value: they would match all over a log.
const MIN_VALUE_LEN: usize = 6;

/// Parts of a variable name that say its value is secret.
const SECRET_NAME_PARTS: [&str; 8] = [
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
];

/// What a pipeline is known to hold as secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Known {
    /// Exact values, with the variable each came from.
    values: Vec<(String, String)>,
    /// Variables whose value comes from a Secret, by name.
    names: Vec<String>,
    /// Prefixes of the variables an `envFrom` with a `secretRef` adds.
    prefixes: Vec<String>,
}

impl Known {
    /// What the containers' env says is secret.
    pub(crate) fn of(containers: &[Container]) -> Self {
        let mut known = Known::default();
        for container in containers {
            for var in &container.env {
                let from_secret = var
                    .value_from
                    .as_ref()
                    .is_some_and(|from| from.get("secretKeyRef").is_some());
                if from_secret {
                    known.names.push(var.name.clone());
                } else if let Some(value) = &var.value {
                    let upper = var.name.to_ascii_uppercase();
                    if SECRET_NAME_PARTS.iter().any(|part| upper.contains(part)) {
                        known.add_value(&var.name, value);
                    }
                }
            }
            known.prefixes.extend(secret_env_from_prefixes(container));
        }
        known
    }

    /// Adds a value to redact wherever it appears, unless it is too short to tell
    /// from ordinary text.
    fn add_value(&mut self, name: &str, value: &str) {
        if value.trim().len() >= MIN_VALUE_LEN {
            self.values.push((name.to_string(), value.to_string()));
            // Longest first: a value that holds another is replaced whole.
            self.values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        }
    }
}

/// The `prefix` of each `envFrom` entry with a `secretRef`; an entry without a prefix
/// adds names nobody here knows.
fn secret_env_from_prefixes(container: &Container) -> Vec<String> {
    let entries = container.extra.get("envFrom").and_then(|v| v.as_array());
    let entries = entries.into_iter().flatten();
    let secret = entries.filter(|entry| entry.get("secretRef").is_some());
    let prefixes = secret.filter_map(|entry| entry.get("prefix")?.as_str());
    prefixes
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// One credential shape: what it matches, what it is called, and which capture group
/// is the secret part (0: the whole match).
struct Shape {
    kind: &'static str,
    regex: Regex,
    group: usize,
}

fn shape(kind: &'static str, group: usize, pattern: &str) -> Shape {
    Shape {
        kind,
        regex: Regex::new(pattern).expect("credential patterns compile"),
        group,
    }
}

/// The shapes, in the order they apply: whole blocks before the tokens they hold.
static SHAPES: LazyLock<Vec<Shape>> = LazyLock::new(|| {
    let key = r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----";
    let end = r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----";
    vec![
        // A service account key file: the value, escapes and all.
        shape(
            "gcp-private-key",
            1,
            r#""private_key"\s*:\s*"((?:[^"\\]|\\.)*)""#,
        ),
        shape("private-key", 0, &format!(r"(?s){key}.*?{end}")),
        // A block cut by the start or the end of the text kept.
        shape("private-key", 0, &format!(r"(?s){key}.*\z")),
        shape("private-key", 0, &format!(r"(?s)\A.*?{end}")),
        shape(
            "aws-access-key-id",
            0,
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",
        ),
        shape(
            "aws-secret-access-key",
            1,
            r#"(?i)(?:aws_?secret_?(?:access_?)?key|secretaccesskey)["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9/+]{40,})"#,
        ),
        shape(
            "github-token",
            0,
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        ),
        shape("gitlab-token", 0, r"\bglpat-[A-Za-z0-9_-]{20,}"),
        shape("slack-token", 0, r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
        shape(
            "jwt",
            0,
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        ),
        shape(
            "authorization",
            1,
            r"(?i)\b(?:proxy-)?authorization\b[\x22']?[ \t]*[:=][ \t]*[\x22']?(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?([^\s\x22',;]+)",
        ),
        shape(
            "bearer-token",
            1,
            r"\bBearer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)",
        ),
        shape(
            "url-credentials",
            1,
            r"\b[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@]+:[^/\s@]+)@",
        ),
        shape(
            "assignment",
            1,
            r#"(?i)\b[A-Za-z0-9_.-]*?(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?)["']?[ \t]*[:=][ \t]*["']?([^\s"',;&{\[|>][^\s"',;&]*)"#,
        ),
    ]
});

/// Values an assignment may have that are not secrets.
fn plain_word(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    value.len() < 4
        || ["true", "false", "null", "none", "required", "optional"].contains(&lower.as_str())
}

/// `text` with every known secret value and every credential shape replaced by a
/// marker. Idempotent: redacted text comes back as it is.
pub(crate) fn redact(text: &str, known: &Known) -> String {
    let mut text = Cow::Borrowed(text);
    // A value that a marker holds (the name of a variable, say) would be found again in
    // the marker that replaced it.
    let names = known.values.iter().map(|(name, _)| name.as_str());
    let kinds = SHAPES.iter().map(|shape| shape.kind);
    let vocabulary: Vec<&str> = names
        .chain(kinds)
        .chain([MARKER, "value of env", "secret env"])
        .collect();
    let vocabulary = vocabulary.join(" ");
    for (name, value) in &known.values {
        if vocabulary.contains(value.as_str()) {
            continue;
        }
        if text.contains(value.as_str()) {
            let marker = format!("{MARKER} value of env {name}]");
            text = Cow::Owned(text.replace(value.as_str(), &marker));
        }
    }
    let named = known.names.iter().map(|n| regex::escape(n));
    let prefixed = known
        .prefixes
        .iter()
        .map(|p| format!("{}\\w*", regex::escape(p)));
    let names: Vec<String> = named.chain(prefixed).collect();
    if !names.is_empty() {
        let pattern = format!(
            r#"\b(?:{})["']?[ \t]*[:=][ \t]*["']?([^\s"',;&]+)"#,
            names.join("|")
        );
        // Names are escaped, so the pattern compiles; its size is bounded by the env.
        if let Ok(regex) = Regex::new(&pattern) {
            let by_name = Shape {
                kind: "secret env",
                regex,
                group: 1,
            };
            text = Cow::Owned(apply(&by_name, &text).into_owned());
        }
    }
    for shape in SHAPES.iter() {
        if let Cow::Owned(changed) = apply(shape, &text) {
            text = Cow::Owned(changed);
        }
    }
    text.into_owned()
}

/// Replaces the secret part of every match of `shape` by its marker; a part that is
/// already a marker, or a plain word in an assignment, stays.
fn apply<'t>(shape: &Shape, text: &'t str) -> Cow<'t, str> {
    shape.regex.replace_all(text, |caps: &Captures| {
        let whole = caps.get(0).expect("group 0 always matches");
        let Some(secret) = caps.get(shape.group) else {
            return whole.as_str().to_string();
        };
        let value = secret.as_str();
        let keep = value.starts_with(MARKER)
            || value.is_empty()
            || (shape.group != 0 && plain_word(value));
        if keep {
            return whole.as_str().to_string();
        }
        let start = secret.start() - whole.start();
        let end = secret.end() - whole.start();
        let whole = whole.as_str();
        format!(
            "{}{MARKER} {}]{}",
            &whole[..start],
            shape.kind,
            &whole[end..]
        )
    })
}

#[cfg(test)]
mod tests;
