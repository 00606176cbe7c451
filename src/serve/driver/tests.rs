//! The loop on tokio's paused clock: a scripted [`Work`] records when each sync ran,
//! so backoff, wake-ups, due times and stops are checked to the second without sleeping.

use std::collections::VecDeque;

use super::*;

const POLL: Duration = Duration::from_secs(60);

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_start_or_a_wake_up_syncs_at_once() {
    let mut pacing = Pacing::new(POLL);
    assert_eq!(pacing.step(Event::Started, false, at(0)), Action::Sync);
    assert_eq!(pacing.step(Event::Woke, false, at(5)), Action::Sync);
}

#[test]
fn after_a_sync_the_loop_sleeps_until_the_next_due_time_at_most_a_poll() {
    let mut pacing = Pacing::new(POLL);
    let synced = |next_due| Event::Synced { ok: true, next_due };
    assert_eq!(pacing.step(synced(None), false, at(0)), Action::Sleep(POLL));
    assert_eq!(
        pacing.step(synced(Some(at(7))), false, at(0)),
        Action::Sleep(secs(7))
    );
    assert_eq!(
        pacing.step(synced(Some(at(600))), false, at(0)),
        Action::Sleep(POLL)
    );
    // Overdue: at once.
    assert_eq!(
        pacing.step(synced(Some(at(-3))), false, at(0)),
        Action::Sleep(secs(0))
    );
}

#[test]
fn failed_syncs_in_a_row_back_off_whatever_is_due_and_a_success_ends_it() {
    let mut pacing = Pacing::new(secs(10));
    let failed = Event::Synced {
        ok: false,
        next_due: Some(at(0)),
    };
    let sleeps: Vec<Action> = (0..6).map(|_| pacing.step(failed, false, at(0))).collect();
    let expected = [1, 2, 4, 8, 10, 10].map(|n| Action::Sleep(secs(n)));
    assert_eq!(sleeps, expected, "1 s, 2 s, 4 s …, at most a poll");
    let ok = Event::Synced {
        ok: true,
        next_due: Some(at(0)),
    };
    assert_eq!(pacing.step(ok, false, at(0)), Action::Sleep(secs(0)));
    assert_eq!(pacing.step(failed, false, at(0)), Action::Sleep(secs(1)));
}

#[test]
fn a_stop_wins_over_whatever_is_due() {
    let mut pacing = Pacing::new(POLL);
    for event in [
        Event::Started,
        Event::Woke,
        Event::Synced {
            ok: true,
            next_due: Some(at(0)),
        },
    ] {
        assert_eq!(pacing.step(event, true, at(0)), Action::Stop);
    }
}

/// A [`Work`] that plays `script` (one result per sync), says `due_every` is next due
/// after each, and records when each sync ran and what it was asked.
struct Scripted {
    script: VecDeque<Result<(), &'static str>>,
    due_every: Option<Duration>,
    clock: Clock,
    /// Set when the script runs out: the loop then stops after that sync.
    stop: Arc<AtomicBool>,
    syncs: Vec<Duration>,
    asked: Vec<(Duration, Scope)>,
    released: Vec<Duration>,
    last: DateTime<Utc>,
}

/// Tokio's clock (paused in these tests) as a UTC time.
#[derive(Clone, Copy)]
struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn now(&self) -> DateTime<Utc> {
        at(0) + chrono::Duration::from_std(self.elapsed()).unwrap()
    }
}

impl Work for Scripted {
    fn queue(&mut self, asked: Scope, _now: DateTime<Utc>) {
        if !asked.is_empty() {
            self.asked.push((self.clock.elapsed(), asked));
        }
    }

    fn sync(&mut self, now: DateTime<Utc>) -> Result<Synced, SyncError> {
        self.syncs.push(self.clock.elapsed());
        self.last = now;
        let result = self.script.pop_front().unwrap_or(Ok(()));
        if self.script.is_empty() {
            self.stop.store(true, Ordering::Relaxed);
        }
        result
            .map(|()| Synced::Idle)
            .map_err(|e| SyncError::Lease(e.into()))
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due_every
            .map(|every| self.last + chrono::Duration::from_std(every).unwrap())
    }

    fn release(&mut self) {
        self.released.push(self.clock.elapsed());
    }
}

fn setup(script: Vec<Result<(), &'static str>>) -> (Scripted, Shared, Clock) {
    let clock = Clock {
        start: tokio::time::Instant::now(),
    };
    let shared = Shared {
        wake: Arc::new(Notify::new()),
        stop: Arc::new(AtomicBool::new(false)),
        requested: Arc::default(),
        ready: Arc::default(),
        standby: Arc::default(),
        metrics: Arc::default(),
    };
    let work = Scripted {
        script: script.into(),
        due_every: None,
        clock,
        stop: shared.stop.clone(),
        syncs: Vec::new(),
        asked: Vec::new(),
        released: Vec::new(),
        last: clock.now(),
    };
    (work, shared, clock)
}

#[tokio::test(start_paused = true)]
async fn failed_syncs_back_off_whatever_is_due_until_one_succeeds() {
    let script = [Err("unreachable"); 3].into_iter().chain([Ok(()); 2]);
    let (mut work, shared, clock) = setup(script.collect());
    // Something is always due at once (a retry, say): only the backoff spaces the syncs.
    work.due_every = Some(secs(0));
    let work = drive(work, Pacing::new(POLL), &shared, || clock.now())
        .await
        .unwrap();
    assert_eq!(work.syncs, [0, 1, 3, 7, 7].map(secs));
    assert_eq!(shared.metrics.sync_errors.get(), 3);
    assert!(
        shared.ready.load(Ordering::Relaxed),
        "ready after a success"
    );
    assert_eq!(work.released, [secs(7)], "released once, when stopped");
}

#[tokio::test(start_paused = true)]
async fn a_due_time_nearer_than_the_poll_wakes_the_loop_at_it() {
    let (mut work, shared, clock) = setup(vec![Ok(()); 4]);
    work.due_every = Some(secs(7));
    let work = drive(work, Pacing::new(POLL), &shared, || clock.now())
        .await
        .unwrap();
    assert_eq!(work.syncs, [0, 7, 14, 21].map(secs));
}

#[tokio::test(start_paused = true)]
async fn a_wake_up_runs_a_sync_at_once_with_what_was_asked() {
    let (work, shared, clock) = setup(vec![Ok(()); 3]);
    let asked = Scope {
        all: true,
        ..Scope::default()
    };
    let (wake, requested) = (shared.wake.clone(), shared.requested.clone());
    let call = asked.clone();
    tokio::spawn(async move {
        tokio::time::sleep(secs(5)).await;
        *requested.lock().unwrap() = call;
        wake.notify_one();
    });
    let work = drive(work, Pacing::new(POLL), &shared, || clock.now())
        .await
        .unwrap();
    assert_eq!(work.syncs, [0, 5, 65].map(secs));
    assert_eq!(work.asked, [(secs(5), asked)]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_asleep_releases_without_another_sync() {
    let (work, shared, clock) = setup(vec![Ok(()); 10]);
    let (wake, stop) = (shared.wake.clone(), shared.stop.clone());
    tokio::spawn(async move {
        tokio::time::sleep(secs(10)).await;
        stop.store(true, Ordering::Relaxed);
        wake.notify_one();
    });
    let work = drive(work, Pacing::new(POLL), &shared, || clock.now())
        .await
        .unwrap();
    assert_eq!(work.syncs, [secs(0)]);
    assert_eq!(work.released, [secs(10)]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_sync_lets_it_finish_then_releases() {
    // The script's only sync sets the stop, as a SIGTERM arriving meanwhile would.
    let (work, shared, clock) = setup(vec![Ok(())]);
    let work = drive(work, Pacing::new(POLL), &shared, || clock.now())
        .await
        .unwrap();
    assert_eq!(work.syncs, [secs(0)]);
    assert_eq!(work.released, [secs(0)]);
}
