//! Waiting for a child process with a time limit.

use std::process::{Child, ExitStatus};
use std::time::Duration;

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
    fn no_time_at_all_still_sees_a_child_that_has_exited() {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let mut child = Command::new("true").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let status = wait_timeout(&mut child, Duration::ZERO).unwrap();
        assert!(status.is_some_and(|s| s.success()));
    }
}
