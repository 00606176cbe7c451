//! Names and label values for what a run creates. Promise, pipeline and request names
//! come from files anyone may change, and Kubernetes allows far fewer characters in an
//! object name (DNS-1123: lowercase letters, digits, `-`, at most 63 for a Pod) or a
//! label value (letters, digits, `-`, `_`, `.`, at most 63, starting and ending with
//! a letter or digit) than a path segment may hold. What does not fit becomes `-`,
//! and every cut is at a character boundary.

/// The longest Pod name (a DNS-1123 label: the Pod's hostname).
const MAX_POD_NAME: usize = 63;
const MAX_LABEL_VALUE: usize = 63;

/// `promised-<promise>-<request>-<hash>`: readable where the names allow it, at most
/// [`MAX_POD_NAME`] characters, with `hash` (8 hex characters) keeping it unique.
pub(crate) fn pod_name(promise: &str, request: &str, hash: &str) -> String {
    let parts = [
        String::from("promised"),
        dns_part(promise),
        dns_part(request),
    ];
    let parts: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    let readable = parts.join("-");
    let room = MAX_POD_NAME - hash.len() - 1;
    let cut = &readable[..readable.len().min(room)];
    format!("{}-{hash}", cut.trim_end_matches('-'))
}

/// `value` as a label value: characters a label may not hold become `-`, then it is
/// cut to [`MAX_LABEL_VALUE`] and trimmed to start and end with a letter or digit.
pub(crate) fn label_value(value: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mapped: String = value
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(MAX_LABEL_VALUE)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Whether the API server takes `value` as a label value (`IsValidLabelValue`): empty,
/// or at most [`MAX_LABEL_VALUE`] letters, digits, `-`, `_` and `.`, starting and
/// ending with a letter or digit.
pub(crate) fn is_label_value(value: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    value.is_empty()
        || (value.len() <= MAX_LABEL_VALUE
            && edge(value.chars().next())
            && edge(value.chars().last())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// `name` as part of a DNS-1123 label: lowercase letters and digits kept, every run of
/// anything else one `-`, none at either end. ASCII only, so any cut of it is valid.
fn dns_part(name: &str) -> String {
    let mut part = String::with_capacity(name.len());
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            part.push(c);
        } else if !part.ends_with('-') {
            part.push('-');
        }
    }
    part.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the API server checks of a Pod name (`IsDNS1123Label`).
    fn is_dns_label(name: &str) -> bool {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        name.len() <= 63
            && edge(name.chars().next())
            && edge(name.chars().last())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn names_a_promise_author_or_a_developer_may_choose_give_valid_names() {
        let long = "x".repeat(200);
        let accents = "é".repeat(40);
        let names = [
            "redis",
            "Redis_Cache",
            "ünïcødé-ßervice",
            "数据库",
            "a.b.c",
            "-leading-and-trailing-",
            long.as_str(),
            accents.as_str(),
        ];
        for promise in names {
            for request in names {
                let pod = pod_name(promise, request, "0123abcd");
                assert!(
                    is_dns_label(&pod),
                    "{pod:?} from {promise:?} and {request:?}"
                );
                assert!(pod.ends_with("-0123abcd"), "{pod}");
            }
            let value = label_value(promise);
            assert!(is_label_value(&value), "{value:?} from {promise:?}");
        }
        assert_eq!(
            pod_name("redis", "cache", "0123abcd"),
            "promised-redis-cache-0123abcd"
        );
        assert_eq!(pod_name("数据库", "a", "0123abcd"), "promised-a-0123abcd");
        assert_eq!(label_value("Redis_Cache.v1"), "Redis_Cache.v1");
        assert_eq!(label_value("ünï"), "n");
    }
}
