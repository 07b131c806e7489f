//! The micro-app contract as plain Rust types, for every host crate that is not
//! the sandbox.
//!
//! `wit/` is the source of truth. The runtime crate generates wasmtime
//! bindings from it and converts them to and from the types here, so that the
//! data layer, the registry and the web server can speak the contract without
//! depending on wasmtime (a change to them never recompiles it).
//!
//! Everything here serialises to the JSON the API returns: enums and
//! variants in `kebab-case`, values tagged as `{"type": "money", "value": 12345}`.
//! Money is integer fen (`i64`), never a float.

mod data;
mod error;
pub mod format;
mod outputs;
mod value;

pub use data::{
    BoxFuture, ColumnMeta, DataProvider, DataTable, Filter, FilterOp, Invocation, LogLevel,
    OrderBy, SemanticQuery,
};
pub use error::{AppError, ErrorKind};
pub use outputs::*;
pub use value::{Date, Value, ValueKind};

/// The version of the WIT package `zhiyun:app` this host speaks.
pub const CONTRACT_VERSION: &str = "0.1.0";
