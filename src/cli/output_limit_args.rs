//! The flags that cap what one pipeline's output may hold, shared by every command that
//! runs pipelines.

use crate::pipeline::OutputLimits;

/// `--max-output-bytes` and `--max-output-files`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OutputLimitArgs {
    /// The most bytes one pipeline's output files may hold together (e.g. 64MiB, 500KiB);
    /// a larger output fails its request, and reading stops at the limit.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub(crate) max_output_bytes: u64,
    /// The most files and folders one pipeline's output may hold; more fail its request.
    #[arg(long, default_value_t = OutputLimits::DEFAULT_MAX_FILES)]
    pub(crate) max_output_files: usize,
}

impl OutputLimitArgs {
    /// The limits these flags describe.
    pub(crate) fn limits(&self) -> OutputLimits {
        OutputLimits {
            max_bytes: self.max_output_bytes,
            max_files: self.max_output_files,
        }
    }
}

/// A size in bytes, plain or with a binary unit: `1048576`, `512KiB`, `64MiB`, `1GiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        other => {
            return Err(format!(
                "unknown unit {other:?}: give bytes, or a number with KiB, MiB or GiB"
            ));
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: give a whole number of bytes, KiB, MiB or GiB"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_or_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("64MB").unwrap_err().contains("KiB, MiB or GiB"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn the_flags_default_to_the_library_defaults() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            limits: OutputLimitArgs,
        }
        let parsed = <Command as clap::Parser>::parse_from(["promised"]);
        assert_eq!(parsed.limits.limits(), OutputLimits::default());
    }
}
