//! YAML in and out: documents become [`serde_json::Value`]s (key order kept), and
//! typed shapes are read from those values with the failing field named.
//!
//! serde-saphyr parses and writes; it quotes ambiguous scalars (`"yes"`, `"2024-01-01"`)
//! so that what we write reads back the same in Kubernetes.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is not YAML (or holds a number of documents the caller does not take).
    #[error("{}{message}", at.map(|(line, column)| format!("line {line} column {column}: ")).unwrap_or_default())]
    Syntax {
        /// 1-based line and column of the error, when the parser names them.
        at: Option<(usize, usize)>,
        /// What is wrong there.
        message: String,
    },
    /// The YAML is well formed but a field does not have the expected shape.
    #[error("{field}: {message}")]
    Shape {
        /// Dotted path of the field, `.` for the document itself.
        field: String,
        /// What was wrong with it.
        message: String,
    },
}

/// How deeply mappings and sequences may nest in a request, a Destination, a metadata
/// file or a pipeline output. Parsing, the JSON values and their checks all recurse, so
/// a bound protects the stack; no sane request needs more.
pub(crate) const MAX_DEPTH: usize = 64;

/// How deeply a Promise may nest: its `api` holds a whole CRD, whose schemas of
/// real-world APIs go deeper than [`MAX_DEPTH`]. Still a bound, as a Promise comes from
/// any Promise author.
pub(crate) const PROMISE_MAX_DEPTH: usize = 256;

/// Parses every document of a YAML stream, nested at most `MAX_DEPTH` deep. Empty
/// documents (a lone `---`) are dropped.
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    documents_nested(text, MAX_DEPTH)
}

/// Parses every document of a YAML stream, nested at most `max_depth` deep.
fn documents_nested(text: &str, max_depth: usize) -> Result<Vec<Value>, YamlError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = max_depth;
    let options = serde_saphyr::options! { budget: Some(budget) };
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple_with_options(text, options).map_err(syntax)?;
    Ok(docs.into_iter().filter(|doc| !doc.is_null()).collect())
}

/// Parses a YAML text that must hold exactly one document, nested at most
/// [`MAX_DEPTH`] deep.
pub(crate) fn document(text: &str) -> Result<Value, YamlError> {
    document_nested(text, MAX_DEPTH)
}

/// Parses a YAML text that must hold exactly one document, nested at most `max_depth`
/// deep ([`PROMISE_MAX_DEPTH`] for a Promise).
///
/// Parsing recurses once per level, with frames of up to 30 KiB in a debug build: past
/// [`MAX_DEPTH`] it runs on a thread of its own whose stack fits `max_depth` levels
/// (only the pages used are backed by memory), so that it does not depend on the stack
/// of the caller (2 MiB for a Tokio blocking thread, as the daemon's passes run on).
pub(crate) fn document_nested(text: &str, max_depth: usize) -> Result<Value, YamlError> {
    if max_depth <= MAX_DEPTH {
        return document_on_this_thread(text, max_depth);
    }
    let stack = (max_depth + 16) * STACK_PER_LEVEL;
    std::thread::scope(|scope| {
        let parse = std::thread::Builder::new()
            .name("yaml".into())
            .stack_size(stack)
            .spawn_scoped(scope, || document_on_this_thread(text, max_depth));
        match parse {
            Ok(parse) => parse.join().expect("parsing YAML does not panic"),
            Err(err) => Err(YamlError::whole(format!(
                "cannot start a thread to parse a document nested up to {max_depth} deep: {err}"
            ))),
        }
    })
}

/// Stack reserved per level of nesting when parsing on a thread of its own: generous
/// for a debug build's frames.
const STACK_PER_LEVEL: usize = 64 * 1024;

fn document_on_this_thread(text: &str, max_depth: usize) -> Result<Value, YamlError> {
    let mut docs = documents_nested(text, max_depth)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => Err(YamlError::whole("the file holds no YAML document")),
        n => Err(YamlError::whole(format!(
            "the file holds {n} YAML documents; one is expected"
        ))),
    }
}

/// One document of a YAML stream as written: where its text is in the stream and the
/// line that text starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slice {
    /// Byte range of the document's text, separator lines excluded.
    pub(crate) range: std::ops::Range<usize>,
    /// 1-based line of the stream on which the text starts.
    pub(crate) line: usize,
}

/// Splits a YAML stream into the texts of its documents as kubectl does: at each line
/// that is `---` alone (trailing blanks or a comment allowed). A separator line belongs
/// to no document. A text of blank lines and comments only is no document and is left
/// out. Works on bytes, so a document that is not UTF-8 spoils only itself, and is lazy
/// and linear in the length of the stream: a caller that caps the number of documents
/// stops reading at the cap.
///
/// A `---` at the start of a line always starts a document in YAML, inside a block
/// scalar too, so for YAML that reads the split is the parser's. `--- {a: 1}` (a
/// document on the separator's line) or `...` between two documents are not split: the
/// text then holds two documents, which its reader refuses.
pub(crate) fn split_documents(bytes: &[u8]) -> impl Iterator<Item = Slice> + '_ {
    let mut at = 0;
    let mut line = 1;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let (start, first_line) = (at, line);
            let mut blank = true;
            let mut end = at;
            while at < bytes.len() {
                let next = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| at + i + 1);
                let text = &bytes[at..next];
                at = next;
                line += 1;
                if is_separator(text) {
                    break;
                }
                end = next;
                blank &= is_blank(text);
            }
            if !blank {
                return Some(Slice {
                    range: start..end,
                    line: first_line,
                });
            }
        }
        None
    })
}

/// Whether a line (with its line break) is a document separator: `---`, then nothing
/// but blanks, or blanks and a comment.
fn is_separator(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"---") else {
        return false;
    };
    let rest = rest.trim_ascii_end();
    rest.is_empty() || (rest[0] == b' ' || rest[0] == b'\t') && rest.trim_ascii_start()[0] == b'#'
}

/// Whether a line holds nothing but blanks or a comment.
fn is_blank(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    line.is_empty() || line[0] == b'#'
}

impl YamlError {
    /// The error of a text that starts on line `first_line` of a larger file, with the
    /// line it names counted in that file.
    pub(crate) fn at_line(self, first_line: usize) -> Self {
        match self {
            YamlError::Syntax {
                at: Some((line, column)),
                message,
            } => YamlError::Syntax {
                at: Some((line + first_line - 1, column)),
                message,
            },
            other => other,
        }
    }

    /// A syntax error about the text as a whole, at no line of it.
    fn whole(message: impl Into<String>) -> Self {
        YamlError::Syntax {
            at: None,
            message: message.into(),
        }
    }
}

/// Reads a typed shape out of a parsed document, naming the field that does not fit.
pub(crate) fn typed<T: DeserializeOwned>(value: Value) -> Result<T, YamlError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = err.path().to_string();
        YamlError::Shape {
            field,
            message: err.into_inner().to_string(),
        }
    })
}

/// Writes a value as one YAML document.
pub(crate) fn to_string(value: &impl serde::Serialize) -> String {
    serde_saphyr::to_string(value).expect("serde_json values always serialize to YAML")
}

/// The line (1-based) of every field of the first document of `text`, keyed by the
/// dotted path [`crate::schema::Violation`] uses (`spec.ports[0].name`; `.` for the
/// document). A key's line is where the key is written.
pub(crate) fn field_lines(text: &str) -> std::collections::HashMap<String, usize> {
    use serde_saphyr::granit_parser::{Event, Parser};
    enum Frame {
        Map { path: String, key: Option<String> },
        Seq { path: String, index: usize },
    }
    let join = |path: &str, key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let mut lines = std::collections::HashMap::from([(".".to_string(), 1)]);
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let line = span.start.line();
        // The path of a node that starts here, if it is a value (not a mapping key).
        let value_path =
            |stack: &mut Vec<Frame>, lines: &mut std::collections::HashMap<String, usize>| {
                match stack.last_mut() {
                    Some(Frame::Map { path, key }) => key.take().map(|k| join(path, &k)),
                    Some(Frame::Seq { path, index }) => {
                        let item = format!("{path}[{index}]");
                        *index += 1;
                        lines.insert(item.clone(), line);
                        Some(item)
                    }
                    None => Some(String::new()),
                }
            };
        match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    break;
                }
            }
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key }) = stack.last_mut()
                    && key.is_none()
                {
                    lines.insert(join(path, &value), line);
                    *key = Some(value.to_string());
                    continue;
                }
                value_path(&mut stack, &mut lines);
            }
            Event::MappingStart(..) => {
                let path = value_path(&mut stack, &mut lines).unwrap_or_default();
                stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = value_path(&mut stack, &mut lines).unwrap_or_default();
                stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    lines
}

/// The line of `field`, or of its nearest ancestor that has one.
pub(crate) fn line_of(lines: &std::collections::HashMap<String, usize>, field: &str) -> usize {
    let mut field = field;
    loop {
        if let Some(line) = lines.get(field) {
            return *line;
        }
        match field.rfind(['.', '[']) {
            Some(at) => field = &field[..at],
            None => return 1,
        }
    }
}

/// Keeps the first line of serde-saphyr's report and drops the source snippet it renders
/// below, which would repeat the user's file in a status; the location is kept apart,
/// typed, for `validate` to name the line.
fn syntax(err: serde_saphyr::Error) -> YamlError {
    let at = err.location().and_then(|location| {
        let line = usize::try_from(location.line()).ok()?;
        let column = usize::try_from(location.column()).ok()?;
        (line > 0).then_some((line, column))
    });
    let rendered = err.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let mut message = first.trim_start_matches("error: ");
    if let Some((line, column)) = at {
        let location = format!("line {line} column {column}: ");
        message = message.strip_prefix(location.as_str()).unwrap_or(message);
    }
    YamlError::Syntax {
        at,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column_without_snippet() {
        let err = documents("a: 1\nb: [1, 2\n").unwrap_err();
        assert_eq!(
            err,
            YamlError::Syntax {
                at: Some((2, 4)),
                message: "unclosed bracket '['".into()
            }
        );
        assert_eq!(err.to_string(), "line 2 column 4: unclosed bracket '['");
    }

    /// A mapping nested `depth` deep, counting the document's own mapping.
    fn nested(depth: usize) -> String {
        let mut text = String::new();
        for level in 0..depth - 1 {
            text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        text + &format!("{}leaf: 1\n", "  ".repeat(depth - 1))
    }

    #[test]
    fn requests_may_nest_64_deep_and_no_deeper() {
        assert!(document(&nested(MAX_DEPTH)).is_ok());
        let err = document(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.to_string().contains("depth"), "{err}");
        assert!(documents(&nested(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn promises_may_nest_256_deep_and_no_deeper() {
        let deep = nested(PROMISE_MAX_DEPTH);
        let value = document_nested(&deep, PROMISE_MAX_DEPTH).unwrap();
        // A Promise's dependencies are written back out, on the caller's stack.
        assert!(to_string(&value).contains("leaf: 1"));
        let err = document_nested(&nested(PROMISE_MAX_DEPTH + 1), PROMISE_MAX_DEPTH).unwrap_err();
        assert!(err.to_string().contains("depth"), "{err}");
    }

    #[test]
    fn empty_documents_are_dropped() {
        let docs = documents("---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }

    /// The texts `split_documents` finds in `text`, with their first lines.
    fn split(text: &str) -> Vec<(usize, &str)> {
        let pieces = split_documents(text.as_bytes());
        pieces.map(|s| (s.line, &text[s.range])).collect()
    }

    #[test]
    fn a_stream_splits_at_lines_that_are_a_separator_alone() {
        let text = "# header\n---\na: 1\n---   # the second\nb: |\n  x\n  --- not at the start\n---\n\n# nothing\n---\nc: 3";
        assert_eq!(
            split(text),
            [
                (3, "a: 1\n"),
                (5, "b: |\n  x\n  --- not at the start\n"),
                (12, "c: 3")
            ]
        );
        assert_eq!(split("a: 1\n"), [(1, "a: 1\n")]);
        assert_eq!(
            split("a: 1\r\n---\r\nb: 2\r\n"),
            [(1, "a: 1\r\n"), (3, "b: 2\r\n")]
        );
        assert!(split("").is_empty() && split("---\n---\n# c\n").is_empty());
    }

    #[test]
    fn a_separator_with_text_after_it_does_not_split() {
        assert_eq!(split("a: 1\n--- {b: 2}\n"), [(1, "a: 1\n--- {b: 2}\n")]);
        assert_eq!(split("a: 1\n---#x\n"), [(1, "a: 1\n---#x\n")]);
        assert_eq!(split("a: 1\n----\n"), [(1, "a: 1\n----\n")]);
    }

    #[test]
    fn syntax_errors_of_a_part_name_lines_of_the_whole_file() {
        let err = documents("a: 1\nb: [1, 2\n").unwrap_err().at_line(7);
        assert_eq!(err.to_string(), "line 8 column 4: unclosed bracket '['");
    }

    #[test]
    fn shape_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            spec: Inner,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            size: u32,
        }
        let err = typed::<Outer>(document("spec:\n  size: big\n").unwrap()).unwrap_err();
        let YamlError::Shape { field, message } = err else {
            panic!("expected a shape error")
        };
        assert_eq!(field, "spec.size");
        assert!(message.contains("invalid type"), "{message}");
    }

    #[test]
    fn fields_are_found_on_their_lines() {
        let text = "apiVersion: v1\nspec:\n  size: big\n  ports:\n    - name: http\n      port: 80\n    - 443\n";
        let lines = field_lines(text);
        assert_eq!(lines["spec"], 2);
        assert_eq!(lines["spec.size"], 3);
        assert_eq!(lines["spec.ports[0].name"], 5);
        assert_eq!(lines["spec.ports[0].port"], 6);
        assert_eq!(lines["spec.ports[1]"], 7);
        assert_eq!(line_of(&lines, "spec.ports[0].missing"), 5);
        assert_eq!(line_of(&lines, "nothing.here"), 1);
    }

    #[test]
    fn ambiguous_strings_are_quoted_on_output() {
        let text = to_string(&serde_json::json!({"a": "yes", "b": "2024-01-01"}));
        assert_eq!(text, "a: \"yes\"\nb: \"2024-01-01\"\n");
    }
}
