//! What is wrong with a file, and where in it: the field to blame, or a line of the
//! file. The where is kept apart from the words, so that `validate` can point at a line
//! without reading it back out of a message.

use std::fmt;

use crate::yaml::YamlError;

/// One thing wrong with a document, written `field: message` (or the message alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Dotted path of the field to blame (`spec.containers[0].image`), when one is.
    pub(crate) field: Option<String>,
    /// 1-based line of the file, when it is known without looking fields up: the line
    /// a syntax error names, or the first line of the document (of a file of several)
    /// the problem is about. It takes precedence over `field` in `validate`.
    pub(crate) line: Option<usize>,
    /// What is wrong; it does not repeat the field.
    pub(crate) message: String,
}

impl Problem {
    /// A problem with the document as a whole.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Problem {
            field: None,
            line: None,
            message: message.into(),
        }
    }

    /// A problem with the field at the dotted path `field`.
    pub(crate) fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: Some(field.into()),
            ..Problem::new(message)
        }
    }

    /// The same problem found in a part of a larger document that sits at `parent`:
    /// `spec.containers[0].image` of the pipeline at `spec.workflows.resource.configure[1]`.
    pub(crate) fn within(mut self, parent: &str) -> Self {
        self.field = Some(match self.field {
            Some(field) => format!("{parent}.{field}"),
            None => parent.to_string(),
        });
        self
    }
}

impl From<YamlError> for Problem {
    fn from(err: YamlError) -> Self {
        match err {
            YamlError::Syntax { at, .. } => Problem {
                field: None,
                line: at.map(|(line, _)| line),
                message: err.to_string(),
            },
            // serde_path_to_error names the document itself `.`.
            YamlError::Shape { field, message } if field == "." => Problem::new(message),
            YamlError::Shape { field, message } => Problem::at(field, message),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Tests compare a problem with what it reads as.
#[cfg(test)]
impl PartialEq<&str> for Problem {
    fn eq(&self, other: &&str) -> bool {
        let text: &str = &self.to_string();
        text == *other
    }
}

/// Several problems, one per line.
pub(crate) fn lines(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn a_syntax_error_keeps_its_line_apart_from_its_words() {
        let problem = Problem::from(yaml::document("a: 1\nb: [1, 2\n").unwrap_err());
        assert_eq!(problem.line, Some(2));
        assert_eq!(problem.field, None);
        assert_eq!(problem.to_string(), "line 2 column 4: unclosed bracket '['");
    }

    #[test]
    fn a_problem_inside_a_part_is_named_from_the_documents_root() {
        let inner = Problem::at("spec.containers[0].image", "an image is required");
        let outer = inner.within("spec.workflows.resource.configure[1]");
        assert_eq!(
            outer.field.as_deref(),
            Some("spec.workflows.resource.configure[1].spec.containers[0].image")
        );
        let whole = Problem::new("not a mapping").within("spec.api");
        assert_eq!(whole.to_string(), "spec.api: not a mapping");
    }
}
