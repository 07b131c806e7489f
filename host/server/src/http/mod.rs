//! The HTTP API: `/api/v1` (JSON), `/api/openapi.json`, `/healthz`,
//! `/readyz`, `/metrics`. Handlers are thin: extract, call the service, map
//! the result. Every error is an [`error::ApiError`] with a JSON body.

pub mod account;
pub mod admin;
pub mod apps;
pub mod catalog;
pub mod changes;
pub mod data;
pub mod error;
pub mod extract;
pub mod models;
pub mod ops;
pub mod permissions;
pub mod portal;
pub mod services;
pub mod warehouse;

use crate::auth::Auth;
use crate::metrics::Metrics;
use crate::service::AppService;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post};
use error::ApiError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::OpenApi;
use zhiyun_store::Store;

/// Largest accepted request body: a package (64 MiB component cap) plus slack.
pub const MAX_BODY_BYTES: usize = 80 << 20;

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub apps: Arc<AppService>,
    /// Sessions, tokens, the casbin policy.
    pub auth: Auth,
    /// The change-request engine (every kind, app listings included).
    pub changes: zhiyun_authz::ChangeRequests,
    /// The governed data path (also what launched apps read through).
    pub governed: Arc<crate::governed::GovernedData>,
    /// The datasets behind it (their names, for the catalog list).
    pub fixtures: zhiyun_data::FixtureProvider,
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub audit: zhiyun_authz::AuditLog,
    /// Launch records, written in batches in the background.
    pub audit_sink: crate::audit_sink::AuditSink,
    /// The background writer of `audit_sink`; `serve` awaits it after
    /// shutdown so that no queued entry is lost.
    pub audit_writer: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// The task that reloads the policy when another host changed it.
    pub policy_sync: Arc<tokio::task::JoinHandle<()>>,
    /// The data warehouse: batch loads, reconciliation, the catalog.
    pub warehouse: Arc<crate::warehouse::WarehouseService>,
    /// Data services (数据服务): definitions, calls, this host's rate limits.
    pub services: Arc<crate::services::DataServices>,
}

impl AppState {
    /// After an approval on this host: reload the policy now rather than at
    /// the next sync tick, so the approver sees the change at once.
    pub async fn policy_changed(&self) {
        if let Err(e) = self.auth.policy.refresh().await {
            tracing::error!(error = %e, "could not reload the policy after a change");
        }
    }

    /// Records an action in the hash-chained audit log. The action has
    /// already happened; a failure to record it is logged as an error (the
    /// change-request engine, which audits inside its own transaction,
    /// replaces this for policy changes).
    pub async fn audit(
        &self,
        actor: &str,
        org: &str,
        action: &str,
        target: &str,
        outcome: zhiyun_authz::AuditOutcome,
        detail: serde_json::Value,
    ) {
        let action = match zhiyun_authz::AuditAction::parse(action) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, action, "invalid audit action");
                return;
            }
        };
        let entry = zhiyun_authz::NewAuditEntry::new(actor, action, target)
            .org(org)
            .outcome(outcome)
            .detail(detail);
        if let Err(e) = self.audit.append(entry).await {
            tracing::error!(error = %e, target, "could not write the audit log");
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "zhiyun (智运) API",
        description = "The smart operations center's API: accounts and sessions, micro-app registry, review and launch, change requests, administration, governed data, audit."
    ),
    paths(
        account::login,
        account::logout,
        account::me,
        account::my_menus,
        account::list_tokens,
        account::create_token,
        account::revoke_token,
        account::orgs,
        apps::submit,
        apps::list_apps,
        apps::list_versions,
        apps::review,
        apps::pending,
        apps::approve,
        apps::reject,
        apps::suspend,
        apps::resume,
        apps::offline,
        apps::rollback,
        apps::history,
        apps::launch,
        apps::register_key,
        apps::audit_log,
        data::export,
        data::datasets,
        data::rows,
        services::list,
        services::propose,
        services::get,
        services::retire,
        services::call,
        changes::list,
        changes::create,
        changes::get,
        changes::approve,
        changes::reject,
        changes::withdraw,
        catalog::search,
        catalog::table,
        catalog::directory,
        catalog::refresh,
        catalog::confirm_sensitivity,
        models::list,
        models::model,
        models::history,
        models::start_build,
        models::lineage,
        warehouse::start_load,
        warehouse::job,
        warehouse::batches,
        warehouse::batch_tables,
        warehouse::reconcile,
        warehouse::reconciliation,
        warehouse::quarantine,
        admin::users,
        admin::create_user,
        admin::create_org,
        admin::set_status,
        admin::roles,
        admin::menus,
        admin::verify_audit,
        ops::healthz,
        ops::readyz,
    ),
    components(schemas(error::ErrorBody, zhiyun_contract::AppOutput)),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("session" = []))
)]
pub struct ApiDoc;

/// Two schemes: the session cookie (browsers; writes also need the
/// `X-CSRF-Token` header) and personal API tokens as bearer tokens.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Request ids: a process-unique counter with a random prefix, short enough
/// to read in logs.
#[derive(Clone)]
struct Ids {
    prefix: String,
    next: Arc<AtomicU64>,
}

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id (set by the request-id layer), for audit entries.
pub fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/login", post(account::login))
        .route("/logout", post(account::logout))
        .route("/me", get(account::me))
        .route("/me/menus", get(account::my_menus))
        .route(
            "/tokens",
            get(account::list_tokens).post(account::create_token),
        )
        .route("/tokens/{id}/revoke", post(account::revoke_token))
        .route("/orgs", get(account::orgs).post(admin::create_org))
        .route("/packages", post(apps::submit))
        .route("/keys", post(apps::register_key))
        .route("/reviews", get(apps::pending))
        .route("/apps", get(apps::list_apps))
        .route("/apps/{id}/versions", get(apps::list_versions))
        .route("/apps/{id}/versions/{version}/review", get(apps::review))
        .route("/apps/{id}/versions/{version}/approve", post(apps::approve))
        .route("/apps/{id}/versions/{version}/reject", post(apps::reject))
        .route("/apps/{id}/suspend", post(apps::suspend))
        .route("/apps/{id}/resume", post(apps::resume))
        .route("/apps/{id}/offline", post(apps::offline))
        .route("/apps/{id}/rollback", post(apps::rollback))
        .route("/apps/{id}/history", get(apps::history))
        .route("/apps/{id}/launch", post(apps::launch))
        .route("/apps/{id}/export", post(data::export))
        .route("/changes", get(changes::list).post(changes::create))
        .route("/changes/{id}", get(changes::get))
        .route("/changes/{id}/approve", post(changes::approve))
        .route("/changes/{id}/reject", post(changes::reject))
        .route("/changes/{id}/withdraw", post(changes::withdraw))
        .route("/users", get(admin::users).post(admin::create_user))
        .route("/users/{username}/status", post(admin::set_status))
        .route("/roles", get(admin::roles))
        .route("/menus", get(admin::menus))
        .route("/datasets", get(data::datasets))
        .route("/datasets/{name}/rows", get(data::rows))
        .route(
            "/data-services",
            get(services::list).post(services::propose),
        )
        .route("/data-services/{name}", get(services::get))
        .route("/data-services/{name}/retire", post(services::retire))
        .route("/services/{name}", get(services::call))
        .route(
            "/warehouse/batches",
            get(warehouse::batches).post(warehouse::start_load),
        )
        .route("/warehouse/jobs/{id}", get(warehouse::job))
        .route("/models", get(models::list))
        .route(
            "/models/builds",
            get(models::history).post(models::start_build),
        )
        .route("/models/{name}", get(models::model))
        .route("/models/{name}/lineage", get(models::lineage))
        .route("/catalog/search", get(catalog::search))
        .route("/catalog/tables/{name}", get(catalog::table))
        .route("/catalog/directory", get(catalog::directory))
        .route("/catalog/refresh", post(catalog::refresh))
        .route(
            "/catalog/tables/{name}/columns/{column}/sensitivity",
            post(catalog::confirm_sensitivity),
        )
        .route(
            "/warehouse/batches/{batch_id}/tables",
            get(warehouse::batch_tables),
        )
        .route(
            "/warehouse/batches/{batch_id}/reconcile",
            post(warehouse::reconcile),
        )
        .route(
            "/warehouse/batches/{batch_id}/tables/{table}/reconciliation",
            get(warehouse::reconciliation),
        )
        .route(
            "/warehouse/batches/{batch_id}/quarantine",
            get(warehouse::quarantine),
        )
        .route("/audit", get(apps::audit_log))
        .route("/audit/verify", get(admin::verify_audit))
        // Every route above passes the permission table first.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            permissions::authorize,
        ))
        .fallback(|| async { ApiError::not_found("no such API endpoint") });

    let ids = Ids {
        prefix: hex::encode(rand::random::<[u8; 3]>()),
        next: Arc::new(AtomicU64::new(1)),
    };
    let metrics = state.metrics.clone();
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/", get(portal::index))
        .route("/assets/{*path}", get(portal::asset))
        .fallback(|| async { ApiError::not_found("not found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this endpoint does not accept that method",
            )
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(move |req, next| {
            let metrics = metrics.clone();
            count_requests(metrics, req, next)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN))
                .make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, ids))
}

async fn count_requests(
    metrics: Arc<Metrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().as_str().to_string();
    let response = next.run(req).await;
    metrics
        .http_requests
        .with_label_values(&[&method, response.status().as_str()])
        .inc();
    response
}
