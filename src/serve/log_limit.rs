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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Every event is either logged or counted in the next logged line, and no more
        /// lines are logged than one per interval.
        #[test]
        fn every_event_is_logged_or_counted_and_lines_are_one_per_interval(
            gaps in proptest::collection::vec(0u64..5_000, 1..300),
        ) {
            let every = Duration::from_secs(10);
            let start = Instant::now();
            let mut limit = LogLimit::new(every);
            let (mut now, mut logged, mut counted) = (start, 0u64, 0u64);
            for gap in &gaps {
                now += Duration::from_millis(*gap);
                if let Some(suppressed) = limit.allow(now) {
                    logged += 1;
                    counted += suppressed;
                }
            }
            let held = limit.suppressed;
            proptest::prop_assert_eq!(logged + counted + held, gaps.len() as u64);
            let span = now.duration_since(start).as_secs() / 10;
            proptest::prop_assert!(logged <= span + 1);
        }
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
