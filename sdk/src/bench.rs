//! The aggregation of the compute-heavy benchmark app
//! (`tests/apps/compute-heavy`), here so that the host's benchmark can run the
//! very same code natively and compare it with the sandboxed run.

use std::collections::HashMap;

/// Sums `amount` by `(org_id, acct_code)`: one pass into a `HashMap` keyed by
/// the borrowed strings (nothing is cloned per row), then the groups, now
/// owned, sorted by key so the output is deterministic.
pub fn aggregate<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a str, i64)>,
) -> Vec<(String, String, i64)> {
    let mut sums: HashMap<(&str, &str), i64> = HashMap::new();
    for (org_id, acct_code, amount) in rows {
        *sums.entry((org_id, acct_code)).or_insert(0) += amount;
    }
    let mut groups: Vec<(String, String, i64)> = sums
        .into_iter()
        .map(|((org, acct), sum)| (org.to_string(), acct.to_string(), sum))
        .collect();
    groups.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_org_and_account() {
        let rows = [
            ("3302", "6602", 5),
            ("3301", "1002", 10),
            ("3301", "1002", -3),
            ("3301", "6001", 7),
        ];
        let owned = |o: &str, a: &str, n| (o.to_string(), a.to_string(), n);
        assert_eq!(
            aggregate(rows),
            vec![
                owned("3301", "1002", 7),
                owned("3301", "6001", 7),
                owned("3302", "6602", 5)
            ]
        );
        assert!(aggregate([]).is_empty());
    }
}
