//! Waiting for a child process with a time limit (blocking, or as a future that holds no
//! thread), and running a short command whose output is read back.

use std::io::{Read, Seek};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// How a command run by [`run_captured`] ended.
#[derive(Debug)]
pub(crate) enum Captured {
    /// It exited (its output must be UTF-8, or reading it is an error).
    Finished {
        status: ExitStatus,
        /// What it wrote to stdout.
        stdout: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// It was still running at the timeout, and was killed.
    TimedOut,
}

/// Why [`run_captured`] has no outcome.
#[derive(Debug)]
pub(crate) enum CaptureError {
    /// The command could not be started.
    Start(std::io::Error),
    /// Its output files could not be made or read, or waiting failed.
    Io(std::io::Error),
}

/// Runs `command` with an empty stdin and its stdout and stderr going to temporary files
/// (no pipe can fill up while nothing reads it), waits at most `timeout`, and reads the
/// output back. A command still running at the timeout is killed and reaped.
pub(crate) fn run_captured(
    command: &mut Command,
    timeout: Duration,
) -> Result<Captured, CaptureError> {
    let io = CaptureError::Io;
    let stdout = tempfile::tempfile().map_err(io)?;
    let stderr = tempfile::tempfile().map_err(io)?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().map_err(io)?)
        .stderr(stderr.try_clone().map_err(io)?)
        .spawn()
        .map_err(CaptureError::Start)?;
    let Some(status) = wait_timeout(&mut child, timeout).map_err(io)? else {
        let _ = child.kill();
        child.wait().map_err(io)?;
        return Ok(Captured::TimedOut);
    };
    let read = |mut file: std::fs::File| {
        let mut text = String::new();
        file.rewind()
            .and_then(|_| file.read_to_string(&mut text))
            .map(|_| text)
    };
    Ok(Captured::Finished {
        status,
        stdout: read(stdout).map_err(io)?,
        stderr: read(stderr).map_err(io)?,
    })
}

/// Waits at most `timeout` for `child` to exit: its status, or `None` if it still runs
/// (it is left running; killing it is the caller's choice).
///
/// On Linux it waits on a pidfd: no signal handler, no helper thread, four system calls.
#[cfg(target_os = "linux")]
pub(crate) fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    use std::time::Instant;

    let deadline = Instant::now().checked_add(timeout);
    let pidfd = pidfd_open(Pid::from_child(child), PidfdFlags::empty())?;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // No deadline (a timeout past the end of time) waits without one.
        let limit = left.and_then(|left| Timespec::try_from(left).ok());
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match poll(&mut fds, limit.as_ref()) {
            Ok(0) if left.is_some_and(|left| left.is_zero()) => return Ok(None),
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return child.wait().map(Some),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits at most `timeout` for `child` to exit: its status, or `None` if it still runs
/// (it is left running; killing it is the caller's choice).
#[cfg(not(target_os = "linux"))]
pub(crate) fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    use wait_timeout::ChildExt;
    child.wait_timeout(timeout)
}

/// Waits until `child` exits (its status) or `deadline` passes (`None`; it is left
/// running), as a future that holds no thread (on Linux tokio's reactor watches a
/// pidfd).
pub(crate) async fn exit_before(
    child: &mut tokio::process::Child,
    deadline: std::time::Instant,
) -> std::io::Result<Option<ExitStatus>> {
    match tokio::time::timeout_at(deadline.into(), child.wait()).await {
        Ok(status) => status.map(Some),
        // A child that exited just as the time ran out is still seen.
        Err(_) => child.try_wait(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn an_exited_child_gives_its_status() {
        let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        let status = wait_timeout(&mut child, Duration::from_secs(30)).unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(7));
    }

    #[test]
    fn a_child_past_the_timeout_is_left_running() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();
        let status = wait_timeout(&mut child, Duration::from_millis(200)).unwrap();
        assert!(status.is_none());
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_captured_command_gives_its_output_or_is_killed_at_the_timeout() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 2"]);
        let captured = run_captured(&mut command, Duration::from_secs(30)).unwrap();
        let Captured::Finished {
            status,
            stdout,
            stderr,
        } = captured
        else {
            panic!("{captured:?}");
        };
        assert_eq!(
            (status.code(), stdout.as_str(), stderr.as_str()),
            (Some(2), "out\n", "err\n")
        );

        let started = Instant::now();
        let mut command = Command::new("sleep");
        command.arg("30");
        let captured = run_captured(&mut command, Duration::from_millis(200)).unwrap();
        assert!(matches!(captured, Captured::TimedOut), "{captured:?}");
        assert!(started.elapsed() < Duration::from_secs(10));

        let mut command = Command::new("/nonexistent/promised-test");
        let err = run_captured(&mut command, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, CaptureError::Start(_)), "{err:?}");
    }

    #[test]
    fn no_time_at_all_still_sees_a_child_that_has_exited() {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let mut child = Command::new("true").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let status = wait_timeout(&mut child, Duration::ZERO).unwrap();
        assert!(status.is_some_and(|s| s.success()));
    }

    #[test]
    fn the_future_gives_the_status_or_leaves_the_child_running_at_the_deadline() {
        crate::runtime::block_here(async {
            let mut child = tokio::process::Command::new("sh")
                .args(["-c", "exit 7"])
                .spawn()
                .unwrap();
            let far = Instant::now() + Duration::from_secs(30);
            let status = exit_before(&mut child, far).await.unwrap();
            assert_eq!(status.and_then(|s| s.code()), Some(7));

            let mut child = tokio::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let soon = Instant::now() + Duration::from_millis(200);
            let status = exit_before(&mut child, soon).await.unwrap();
            assert!(status.is_none());
            assert!(Instant::now() >= soon);
            assert!(child.try_wait().unwrap().is_none(), "still running");
            child.kill().await.unwrap();
        });
    }
}
