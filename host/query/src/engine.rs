//! The engine the host serves an app's `data` import with, for the datasets
//! the models declare: semantic queries ([`crate::semantic`]) and guarded
//! SQL ([`crate::guard`]), both run on the read-only connection
//! ([`crate::exec`]).
//!
//! The engine decides no access. Its callers pass, for each dataset, the
//! [`EffectiveAccess`] the permission layer decided
//! (`zhiyun_authz::access::effective_access`: the user's scope ∩ the app's
//! grant); the engine turns it into the dataset's view — row filter and
//! masked columns — and every query, semantic or SQL, reads only through
//! such views.

use crate::exec::{Limits, ReadOnlyWarehouse};
use crate::guard::{DatasetView, Dialect, guard};
use crate::semantic::{self, value_kind};
use std::collections::BTreeMap;
use std::sync::Arc;
use zhiyun_authz::access::EffectiveAccess;
use zhiyun_contract::{AppError, DataTable, SemanticQuery, Value, ValueKind};
use zhiyun_models::Project;
use zhiyun_warehouse::Db;

/// The datasets of a model project, served from the warehouse.
pub struct Engine {
    project: Arc<Project>,
    reader: ReadOnlyWarehouse,
    /// The warehouse's own pool: only to tell whether a model is built.
    db: Db,
}

impl Engine {
    pub fn new(project: Arc<Project>, reader: ReadOnlyWarehouse, db: Db) -> Engine {
        Engine {
            project,
            reader,
            db,
        }
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    pub fn dialect(&self) -> Dialect {
        self.reader.dialect()
    }

    /// Whether a model declares `dataset`.
    pub fn declares(&self, dataset: &str) -> bool {
        self.project.dataset(dataset).is_some()
    }

    /// The datasets the models declare.
    pub fn dataset_names(&self) -> Vec<String> {
        self.project
            .datasets()
            .map(|(_, d)| d.name.clone())
            .collect()
    }

    /// Whether `dataset`'s model has been built (its table exists).
    pub async fn is_built(&self, dataset: &str) -> Result<bool, AppError> {
        let Some((model, _)) = self.project.dataset(dataset) else {
            return Ok(false);
        };
        self.db
            .table_exists(&model.name)
            .await
            .map_err(|e| AppError::internal(format!("reading the warehouse: {e}")))
    }

    /// The view of `dataset` that `access` allows.
    pub fn view(&self, dataset: &str, access: &EffectiveAccess) -> Result<DatasetView, AppError> {
        let Some((model, _)) = self.project.dataset(dataset) else {
            return Err(AppError::not_found(format!(
                "dataset `{dataset}` is not declared by any model"
            )));
        };
        if access.dataset() != dataset {
            return Err(AppError::internal(format!(
                "the access decided for `{}` was offered for `{dataset}`",
                access.dataset()
            )));
        }
        let columns: Vec<String> = model.columns.iter().map(|c| c.name.clone()).collect();
        Ok(DatasetView::from_access(
            dataset,
            &model.name,
            &columns,
            access,
            self.dialect(),
        ))
    }

    /// Runs a semantic query over `q.dataset` as `access` lets the caller
    /// see it.
    pub async fn query(
        &self,
        access: &EffectiveAccess,
        q: &SemanticQuery,
        limits: Limits,
    ) -> Result<DataTable, AppError> {
        let compiled = semantic::compile(&self.project, q, self.dialect(), limits.row_cap)?;
        let mut views = BTreeMap::new();
        views.insert(q.dataset.clone(), self.view(&q.dataset, access)?);
        let guarded = guard(&compiled.sql, &views, self.dialect()).map_err(|e| {
            // The compiled SQL is ours: a refusal is a bug, not the app's.
            AppError::internal(format!("the compiled semantic query was refused: {e}"))
        })?;
        let kinds: BTreeMap<String, ValueKind> = compiled.columns.iter().cloned().collect();
        let kind_of = |name: &str| kinds.get(name).copied();
        let mut table = self
            .reader
            .run(&guarded, &compiled.params, &kind_of, limits)
            .await?;
        // The declared kinds win even for an all-null column.
        for (meta, (_, kind)) in table.columns.iter_mut().zip(&compiled.columns) {
            meta.kind = *kind;
        }
        Ok(table)
    }

    /// Runs an app's SQL over the datasets in `views` (each built by
    /// [`Engine::view`] from its decided access). Returns the table and the
    /// datasets the statement read.
    pub async fn sql(
        &self,
        views: &BTreeMap<String, DatasetView>,
        statement: &str,
        params: &[Value],
        limits: Limits,
    ) -> Result<(DataTable, Vec<String>), AppError> {
        // A table the app may not read is access-denied, anything else the
        // app wrote wrong is invalid-input.
        let guarded = guard(statement, views, self.dialect()).map_err(AppError::from)?;
        // A result column named like a column of a dataset read has its kind
        // (`SUM(closing) AS closing` is money).
        let mut kinds: BTreeMap<String, ValueKind> = BTreeMap::new();
        for name in &guarded.datasets {
            if let Some((model, _)) = self.project.dataset(name) {
                for c in &model.columns {
                    kinds.entry(c.name.clone()).or_insert(value_kind(c.kind));
                }
            }
        }
        let kind_of = |name: &str| kinds.get(name).copied();
        let table = self.reader.run(&guarded, params, &kind_of, limits).await?;
        Ok((table, guarded.datasets))
    }
}
