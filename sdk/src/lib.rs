//! The guest-side SDK for zhiyun micro-apps (微应用).
//!
//! A micro-app is a business capability — a scenario (典型场景), a report
//! template (报表模板) or an alert rule (预警规则) — compiled to a WebAssembly
//! component for `wasm32-wasip2` and run by the zhiyun host in a sandbox. It
//! sees nothing but the contract in `wit/` (package `zhiyun:app@0.1.0`): it
//! reads data through the host (`data`), writes to its log (`log`) and learns
//! who runs it (`context`). This crate makes writing one a few lines:
//!
//! - a trait per app kind ([`Scenario`], [`Report`], [`AlertRule`]) and a macro
//!   that exports it ([`export_scenario!`], [`export_report!`],
//!   [`export_alert_rule!`]);
//! - builders on the contract types ([`View`], [`Kpi`], [`Chart`], [`Table`],
//!   [`Document`], [`Finding`], [`Description`], [`ParameterSpec`]);
//! - typed [`Params`], the [`Query`] builder and [`sql`] returning [`Rows`]
//!   with typed getters per row and whole-column slices
//!   ([`Rows::money_column`], [`Rows::text_codes`]), [`context()`] and
//!   [`log`] (`info!` …);
//! - money helpers: money is an `i64` number of fen (分) everywhere, never a
//!   float ([`format_yuan`], [`format_wan_yuan`], [`parse_yuan`]).
//!
//! It is not for host code: the host has its own mirror of the contract in
//! `host/contract`. On a native target the imports are stubs that panic, so
//! only the pure helpers (formatting, builders, parameter parsing) can be
//! unit-tested with `cargo test`.
//!
//! # Example
//!
//! ```no_run
//! use zhiyun_sdk::prelude::*;
//!
//! struct TopAccounts;
//!
//! impl Scenario for TopAccounts {
//!     fn describe() -> Description {
//!         Description::new("账户余额", "余额最高的账户")
//!             .param(ParameterSpec::period_picker("date", "日期", PeriodGrain::Day))
//!     }
//!
//!     fn render(params: Params) -> Result<View, AppError> {
//!         let date = params.date_or("date", Date::new(2026, 11, 30))?;
//!         let rows = Query::dataset("fund_daily")
//!             .dimensions(["acct_no", "org_name"])
//!             .measures(["closing"])
//!             .filter_eq("balance_date", date)
//!             .order_desc("closing")
//!             .limit(10)
//!             .run()?;
//!         let mut table = Table::new("top", "账户").columns([
//!             TableColumn::text("org", "单位"),
//!             TableColumn::wan_yuan("closing", "余额（万元）", 2),
//!         ]);
//!         for row in rows.iter() {
//!             let cells = vec![row.text("org_name")?.into(), Value::money(row.money("closing")?)];
//!             table.push_row(row.text("acct_no")?, cells);
//!         }
//!         Ok(View::new("账户余额").subtitle(date.to_string()).table(table))
//!     }
//! }
//!
//! zhiyun_sdk::export_scenario!(TopAccounts);
//! ```
//!
//! The app crate is a `cdylib` that depends on `zhiyun-sdk` only, built with
//! `cargo build --profile app --target wasm32-wasip2 -p <crate>`; rustc
//! emits the component directly. `examples/scenario.rs`, `examples/report.rs`
//! and `examples/alert_rule.rs` are fuller starting points, one per kind (the
//! bodies of the `zhiyun app new` templates).
//!
//! # Where the WIT comes from
//!
//! The bindings are generated from `sdk/wit/`, a symbolic link to the
//! workspace's `wit/` (the one source of truth), so the SDK reads the
//! contract from inside its own directory: `cargo package` follows the link
//! and ships the files, and an app in any directory that depends on the SDK
//! by path builds the same bindings.

// The generated bindings and the export macros refer to this crate as
// `zhiyun_sdk::…`, which must also resolve inside the crate itself.
extern crate self as zhiyun_sdk;

pub mod bench;
pub mod bindings;
mod context;
mod describe;
mod document;
mod findings;
pub mod log;
pub mod money;
mod org;
mod params;
mod query;
mod table;
mod value;
mod view;

pub use context::context;
pub use money::{format_wan_yuan, format_yi_yuan, format_yuan, parse_yuan, ratio};
pub use org::OrgTree;
pub use params::Params;
pub use query::{ColumnKey, Query, Row, Rows, sql};
pub use value::kind_name;

// The contract types, re-exported at the root under their WIT names.
pub use bindings::scenario::zhiyun::app::context::Invocation;
pub use bindings::scenario::zhiyun::app::data::{Filter, FilterOp, OrderBy, SemanticQuery};
pub use bindings::scenario::zhiyun::app::types::{
    AppError, Choice, Column, ColumnValues, ControlKind, DataTable, Date, Description,
    NumberFormat, Param, ParameterSpec, PeriodGrain, TextColumn, Value, ValueKind,
};
pub use document_types::{Document, HeaderCell, ReportColumn, ReportRow, RowStyle};
pub use findings_types::{Finding, Severity};
pub use view_types::{
    Align, Block, Category, Chart, ChartKind, DrillTarget, KpiCard, Series, Status, Table,
    TableColumn, TableRow, TextBlock, Tone, Trend, View,
};

/// A KPI card; `Kpi::money("balance", "账户余额", fen)`.
pub type Kpi = KpiCard;

use bindings::alert_rule::zhiyun::app::findings as findings_types;
use bindings::report::zhiyun::app::document as document_types;
use bindings::scenario::zhiyun::app::view as view_types;

/// Everything an app usually needs: `use zhiyun_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AlertRule, Align, AppError, Block, Chart, ChartKind, Choice, Column, DataTable, Date,
        Description, Document, DrillTarget, Finding, HeaderCell, Invocation, Kpi, KpiCard,
        NumberFormat, OrgTree, Param, ParameterSpec, Params, PeriodGrain, Query, Report, ReportRow,
        Row, RowStyle, Rows, Scenario, Severity, Status, Table, TableColumn, TextBlock, Tone,
        Trend, Value, ValueKind, View, context, format_wan_yuan, format_yuan, sql,
    };
}

/// A typical scenario (典型场景): an interactive view.
pub trait Scenario {
    /// Title, summary and the filter controls.
    fn describe() -> Description;
    /// Builds the view for the given parameters.
    fn render(params: Params) -> Result<View, AppError>;
}

/// A report template (报表模板).
pub trait Report {
    fn describe() -> Description;
    /// Builds the document for the given parameters.
    fn render(params: Params) -> Result<Document, AppError>;
}

/// An alert rule (预警规则), evaluated on a schedule.
pub trait AlertRule {
    fn describe() -> Description;
    /// Returns one finding per issue; the host owns dedupe, state and routing.
    fn evaluate(params: Params) -> Result<Vec<Finding>, AppError>;
}

/// Exports a [`Scenario`] implementation as the component's `scenario` world:
/// `zhiyun_sdk::export_scenario!(MyApp);` once, at the crate root.
#[macro_export]
macro_rules! export_scenario {
    ($app:ty) => {
        const _: () = {
            struct __ZhiyunScenarioExport;
            impl $crate::bindings::scenario::Guest for __ZhiyunScenarioExport {
                fn describe() -> $crate::Description {
                    <$app as $crate::Scenario>::describe()
                }
                fn render(
                    params: ::std::vec::Vec<$crate::Param>,
                ) -> ::core::result::Result<$crate::View, $crate::AppError> {
                    <$app as $crate::Scenario>::render($crate::Params::new(params))
                }
            }
            $crate::bindings::scenario::export!(
                __ZhiyunScenarioExport with_types_in $crate::bindings::scenario
            );
        };
    };
}

/// Exports a [`Report`] implementation as the component's `report` world.
#[macro_export]
macro_rules! export_report {
    ($app:ty) => {
        const _: () = {
            struct __ZhiyunReportExport;
            impl $crate::bindings::report::Guest for __ZhiyunReportExport {
                fn describe() -> $crate::Description {
                    <$app as $crate::Report>::describe()
                }
                fn render(
                    params: ::std::vec::Vec<$crate::Param>,
                ) -> ::core::result::Result<$crate::Document, $crate::AppError> {
                    <$app as $crate::Report>::render($crate::Params::new(params))
                }
            }
            $crate::bindings::report::export!(
                __ZhiyunReportExport with_types_in $crate::bindings::report
            );
        };
    };
}

/// Exports an [`AlertRule`] implementation as the component's `alert-rule` world.
#[macro_export]
macro_rules! export_alert_rule {
    ($app:ty) => {
        const _: () = {
            struct __ZhiyunAlertRuleExport;
            impl $crate::bindings::alert_rule::Guest for __ZhiyunAlertRuleExport {
                fn describe() -> $crate::Description {
                    <$app as $crate::AlertRule>::describe()
                }
                fn evaluate(
                    params: ::std::vec::Vec<$crate::Param>,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Finding>, $crate::AppError>
                {
                    <$app as $crate::AlertRule>::evaluate($crate::Params::new(params))
                }
            }
            $crate::bindings::alert_rule::export!(
                __ZhiyunAlertRuleExport with_types_in $crate::bindings::alert_rule
            );
        };
    };
}

#[doc(hidden)]
pub mod __private {
    // The generated code reaches wit-bindgen's runtime through this path, so
    // apps need no direct dependency on wit-bindgen. `hostile-import` (a test
    // app) also uses `generate!` from here.
    pub use wit_bindgen;
}
