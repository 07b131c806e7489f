//! The few template calls a model's SQL may contain, between `{{` and `}}`:
//!
//! | call | renders as |
//! |---|---|
//! | `ref('dws_x')` | the model's table, quoted (and a DAG edge) |
//! | `source('dwd_x')` | a warehouse table not built by models (DWD), quoted |
//! | `days_between(a, b)` | whole days from date `a` to date `b` (SQLite `julianday`, PostgreSQL date subtraction) |
//! | `add_days(d, n)` | date `d` plus `n` days, as `YYYY-MM-DD` text |
//! | `partitions(expr)` | in an incremental build, `expr IN ('2026-09', …)` (the partitions being rebuilt); otherwise `1 = 1` |
//!
//! `partitions()` lets an incremental model read only the input rows of
//! the partitions it rebuilds (the build also keeps only output rows of
//! those partitions, so a model without it is correct, just slower).
//!
//! This is the one place where the two SQL dialects differ for models:
//! everything else in a model is the SQL both backends accept. Arguments of
//! the dialect macros are SQL expressions, split at top-level commas.

use zhiyun_store::Backend;

/// A template call found in a model's SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Ref(String),
    Source(String),
    Macro(String),
}

/// The calls in `sql`, in order, or what is wrong with one.
pub fn calls(sql: &str) -> Result<Vec<Call>, String> {
    let mut out = Vec::new();
    for_each_call(sql, |name, args| {
        out.push(parse_call(name, args)?);
        Ok(String::new())
    })?;
    Ok(out)
}

/// `sql` with every call rendered for `backend`; `partitions` is the set
/// an incremental build rebuilds (`None`: every partition).
pub fn render(
    sql: &str,
    backend: Backend,
    partitions: Option<&[String]>,
) -> Result<String, String> {
    for_each_call(sql, |name, args| {
        let call = parse_call(name, args)?;
        Ok(match call {
            Call::Ref(t) | Call::Source(t) => format!("\"{t}\""),
            Call::Macro(m) if m == "partitions" => match partitions {
                None => "1 = 1".to_string(),
                Some(parts) => in_list(args[0].trim(), parts),
            },
            Call::Macro(m) => render_macro(&m, args, backend)?,
        })
    })
}

/// `expr IN ('a', 'b')` with the values as SQL string literals (quotes
/// doubled; both backends treat backslashes literally), or `1 = 0` for none.
pub fn in_list(expr: &str, values: &[String]) -> String {
    if values.is_empty() {
        return "1 = 0".to_string();
    }
    let list: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    format!("{expr} IN ({})", list.join(", "))
}

fn parse_call(name: &str, args: &[String]) -> Result<Call, String> {
    let one_name = |what: &str| -> Result<String, String> {
        match args {
            [arg] => {
                let t = arg.trim();
                let inner = t
                    .strip_prefix('\'')
                    .and_then(|t| t.strip_suffix('\''))
                    .ok_or_else(|| format!("{what}({t}): the argument must be a quoted name"))?;
                if crate::project::is_snake(inner) {
                    Ok(inner.to_string())
                } else {
                    Err(format!("{what}('{inner}'): not a snake_case table name"))
                }
            }
            _ => Err(format!("{what}() takes exactly one quoted name")),
        }
    };
    match name {
        "ref" => one_name("ref").map(Call::Ref),
        "source" => one_name("source").map(Call::Source),
        "partitions" => {
            if args.len() == 1 && !args[0].trim().is_empty() {
                Ok(Call::Macro(name.to_string()))
            } else {
                Err("partitions() takes one expression: the partition of an input row".into())
            }
        }
        "days_between" | "add_days" => {
            if args.len() == 2 {
                Ok(Call::Macro(name.to_string()))
            } else {
                Err(format!("{name}() takes two arguments"))
            }
        }
        other => Err(format!(
            "unknown template call `{other}`; known: ref, source, partitions, days_between, add_days"
        )),
    }
}

fn render_macro(name: &str, args: &[String], backend: Backend) -> Result<String, String> {
    let (a, b) = (args[0].trim(), args[1].trim());
    Ok(match (name, backend) {
        ("days_between", Backend::Sqlite) => {
            format!("CAST(julianday({b}) - julianday({a}) AS INTEGER)")
        }
        ("days_between", Backend::Postgres) => format!("(CAST({b} AS DATE) - CAST({a} AS DATE))"),
        ("add_days", Backend::Sqlite) => format!("date({a}, ({b}) || ' days')"),
        ("add_days", Backend::Postgres) => {
            format!("to_char(CAST({a} AS DATE) + CAST({b} AS INTEGER), 'YYYY-MM-DD')")
        }
        (other, _) => return Err(format!("unknown macro `{other}`")),
    })
}

/// Calls `f(name, args)` for each `{{ name(args) }}` and splices its result
/// in place of the call.
fn for_each_call(
    sql: &str,
    mut f: impl FnMut(&str, &[String]) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            format!(
                "line {}: `{{{{` without a closing `}}}}`",
                line_of(sql, sql.len() - rest.len() + start)
            )
        })?;
        let body = after[..end].trim();
        let line = line_of(sql, sql.len() - rest.len() + start);
        let open = body
            .find('(')
            .ok_or_else(|| format!("line {line}: `{{{{ {body} }}}}` is not a call"))?;
        if !body.ends_with(')') {
            return Err(format!("line {line}: `{{{{ {body} }}}}` is not a call"));
        }
        let name = body[..open].trim();
        let args = split_args(&body[open + 1..body.len() - 1]);
        out.push_str(&f(name, &args).map_err(|e| format!("line {line}: {e}"))?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits at commas outside parentheses and quotes.
fn split_args(s: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                args.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() || !args.is_empty() {
        args.push(current);
    }
    args
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_sources_and_macros_render_per_dialect() {
        let sql = "SELECT {{ days_between(a.d, substr(b.t, 1, 10)) }} AS n\nFROM {{ ref('dws_x') }} a JOIN {{ source('dwd_y') }} b ON 1 = 1";
        assert_eq!(
            calls(sql).unwrap(),
            vec![
                Call::Macro("days_between".into()),
                Call::Ref("dws_x".into()),
                Call::Source("dwd_y".into())
            ]
        );
        assert_eq!(
            render(sql, Backend::Sqlite, None).unwrap(),
            "SELECT CAST(julianday(substr(b.t, 1, 10)) - julianday(a.d) AS INTEGER) AS n\nFROM \"dws_x\" a JOIN \"dwd_y\" b ON 1 = 1"
        );
        assert!(
            render(sql, Backend::Postgres, None)
                .unwrap()
                .starts_with("SELECT (CAST(substr(b.t, 1, 10) AS DATE) - CAST(a.d AS DATE)) AS n")
        );
    }

    #[test]
    fn partitions_render_the_rebuilt_set_or_everything() {
        let sql = "SELECT * FROM t WHERE {{ partitions(substr(d, 1, 7)) }}";
        assert_eq!(
            render(sql, Backend::Sqlite, None).unwrap(),
            "SELECT * FROM t WHERE 1 = 1"
        );
        let parts = ["2026-09".to_string(), "it's".to_string()];
        assert_eq!(
            render(sql, Backend::Postgres, Some(&parts)).unwrap(),
            "SELECT * FROM t WHERE substr(d, 1, 7) IN ('2026-09', 'it''s')"
        );
        assert_eq!(
            render(sql, Backend::Sqlite, Some(&[])).unwrap(),
            "SELECT * FROM t WHERE 1 = 0"
        );
    }

    #[test]
    fn bad_calls_name_the_line() {
        assert_eq!(
            calls("SELECT 1\nFROM {{ ref(dws_x) }}").unwrap_err(),
            "line 2: ref(dws_x): the argument must be a quoted name"
        );
        assert!(
            calls("{{ nope('x') }}")
                .unwrap_err()
                .contains("unknown template call `nope`")
        );
        assert!(
            calls("SELECT {{ ref('x')")
                .unwrap_err()
                .contains("without a closing")
        );
        assert!(
            calls("{{ ref('Bad-Name') }}")
                .unwrap_err()
                .contains("snake_case")
        );
        assert!(
            calls("{{ days_between(a) }}")
                .unwrap_err()
                .contains("two arguments")
        );
    }
}
