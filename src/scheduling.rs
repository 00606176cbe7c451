//! Where output goes. Pure: destinations, selectors and earlier placements in, a
//! decision out.
//!
//! Resource output goes to ONE matching destination. Kratix picks it at random; we pick
//! it by rendezvous hashing (the highest sha256 of request, group and destination), so
//! the same inputs give the same choice on any machine and requests spread evenly.
//! A placement, once made, is kept: adding a destination never moves a running service.
//! Dependencies go to EVERY matching destination.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::model::{Destination, Labels, RequestKey, labels_match};

/// A part of one request's output that is placed as a whole: the output of one pipeline,
/// or one `directory` of it that a selector entry schedules on its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupId {
    /// The pipeline that produced it.
    pub(crate) pipeline: String,
    /// The top-level output folder, for a directory group.
    pub(crate) directory: Option<String>,
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.directory {
            Some(dir) => write!(f, "{}/{dir}", self.pipeline),
            None => f.write_str(&self.pipeline),
        }
    }
}

/// The outcome of placing one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Placed on a destination that matches (newly, or kept from before).
    Placed(String),
    /// Kept on the destination chosen before, which no longer matches the selectors.
    /// The output stays there; Kratix calls this misplaced.
    Misplaced(String),
    /// No destination matches; nothing is written for this group.
    Pending(String),
}

impl Placement {
    /// The destination written to, if any.
    #[cfg(test)]
    pub(crate) fn destination(&self) -> Option<&str> {
        match self {
            Placement::Placed(d) | Placement::Misplaced(d) => Some(d),
            Placement::Pending(_) => None,
        }
    }
}

/// Places one group of a request's output.
///
/// `selectors` are the group's merged labels; `previous` is the destination recorded in
/// the request's status, if any. An empty selector never lands on a destination with
/// `strictMatchLabels`.
pub(crate) fn place(
    destinations: &BTreeMap<String, Destination>,
    key: &RequestKey,
    group: &GroupId,
    selectors: &Labels,
    previous: Option<&str>,
) -> Placement {
    if let Some(dest) = previous.and_then(|name| destinations.get(name)) {
        return if accepts(dest, selectors) {
            Placement::Placed(dest.name.clone())
        } else {
            Placement::Misplaced(dest.name.clone())
        };
    }
    let seed = format!("{key}\0{group}\0");
    let best = destinations
        .values()
        .filter(|d| accepts(d, selectors))
        .max_by_key(|d| Sha256::digest(format!("{seed}{}", d.name).as_bytes()));
    match best {
        Some(dest) => Placement::Placed(dest.name.clone()),
        None if destinations.is_empty() => {
            Placement::Pending("no destinations are declared".into())
        }
        None => Placement::Pending(no_match(selectors)),
    }
}

/// Every destination that takes dependencies with these selectors, by name.
pub(crate) fn place_everywhere(
    destinations: &BTreeMap<String, Destination>,
    selectors: &Labels,
) -> Vec<String> {
    let matching = destinations.values().filter(|d| accepts(d, selectors));
    matching.map(|d| d.name.clone()).collect()
}

fn accepts(dest: &Destination, selectors: &Labels) -> bool {
    if selectors.is_empty() {
        return !dest.strict_match_labels;
    }
    labels_match(selectors, &dest.labels)
}

fn no_match(selectors: &Labels) -> String {
    if selectors.is_empty() {
        return "no destination takes output without selectors (all have strictMatchLabels)".into();
    }
    let labels: Vec<String> = selectors.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("no destination has the labels {}", labels.join(", "))
}

/// Merges selector labels; later sets win a conflict. Callers pass the pipeline's first
/// and the Promise's last, so the Promise wins, as in Kratix.
pub(crate) fn merge_selectors<'a>(sets: impl IntoIterator<Item = &'a Labels>) -> Labels {
    let mut merged = Labels::new();
    for set in sets {
        merged.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(name: &str, labels: &[(&str, &str)], strict: bool) -> (String, Destination) {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let destination = Destination {
            name: name.into(),
            path: format!("destinations/{name}.yaml"),
            labels: labels.collect(),
            folder: name.into(),
            strict_match_labels: strict,
            filepath: Default::default(),
        };
        (name.to_string(), destination)
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn key(name: &str) -> RequestKey {
        RequestKey::test("redis", "default", name)
    }

    fn group() -> GroupId {
        GroupId {
            pipeline: "configure".into(),
            directory: None,
        }
    }

    fn fleet() -> BTreeMap<String, Destination> {
        BTreeMap::from([
            dest("dev", &[("env", "dev")], false),
            dest("prod-eu", &[("env", "prod"), ("region", "eu")], false),
            dest("prod-us", &[("env", "prod"), ("region", "us")], false),
            dest("vault", &[("env", "prod")], true),
        ])
    }

    #[test]
    fn the_choice_is_deterministic_and_spreads() {
        let prod = labels(&[("env", "prod")]);
        let mut chosen = BTreeMap::new();
        for i in 0..40 {
            let name = format!("r{i}");
            let first = place(&fleet(), &key(&name), &group(), &prod, None);
            let again = place(&fleet(), &key(&name), &group(), &prod, None);
            assert_eq!(first, again);
            *chosen
                .entry(first.destination().unwrap().to_string())
                .or_insert(0) += 1;
        }
        assert_eq!(chosen.len(), 3, "{chosen:?}");
    }

    #[test]
    fn a_placement_is_kept_when_destinations_are_added() {
        let prod = labels(&[("env", "prod")]);
        let mut fleet = fleet();
        let first = place(&fleet, &key("a"), &group(), &prod, None);
        for i in 0..10 {
            let (name, d) = dest(&format!("prod-new-{i}"), &[("env", "prod")], false);
            fleet.insert(name, d);
        }
        let again = place(&fleet, &key("a"), &group(), &prod, first.destination());
        assert_eq!(first, again);
    }

    #[test]
    fn a_destination_that_stops_matching_keeps_the_output_and_says_so() {
        let placement = place(
            &fleet(),
            &key("a"),
            &group(),
            &labels(&[("env", "dev")]),
            Some("prod-eu"),
        );
        assert_eq!(placement, Placement::Misplaced("prod-eu".into()));
    }

    #[test]
    fn a_removed_destination_is_replaced() {
        let placement = place(
            &fleet(),
            &key("a"),
            &group(),
            &labels(&[("env", "dev")]),
            Some("gone"),
        );
        assert_eq!(placement, Placement::Placed("dev".into()));
    }

    #[test]
    fn strict_destinations_take_nothing_without_selectors() {
        let fleet = BTreeMap::from([dest("vault", &[("env", "prod")], true)]);
        let placement = place(&fleet, &key("a"), &group(), &Labels::new(), None);
        assert!(matches!(placement, Placement::Pending(_)));
        assert_eq!(
            place_everywhere(&fleet, &Labels::new()),
            Vec::<String>::new()
        );
        assert_eq!(
            place_everywhere(&fleet, &labels(&[("env", "prod")])),
            ["vault"]
        );
    }

    #[test]
    fn no_match_is_pending_with_the_reason() {
        let placement = place(
            &fleet(),
            &key("a"),
            &group(),
            &labels(&[("env", "qa")]),
            None,
        );
        assert_eq!(
            placement,
            Placement::Pending("no destination has the labels env=qa".into())
        );
    }

    #[test]
    fn dependencies_go_everywhere_that_matches() {
        let everywhere = place_everywhere(&fleet(), &labels(&[("env", "prod")]));
        assert_eq!(everywhere, ["prod-eu", "prod-us", "vault"]);
    }

    #[test]
    fn the_last_selector_set_wins_a_conflict() {
        let pipeline = labels(&[("env", "dev"), ("tier", "gold")]);
        let promise = labels(&[("env", "prod")]);
        let merged = merge_selectors([&pipeline, &promise]);
        assert_eq!(merged, labels(&[("env", "prod"), ("tier", "gold")]));
    }
}
