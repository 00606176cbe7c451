//! Property tests of the parsers that read what developers and Promise authors commit:
//! request, Promise and Destination files, as `Platform::load` reads a commit. Whatever
//! the bytes, loading never panics, one file's problem is recorded against that file
//! only, and nothing that loads can name a path outside the layout.

use proptest::prelude::*;

use super::{Platform, SourceFile};

/// Strings a hostile developer would put where a name goes.
fn hostile_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("../../state".to_string()),
        Just(".git".to_string()),
        Just(".GIT".to_string()),
        Just("git~1".to_string()),
        Just(".git.".to_string()),
        Just(".git ".to_string()),
        Just(".g\u{200c}it".to_string()),
        Just("a/b".to_string()),
        Just("a\nb".to_string()),
        Just("a\0b".to_string()),
        Just("a".repeat(300)),
        "[a-z0-9.-]{1,20}",
        "\\PC{0,30}",
    ]
}

/// A name quoted as a YAML double-quoted scalar, escapes and all.
fn quoted(name: &str) -> String {
    serde_json::to_string(name).expect("strings serialise")
}

fn request_yaml(name: &str, namespace: &str, tail: &str) -> String {
    format!(
        "apiVersion: test.promised.dev/v1\nkind: App\nmetadata:\n  name: {}\n  namespace: {}\nspec: {tail}\n",
        quoted(name),
        quoted(namespace)
    )
}

fn promise_yaml(name: &str) -> String {
    format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\nmetadata:\n  name: {}\nspec: {{}}\n",
        quoted(name)
    )
}

fn destination_yaml(name: &str, path: &str) -> String {
    format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\nmetadata:\n  name: {}\n  labels: {{env: dev}}\nspec:\n  path: {}\n",
        quoted(name),
        quoted(path)
    )
}

/// Whether `segment` is one that git's fsck, and every filesystem a clone may land on,
/// accepts as a path component.
fn writable(segment: &str) -> bool {
    crate::path_segment::check(segment).is_ok()
}

/// Checks what a load may leave behind: names that become path segments are writable,
/// and every problem names one of the files handed over.
fn assert_contained(platform: &Platform, paths: &[&str]) {
    for promise in platform.promises.values() {
        assert!(
            writable(promise.name.as_str()),
            "Promise {:?} loaded",
            promise.name
        );
    }
    for destination in platform.destinations.values() {
        let folder = &destination.folder;
        assert!(
            writable(destination.name.as_str()) && folder.as_str().split('/').all(writable),
            "Destination {:?} (folder {folder:?}) loaded",
            destination.name
        );
    }
    for request in &platform.requests {
        let key = &request.key;
        for segment in [&key.promise, &key.namespace, &key.name] {
            assert!(
                writable(segment.as_str()),
                "request key {key} has {segment:?}"
            );
        }
        assert!(
            writable(&format!("{}.yaml", key.name)),
            "request key {key}: its status file name is too long"
        );
    }
    for problem in &platform.problems {
        assert!(paths.contains(&problem.path.as_str()), "{problem}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_in_any_input_file_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        which in 0usize..3,
    ) {
        let path = ["promises/x.yaml", "destinations/x.yaml", "requests/app/x.yaml"][which];
        let platform = Platform::load([SourceFile::test(path, bytes)]);
        assert_contained(&platform, &[path]);
    }

    #[test]
    fn hostile_request_names_never_become_unsafe_paths(
        name in hostile_name(),
        namespace in hostile_name(),
    ) {
        let path = "requests/app/x.yaml";
        let platform = Platform::load([SourceFile::test(path, request_yaml(&name, &namespace, "{}"))]);
        assert_contained(&platform, &[path]);
        prop_assert_eq!(platform.requests.len(), 1, "a request file always gets a key");
    }

    #[test]
    fn a_stream_of_hostile_documents_gives_each_request_a_safe_key_of_its_own(
        documents in proptest::collection::vec(
            prop_oneof![
                (hostile_name(), hostile_name()).prop_map(|(n, ns)| request_yaml(&n, &ns, "{}")),
                "\\PC{0,40}",
                Just("# only a comment\n".to_string()),
                Just("metadata: {name: [\n".to_string()),
            ],
            0..8,
        ),
    ) {
        let path = "requests/app/x.yaml";
        let text = documents.join("\n---\n");
        let platform = Platform::load([SourceFile::test(path, text.as_str())]);
        assert_contained(&platform, &[path]);
        prop_assert!(!platform.requests.is_empty(), "a request file always gets a key");
        prop_assert!(platform.requests.len() <= documents.len().max(1));
        for request in &platform.requests {
            let own = String::from_utf8_lossy(&request.bytes);
            prop_assert!(text.contains(&*own), "object.yaml is text of the file as written");
        }
    }

    #[test]
    fn hostile_promise_and_destination_names_never_load(
        name in hostile_name(),
        path in hostile_name(),
    ) {
        let files = [
            SourceFile::test("promises/p.yaml", promise_yaml(&name)),
            SourceFile::test("destinations/d.yaml", destination_yaml(&name, &path)),
        ];
        let platform = Platform::load(files);
        assert_contained(&platform, &["promises/p.yaml", "destinations/d.yaml"]);
    }

}

proptest! {
    // Each case parses documents near the nesting and alias limits: few cases suffice.
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn deeply_nested_and_aliased_requests_are_refused_without_panic(
        depth in 1usize..400,
        fan in 1usize..12,
    ) {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let mut bomb = String::from("x: &a0 [y]\n");
        for i in 1..8 {
            let refs = vec![format!("*a{}", i - 1); fan].join(", ");
            bomb.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
        }
        for tail in [nested, format!("\n{}", indent(&bomb))] {
            let path = "requests/app/x.yaml";
            let platform = Platform::load([SourceFile::test(path, request_yaml("a", "b", &tail))]);
            assert_contained(&platform, &[path]);
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}
