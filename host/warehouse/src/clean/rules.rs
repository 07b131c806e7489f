//! The cleaning rules: the TOML format of `plugins/cleaning/<table>.toml`,
//! the default rules derived from the manifest's column types, and their
//! validation into the compiled form the cleaner runs. The format is
//! documented in the module docs of [`crate::clean`].

use super::values::{self, decimal_parts};
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use toml::Spanned;
use zhiyun_batch::ColumnType;
use zhiyun_batch::manifest::is_snake_name;

/// What a rule file may say.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    /// Free text for people; ignored.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    key: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    dedupe: Option<Spanned<String>>,
    #[serde(default)]
    columns: BTreeMap<Spanned<String>, Vec<Spanned<StepSpec>>>,
}

/// One step as written in a rule file: a bare name (`"trim"`) or a table
/// with one key (`{ range = { min = 0 } }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StepSpec {
    Trim,
    FullwidthToHalfwidth,
    Upper,
    Lower,
    NotNull,
    Date,
    Timestamp,
    Money,
    Int,
    Decimal,
    Bool,
    Map(MapSpec),
    Range(RangeSpec),
    OneOf(Vec<String>),
    References(RefSpec),
    Pattern(String),
}

/// `map = "code_map_x"` or `map = { table = …, from = …, to = …, layer = …, unknown = … }`.
#[derive(Debug, Clone)]
struct MapSpec {
    table: String,
    from: String,
    to: String,
    layer: Layer,
    unknown: Unknown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapTable {
    table: String,
    #[serde(default = "old_code")]
    from: String,
    #[serde(default = "new_code")]
    to: String,
    #[serde(default)]
    layer: Layer,
    #[serde(default)]
    unknown: Unknown,
}

fn old_code() -> String {
    "old_code".into()
}
fn new_code() -> String {
    "new_code".into()
}

impl<'de> Deserialize<'de> for MapSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MapSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a dictionary table name or { table, from, to, layer, unknown }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MapSpec, E> {
                Ok(MapSpec {
                    table: v.to_owned(),
                    from: old_code(),
                    to: new_code(),
                    layer: Layer::Dwd,
                    unknown: Unknown::Reject,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<MapSpec, A::Error> {
                let t = MapTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(MapSpec {
                    table: t.table,
                    from: t.from,
                    to: t.to,
                    layer: t.layer,
                    unknown: t.unknown,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a dictionary is read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// `dwd_<table>`: the cleaned dictionary (cleaned first in the same run).
    #[default]
    Dwd,
    /// `ods_<table>`: as received, all batches, the latest row per code winning.
    Ods,
}

/// What `map` does with a value that is neither an old nor a new code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    #[default]
    Reject,
    Keep,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSpec {
    #[serde(default)]
    min: Option<toml::Value>,
    #[serde(default)]
    max: Option<toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefSpec {
    table: String,
    column: String,
}

/// A compiled step.
#[derive(Debug, Clone)]
pub enum Step {
    Trim,
    Fullwidth,
    Upper,
    Lower,
    NotNull,
    Parse(ColumnType),
    /// Code mapping through `lookups[lookup]` (a dictionary).
    Map {
        lookup: usize,
        keep_unknown: bool,
    },
    Range {
        min: Option<Bound>,
        max: Option<Bound>,
    },
    OneOf(Vec<String>),
    /// Referential check against `lookups[lookup]` (a set of values).
    References {
        lookup: usize,
    },
    Pattern(Regex),
}

impl Step {
    /// The rule name a failure of this step is quarantined under.
    pub fn rule_name(&self) -> &'static str {
        match self {
            Step::Trim => "trim",
            Step::Fullwidth => "fullwidth_to_halfwidth",
            Step::Upper => "upper",
            Step::Lower => "lower",
            Step::NotNull => "not_null",
            Step::Parse(ty) => ty.as_str(),
            Step::Map { .. } => "map",
            Step::Range { .. } => "range",
            Step::OneOf(_) => "one_of",
            Step::References { .. } => "references",
            Step::Pattern(_) => "pattern",
        }
    }
}

/// A range bound in the unit the column has at that step: 分 for money,
/// an exact decimal, or text (ISO dates and timestamps compare as text).
#[derive(Debug, Clone)]
pub enum Bound {
    Int(i64, String),
    Dec((i128, u32), String),
    Text(String),
}

impl Bound {
    pub fn show(&self) -> &str {
        match self {
            Bound::Int(_, s) | Bound::Dec(_, s) | Bound::Text(s) => s,
        }
    }
}

/// Another table a rule reads: a dictionary (`map`) or a referenced column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    Dict {
        table: String,
        from: String,
        to: String,
        layer: Layer,
    },
    Ref {
        table: String,
        column: String,
    },
}

impl Lookup {
    pub fn table(&self) -> &str {
        match self {
            Lookup::Dict { table, .. } | Lookup::Ref { table, .. } => table,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ColumnRules {
    pub name: String,
    /// What the column holds once cleaned (the last type step; text otherwise).
    pub kind: ColumnType,
    pub steps: Vec<Step>,
    /// Written in a rule file (not derived from the declared type).
    pub explicit: bool,
}

/// The rules one table is cleaned by.
#[derive(Debug, Clone)]
pub struct TableRules {
    pub table: String,
    /// The rule file, or `default`.
    pub source: String,
    pub key: Vec<String>,
    /// Positions of the key columns in `columns`.
    pub key_index: Vec<usize>,
    /// Every column of the ODS table, in its order.
    pub columns: Vec<ColumnRules>,
    pub lookups: Vec<Lookup>,
    /// A hash of all of the above: a table cleaned under the same
    /// fingerprint is not cleaned again.
    pub fingerprint: String,
}

impl TableRules {
    /// The other tables this one's rules read (cleaned first).
    pub fn depends_on(&self) -> Vec<String> {
        let mut deps: Vec<String> = self
            .lookups
            .iter()
            .map(|l| l.table().to_owned())
            .filter(|t| *t != self.table)
            .collect();
        deps.sort();
        deps.dedup();
        deps
    }
}

/// What the cleaner knows about a column before the rules apply.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// The type this batch's manifest declares (or the last one known).
    pub declared: ColumnType,
    /// The kind the DWD column already has, if it exists.
    pub recorded: Option<ColumnType>,
}

/// The default steps for a declared type.
pub fn default_steps(ty: ColumnType) -> Vec<Step> {
    match ty {
        ColumnType::String => vec![Step::Trim, Step::Fullwidth],
        other => vec![Step::Parse(other)],
    }
}

/// Whether two kinds are stored in the same SQL type.
pub fn same_storage(a: ColumnType, b: ColumnType) -> bool {
    sql_is_integer(a) == sql_is_integer(b)
}

/// Money (分), int and bool are BIGINT; everything else TEXT.
pub fn sql_is_integer(kind: ColumnType) -> bool {
    matches!(kind, ColumnType::Money | ColumnType::Int | ColumnType::Bool)
}

struct RuleFile {
    path: PathBuf,
    text: String,
    spec: FileSpec,
}

/// The rule files of a directory, parsed (not yet checked against tables).
#[derive(Default)]
pub struct RuleSet {
    files: BTreeMap<String, RuleFile>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.files.values().map(|r| r.path.display().to_string()))
            .finish()
    }
}

impl RuleSet {
    /// Reads every `*.toml` of `dir` (a missing directory is no rules).
    /// Every file is parsed; the first problems of all files are returned
    /// together, each naming its file and line.
    pub fn load(dir: &Path) -> Result<RuleSet, Vec<String>> {
        let mut set = RuleSet::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(set),
            Err(e) => return Err(vec![format!("{}: {e}", dir.display())]),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut errors = Vec::new();
        for path in paths {
            let table = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            if !is_snake_name(&table) {
                errors.push(format!(
                    "{}: the file name must be a table name (lowercase snake case) followed by .toml",
                    path.display()
                ));
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    errors.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            match toml::from_str::<FileSpec>(&text) {
                Ok(spec) => {
                    set.files.insert(table, RuleFile { path, text, spec });
                }
                Err(e) => {
                    let line = e.span().map_or(0, |s| line_of(&text, s.start));
                    errors.push(format!(
                        "{} line {line}: {}",
                        path.display(),
                        e.message().trim_end()
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// The tables that have a rule file.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The file of a table's rules, if it has one.
    pub fn file_of(&self, table: &str) -> Option<&Path> {
        self.files.get(table).map(|f| f.path.as_path())
    }

    /// Checks a table's rules (its file, or the defaults) against its
    /// columns and compiles them.
    pub fn compile(
        &self,
        table: &str,
        columns: &[ColumnInfo],
        manifest_key: &[String],
        recorded_key: Option<&[String]>,
    ) -> Result<TableRules, String> {
        let file = self.files.get(table);
        let at = |span: Option<std::ops::Range<usize>>, problem: String| match (file, span) {
            (Some(f), Some(s)) => {
                format!(
                    "{} line {}: {problem}",
                    f.path.display(),
                    line_of(&f.text, s.start)
                )
            }
            (Some(f), None) => format!("{}: {problem}", f.path.display()),
            (None, _) => format!("table {table} (default rules): {problem}"),
        };
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let mut lookups: Vec<Lookup> = Vec::new();
        let mut explicit: BTreeMap<&str, Vec<Step>> = BTreeMap::new();
        let mut key = manifest_key.to_vec();
        let mut key_span = None;

        if let Some(f) = file {
            if let Some(k) = &f.spec.key {
                key = k.get_ref().clone();
                key_span = Some(k.span());
            }
            if let Some(d) = &f.spec.dedupe
                && d.get_ref() != "latest"
            {
                return Err(at(
                    Some(d.span()),
                    format!(
                        "dedupe = {:?} is not supported; the only policy is \"latest\"",
                        d.get_ref()
                    ),
                ));
            }
            for (name, steps) in &f.spec.columns {
                let Some(&column) = names.iter().find(|n| **n == name.get_ref()) else {
                    return Err(at(
                        Some(name.span()),
                        format!(
                            "{:?} is not a column of table {table} (its columns: {})",
                            name.get_ref(),
                            names.join(", ")
                        ),
                    ));
                };
                let mut compiled = Vec::new();
                let mut kind = ColumnType::String;
                let mut typed: Option<&'static str> = None;
                for step in steps {
                    let fail = |problem: String| {
                        at(Some(step.span()), format!("column {column}: {problem}"))
                    };
                    let text_only = |what: &str| {
                        if kind == ColumnType::String {
                            Ok(())
                        } else {
                            Err(fail(format!(
                                "`{what}` works on text and must come before the type step `{}`",
                                kind.as_str()
                            )))
                        }
                    };
                    let compiled_step = match step.get_ref() {
                        StepSpec::Trim => {
                            text_only("trim")?;
                            Step::Trim
                        }
                        StepSpec::FullwidthToHalfwidth => {
                            text_only("fullwidth_to_halfwidth")?;
                            Step::Fullwidth
                        }
                        StepSpec::Upper => {
                            text_only("upper")?;
                            Step::Upper
                        }
                        StepSpec::Lower => {
                            text_only("lower")?;
                            Step::Lower
                        }
                        StepSpec::NotNull => Step::NotNull,
                        StepSpec::Date
                        | StepSpec::Timestamp
                        | StepSpec::Money
                        | StepSpec::Int
                        | StepSpec::Decimal
                        | StepSpec::Bool => {
                            let ty = match step.get_ref() {
                                StepSpec::Date => ColumnType::Date,
                                StepSpec::Timestamp => ColumnType::Timestamp,
                                StepSpec::Money => ColumnType::Money,
                                StepSpec::Int => ColumnType::Int,
                                StepSpec::Decimal => ColumnType::Decimal,
                                _ => ColumnType::Bool,
                            };
                            if let Some(first) = typed {
                                return Err(fail(format!(
                                    "a second type step `{}` (the column is already `{first}`)",
                                    ty.as_str()
                                )));
                            }
                            typed = Some(ty.as_str());
                            kind = ty;
                            Step::Parse(ty)
                        }
                        StepSpec::Map(m) => {
                            text_only("map")?;
                            for (what, name) in
                                [("table", &m.table), ("from", &m.from), ("to", &m.to)]
                            {
                                if !is_snake_name(name) {
                                    return Err(fail(format!(
                                        "map {what} {name:?} is not a table/column name (lowercase snake case)"
                                    )));
                                }
                            }
                            if m.from == m.to {
                                return Err(fail("map from and to are the same column".into()));
                            }
                            let lookup = intern(
                                &mut lookups,
                                Lookup::Dict {
                                    table: m.table.clone(),
                                    from: m.from.clone(),
                                    to: m.to.clone(),
                                    layer: m.layer,
                                },
                            );
                            Step::Map {
                                lookup,
                                keep_unknown: m.unknown == Unknown::Keep,
                            }
                        }
                        StepSpec::Range(r) => {
                            if r.min.is_none() && r.max.is_none() {
                                return Err(fail("range needs min, max or both".into()));
                            }
                            let min = r
                                .min
                                .as_ref()
                                .map(|v| bound(v, kind))
                                .transpose()
                                .map_err(&fail)?;
                            let max = r
                                .max
                                .as_ref()
                                .map(|v| bound(v, kind))
                                .transpose()
                                .map_err(&fail)?;
                            Step::Range { min, max }
                        }
                        StepSpec::OneOf(list) => {
                            if list.is_empty() {
                                return Err(fail("one_of needs at least one value".into()));
                            }
                            Step::OneOf(list.clone())
                        }
                        StepSpec::References(r) => {
                            if !is_snake_name(&r.table) || !is_snake_name(&r.column) {
                                return Err(fail(format!(
                                    "references {}.{} is not a table and column name (lowercase snake case)",
                                    r.table, r.column
                                )));
                            }
                            let lookup = intern(
                                &mut lookups,
                                Lookup::Ref {
                                    table: r.table.clone(),
                                    column: r.column.clone(),
                                },
                            );
                            Step::References { lookup }
                        }
                        StepSpec::Pattern(p) => {
                            Step::Pattern(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                                fail(format!("pattern {p:?} is not a valid regex: {e}"))
                            })?)
                        }
                    };
                    compiled.push(compiled_step);
                }
                let info = columns
                    .iter()
                    .find(|c| c.name == column)
                    .expect("checked above");
                if let Some(recorded) = info.recorded
                    && !same_storage(recorded, kind)
                {
                    return Err(at(
                        Some(name.span()),
                        format!(
                            "column {column}: dwd_{table}.{column} holds {} values, but these steps make it {}; \
                             a column's storage cannot change (add a new column instead)",
                            recorded.as_str(),
                            kind.as_str()
                        ),
                    ));
                }
                explicit.insert(column, compiled);
            }
        }

        for k in &key {
            if !names.contains(&k.as_str()) {
                return Err(at(
                    key_span.clone(),
                    format!("key column {k:?} is not a column of table {table}"),
                ));
            }
        }
        if key.is_empty() {
            return Err(at(key_span.clone(), "the key has no columns".into()));
        }
        if let Some(recorded) = recorded_key
            && recorded != key.as_slice()
        {
            return Err(at(
                key_span,
                format!(
                    "dwd_{table} is keyed by ({}) but the key is now ({}); the key of a DWD table cannot change",
                    recorded.join(", "),
                    key.join(", ")
                ),
            ));
        }

        let mut out = Vec::with_capacity(columns.len());
        for c in columns {
            let rules = match explicit.remove(c.name.as_str()) {
                Some(steps) => ColumnRules {
                    name: c.name.clone(),
                    kind: steps
                        .iter()
                        .rev()
                        .find_map(|s| match s {
                            Step::Parse(ty) => Some(*ty),
                            _ => None,
                        })
                        .unwrap_or(ColumnType::String),
                    steps,
                    explicit: true,
                },
                None => {
                    // A column keeps the kind its DWD column was made with,
                    // even when the declared type drifts.
                    let ty = c.recorded.unwrap_or(c.declared);
                    ColumnRules {
                        name: c.name.clone(),
                        kind: ty,
                        steps: default_steps(ty),
                        explicit: false,
                    }
                }
            };
            out.push(rules);
        }
        let key_index = key
            .iter()
            .map(|k| names.iter().position(|n| n == k).expect("checked above"))
            .collect();
        let mut fp = String::new();
        let _ = write!(fp, "{key:?}");
        for c in &out {
            let _ = write!(fp, "|{}:{}:{:?}", c.name, c.kind.as_str(), c.steps);
        }
        let _ = write!(fp, "|{lookups:?}");
        Ok(TableRules {
            table: table.to_owned(),
            source: file.map_or_else(|| "default".to_owned(), |f| f.path.display().to_string()),
            key,
            key_index,
            columns: out,
            lookups,
            fingerprint: fingerprint(&fp),
        })
    }
}

fn intern(lookups: &mut Vec<Lookup>, lookup: Lookup) -> usize {
    match lookups.iter().position(|l| *l == lookup) {
        Some(i) => i,
        None => {
            lookups.push(lookup);
            lookups.len() - 1
        }
    }
}

/// A stable 64-bit FNV-1a hash, as hex (stable across Rust versions, unlike `DefaultHasher`).
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A range bound read in the unit of the column's kind at that step.
fn bound(v: &toml::Value, kind: ColumnType) -> Result<Bound, String> {
    let shown = match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let wrong = || {
        format!(
            "range bound {shown} does not fit a {} value{}",
            kind.as_str(),
            if kind == ColumnType::String {
                " (numeric bounds need a type step such as int, money or decimal before the range)"
            } else {
                ""
            }
        )
    };
    match kind {
        ColumnType::Int => match v {
            toml::Value::Integer(i) => Ok(Bound::Int(*i, shown)),
            toml::Value::String(s) => values::int(s)
                .map(|i| Bound::Int(i, shown.clone()))
                .map_err(|_| wrong()),
            _ => Err(wrong()),
        },
        // Money bounds are written in 元, like the files; compared in 分.
        ColumnType::Money => {
            let text = match v {
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::String(s) => s.clone(),
                _ => return Err(wrong()),
            };
            values::money(&text)
                .map(|fen| Bound::Int(fen, format!("{shown} 元")))
                .map_err(|_| wrong())
        }
        ColumnType::Decimal => {
            let text = match v {
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::String(s) => s.clone(),
                _ => return Err(wrong()),
            };
            values::decimal(&text)
                .ok()
                .and_then(|d| decimal_parts(&d))
                .map(|p| Bound::Dec(p, shown.clone()))
                .ok_or_else(wrong)
        }
        ColumnType::Date | ColumnType::Timestamp => {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Datetime(d) => d.to_string(),
                _ => return Err(wrong()),
            };
            let norm = if kind == ColumnType::Date {
                values::date(&text)
            } else {
                values::timestamp(&text)
            };
            norm.map(Bound::Text).map_err(|_| wrong())
        }
        ColumnType::String => match v {
            toml::Value::String(s) => Ok(Bound::Text(s.clone())),
            _ => Err(wrong()),
        },
        ColumnType::Bool => Err("range does not apply to bool".into()),
    }
}
