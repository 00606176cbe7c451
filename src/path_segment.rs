//! Whether a string may be one folder or file name of a path that `promised` writes to
//! Git. Names come from request files, Promises, Destinations and pipeline images, any of
//! which may be hostile, and one bad tree entry is enough for a remote that checks
//! objects on push (`receive.fsckObjects`, as GitHub and GitLab do) to refuse every later
//! push. So every segment passes `check` before it becomes part of a path, and the
//! types that carry checked names ([`Segment`], `SegmentPath`) are what the writers of
//! paths take. Pure.
//!
//! The rules are git fsck's (no `.`, `..`, `/`, empty name, no `.git` in any case or in a
//! form HFS+ or NTFS reads as `.git`: `git~1`, `.git.`, `.git `, `.g\u{200c}it`), those
//! of `gix_validate::path::component` with every protection on (Windows device names and
//! characters too, so that a clone on any system checks out), and ours: no `\`, NUL or
//! other control character (a newline among them), at most 255 bytes (what Linux, macOS
//! and Windows file systems allow in one name), and no other name that Git itself reads
//! (`.gitmodules`, `.gitattributes`, `.gitignore`, and their NTFS short names).

use std::fmt;
use std::ops::Deref;

/// The longest name, in bytes, that common file systems hold in one path component.
pub(crate) const MAX_SEGMENT_BYTES: usize = 255;

/// Why a string cannot be one path segment. The message completes `"<name> ..."`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// The empty string.
    #[error("is empty")]
    Empty,
    /// `.` or `..`.
    #[error("is `.` or `..`, which name a folder itself or its parent")]
    Relative,
    /// A `/`.
    #[error("holds a `/`, which separates folders")]
    Slash,
    /// A `\`.
    #[error("holds a `\\`, which separates folders on Windows")]
    Backslash,
    /// A NUL byte.
    #[error("holds a NUL byte")]
    Nul,
    /// A control character such as a newline.
    #[error("holds the control character {0:?}")]
    Control(char),
    /// More than `MAX_SEGMENT_BYTES` bytes.
    #[error("is {0} bytes long; a file name may have at most 255")]
    TooLong(usize),
    /// `.git`, or a name some file system takes for it.
    #[error(
        "is `.git` or a name a file system takes for it (`.GIT`, `git~1`, `.git.`, `.git `), \
         where Git keeps its own data"
    )]
    DotGit,
    /// Another name Git reads itself: `.gitmodules`, `.gitattributes`, ..., or an NTFS
    /// short name of one.
    #[error(
        "starts with `.git` (or is an NTFS short name such as `gi7eba~1`); Git reads such \
         files itself"
    )]
    GitFile,
    /// `CON`, `NUL`, `AUX`, `COM1`, ...
    #[error("is a device name on Windows (`CON`, `NUL`, `AUX`, `COM1`, ...)")]
    WindowsDevice,
    /// `<>:"|?*`, or a trailing dot or space.
    #[error(
        "holds a character Windows forbids in file names (`<>:\"|?*`), or ends in `.` or a space"
    )]
    WindowsCharacter,
    /// Refused by git's rules for another reason.
    #[error("is refused by Git's rules for names: {0}")]
    Git(String),
}

/// Checks that `name` is safe as one path segment that `promised` writes to Git.
pub(crate) fn check(name: &str) -> Result<(), SegmentError> {
    if name.is_empty() {
        return Err(SegmentError::Empty);
    }
    if name == "." || name == ".." {
        return Err(SegmentError::Relative);
    }
    if name.contains('/') {
        return Err(SegmentError::Slash);
    }
    if name.contains('\\') {
        return Err(SegmentError::Backslash);
    }
    if name.contains('\0') {
        return Err(SegmentError::Nul);
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(SegmentError::Control(c));
    }
    if name.len() > MAX_SEGMENT_BYTES {
        return Err(SegmentError::TooLong(name.len()));
    }
    use gix_validate::path::component::Error;
    match gix_validate::path::component(name.as_bytes().into(), None, Default::default()) {
        Ok(_) => {}
        Err(Error::DotGitDir) => return Err(SegmentError::DotGit),
        Err(Error::WindowsReservedName) => return Err(SegmentError::WindowsDevice),
        Err(Error::WindowsIllegalCharacter | Error::WindowsPathPrefix) => {
            return Err(SegmentError::WindowsCharacter);
        }
        Err(other) => {
            return Err(SegmentError::Git(other.to_string()));
        }
    }
    if is_git_file(name) {
        return Err(SegmentError::GitFile);
    }
    Ok(())
}

/// Whether `name` is one Git reads itself (`.gitmodules`, `.gitattributes`, ...) once
/// the code points HFS+ ignores are dropped and case is folded, or an NTFS short name
/// such a name may have (`git~N`, or `gi` and four hex digits then `~N`).
fn is_git_file(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| !is_hfs_ignorable(*c))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if folded.starts_with(".git") || folded.starts_with("git~") {
        return true;
    }
    let bytes = folded.as_bytes();
    bytes.len() >= 8
        && bytes.starts_with(b"gi")
        && bytes[2..6].iter().all(u8::is_ascii_hexdigit)
        && bytes[6] == b'~'
        && bytes[7].is_ascii_digit()
}

/// The code points case-insensitive HFS+ skips when it compares names (as git's
/// `is_hfs_dotgit` does).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(c as u32, 0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// A string that passed `check`: one path segment that is safe to write.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment(String);

impl Segment {
    /// Checks `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, SegmentError> {
        let name = name.into();
        check(&name)?;
        Ok(Segment(name))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Segment {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// As the name itself: messages quote names with `{:?}`.
impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Segment {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Segment {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// For tests, which name their fixtures with literals. Panics on a name [`check`]
/// refuses.
#[cfg(test)]
impl From<&str> for Segment {
    fn from(name: &str) -> Self {
        Segment::new(name).expect("a test fixture's name is a safe segment")
    }
}

#[cfg(test)]
impl From<String> for Segment {
    fn from(name: String) -> Self {
        Segment::from(name.as_str())
    }
}

/// One or more [`Segment`]s joined by `/`: a relative folder path that is safe to write,
/// such as a destination's folder under `state/`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SegmentPath(String);

/// Why a string cannot be a [`SegmentPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("folder {segment:?} {error}")]
pub(crate) struct SegmentPathError {
    /// The segment that failed, as written.
    pub(crate) segment: String,
    pub(crate) error: SegmentError,
}

impl SegmentPath {
    /// Checks every `/`-separated segment of `path`.
    pub(crate) fn new(path: impl Into<String>) -> Result<Self, SegmentPathError> {
        let path = path.into();
        for segment in path.split('/') {
            check(segment).map_err(|error| SegmentPathError {
                segment: segment.to_string(),
                error,
            })?;
        }
        Ok(SegmentPath(path))
    }

    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SegmentPath {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// As the name itself: messages quote names with `{:?}`.
impl fmt::Debug for SegmentPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SegmentPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// For tests, as for [`Segment`].
#[cfg(test)]
impl From<&str> for SegmentPath {
    fn from(path: &str) -> Self {
        SegmentPath::new(path).expect("a test fixture's path is safe")
    }
}

/// `path` as a file system that ignores case and Unicode form sees it (macOS, Windows):
/// two paths with the same folded form are one file on such a clone, though Git and
/// Linux keep them apart.
pub(crate) fn folded(path: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    path.nfc().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn each_rule_says_what_failed() {
        let cases = [
            ("", SegmentError::Empty),
            (".", SegmentError::Relative),
            ("..", SegmentError::Relative),
            ("../x", SegmentError::Slash),
            ("a\\b", SegmentError::Backslash),
            ("a\0b", SegmentError::Nul),
            ("a\nb", SegmentError::Control('\n')),
            (".git", SegmentError::DotGit),
            (".Git", SegmentError::DotGit),
            ("git~1", SegmentError::DotGit),
            (".git.", SegmentError::DotGit),
            (".git ", SegmentError::DotGit),
            (".g\u{200c}it", SegmentError::DotGit),
            (".gitmodules", SegmentError::GitFile),
            (".GitAttributes", SegmentError::GitFile),
            ("gi7eba~1", SegmentError::GitFile),
            ("git~2", SegmentError::GitFile),
            ("CON", SegmentError::WindowsDevice),
            ("aux.yaml", SegmentError::WindowsDevice),
            ("a:b", SegmentError::WindowsCharacter),
            ("a.", SegmentError::WindowsCharacter),
        ];
        for (name, expected) in cases {
            assert_eq!(check(name), Err(expected), "{name:?}");
        }
        let long = "a".repeat(256);
        assert_eq!(check(&long), Err(SegmentError::TooLong(256)));
        assert_eq!(check(&"a".repeat(255)), Ok(()));
        for good in [
            "team-a",
            "cache.yaml",
            "Deployment_x",
            "git",
            "x.git",
            "..a",
            "é",
        ] {
            assert_eq!(check(good), Ok(()), "{good:?}");
        }
        assert_eq!(check(".github"), Err(SegmentError::GitFile));
    }

    #[test]
    fn a_path_names_the_segment_that_failed() {
        assert_eq!(
            SegmentPath::new("clusters/dev").unwrap().as_str(),
            "clusters/dev"
        );
        let err = SegmentPath::new(".git/hooks").unwrap_err();
        assert_eq!(err.segment, ".git");
        assert_eq!(err.error, SegmentError::DotGit);
        assert!(SegmentPath::new("a//b").is_err());
        assert!(SegmentPath::new("/a").is_err());
        assert!(SegmentPath::new("a/..").is_err());
    }

    /// What git fsck, and a checkout on any system, needs of an accepted name.
    fn fsck_would_accept(name: &str) {
        assert!(name != "." && name != ".." && !name.is_empty());
        assert!(!name.contains(['/', '\\', '\0']) && !name.chars().any(char::is_control));
        assert!(name.len() <= MAX_SEGMENT_BYTES);
        let trimmed = name.trim_end_matches(['.', ' ']).to_ascii_lowercase();
        assert_ne!(trimmed, ".git");
        assert!(!trimmed.starts_with("git~"));
        let options = Default::default();
        assert!(gix_validate::path::component(name.as_bytes().into(), None, options).is_ok());
    }

    /// `.git` in a random case, with HFS+ ignorable code points put in and NTFS's
    /// trailing dots and spaces added.
    fn dot_git_alias() -> impl Strategy<Value = String> {
        let letters = (
            prop::bool::ANY,
            prop::bool::ANY,
            prop::bool::ANY,
            prop::option::of(prop::sample::select(vec![
                '\u{200c}', '\u{200d}', '\u{feff}',
            ])),
            "[. ]{0,3}",
        );
        letters.prop_map(|(g, i, t, ignorable, tail)| {
            let case = |c: char, upper: bool| if upper { c.to_ascii_uppercase() } else { c };
            let mut name = format!(".{}{}", case('g', g), case('i', i));
            name.extend(ignorable);
            name.push(case('t', t));
            name + &tail
        })
    }

    /// Whether `git fsck --strict` accepts a commit whose tree holds an empty file under
    /// each of `names`: the baseline the rules above are checked against.
    fn git_fsck_accepts(names: &BTreeSet<String>) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str], input: &[u8]| {
            let mut child = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@t")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@t")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            let out = child.wait_with_output().unwrap();
            (out.status.success(), String::from_utf8(out.stdout).unwrap())
        };
        git(&["init", "-q", "--bare", "."], b"");
        let (_, blob) = git(&["hash-object", "-w", "--stdin"], b"");
        let mut entries = Vec::new();
        for name in names {
            entries.extend_from_slice(format!("100644 blob {}\t{name}\0", blob.trim()).as_bytes());
        }
        let (_, tree) = git(&["mktree", "-z"], &entries);
        let (_, commit) = git(&["commit-tree", tree.trim(), "-m", "x"], b"");
        git(&["update-ref", "refs/heads/main", commit.trim()], b"");
        git(&["fsck", "--strict", "--no-dangling"], b"").0
    }

    #[test]
    fn git_fsck_refuses_the_names_that_are_refused_here() {
        for name in [".git", ".Git", "git~1", ".git.", ".git ", ".."] {
            assert!(check(name).is_err());
            let names = BTreeSet::from(["ok.yaml".to_string(), name.to_string()]);
            assert!(!git_fsck_accepts(&names), "git fsck took {name:?}");
        }
        assert!(git_fsck_accepts(&BTreeSet::from(["ok.yaml".to_string()])));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        #[test]
        fn a_tree_of_accepted_names_passes_git_fsck(
            names in prop::collection::btree_set("\\PC{1,12}|[ -~]{1,255}", 1..24)
        ) {
            let accepted: BTreeSet<String> =
                names.into_iter().filter(|n| check(n).is_ok()).collect();
            prop_assume!(!accepted.is_empty());
            prop_assert!(git_fsck_accepts(&accepted), "{:?}", accepted);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_accepted_name_is_one_git_accepts(name in "\\PC{0,40}|[ -~]{0,300}") {
            if check(&name).is_ok() {
                fsck_would_accept(&name);
            }
        }

        #[test]
        fn dot_git_and_its_aliases_are_always_refused(name in dot_git_alias()) {
            prop_assert!(check(&name).is_err(), "{:?}", name);
        }

        #[test]
        fn short_names_of_dot_git_are_always_refused(n in 1u8..10, tail in "[. ]{0,2}") {
            let name = format!("GIT~{n}{tail}");
            prop_assert!(check(&name).is_err(), "{:?}", name);
            prop_assert!(check(&name.to_lowercase()).is_err());
        }

        #[test]
        fn separators_and_control_characters_are_always_refused(
            before in "[a-z]{0,8}",
            bad in prop::sample::select(vec!['/', '\\', '\0', '\n', '\r', '\t', '\u{7f}']),
            after in "[a-z]{0,8}",
        ) {
            let name = format!("{before}{bad}{after}");
            prop_assert!(check(&name).is_err(), "{:?}", name);
        }

        #[test]
        fn names_longer_than_255_bytes_are_always_refused(name in "[a-zé]{128,200}") {
            let name = name.repeat(2);
            prop_assert_eq!(check(&name), Err(SegmentError::TooLong(name.len())));
        }
    }
}
