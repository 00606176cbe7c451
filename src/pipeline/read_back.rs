//! Reading back what a pipeline left on disk, which its author controls entirely.
//!
//! A pipeline can leave a symbolic link where a file is expected (to a host file under
//! podman: a kubeconfig, a deploy key, `/dev/zero`), a named pipe that blocks whoever
//! opens it, a file that never ends, or a million entries. So every folder and file is
//! opened relative to the folder that holds it, without following a link
//! (`O_NOFOLLOW`) and without blocking (`O_NONBLOCK`); what was opened is checked on the
//! open descriptor (`fstat`), so nothing can be swapped between the check and the read;
//! a file is read in chunks up to a cap and one byte more, so an endless file costs at
//! most the cap; and every entry and chunk is read within the pipeline's deadline.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::Mode;

/// How much of one pipeline's output `promised` reads back; past either limit the run
/// fails. The output is held in memory until it is rendered, so these also bound what
/// each running pipeline can make a pass hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// The most bytes the output files may hold together (`--max-output-bytes`).
    pub(crate) max_bytes: u64,
    /// The most files and folders the output may hold (`--max-output-files`).
    pub(crate) max_files: usize,
}

impl OutputLimits {
    /// 64 MiB: far more than a rendered Helm chart, little enough that one per job fits
    /// in memory.
    pub(crate) const DEFAULT_MAX_BYTES: u64 = 64 << 20;
    /// 10,000 files and folders.
    pub(crate) const DEFAULT_MAX_FILES: usize = 10_000;
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_files: Self::DEFAULT_MAX_FILES,
        }
    }
}

/// The most bytes a metadata file (`status.yaml`, a selector file) may hold.
pub(crate) const METADATA_FILE_CAP: u64 = 1 << 20;

/// How many bytes are read between two looks at the deadline.
const CHUNK: u64 = 1 << 16;

/// Why something a pipeline left could not be read back. `path` is as the pipeline
/// author knows it: relative to the output or metadata folder.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// A symbolic link where a file or folder was expected.
    #[error(
        "{path}: is a symbolic link; write the file itself, links may point outside the output"
    )]
    Link { path: String },
    /// A regular file with more than one name: a hard link to a file elsewhere.
    #[error(
        "{path}: is a hard link ({links} names for one file), which may be a file from outside \
         the pipeline's folders; write the file itself"
    )]
    HardLink {
        path: String,
        /// How many names the file has.
        links: u64,
    },
    /// A named pipe, socket or device.
    #[error("{path}: is {kind}, not a regular file; write a regular file")]
    NotRegular {
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// A file larger than the cap for its kind.
    #[error("{path}: holds more than {}, the most promised reads of such a file; write less", size(*.cap))]
    TooLarge { path: String, cap: u64 },
    /// The output files together hold more than `--max-output-bytes`.
    #[error(
        "holds more than {} (found at {path}), the most one pipeline's output may hold; \
         write less, or raise the limit with --max-output-bytes", size(*.limit)
    )]
    OutputBytes {
        /// The file being read when the limit was passed.
        path: String,
        limit: u64,
    },
    /// The output holds more than `--max-output-files` files and folders.
    #[error(
        "holds more than {limit} files and folders (found at {path}), the most one \
         pipeline's output may hold; write fewer, or raise the limit with --max-output-files"
    )]
    OutputFiles {
        /// The entry past the limit.
        path: String,
        limit: usize,
    },
    /// A file that should hold text does not.
    #[error("{path}: is not UTF-8 text")]
    NotText { path: String },
    /// Folders nested deeper than [`MAX_DEPTH`].
    #[error("{path}: folders nest deeper than {MAX_DEPTH} levels; flatten the output")]
    TooDeep {
        /// The folder past the limit.
        path: String,
    },
    /// The pipeline's time limit ran out while its folders were read.
    #[error(
        "{path}: the pipeline's time limit ({}) ran out while its files were read back",
        humantime::format_duration(*.timeout)
    )]
    Deadline {
        /// What was being read.
        path: String,
        timeout: Duration,
    },
    /// The operating system refused a read.
    #[error("{path}: {source}")]
    Io {
        /// What was being read.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// How deep output folders may nest: each level holds a descriptor open while it is read.
pub(crate) const MAX_DEPTH: usize = 32;

/// `bytes` as people read it: exact bytes, and MiB or KiB when it is a whole number of them.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// When reading back must end: the pipeline's own deadline, so that a run and its
/// read-back together stay within the pipeline's time limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    /// An error naming `path` if the deadline has passed.
    pub(crate) fn check(&self, path: &str) -> Result<(), ReadError> {
        if Instant::now() >= self.at {
            return Err(ReadError::Deadline {
                path: path.to_string(),
                timeout: self.timeout,
            });
        }
        Ok(())
    }
}

/// A folder a pipeline wrote, opened without following a link.
#[derive(Debug)]
pub(crate) struct Folder {
    fd: OwnedFd,
}

/// What an entry of a folder turned out to be once opened.
#[derive(Debug)]
pub(crate) enum Opened {
    /// A regular file, with its size when it was opened.
    File(File, u64),
    Folder(Folder),
}

/// Opened without following a link, blocking (on a named pipe) or taking a terminal.
const OPEN: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY)
    .union(OFlag::O_CLOEXEC);

impl Folder {
    /// Opens the folder at `path` (one of a run's own folders; `shown` names it in
    /// errors). `Ok(None)` if there is nothing there.
    pub(crate) fn open_root(path: &Path, shown: &str) -> Result<Option<Folder>, ReadError> {
        let opened = open(path, OPEN, Mode::empty());
        match classify(opened, shown)? {
            None => Ok(None),
            Some(Opened::Folder(folder)) => Ok(Some(folder)),
            Some(Opened::File(..)) => Err(io_error(shown, Errno::ENOTDIR)),
        }
    }

    /// The names in this folder, in the order the file system gives them, read as they
    /// are asked for.
    pub(crate) fn names(
        &self,
        shown: &str,
    ) -> Result<impl Iterator<Item = Result<OsString, ReadError>>, ReadError> {
        let fd = self.fd.try_clone().map_err(|source| ReadError::Io {
            path: shown.to_string(),
            source,
        })?;
        let dir = Dir::from_fd(fd).map_err(|errno| io_error(shown, errno))?;
        let shown = shown.to_string();
        Ok(dir.into_iter().filter_map(move |entry| match entry {
            Ok(entry) => {
                let name = entry.file_name().to_bytes();
                (name != b"." && name != b"..").then(|| Ok(OsStr::from_bytes(name).to_owned()))
            }
            Err(errno) => Some(Err(io_error(&shown, errno))),
        }))
    }

    /// Opens `name` in this folder (`shown` names it in errors): a regular file or a
    /// folder, never a link, pipe, socket or device. `Ok(None)` if there is no such entry.
    pub(crate) fn open(&self, name: &OsStr, shown: &str) -> Result<Option<Opened>, ReadError> {
        classify(openat(&self.fd, name, OPEN, Mode::empty()), shown)
    }
}

/// What an [`OPEN`] gave: a regular file or a folder, checked on the open descriptor;
/// `Ok(None)` if there was nothing to open.
fn classify(opened: nix::Result<OwnedFd>, shown: &str) -> Result<Option<Opened>, ReadError> {
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => {
            return Err(ReadError::Link {
                path: shown.to_string(),
            });
        }
        // What opening a socket gives.
        Err(Errno::ENXIO) => {
            return Err(ReadError::NotRegular {
                path: shown.to_string(),
                kind: "a socket",
            });
        }
        Err(errno) => return Err(io_error(shown, errno)),
    };
    let file = File::from(fd);
    let metadata = file.metadata().map_err(|source| ReadError::Io {
        path: shown.to_string(),
        source,
    })?;
    let kind = metadata.file_type();
    if kind.is_file() {
        // O_NOFOLLOW stops symbolic links only: a hard link made inside the folder to a
        // host file (a kubeconfig) opens as a regular file of its own.
        if metadata.nlink() > 1 {
            return Err(ReadError::HardLink {
                path: shown.to_string(),
                links: metadata.nlink(),
            });
        }
        return Ok(Some(Opened::File(file, metadata.len())));
    }
    if kind.is_dir() {
        return Ok(Some(Opened::Folder(Folder { fd: file.into() })));
    }
    let kind = if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "an unknown kind of file"
    };
    Err(ReadError::NotRegular {
        path: shown.to_string(),
        kind,
    })
}

/// Reads `file` (of `len` bytes when opened), or `Ok(None)` as soon as it holds more
/// than `cap` bytes: at most `cap + 1` bytes are read, whatever the file claims or
/// becomes while it is read.
pub(crate) fn read_capped(
    mut file: File,
    len: u64,
    cap: u64,
    deadline: &Deadline,
    shown: &str,
) -> Result<Option<Vec<u8>>, ReadError> {
    if len > cap {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(len as usize);
    loop {
        deadline.check(shown)?;
        let left = cap + 1 - bytes.len() as u64;
        let read = file
            .by_ref()
            .take(left.min(CHUNK))
            .read_to_end(&mut bytes)
            .map_err(|source| ReadError::Io {
                path: shown.to_string(),
                source,
            })?;
        if bytes.len() as u64 > cap {
            return Ok(None);
        }
        if read == 0 {
            return Ok(Some(bytes));
        }
    }
}

fn io_error(shown: &str, errno: Errno) -> ReadError {
    ReadError::Io {
        path: shown.to_string(),
        source: std::io::Error::from(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_err as fs;

    const LONG: Duration = Duration::from_secs(3600);

    fn opened(dir: &Path, name: &str) -> Result<Option<Opened>, ReadError> {
        let folder = Folder::open_root(dir, "folder").unwrap().unwrap();
        folder.open(OsStr::new(name), name)
    }

    #[test]
    fn a_regular_file_is_read_whole_up_to_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "12345").unwrap();
        for (cap, expected) in [
            (5, Some(b"12345".to_vec())),
            (4, None),
            (100, Some(b"12345".to_vec())),
        ] {
            let Some(Opened::File(file, len)) = opened(dir.path(), "a").unwrap() else {
                panic!("a is a file");
            };
            let read = read_capped(file, len, cap, &Deadline::after(LONG), "a").unwrap();
            assert_eq!(read, expected, "cap {cap}");
        }
    }

    #[test]
    fn a_file_that_does_not_end_is_read_only_to_its_cap() {
        // /dev/zero claims no size and never ends, as a file still being written may.
        let file = fs::File::open("/dev/zero").unwrap().into_parts().0;
        let read = read_capped(file, 0, 3 * CHUNK + 7, &Deadline::after(LONG), "zero").unwrap();
        assert_eq!(read, None);
    }

    #[test]
    fn links_pipes_and_sockets_are_refused_without_being_followed_or_opened_for_reading() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("link")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("pipe"), Mode::S_IRWXU).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("socket")).unwrap();
        let err = |name| opened(dir.path(), name).unwrap_err().to_string();
        assert!(
            err("link").starts_with("link: is a symbolic link"),
            "{}",
            err("link")
        );
        assert_eq!(
            err("pipe"),
            "pipe: is a named pipe, not a regular file; write a regular file"
        );
        assert!(
            err("socket").starts_with("socket: is a socket"),
            "{}",
            err("socket")
        );
        assert!(opened(dir.path(), "absent").unwrap().is_none());
    }

    #[test]
    fn a_root_folder_that_is_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("metadata")).unwrap();
        let err = Folder::open_root(&dir.path().join("metadata"), "metadata").unwrap_err();
        assert!(matches!(err, ReadError::Link { .. }), "{err}");
    }

    #[test]
    fn nothing_is_read_past_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "12345").unwrap();
        let Some(Opened::File(file, len)) = opened(dir.path(), "a").unwrap() else {
            panic!("a is a file");
        };
        let passed = Deadline::after(Duration::ZERO);
        let err = read_capped(file, len, 100, &passed, "a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a: the pipeline's time limit (0s) ran out while its files were read back"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(4 << 10), "4 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
