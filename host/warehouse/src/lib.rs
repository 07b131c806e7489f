//! The data warehouse (数据仓库) the backflow lands in.
//!
//! **Owns:** the warehouse database (a SQLite file of its own, or
//! PostgreSQL), its layers — ODS (贴源层, as received) → DWD (明细层,
//! cleaned) → DWS/ADS (wide tables and metrics, built by models) — and the
//! work that fills and checks them: loading batches ([`ods`]), schema drift
//! ([`drift`]), reconciliation against the manifest ([`reconcile`]).
//! **Must not know:** users, apps or HTTP; the server wires these to the API
//! and the CLI, and the permission layer decides who reads what.
//!
//! Bookkeeping tables are prefixed `zw_`; see [`db`] for their columns.

pub mod bulk;
pub mod catalog;
pub mod clean;
pub mod db;
pub mod drift;
pub mod live;
pub mod ods;
pub mod reconcile;

pub use db::{Db, DbError};
pub use ods::{LoadEvent, LoadOptions, LoadReport, TableOutcome, TableStatus, load_batch};
