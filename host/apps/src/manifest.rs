//! The `app.toml` manifest: parsing, validation and the typed [`Manifest`].
//!
//! ```toml
//! [app]
//! id = "fund-position"
//! version = "0.1.0"
//! kind = "scenario"               # scenario | report | alert-rule
//! department = "财务部"
//! description = "资金全景监控"      # optional
//!
//! [app.name]
//! zh-CN = "资金全景监控"
//! en = "Fund position"
//!
//! [[datasets]]
//! name = "fund_daily"
//! purpose = "账户日余额"            # optional
//!
//! [[parameters]]
//! name = "date"
//! label = "日期"
//! kind = "period-picker"          # org-picker | period-picker | select | text | number | date | toggle
//! grain = "day"                   # period-picker only (and required there)
//! default = "2026-11-30"          # optional
//! required = false                # optional, default false
//!
//! [schedule]                      # report / alert-rule only
//! cron = "0 8 * * *"
//!
//! [limits]                        # all optional
//! timeout-ms = 2000
//! memory-mb = 64
//! max-output-kb = 2048
//! max-rows = 10000
//! fuel = 1000000000
//! ```
//!
//! Every error names the file, the field as a dotted path (`app.version`,
//! `parameters[1].kind`) and, when known, the line and column, e.g.
//! `app.toml:3:11: app.version: "0.1" is not a semantic version …`.

use crate::cron::CronSchedule;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;
use zhiyun_contract::{AppKind, Choice, ControlKind, Date, ParameterSpec, PeriodGrain, Value};

/// The manifest's file name inside a project and a package.
pub const MANIFEST_FILE: &str = "app.toml";

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// The most a host allows any app to ask for. A manifest asking for more is
/// rejected; a manifest that leaves a limit out gets [`Limits::DEFAULT`]
/// (capped at these maxima).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLimits {
    pub timeout_ms: u64,
    pub memory_mb: u64,
    pub max_output_kb: u64,
    pub max_rows: u64,
}

impl HostLimits {
    /// Production maxima: 30 s, 512 MiB, 16 MiB of output, 1 000 000 rows.
    pub const PRODUCTION: HostLimits = HostLimits {
        timeout_ms: 30_000,
        memory_mb: 512,
        max_output_kb: 16_384,
        max_rows: 1_000_000,
    };
}

impl Default for HostLimits {
    fn default() -> Self {
        Self::PRODUCTION
    }
}

/// The resource limits of an app, resolved (defaults filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock deadline of one invocation.
    pub timeout_ms: u64,
    /// Linear-memory cap of one instance, in MiB.
    pub memory_mb: u64,
    /// Cap on the size of the returned view / document / findings, in KiB.
    pub max_output_kb: u64,
    /// Cap on the rows one data query may return.
    pub max_rows: u64,
    /// Optional instruction budget (wasmtime fuel) per invocation.
    pub fuel: Option<u64>,
}

impl Limits {
    /// What an app gets for a limit its manifest leaves out.
    pub const DEFAULT: Limits = Limits {
        timeout_ms: 5_000,
        memory_mb: 128,
        max_output_kb: 4_096,
        max_rows: 100_000,
        fuel: None,
    };

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn memory_bytes(&self) -> u64 {
        self.memory_mb * 1024 * 1024
    }

    pub fn max_output_bytes(&self) -> u64 {
        self.max_output_kb * 1024
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The app's display names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppName {
    #[serde(rename = "zh-CN")]
    pub zh_cn: String,
    pub en: String,
}

impl AppName {
    /// The name for a locale: English for `en*`, Chinese otherwise.
    pub fn for_locale(&self, locale: &str) -> &str {
        if locale.starts_with("en") {
            &self.en
        } else {
            &self.zh_cn
        }
    }
}

/// A dataset the app declares it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetDecl {
    pub name: String,
    pub purpose: Option<String>,
}

/// A parameter the app accepts, typed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterDecl {
    pub name: String,
    pub label: String,
    pub kind: ControlKind,
    /// The typed default; [`Value::Null`] when the manifest gives none.
    pub default: Value,
    pub required: bool,
}

impl ParameterDecl {
    pub fn to_spec(&self) -> ParameterSpec {
        ParameterSpec {
            name: self.name.clone(),
            label: self.label.clone(),
            kind: self.kind.clone(),
            default_value: self.default.clone(),
            required: self.required,
        }
    }
}

/// The spelling of a control kind in `app.toml`.
pub fn control_kind_name(kind: &ControlKind) -> &'static str {
    match kind {
        ControlKind::OrgPicker => "org-picker",
        ControlKind::PeriodPicker(_) => "period-picker",
        ControlKind::Select(_) => "select",
        ControlKind::TextInput => "text",
        ControlKind::NumberInput => "number",
        ControlKind::DatePicker => "date",
        ControlKind::Toggle => "toggle",
    }
}

/// When a report or alert rule runs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub cron: CronSchedule,
}

/// A validated `app.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub id: String,
    pub version: semver::Version,
    pub kind: AppKind,
    pub name: AppName,
    pub department: String,
    pub description: String,
    pub datasets: Vec<DatasetDecl>,
    pub parameters: Vec<ParameterDecl>,
    pub schedule: Option<Schedule>,
    pub limits: Limits,
}

/// A line and column in the manifest, both 1-based (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// What is wrong with a manifest and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The file, as the caller named it (a path, or `app.toml (in package …)`).
    pub file: String,
    /// The field as a dotted path, e.g. `app.version` or `parameters[1].kind`;
    /// `None` for errors about the whole file (syntax, I/O).
    pub field: Option<String>,
    pub position: Option<Position>,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

// ---- raw (as written) ----------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: RawApp,
    #[serde(default)]
    datasets: Vec<RawDataset>,
    #[serde(default)]
    parameters: Vec<RawParameter>,
    schedule: Option<Spanned<RawSchedule>>,
    limits: Option<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    id: Spanned<String>,
    version: Spanned<String>,
    kind: Spanned<String>,
    name: RawNames,
    department: Spanned<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNames {
    #[serde(rename = "zh-CN")]
    zh_cn: Spanned<String>,
    en: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: Spanned<String>,
    purpose: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    name: Spanned<String>,
    label: Spanned<String>,
    kind: Spanned<String>,
    grain: Option<Spanned<String>>,
    options: Option<Spanned<Vec<RawChoice>>>,
    default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoice {
    key: Spanned<String>,
    label: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    timeout_ms: Option<Spanned<u64>>,
    memory_mb: Option<Spanned<u64>>,
    max_output_kb: Option<Spanned<u64>>,
    max_rows: Option<Spanned<u64>>,
    fuel: Option<Spanned<u64>>,
}

// ---- parsing -------------------------------------------------------------

impl Manifest {
    /// Parses and validates a manifest against the production maxima.
    /// `file` names the manifest in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Manifest, ManifestError> {
        Self::parse_with_limits(text, file, &HostLimits::PRODUCTION)
    }

    /// Parses and validates a manifest against the given host maxima.
    pub fn parse_with_limits(
        text: &str,
        file: &str,
        host: &HostLimits,
    ) -> Result<Manifest, ManifestError> {
        let cx = Cx { file, text };
        let de = toml::Deserializer::parse(text).map_err(|e| ManifestError {
            file: file.to_string(),
            field: None,
            position: e.span().map(|s| position(text, s.start)),
            message: format!("TOML syntax error: {}", e.message().trim_end()),
        })?;
        let raw: RawManifest = serde_path_to_error::deserialize(de).map_err(|e| {
            // `Spanned` fields show up as a private key in the path; drop it.
            let path = e
                .path()
                .to_string()
                .split(".$__")
                .next()
                .unwrap_or_default()
                .to_string();
            let inner = e.into_inner();
            let message = inner.message().trim_end().to_string();
            let mut field = (path != ".").then_some(path);
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                field = Some(match field {
                    Some(parent) => format!("{parent}.{missing}"),
                    None => missing.to_string(),
                });
            }
            ManifestError {
                file: file.to_string(),
                field,
                position: inner.span().map(|s| position(text, s.start)),
                message,
            }
        })?;
        cx.validate(raw, host)
    }

    /// Reads and validates a manifest file.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let file = path.display().to_string();
        let io_err = |message: String| ManifestError {
            file: file.clone(),
            field: None,
            position: None,
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| io_err(format!("cannot read: {e}")))?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(io_err(format!(
                "is {} bytes; a manifest may be at most {MAX_MANIFEST_BYTES} bytes",
                meta.len()
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| io_err(format!("cannot read: {e}")))?;
        Self::parse(&text, &file)
    }

    /// The parameters as the contract's parameter specs.
    pub fn to_parameter_specs(&self) -> Vec<ParameterSpec> {
        self.parameters.iter().map(ParameterDecl::to_spec).collect()
    }

    /// The package file name: `<id>-<version>.zyapp`.
    pub fn package_file_name(&self) -> String {
        format!(
            "{}-{}.{}",
            self.id,
            self.version,
            crate::package::PACKAGE_EXTENSION
        )
    }

    /// The declared dataset names.
    pub fn dataset_names(&self) -> impl Iterator<Item = &str> {
        self.datasets.iter().map(|d| d.name.as_str())
    }
}

fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line, column }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Cx<'_> {
    fn err<T>(
        &self,
        field: impl Into<String>,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> Result<T, ManifestError> {
        Err(ManifestError {
            file: self.file.to_string(),
            field: Some(field.into()),
            position: span.map(|s| position(self.text, s.start)),
            message: message.into(),
        })
    }

    fn non_empty(&self, field: &str, value: &Spanned<String>) -> Result<String, ManifestError> {
        let v = value.get_ref().trim();
        if v.is_empty() {
            return self.err(field, Some(value.span()), "must not be empty");
        }
        Ok(v.to_string())
    }

    fn validate(&self, raw: RawManifest, host: &HostLimits) -> Result<Manifest, ManifestError> {
        let app = raw.app;

        let id = app.id.get_ref();
        if let Err(why) = check_app_id(id) {
            return self.err("app.id", Some(app.id.span()), format!("`{id}` {why}"));
        }

        let version_text = app.version.get_ref().trim();
        let version = match semver::Version::parse(version_text) {
            Ok(v) => v,
            Err(e) => {
                return self.err(
                    "app.version",
                    Some(app.version.span()),
                    format!(
                        "\"{version_text}\" is not a semantic version (MAJOR.MINOR.PATCH, e.g. \"0.1.0\"): {e}"
                    ),
                );
            }
        };
        if !version.build.is_empty() {
            return self.err(
                "app.version",
                Some(app.version.span()),
                format!(
                    "\"{version_text}\": build metadata (`+{}`) is not allowed; versions must differ in MAJOR.MINOR.PATCH or pre-release",
                    version.build
                ),
            );
        }

        let Some(kind) = AppKind::parse(app.kind.get_ref()) else {
            return self.err(
                "app.kind",
                Some(app.kind.span()),
                format!(
                    "unknown kind `{}`; expected one of scenario, report, alert-rule",
                    app.kind.get_ref()
                ),
            );
        };

        let name = AppName {
            zh_cn: self.non_empty("app.name.zh-CN", &app.name.zh_cn)?,
            en: self.non_empty("app.name.en", &app.name.en)?,
        };
        let department = self.non_empty("app.department", &app.department)?;

        let mut datasets = Vec::with_capacity(raw.datasets.len());
        let mut seen = HashSet::new();
        for (i, d) in raw.datasets.into_iter().enumerate() {
            let field = format!("datasets[{i}].name");
            let n = d.name.get_ref();
            if !is_dataset_name(n) {
                return self.err(
                    field,
                    Some(d.name.span()),
                    format!(
                        "`{n}` is not a dataset name: lowercase letters, digits and `_`, starting with a letter"
                    ),
                );
            }
            if !seen.insert(n.clone()) {
                return self.err(
                    field,
                    Some(d.name.span()),
                    format!("dataset `{n}` is declared twice"),
                );
            }
            datasets.push(DatasetDecl {
                name: n.clone(),
                purpose: d.purpose.filter(|p| !p.trim().is_empty()),
            });
        }

        let mut parameters = Vec::with_capacity(raw.parameters.len());
        let mut seen = HashSet::new();
        for (i, p) in raw.parameters.into_iter().enumerate() {
            let param = self.parameter(i, p)?;
            if !seen.insert(param.name.clone()) {
                return self.err(
                    format!("parameters[{i}].name"),
                    None,
                    format!("parameter `{}` is declared twice", param.name),
                );
            }
            parameters.push(param);
        }

        let schedule = match raw.schedule {
            None => None,
            Some(s) => {
                if kind == AppKind::Scenario {
                    return self.err(
                        "schedule",
                        Some(s.span()),
                        "a scenario cannot have a schedule; only report and alert-rule apps run on a schedule",
                    );
                }
                let cron = &s.get_ref().cron;
                match CronSchedule::parse(cron.get_ref()) {
                    Ok(cron) => Some(Schedule { cron }),
                    Err(why) => return self.err("schedule.cron", Some(cron.span()), why),
                }
            }
        };

        let limits = self.limits(raw.limits, host)?;

        Ok(Manifest {
            id: id.clone(),
            version,
            kind,
            name,
            department,
            description: app.description.trim().to_string(),
            datasets,
            parameters,
            schedule,
            limits,
        })
    }

    fn parameter(&self, i: usize, p: RawParameter) -> Result<ParameterDecl, ManifestError> {
        let at = |f: &str| format!("parameters[{i}].{f}");
        let name = p.name.get_ref();
        if !is_parameter_name(name) {
            return self.err(
                at("name"),
                Some(p.name.span()),
                format!(
                    "`{name}` is not a parameter name: lowercase letters, digits, `_` and `-`, starting with a letter"
                ),
            );
        }
        let label = self.non_empty(&at("label"), &p.label)?;
        let kind_name = p.kind.get_ref().as_str();
        const KINDS: &str = "org-picker, period-picker, select, text, number, date, toggle";
        if !KINDS.split(", ").any(|k| k == kind_name) {
            return self.err(
                at("kind"),
                Some(p.kind.span()),
                format!("unknown parameter kind `{kind_name}`; expected one of {KINDS}"),
            );
        }
        if kind_name != "period-picker"
            && let Some(g) = &p.grain
        {
            return self.err(
                at("grain"),
                Some(g.span()),
                format!("`grain` is only allowed for a period-picker, not for `{kind_name}`"),
            );
        }
        if kind_name != "select"
            && let Some(o) = &p.options
        {
            return self.err(
                at("options"),
                Some(o.span()),
                format!("`options` are only allowed for a select, not for `{kind_name}`"),
            );
        }
        let kind = match kind_name {
            "org-picker" => ControlKind::OrgPicker,
            "period-picker" => {
                let Some(g) = &p.grain else {
                    return self.err(
                        at("grain"),
                        Some(p.kind.span()),
                        "a period-picker needs a `grain`: one of year, quarter, month, day",
                    );
                };
                let grain = match g.get_ref().as_str() {
                    "year" => PeriodGrain::Year,
                    "quarter" => PeriodGrain::Quarter,
                    "month" => PeriodGrain::Month,
                    "day" => PeriodGrain::Day,
                    other => {
                        return self.err(
                            at("grain"),
                            Some(g.span()),
                            format!(
                                "unknown grain `{other}`; expected one of year, quarter, month, day"
                            ),
                        );
                    }
                };
                ControlKind::PeriodPicker(grain)
            }
            "select" => {
                let Some(options) = &p.options else {
                    return self.err(
                        at("options"),
                        Some(p.kind.span()),
                        "a select needs `options`, e.g. options = [{ key = \"all\", label = \"全部\" }]",
                    );
                };
                if options.get_ref().is_empty() {
                    return self.err(
                        at("options"),
                        Some(options.span()),
                        "a select needs at least one option",
                    );
                }
                let mut keys = HashSet::new();
                let mut choices = Vec::new();
                for (j, o) in options.get_ref().iter().enumerate() {
                    let key = self.non_empty(&at(&format!("options[{j}].key")), &o.key)?;
                    let label = self.non_empty(&at(&format!("options[{j}].label")), &o.label)?;
                    if !keys.insert(key.clone()) {
                        return self.err(
                            at(&format!("options[{j}].key")),
                            Some(o.key.span()),
                            format!("option key `{key}` appears twice"),
                        );
                    }
                    choices.push(Choice { key, label });
                }
                ControlKind::Select(choices)
            }
            "text" => ControlKind::TextInput,
            "number" => ControlKind::NumberInput,
            "date" => ControlKind::DatePicker,
            _ => ControlKind::Toggle,
        };
        let default = match &p.default {
            None => Value::Null,
            Some(d) => match typed_default(&kind, d.get_ref()) {
                Ok(v) => v,
                Err(why) => return self.err(at("default"), Some(d.span()), why),
            },
        };
        if p.required && default != Value::Null {
            return self.err(
                at("required"),
                p.default.as_ref().map(|d| d.span()),
                "a required parameter cannot have a default (the caller must pass a value); drop `default` or set required = false",
            );
        }
        Ok(ParameterDecl {
            name: name.clone(),
            label,
            kind,
            default,
            required: p.required,
        })
    }

    fn limits(&self, raw: Option<RawLimits>, host: &HostLimits) -> Result<Limits, ManifestError> {
        let d = Limits::DEFAULT;
        let Some(raw) = raw else {
            return Ok(Limits {
                timeout_ms: d.timeout_ms.min(host.timeout_ms),
                memory_mb: d.memory_mb.min(host.memory_mb),
                max_output_kb: d.max_output_kb.min(host.max_output_kb),
                max_rows: d.max_rows.min(host.max_rows),
                fuel: None,
            });
        };
        let one = |name: &str,
                   v: &Option<Spanned<u64>>,
                   default: u64,
                   max: u64,
                   unit: &str|
         -> Result<u64, ManifestError> {
            match v {
                None => Ok(default.min(max)),
                Some(v) => {
                    let n = *v.get_ref();
                    if n == 0 {
                        self.err(format!("limits.{name}"), Some(v.span()), "must be positive")
                    } else if n > max {
                        self.err(
                            format!("limits.{name}"),
                            Some(v.span()),
                            format!("{n} exceeds the host maximum of {max}{unit}"),
                        )
                    } else {
                        Ok(n)
                    }
                }
            }
        };
        let limits = Limits {
            timeout_ms: one(
                "timeout-ms",
                &raw.timeout_ms,
                d.timeout_ms,
                host.timeout_ms,
                " ms",
            )?,
            memory_mb: one(
                "memory-mb",
                &raw.memory_mb,
                d.memory_mb,
                host.memory_mb,
                " MiB",
            )?,
            max_output_kb: one(
                "max-output-kb",
                &raw.max_output_kb,
                d.max_output_kb,
                host.max_output_kb,
                " KiB",
            )?,
            max_rows: one(
                "max-rows",
                &raw.max_rows,
                d.max_rows,
                host.max_rows,
                " rows",
            )?,
            fuel: match &raw.fuel {
                None => None,
                Some(v) => Some(one("fuel", &Some(v.clone()), 0, u64::MAX, "")?),
            },
        };
        Ok(limits)
    }
}

/// Checks an app id: lowercase letters, digits and `-`, 3..=64 characters,
/// starting with a letter. The error completes "`<id>` …".
pub fn check_app_id(id: &str) -> Result<(), String> {
    let len = id.chars().count();
    if !(3..=64).contains(&len) {
        return Err(format!("is {len} characters long; an app id has 3 to 64"));
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("must start with a lowercase letter (a-z)".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "contains `{c}`; an app id has only lowercase letters, digits and `-`"
        ));
    }
    Ok(())
}

fn is_dataset_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_parameter_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn toml_type(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// A TOML local date (`2026-11-30` unquoted) or a `"YYYY-MM-DD"` string.
fn date_of(v: &toml::Value) -> Option<Date> {
    match v {
        toml::Value::String(s) => Date::parse_iso(s),
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
            let d = dt.date?;
            Some(Date::new(d.year as i32, d.month, d.day))
        }
        _ => None,
    }
}

fn typed_default(kind: &ControlKind, v: &toml::Value) -> Result<Value, String> {
    let string = |what: &str| match v {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected {what}, found {}", toml_type(other))),
    };
    Ok(match kind {
        ControlKind::OrgPicker => Value::Text(string("a string (an org id)")?),
        ControlKind::TextInput => Value::Text(string("a string")?),
        ControlKind::Select(choices) => {
            let key = string("a string (one of the option keys)")?;
            if !choices.iter().any(|c| c.key == key) {
                let keys: Vec<&str> = choices.iter().map(|c| c.key.as_str()).collect();
                return Err(format!(
                    "\"{key}\" is not one of the option keys: {}",
                    keys.join(", ")
                ));
            }
            Value::Text(key)
        }
        ControlKind::PeriodPicker(grain) => {
            let (ok, example) = match grain {
                PeriodGrain::Day => {
                    if let Some(d) = date_of(v) {
                        return Ok(Value::Text(d.to_string()));
                    }
                    (false, "\"2026-11-30\"")
                }
                PeriodGrain::Year => {
                    let s = string("a string such as \"2026\"")?;
                    (
                        s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()),
                        "\"2026\"",
                    )
                }
                PeriodGrain::Quarter => {
                    let s = string("a string such as \"2026Q4\"")?;
                    let b = s.as_bytes();
                    (
                        b.len() == 6
                            && b[..4].iter().all(u8::is_ascii_digit)
                            && b[4] == b'Q'
                            && (b'1'..=b'4').contains(&b[5]),
                        "\"2026Q4\"",
                    )
                }
                PeriodGrain::Month => {
                    let s = string("a string such as \"202611\"")?;
                    let ok = s.len() == 6
                        && s.bytes().all(|b| b.is_ascii_digit())
                        && (1..=12).contains(&s[4..].parse::<u8>().unwrap_or(0));
                    (ok, "\"202611\"")
                }
            };
            if !ok {
                let grain = match grain {
                    PeriodGrain::Year => "year",
                    PeriodGrain::Quarter => "quarter",
                    PeriodGrain::Month => "month",
                    PeriodGrain::Day => "day",
                };
                return Err(format!(
                    "{} is not a {grain} period; write it like {example}",
                    show(v)
                ));
            }
            Value::Text(string("a string")?)
        }
        ControlKind::NumberInput => match v {
            toml::Value::Integer(i) => Value::Int(*i),
            other => {
                return Err(format!(
                    "expected an integer (number parameters are whole numbers), found {}",
                    toml_type(other)
                ));
            }
        },
        ControlKind::DatePicker => match date_of(v) {
            Some(d) => Value::Date(d),
            None => {
                return Err(format!(
                    "{} is not a date; write it like \"2026-11-30\"",
                    show(v)
                ));
            }
        },
        ControlKind::Toggle => match v {
            toml::Value::Boolean(b) => Value::Boolean(*b),
            other => {
                return Err(format!(
                    "expected true or false, found {}",
                    toml_type(other)
                ));
            }
        },
    })
}

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[app]
id = "fund-position"
version = "0.1.0"
kind = "scenario"
department = "财务部"
description = "资金全景监控 ..."

[app.name]
zh-CN = "资金全景监控"
en = "Fund position"

[[datasets]]
name = "fund_daily"
purpose = "账户日余额"

[[parameters]]
name = "org"
label = "单位"
kind = "org-picker"
required = false

[[parameters]]
name = "date"
label = "日期"
kind = "period-picker"
grain = "day"
default = "2026-11-30"
required = false

[[parameters]]
name = "type"
label = "账户类型"
kind = "select"
options = [{ key = "all", label = "全部" }, { key = "电费收入户", label = "电费收入户" }]
default = "all"

[limits]
timeout-ms = 2000
memory-mb = 64
max-output-kb = 2048
max-rows = 10000
fuel = 1000000000
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, "app.toml")
    }

    fn err(text: &str) -> ManifestError {
        parse(text).expect_err("manifest should be rejected")
    }

    /// GOOD with `from` replaced by `to` (which must occur).
    fn edit(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    }

    #[test]
    fn parses_the_documented_example() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.id, "fund-position");
        assert_eq!(m.version, semver::Version::new(0, 1, 0));
        assert_eq!(m.kind, AppKind::Scenario);
        assert_eq!(m.name.zh_cn, "资金全景监控");
        assert_eq!(m.name.for_locale("en-US"), "Fund position");
        assert_eq!(m.department, "财务部");
        assert_eq!(m.datasets.len(), 1);
        assert_eq!(m.datasets[0].purpose.as_deref(), Some("账户日余额"));
        assert_eq!(
            m.limits,
            Limits {
                timeout_ms: 2000,
                memory_mb: 64,
                max_output_kb: 2048,
                max_rows: 10000,
                fuel: Some(1_000_000_000),
            }
        );
        assert_eq!(m.package_file_name(), "fund-position-0.1.0.zyapp");
        assert!(m.schedule.is_none());
    }

    #[test]
    fn manifest_serialises_to_json() {
        let m = parse(&format!(
            "{}\n[schedule]\ncron = \"0  8 * * *\"\n",
            edit("kind = \"scenario\"", "kind = \"alert-rule\"")
        ))
        .unwrap();
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["kind"], "alert-rule");
        assert_eq!(j["version"], "0.1.0");
        assert_eq!(j["name"]["zh-CN"], "资金全景监控");
        assert_eq!(j["schedule"]["cron"], "0 8 * * *");
        assert_eq!(j["limits"]["fuel"], 1_000_000_000u64);
        assert_eq!(j["parameters"][1]["kind"]["type"], "period-picker");
        assert_eq!(j["parameters"][1]["default"]["value"], "2026-11-30");
    }

    #[test]
    fn parameter_specs_are_typed() {
        let specs = parse(GOOD).unwrap().to_parameter_specs();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0].kind, ControlKind::OrgPicker);
        assert_eq!(specs[0].default_value, Value::Null);
        assert_eq!(specs[1].kind, ControlKind::PeriodPicker(PeriodGrain::Day));
        assert_eq!(specs[1].default_value, Value::Text("2026-11-30".into()));
        match &specs[2].kind {
            ControlKind::Select(c) => assert_eq!(c[1].key, "电费收入户"),
            other => panic!("{other:?}"),
        }
        assert_eq!(specs[2].default_value, Value::Text("all".into()));
        assert!(!specs[2].required);

        let text = format!(
            "{GOOD}\n{}",
            r#"
[[parameters]]
name = "min-balance"
label = "最低余额"
kind = "number"
default = 100

[[parameters]]
name = "as-of"
label = "截至"
kind = "date"
default = 2026-11-30

[[parameters]]
name = "as_of_text"
label = "截至"
kind = "date"
default = "2026-11-29"

[[parameters]]
name = "only-pool"
label = "仅资金池"
kind = "toggle"
default = true

[[parameters]]
name = "note"
label = "备注"
kind = "text"
required = true
"#
        );
        let specs = parse(&text).unwrap().to_parameter_specs();
        assert_eq!(specs[3].kind, ControlKind::NumberInput);
        assert_eq!(specs[3].default_value, Value::Int(100));
        assert_eq!(specs[4].default_value, Value::Date(Date::new(2026, 11, 30)));
        assert_eq!(specs[5].default_value, Value::Date(Date::new(2026, 11, 29)));
        assert_eq!(specs[6].default_value, Value::Boolean(true));
        assert_eq!(specs[7].kind, ControlKind::TextInput);
        assert!(specs[7].required);
    }

    #[test]
    fn defaults_apply_when_limits_are_absent() {
        let text = GOOD.split("[limits]").next().unwrap();
        assert_eq!(parse(text).unwrap().limits, Limits::DEFAULT);
        let partial = format!("{text}[limits]\nmax-rows = 5\n");
        let l = parse(&partial).unwrap().limits;
        assert_eq!(l.max_rows, 5);
        assert_eq!(l.timeout_ms, Limits::DEFAULT.timeout_ms);
        // A host with lower maxima caps the defaults.
        let small = HostLimits {
            timeout_ms: 1000,
            memory_mb: 32,
            max_output_kb: 100,
            max_rows: 10,
        };
        let l = Manifest::parse_with_limits(text, "app.toml", &small)
            .unwrap()
            .limits;
        assert_eq!((l.timeout_ms, l.memory_mb, l.max_rows), (1000, 32, 10));
    }

    #[test]
    fn toml_syntax_error_has_line_and_column() {
        let e = err("[app]\nid = \"x\"\nversion = 0.1.0\n");
        assert_eq!(e.field, None);
        assert_eq!(e.position.map(|p| p.line), Some(3));
        assert!(e.message.starts_with("TOML syntax error"), "{e}");
        assert!(e.to_string().starts_with("app.toml:3:"), "{e}");
    }

    #[test]
    fn missing_field_is_named_with_its_path() {
        let e = err(&edit("version = \"0.1.0\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("app.version"), "{e}");
        assert!(e.message.contains("missing field"), "{e}");

        let e = err(&edit("en = \"Fund position\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("app.name.en"), "{e}");

        let e = err(&edit("label = \"日期\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("parameters[1].label"), "{e}");

        let e = err("");
        assert_eq!(e.field.as_deref(), Some("app"), "{e}");
    }

    #[test]
    fn wrong_type_is_named_with_path_and_position() {
        let e = err(&edit("timeout-ms = 2000", "timeout-ms = \"2s\""));
        assert_eq!(e.field.as_deref(), Some("limits.timeout-ms"), "{e}");
        assert!(e.message.contains("invalid type"), "{e}");
        assert!(e.position.is_some(), "{e}");

        let e = err(&edit(
            "required = false\n\n[[parameters]]\nname = \"date\"",
            "required = \"no\"\n\n[[parameters]]\nname = \"date\"",
        ));
        assert_eq!(e.field.as_deref(), Some("parameters[0].required"), "{e}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = err(&edit("timeout-ms = 2000", "timeout_ms = 2000"));
        assert!(e.message.contains("unknown field `timeout_ms`"), "{e}");
        assert!(
            e.field.as_deref().unwrap_or("").starts_with("limits"),
            "{e}"
        );
        assert!(e.position.is_some(), "{e}");

        let e = err(&edit("[app.name]", "colour = \"red\"\n\n[app.name]"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");

        let e = err(&format!("{GOOD}\n[extra]\nx = 1\n"));
        assert!(e.message.contains("unknown field `extra`"), "{e}");
    }

    #[test]
    fn bad_id_is_rejected() {
        for (id, why) in [
            ("Fund-Position", "lowercase letter"),
            ("fund_position", "contains `_`"),
            ("ab", "2 characters"),
            ("1fund", "must start"),
            ("资金", "characters long"),
        ] {
            let e = err(&edit("\"fund-position\"", &format!("\"{id}\"")));
            assert_eq!(e.field.as_deref(), Some("app.id"));
            assert!(e.message.contains(why), "{id}: {e}");
            assert_eq!(e.position.map(|p| p.line), Some(3), "{e}");
        }
        let long = "a".repeat(65);
        let e = err(&edit("\"fund-position\"", &format!("\"{long}\"")));
        assert!(e.message.contains("65 characters"), "{e}");
    }

    #[test]
    fn bad_semver_is_rejected() {
        let e = err(&edit("\"0.1.0\"", "\"0.1\""));
        assert_eq!(e.field.as_deref(), Some("app.version"));
        assert!(e.message.contains("not a semantic version"), "{e}");
        assert_eq!(
            e.position,
            Some(Position {
                line: 4,
                column: 11
            })
        );
        assert!(
            e.to_string().starts_with("app.toml:4:11: app.version: "),
            "{e}"
        );

        let e = err(&edit("\"0.1.0\"", "\"0.1.0+build5\""));
        assert!(e.message.contains("build metadata"), "{e}");
        // Pre-release versions are fine.
        parse(&edit("\"0.1.0\"", "\"0.2.0-rc.1\"")).unwrap();
    }

    #[test]
    fn bad_kind_is_rejected() {
        let e = err(&edit("kind = \"scenario\"", "kind = \"dashboard\""));
        assert_eq!(e.field.as_deref(), Some("app.kind"));
        assert!(e.message.contains("scenario, report, alert-rule"), "{e}");
    }

    #[test]
    fn empty_names_and_department_are_rejected() {
        let e = err(&edit("en = \"Fund position\"", "en = \"  \""));
        assert_eq!(e.field.as_deref(), Some("app.name.en"));
        let e = err(&edit("zh-CN = \"资金全景监控\"", "zh-CN = \"\""));
        assert_eq!(e.field.as_deref(), Some("app.name.zh-CN"));
        let e = err(&edit("department = \"财务部\"", "department = \"\""));
        assert_eq!(e.field.as_deref(), Some("app.department"));
    }

    #[test]
    fn datasets_are_checked() {
        let e = err(&edit("name = \"fund_daily\"", "name = \"Fund-Daily\""));
        assert_eq!(e.field.as_deref(), Some("datasets[0].name"));
        let dup = format!("{GOOD}\n[[datasets]]\nname = \"fund_daily\"\n");
        let e = err(&dup);
        assert_eq!(e.field.as_deref(), Some("datasets[1].name"));
        assert!(e.message.contains("declared twice"), "{e}");
    }

    #[test]
    fn parameters_are_checked() {
        let e = err(&edit("kind = \"org-picker\"", "kind = \"org\""));
        assert_eq!(e.field.as_deref(), Some("parameters[0].kind"));
        assert!(e.message.contains("org-picker, period-picker"), "{e}");

        let e = err(&edit("grain = \"day\"\n", ""));
        assert_eq!(e.field.as_deref(), Some("parameters[1].grain"));
        let e = err(&edit("grain = \"day\"", "grain = \"week\""));
        assert_eq!(e.field.as_deref(), Some("parameters[1].grain"));
        let e = err(&edit(
            "kind = \"org-picker\"",
            "kind = \"org-picker\"\ngrain = \"day\"",
        ));
        assert_eq!(e.field.as_deref(), Some("parameters[0].grain"));

        let e = err(&edit("default = \"all\"", "default = \"none\""));
        assert_eq!(e.field.as_deref(), Some("parameters[2].default"));
        assert!(e.message.contains("all, 电费收入户"), "{e}");

        let e = err(&edit(
            "default = \"2026-11-30\"",
            "default = \"2026-02-30\"",
        ));
        assert_eq!(e.field.as_deref(), Some("parameters[1].default"));

        let e = err(&edit("name = \"type\"", "name = \"org\""));
        assert_eq!(e.field.as_deref(), Some("parameters[2].name"));
        assert!(e.message.contains("declared twice"), "{e}");

        let e = err(&edit(
            "options = [{ key = \"all\", label = \"全部\" }, { key = \"电费收入户\", label = \"电费收入户\" }]\n",
            "",
        ));
        assert_eq!(e.field.as_deref(), Some("parameters[2].options"));

        let e = err(&edit(
            "default = \"2026-11-30\"\nrequired = false",
            "default = \"2026-11-30\"\nrequired = true",
        ));
        assert_eq!(e.field.as_deref(), Some("parameters[1].required"));
    }

    #[test]
    fn period_defaults_follow_the_grain() {
        for (grain, ok, bad) in [
            ("year", "2026", "26"),
            ("quarter", "2026Q4", "2026Q5"),
            ("month", "202611", "202613"),
        ] {
            let text = edit("grain = \"day\"", &format!("grain = \"{grain}\""));
            parse(&text.replace("\"2026-11-30\"", &format!("\"{ok}\""))).unwrap();
            let e = err(&text.replace("\"2026-11-30\"", &format!("\"{bad}\"")));
            assert!(e.message.contains(&format!("not a {grain} period")), "{e}");
        }
    }

    #[test]
    fn schedule_on_scenario_is_rejected() {
        let e = err(&format!("{GOOD}\n[schedule]\ncron = \"0 8 * * *\"\n"));
        assert_eq!(e.field.as_deref(), Some("schedule"));
        assert!(e.message.contains("scenario cannot have a schedule"), "{e}");
        assert!(e.position.is_some());
    }

    #[test]
    fn schedule_on_report_is_checked() {
        let report = edit("kind = \"scenario\"", "kind = \"report\"");
        let m = parse(&format!("{report}\n[schedule]\ncron = \"0 8 * * *\"\n")).unwrap();
        assert_eq!(m.schedule.unwrap().cron.as_str(), "0 8 * * *");
        let e = err(&format!("{report}\n[schedule]\ncron = \"0 25 * * *\"\n"));
        assert_eq!(e.field.as_deref(), Some("schedule.cron"));
        assert!(e.message.contains("hour field"), "{e}");
    }

    #[test]
    fn limits_over_the_maximum_are_rejected() {
        let e = err(&edit("timeout-ms = 2000", "timeout-ms = 60000"));
        assert_eq!(e.field.as_deref(), Some("limits.timeout-ms"));
        assert!(
            e.message.contains("exceeds the host maximum of 30000 ms"),
            "{e}"
        );
        let e = err(&edit("memory-mb = 64", "memory-mb = 1024"));
        assert_eq!(e.field.as_deref(), Some("limits.memory-mb"));
        let e = err(&edit("max-rows = 10000", "max-rows = 0"));
        assert!(e.message.contains("positive"), "{e}");
        let e = err(&edit("max-rows = 10000", "max-rows = -1"));
        assert_eq!(e.field.as_deref(), Some("limits.max-rows"), "{e}");
        let e = err(&edit("fuel = 1000000000", "fuel = 0"));
        assert_eq!(e.field.as_deref(), Some("limits.fuel"));
    }

    #[test]
    fn read_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.toml");
        std::fs::write(&path, edit("\"0.1.0\"", "\"x\"")).unwrap();
        let e = Manifest::read(&path).unwrap_err();
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        let e = Manifest::read(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.message.contains("cannot read"), "{e}");
    }

    #[test]
    fn a_manifest_never_panics_on_junk() {
        for junk in [
            "\u{0}",
            "[app",
            "app = 1",
            "[app]\nid = []",
            "[[app]]\nid = \"x\"",
            "[app]\nname = \"x\"",
            "[app]\nid=\"abc\"\nversion=\"1.0.0\"\nkind=\"report\"\ndepartment=\"x\"\n[app.name]\nzh-CN=\"x\"\nen=\"y\"\n[[parameters]]\nname=\"p\"\nlabel=\"l\"\nkind=\"select\"\noptions=[]",
        ] {
            let _ = parse(junk).unwrap_err().to_string();
        }
    }
}
