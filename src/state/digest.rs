//! Content hashes of written units. A unit (one request's output on one destination, or
//! one Promise's dependencies on one destination) is a folder of files plus a
//! `SHA256SUMS` file listing each file's sha256; the unit's digest is the sha256 of that
//! list. Same files, same digest, on any machine.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The `SHA256SUMS` text for files keyed by path relative to the unit's folder, in the
/// format `sha256sum -c` reads (`<hex>  <path>`), sorted by path.
pub(crate) fn sums_file(files: &BTreeMap<String, Vec<u8>>) -> String {
    let lines = files
        .iter()
        .map(|(path, bytes)| format!("{}  {path}\n", hex::encode(Sha256::digest(bytes))));
    lines.collect()
}

/// The digest of a unit: the sha256 of its `SHA256SUMS` text.
pub(crate) fn unit_digest(sums: &str) -> String {
    sha256(sums.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_sorted_and_in_sha256sum_format() {
        let files = BTreeMap::from([
            ("b.yaml".to_string(), b"b".to_vec()),
            ("a.yaml".to_string(), b"".to_vec()),
        ]);
        assert_eq!(
            sums_file(&files),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.yaml\n\
             3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  b.yaml\n"
        );
    }

    #[test]
    fn the_digest_changes_with_any_file() {
        let mut files = BTreeMap::from([("a.yaml".to_string(), b"x".to_vec())]);
        let before = unit_digest(&sums_file(&files));
        files.insert("a.yaml".into(), b"y".to_vec());
        assert_ne!(before, unit_digest(&sums_file(&files)));
        assert!(before.starts_with("sha256:"));
    }
}
