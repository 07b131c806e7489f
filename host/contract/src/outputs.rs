//! What apps return: descriptions, scenario views, report documents and
//! alert findings (`view`, `document`, `findings` and parts of `types` in WIT).

use crate::{DataTable, Value};
use serde::{Deserialize, Serialize};

/// A named parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Param {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Choice {
    pub key: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PeriodGrain {
    Year,
    Quarter,
    Month,
    Day,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum ControlKind {
    OrgPicker,
    PeriodPicker(PeriodGrain),
    Select(Vec<Choice>),
    TextInput,
    NumberInput,
    DatePicker,
    Toggle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParameterSpec {
    pub name: String,
    pub label: String,
    pub kind: ControlKind,
    pub default_value: Value,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Description {
    pub title: String,
    pub summary: String,
    pub parameters: Vec<ParameterSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum NumberFormat {
    Plain,
    Thousands,
    Fixed(u8),
    Yuan,
    WanYuan(u8),
    YiYuan(u8),
    Percent(u8),
}

// ---- scenario view -------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrillTarget {
    pub param: String,
    pub level_label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Normal,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KpiCard {
    pub id: String,
    pub label: String,
    pub value: Value,
    pub format: NumberFormat,
    pub comparison: Option<String>,
    pub trend: Option<Trend>,
    pub status: Option<Status>,
    pub drill: Option<DrillTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChartKind {
    Line,
    Bar,
    StackedBar,
    HorizontalBar,
    Area,
    Pie,
    Scatter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Category {
    pub key: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Series {
    pub name: String,
    pub points: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub kind: ChartKind,
    pub categories: Vec<Category>,
    pub series: Vec<Series>,
    pub format: NumberFormat,
    pub drill: Option<DrillTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Align {
    Left,
    Center,
    Right,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableColumn {
    pub key: String,
    pub label: String,
    pub format: NumberFormat,
    pub align: Align,
    pub sortable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TableRow {
    pub key: String,
    pub cells: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub columns: Vec<TableColumn>,
    pub rows: Vec<TableRow>,
    pub drill: Option<DrillTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tone {
    Neutral,
    Info,
    Positive,
    Warning,
    Negative,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TextBlock {
    pub title: Option<String>,
    pub body: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum Block {
    Kpis(Vec<KpiCard>),
    Chart(Chart),
    Table(Table),
    Text(TextBlock),
}

/// The view a scenario returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct View {
    pub title: String,
    pub subtitle: Option<String>,
    pub filters: Vec<ParameterSpec>,
    pub blocks: Vec<Block>,
}

// ---- report document -----------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeaderCell {
    pub label: String,
    pub col_span: u16,
    pub row_span: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportColumn {
    pub key: String,
    pub format: NumberFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RowStyle {
    Normal,
    Subtotal,
    Total,
    Heading,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub cells: Vec<Value>,
    pub level: u8,
    pub style: RowStyle,
}

/// The document a report template returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Document {
    pub title: String,
    pub subtitle: Option<String>,
    pub parameters: Vec<Param>,
    pub header: Vec<Vec<HeaderCell>>,
    pub columns: Vec<ReportColumn>,
    pub rows: Vec<ReportRow>,
    pub footnotes: Vec<String>,
}

// ---- alert findings ------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Red,
    Orange,
    Yellow,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub fingerprint: String,
    pub org_id: String,
    pub severity: Severity,
    pub message: String,
    pub observed: Value,
    pub threshold: Value,
    pub evidence: DataTable,
}

/// What an invocation produced, by app kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "output", rename_all = "kebab-case")]
pub enum AppOutput {
    View(View),
    Document(Document),
    Findings(Vec<Finding>),
}

/// The three kinds of micro-app, one WIT world each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AppKind {
    Scenario,
    Report,
    AlertRule,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Scenario => "scenario",
            AppKind::Report => "report",
            AppKind::AlertRule => "alert-rule",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scenario" => Some(AppKind::Scenario),
            "report" => Some(AppKind::Report),
            "alert-rule" => Some(AppKind::AlertRule),
            _ => None,
        }
    }

    /// The WIT world an app of this kind targets.
    pub fn world(self) -> &'static str {
        self.as_str()
    }
}
