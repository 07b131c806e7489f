//! The query engine for apps: what an app's `data.sql` and `data.query`
//! become before they touch the warehouse.
//!
//! An app reads warehouse data only through the host, and only as the
//! caller may see it: the datasets its approved grants name, the rows the
//! user's data scope and the app's grant both allow, the columns masked
//! below the level both may read (`zhiyun_authz::access`). Two walls stand
//! between an app's SQL and anything else:
//!
//! 1. **The guard** ([`guard`]) — the first wall, in the host. It parses the
//!    app's statement, accepts exactly one read-only query over granted
//!    datasets with allow-listed functions, and rewrites every dataset
//!    reference into a subquery over the physical table that carries the
//!    row filter and the masked columns. The SQL sent to the database is
//!    printed from the rewritten syntax tree, never spliced from app text.
//! 2. **The read-only connection** ([`exec`]) — the second wall, in the
//!    database. Guarded SQL runs on a connection that cannot write and can
//!    only see the warehouse: on SQLite a separate read-only, `query_only`
//!    connection to the warehouse file (never the platform file) with an
//!    authorizer that refuses writes, `ATTACH` and `PRAGMA`; on PostgreSQL a
//!    `READ ONLY` transaction under a role with `SELECT` on the warehouse
//!    schema only. It also enforces the row cap and the timeout.
//!
//! Masks are computed in SQL ([`mask`]) with the same result as the Rust
//! [`zhiyun_authz::scope::mask`], so a masked value never leaves the
//! database in the clear.

pub mod engine;
pub mod exec;
pub mod guard;
pub mod mask;
pub mod semantic;
