//! What the API does, without HTTP: submitting a package (verify, inspect,
//! trial-run, register) and launching a live app. Handlers stay thin.

use crate::auth::Caller;
use crate::http::changes::change_error;
use crate::http::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use zhiyun_apps::registry::{Registry, VersionRecord};
use zhiyun_apps::{Manifest, Package};
use zhiyun_authz::change::{AppListing, ChangeKind};
use zhiyun_authz::{ChangeFilter, ChangeKindName, ChangeRequests, ChangeState};
use zhiyun_contract::{AppOutput, DataProvider, Description, Invocation, Param};
use zhiyun_runtime::{Limits, LoadedApp, LogLine, Runtime, Services, Stats};

/// The outcome of the sandbox trial run the host performs at submission:
/// `describe`, then `render`/`evaluate` with the manifest's default
/// parameters against fixture data, under the app's production limits.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialRun {
    /// Whether both calls succeeded.
    pub ok: bool,
    /// The error code if not (`app-timeout`, `app-crashed`, …).
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: f64,
    pub peak_memory_bytes: u64,
    pub host_calls: u32,
    pub output_bytes: u64,
    /// What `describe` returned.
    #[schema(value_type = Object)]
    pub description: Option<Description>,
    /// A one-line summary of the output (e.g. "5 blocks: 6 KPIs, 3 charts, 1 table").
    pub output_summary: Option<String>,
    /// The app's own log lines during the trial.
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<LogLine>,
}

/// A reviewer's decision on an app listing.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    Approve(Option<&'a str>),
    Reject(&'a str),
}

pub struct AppService {
    pub registry: Registry,
    pub runtime: Arc<Runtime>,
    /// What launched apps read: the governed path (scope ∩ grant, masking,
    /// audit).
    pub data: Arc<dyn DataProvider>,
    /// What the trial run at submission reads: the synthetic fixture data,
    /// with no user behind the call.
    pub trial_data: Arc<dyn DataProvider>,
    /// App listings are change requests of this engine.
    pub changes: ChangeRequests,
    pub metrics: Arc<Metrics>,
    /// Loaded components by sha256. Only components of approved versions
    /// (fetched through `Registry::launchable`) are ever put here.
    loaded: RwLock<HashMap<String, LoadedApp>>,
    /// The last live record seen per app, reused while the store still
    /// names the same published version and component.
    live: RwLock<HashMap<String, Arc<VersionRecord>>>,
}

impl AppService {
    pub fn new(
        registry: Registry,
        runtime: Arc<Runtime>,
        data: Arc<dyn DataProvider>,
        trial_data: Arc<dyn DataProvider>,
        changes: ChangeRequests,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            registry,
            runtime,
            data,
            trial_data,
            changes,
            metrics,
            loaded: RwLock::new(HashMap::new()),
            live: RwLock::new(HashMap::new()),
        }
    }

    /// Verifies, inspects and trial-runs a package, then registers it as
    /// `submitted`. Nothing is stored unless every check passes.
    pub async fn submit(&self, bytes: &[u8], caller: &Caller) -> ApiResult<VersionRecord> {
        let package = Package::from_bytes(bytes)?;
        let manifest = package.manifest().clone();
        let signer_department = self.registry.verify_signature(&package).await?;
        if signer_department != caller.department {
            return Err(ApiError::forbidden(format!(
                "{} belongs to {}, but this package is signed for {}",
                caller.username, caller.department, signer_department
            )));
        }
        self.registry.check_new_version(&manifest).await?;

        // Compile and check the contract off the async workers.
        let runtime = self.runtime.clone();
        let component = package.component().to_vec();
        let kind = manifest.kind;
        let loaded = tokio::task::spawn_blocking(move || runtime.load(kind, &component))
            .await
            .map_err(|e| ApiError::internal(format!("compiling the component: {e}")))??;
        let info =
            serde_json::to_value(loaded.info()).map_err(|e| ApiError::internal(e.to_string()))?;
        let trial = self.trial_run(&loaded, &manifest, caller).await;
        let trial = serde_json::to_value(&trial).map_err(|e| ApiError::internal(e.to_string()))?;
        // The version and its listing request (上架 / 版本升级) are one
        // commit: no version without a request to review it.
        let mut tx = self
            .registry
            .store()
            .begin_write()
            .await
            .map_err(store_error)?;
        let record = self
            .registry
            .submit_in(&mut tx, bytes, &package, &caller.username, info, trial)
            .await?;
        self.changes
            .create_in(
                &mut tx,
                &caller.username,
                ChangeKind::AppListing(AppListing {
                    app_id: record.app_id.clone(),
                    version: record.version.to_string(),
                }),
            )
            .await
            .map_err(change_error)?;
        tx.commit().await.map_err(|e| store_error(e.into()))?;
        Ok(record)
    }

    /// Approves or rejects a submitted version through its listing's change
    /// request (the engine checks four eyes and audits; the applier
    /// publishes or rejects the version in the same transaction).
    pub async fn decide_listing(
        &self,
        app_id: &str,
        version: &semver::Version,
        reviewer: &str,
        decision: Decision<'_>,
    ) -> ApiResult<VersionRecord> {
        let pending = self
            .changes
            .list(&ChangeFilter {
                state: Some(ChangeState::Pending),
                kind: Some(ChangeKindName::AppListing),
                limit: Some(1000),
                ..ChangeFilter::default()
            })
            .await
            .map_err(change_error)?;
        let wanted = version.to_string();
        let request = pending.into_iter().find(|r| {
            matches!(&r.change, ChangeKind::AppListing(l) if l.app_id == app_id && l.version == wanted)
        });
        let Some(request) = request else {
            // No pending listing: the registry says why (404, or 409 with the state).
            let record = self.registry.version(app_id, version).await?;
            return Err(ApiError::from(
                zhiyun_apps::registry::RegistryError::Conflict {
                    message: format!("version {version} of {app_id} is not waiting for review"),
                    current_state: Some(record.state),
                },
            ));
        };
        match decision {
            Decision::Approve(reason) => self.changes.approve(request.id, reviewer, reason).await,
            Decision::Reject(reason) => self.changes.reject(request.id, reviewer, reason).await,
        }
        .map_err(change_error)?;
        Ok(self.registry.version(app_id, version).await?)
    }

    async fn trial_run(&self, app: &LoadedApp, manifest: &Manifest, caller: &Caller) -> TrialRun {
        let limits = limits_of(manifest);
        let services = Services {
            data: self.trial_data.clone(),
            invocation: invocation(caller, manifest, "trial-run", "zh-CN"),
        };
        let mut trial = TrialRun {
            ok: false,
            error_code: None,
            error_message: None,
            duration_ms: 0.0,
            peak_memory_bytes: 0,
            host_calls: 0,
            output_bytes: 0,
            description: None,
            output_summary: None,
            log: vec![],
        };
        let record = |trial: &mut TrialRun, stats: &Stats| {
            trial.duration_ms += stats.duration.as_secs_f64() * 1e3;
            trial.peak_memory_bytes = trial.peak_memory_bytes.max(stats.peak_memory_bytes as u64);
            trial.host_calls += stats.host_calls;
            trial.log.extend(stats.log.iter().cloned());
        };
        match self.runtime.describe(app, limits, services.clone()).await {
            Ok(d) => {
                record(&mut trial, &d.stats);
                trial.description = Some(d.output);
            }
            Err((e, stats)) => {
                record(&mut trial, &stats);
                let api: ApiError = e.into();
                trial.error_code = Some(api.code.to_string());
                trial.error_message = Some(format!("describe: {}", api.message));
                return trial;
            }
        }
        let params = match crate::params::from_json(manifest, &serde_json::Map::new()) {
            Ok(p) => p,
            Err(e) => {
                trial.error_code = Some("invalid-input".into());
                trial.error_message = Some(format!("no sample parameters: {e}"));
                return trial;
            }
        };
        match self.runtime.run(app, params, limits, services).await {
            Ok(out) => {
                record(&mut trial, &out.stats);
                trial.output_bytes = out.stats.output_bytes as u64;
                trial.output_summary = Some(summarize(&out.output));
                trial.ok = true;
            }
            Err((e, stats)) => {
                record(&mut trial, &stats);
                let api: ApiError = e.into();
                trial.error_code = Some(api.code.to_string());
                trial.error_message = Some(api.message);
            }
        }
        trial
    }

    /// Runs the live version of an app for a caller. Refused unless the
    /// app's live version is `published`.
    pub async fn launch(
        &self,
        app_id: &str,
        params: &serde_json::Map<String, serde_json::Value>,
        caller: &Caller,
        locale: &str,
        request_id: &str,
    ) -> ApiResult<(Arc<VersionRecord>, AppOutput, Stats)> {
        let (record, loaded) = self.launchable(app_id).await?;
        let params: Vec<Param> =
            crate::params::from_json(&record.manifest, params).map_err(ApiError::bad_request)?;
        let services = Services {
            data: self.data.clone(),
            invocation: invocation(caller, &record.manifest, request_id, locale),
        };
        let kind = record.kind.as_str();
        self.metrics
            .invocations
            .with_label_values(&[app_id, kind])
            .inc();
        let result = self
            .runtime
            .run(&loaded, params, limits_of(&record.manifest), services)
            .await;
        match result {
            Ok(out) => {
                self.metrics
                    .duration
                    .with_label_values(&[app_id])
                    .observe(out.stats.duration.as_secs_f64());
                Ok((record, out.output, out.stats))
            }
            Err((e, stats)) => {
                self.metrics
                    .duration
                    .with_label_values(&[app_id])
                    .observe(stats.duration.as_secs_f64());
                self.metrics
                    .errors
                    .with_label_values(&[app_id, e.label()])
                    .inc();
                Err(e.into())
            }
        }
    }

    /// The live version of an app and its loaded component. The state is
    /// read from the store on every launch (so a suspension on any host
    /// takes effect at the next launch); the component bytes only when this
    /// host has not loaded that sha256 yet.
    async fn launchable(&self, app_id: &str) -> ApiResult<(Arc<VersionRecord>, LoadedApp)> {
        let record = self.live_record(app_id).await?;
        if let Some(app) = self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&record.component_sha256)
        {
            return Ok((record, app.clone()));
        }
        let (fresh, component) = self.registry.launchable(app_id).await?;
        let record = Arc::new(fresh);
        let runtime = self.runtime.clone();
        let kind = record.kind;
        let app = tokio::task::spawn_blocking(move || runtime.load(kind, &component))
            .await
            .map_err(|e| ApiError::internal(format!("loading the component: {e}")))??;
        if app.sha256() != record.component_sha256 {
            return Err(ApiError::internal(format!(
                "stored component of {app_id} does not match its approved sha256"
            )));
        }
        self.loaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.component_sha256.clone(), app.clone());
        Ok((record, app))
    }

    /// The published record of an app: one small query per launch; the full
    /// record (manifest, trial, …) is read only when the published version
    /// or its component changed since this host last saw it.
    async fn live_record(&self, app_id: &str) -> ApiResult<Arc<VersionRecord>> {
        let Some((version, sha)) = self.registry.published_marker(app_id).await? else {
            self.live
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(app_id);
            // Not published: `live` answers with the reason (404, or 409 and the state).
            return Ok(Arc::new(self.registry.live(app_id).await?));
        };
        if let Some(cached) = self
            .live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(app_id)
            && cached.version.to_string() == version
            && cached.component_sha256 == sha
        {
            return Ok(cached.clone());
        }
        let record = Arc::new(self.registry.live(app_id).await?);
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app_id.to_string(), record.clone());
        Ok(record)
    }
}

fn store_error(e: zhiyun_store::StoreError) -> ApiError {
    ApiError::internal(format!("the platform store: {e}"))
}

pub fn limits_of(manifest: &Manifest) -> Limits {
    Limits {
        timeout: manifest.limits.timeout(),
        memory_bytes: manifest.limits.memory_bytes() as usize,
        output_bytes: manifest.limits.max_output_bytes() as usize,
        fuel: manifest.limits.fuel,
        ..Limits::default()
    }
}

fn invocation(caller: &Caller, manifest: &Manifest, request_id: &str, locale: &str) -> Invocation {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default();
    Invocation {
        user_id: caller.username.clone(),
        user_name: caller.display_name.clone(),
        org_id: caller.org_id.clone(),
        org_name: caller.org_name.clone(),
        locale: locale.to_string(),
        now,
        app_id: manifest.id.clone(),
        app_version: manifest.version.to_string(),
        request_id: request_id.to_string(),
    }
}

fn summarize(output: &AppOutput) -> String {
    use zhiyun_contract::Block;
    match output {
        AppOutput::View(v) => {
            let (mut kpis, mut charts, mut tables, mut texts) = (0, 0, 0, 0);
            for b in &v.blocks {
                match b {
                    Block::Kpis(k) => kpis += k.len(),
                    Block::Chart(_) => charts += 1,
                    Block::Table(_) => tables += 1,
                    Block::Text(_) => texts += 1,
                }
            }
            format!("view: {kpis} KPIs, {charts} charts, {tables} tables, {texts} texts")
        }
        AppOutput::Document(d) => format!(
            "document: {} rows × {} columns",
            d.rows.len(),
            d.columns.len()
        ),
        AppOutput::Findings(f) => format!("{} findings", f.len()),
    }
}
