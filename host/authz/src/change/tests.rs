use super::*;
use crate::audit::{AuditFilter, Order};
use std::sync::atomic::{AtomicUsize, Ordering};
use zhiyun_store::store_test;

/// An applier that records each approved request in a table of its own (as
/// a policy module writes its tables), or fails after writing.
struct TableApplier {
    fail: bool,
    calls: AtomicUsize,
}

impl TableApplier {
    fn new(fail: bool) -> Arc<Self> {
        Arc::new(TableApplier {
            fail,
            calls: AtomicUsize::new(0),
        })
    }
}

impl ChangeApplier for TableApplier {
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(request.state, ChangeState::Approved);
            sqlx::query("INSERT INTO applied (request_id, kind, target) VALUES ($1, $2, $3)")
                .bind(request.id)
                .bind(request.change.name().as_str())
                .bind(request.change.target())
                .execute(&mut *tx)
                .await?;
            if self.fail {
                return Err(ChangeError::Apply(format!(
                    "role `{}` does not exist",
                    request.change.target()
                )));
            }
            Ok(())
        })
    }
}

async fn setup(store: &Store, applier: Arc<dyn ChangeApplier>) -> ChangeRequests {
    sqlx::query("CREATE TABLE IF NOT EXISTS applied (request_id BIGINT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    ChangeRequests::new(store.clone(), AuditLog::new(store.clone()), applier)
}

async fn applied(store: &Store) -> Vec<(i64, String)> {
    sqlx::query("SELECT request_id, kind FROM applied ORDER BY request_id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// One change of every kind.
fn every_kind() -> Vec<ChangeKind> {
    vec![
        ChangeKind::AppListing(AppListing {
            app_id: "fund-position".into(),
            version: "0.2.0".into(),
        }),
        ChangeKind::MenuChange(MenuChange {
            op: MenuOp::Add,
            menu_id: "funds/position".into(),
            parent_id: Some("funds".into()),
            title: Some("资金头寸".into()),
            title_en: Some("Fund position".into()),
            app_id: Some("fund-position".into()),
            sort_order: Some(10),
            roles: Some(vec!["business-user".into()]),
        }),
        ChangeKind::RoleGrant(RoleGrant {
            username: "zhangsan".into(),
            role_id: "business-user".into(),
            org_id: "county-01".into(),
            data_scope: Some(DataScope::OrgOnly),
        }),
        ChangeKind::RoleRevoke(RoleRevoke {
            username: "lisi".into(),
            role_id: "unit-leader".into(),
            org_id: "unit-01".into(),
        }),
        ChangeKind::DataScopeChange(DataScopeChange::RoleDefault {
            role_id: "reviewer".into(),
            scope: DataScope::Custom(vec!["unit-01".into(), "unit-02".into()]),
        }),
        ChangeKind::DatasetAccess(DatasetAccess {
            dataset: "dws.fund_balance".into(),
            applicant: Applicant::App {
                app_id: "fund-daily".into(),
            },
            columns: vec!["org_id".into(), "balance".into()],
            purpose: "日报需要各单位余额".into(),
            expires_at: None,
            max_sensitivity: Some(Sensitivity::Sensitive),
            orgs: Some(vec!["unit-01".into()]),
        }),
        ChangeKind::DataService(DataServicePublish {
            name: "fund-daily-balances".into(),
            dataset: "fund_daily".into(),
            max_sensitivity: None,
            definition: serde_json::json!({"title": "各账户日余额", "dimensions": ["org_id"]}),
        }),
    ]
}

#[test]
fn payloads_have_one_json_form() {
    let kinds = every_kind();
    let names: Vec<_> = kinds.iter().map(ChangeKind::name).collect();
    assert_eq!(names, ChangeKindName::ALL);
    for k in &kinds {
        let json = serde_json::to_value(k).unwrap();
        assert_eq!(json["kind"], k.name().as_str());
        assert!(json["payload"].is_object());
        let back: ChangeKind = serde_json::from_value(json).unwrap();
        assert_eq!(&back, k);
        assert_eq!(
            ChangeKind::from_stored(k.name().as_str(), &k.payload_json()).unwrap(),
            *k
        );
        k.validate().unwrap();
    }
    let grant: ChangeKind = serde_json::from_str(
        r#"{"kind":"role-grant","payload":{"username":"u","role_id":"r","org_id":"o"}}"#,
    )
    .unwrap();
    assert_eq!(grant.target(), "user/u/post/r@o");
    // Unknown fields and kinds are refused, not ignored.
    for bad in [
        r#"{"kind":"role-grant","payload":{"username":"u","role_id":"r","org_id":"o","admin":true}}"#,
        r#"{"kind":"role-grnt","payload":{}}"#,
    ] {
        serde_json::from_str::<ChangeKind>(bad).unwrap_err();
    }
    // Required fields.
    let e = ChangeKind::DatasetAccess(DatasetAccess {
        dataset: "d".into(),
        applicant: Applicant::User {
            username: "u".into(),
        },
        columns: vec![],
        purpose: " ".into(),
        expires_at: None,
        max_sensitivity: None,
        orgs: None,
    })
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("purpose"), "{e}");
    let e = ChangeKind::MenuChange(MenuChange {
        op: MenuOp::Add,
        menu_id: "m".into(),
        parent_id: None,
        title: None,
        title_en: None,
        app_id: None,
        sort_order: None,
        roles: None,
    })
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("title"), "{e}");
    let menu = |op, parent: Option<&str>, sort_order| {
        ChangeKind::MenuChange(MenuChange {
            op,
            menu_id: "m".into(),
            parent_id: parent.map(String::from),
            title: None,
            title_en: None,
            app_id: None,
            sort_order,
            roles: None,
        })
    };
    let e = menu(MenuOp::Update, None, None).validate().unwrap_err();
    assert!(e.to_string().contains("at least one field"), "{e}");
    let e = menu(MenuOp::Remove, None, Some(1)).validate().unwrap_err();
    assert!(e.to_string().contains("only its menu_id"), "{e}");
    let e = menu(MenuOp::Update, Some("m"), None)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("its own parent"), "{e}");
    menu(MenuOp::Remove, None, None).validate().unwrap();
    // Payloads written before max_sensitivity / orgs / roles existed still read.
    let old: ChangeKind = serde_json::from_str(
        r#"{"kind":"dataset-access","payload":{"dataset":"d","applicant":{"type":"role","role_id":"r"},"purpose":"p"}}"#,
    )
    .unwrap();
    let ChangeKind::DatasetAccess(old) = old else {
        unreachable!()
    };
    assert_eq!((old.max_sensitivity, old.orgs), (None, None));
    let e = ChangeKind::DatasetAccess(DatasetAccess {
        orgs: Some(vec![]),
        ..old
    })
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("at least one org"), "{e}");
}

store_test!(four_eyes_for_every_kind, |store| async move {
    let applier = TableApplier::new(false);
    let engine = setup(&store, applier.clone()).await;
    for change in every_kind() {
        let kind = change.name();
        let r = engine.create("alice", change).await.unwrap();
        assert_eq!(r.state, ChangeState::Pending);
        let e = engine
            .approve(r.id, "alice", Some("lgtm"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                ChangeError::SelfApproval {
                    action: "approve",
                    ..
                }
            ),
            "{kind}: {e}"
        );
        assert!(e.to_string().contains("another administrator"), "{e}");
        let e = engine
            .reject(r.id, "alice", "never mind")
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                ChangeError::SelfApproval {
                    action: "reject",
                    ..
                }
            ),
            "{kind}: {e}"
        );
        assert_eq!(engine.get(r.id).await.unwrap().state, ChangeState::Pending);
        // Someone else may.
        let r = engine.approve(r.id, "bob", Some("checked")).await.unwrap();
        assert_eq!(r.state, ChangeState::Approved);
        assert_eq!(r.reviewer.as_deref(), Some("bob"));
        assert_eq!(r.reason.as_deref(), Some("checked"));
        assert_eq!(r.applied_at, r.reviewed_at);
    }
    assert_eq!(applier.calls.load(Ordering::SeqCst), 7);
    let kinds: Vec<String> = applied(&store).await.into_iter().map(|(_, k)| k).collect();
    let expected: Vec<String> = ChangeKindName::ALL.iter().map(|k| k.to_string()).collect();
    assert_eq!(kinds, expected);
    // The refusals are audited as denied.
    let log = AuditLog::new(store.clone());
    let denied = log
        .query(&AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 14);
    assert!(denied.iter().all(|e| e.actor == "alice"));
    assert!(log.verify().await.unwrap().is_ok());
    // The database refuses it too.
    let e = sqlx::query("UPDATE change_requests SET reviewer = author")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("check"), "{e}");
});

store_test!(the_life_cycle_and_its_audit_trail, |store| async move {
    let engine = setup(&store, TableApplier::new(false)).await;
    let [listing, menu, grant, ..] = <[ChangeKind; 7]>::try_from(every_kind()).unwrap();
    let a = engine.create("alice", listing).await.unwrap();
    let b = engine.create("alice", menu).await.unwrap();
    let c = engine.create("carol", grant).await.unwrap();

    // Reject: a reason is required.
    let e = engine.reject(a.id, "bob", "  ").await.unwrap_err();
    assert!(matches!(e, ChangeError::Invalid(_)), "{e}");
    let a = engine
        .reject(a.id, "bob", "version 0.2.0 fails the trial")
        .await
        .unwrap();
    assert_eq!(a.state, ChangeState::Rejected);
    assert_eq!(a.applied_at, None);
    // Nothing after a decision.
    for e in [
        engine.approve(a.id, "bob", None).await.unwrap_err(),
        engine.reject(a.id, "dave", "again").await.unwrap_err(),
        engine.withdraw(a.id, "alice").await.unwrap_err(),
    ] {
        assert_eq!(e.current_state(), Some(ChangeState::Rejected), "{e}");
        assert!(e.to_string().contains("already rejected"), "{e}");
    }

    // Withdraw: the author only.
    let e = engine.withdraw(b.id, "bob").await.unwrap_err();
    assert!(matches!(e, ChangeError::NotAuthor { .. }), "{e}");
    let b = engine.withdraw(b.id, "alice").await.unwrap();
    assert_eq!(b.state, ChangeState::Withdrawn);
    let e = engine.approve(b.id, "bob", None).await.unwrap_err();
    assert_eq!(e.current_state(), Some(ChangeState::Withdrawn));

    let c = engine.approve(c.id, "alice", None).await.unwrap();
    assert_eq!(c.state, ChangeState::Approved);
    assert_eq!(c.reason, None);
    let e = engine.approve(c.id, "bob", None).await.unwrap_err();
    assert_eq!(e.current_state(), Some(ChangeState::Approved));
    assert!(matches!(
        engine.get(999).await.unwrap_err(),
        ChangeError::NotFound(999)
    ));
    assert!(matches!(
        engine.approve(999, "bob", None).await.unwrap_err(),
        ChangeError::NotFound(999)
    ));

    // History.
    let h = engine.history(a.id).await.unwrap();
    let steps: Vec<_> = h
        .iter()
        .map(|e| (e.from_state, e.to_state, e.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, ChangeState::Pending, "alice"),
            (Some(ChangeState::Pending), ChangeState::Rejected, "bob"),
        ]
    );
    assert_eq!(
        h[1].reason.as_deref(),
        Some("version 0.2.0 fails the trial")
    );

    // The audit trail, oldest first.
    let log = AuditLog::new(store.clone());
    let trail: Vec<_> = log
        .query(&AuditFilter {
            order: Order::OldestFirst,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action.to_string(), e.actor, e.target, e.outcome))
        .collect();
    let cr = |id: i64| format!("change-request/{id}");
    assert_eq!(
        trail,
        vec![
            (
                "change.create".into(),
                "alice".into(),
                cr(a.id),
                Outcome::Ok
            ),
            (
                "change.create".into(),
                "alice".into(),
                cr(b.id),
                Outcome::Ok
            ),
            (
                "change.create".into(),
                "carol".into(),
                cr(c.id),
                Outcome::Ok
            ),
            ("change.reject".into(), "bob".into(), cr(a.id), Outcome::Ok),
            (
                "change.withdraw".into(),
                "bob".into(),
                cr(b.id),
                Outcome::Denied
            ),
            (
                "change.withdraw".into(),
                "alice".into(),
                cr(b.id),
                Outcome::Ok
            ),
            (
                "change.approve".into(),
                "alice".into(),
                cr(c.id),
                Outcome::Ok
            ),
            (
                "policy.change".into(),
                "alice".into(),
                "user/zhangsan/post/business-user@county-01".into(),
                Outcome::Ok
            ),
        ]
    );
    assert!(log.verify().await.unwrap().is_ok());

    // Listing.
    let ids = |rs: Vec<ChangeRequest>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(engine.list(&ChangeFilter::default()).await.unwrap()),
        vec![c.id, b.id, a.id]
    );
    assert_eq!(
        ids(engine
            .list(&ChangeFilter {
                author: Some("alice".into()),
                ..Default::default()
            })
            .await
            .unwrap()),
        vec![b.id, a.id]
    );
    assert_eq!(
        ids(engine
            .list(&ChangeFilter {
                state: Some(ChangeState::Approved),
                kind: Some(ChangeKindName::RoleGrant),
                ..Default::default()
            })
            .await
            .unwrap()),
        vec![c.id]
    );
    assert_eq!(
        ids(engine
            .list(&ChangeFilter {
                before_id: Some(c.id),
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap()),
        vec![b.id]
    );
    engine
        .list(&ChangeFilter {
            limit: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
});

store_test!(a_failing_applier_changes_nothing, |store| async move {
    let failing = setup(&store, TableApplier::new(true)).await;
    let r = failing
        .create("alice", every_kind().remove(2))
        .await
        .unwrap();
    let log = AuditLog::new(store.clone());
    let head = log.head().await.unwrap();
    let e = failing.approve(r.id, "bob", Some("ok")).await.unwrap_err();
    assert!(
        matches!(&e, ChangeError::Apply(m) if m.contains("does not exist")),
        "{e}"
    );
    // Still pending, not reviewed, nothing applied, no history row.
    let after = failing.get(r.id).await.unwrap();
    assert_eq!(after, r);
    assert!(applied(&store).await.is_empty());
    assert_eq!(failing.history(r.id).await.unwrap().len(), 1);
    // The only new audit entry records the failure.
    let new: Vec<_> = log
        .query(&AuditFilter {
            after_seq: Some(head.seq),
            order: Order::OldestFirst,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].action, AuditAction::ChangeApprove);
    assert_eq!(new[0].outcome, Outcome::Error);

    // No applier for a kind: refused the same way.
    let none = ChangeRequests::new(store.clone(), log.clone(), Arc::new(ApplierSet::new()));
    let e = none.approve(r.id, "bob", None).await.unwrap_err();
    assert!(
        matches!(e, ChangeError::NoApplier(ChangeKindName::RoleGrant)),
        "{e}"
    );
    assert_eq!(none.get(r.id).await.unwrap().state, ChangeState::Pending);

    // With a working applier for the kind it goes through.
    let ok = TableApplier::new(false);
    let routed = ChangeRequests::new(
        store.clone(),
        log.clone(),
        Arc::new(ApplierSet::new().with(ChangeKindName::RoleGrant, ok.clone())),
    );
    assert_eq!(
        routed.approve(r.id, "bob", None).await.unwrap().state,
        ChangeState::Approved
    );
    assert_eq!(
        applied(&store).await,
        vec![(r.id, "role-grant".to_string())]
    );
    assert!(log.verify().await.unwrap().is_ok());
});

store_test!(concurrent_approvals_apply_once, |store| async move {
    let applier = TableApplier::new(false);
    let engine = setup(&store, applier.clone()).await;
    let r = engine
        .create("alice", every_kind().remove(0))
        .await
        .unwrap();
    let tasks: Vec<_> = ["bob", "carol", "dave", "erin"]
        .into_iter()
        .map(|reviewer| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.approve(r.id, reviewer, None).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.current_state(), Some(ChangeState::Approved), "{e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(applier.calls.load(Ordering::SeqCst), 1);
    assert_eq!(applied(&store).await.len(), 1);
});

#[test]
fn data_service_payloads_are_checked() {
    let good = DataServicePublish {
        name: "fund_daily-v2".into(),
        dataset: "fund_daily".into(),
        max_sensitivity: Some(Sensitivity::Internal),
        definition: serde_json::json!({}),
    };
    ChangeKind::DataService(good.clone()).validate().unwrap();
    assert_eq!(good.app_id(), "service:fund_daily-v2");
    assert_eq!(
        ChangeKind::DataService(good.clone()).target(),
        "data-service/fund_daily-v2"
    );
    assert_eq!(ChangeKindName::DataService.label(), "数据服务发布");
    for bad in [
        "",
        "Fund",
        "9lives",
        "a b",
        "a/b",
        "service:x",
        &"x".repeat(65),
    ] {
        let e = ChangeKind::DataService(DataServicePublish {
            name: bad.to_string(),
            ..good.clone()
        })
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("data service name"), "{bad}: {e}");
    }
    let e = ChangeKind::DataService(DataServicePublish {
        definition: serde_json::json!([1]),
        ..good
    })
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("JSON object"), "{e}");
}
