//! Handing a Pod's output back to the reconciler: the last container packs the output
//! and metadata folders into a gzip-compressed tar archive and prints it,
//! base64-encoded between two marker lines, on its log; the reconciler reads the log
//! through the API server and unpacks it. Only folders and regular files cross;
//! anything else fails the run.
//!
//! The log is a narrow channel. The kubelet rotates a running container's log at
//! `containerLogMaxSize` (10 MiB by default), the runtime's prefix on each line
//! (timestamp, stream, tag) about doubles what the base64 text takes on disk, and
//! `pods/log` returns the current file only. So the archive is compressed, the first
//! line gives its length and SHA-256 (a log cut short or damaged is named as such, not
//! read as a smaller output), and the helper refuses an archive over a limit
//! (`--kube-max-handback-bytes`, [`DEFAULT_MAX_ARCHIVE_BYTES`]) with a message that
//! says so, instead of printing what would be cut.

use std::io::Read;
use std::path::{Component, Path};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fs_err as fs;
use sha2::{Digest, Sha256};

/// The start of the line before the archive; its length and SHA-256 follow.
pub(crate) const BEGIN: &str = "promised-handback v2 begin";
/// The line after the archive.
pub(crate) const END: &str = "promised-handback v2 end";
/// The markers of the first format (an uncompressed archive, no length), still read
/// from helper images of earlier versions.
const V1: (&str, &str) = ("promised-handback v1 begin", "promised-handback v1 end");
/// The default of the most compressed bytes the helper prints: base64 (4/3) and the
/// runtime's prefix of about 40 bytes per 77-byte line make 4 MiB about 8.4 MiB of log
/// file, under the kubelet's default rotation at 10 MiB.
pub const DEFAULT_MAX_ARCHIVE_BYTES: u64 = 4 << 20;
/// What an archive may unpack to besides the output's own limit: the tar headers and
/// the metadata folder.
pub(crate) const UNPACK_SLACK: u64 = 8 << 20;
/// The bound the unit tests unpack within.
#[cfg(test)]
const MAX_UNPACKED: u64 = 256 << 20;

/// The log text for the `output` and `metadata` folders, or an error that says the
/// archive is over `max_bytes` compressed.
pub fn pack(output: &Path, metadata: &Path, max_bytes: u64) -> std::io::Result<String> {
    // The bound is kept while compressing: a helper holding 128 MiB of noise would
    // run out of memory before it could say why.
    let bounded = Bounded {
        bytes: Vec::new(),
        max_bytes,
    };
    let compressed = flate2::write::GzEncoder::new(bounded, flate2::Compression::default());
    let mut builder = tar::Builder::new(compressed);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all("output", output)?;
    builder.append_dir_all("metadata", metadata)?;
    let archive = builder.into_inner()?.finish()?.bytes;
    let sha = hex::encode(Sha256::digest(&archive));
    let encoded = STANDARD.encode(&archive);
    let mut text = format!("{BEGIN} {} {sha}\n", archive.len());
    for chunk in encoded.as_bytes().chunks(76) {
        text.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str(END);
    text.push('\n');
    Ok(text)
}

/// Compressed bytes, refused past `max_bytes` with the message a Promise author reads.
struct Bounded {
    bytes: Vec<u8>,
    max_bytes: u64,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.max_bytes {
            return Err(std::io::Error::other(format!(
                "the output and metadata are more than {} bytes compressed, what a Pod's \
                 log carries back (--kube-max-handback-bytes; the kubelet rotates a \
                 container's log at containerLogMaxSize, 10 MiB by default, and the API \
                 server returns only the newest part): write less, or raise both",
                self.max_bytes
            )));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Unpacks what [`pack`] printed, found anywhere in `log`, into `output` and `metadata`,
/// reading at most `bound` bytes out of the archive (the output's limit and
/// [`UNPACK_SLACK`]: a small archive of zeros can unpack to gigabytes). The error says
/// what is wrong, in the words of the local output checks.
pub(crate) fn unpack(log: &str, output: &Path, metadata: &Path, bound: u64) -> Result<(), String> {
    if let Some(start) = log.find(BEGIN) {
        let rest = &log[start + BEGIN.len()..];
        let (header, rest) = rest.split_once('\n').unwrap_or((rest, ""));
        let mut fields = header.split_whitespace();
        let (Some(length), Some(sha), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!(
                "the archive's first line is not `{BEGIN} <bytes> <sha256>`"
            ));
        };
        let length: usize = length
            .parse()
            .map_err(|_| format!("the archive's length {length:?} is not a number"))?;
        let archive = decode(rest, END)?;
        if archive.len() != length {
            return Err(format!(
                "the archive on the handback container's log is cut short: {} of its {length} \
                 bytes arrived (the kubelet rotates a container's log at containerLogMaxSize, \
                 and the API server returns only the newest part)",
                archive.len()
            ));
        }
        if hex::encode(Sha256::digest(&archive)) != sha {
            return Err(
                "the archive on the handback container's log is damaged: its SHA-256 differs"
                    .into(),
            );
        }
        let unpacked = Capped::new(flate2::read::GzDecoder::new(archive.as_slice()), bound);
        return extract(tar::Archive::new(unpacked), output, metadata);
    }
    if let Some(start) = log.find(V1.0) {
        let archive = decode(&log[start + V1.0.len()..], V1.1)?;
        let unpacked = Capped::new(archive.as_slice(), bound);
        return extract(tar::Archive::new(unpacked), output, metadata);
    }
    if log.contains(END) {
        return Err(
            "the archive on the handback container's log is cut short: its end arrived, not \
             its start (the kubelet rotates a container's log at containerLogMaxSize, and the \
             API server returns only the newest part)"
                .into(),
        );
    }
    Err("the handback container printed no archive".into())
}

/// The bytes of the base64 text before `end`.
fn decode(text: &str, end: &str) -> Result<Vec<u8>, String> {
    let end = text.find(end).ok_or(
        "the archive on the handback container's log is cut short: its last line is missing",
    )?;
    let encoded: String = text[..end].split_whitespace().collect();
    STANDARD
        .decode(encoded)
        .map_err(|e| format!("the archive on the log is not base64: {e}"))
}

/// A reader that fails once more than its bound has been read: an archive that
/// unpacks to more than the output may hold stops there (a small archive of zeros can
/// unpack to gigabytes).
struct Capped<R> {
    inner: R,
    bound: u64,
    read: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, bound: u64) -> Self {
        Capped {
            inner,
            bound,
            read: 0,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.bound {
            return Err(std::io::Error::other(format!(
                "the archive unpacks to more than {} bytes",
                self.bound
            )));
        }
        Ok(n)
    }
}

/// Writes the archive's folders and regular files under `output` and `metadata`.
fn extract(mut tar: tar::Archive<impl Read>, output: &Path, metadata: &Path) -> Result<(), String> {
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut parts = path.components();
        let root = match parts.next() {
            Some(Component::Normal(top)) if top == "output" => output,
            Some(Component::Normal(top)) if top == "metadata" => metadata,
            _ => {
                return Err(format!(
                    "{}: is outside the output and metadata folders",
                    path.display()
                ));
            }
        };
        let rest = parts.as_path();
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!("{}: escapes its folder", path.display()));
        }
        let target = root.join(rest);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(|e| e.to_string())?;
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let mut file = fs::File::create(&target).map_err(|e| e.to_string())?;
            std::io::copy(&mut entry, &mut file).map_err(|e| e.to_string())?;
        } else if kind.is_symlink() {
            return Err(format!(
                "{}: is a symbolic link; write the file itself, links may point outside the output",
                rest.display()
            ));
        } else {
            return Err(format!("{}: is not a regular file", rest.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_cross_the_log_intact() {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("out/sub")).unwrap();
        fs::create_dir_all(from.path().join("meta")).unwrap();
        fs::write(from.path().join("out/a.yaml"), "a").unwrap();
        fs::write(from.path().join("out/sub/b.yaml"), "b").unwrap();
        fs::write(from.path().join("meta/status.yaml"), "message: hi").unwrap();
        let log = format!(
            "some noise\n{}",
            pack(
                &from.path().join("out"),
                &from.path().join("meta"),
                DEFAULT_MAX_ARCHIVE_BYTES
            )
            .unwrap()
        );
        let to = tempfile::tempdir().unwrap();
        let (out, meta) = (to.path().join("output"), to.path().join("metadata"));
        unpack(&log, &out, &meta, MAX_UNPACKED).unwrap();
        assert_eq!(fs::read_to_string(out.join("sub/b.yaml")).unwrap(), "b");
        assert_eq!(
            fs::read_to_string(meta.join("status.yaml")).unwrap(),
            "message: hi"
        );
    }

    #[test]
    fn symlinks_do_not_cross() {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("out")).unwrap();
        fs::create_dir_all(from.path().join("meta")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.path().join("out/passwd.yaml")).unwrap();
        let log = pack(
            &from.path().join("out"),
            &from.path().join("meta"),
            DEFAULT_MAX_ARCHIVE_BYTES,
        )
        .unwrap();
        let to = tempfile::tempdir().unwrap();
        let err = unpack(
            &log,
            &to.path().join("o"),
            &to.path().join("m"),
            MAX_UNPACKED,
        )
        .unwrap_err();
        assert!(err.starts_with("passwd.yaml: is a symbolic link"), "{err}");
    }

    /// `n` bytes that do not compress (xorshift).
    fn noise(n: usize) -> Vec<u8> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    /// A folder pair with one output file of `bytes`.
    fn folders(bytes: &[u8]) -> tempfile::TempDir {
        let from = tempfile::tempdir().unwrap();
        fs::create_dir_all(from.path().join("out")).unwrap();
        fs::create_dir_all(from.path().join("meta")).unwrap();
        fs::write(from.path().join("out/a.yaml"), bytes).unwrap();
        from
    }

    fn pack_of(from: &tempfile::TempDir, max: u64) -> std::io::Result<String> {
        pack(&from.path().join("out"), &from.path().join("meta"), max)
    }

    fn unpack_to(log: &str, bound: u64) -> Result<tempfile::TempDir, String> {
        let to = tempfile::tempdir().unwrap();
        let (out, meta) = (to.path().join("output"), to.path().join("metadata"));
        unpack(log, &out, &meta, bound).map(|()| to)
    }

    #[test]
    fn a_log_cut_short_or_damaged_is_named_as_such() {
        // Text that does not compress, so that the archive spans many lines.
        let noise = noise(64 * 1024);
        let log = pack_of(&folders(&noise), DEFAULT_MAX_ARCHIVE_BYTES).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        // The kubelet rotated the log: only its newest part is served, or a middle
        // part went missing.
        let newest = lines[lines.len() / 2..].join("\n");
        let err = unpack_to(&newest, MAX_UNPACKED).unwrap_err();
        assert!(
            err.contains("cut short: its end arrived, not its start"),
            "{err}"
        );
        let mut gap = lines.clone();
        gap.remove(lines.len() / 2);
        let err = unpack_to(&gap.join("\n"), MAX_UNPACKED).unwrap_err();
        assert!(
            err.starts_with("the archive on the handback container's log is cut short: "),
            "{err}"
        );
        let oldest = lines[..lines.len() - 1].join("\n");
        let err = unpack_to(&oldest, MAX_UNPACKED).unwrap_err();
        assert!(err.contains("cut short: its last line is missing"), "{err}");
        // One character changed in the middle of the archive.
        let mut damaged = lines.clone();
        let line = lines[lines.len() / 2];
        let flipped = if line.starts_with('A') { "B" } else { "A" };
        let changed = format!("{flipped}{}", &line[1..]);
        damaged[lines.len() / 2] = &changed;
        let err = unpack_to(&damaged.join("\n"), MAX_UNPACKED).unwrap_err();
        assert!(err.ends_with("damaged: its SHA-256 differs"), "{err}");
    }

    #[test]
    fn an_archive_over_the_limit_is_refused_by_the_helper_naming_the_limit() {
        let noise = noise(64 * 1024);
        let err = pack_of(&folders(&noise), 16 * 1024).unwrap_err();
        assert!(
            err.to_string().contains(
                "more than 16384 bytes compressed, what a Pod's log carries back (--kube-max-handback-bytes"
            ),
            "{err}"
        );
    }

    #[test]
    fn output_that_compresses_well_crosses_compressed_and_an_archive_past_the_bound_stops() {
        let zeros = vec![b'0'; 4 << 20];
        let log = pack_of(&folders(&zeros), DEFAULT_MAX_ARCHIVE_BYTES).unwrap();
        assert!(
            log.len() < 64 * 1024,
            "4 MiB of zeros take {} bytes of log",
            log.len()
        );
        let to = unpack_to(&log, MAX_UNPACKED).unwrap();
        assert_eq!(fs::read(to.path().join("output/a.yaml")).unwrap(), zeros);
        let err = unpack_to(&log, 1 << 20).unwrap_err();
        assert!(err.contains("unpacks to more than 1048576 bytes"), "{err}");
    }

    #[test]
    fn an_archive_of_the_first_format_is_still_read() {
        let from = folders(b"kind: ConfigMap\n");
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_dir_all("output", from.path().join("out"))
            .unwrap();
        builder
            .append_dir_all("metadata", from.path().join("meta"))
            .unwrap();
        let encoded = STANDARD.encode(builder.into_inner().unwrap());
        let log = format!("{}\n{encoded}\n{}\n", V1.0, V1.1);
        let to = unpack_to(&log, MAX_UNPACKED).unwrap();
        assert_eq!(
            fs::read_to_string(to.path().join("output/a.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );
    }

    #[test]
    fn a_log_without_the_archive_is_an_error() {
        let to = tempfile::tempdir().unwrap();
        let err = unpack("just logs\n", to.path(), to.path(), MAX_UNPACKED).unwrap_err();
        assert_eq!(err, "the handback container printed no archive");
    }
}
