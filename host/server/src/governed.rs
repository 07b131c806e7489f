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
use zhiyun_authz::access::{
    AppGrant, ColumnAccess, DatasetGrant, EffectiveAccess, effective_access,
};
use zhiyun_authz::scope::{Sensitivity, mask};
use zhiyun_authz::{AuditOutcome, NewAuditEntry, Policy};
use zhiyun_contract::{
    AppError, BoxFuture, DataProvider, DataTable, Invocation, SemanticQuery, Value,
};
use zhiyun_data::{FixtureProvider, SQL_UNAVAILABLE, ViewGuard};

/// The app id the portal's own data API reads as (in audit entries).
pub const PORTAL: &str = "portal";

pub struct GovernedData {
    data: FixtureProvider,
    policy: Policy,
    audit: AuditSink,
}

impl GovernedData {
    pub fn new(data: FixtureProvider, policy: Policy, audit: AuditSink) -> Self {
        Self {
            data,
            policy,
            audit,
        }
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
            if self.data.dataset(dataset).is_some() {
                return Err(AppError::access_denied(format!(
                    "dataset `{dataset}` is not in the catalog, so nobody may read it yet"
                )));
            }
            let names: Vec<&str> = self.data.dataset_names().collect();
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
            Ok(access) => {
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
            Err(e) => Err(e),
        };
        self.audit(caller, dataset, &result).await;
        result
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
                Ok(access) => {
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
                Err(e) => Err(e),
            };
            self.audit(caller, &dataset, &result).await;
            result
        })
    }

    fn sql<'a>(
        &'a self,
        _caller: &'a Invocation,
        _statement: String,
        _params: Vec<Value>,
    ) -> BoxFuture<'a, Result<DataTable, AppError>> {
        Box::pin(async move { Err(AppError::invalid_input(SQL_UNAVAILABLE)) })
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
