//! The registry on both backends (SQLite and PostgreSQL, via
//! `zhiyun_store::store_test!`).

use semver::Version;
use serde_json::json;
use std::io::{Read, Write};
use zhiyun_apps::signing::{SecretKey, generate_secret_key};
use zhiyun_apps::{
    Package, Registry, RegistryError, VersionRecord, VersionState, pack_bytes, pack_bytes_signed,
};
use zhiyun_store::{Store, store_test};

const FINANCE: &str = "财务部";
const OPS: &str = "业务运营部";

fn manifest(id: &str, version: &str, kind: &str, department: &str, extra: &str) -> String {
    let schedule = if kind == "scenario" {
        ""
    } else {
        "\n[schedule]\ncron = \"0 8 * * *\"\n"
    };
    format!(
        "[app]\nid = \"{id}\"\nversion = \"{version}\"\nkind = \"{kind}\"\ndepartment = \"{department}\"\n\n\
         [app.name]\nzh-CN = \"资金全景监控\"\nen = \"Fund position\"\n{schedule}{extra}"
    )
}

/// A valid component: the component preamble and one custom section named
/// `tag` (so each version has its own sha256).
fn component(tag: &str) -> Vec<u8> {
    let mut c = b"\0asm\x0d\x00\x01\x00".to_vec();
    assert!(tag.len() < 100);
    c.extend_from_slice(&[0x00, tag.len() as u8 + 1, tag.len() as u8]);
    c.extend_from_slice(tag.as_bytes());
    c
}

fn imports(names: &[&str]) -> serde_json::Value {
    json!({
        "imports": names.iter().map(|n| json!({"name": n, "kind": "instance", "functions": []})).collect::<Vec<_>>(),
        "exports": [{"name": "zhiyun:app/scenario@0.1.0", "kind": "instance", "functions": ["render"]}],
    })
}

struct Fixture {
    reg: Registry,
    key: SecretKey,
}

impl Fixture {
    async fn new(store: Store) -> Fixture {
        let reg = Registry::new(store);
        let key = generate_secret_key("fin-2026", FINANCE).unwrap();
        reg.register_key(
            &key.key_id,
            &key.department,
            &key.public_key().to_bytes(),
            "sysadmin",
        )
        .await
        .unwrap();
        Fixture { reg, key }
    }

    fn package(&self, id: &str, version: &str) -> (Vec<u8>, Package) {
        self.package_with(id, version, "scenario", "")
    }

    fn package_with(&self, id: &str, version: &str, kind: &str, extra: &str) -> (Vec<u8>, Package) {
        let text = manifest(id, version, kind, FINANCE, extra);
        let bytes = pack_bytes_signed(
            &text,
            "app.toml",
            &component(&format!("{id}-{version}")),
            &self.key,
        )
        .unwrap();
        let package = Package::from_bytes(&bytes).unwrap();
        (bytes, package)
    }

    async fn submit(&self, id: &str, version: &str, by: &str) -> VersionRecord {
        self.try_submit(id, version, by).await.unwrap()
    }

    async fn try_submit(
        &self,
        id: &str,
        version: &str,
        by: &str,
    ) -> Result<VersionRecord, RegistryError> {
        let (bytes, package) = self.package(id, version);
        self.reg
            .submit(
                &bytes,
                &package,
                by,
                imports(&["zhiyun:app/data@0.1.0", "zhiyun:app/log@0.1.0"]),
                json!({"ok": true, "duration_ms": 3}),
            )
            .await
    }

    /// Submitted by alice, approved by bob.
    async fn publish(&self, id: &str, version: &str) -> VersionRecord {
        self.submit(id, version, "alice").await;
        self.reg
            .approve(id, &v(version), "bob", Some("looks good"))
            .await
            .unwrap()
    }

    async fn state(&self, id: &str, version: &str) -> VersionState {
        self.reg.version(id, &v(version)).await.unwrap().state
    }
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

#[track_caller]
fn conflict(r: Result<impl std::fmt::Debug, RegistryError>, state: Option<VersionState>) -> String {
    match r {
        Err(RegistryError::Conflict {
            message,
            current_state,
        }) => {
            assert_eq!(current_state, state, "{message}");
            message
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// The package bytes with entries changed by `edit(name, data)`.
fn rebuild(bytes: &[u8], mut edit: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut entries = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            entries.push((name, data));
        }
    }
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let mut gz = tar.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

// ---- the happy path ----------------------------------------------------------

store_test!(submit_and_approve_publishes, |store| async move {
    let f = Fixture::new(store).await;
    let r = f.submit("fund-position", "0.1.0", "alice").await;
    assert_eq!(r.state, VersionState::Submitted);
    assert_eq!(r.version, v("0.1.0"));
    assert_eq!(r.kind, zhiyun_contract::AppKind::Scenario);
    assert_eq!(r.signer_key_id, "fin-2026");
    assert_eq!(r.submitted_by, "alice");
    assert_eq!(r.manifest.department, FINANCE);
    assert_eq!(r.trial["duration_ms"], 3);
    assert_eq!(
        r.component_info["imports"][0]["name"],
        "zhiyun:app/data@0.1.0"
    );
    assert!(r.reviewed_by.is_none());
    assert!(r.size > 0);
    let sha = r.component_sha256.clone();
    assert!(!f.reg.is_approved(&sha).await.unwrap());
    assert_eq!(f.reg.pending().await.unwrap().len(), 1);
    // Not launchable yet.
    let m = conflict(
        f.reg.launchable("fund-position").await,
        Some(VersionState::Submitted),
    );
    assert!(m.contains("no published version"), "{m}");

    let r = f
        .reg
        .approve("fund-position", &v("0.1.0"), "bob", Some("ok"))
        .await
        .unwrap();
    assert_eq!(r.state, VersionState::Published);
    assert_eq!(r.reviewed_by.as_deref(), Some("bob"));
    assert!(r.reviewed_at.unwrap() >= r.submitted_at);
    assert_eq!(r.reason.as_deref(), Some("ok"));
    assert!(f.reg.is_approved(&sha).await.unwrap());
    assert!(f.reg.pending().await.unwrap().is_empty());

    let (live, bytes) = f.reg.launchable("fund-position").await.unwrap();
    assert_eq!(live.version, v("0.1.0"));
    assert_eq!(bytes, component("fund-position-0.1.0"));
    // The stored package is the submitted one.
    let (package_bytes, _) = f.package("fund-position", "0.1.0");
    assert_eq!(
        f.reg.package("fund-position", &v("0.1.0")).await.unwrap(),
        package_bytes
    );

    let h = f.reg.history("fund-position").await.unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].from_state, h[0].to_state),
        (None, VersionState::Submitted)
    );
    assert_eq!(h[0].actor, "alice");
    assert_eq!(
        (h[1].from_state, h[1].to_state),
        (Some(VersionState::Submitted), VersionState::Published)
    );
    assert_eq!(h[1].actor, "bob");
    assert_eq!(h[1].reason.as_deref(), Some("ok"));
});

store_test!(approval_supersedes_the_live_version, |store| async move {
    let f = Fixture::new(store).await;
    let v1 = f.publish("fund-position", "0.1.0").await;
    let v2 = f.publish("fund-position", "0.2.0").await;
    assert_eq!(v2.state, VersionState::Published);
    assert_eq!(
        f.state("fund-position", "0.1.0").await,
        VersionState::Superseded
    );
    assert!(!f.reg.is_approved(&v1.component_sha256).await.unwrap());
    assert!(f.reg.is_approved(&v2.component_sha256).await.unwrap());
    let (live, _) = f.reg.launchable("fund-position").await.unwrap();
    assert_eq!(live.version, v("0.2.0"));

    // A suspended live version is superseded by the next approval too.
    f.reg
        .suspend("fund-position", "bob", "数据口径调整")
        .await
        .unwrap();
    f.publish("fund-position", "0.3.0").await;
    assert_eq!(
        f.state("fund-position", "0.2.0").await,
        VersionState::Superseded
    );
    assert_eq!(
        f.state("fund-position", "0.3.0").await,
        VersionState::Published
    );

    // Approving an older submission than the live version is refused.
    f.submit("fund-position", "0.4.0", "alice").await;
    f.submit("fund-position", "0.5.0", "alice").await;
    f.reg
        .approve("fund-position", &v("0.5.0"), "bob", None)
        .await
        .unwrap();
    let m = conflict(
        f.reg
            .approve("fund-position", &v("0.4.0"), "bob", None)
            .await,
        Some(VersionState::Published),
    );
    assert!(m.contains("the live version 0.5.0 is newer"), "{m}");

    let h = f.reg.history("fund-position").await.unwrap();
    let superseded: Vec<_> = h
        .iter()
        .filter(|e| e.to_state == VersionState::Superseded)
        .map(|e| (e.version.to_string(), e.from_state, e.reason.clone()))
        .collect();
    assert_eq!(
        superseded,
        vec![
            (
                "0.1.0".into(),
                Some(VersionState::Published),
                Some("superseded by 0.2.0".into())
            ),
            (
                "0.2.0".into(),
                Some(VersionState::Suspended),
                Some("superseded by 0.3.0".into())
            ),
            (
                "0.3.0".into(),
                Some(VersionState::Published),
                Some("superseded by 0.5.0".into())
            ),
        ]
    );
});

// ---- review rules ---------------------------------------------------------------

store_test!(
    reviewers_cannot_review_their_own_submission,
    |store| async move {
        let f = Fixture::new(store).await;
        f.submit("fund-position", "0.1.0", "alice").await;
        let e = f
            .reg
            .approve("fund-position", &v("0.1.0"), "alice", None)
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::SelfApproval(_)), "{e}");
        assert!(
            e.to_string()
                .contains("alice submitted version 0.1.0 of fund-position"),
            "{e}"
        );
        let e = f
            .reg
            .reject("fund-position", &v("0.1.0"), "alice", "changed my mind")
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::SelfApproval(_)), "{e}");
        // Nothing changed.
        assert_eq!(
            f.state("fund-position", "0.1.0").await,
            VersionState::Submitted
        );
        assert_eq!(f.reg.history("fund-position").await.unwrap().len(), 1);
    }
);

store_test!(rejection_needs_a_reason_and_is_final, |store| async move {
    let f = Fixture::new(store).await;
    f.submit("fund-position", "0.1.0", "alice").await;
    let e = f
        .reg
        .reject("fund-position", &v("0.1.0"), "bob", "  ")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Invalid(_)), "{e}");
    let r = f
        .reg
        .reject("fund-position", &v("0.1.0"), "bob", "查询了未申请的数据集")
        .await
        .unwrap();
    assert_eq!(r.state, VersionState::Rejected);
    assert_eq!(r.reason.as_deref(), Some("查询了未申请的数据集"));
    assert_eq!(r.reviewed_by.as_deref(), Some("bob"));
    // Neither approvable nor re-submittable under the same number.
    conflict(
        f.reg
            .approve("fund-position", &v("0.1.0"), "carol", None)
            .await,
        Some(VersionState::Rejected),
    );
    let m = conflict(
        f.try_submit("fund-position", "0.1.0", "alice").await,
        Some(VersionState::Rejected),
    );
    assert_eq!(
        m,
        "version 0.1.0 of fund-position already exists (state rejected)"
    );
    f.submit("fund-position", "0.1.1", "alice").await;
});

store_test!(versions_must_increase, |store| async move {
    let f = Fixture::new(store).await;
    f.publish("fund-position", "0.2.0").await;
    let m = conflict(
        f.try_submit("fund-position", "0.2.0", "alice").await,
        Some(VersionState::Published),
    );
    assert_eq!(
        m,
        "version 0.2.0 of fund-position already exists (state published)"
    );
    let m = conflict(
        f.try_submit("fund-position", "0.1.9", "alice").await,
        Some(VersionState::Published),
    );
    assert!(m.contains("lower than its highest version 0.2.0"), "{m}");
    // Semver order, not text order: 0.10.0 > 0.9.0 > 0.2.0.
    f.submit("fund-position", "0.9.0", "alice").await;
    f.submit("fund-position", "0.10.0", "alice").await;
    let m = conflict(
        f.try_submit("fund-position", "0.9.5", "alice").await,
        Some(VersionState::Submitted),
    );
    assert!(m.contains("highest version 0.10.0"), "{m}");
    // Pre-releases order before their release.
    f.submit("fund-position", "1.0.0-rc.1", "alice").await;
    f.submit("fund-position", "1.0.0-rc.2", "alice").await;
    f.submit("fund-position", "1.0.0", "alice").await;
    let m = conflict(
        f.try_submit("fund-position", "1.0.0-rc.3", "alice").await,
        Some(VersionState::Submitted),
    );
    assert!(m.contains("highest version 1.0.0 "), "{m}");
    let listed: Vec<String> = f
        .reg
        .versions("fund-position")
        .await
        .unwrap()
        .iter()
        .map(|r| r.version.to_string())
        .collect();
    assert_eq!(
        listed,
        [
            "1.0.0",
            "1.0.0-rc.2",
            "1.0.0-rc.1",
            "0.10.0",
            "0.9.0",
            "0.2.0"
        ]
    );
    // check_new_version says the same without submitting.
    let (_, p) = f.package("fund-position", "0.2.0");
    conflict(
        f.reg.check_new_version(p.manifest()).await,
        Some(VersionState::Published),
    );
    let (_, p) = f.package("fund-position", "2.0.0");
    f.reg.check_new_version(p.manifest()).await.unwrap();
    let (_, p) = f.package("brand-new-app", "0.0.1");
    f.reg.check_new_version(p.manifest()).await.unwrap();
});

store_test!(an_apps_kind_is_fixed, |store| async move {
    let f = Fixture::new(store).await;
    f.submit("fund-position", "0.1.0", "alice").await;
    let (bytes, p) = f.package_with("fund-position", "0.2.0", "report", "");
    let m = conflict(
        f.reg
            .submit(&bytes, &p, "alice", json!({}), json!({}))
            .await,
        Some(VersionState::Submitted),
    );
    assert!(m.contains("fund-position is a scenario app"), "{m}");
    assert!(m.contains("kind report"), "{m}");
    conflict(
        f.reg.check_new_version(p.manifest()).await,
        Some(VersionState::Submitted),
    );
});

// ---- live operations --------------------------------------------------------------

store_test!(suspend_blocks_launches_until_resumed, |store| async move {
    let f = Fixture::new(store).await;
    let r = f.publish("fund-position", "0.1.0").await;
    let e = f.reg.suspend("fund-position", "bob", "").await.unwrap_err();
    assert!(matches!(e, RegistryError::Invalid(_)), "{e}");
    let s = f
        .reg
        .suspend("fund-position", "bob", "数据源故障")
        .await
        .unwrap();
    assert_eq!(s.state, VersionState::Suspended);
    assert_eq!(s.state_changed_by, "bob");
    assert_eq!(s.state_reason.as_deref(), Some("数据源故障"));
    // The review decision is kept.
    assert_eq!(s.reason.as_deref(), Some("looks good"));
    let m = conflict(
        f.reg.launchable("fund-position").await,
        Some(VersionState::Suspended),
    );
    assert!(m.starts_with("fund-position is suspended"), "{m}");
    assert!(!f.reg.is_approved(&r.component_sha256).await.unwrap());
    conflict(
        f.reg.suspend("fund-position", "bob", "again").await,
        Some(VersionState::Suspended),
    );
    let p = f.reg.resume("fund-position", "bob").await.unwrap();
    assert_eq!(p.state, VersionState::Published);
    f.reg.launchable("fund-position").await.unwrap();
    assert!(f.reg.is_approved(&r.component_sha256).await.unwrap());
    conflict(
        f.reg.resume("fund-position", "bob").await,
        Some(VersionState::Published),
    );
});

store_test!(offline_and_rollback, |store| async move {
    let f = Fixture::new(store).await;
    f.publish("fund-position", "0.1.0").await;
    f.publish("fund-position", "0.2.0").await;
    let o = f
        .reg
        .offline("fund-position", "bob", "口径错误")
        .await
        .unwrap();
    assert_eq!(o.state, VersionState::Offline);
    let m = conflict(
        f.reg.launchable("fund-position").await,
        Some(VersionState::Offline),
    );
    assert_eq!(m, "fund-position is offline");
    // Nothing live: nothing to suspend or take offline.
    conflict(
        f.reg.suspend("fund-position", "bob", "x").await,
        Some(VersionState::Offline),
    );
    conflict(
        f.reg.offline("fund-position", "bob", "x").await,
        Some(VersionState::Offline),
    );

    // Roll back to the superseded 0.1.0 (nothing is live to supersede).
    let r = f
        .reg
        .rollback("fund-position", &v("0.1.0"), "bob", "恢复上一版本")
        .await
        .unwrap();
    assert_eq!(r.state, VersionState::Published);
    assert_eq!(
        f.state("fund-position", "0.2.0").await,
        VersionState::Offline
    );
    let (live, _) = f.reg.launchable("fund-position").await.unwrap();
    assert_eq!(live.version, v("0.1.0"));

    // Roll forward to the offline 0.2.0: 0.1.0 is superseded.
    f.reg
        .rollback("fund-position", &v("0.2.0"), "bob", "已修复")
        .await
        .unwrap();
    assert_eq!(
        f.state("fund-position", "0.1.0").await,
        VersionState::Superseded
    );
    assert_eq!(
        f.state("fund-position", "0.2.0").await,
        VersionState::Published
    );

    // An offline suspended version.
    f.reg.suspend("fund-position", "bob", "x").await.unwrap();
    let o = f.reg.offline("fund-position", "bob", "y").await.unwrap();
    assert_eq!(o.state, VersionState::Offline);

    // Not to a version that was never approved, nor the live one.
    f.submit("fund-position", "0.3.0", "alice").await;
    conflict(
        f.reg
            .rollback("fund-position", &v("0.3.0"), "bob", "x")
            .await,
        Some(VersionState::Submitted),
    );
    f.reg
        .rollback("fund-position", &v("0.1.0"), "bob", "x")
        .await
        .unwrap();
    let m = conflict(
        f.reg
            .rollback("fund-position", &v("0.1.0"), "bob", "x")
            .await,
        Some(VersionState::Published),
    );
    assert!(m.contains("only a superseded or offline version"), "{m}");
    let e = f
        .reg
        .rollback("fund-position", &v("0.1.0"), "bob", " ")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Invalid(_)), "{e}");
});

store_test!(
    illegal_transitions_name_the_current_state,
    |store| async move {
        let f = Fixture::new(store).await;
        f.publish("fund-position", "0.1.0").await;
        f.submit("fund-position", "0.2.0", "alice").await;
        f.reg
            .reject("fund-position", &v("0.2.0"), "bob", "no")
            .await
            .unwrap();
        use VersionState::*;
        let r = &f.reg;
        let p = "fund-position";
        conflict(
            r.approve(p, &v("0.1.0"), "carol", None).await,
            Some(Published),
        );
        conflict(
            r.reject(p, &v("0.1.0"), "carol", "x").await,
            Some(Published),
        );
        conflict(
            r.approve(p, &v("0.2.0"), "carol", None).await,
            Some(Rejected),
        );
        conflict(r.reject(p, &v("0.2.0"), "carol", "x").await, Some(Rejected));
        conflict(
            r.rollback(p, &v("0.2.0"), "carol", "x").await,
            Some(Rejected),
        );
        conflict(r.resume(p, "carol").await, Some(Published));
        // An app with only a submission has nothing live.
        f.submit("low-balance", "0.1.0", "alice").await;
        for res in [
            r.suspend("low-balance", "carol", "x").await,
            r.resume("low-balance", "carol").await,
            r.offline("low-balance", "carol", "x").await,
        ] {
            let m = conflict(res, Some(Submitted));
            assert!(
                m.contains("has no live version (latest: 0.1.0 is submitted)"),
                "{m}"
            );
        }
        // Unknown apps and versions are not found.
        for e in [
            r.suspend("nope-app", "carol", "x").await.unwrap_err(),
            r.approve(p, &v("9.9.9"), "carol", None).await.unwrap_err(),
            r.rollback(p, &v("9.9.9"), "carol", "x").await.unwrap_err(),
            r.versions("nope-app").await.unwrap_err(),
            r.history("nope-app").await.unwrap_err(),
            r.launchable("nope-app").await.unwrap_err(),
            r.review(p, &v("9.9.9")).await.unwrap_err(),
        ] {
            assert!(matches!(e, RegistryError::NotFound(_)), "{e}");
        }
        // Every refused attempt left the history as it was.
        let h = r.history(p).await.unwrap();
        assert_eq!(h.len(), 4, "{h:?}");
    }
);

// ---- concurrency ---------------------------------------------------------------------

store_test!(concurrent_duplicate_submits_one_wins, |store| async move {
    let f = std::sync::Arc::new(Fixture::new(store).await);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            f.try_submit("fund-position", "0.1.0", &format!("dev{i}"))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(RegistryError::Conflict { message, .. }) => {
                assert!(message.contains("already exists"), "{message}")
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(f.reg.versions("fund-position").await.unwrap().len(), 1);
    assert_eq!(f.reg.history("fund-position").await.unwrap().len(), 1);
    assert_eq!(f.reg.apps().await.unwrap().len(), 1);
});

store_test!(
    concurrent_approvals_leave_one_live_version,
    |store| async move {
        let f = std::sync::Arc::new(Fixture::new(store).await);
        f.submit("fund-position", "0.1.0", "alice").await;
        f.submit("fund-position", "0.2.0", "alice").await;
        // Two reviewers approve the same version, and a third the other one.
        let mut tasks = Vec::new();
        for (version, reviewer) in [("0.1.0", "bob"), ("0.1.0", "carol"), ("0.2.0", "dave")] {
            let f = f.clone();
            tasks.push(tokio::spawn(async move {
                f.reg
                    .approve("fund-position", &v(version), reviewer, None)
                    .await
            }));
        }
        let results: Vec<_> = futures_join(tasks).await;
        // 0.2.0 is always approved; at most one approval of 0.1.0 wins, and
        // none if 0.2.0 went first (0.1.0 would be a downgrade).
        assert!(results[2].is_ok(), "{results:?}");
        assert!(!(results[0].is_ok() && results[1].is_ok()), "{results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, RegistryError::Conflict { .. }), "{e}");
            }
        }
        let versions = f.reg.versions("fund-position").await.unwrap();
        let live: Vec<_> = versions.iter().filter(|r| r.state.is_live()).collect();
        assert_eq!(live.len(), 1, "{versions:?}");
    }
);

async fn futures_join<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

// ---- signatures -------------------------------------------------------------------------

store_test!(unsigned_and_unknown_keys_are_refused, |store| async move {
    let f = Fixture::new(store).await;
    let text = manifest("fund-position", "0.1.0", "scenario", FINANCE, "");
    let bytes = pack_bytes(&text, "app.toml", &component("x")).unwrap();
    let p = Package::from_bytes(&bytes).unwrap();
    let e = f.reg.verify_signature(&p).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unsigned), "{e}");
    let e = f
        .reg
        .submit(&bytes, &p, "alice", json!({}), json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Unsigned), "{e}");

    let stranger = generate_secret_key("stranger", FINANCE).unwrap();
    let bytes = pack_bytes_signed(&text, "app.toml", &component("x"), &stranger).unwrap();
    let p = Package::from_bytes(&bytes).unwrap();
    let e = f.reg.verify_signature(&p).await.unwrap_err();
    assert!(
        matches!(&e, RegistryError::UnknownKey(k) if k == "stranger"),
        "{e}"
    );

    // Nothing was registered by the failed submissions.
    assert!(f.reg.apps().await.unwrap().is_empty());
    f.reg.versions("fund-position").await.unwrap_err();

    // A good one verifies and names the department.
    let (_, p) = f.package("fund-position", "0.1.0");
    assert_eq!(f.reg.verify_signature(&p).await.unwrap(), FINANCE);

    // A revoked key is unknown from then on.
    let k = f.reg.revoke_key("fin-2026", "sysadmin").await.unwrap();
    assert!(k.revoked_at.is_some());
    let e = f.reg.verify_signature(&p).await.unwrap_err();
    assert!(matches!(e, RegistryError::UnknownKey(_)), "{e}");
    let e = f
        .try_submit("fund-position", "0.1.0", "alice")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::UnknownKey(_)), "{e}");
});

store_test!(tampered_packages_fail_the_signature, |store| async move {
    let f = Fixture::new(store).await;
    let (bytes, _) = f.package("fund-position", "0.1.0");
    // Swap the component and rewrite SHA256SUMS to match: the package is
    // self-consistent, but the signature covers the old sums.
    let evil = component("evil");
    let manifest_sha = zhiyun_apps::sha256_hex(
        manifest("fund-position", "0.1.0", "scenario", FINANCE, "").as_bytes(),
    );
    let tampered = rebuild(&bytes, |name, data| {
        Some(match name {
            "app.wasm" => evil.clone(),
            "SHA256SUMS" => format!(
                "{manifest_sha}  app.toml\n{}  app.wasm\n",
                zhiyun_apps::sha256_hex(&evil)
            )
            .into_bytes(),
            _ => data,
        })
    });
    let p = Package::from_bytes(&tampered).unwrap();
    let e = f.reg.verify_signature(&p).await.unwrap_err();
    assert!(matches!(e, RegistryError::BadSignature(_)), "{e}");
    assert!(e.to_string().contains("does not verify"), "{e}");
    let e = f
        .reg
        .submit(&tampered, &p, "alice", json!({}), json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::BadSignature(_)), "{e}");

    // A signature by another key under the registered key id.
    let impostor = generate_secret_key("fin-2026", FINANCE).unwrap();
    let text = manifest("fund-position", "0.1.0", "scenario", FINANCE, "");
    let bytes = pack_bytes_signed(&text, "app.toml", &component("x"), &impostor).unwrap();
    let e = f
        .reg
        .verify_signature(&Package::from_bytes(&bytes).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::BadSignature(_)), "{e}");
    assert!(f.reg.apps().await.unwrap().is_empty());
});

store_test!(a_department_signs_only_its_own_apps, |store| async move {
    let f = Fixture::new(store).await;
    // The ops department's key, registered as such; its holder signs a
    // manifest that claims the finance department.
    let ops_key = generate_secret_key("ops-1", OPS).unwrap();
    f.reg
        .register_key("ops-1", OPS, &ops_key.public_key().to_bytes(), "sysadmin")
        .await
        .unwrap();
    let forged = SecretKey::new("ops-1", FINANCE, ops_key.signing_key().clone()).unwrap();
    let text = manifest("fund-position", "0.1.0", "scenario", FINANCE, "");
    let bytes = pack_bytes_signed(&text, "app.toml", &component("x"), &forged).unwrap();
    let p = Package::from_bytes(&bytes).unwrap();
    let e = f.reg.verify_signature(&p).await.unwrap_err();
    assert!(matches!(e, RegistryError::BadSignature(_)), "{e}");
    assert!(e.to_string().contains("belongs to 业务运营部"), "{e}");
    let e = f
        .reg
        .submit(&bytes, &p, "alice", json!({}), json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::BadSignature(_)), "{e}");
});

store_test!(key_registration_is_idempotent, |store| async move {
    let f = Fixture::new(store).await;
    let public = f.key.public_key().to_bytes();
    f.reg
        .register_key("fin-2026", FINANCE, &public, "sysadmin")
        .await
        .unwrap();
    let other = generate_secret_key("fin-2026", FINANCE).unwrap();
    let m = conflict(
        f.reg
            .register_key(
                "fin-2026",
                FINANCE,
                &other.public_key().to_bytes(),
                "sysadmin",
            )
            .await,
        None,
    );
    assert!(m.contains("different key"), "{m}");
    conflict(
        f.reg
            .register_key("fin-2026", OPS, &public, "sysadmin")
            .await,
        None,
    );
    let e = f
        .reg
        .register_key("bad id", FINANCE, &public, "sysadmin")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Invalid(_)), "{e}");
    let keys = f.reg.keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].department, FINANCE);
    assert_eq!(keys[0].registered_by, "sysadmin");
    f.reg.revoke_key("fin-2026", "sysadmin").await.unwrap();
    conflict(
        f.reg
            .register_key("fin-2026", FINANCE, &public, "sysadmin")
            .await,
        None,
    );
});

// ---- reading ----------------------------------------------------------------------------

store_test!(
    review_shows_the_diff_to_the_live_version,
    |store| async move {
        let f = Fixture::new(store).await;
        f.publish("fund-position", "0.1.0").await;
        let extra = "[[parameters]]\nname = \"org\"\nlabel = \"单位\"\nkind = \"org-picker\"\n\n\
                 [limits]\ntimeout-ms = 9000\n";
        let (bytes, p) = f.package_with("fund-position", "0.2.0", "scenario", extra);
        f.reg
            .submit(
                &bytes,
                &p,
                "alice",
                imports(&["zhiyun:app/data@0.1.0", "zhiyun:app/context@0.1.0"]),
                json!({}),
            )
            .await
            .unwrap();
        let review = f.reg.review("fund-position", &v("0.2.0")).await.unwrap();
        assert_eq!(review.version.version, v("0.2.0"));
        assert_eq!(review.live.as_ref().unwrap().version, v("0.1.0"));
        let diff = review.diff.unwrap();
        let field = |name: &str| diff.fields.iter().find(|c| c.field == name);
        let c = field("version").unwrap();
        assert_eq!(
            (c.old.clone(), c.new.clone()),
            (json!("0.1.0"), json!("0.2.0"))
        );
        let c = field("limits.timeout_ms").unwrap();
        assert_eq!((c.old.clone(), c.new.clone()), (json!(5000), json!(9000)));
        let c = field("parameters[0].name").unwrap();
        assert_eq!((c.old.clone(), c.new.clone()), (json!(null), json!("org")));
        let c = field("parameters").unwrap();
        assert_eq!(c.old, json!([]));
        assert!(
            field("name.zh-CN").is_none(),
            "unchanged fields are left out"
        );
        assert_eq!(diff.imports_added, ["zhiyun:app/context@0.1.0"]);
        assert_eq!(diff.imports_removed, ["zhiyun:app/log@0.1.0"]);

        // Reviewing the live version itself, or an app with nothing live.
        let review = f.reg.review("fund-position", &v("0.1.0")).await.unwrap();
        assert!(review.diff.is_none() && review.live.is_some());
        f.submit("low-balance", "0.1.0", "alice").await;
        let review = f.reg.review("low-balance", &v("0.1.0")).await.unwrap();
        assert!(review.live.is_none() && review.diff.is_none());
        // Records serialise (for the API).
        let j = serde_json::to_value(&review.version).unwrap();
        assert_eq!(j["state"], "submitted");
        assert_eq!(j["kind"], "scenario");
        assert_eq!(j["version"], "0.1.0");
    }
);

store_test!(listings, |store| async move {
    let f = Fixture::new(store).await;
    f.publish("fund-position", "0.1.0").await;
    f.submit("fund-position", "0.2.0", "alice").await;
    f.submit("low-balance", "1.0.0", "alice").await;
    let apps = f.reg.apps().await.unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].app_id, "fund-position");
    assert_eq!(apps[0].live.as_ref().unwrap().version, v("0.1.0"));
    assert_eq!(apps[0].latest_version, v("0.2.0"));
    assert_eq!(apps[0].latest_state, VersionState::Submitted);
    assert_eq!(apps[0].department, FINANCE);
    assert_eq!(apps[0].name.en, "Fund position");
    assert_eq!(apps[1].app_id, "low-balance");
    assert!(apps[1].live.is_none());
    let j = serde_json::to_value(&apps).unwrap();
    assert_eq!(j[0]["latest_state"], "submitted");

    let pending: Vec<_> = f
        .reg
        .pending()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.app_id, r.version.to_string()))
        .collect();
    assert_eq!(
        pending,
        [
            ("fund-position".to_string(), "0.2.0".to_string()),
            ("low-balance".to_string(), "1.0.0".to_string())
        ]
    );
    let versions = f.reg.versions("fund-position").await.unwrap();
    assert_eq!(versions[0].version, v("0.2.0"));
    let h = f.reg.history("fund-position").await.unwrap();
    assert!(h.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(h.len(), 3);
});
