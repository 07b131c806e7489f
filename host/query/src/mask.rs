//! Masks as SQL expressions, equal to the Rust [`mask`] on both backends.
//!
//! A masked column must never leave the database in the clear: the guard
//! ([`crate::guard`]) replaces every masked column of a dataset view by one
//! of these expressions, evaluated inside the view's subquery, so neither
//! the app nor the host ever holds the clear value.
//!
//! For every non-NULL value `v` (read as text: `CAST(col AS TEXT)`),
//! [`mask_sql`] evaluates to exactly `mask(v, kind)`; NULL stays NULL. Both
//! SQLite and PostgreSQL count characters, not bytes, in `length` and
//! `substr` / `left` / `right` on text, like the Rust function counts
//! `char`s, so multi-byte values (Chinese names, full-width digits) mask the
//! same way. The masked value is always text.
//!
//! SQLite has no `repeat()`; a run of `k` stars is
//! `replace(hex(zeroblob(k)), '00', '*')` (the hex of `k` zero bytes is
//! `k` times `00`), which has no length limit: a value of any length is
//! masked to exactly what the Rust function returns.
//!
//! [`mask`]: zhiyun_authz::scope::mask

use crate::guard::Dialect;
use zhiyun_authz::scope::MaskKind;

/// How many leading and trailing characters a kind keeps (`None`: the
/// whole value becomes a fixed `******`). Mirrors `zhiyun_authz::scope::mask`.
fn kept(kind: MaskKind) -> Option<(usize, usize)> {
    match kind {
        MaskKind::Full => None,
        MaskKind::BankAccount => Some((0, 4)),
        MaskKind::IdNumber | MaskKind::Phone => Some((3, 4)),
        MaskKind::Name => Some((1, 0)),
    }
}

/// `k` stars, `k` an integer SQL expression (never negative where used).
fn stars(dialect: Dialect, k: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("replace(hex(zeroblob({k})), '00', '*')"),
        Dialect::Postgres => format!("repeat('*', {k})"),
    }
}

/// An expression over `column_sql` (any SQL expression, typically a quoted
/// column) whose value is `mask(value, kind)` for a non-NULL value and NULL
/// for NULL.
pub fn mask_sql(dialect: Dialect, column_sql: &str, kind: MaskKind) -> String {
    let Some((head, tail)) = kept(kind) else {
        // The length is not revealed either.
        return format!("CASE WHEN ({column_sql}) IS NULL THEN NULL ELSE '******' END");
    };
    let text = format!("CAST(({column_sql}) AS TEXT)");
    let len = format!("length({text})");
    let at_least_one = match dialect {
        Dialect::Sqlite => format!("max({len}, 1)"),
        Dialect::Postgres => format!("greatest({len}, 1)"),
    };
    // Too short to keep anything: every character hidden (at least one star,
    // so an empty value is not told apart from a one-character one).
    let short = stars(dialect, &at_least_one);
    let mut parts = Vec::new();
    if head > 0 {
        parts.push(match dialect {
            Dialect::Sqlite => format!("substr({text}, 1, {head})"),
            Dialect::Postgres => format!("left({text}, {head})"),
        });
    }
    parts.push(stars(dialect, &format!("({len} - {})", head + tail)));
    if tail > 0 {
        parts.push(match dialect {
            // A negative start counts from the end, in characters.
            Dialect::Sqlite => format!("substr({text}, -{tail})"),
            Dialect::Postgres => format!("right({text}, {tail})"),
        });
    }
    format!(
        "CASE WHEN ({column_sql}) IS NULL THEN NULL WHEN {len} <= {} THEN {short} ELSE {} END",
        head + tail,
        parts.join(" || ")
    )
}

/// The value clear where `predicate_sql` holds and masked elsewhere:
/// `CASE WHEN <predicate> THEN col ELSE <mask> END`. The clear branch is
/// cast to text so that both branches have one type on PostgreSQL.
pub fn clear_where_sql(
    dialect: Dialect,
    column_sql: &str,
    kind: MaskKind,
    predicate_sql: &str,
) -> String {
    format!(
        "CASE WHEN ({predicate_sql}) THEN CAST(({column_sql}) AS TEXT) ELSE {} END",
        mask_sql(dialect, column_sql, kind)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_mask_hides_the_length() {
        let sql = mask_sql(Dialect::Sqlite, "\"x\"", MaskKind::Full);
        assert_eq!(sql, "CASE WHEN (\"x\") IS NULL THEN NULL ELSE '******' END");
    }

    #[test]
    fn each_backend_builds_its_own_run_of_stars() {
        let sql = mask_sql(Dialect::Postgres, "\"x\"", MaskKind::Phone);
        assert!(sql.contains("repeat('*'"), "{sql}");
        assert!(!sql.contains("zeroblob"), "{sql}");
        let sql = mask_sql(Dialect::Sqlite, "\"x\"", MaskKind::Phone);
        assert!(sql.contains("zeroblob"), "{sql}");
    }
}
