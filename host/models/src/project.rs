//! The model project: every model under `plugins/models/`, read and checked
//! before anything is built.
//!
//! A model is two files side by side: `<name>.sql` (one SELECT, with
//! `{{ ref('model') }}`, `{{ source('dwd_table') }}` and the dialect
//! macros of [`crate::template`]) and `<name>.toml` (its metadata). The
//! directory a model sits in does not matter; its layer does, and is
//! declared. See `plugins/models/README.md` for the file format.
//!
//! Everything is checked on load and an error names the file (and, for TOML,
//! the line): unknown keys, a name that is not the file's stem, a layer
//! prefix that does not match, columns declared twice, keys or partition
//! columns that are not declared columns, `ref()` to a model that does not
//! exist, a cycle, dataset dimensions and measures over undeclared columns.

use crate::template::{self, Call};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why the project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("models: {0}")]
    Graph(String),
}

fn file_error(path: &Path, message: impl Into<String>) -> ProjectError {
    ProjectError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The layer a model builds (the warehouse's DWS and ADS; DWD is cleaning's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// 汇总层: wide tables per subject or scenario.
    Dws,
    /// 应用层: app-ready metrics and datasets.
    Ads,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Dws => "dws",
            Layer::Ads => "ads",
        }
    }
}

/// How a column is stored, as in DWD: money is integer 分, dates are text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Text,
    Int,
    Money,
    Bool,
    Date,
    Timestamp,
    Decimal,
    Float,
}

impl ColumnKind {
    /// The SQL type the column is created with (the same on both backends).
    pub fn sql_type(self) -> &'static str {
        match self {
            ColumnKind::Int | ColumnKind::Money | ColumnKind::Bool => "BIGINT",
            ColumnKind::Float => "DOUBLE PRECISION",
            ColumnKind::Text | ColumnKind::Date | ColumnKind::Timestamp | ColumnKind::Decimal => {
                "TEXT"
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnKind,
    pub description: String,
    /// e.g. "分", "天", "%".
    #[serde(default)]
    pub unit: Option<String>,
}

/// How a model is materialised.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Materialized {
    /// Rebuilt whole every time an input changed.
    Table,
    /// Rebuilt per partition (a period): only partitions whose input rows
    /// changed since the last build. `inputs` gives, for each partitioned
    /// input (a DWD table or a model), the SQL expression over its columns
    /// that yields the partition of a row; inputs not listed are read whole,
    /// and any change to them rebuilds the model in full.
    Incremental {
        partition_column: String,
        inputs: BTreeMap<String, String>,
        /// `true` (`partition_scope = "from_earliest"`): a change rebuilds
        /// the earliest changed partition **and every later one**, for models
        /// whose rows depend on earlier periods (a running value, e.g. the
        /// last transaction date); they read all history and write only
        /// those partitions.
        from_earliest: bool,
    },
}

/// A dimension or measure set over a model: what the semantic layer and
/// apps see as a dataset (数据集 / 宽表).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetDef {
    /// The name apps use (`Query::dataset("fund_daily")`).
    pub name: String,
    pub description: String,
    /// The column holding the row's org id (the row filter tests it).
    #[serde(default)]
    pub org_column: Option<String>,
    /// The column holding the owning user's name (仅本人 scopes).
    #[serde(default)]
    pub owner_column: Option<String>,
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub measures: BTreeMap<String, MeasureDef>,
}

/// One measure: an aggregation of a column, or a formula over other
/// measures (a ratio `a / b`, computed after aggregation).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureDef {
    #[serde(default)]
    pub agg: Option<Agg>,
    #[serde(default)]
    pub column: Option<String>,
    /// `"<measure> / <measure>"`.
    #[serde(default)]
    pub formula: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agg {
    Sum,
    Count,
    Min,
    Max,
}

/// The TOML file of a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    model: ModelSection,
    columns: Vec<ModelColumn>,
    #[serde(default)]
    dataset: Option<DatasetDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSection {
    name: String,
    layer: Layer,
    description: String,
    owner: String,
    grain: String,
    keys: Vec<String>,
    #[serde(default = "table")]
    materialized: String,
    #[serde(default)]
    partition_column: Option<String>,
    #[serde(default)]
    partition_inputs: BTreeMap<String, String>,
    /// `changed` (default) or `from_earliest`.
    #[serde(default)]
    partition_scope: Option<String>,
    #[serde(default)]
    indexes: Vec<Vec<String>>,
}

fn table() -> String {
    "table".into()
}

/// One model, checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Model {
    pub name: String,
    pub layer: Layer,
    pub description: String,
    pub owner: String,
    pub grain: String,
    pub keys: Vec<String>,
    pub materialized: Materialized,
    pub indexes: Vec<Vec<String>>,
    pub columns: Vec<ModelColumn>,
    pub dataset: Option<DatasetDef>,
    /// The SQL as written, with its template calls.
    pub sql: String,
    pub sql_path: PathBuf,
    /// Models it reads through `ref()`, sorted.
    pub refs: Vec<String>,
    /// Warehouse tables it reads through `source()`, sorted.
    pub sources: Vec<String>,
}

impl Model {
    pub fn column(&self, name: &str) -> Option<&ModelColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Every table the model reads: its refs and its sources.
    pub fn inputs(&self) -> impl Iterator<Item = &str> {
        self.refs
            .iter()
            .chain(self.sources.iter())
            .map(String::as_str)
    }

    /// What changes when the model's definition changes (SQL, columns,
    /// materialisation): a build under a different fingerprint is full.
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        // Stable across runs and platforms: FNV-1a over the definition.
        struct Fnv(u64);
        impl Hasher for Fnv {
            fn finish(&self) -> u64 {
                self.0
            }
            fn write(&mut self, bytes: &[u8]) {
                for b in bytes {
                    self.0 ^= u64::from(*b);
                    self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        self.sql.hash(&mut h);
        for c in &self.columns {
            c.name.hash(&mut h);
            c.kind.sql_type().hash(&mut h);
        }
        format!("{:?}", self.materialized).hash(&mut h);
        self.indexes.hash(&mut h);
        format!("{:016x}", h.finish())
    }
}

/// Every model, in build order (each after the models it refs).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Project {
    models: BTreeMap<String, Model>,
    order: Vec<String>,
}

impl Project {
    /// Reads every `*.toml` + `*.sql` pair under `dir` (recursively).
    pub fn load(dir: &Path) -> Result<Project, ProjectError> {
        let mut files = Vec::new();
        collect_toml(dir, &mut files)?;
        files.sort();
        let mut models = BTreeMap::new();
        for path in files {
            let model = load_model(&path)?;
            if let Some(previous) = models.get(&model.name) {
                let previous: &Model = previous;
                return Err(file_error(
                    &path,
                    format!(
                        "model `{}` is also defined by {}",
                        model.name,
                        previous.sql_path.display()
                    ),
                ));
            }
            models.insert(model.name.clone(), model);
        }
        Project::from_models(models)
    }

    /// Checks the graph of already parsed models and orders it.
    pub fn from_models(models: BTreeMap<String, Model>) -> Result<Project, ProjectError> {
        let mut datasets: BTreeMap<&str, &str> = BTreeMap::new();
        for model in models.values() {
            for r in &model.refs {
                if !models.contains_key(r) {
                    return Err(file_error(
                        &model.sql_path,
                        format!(
                            "ref('{r}') names no model; models: {}",
                            models.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            if let Materialized::Incremental { inputs, .. } = &model.materialized {
                for input in inputs.keys() {
                    if !model.inputs().any(|i| i == input) {
                        return Err(file_error(
                            &model.sql_path.with_extension("toml"),
                            format!(
                                "partition_inputs names `{input}`, which the model does not read (it reads: {})",
                                model.inputs().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
            }
            if let Some(ds) = &model.dataset
                && let Some(other) = datasets.insert(&ds.name, &model.name)
            {
                return Err(ProjectError::Graph(format!(
                    "dataset `{}` is declared by both `{other}` and `{}`",
                    ds.name, model.name
                )));
            }
        }
        let order = topo_order(&models)?;
        Ok(Project { models, order })
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    /// Models in build order.
    pub fn in_order(&self) -> impl Iterator<Item = &Model> {
        self.order.iter().filter_map(|n| self.models.get(n))
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The models that read `name` directly.
    pub fn children(&self, name: &str) -> Vec<&str> {
        self.models
            .values()
            .filter(|m| m.refs.iter().any(|r| r == name))
            .map(|m| m.name.as_str())
            .collect()
    }

    /// Every model downstream of `name` (not including it), in build order.
    pub fn descendants(&self, name: &str) -> Vec<&str> {
        let mut found: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(n) = todo.pop() {
            for c in self.children(n) {
                if found.insert(c) {
                    todo.push(c);
                }
            }
        }
        self.order
            .iter()
            .map(String::as_str)
            .filter(|n| found.contains(n))
            .collect()
    }

    /// Every model upstream of `name` (not including it), in build order.
    pub fn ancestors(&self, name: &str) -> Vec<&str> {
        let mut found: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(n) = todo.pop() {
            if let Some(m) = self.models.get(n) {
                for r in &m.refs {
                    if found.insert(r.as_str()) {
                        todo.push(r.as_str());
                    }
                }
            }
        }
        self.order
            .iter()
            .map(String::as_str)
            .filter(|n| found.contains(n))
            .collect()
    }

    /// The model that declares dataset `name`.
    pub fn dataset(&self, name: &str) -> Option<(&Model, &DatasetDef)> {
        self.models.values().find_map(|m| {
            m.dataset
                .as_ref()
                .filter(|d| d.name == name)
                .map(|d| (m, d))
        })
    }

    /// Every declared dataset with its model.
    pub fn datasets(&self) -> impl Iterator<Item = (&Model, &DatasetDef)> {
        self.models
            .values()
            .filter_map(|m| m.dataset.as_ref().map(|d| (m, d)))
    }

    /// Resolves a selection: model names, `+name` (with its ancestors),
    /// `name+` (with its descendants). Empty: every model. In build order.
    pub fn select(&self, selectors: &[String]) -> Result<Vec<&str>, ProjectError> {
        if selectors.is_empty() {
            return Ok(self.order.iter().map(String::as_str).collect());
        }
        let mut chosen: BTreeSet<&str> = BTreeSet::new();
        for s in selectors {
            let up = s.starts_with('+');
            let down = s.ends_with('+') && s.len() > 1;
            let name = s.trim_start_matches('+').trim_end_matches('+');
            let Some((name, _)) = self.models.get_key_value(name) else {
                return Err(ProjectError::Graph(format!(
                    "--select `{s}`: no model `{name}`; models: {}",
                    self.order.join(", ")
                )));
            };
            chosen.insert(name.as_str());
            if up {
                chosen.extend(self.ancestors(name));
            }
            if down {
                chosen.extend(self.descendants(name));
            }
        }
        Ok(self
            .order
            .iter()
            .map(String::as_str)
            .filter(|n| chosen.contains(n))
            .collect())
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ProjectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_error(dir, e.to_string()))?;
        let path = entry.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

fn load_model(toml_path: &Path) -> Result<Model, ProjectError> {
    let text =
        std::fs::read_to_string(toml_path).map_err(|e| file_error(toml_path, e.to_string()))?;
    let file: ModelFile = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| format!("line {}: ", text[..s.start].lines().count().max(1)))
            .unwrap_or_default();
        file_error(toml_path, format!("{at}{}", e.message()))
    })?;
    let sql_path = toml_path.with_extension("sql");
    let sql = std::fs::read_to_string(&sql_path).map_err(|e| {
        file_error(
            &sql_path,
            format!(
                "the SQL of the model described by {}: {e}",
                toml_path.display()
            ),
        )
    })?;
    let m = file.model;
    let stem = toml_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let bad = |message: String| file_error(toml_path, message);
    if m.name != stem {
        return Err(bad(format!(
            "model.name `{}` must be the file's name `{stem}`",
            m.name
        )));
    }
    let prefix = format!("{}_", m.layer.as_str());
    if !m.name.starts_with(&prefix) || !is_snake(&m.name) {
        return Err(bad(format!(
            "model `{}` in layer {} must be named `{prefix}<snake_case>`",
            m.name,
            m.layer.as_str()
        )));
    }
    let mut seen = BTreeSet::new();
    for c in &file.columns {
        if !is_snake(&c.name) {
            return Err(bad(format!("column `{}` is not snake_case", c.name)));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(bad(format!("column `{}` is declared twice", c.name)));
        }
    }
    let declared = |what: &str, name: &str| -> Result<(), ProjectError> {
        if seen.contains(name) {
            Ok(())
        } else {
            Err(bad(format!(
                "{what} `{name}` is not a declared column (columns: {})",
                file.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    if m.keys.is_empty() {
        return Err(bad("model.keys: a model needs a key (its grain)".into()));
    }
    for k in &m.keys {
        declared("key", k)?;
    }
    for index in &m.indexes {
        for c in index {
            declared("index column", c)?;
        }
    }
    let materialized = match (m.materialized.as_str(), m.partition_column) {
        ("table", None) if m.partition_inputs.is_empty() && m.partition_scope.is_none() => {
            Materialized::Table
        }
        ("table", _) => {
            return Err(bad(
                "partition_column and partition_inputs only apply to materialized = \"incremental\""
                    .into(),
            ));
        }
        ("incremental", Some(p)) => {
            declared("partition_column", &p)?;
            if m.partition_inputs.is_empty() {
                return Err(bad(
                    "an incremental model needs partition_inputs: for each input read by period, the SQL expression giving a row's partition".into(),
                ));
            }
            let from_earliest = match m.partition_scope.as_deref() {
                None | Some("changed") => false,
                Some("from_earliest") => true,
                Some(other) => {
                    return Err(bad(format!(
                        "partition_scope = \"{other}\": expected \"changed\" or \"from_earliest\""
                    )));
                }
            };
            Materialized::Incremental {
                partition_column: p,
                inputs: m.partition_inputs,
                from_earliest,
            }
        }
        ("incremental", None) => {
            return Err(bad(
                "an incremental model needs partition_column (the output column holding the period)"
                    .into(),
            ));
        }
        (other, _) => {
            return Err(bad(format!(
                "materialized = \"{other}\": expected \"table\" or \"incremental\""
            )));
        }
    };
    if let Some(ds) = &file.dataset {
        check_dataset(ds, &declared).map_err(|e| match e {
            ProjectError::File { message, .. } => bad(format!("dataset `{}`: {message}", ds.name)),
            other => other,
        })?;
    }
    let calls = template::calls(&sql).map_err(|e| file_error(&sql_path, e))?;
    let mut refs = BTreeSet::new();
    let mut sources = BTreeSet::new();
    for call in calls {
        match call {
            Call::Ref(r) => {
                refs.insert(r);
            }
            Call::Source(s) => {
                sources.insert(s);
            }
            Call::Macro(_) => {}
        }
    }
    if refs.contains(&m.name) {
        return Err(file_error(&sql_path, "a model cannot ref() itself"));
    }
    Ok(Model {
        name: m.name,
        layer: m.layer,
        description: m.description,
        owner: m.owner,
        grain: m.grain,
        keys: m.keys,
        materialized,
        indexes: m.indexes,
        columns: file.columns,
        dataset: file.dataset,
        sql,
        sql_path,
        refs: refs.into_iter().collect(),
        sources: sources.into_iter().collect(),
    })
}

fn check_dataset(
    ds: &DatasetDef,
    declared: &dyn Fn(&str, &str) -> Result<(), ProjectError>,
) -> Result<(), ProjectError> {
    let bad = |message: String| ProjectError::File {
        path: PathBuf::new(),
        message,
    };
    if !is_snake(&ds.name) {
        return Err(bad("the dataset name must be snake_case".into()));
    }
    for c in ds.org_column.iter().chain(ds.owner_column.iter()) {
        declared("org/owner column", c)?;
    }
    for d in &ds.dimensions {
        declared("dimension", d)?;
    }
    for (name, m) in &ds.measures {
        if ds.dimensions.contains(name) {
            return Err(bad(format!("`{name}` is both a dimension and a measure")));
        }
        match (&m.agg, &m.column, &m.formula) {
            (Some(Agg::Count), None, None) => {}
            (Some(_), Some(c), None) => declared(&format!("measure {name}: column"), c)?,
            (None, None, Some(f)) => {
                let (a, b) = parse_ratio(f).ok_or_else(|| {
                    bad(format!(
                        "measure {name}: formula `{f}` must be `<measure> / <measure>`"
                    ))
                })?;
                for part in [a, b] {
                    match ds.measures.get(part) {
                        Some(p) if p.formula.is_none() => {}
                        Some(_) => {
                            return Err(bad(format!(
                                "measure {name}: `{part}` is itself a formula; formulas combine aggregations"
                            )));
                        }
                        None => {
                            return Err(bad(format!(
                                "measure {name}: formula names `{part}`, which is not a measure"
                            )));
                        }
                    }
                }
            }
            _ => {
                return Err(bad(format!(
                    "measure {name}: give either agg + column (count may omit the column) or formula"
                )));
            }
        }
    }
    Ok(())
}

/// `"a / b"` → `("a", "b")`.
pub fn parse_ratio(formula: &str) -> Option<(&str, &str)> {
    let (a, b) = formula.split_once('/')?;
    let (a, b) = (a.trim(), b.trim());
    (is_snake(a) && is_snake(b)).then_some((a, b))
}

pub fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Build order: each model after every model it refs; a cycle is an error
/// naming the models on it.
fn topo_order(models: &BTreeMap<String, Model>) -> Result<Vec<String>, ProjectError> {
    let mut order = Vec::with_capacity(models.len());
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 = visiting, 2 = done
    fn visit<'a>(
        name: &'a str,
        models: &'a BTreeMap<String, Model>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        order: &mut Vec<String>,
    ) -> Result<(), ProjectError> {
        match state.get(name) {
            Some(2) => return Ok(()),
            Some(_) => {
                let start = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(name);
                return Err(ProjectError::Graph(format!(
                    "the models form a cycle: {}",
                    cycle.join(" → ")
                )));
            }
            None => {}
        }
        state.insert(name, 1);
        path.push(name);
        if let Some(m) = models.get(name) {
            for r in &m.refs {
                visit(r, models, state, path, order)?;
            }
        }
        path.pop();
        state.insert(name, 2);
        order.push(name.to_string());
        Ok(())
    }
    for name in models.keys() {
        visit(name, models, &mut state, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}
