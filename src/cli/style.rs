//! Colour in reports. Commands always write painted labels; `main` wraps standard output
//! in a stream that strips the colour where it is not wanted (`--color`, `NO_COLOR`, not
//! a terminal), so no command decides it on its own.

use anstyle::{AnsiColor, Style};

/// Whether a stream gets colour: as `--color` asks, or for `auto` as `NO_COLOR`,
/// `CLICOLOR_FORCE` and the terminal say.
pub(super) fn wanted<S: anstream::stream::RawStream>(when: clap::ColorChoice, stream: &S) -> bool {
    match when {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        clap::ColorChoice::Auto => {
            anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never
        }
    }
}

/// The report's label column: `label` padded to its width, coloured by what it says.
pub(super) fn label(label: &str) -> String {
    let style = match label {
        "error" | "failed" | "invalid" => Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        "warning" | "stopped" | "skipped" | "misplaced" => {
            Style::new().fg_color(Some(AnsiColor::Yellow.into()))
        }
        "waiting" | "pending" | "suspended" | "paused" => {
            Style::new().fg_color(Some(AnsiColor::Cyan.into()))
        }
        "ready" => Style::new().fg_color(Some(AnsiColor::Green.into())),
        _ => Style::new(),
    };
    format!("{style}{label:<8}{style:#}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_keeps_its_column_once_the_colour_is_stripped() {
        let painted = label("failed");
        assert_ne!(painted, "failed  ", "painted");
        let mut stripped = anstream::StripStream::new(Vec::new());
        std::io::Write::write_all(&mut stripped, painted.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(stripped.into_inner()).unwrap(),
            "failed  "
        );
    }
}
