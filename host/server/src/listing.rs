//! App listings (上架 / 版本升级) as change requests: the applier the
//! change-request engine calls when a listing is approved or rejected.
//!
//! Approval publishes the version in the registry and grants the app the
//! datasets its manifest declares (level 内部; wider grants are 数据申请),
//! in the engine's transaction — the request, the publication, the grants
//! and their audit entries commit together or not at all.

use zhiyun_apps::registry::Registry;
use zhiyun_authz::change::{BoxFuture, ChangeKind};
use zhiyun_authz::{ChangeApplier, ChangeError, ChangeRequest};
use zhiyun_store::now_micros;

pub struct ListingApplier {
    registry: Registry,
}

impl ListingApplier {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

fn listing(request: &ChangeRequest) -> Result<(String, semver::Version), ChangeError> {
    let ChangeKind::AppListing(l) = &request.change else {
        return Err(ChangeError::Invalid(format!(
            "change request #{} is not an app listing",
            request.id
        )));
    };
    let version = semver::Version::parse(&l.version)
        .map_err(|e| ChangeError::Invalid(format!("`{}` is not a version: {e}", l.version)))?;
    Ok((l.app_id.clone(), version))
}

fn reviewer(request: &ChangeRequest) -> Result<&str, ChangeError> {
    request.reviewer.as_deref().ok_or_else(|| {
        ChangeError::Invalid(format!("change request #{} has no reviewer", request.id))
    })
}

impl ChangeApplier for ListingApplier {
    fn apply<'a>(
        &'a self,
        tx: &'a mut sqlx::AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async move {
            let (app_id, version) = listing(request)?;
            let record = self
                .registry
                .approve_in(
                    tx,
                    &app_id,
                    &version,
                    reviewer(request)?,
                    request.reason.as_deref(),
                )
                .await
                .map_err(|e| ChangeError::Apply(e.to_string()))?;
            let datasets: Vec<String> = record
                .manifest
                .datasets
                .iter()
                .map(|d| d.name.clone())
                .collect();
            zhiyun_authz::policy::grant_listing_datasets(
                tx,
                &app_id,
                &datasets,
                Some(request.id),
                now_micros(),
            )
            .await
        })
    }

    fn rejected<'a>(
        &'a self,
        tx: &'a mut sqlx::AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async move {
            let (app_id, version) = listing(request)?;
            let reason = request.reason.as_deref().unwrap_or_default();
            self.registry
                .reject_in(tx, &app_id, &version, reviewer(request)?, reason)
                .await
                .map_err(|e| ChangeError::Apply(e.to_string()))?;
            Ok(())
        })
    }
}
