//! A container's stdout and stderr, read while it runs, within bounds.
//!
//! A container's output can be endless: an image that prints forever would fill the
//! disk if its streams went straight to files, and reading a whole log back to keep its
//! last lines would hold all of it in memory. So on Linux the container writes into two
//! pipes that promised drains while it waits for the container to exit: each stream's
//! file keeps its first [`HEAD_BYTES`], and memory keeps its last [`TAIL_BYTES`]. When a
//! stream wrote more than that, its file ends with a line saying how much was left out,
//! then the tail. A stream thus never uses more than about [`HEAD_BYTES`] +
//! [`TAIL_BYTES`] of disk and [`TAIL_BYTES`] of memory.
//!
//! The wait is a future: the runtime's reactor wakes it when a pipe has something to
//! read or the container exits, so a run that waits holds no thread. Once the container
//! has exited, what is still in the pipes is read without waiting, and the pipes are
//! closed: a process it left behind cannot hold the run open.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use std::time::Instant;
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

use super::ExecError;
#[cfg(not(target_os = "linux"))]
use crate::pipeline::open_log;
use crate::pipeline::{LogFile, LogFolder};

/// How many of a stream's first bytes its file keeps.
pub(crate) const HEAD_BYTES: u64 = 8 * 1024 * 1024;
/// How many of a stream's last bytes are kept in memory (and appended to its file when
/// bytes were left out between the head and them).
pub(crate) const TAIL_BYTES: usize = 64 * 1024;

/// What one stream of a container left: a bounded file, and its last bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamLog {
    /// The file holding its first bytes (and, past the cap, a note and its tail).
    pub path: PathBuf,
    /// Its last bytes, at most [`TAIL_BYTES`].
    pub(crate) tail: Vec<u8>,
    /// How many bytes it wrote in all.
    pub total: u64,
}

/// One stream being written to its file and its tail.
struct Sink {
    file: LogFile,
    tail: VecDeque<u8>,
    total: u64,
}

impl Sink {
    fn new(file: LogFile) -> Self {
        Sink {
            file,
            tail: VecDeque::new(),
            total: 0,
        }
    }

    /// Takes the next bytes of the stream.
    fn take(&mut self, bytes: &[u8]) -> Result<(), ExecError> {
        let room = HEAD_BYTES.saturating_sub(self.total);
        let head = &bytes[..bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        if !head.is_empty() {
            self.file.write_all(head)?;
        }
        self.total += bytes.len() as u64;
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        self.tail.extend(bytes);
        let extra = self.tail.len().saturating_sub(TAIL_BYTES);
        self.tail.drain(..extra);
        Ok(())
    }

    /// Ends the file: past the cap, a note of what was left out, then the tail that
    /// follows the head. Gives back the file, written to its end.
    fn finish(mut self) -> Result<(StreamLog, LogFile), ExecError> {
        let tail: Vec<u8> = self.tail.into();
        if self.total > HEAD_BYTES {
            let after_head = (self.total - HEAD_BYTES).min(tail.len() as u64) as usize;
            let left_out = self.total - HEAD_BYTES - after_head as u64;
            let note = format!("\n[promised: {left_out} bytes of this log were not kept]\n");
            self.file.write_all(note.as_bytes())?;
            self.file.write_all(&tail[tail.len() - after_head..])?;
        }
        let log = StreamLog {
            path: self.file.path.clone(),
            tail,
            total: self.total,
        };
        Ok((log, self.file))
    }
}

pub(crate) use imp::Logs;

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::OwnedFd;

    use rustix::pipe::{PipeFlags, pipe_with};
    use tokio::net::unix::pipe::Receiver;

    use super::*;
    use crate::child::exit_before;

    /// How much is read at once, and at most after the container exited (a process
    /// it left behind may go on writing).
    const CHUNK: usize = 64 * 1024;
    const AFTER_EXIT: usize = 16 * CHUNK;

    /// A container's two streams while it runs.
    pub(crate) struct Logs<'f> {
        /// Where their files are, and go back to.
        folder: &'f LogFolder,
        /// stdout, stderr; each with its pipe's read end while that is open.
        streams: [(Sink, Option<Receiver>); 2],
        /// Made on the first read: most containers of a pass write nothing.
        buffer: Vec<u8>,
    }

    impl<'f> Logs<'f> {
        /// Takes the two log files of container `name` from `folder`
        /// (`<name>.stdout`, `<name>.stderr`) and makes the pipes; the returned write
        /// ends are the child's stdout and stderr. Called within the runtime (from a
        /// run's future), whose reactor then watches the read ends.
        pub(crate) fn open(
            folder: &'f LogFolder,
            name: &str,
        ) -> Result<(Logs<'f>, Stdio, Stdio), ExecError> {
            let (out_read, out_write) = pipe()?;
            let (err_read, err_write) = pipe()?;
            let stdout = folder.file(&format!("{name}.stdout"))?;
            let stderr = folder.file(&format!("{name}.stderr"))?;
            let logs = Logs {
                folder,
                streams: [
                    (Sink::new(stdout), Some(out_read)),
                    (Sink::new(stderr), Some(err_read)),
                ],
                buffer: Vec::new(),
            };
            Ok((logs, Stdio::from(out_write), Stdio::from(err_write)))
        }

        /// Drains both streams until `child` exits (its status), or `deadline` passes
        /// or `stop` is cancelled (`None`; it is left running). The reactor wakes it;
        /// it holds no thread.
        pub(crate) async fn wait(
            &mut self,
            child: &mut Child,
            deadline: Instant,
            stop: &CancellationToken,
        ) -> Result<Option<ExitStatus>, ExecError> {
            let exit = exit_before(child, deadline);
            tokio::pin!(exit);
            loop {
                let ready = tokio::select! {
                    biased;
                    status = &mut exit => return Ok(status?),
                    () = stop.cancelled() => return Ok(None),
                    ready = readable(&self.streams[0].1) => ready.map(|()| 0),
                    ready = readable(&self.streams[1].1) => ready.map(|()| 1),
                };
                self.read_now(ready?)?;
            }
        }

        /// Reads what one pipe holds now, without waiting: how many bytes (0 at its
        /// end, and the pipe is closed), or `None` if it holds nothing yet.
        fn read_now(&mut self, i: usize) -> Result<Option<usize>, ExecError> {
            let (sink, pipe) = &mut self.streams[i];
            let Some(reader) = pipe.as_ref() else {
                return Ok(Some(0));
            };
            let buffer = chunk(&mut self.buffer);
            match reader.try_read(buffer) {
                Ok(0) => {
                    *pipe = None;
                    Ok(Some(0))
                }
                Ok(n) => {
                    sink.take(&buffer[..n])?;
                    Ok(Some(n))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        }

        /// Once the container exited: reads what is left in the pipes without
        /// waiting, closes them, and ends the files. The reads are real ones, until the
        /// pipe is empty: the reactor may not have seen a last write made just before
        /// the exit (then `try_read` would answer "would block" without reading), and
        /// that write is often the error line the status shows.
        pub(crate) fn finish(self) -> Result<(StreamLog, StreamLog), ExecError> {
            let Logs {
                folder,
                streams,
                mut buffer,
            } = self;
            // A container that wrote nothing yet is read into a few bytes of stack:
            // its pipe is most likely empty.
            let mut small = [0; 4096];
            let buffer: &mut [u8] = match buffer.is_empty() {
                true => &mut small,
                false => &mut buffer,
            };
            let mut ended = Vec::with_capacity(streams.len());
            for (mut sink, pipe) in streams {
                if let Some(pipe) = pipe {
                    let fd = pipe.into_nonblocking_fd()?;
                    let mut read = 0;
                    while read < AFTER_EXIT {
                        match rustix::io::read(&fd, &mut *buffer) {
                            Ok(0) | Err(rustix::io::Errno::AGAIN) => break,
                            Ok(n) => {
                                sink.take(&buffer[..n])?;
                                read += n;
                            }
                            Err(rustix::io::Errno::INTR) => {}
                            Err(e) => return Err(std::io::Error::from(e).into()),
                        }
                    }
                }
                let (log, file) = sink.finish()?;
                folder.give_back(file);
                ended.push(log);
            }
            let [stdout, stderr]: [StreamLog; 2] = ended.try_into().expect("two streams, two logs");
            Ok((stdout, stderr))
        }
    }

    /// The read buffer, made on first use.
    fn chunk(buffer: &mut Vec<u8>) -> &mut [u8] {
        if buffer.is_empty() {
            buffer.resize(CHUNK, 0);
        }
        buffer
    }

    /// Resolves when `pipe` has something to read (or its end); never if it is closed.
    async fn readable(pipe: &Option<Receiver>) -> std::io::Result<()> {
        match pipe {
            Some(pipe) => pipe.readable().await,
            None => std::future::pending().await,
        }
    }

    /// A pipe whose read end the reactor watches, and whose write end, blocking as
    /// a program expects its stdout to be, is for the child. Only the read end is made
    /// non-blocking, by promised, which knows what the pipe is: tokio's checked
    /// conversion would ask the kernel twice more per pipe (`fstat`, `F_GETFL`).
    fn pipe() -> Result<(Receiver, OwnedFd), ExecError> {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC).map_err(pipe_error)?;
        rustix::io::ioctl_fionbio(&read, true).map_err(pipe_error)?;
        Ok((Receiver::from_owned_fd_unchecked(read)?, write))
    }

    fn pipe_error(e: rustix::io::Errno) -> ExecError {
        let e = std::io::Error::from(e);
        ExecError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot make a pipe for a container's log: {e}"),
        ))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io::{Read, Seek, SeekFrom};

    use super::*;
    use crate::child::exit_before;

    /// A container's two streams while it runs: here they go to their files, which
    /// are not capped, and only their tails are read back.
    pub(crate) struct Logs<'f> {
        paths: [PathBuf; 2],
        folder: std::marker::PhantomData<&'f LogFolder>,
    }

    impl<'f> Logs<'f> {
        /// Opens the two log files of container `name` in `folder`, which are the
        /// child's stdout and stderr.
        pub(crate) fn open(
            folder: &'f LogFolder,
            name: &str,
        ) -> Result<(Logs<'f>, Stdio, Stdio), ExecError> {
            let [stdout, stderr] =
                ["stdout", "stderr"].map(|s| folder.path().join(format!("{name}.{s}")));
            let out = Stdio::from(open_log(&stdout)?);
            let err = Stdio::from(open_log(&stderr)?);
            let paths = [stdout, stderr];
            let folder = std::marker::PhantomData;
            Ok((Logs { paths, folder }, out, err))
        }

        /// Waits until `child` exits (its status), or `deadline` passes or `stop` is
        /// cancelled (`None`).
        pub(crate) async fn wait(
            &mut self,
            child: &mut Child,
            deadline: Instant,
            stop: &CancellationToken,
        ) -> Result<Option<ExitStatus>, ExecError> {
            tokio::select! {
                status = exit_before(child, deadline) => Ok(status?),
                () = stop.cancelled() => Ok(None),
            }
        }

        /// Reads the last bytes of each file.
        pub(crate) fn finish(self) -> Result<(StreamLog, StreamLog), ExecError> {
            let read = |path: &PathBuf| -> Result<StreamLog, ExecError> {
                let mut file = fs_err::File::open(path)?;
                let total = file.metadata()?.len();
                file.seek(SeekFrom::Start(total.saturating_sub(TAIL_BYTES as u64)))?;
                let mut tail = Vec::new();
                file.read_to_end(&mut tail)?;
                Ok(StreamLog {
                    path: path.clone(),
                    tail,
                    total,
                })
            };
            Ok((read(&self.paths[0])?, read(&self.paths[1])?))
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(script: &str) -> (tempfile::TempDir, Option<ExitStatus>, StreamLog, StreamLog) {
        let dir = tempfile::tempdir().unwrap();
        let folder = LogFolder::new(dir.path().to_path_buf(), 0);
        let (status, stdout, stderr) = crate::runtime::block_here(async {
            let (mut logs, out, err) = Logs::open(&folder, "c").unwrap();
            let mut child = tokio::process::Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap();
            let status = logs
                .wait(
                    &mut child,
                    Instant::now() + Duration::from_secs(60),
                    &CancellationToken::new(),
                )
                .await
                .unwrap();
            let (stdout, stderr) = logs.finish().unwrap();
            (status, stdout, stderr)
        });
        (dir, status, stdout, stderr)
    }

    #[test]
    fn both_streams_reach_their_files_and_tails() {
        let (_dir, status, stdout, stderr) =
            run("echo out; echo err >&2; echo more >/dev/stderr; exit 4");
        assert_eq!(status.and_then(|s| s.code()), Some(4));
        assert_eq!(fs_err::read(&stdout.path).unwrap(), b"out\n");
        assert_eq!(stderr.tail, b"err\nmore\n");
        assert_eq!(fs_err::read(&stderr.path).unwrap(), b"err\nmore\n");
        assert_eq!(stderr.total, 9);
    }

    #[test]
    fn a_stream_past_the_cap_keeps_its_head_a_note_and_its_tail() {
        let script = "head -c 20971520 /dev/zero | tr '\\0' x >&2; echo last line >&2; exit 1";
        let (_dir, status, _stdout, stderr) = run(script);
        assert_eq!(status.and_then(|s| s.code()), Some(1));
        assert_eq!(stderr.total, 20 * 1024 * 1024 + 10);
        let on_disk = fs_err::metadata(&stderr.path).unwrap().len();
        assert!(on_disk <= HEAD_BYTES + TAIL_BYTES as u64 + 100, "{on_disk}");
        assert_eq!(stderr.tail.len(), TAIL_BYTES);
        assert!(stderr.tail.ends_with(b"xlast line\n"));
        let file = fs_err::read(&stderr.path).unwrap();
        assert!(file.ends_with(b"xlast line\n"));
        let note = format!(
            "\n[promised: {} bytes of this log were not kept]\n",
            stderr.total - HEAD_BYTES - TAIL_BYTES as u64
        );
        let at = HEAD_BYTES as usize;
        assert_eq!(&file[at..at + note.len()], note.as_bytes());
    }

    #[test]
    fn a_process_left_holding_the_pipe_does_not_hold_the_run() {
        // The background sleep keeps the pipes' write ends open long after the shell
        // exits: the run must be over while it still lives.
        let pid_file = tempfile::NamedTempFile::new().unwrap();
        let script = format!(
            "sleep 120 & echo $! > '{}'; echo bye >&2",
            pid_file.path().display()
        );
        let (_dir, status, _stdout, stderr) = run(&script);
        assert!(status.is_some_and(|s| s.success()));
        assert_eq!(stderr.tail, b"bye\n");
        let pid = fs_err::read_to_string(pid_file.path()).unwrap();
        let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
        assert!(
            nix::sys::signal::kill(pid, None).is_ok(),
            "the run ended while the process holding its pipes still ran"
        );
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
}
