//! At most one log line per interval for an event anyone on the network can cause.
//!
//! A refused webhook call is worth a warning, but a client sending thousands of them
//! must not fill the log. [`LogLimit`] lets one line through per interval and counts the
//! ones it held back, so the next line can say how many there were. It takes the current
//! time as an argument: tests drive it without sleeping.

use std::time::{Duration, Instant};

/// Lets one event per `every` be logged and counts the others.
#[derive(Debug)]
pub(crate) struct LogLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// A limit of one line per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        LogLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Records an event at `now`. Returns `Some(n)` when it may be logged, `n` being how
    /// many events were held back since the last logged one; `None` when it is held back.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_interval_is_logged_with_the_count_of_those_held_back() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut limit = LogLimit::new(Duration::from_secs(10));
        assert_eq!(limit.allow(at(0)), Some(0));
        for ms in 1..=999 {
            assert_eq!(limit.allow(at(ms)), None);
        }
        assert_eq!(limit.allow(at(9_999)), None);
        assert_eq!(limit.allow(at(10_000)), Some(1000));
        assert_eq!(limit.allow(at(25_000)), Some(0));
    }

    #[test]
    fn a_clock_going_backwards_holds_lines_back_rather_than_letting_all_through() {
        let start = Instant::now() + Duration::from_secs(60);
        let mut limit = LogLimit::new(Duration::from_secs(10));
        assert_eq!(limit.allow(start), Some(0));
        assert_eq!(limit.allow(start - Duration::from_secs(30)), None);
        assert_eq!(limit.allow(start + Duration::from_secs(10)), Some(1));
    }
}
