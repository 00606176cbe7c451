//! The daemon's files in Git: its saved state (see [`crate::serve::state`]), read back
//! on the first sync, and the commits of its refs before they are pushed.

use chrono::{DateTime, Utc};

use super::{Daemon, READ_REF, STATE_NEXT_REF};
use crate::git::{CommitRequest, GitError, Store};
use crate::serve::state::{DaemonState, STATE_FILE};
use crate::state::{Changes, Content};

impl Daemon {
    /// Reads the state the last daemon saved (`tip`, the commit of its ref as fetched):
    /// where the next pass starts from, when the schedule and each Promise's interval
    /// next fire. No state (a first start) or one that does not read reruns everything.
    pub(super) fn restore(&mut self, tip: Option<&str>, now: DateTime<Utc>) {
        let state = match tip.map(|tip| self.read_state(tip)).transpose() {
            Ok(state) => state.unwrap_or_default(),
            Err(why) => {
                tracing::warn!("the saved state does not read ({why}); rerunning everything");
                DaemonState::default()
            }
        };
        tracing::info!(input_commit = ?state.input_commit, full_pass = ?state.full_pass, "read the saved state");
        self.last_input_commit = state.input_commit.clone();
        let schedule = &self.config.schedule;
        if schedule.fired_since(state.full_pass, now) {
            if state.full_pass.is_some() {
                tracing::info!("the schedule fired while no daemon ran: full pass");
            }
            self.pending.all = true;
        } else {
            self.next_full_pass = state.full_pass.and_then(|at| schedule.next_after(at));
        }
        self.intervals.restore(state.interval_passes.clone());
        self.saved = Some(state);
    }

    pub(super) fn read_state(&self, tip: &str) -> Result<DaemonState, String> {
        DaemonState::parse(&self.read_file(tip, STATE_FILE)?)
    }

    /// The bytes of `file` in the commit `tip` (one of the daemon's refs).
    pub(super) fn read_file(&self, tip: &str, file: &str) -> Result<Vec<u8>, String> {
        self.git
            .set_ref(READ_REF, Some(tip))
            .map_err(|e| e.to_string())?;
        let store = self.store_at(READ_REF).map_err(|e| e.to_string())?;
        let snapshot = store.snapshot().map_err(|e| e.to_string())?;
        let files = store.read(&snapshot, &[file]).map_err(|e| e.to_string())?;
        let file = files
            .into_iter()
            .next()
            .ok_or_else(|| format!("{file} is missing"))?;
        Ok(file.bytes)
    }

    /// Commits `state` on top of the saved state's commit `tip`, for the push.
    pub(super) fn commit_state(
        &self,
        state: &DaemonState,
        tip: Option<&str>,
    ) -> Result<String, GitError> {
        let message = "promised serve: save what a restarted daemon needs\n";
        self.commit_file(STATE_NEXT_REF, tip, STATE_FILE, state.render(), message)
    }

    /// Commits `file` with `bytes` on top of `tip` on the local ref `scratch`, and
    /// returns the commit.
    pub(super) fn commit_file(
        &self,
        scratch: &str,
        tip: Option<&str>,
        file: &str,
        bytes: Vec<u8>,
        message: &str,
    ) -> Result<String, GitError> {
        self.git.set_ref(scratch, tip)?;
        let store = self.store_at(scratch)?;
        let base = store.snapshot()?;
        let changes = Changes {
            upserts: [(file.to_string(), Content::Bytes(bytes))].into(),
            removals: Default::default(),
        };
        let options = &self.config.options;
        store.commit(
            &base,
            &changes,
            &CommitRequest {
                name: &options.author_name,
                email: &options.author_email,
                message,
            },
        )
    }
}
