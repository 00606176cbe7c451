//! Which of several daemons on one branch does the work: the one that holds the lease,
//! a file in a commit that the ref `refs/promised/lease/<branch>` of the remote the
//! outputs go to points at. Every daemon can already push there; moving the ref is a
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

/// The file holding the lease, in the lease ref's commit.
pub const LEASE_FILE: &str = "lease.yaml";

/// The ref holding the lease of the daemons that follow `branch`.
pub fn lease_ref(branch: &str) -> String {
    format!("refs/promised/lease/{branch}")
}

/// The lease as the remote holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lease {
    /// Who holds it: a daemon's `--replica-id`.
    pub holder: String,
    /// When it was taken or last renewed.
    pub renewed: DateTime<Utc>,
    /// How long it holds after `renewed`, as the holder set it (`45s`).
    pub duration: String,
}

impl Lease {
    /// Reads the lease file; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{LEASE_FILE}: {e}"))?;
        serde_saphyr::from_str(text).map_err(|e| format!("{LEASE_FILE}: {e}"))
    }

    /// The lease file's bytes.
    pub fn render(&self) -> Vec<u8> {
        let body = serde_saphyr::to_string(self).expect("the lease serializes");
        format!("# Written by promised serve: which daemon does the work.\n{body}").into_bytes()
    }

    /// When it ends. One whose duration does not read has ended.
    pub fn ends(&self) -> DateTime<Utc> {
        let duration = humantime::parse_duration(&self.duration).ok();
        let duration = duration.and_then(|d| chrono::Duration::from_std(d).ok());
        duration
            .and_then(|d| self.renewed.checked_add_signed(d))
            .unwrap_or(self.renewed)
    }
}

/// What a daemon is, as the lease says at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It holds the lease, long enough to go on without renewing.
    Leader {
        /// When to renew it.
        renew_at: DateTime<Utc>,
    },
    /// It holds the lease but must renew it before working, or nobody holds it (none
    /// yet, or it ended): take it.
    Take,
    /// Another daemon holds it.
    Standby {
        /// Who.
        holder: String,
        /// Until when: then try to take it.
        until: DateTime<Utc>,
    },
}

/// This daemon's role at `now`: `me` is its id, `lease` what the remote holds, and
/// `duration` the lease duration it takes.
pub fn role(me: &str, lease: Option<&Lease>, duration: Duration, now: DateTime<Utc>) -> Role {
    let Some(lease) = lease else {
        return Role::Take;
    };
    let ends = lease.ends();
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
            role("a", Some(&lease("b", 0)), DURATION, at(45)),
            Role::Take
        );
    }

    #[test]
    fn another_holder_means_standing_by_until_it_ends() {
        let standby = role("a", Some(&lease("b", 0)), DURATION, at(44));
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
        let leader = role("a", held.as_ref(), DURATION, at(29));
        assert_eq!(leader, Role::Leader { renew_at: at(30) });
        assert_eq!(role("a", held.as_ref(), DURATION, at(30)), Role::Take);
    }

    #[test]
    fn a_lease_reads_back_and_a_bad_duration_has_ended() {
        let lease = lease("a", 0);
        let text = lease.render();
        assert_eq!(Lease::parse(&text).unwrap(), lease);
        let broken = Lease {
            duration: "forever".into(),
            ..lease
        };
        assert_eq!(broken.ends(), at(0));
        assert!(Lease::parse(b"holder: a\n").is_err());
    }
}
