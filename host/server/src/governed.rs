//! The governed data path: the `data` import of a **launched** app.
//!
//! Every `data.query` an app makes on behalf of a user goes through
//! [`GovernedData::access`], which asks the permission layer, in order:
//!
//! 1. may the user read the dataset at all (casbin `dataset:<name>` /
//!    `read`, by a role grant or an approved 数据申请)?
//! 2. what is the user's data scope (posts → row filter) and the app's
//!    approved grant on the dataset — joined by
//!    [`zhiyun_authz::access::effective_access`], the one function that
//!    decides rows and masking?
//!
//! The query then runs over the dataset **as that access lets the caller
//! see it** ([`zhiyun_data::Dataset::view`]: other orgs' rows are not there,
//! masked cells hold their masked form), so no projection, filter or
//! group-by can reach what was withheld. Each access — allowed, denied or
//! failed — is written to the audit log as `data.access` with the app, the
//! dataset and the number of rows returned.
//!
//! The trial run at submission does not come through here: it runs the
//! candidate over the synthetic fixture data with no user behind it (see
//! `AppService::submit`).

use crate::audit_sink::AuditSink;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zhiyun_authz::access::{
    AppGrant, ColumnAccess, DatasetGrant, EffectiveAccess, effective_access,
};
use zhiyun_authz::scope::{Sensitivity, mask};
use zhiyun_authz::{AuditOutcome, NewAuditEntry, Policy};
use zhiyun_contract::{
    AppError, BoxFuture, DataProvider, DataTable, Invocation, SemanticQuery, Value,
};
use zhiyun_data::{FixtureProvider, SQL_UNAVAILABLE, ViewGuard};
use zhiyun_query::engine::Engine;
use zhiyun_query::exec::Limits;

/// The app id the portal's own data API reads as (in audit entries).
pub const PORTAL: &str = "portal";

/// The longest one query of an app may run on the warehouse.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest SQL statement kept in an audit entry.
const AUDITED_STATEMENT_CHARS: usize = 2000;

pub struct GovernedData {
    data: FixtureProvider,
    /// The warehouse datasets the models declare (`None`: no models).
    engine: Option<Arc<Engine>>,
    /// Serve a declared but not yet built dataset from the built-in demo
    /// data, if it has one (demo and tests only: `--seed-demo`).
    demo_fallback: bool,
    policy: Policy,
    audit: AuditSink,
}

/// Where a dataset's rows come from.
enum Source<'a> {
    Warehouse(&'a Engine),
    Fixture,
}

impl GovernedData {
    pub fn new(data: FixtureProvider, policy: Policy, audit: AuditSink) -> Self {
        Self {
            data,
            engine: None,
            demo_fallback: true,
            policy,
            audit,
        }
    }

    /// Serves the datasets the models declare from the warehouse.
    /// `demo_fallback`: until a model is built, its dataset is served from
    /// the built-in demo data of the same name (demo and tests only).
    pub fn with_engine(mut self, engine: Option<Arc<Engine>>, demo_fallback: bool) -> Self {
        self.engine = engine;
        self.demo_fallback = demo_fallback;
        self
    }

    fn limits(&self) -> Limits {
        Limits {
            row_cap: u32::try_from(self.data.row_cap()).unwrap_or(u32::MAX),
            timeout: QUERY_TIMEOUT,
        }
    }

    /// Where `dataset` is served from, or why it cannot be.
    async fn source(&self, dataset: &str) -> Result<Source<'_>, AppError> {
        if let Some(engine) = self.engine.as_deref()
            && engine.declares(dataset)
        {
            if engine.is_built(dataset).await? {
                return Ok(Source::Warehouse(engine));
            }
            if !(self.demo_fallback && self.data.dataset(dataset).is_some()) {
                let model = engine
                    .project()
                    .dataset(dataset)
                    .map(|(m, _)| m.name.clone())
                    .unwrap_or_default();
                return Err(AppError::not_found(format!(
                    "dataset `{dataset}` is built by model `{model}`, which has not been built yet (zhiyun models build)"
                )));
            }
        }
        Ok(Source::Fixture)
    }

    fn knows(&self, dataset: &str) -> bool {
        self.data.dataset(dataset).is_some()
            || self.engine.as_deref().is_some_and(|e| e.declares(dataset))
    }

    /// What `caller` (a user running an app) may see of `dataset`, or why
    /// not: the user's scope ∩ the app's approved grant.
    pub async fn access(
        &self,
        caller: &Invocation,
        dataset: &str,
    ) -> Result<EffectiveAccess, AppError> {
        let grant = self.policy.app_grant(&caller.app_id);
        self.decide(caller, dataset, &grant).await
    }

    /// What a user may see of `dataset` through the portal's own data API
    /// (no app in between): the user's scope alone — the portal is granted
    /// every dataset at every level, so the intersection is the user's.
    pub async fn portal_access(
        &self,
        caller: &Invocation,
        dataset: &str,
    ) -> Result<EffectiveAccess, AppError> {
        let mut grant = AppGrant {
            app_id: PORTAL.to_string(),
            ..AppGrant::default()
        };
        grant.datasets.insert(
            dataset.to_string(),
            DatasetGrant {
                orgs: None,
                max_sensitivity: Sensitivity::Core,
            },
        );
        self.decide(caller, dataset, &grant).await
    }

    /// The only place this module obtains an [`EffectiveAccess`].
    async fn decide(
        &self,
        caller: &Invocation,
        dataset: &str,
        grant: &AppGrant,
    ) -> Result<EffectiveAccess, AppError> {
        let Some(policy) = self.policy.dataset_policy(dataset) else {
            if self.knows(dataset) {
                return Err(AppError::access_denied(format!(
                    "dataset `{dataset}` is not in the catalog, so nobody may read it yet"
                )));
            }
            let mut names: Vec<String> = self.data.dataset_names().map(String::from).collect();
            if let Some(engine) = &self.engine {
                names.extend(engine.dataset_names());
            }
            names.sort();
            names.dedup();
            return Err(AppError::not_found(format!(
                "dataset `{dataset}` not found; available datasets: {}",
                names.join(", ")
            )));
        };
        if !self.policy.can_read_dataset(&caller.user_id, dataset) {
            return Err(AppError::access_denied(format!(
                "user `{}` may not read the dataset `{dataset}` (no role grant or approved 数据申请)",
                caller.user_id
            )));
        }
        let user = self.policy.user_ctx(&caller.user_id).await.map_err(|e| {
            AppError::internal(format!(
                "reading the permissions of `{}`: {e}",
                caller.user_id
            ))
        })?;
        effective_access(&self.policy.org_tree(), &user, grant, &policy)
            .map_err(|denied| AppError::access_denied(denied.to_string()))
    }

    /// The first `limit` rows of `dataset` as the portal user may see them
    /// (every column; audited like an app's access, app `portal`).
    pub async fn preview(
        &self,
        caller: &Invocation,
        dataset: &str,
        limit: u32,
    ) -> Result<DataTable, AppError> {
        let result = match self.portal_access(caller, dataset).await {
            Ok(access) => match self.source(dataset).await {
                Err(e) => Err(e),
                Ok(Source::Warehouse(engine)) => {
                    let columns = engine
                        .project()
                        .dataset(dataset)
                        .map(|(m, _)| m.columns.iter().map(|c| c.name.clone()).collect())
                        .unwrap_or_default();
                    let query = SemanticQuery {
                        dataset: dataset.to_string(),
                        dimensions: columns,
                        limit: Some(limit),
                        ..SemanticQuery::default()
                    };
                    engine.query(&access, &query, self.limits()).await
                }
                Ok(Source::Fixture) => {
                    let columns = self
                        .data
                        .dataset(dataset)
                        .map(|d| d.columns().iter().map(|c| c.name.clone()).collect())
                        .unwrap_or_default();
                    let query = SemanticQuery {
                        dataset: dataset.to_string(),
                        dimensions: columns,
                        limit: Some(limit),
                        ..SemanticQuery::default()
                    };
                    self.data
                        .run_guarded(&query, self.data.row_cap(), &Guard(&access))
                }
            },
            Err(e) => Err(e),
        };
        self.audit(caller, dataset, &result).await;
        result
    }

    /// One `data.access` entry per dataset a statement read (or one for
    /// the refused statement), with the statement itself.
    async fn audit_sql(
        &self,
        caller: &Invocation,
        statement: &str,
        result: &Result<(DataTable, Vec<String>), AppError>,
    ) {
        let shown: String = statement.chars().take(AUDITED_STATEMENT_CHARS).collect();
        let (datasets, rows, outcome, error) = match result {
            Ok((table, datasets)) => (
                datasets.clone(),
                table.rows.len() as u64,
                AuditOutcome::Ok,
                None,
            ),
            Err(e) => (
                vec!["sql".to_string()],
                0,
                if matches!(
                    e.kind,
                    zhiyun_contract::ErrorKind::AccessDenied
                        | zhiyun_contract::ErrorKind::InvalidInput
                ) {
                    AuditOutcome::Denied
                } else {
                    AuditOutcome::Error
                },
                Some(e.message.clone()),
            ),
        };
        for dataset in datasets {
            let entry = NewAuditEntry::data_access(&caller.user_id, &caller.app_id, &dataset, rows)
                .org(caller.org_id.clone())
                .outcome(outcome)
                .request_id(caller.request_id.clone())
                .detail(serde_json::json!({
                    "app": caller.app_id, "dataset": dataset, "row_count": rows,
                    "sql": shown, "error": error,
                }));
            self.audit.record(entry).await;
        }
    }

    async fn audit(
        &self,
        caller: &Invocation,
        dataset: &str,
        result: &Result<DataTable, AppError>,
    ) {
        let rows = result.as_ref().map_or(0, |t| t.rows.len() as u64);
        let outcome = match result {
            Ok(_) => AuditOutcome::Ok,
            Err(e) if e.kind == zhiyun_contract::ErrorKind::AccessDenied => AuditOutcome::Denied,
            Err(_) => AuditOutcome::Error,
        };
        let mut entry = NewAuditEntry::data_access(&caller.user_id, &caller.app_id, dataset, rows)
            .org(caller.org_id.clone())
            .outcome(outcome)
            .request_id(caller.request_id.clone());
        if let Err(e) = result {
            entry = entry.detail(serde_json::json!({
                "app": caller.app_id, "dataset": dataset, "row_count": rows, "error": e.message,
            }));
        }
        self.audit.record(entry).await;
    }
}

impl DataProvider for GovernedData {
    fn query<'a>(
        &'a self,
        caller: &'a Invocation,
        query: SemanticQuery,
    ) -> BoxFuture<'a, Result<DataTable, AppError>> {
        Box::pin(async move {
            let dataset = query.dataset.clone();
            let result = match self.access(caller, &dataset).await {
                Ok(access) => match self.source(&dataset).await {
                    Ok(Source::Warehouse(engine)) => {
                        engine.query(&access, &query, self.limits()).await
                    }
                    Err(e) => Err(e),
                    Ok(Source::Fixture) => {
                        let data = self.data.clone();
                        let dataset = dataset.clone();
                        // Building the view copies the visible rows: off the
                        // async workers.
                        tokio::task::spawn_blocking(move || {
                            data.run_guarded(&query, data.row_cap(), &Guard(&access))
                        })
                        .await
                        .unwrap_or_else(|e| {
                            Err(AppError::internal(format!("querying `{dataset}`: {e}")))
                        })
                    }
                },
                Err(e) => Err(e),
            };
            self.audit(caller, &dataset, &result).await;
            result
        })
    }

    fn sql<'a>(
        &'a self,
        caller: &'a Invocation,
        statement: String,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<DataTable, AppError>> {
        Box::pin(async move {
            let Some(engine) = self.engine.as_deref() else {
                return Err(AppError::invalid_input(SQL_UNAVAILABLE));
            };
            // The views of every warehouse dataset the app was granted and
            // the user may read: a statement can reach nothing else.
            let grant = self.policy.app_grant(&caller.app_id);
            let mut views = BTreeMap::new();
            for dataset in grant.datasets.keys() {
                if !engine.declares(dataset) || !engine.is_built(dataset).await? {
                    continue;
                }
                if let Ok(access) = self.decide(caller, dataset, &grant).await {
                    views.insert(dataset.clone(), engine.view(dataset, &access)?);
                }
            }
            let result = engine.sql(&views, &statement, &params, self.limits()).await;
            self.audit_sql(caller, &statement, &result).await;
            result.map(|(table, _)| table)
        })
    }
}

/// [`EffectiveAccess`] as the fixture provider's [`ViewGuard`].
struct Guard<'a>(&'a EffectiveAccess);

impl ViewGuard for Guard<'_> {
    fn org_column(&self) -> Option<&str> {
        self.0.org_column()
    }
    fn owner_column(&self) -> Option<&str> {
        self.0.owner_column()
    }
    fn keeps_every_row(&self) -> bool {
        matches!(self.0.row_filter(), zhiyun_authz::scope::RowFilter::All)
    }
    fn keep_row(&self, org: Option<&str>, owner: Option<&str>) -> bool {
        self.0.allows_row(org, owner)
    }
    fn may_mask(&self, column: &str) -> bool {
        !matches!(self.0.column(column), ColumnAccess::Clear)
    }
    fn masks_cell(&self, column: &str, org: Option<&str>, owner: Option<&str>) -> bool {
        match self.0.column(column) {
            ColumnAccess::Clear => false,
            ColumnAccess::Masked(_) => true,
            ColumnAccess::ClearWhere { filter, .. } => !filter.matches(org, owner),
        }
    }
    fn mask_text(&self, column: &str, value: &str) -> String {
        match self.0.column(column) {
            ColumnAccess::Masked(kind) | ColumnAccess::ClearWhere { mask: kind, .. } => {
                mask(value, *kind)
            }
            ColumnAccess::Clear => value.to_string(),
        }
    }
}
