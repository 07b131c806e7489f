//! Models (模型): the DWS and ADS layers of the warehouse, built from SQL
//! files, and the semantic layer apps query.
//!
//! **Owns:** the model project under `plugins/models/` ([`project`]), the
//! template calls and the two dialects ([`template`]), builds — full and
//! incremental, with history and stale descendants ([`build`]) —, column
//! lineage across models down to the ODS column and its batch ([`lineage`]),
//! and semantic queries compiled to SQL ([`semantic`]).
//! **Must not know:** users, apps or HTTP. Who may read a dataset is decided
//! by the permission layer; the query engine (`zhiyun-query`) applies it.

pub mod build;
pub mod lineage;
pub mod project;
pub mod template;

pub use build::{BuildEvent, BuildOptions, BuildReport, Mode, ModelRun, RunStatus, build};
pub use project::{ColumnKind, DatasetDef, Layer, Materialized, Model, Project, ProjectError};
