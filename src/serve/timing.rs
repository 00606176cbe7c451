//! When the daemon wakes up: the cron schedule, per-Promise intervals, and retry backoff.
//! Pure: the current time is always passed in.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;

use crate::model::RequestKey;
use crate::serve::state::SavedRetry;

/// The default schedule, close to Kratix's 10-hour interval: at 00:00, 10:00 and 20:00
/// UTC (cron cannot say "every 10 hours" exactly; the last gap of a day is 4 hours).
pub(crate) const DEFAULT_SCHEDULE: &str = "0 */10 * * *";

/// A cron schedule of full passes. Five fields (minutes) or six (seconds first), and
/// `@hourly`-style nicknames.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    cron: Cron,
    text: String,
}

impl Schedule {
    /// Parses a cron expression; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let cron = Cron::from_str(text).map_err(|e| format!("schedule {text:?}: {e}"))?;
        Ok(Schedule {
            cron,
            text: text.to_string(),
        })
    }

    /// The first time after `now` the schedule fires.
    pub(crate) fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }

    /// Whether the schedule fired after `last` and by `now`: a full pass that a
    /// restarted daemon owes. With no last full pass, one is owed.
    pub(crate) fn fired_since(&self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        last.is_none_or(|last| self.next_after(last).is_some_and(|at| at <= now))
    }

    /// The expression as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

/// Exponential backoff: `base`, `2 * base`, `4 * base`, ... up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The first delay.
    pub(crate) base: Duration,
    /// The longest delay.
    pub(crate) max: Duration,
}

impl Backoff {
    /// The delay before attempt `attempt` (0 for the first retry).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(30));
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Requests (or Promises, by name) whose workflows failed, and when each is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retries<K = RequestKey> {
    due: BTreeMap<K, (u32, DateTime<Utc>)>,
}

impl<K> Default for Retries<K> {
    fn default() -> Self {
        Retries {
            due: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Retries<K> {
    /// Records that `key` failed at `now`; its next retry waits longer each time.
    pub(crate) fn failed(&mut self, key: K, now: DateTime<Utc>, backoff: Backoff) {
        let attempt = self.due.get(&key).map_or(0, |(n, _)| n + 1);
        self.due
            .insert(key, (attempt, later(now, backoff.delay(attempt))));
    }

    /// Records that `key` asked to run again `after` from `now` (a pipeline's
    /// `workflow-control.yaml` `retryAfter`), but not sooner than `floor`: a pipeline
    /// that asks for `0s` would otherwise have the daemon rerun it back to back.
    pub(crate) fn after(&mut self, key: K, now: DateTime<Utc>, after: Duration, floor: Duration) {
        self.due.insert(key, (0, later(now, after.max(floor))));
    }

    /// Takes back the retry of a failure a previous daemon saved: the same step of the
    /// backoff, due when it was, or sooner if `backoff` (the options of this daemon)
    /// gives that step a shorter delay from `now`.
    pub(crate) fn resume_failed(
        &mut self,
        key: K,
        saved: SavedRetry,
        now: DateTime<Utc>,
        backoff: Backoff,
    ) {
        let due = saved.due.min(later(now, backoff.delay(saved.attempt)));
        self.due.insert(key, (saved.attempt, due));
    }

    /// Takes back a `retryAfter` a previous daemon saved: due when it was, and never
    /// later than `after` (at least `floor`) from `now`.
    pub(crate) fn resume_after(
        &mut self,
        key: K,
        saved: SavedRetry,
        now: DateTime<Utc>,
        after: Duration,
        floor: Duration,
    ) {
        let due = saved.due.min(later(now, after.max(floor)));
        self.due.insert(key, (0, due));
    }

    /// Every retry, for the saved state, keyed as `name` gives each key.
    pub(crate) fn saved(&self, name: impl Fn(&K) -> String) -> BTreeMap<String, SavedRetry> {
        let saved = self.due.iter().map(|(key, (attempt, due))| {
            let retry = SavedRetry {
                attempt: *attempt,
                due: *due,
            };
            (name(key), retry)
        });
        saved.collect()
    }

    /// Forgets `key`: it succeeded, or is gone.
    pub(crate) fn succeeded(&mut self, key: &K) {
        self.due.remove(key);
    }

    /// The requests due at `now`.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> Vec<K> {
        let due = self.due.iter().filter(|(_, (_, at))| *at <= now);
        due.map(|(key, _)| key.clone()).collect()
    }

    /// The earliest retry time.
    pub(crate) fn next(&self) -> Option<DateTime<Utc>> {
        self.due.values().map(|(_, at)| *at).min()
    }

    /// How many requests wait for a retry.
    pub(crate) fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether none does.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

/// `delay` after `now`, or the last time there is when that is past it: a duration
/// comes from a pipeline's `retryAfter` (`1000000y` parses) or a Promise's interval,
/// and adding past chrono's range would panic the daemon.
fn later(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Promises with their own rerun interval, and when each last reran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Intervals {
    runs: BTreeMap<String, (Duration, DateTime<Utc>)>,
    /// Last runs read back after a restart, used once each Promise's interval is known.
    restored: BTreeMap<String, DateTime<Utc>>,
}

impl Intervals {
    /// Takes the last runs a previous daemon saved: a Promise's interval counts from
    /// there, not from the restart, once the next pass says what the interval is.
    pub(crate) fn restore(&mut self, last_runs: BTreeMap<String, DateTime<Utc>>) {
        self.restored = last_runs;
    }

    /// Takes the intervals of the latest pass: new ones start counting at `now` (or at
    /// the restored last run), changed ones restart, removed ones are dropped.
    pub(crate) fn update(&mut self, intervals: &BTreeMap<String, Duration>, now: DateTime<Utc>) {
        self.runs
            .retain(|name, (interval, _)| intervals.get(name) == Some(interval));
        for (name, interval) in intervals {
            let since = self.restored.remove(name).unwrap_or(now);
            self.runs
                .entry(name.clone())
                .or_insert_with(|| (*interval, since.min(now)));
        }
    }

    /// The Promises due at `now`; each counts its next interval from `now`.
    pub(crate) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let mut due = Vec::new();
        for (name, (interval, last)) in &mut self.runs {
            if later(*last, *interval) <= now {
                due.push(name.clone());
                *last = now;
            }
        }
        due
    }

    /// The earliest time a Promise is due.
    pub(crate) fn next(&self) -> Option<DateTime<Utc>> {
        let next = self
            .runs
            .values()
            .map(|(interval, last)| later(*last, *interval));
        next.min()
    }

    /// When each Promise's interval last ran (or started counting): what a restart
    /// needs.
    pub(crate) fn last_runs(&self) -> BTreeMap<String, DateTime<Utc>> {
        let runs = self
            .runs
            .iter()
            .map(|(name, (_, last))| (name.clone(), *last));
        runs.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn key(name: &str) -> RequestKey {
        RequestKey::test("app", "default", name)
    }

    #[test]
    fn five_and_six_field_schedules_parse() {
        let every_ten_hours = Schedule::parse(DEFAULT_SCHEDULE).unwrap();
        let next = every_ten_hours.next_after(at(0)).unwrap();
        assert!(next > at(0) && next <= at(10 * 3600));
        let every_second = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(every_second.next_after(at(0)), Some(at(1)));
        assert!(Schedule::parse("@hourly").is_ok());
        let err = Schedule::parse("every day").unwrap_err();
        assert!(err.starts_with("schedule \"every day\":"), "{err}");
    }

    #[test]
    fn a_restart_owes_a_full_pass_only_when_the_schedule_fired_since_the_last() {
        let hourly = Schedule::parse("@hourly").unwrap();
        let top = at(0) - chrono::Duration::seconds(at(0).timestamp() % 3600);
        assert!(!hourly.fired_since(Some(top), top + chrono::Duration::minutes(59)));
        assert!(hourly.fired_since(Some(top), top + chrono::Duration::minutes(60)));
        assert!(hourly.fired_since(None, top));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (0..5).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 60, 60]);
    }

    #[test]
    fn a_retry_after_comes_due_when_the_pipeline_asked() {
        let mut retries = Retries::default();
        retries.after(key("a"), at(0), Duration::from_secs(30), Duration::ZERO);
        assert!(retries.due(at(29)).is_empty());
        assert_eq!(retries.due(at(30)), [key("a")]);
        assert_eq!(retries.next(), Some(at(30)));
    }

    #[test]
    fn a_retry_after_of_zero_waits_the_floor_and_not_at_all_is_never() {
        let mut retries = Retries::default();
        retries.after(key("now"), at(0), Duration::ZERO, Duration::from_secs(10));
        assert!(retries.due(at(0)).is_empty());
        assert_eq!(retries.due(at(10)), [key("now")]);
        // `retryAfter: 1000000y` parses; the daemon must not panic adding it.
        let million_years = Duration::from_secs(1_000_000 * 366 * 24 * 3600);
        retries.after(key("late"), at(0), million_years, Duration::ZERO);
        retries.after(key("max"), at(0), Duration::MAX, Duration::ZERO);
        assert_eq!(retries.due(at(10)), [key("now")]);
        let mut intervals = Intervals::default();
        intervals.update(&BTreeMap::from([("app".to_string(), Duration::MAX)]), at(0));
        assert_eq!(intervals.next(), Some(DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn failed_requests_come_due_later_each_time() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
        };
        let mut retries = Retries::default();
        retries.failed(key("a"), at(0), backoff);
        assert!(retries.due(at(9)).is_empty());
        assert_eq!(retries.due(at(10)), [key("a")]);
        retries.failed(key("a"), at(10), backoff);
        assert_eq!(retries.next(), Some(at(30)));
        retries.succeeded(&key("a"));
        assert!(retries.is_empty());
    }

    #[test]
    fn promise_intervals_come_due_and_move_on() {
        let mut intervals = Intervals::default();
        let one_minute = BTreeMap::from([("app".to_string(), Duration::from_secs(60))]);
        intervals.update(&one_minute, at(0));
        assert!(intervals.take_due(at(59)).is_empty());
        assert_eq!(intervals.take_due(at(60)), ["app"]);
        assert_eq!(intervals.next(), Some(at(120)));
        intervals.update(&BTreeMap::new(), at(61));
        assert_eq!(intervals.next(), None);
    }

    #[test]
    fn a_restored_interval_counts_from_its_last_run_not_from_the_restart() {
        let one_minute = BTreeMap::from([("app".to_string(), Duration::from_secs(60))]);
        let mut intervals = Intervals::default();
        intervals.update(&one_minute, at(0));
        assert_eq!(intervals.take_due(at(60)), ["app"]);
        let saved = intervals.last_runs();

        let mut restarted = Intervals::default();
        restarted.restore(saved);
        restarted.update(&one_minute, at(100));
        assert_eq!(restarted.next(), Some(at(120)));
        let mut fresh = Intervals::default();
        fresh.update(&one_minute, at(100));
        assert_eq!(fresh.next(), Some(at(160)));
    }
}
