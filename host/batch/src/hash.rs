//! The row checksum both sides of a reconciliation (回流验证) compute.
//!
//! A row's hash is the first 8 bytes (big-endian) of the MD5 of its values in
//! manifest column order, each followed by the unit separator 0x1F. A table's
//! checksum is the wrapping sum of its rows' hashes: independent of row order
//! (the warehouse loads tables in parallel chunks), sensitive to a duplicated,
//! missing or changed row, and computable over any key range, which is what
//! the bisection needs. MD5 is used as a fingerprint, not for security: it is
//! what PostgreSQL can compute in SQL (`md5()`), so the same checksum can be
//! pushed down to a live source database.

use md5::{Digest, Md5};

/// The hash of one row: its values in manifest column order.
pub fn row_hash<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut hasher = Md5::new();
    for v in values {
        hasher.update(v.as_ref().as_bytes());
        hasher.update([0x1f]);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The hash of a row already encoded: its values in manifest column order,
/// each followed by 0x1F (what a database can build with `||`). Equal to
/// [`row_hash`] of the values.
pub fn hash_encoded(encoded: &[u8]) -> u64 {
    let digest = Md5::digest(encoded);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// An order-independent checksum of a multiset of rows: the count and the
/// wrapping sum of the row hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Checksum {
    pub rows: u64,
    pub sum: u64,
}

impl Checksum {
    pub fn add(&mut self, hash: u64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash);
    }

    pub fn merge(&mut self, other: Checksum) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// The manifest's form: 16 lowercase hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }

    pub fn parse_hex(s: &str) -> Option<u64> {
        (s.len() == 16).then(|| u64::from_str_radix(s, 16).ok())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_keep_values_apart() {
        assert_ne!(row_hash(&["ab", "c"]), row_hash(&["a", "bc"]));
        assert_ne!(row_hash(&["a", ""]), row_hash(&["a"]));
    }

    #[test]
    fn checksum_is_order_independent_and_counts_duplicates() {
        let (a, b) = (row_hash(&["1", "x"]), row_hash(&["2", "y"]));
        let mut one = Checksum::default();
        one.add(a);
        one.add(b);
        let mut two = Checksum::default();
        two.add(b);
        two.add(a);
        assert_eq!(one, two);
        two.add(a);
        assert_ne!(one.sum, two.sum);
        assert_eq!(Checksum::parse_hex(&one.hex()), Some(one.sum));
    }

    #[test]
    fn an_encoded_row_hashes_like_its_values() {
        assert_eq!(hash_encoded(b"1\x1fx\x1f\x1f"), row_hash(&["1", "x", ""]));
    }

    #[test]
    fn hash_matches_postgres_md5_prefix() {
        // SELECT md5('1' || chr(31) || 'x' || chr(31)) = '3a1c...'; the first 16
        // hex digits read as a big-endian u64 are the row hash.
        let digest = Md5::digest(b"1\x1fx\x1f");
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            u64::from_str_radix(&hex, 16).unwrap(),
            row_hash(&["1", "x"])
        );
    }
}
