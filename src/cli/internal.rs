//! `promised internal ...`: steps that run inside pipeline Pods, not for people.

use std::io::Write;
use std::path::PathBuf;

use super::EXIT_OK;
use crate::executor::kubernetes::{DEFAULT_MAX_ARCHIVE_BYTES, pack};

/// Hidden commands run by the Pods promised creates.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum InternalCommand {
    /// Print the output and metadata folders as an archive on stdout, for the
    /// reconciler to read from the Pod's log.
    Handback {
        /// The output folder.
        #[arg(long)]
        output: PathBuf,
        /// The metadata folder.
        #[arg(long)]
        metadata: PathBuf,
        /// The most bytes the compressed archive may take; past it, nothing is printed
        /// and the command fails, saying so.
        #[arg(long, default_value_t = DEFAULT_MAX_ARCHIVE_BYTES)]
        max_bytes: u64,
    },
}

pub(crate) fn run(command: InternalCommand, out: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        InternalCommand::Handback {
            output,
            metadata,
            max_bytes,
        } => {
            out.write_all(pack(&output, &metadata, max_bytes)?.as_bytes())?;
            Ok(EXIT_OK)
        }
    }
}
