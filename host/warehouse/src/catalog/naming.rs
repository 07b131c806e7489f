//! Naming rules for standardized table names (see the [module docs](super)).

use super::Layer;
use serde::Serialize;

/// The longest identifier PostgreSQL keeps (longer names are truncated silently).
pub const MAX_NAME_BYTES: usize = 63;

/// One rule a name breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Violation {
    /// `pattern`, `length`, `double_underscore`, `layer_prefix` or `column`.
    pub rule: String,
    pub message: String,
}

fn violation(rule: &str, message: String) -> Violation {
    Violation {
        rule: rule.to_owned(),
        message,
    }
}

/// Lowercase snake case starting with a letter: `[a-z][a-z0-9_]*`.
fn is_snake(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// A bookkeeping column the loaders add (`_batch_id`, `_line`, …): one
/// leading underscore, then snake case.
pub fn is_bookkeeping_column(name: &str) -> bool {
    name.strip_prefix('_')
        .is_some_and(|rest| is_snake(rest) && !rest.contains("__"))
}

/// A conforming ordinary column name.
fn is_standard_column(name: &str) -> bool {
    is_snake(name) && !name.contains("__") && name.len() <= MAX_NAME_BYTES
}

/// Checks a table name (and its columns) against the rules; empty when it conforms.
pub fn check_table(name: &str, layer: Layer, columns: &[&str]) -> Vec<Violation> {
    let mut found = Vec::new();
    let pattern_ok = matches!(name.get(..4), Some("ods_" | "dwd_" | "dws_" | "ads_"))
        && name[4..].starts_with(|c: char| c.is_ascii_lowercase())
        && is_snake(name);
    if !pattern_ok {
        found.push(violation(
            "pattern",
            format!(
                "{name:?} does not match ^(ods|dwd|dws|ads)_[a-z][a-z0-9_]*$ (a layer prefix, then lowercase letters, digits and '_', starting with a letter)"
            ),
        ));
    }
    if name.len() > MAX_NAME_BYTES {
        found.push(violation(
            "length",
            format!(
                "{name:?} is {} bytes; at most {MAX_NAME_BYTES} are allowed (PostgreSQL truncates longer identifiers)",
                name.len()
            ),
        ));
    }
    if name.contains("__") {
        found.push(violation(
            "double_underscore",
            format!("{name:?} contains \"__\"; words are separated by a single '_'"),
        ));
    }
    match layer.prefix() {
        Some(prefix) if !name.starts_with(prefix) => found.push(violation(
            "layer_prefix",
            format!(
                "{name:?} is in layer {} and must start with {prefix:?}",
                layer.as_str()
            ),
        )),
        Some(_) => {}
        None => found.push(violation(
            "layer_prefix",
            format!(
                "{name:?} has no layer prefix (ods_, dwd_, dws_ or ads_), so its layer is unknown"
            ),
        )),
    }
    let bad_columns: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| !is_bookkeeping_column(c) && !is_standard_column(c))
        .collect();
    if !bad_columns.is_empty() {
        found.push(violation(
            "column",
            format!(
                "column names must be lowercase snake case without \"__\", at most {MAX_NAME_BYTES} bytes \
                 (bookkeeping columns such as _batch_id excepted): {}",
                bad_columns.join(", ")
            ),
        ));
    }
    found
}

/// A conforming name close to `name` for `layer` (lowercased, invalid
/// characters and repeated underscores collapsed, the layer prefix put in
/// front, cut to 63 bytes), or `None` when no layer is known.
pub fn suggest(name: &str, layer: Layer) -> Option<String> {
    let prefix = layer.prefix()?;
    let lower = name.to_ascii_lowercase();
    let body = ["ods_", "dwd_", "dws_", "ads_"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let mut out = String::from(prefix);
    let mut last_underscore = true;
    for c in body.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if c == '_' {
            if !last_underscore {
                out.push('_');
            }
            last_underscore = true;
        } else {
            if out.len() == prefix.len() && c.is_ascii_digit() {
                out.push('t');
            }
            out.push(c);
            last_underscore = false;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.len() == prefix.len() {
        out.push_str("unnamed");
    }
    out.truncate(MAX_NAME_BYTES);
    while out.ends_with('_') {
        out.pop();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(
            check_table("ods_payment", Layer::Ods, &["_batch_id", "_line", "pay_id"]).is_empty()
        );
        let v = check_table("dwd_BadName", Layer::Dwd, &[]);
        assert_eq!(
            v.iter().map(|v| v.rule.as_str()).collect::<Vec<_>>(),
            ["pattern"]
        );
        let v = check_table("tmp_x", Layer::Other, &[]);
        assert!(v.iter().any(|v| v.rule == "layer_prefix"));
        let v = check_table("dws_a__b", Layer::Dws, &["ok", "Bad", "a__b"]);
        assert!(v.iter().any(|v| v.rule == "double_underscore"));
        assert!(
            v.iter()
                .any(|v| v.rule == "column" && v.message.contains("Bad, a__b"))
        );
        let long = format!("ads_{}", "x".repeat(60));
        assert!(
            check_table(&long, Layer::Ads, &[])
                .iter()
                .any(|v| v.rule == "length")
        );
        assert!(
            check_table("ods_x", Layer::Dwd, &[])
                .iter()
                .any(|v| v.rule == "layer_prefix")
        );
        assert_eq!(
            suggest("dwd_BadName", Layer::Dwd).as_deref(),
            Some("dwd_badname")
        );
        assert_eq!(suggest("tmp__x", Layer::Other), None);
        assert_eq!(suggest("X--y__", Layer::Ods).as_deref(), Some("ods_x_y"));
    }
}
