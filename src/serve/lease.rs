//! Which of several daemons writing one branch does the work: the one that holds the
//! lease, a file in a commit that the ref `refs/promised/lease/<output branch>` of the
//! remote the outputs go to points at. Every daemon can already push there; moving the ref is a
//! compare-and-swap push, so two daemons never both take it.
//!
//! The holder renews it a third of its duration before it ends, and every push of
//! outputs moves it too, in the same atomic push: a daemon that lost the lease while a
//! pass ran (it stalled past the end, and another took over) has its push refused, so
//! only the holder ever writes. The others stand by and try to take it once it ends.
//!
//! Pure: the time is always passed in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest lease: a daemon that stops holds the others back at most this long.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// The file holding the lease, in the lease ref's commit.
pub(crate) const LEASE_FILE: &str = "lease.yaml";

/// The ref holding the lease of the daemons that write `branch` (their output branch).
pub(crate) fn lease_ref(branch: &str) -> String {
    format!("refs/promised/lease/{branch}")
}

/// A lease as read, with its version (the lease ref's commit, or a Kubernetes Lease's
/// `resourceVersion`); `Err` says why it does not read.
pub(crate) type Found = (String, Result<Lease, String>);

/// The lease as the remote holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Lease {
    /// Who holds it: a daemon's `--replica-id`.
    pub(crate) holder: String,
    /// When it was taken or last renewed.
    pub(crate) renewed: DateTime<Utc>,
    /// How long it holds after `renewed`, as the holder set it (`45s`).
    pub(crate) duration: String,
}

impl Lease {
    /// Reads the lease file; the error says what is wrong with it.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{LEASE_FILE}: {e}"))?;
        serde_saphyr::from_str(text).map_err(|e| format!("{LEASE_FILE}: {e}"))
    }

    /// The lease file's bytes.
    pub(crate) fn render(&self) -> Vec<u8> {
        let body = serde_saphyr::to_string(self).expect("the lease serializes");
        format!("# Written by promised serve: which daemon does the work.\n{body}").into_bytes()
    }

    /// When it ends, for a daemon that first saw this very lease (this commit of the
    /// ref) at `seen`: its duration after it was renewed, but never later than its
    /// duration after `seen`. So a holder whose clock runs ahead, or a lease written by
    /// hand with a `renewed` in 2126, holds the others back no longer than one duration
    /// after it last moved the ref. A duration that does not read, or is longer than
    /// [`MAX_DURATION`], has ended.
    pub(crate) fn ends(&self, seen: DateTime<Utc>) -> DateTime<Utc> {
        let duration = humantime::parse_duration(&self.duration)
            .ok()
            .filter(|d| *d <= MAX_DURATION)
            .and_then(|d| chrono::Duration::from_std(d).ok());
        let Some(duration) = duration else {
            return self.renewed.min(seen);
        };
        let ends = self
            .renewed
            .checked_add_signed(duration)
            .unwrap_or(self.renewed);
        ends.min(seen + duration)
    }
}

/// What a daemon is, as the lease says at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// It holds the lease, long enough to go on without renewing.
    Leader { renew_at: DateTime<Utc> },
    /// It holds the lease but must renew it before working, or nobody holds it (none
    /// yet, or it ended): take it.
    Take,
    /// Another daemon holds it.
    Standby {
        holder: String,
        /// Until when: then try to take it.
        until: DateTime<Utc>,
    },
}

/// This daemon's role at `now`: `me` is its id, `lease` what the remote holds with the
/// time this daemon first saw it, and `duration` the lease duration it takes.
pub(crate) fn role(
    me: &str,
    lease: Option<(&Lease, DateTime<Utc>)>,
    duration: Duration,
    now: DateTime<Utc>,
) -> Role {
    let Some((lease, seen)) = lease else {
        return Role::Take;
    };
    let ends = lease.ends(seen);
    if ends <= now {
        return Role::Take;
    }
    if lease.holder != me {
        return Role::Standby {
            holder: lease.holder.clone(),
            until: ends,
        };
    }
    let margin = chrono::Duration::from_std(duration / 3).unwrap_or(chrono::Duration::zero());
    let renew_at = ends - margin;
    match renew_at <= now {
        true => Role::Take,
        false => Role::Leader { renew_at },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn lease(holder: &str, renewed: i64) -> Lease {
        Lease {
            holder: holder.into(),
            renewed: at(renewed),
            duration: "45s".into(),
        }
    }

    const DURATION: Duration = Duration::from_secs(45);

    #[test]
    fn nobody_holds_it_or_it_ended_so_take_it() {
        assert_eq!(role("a", None, DURATION, at(0)), Role::Take);
        assert_eq!(
            role("a", Some((&lease("b", 0), at(0))), DURATION, at(45)),
            Role::Take
        );
    }

    #[test]
    fn another_holder_means_standing_by_until_it_ends() {
        let standby = role("a", Some((&lease("b", 0), at(0))), DURATION, at(44));
        assert_eq!(
            standby,
            Role::Standby {
                holder: "b".into(),
                until: at(45)
            }
        );
    }

    #[test]
    fn the_holder_renews_a_third_of_the_duration_before_the_end() {
        let held = Some(lease("a", 0));
        let leader = role("a", held.as_ref().map(|l| (l, at(0))), DURATION, at(29));
        assert_eq!(leader, Role::Leader { renew_at: at(30) });
        assert_eq!(
            role("a", held.as_ref().map(|l| (l, at(0))), DURATION, at(30)),
            Role::Take
        );
    }

    #[test]
    fn a_lease_that_does_not_move_ends_one_duration_after_it_was_first_seen() {
        let ahead = lease("b", 100_000_000);
        let standby = role("a", Some((&ahead, at(0))), DURATION, at(10));
        assert_eq!(
            standby,
            Role::Standby {
                holder: "b".into(),
                until: at(45)
            }
        );
        let still = role("a", Some((&ahead, at(0))), DURATION, at(45));
        assert_eq!(
            still,
            Role::Take,
            "renewed in the future, but not moved since"
        );
    }

    #[test]
    fn a_lease_reads_back_and_a_bad_duration_has_ended() {
        let lease = lease("a", 0);
        let text = lease.render();
        assert_eq!(Lease::parse(&text).unwrap(), lease);
        let broken = Lease {
            duration: "forever".into(),
            ..lease.clone()
        };
        assert_eq!(broken.ends(at(10)), at(0));
        let endless = Lease {
            duration: "1000years".into(),
            ..lease
        };
        assert_eq!(
            role("a", Some((&endless, at(0))), DURATION, at(1)),
            Role::Take
        );
        assert!(Lease::parse(b"holder: a\n").is_err());
    }
}
