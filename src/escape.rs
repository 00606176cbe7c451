//! Text that came from inputs, made safe where it is printed: on one line (commit
//! trailers, report lines) and as one Markdown code span (a PR comment). A file name
//! under `requests/` can hold a newline, a backtick, a terminal escape or a bidi
//! override; printed raw, it would forge a trailer, lay out a report or a PR comment
//! as it likes, or show one path as another.

use std::borrow::Cow;

/// Characters that reorder how text around them is shown (bidi embeddings, overrides,
/// isolates and marks): not control characters, but as able to disguise a path.
fn reorders(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` on one line: control characters and bidi formatting characters are written
/// as escapes (`\n`, `\u{1b}`, `\u{202e}`); everything else is kept.
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || reorders(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` as one Markdown code span that also holds in a table cell: on one line, with
/// `|` escaped, fenced by more backticks than any run of them inside.
pub(crate) fn code_span(text: &str) -> String {
    let text = one_line(text).replace('|', "\\|");
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    let pad = if text.is_empty() || text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// `text` as HTML `<code>`, on one line, for where Markdown is not read (a
/// `<summary>`).
pub(crate) fn html_code(text: &str) -> String {
    let mut out = String::from("<code>");
    for c in one_line(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out.push_str("</code>");
    out
}

/// `text` as the content of a Markdown table cell: each line made safe with
/// [`one_line`], HTML's `&`, `<` and `>` and the table's `|` escaped, lines joined with
/// `<br>`. A pipeline's message (a log tail, a `workflow-control.yaml` message) then
/// cannot open an HTML comment that hides the rest of a PR comment.
pub(crate) fn table_cell(text: &str) -> String {
    let lines = text.lines().map(|line| {
        one_line(line)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('|', "\\|")
    });
    lines.collect::<Vec<_>>().join("<br>")
}

/// `text` as a fenced Markdown code block tagged `info`, fenced by more backticks than
/// any run of them in it, so that a pipeline's output cannot close the block and write
/// the rest of a PR comment.
pub(crate) fn code_block(info: &str, text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
    let newline = if text.ends_with('\n') || text.is_empty() {
        ""
    } else {
        "\n"
    };
    format!("{fence}{info}\n{text}{newline}{fence}")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_text_is_borrowed_as_it_is() {
        assert!(matches!(one_line("requests/app/a.yaml"), Cow::Borrowed(_)));
        assert_eq!(code_span("requests/app/a.yaml"), "`requests/app/a.yaml`");
    }

    #[test]
    fn newlines_escapes_and_overrides_are_written_as_escapes() {
        assert_eq!(one_line("a\nb"), "a\\nb");
        assert_eq!(one_line("x\u{1b}[2K\ry"), "x\\u{1b}[2K\\ry");
        assert_eq!(one_line("evil\u{202e}lmay.yaml"), "evil\\u{202e}lmay.yaml");
    }

    #[test]
    fn a_backtick_cannot_close_the_code_span() {
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a|b"), "`a\\|b`");
    }

    #[test]
    fn html_code_escapes_markup() {
        assert_eq!(
            html_code("a<b>&\"c\n"),
            "<code>a&lt;b&gt;&amp;&quot;c\\n</code>"
        );
    }

    #[test]
    fn a_diff_holding_a_fence_cannot_close_its_block() {
        let block = code_block("diff", "+```\n+## Looks fine\n");
        assert_eq!(block, "````diff\n+```\n+## Looks fine\n````");
        assert_eq!(code_block("diff", "+x"), "```diff\n+x\n```");
    }

    proptest! {
        #[test]
        fn whatever_the_text_the_result_is_one_line_of_visible_order(text in "\\PC*|.*") {
            let line = one_line(&text);
            prop_assert!(!line.chars().any(|c| c.is_control() || reorders(c)));
            let span = code_span(&text);
            prop_assert!(!span.contains('\n'));
            // The fence is longer than every run of backticks inside it.
            let fence = span.chars().take_while(|c| *c == '`').count();
            let inner = &span[fence..span.len() - fence];
            prop_assert!(inner.split(|c| c != '`').all(|run| run.len() < fence));
        }
    }
}
