use super::*;
use sqlx::Executor;
use zhiyun_store::store_test;

/// Appends `n` entries `e1..=en` by `alice`.
async fn fill(log: &AuditLog, n: usize) -> Vec<Entry> {
    let entries = (1..=n)
        .map(|i| {
            NewEntry::new("alice", AuditAction::AppLaunch, format!("app/a{i}"))
                .detail(serde_json::json!({ "i": i }))
        })
        .collect();
    log.append_batch(entries).await.unwrap()
}

/// What an attacker with DBA rights does first: switch the database's own
/// wall off (the chain is then the only defence).
async fn disable_walls(store: &Store) {
    let statements: &[&str] = match store.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            "DROP TRIGGER audit_head_forward_only",
            "DROP TRIGGER audit_head_no_delete",
        ],
        Backend::Postgres => &[
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
            "ALTER TABLE audit_head DISABLE TRIGGER USER",
        ],
    };
    for s in statements {
        store.pool().execute(*s).await.unwrap();
    }
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(AssertSqlSafe(sql.to_string()))
        .execute(store.pool())
        .await
        .unwrap();
}

async fn raw(store: &Store, seq: i64) -> RawEntry {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ENTRY_COLS} FROM audit_log WHERE seq = $1"
    )))
    .bind(seq)
    .fetch_one(store.pool())
    .await
    .unwrap();
    RawEntry::from_row(&row).unwrap()
}

fn broken(report: &VerifyReport) -> (i64, &BreakKind) {
    match report {
        VerifyReport::Broken {
            first_bad_seq,
            kind,
            ..
        } => (*first_bad_seq, kind),
        VerifyReport::Ok { .. } => panic!("expected a broken chain, got {report}"),
    }
}

// ---- without a database ----------------------------------------------------

fn input<'a>(actor: &'a str, target: &'a str) -> HashInput<'a> {
    HashInput {
        seq: 1,
        at: 1_700_000_000_000_000,
        actor,
        actor_org: None,
        action: "app.launch",
        target,
        outcome: "ok",
        detail: "{}",
        request_id: None,
        prev_hash: GENESIS_HASH,
    }
}

#[test]
fn the_encoding_is_pinned_and_unambiguous() {
    // Pins the format: changing the encoding would break every stored chain.
    assert_eq!(
        entry_hash(&input("alice", "app/x")),
        hex::encode(Sha256::digest(
            [
                &b"zhiyun-audit-v1"[..],
                &1i64.to_be_bytes(),
                &1_700_000_000_000_000i64.to_be_bytes(),
                &5u64.to_be_bytes(),
                b"alice",
                &[0],
                &10u64.to_be_bytes(),
                b"app.launch",
                &5u64.to_be_bytes(),
                b"app/x",
                &2u64.to_be_bytes(),
                b"ok",
                &2u64.to_be_bytes(),
                b"{}",
                &[0],
                &64u64.to_be_bytes(),
                GENESIS_HASH.as_bytes(),
            ]
            .concat()
        ))
    );
    // Moving a character between fields changes the hash.
    assert_ne!(
        entry_hash(&input("alice", "app/x")),
        entry_hash(&input("alic", "eapp/x"))
    );
    // An absent organisation is not an empty one.
    let mut with_org = input("alice", "app/x");
    with_org.actor_org = Some("");
    assert_ne!(entry_hash(&with_org), entry_hash(&input("alice", "app/x")));
}

#[test]
fn actions_parse_and_print() {
    for a in AuditAction::KNOWN {
        assert_eq!(AuditAction::parse(a.as_str()).unwrap(), a);
    }
    assert_eq!(
        AuditAction::parse("report.print").unwrap(),
        AuditAction::Other("report.print".into())
    );
    for bad in ["", "Login", "a b", "x;drop", &"a".repeat(65)] {
        AuditAction::parse(bad).unwrap_err();
    }
    let json = serde_json::to_string(&AuditAction::DataAccess).unwrap();
    assert_eq!(json, "\"data.access\"");
    let back: AuditAction = serde_json::from_str(&json).unwrap();
    assert_eq!(back, AuditAction::DataAccess);
    assert_eq!(Outcome::parse("denied"), Some(Outcome::Denied));
}

#[test]
fn anchors_round_trip_as_text() {
    let a = Anchor {
        seq: 42,
        hash: "ab".repeat(32),
    };
    assert_eq!(a.to_string().parse::<Anchor>().unwrap(), a);
    for bad in ["42", "x:00", "-1:00", "3:ABAB"] {
        bad.parse::<Anchor>().unwrap_err();
    }
}

// ---- on both backends ------------------------------------------------------

store_test!(an_empty_log_verifies, |store| async move {
    let log = AuditLog::new(store);
    assert_eq!(
        log.verify().await.unwrap(),
        VerifyReport::Ok {
            entries: 0,
            head_hash: GENESIS_HASH.into()
        }
    );
    assert_eq!(
        log.head().await.unwrap(),
        Anchor {
            seq: 0,
            hash: GENESIS_HASH.into()
        }
    );
});

store_test!(entries_chain_and_read_back, |store| async move {
    let log = AuditLog::new(store);
    let a = log
        .append(
            NewEntry::new("bob", AuditAction::LoginFailure, "user/bob")
                .outcome(Outcome::Denied)
                .request_id("req-1"),
        )
        .await
        .unwrap();
    let b = log
        .append(
            NewEntry::data_access("alice", "fund-position", "dws.fund_balance", 1234).org("总部"),
        )
        .await
        .unwrap();
    assert_eq!((a.seq, b.seq), (1, 2));
    assert_eq!(a.prev_hash, GENESIS_HASH);
    assert_eq!(b.prev_hash, a.hash);
    assert!(b.at >= a.at);
    assert_eq!(log.get(2).await.unwrap().unwrap(), b);
    assert_eq!(b.detail["row_count"], 1234);
    assert_eq!(
        log.verify().await.unwrap(),
        VerifyReport::Ok {
            entries: 2,
            head_hash: b.hash.clone()
        }
    );
    let head = log.head().await.unwrap();
    assert_eq!(
        head,
        Anchor {
            seq: 2,
            hash: b.hash
        }
    );
    assert!(log.verify_against(&head).await.unwrap().is_ok());
    // A bad entry is refused and appends nothing.
    let e = log
        .append(NewEntry::new(" ", AuditAction::Export, "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, AuditError::Invalid(_)), "{e}");
    let e = log
        .append(NewEntry::new("a", AuditAction::Other("export".into()), "x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("variant"), "{e}");
    assert_eq!(log.head().await.unwrap().seq, 2);
});

store_test!(batches_are_one_transaction, |store| async move {
    let log = AuditLog::new(store);
    // More rows than one multi-row INSERT holds.
    let entries = fill(&log, 150).await;
    assert_eq!(entries.len(), 150);
    assert_eq!(entries.last().unwrap().seq, 150);
    // One invalid entry: none of the batch is appended.
    let mut batch: Vec<NewEntry> = (0..5)
        .map(|_| NewEntry::new("alice", AuditAction::Export, "report/x"))
        .collect();
    batch.push(NewEntry::new(
        "alice",
        AuditAction::Export,
        "y".repeat(5000),
    ));
    log.append_batch(batch).await.unwrap_err();
    assert_eq!(log.head().await.unwrap().seq, 150);
    assert_eq!(
        log.verify().await.unwrap(),
        VerifyReport::Ok {
            entries: 150,
            head_hash: entries.last().unwrap().hash.clone()
        }
    );
    // An entry written inside a transaction that rolls back leaves nothing.
    let mut tx = log.store().begin_write().await.unwrap();
    log.append_in(&mut tx, NewEntry::new("alice", AuditAction::Export, "z"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(log.head().await.unwrap().seq, 150);
    assert!(log.verify().await.unwrap().is_ok());
});

/// A second "host": another pool on the same database.
async fn second_host(store: &Store) -> Store {
    match store.backend() {
        Backend::Sqlite => {
            let file: String =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            Store::open(&format!("sqlite://{file}")).await.unwrap()
        }
        Backend::Postgres => {
            let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
                .fetch_one(store.pool())
                .await
                .unwrap();
            Store::open_with(
                &zhiyun_store::testing::pg_url(),
                &zhiyun_store::StoreOptions {
                    max_connections: Some(4),
                    schema: Some(schema),
                    acquire_timeout: Some(std::time::Duration::from_secs(10)),
                },
            )
            .await
            .unwrap()
        }
    }
}

store_test!(
    concurrent_appenders_on_two_hosts_never_fork,
    |store| async move {
        let other = second_host(&store).await;
        let hosts = [AuditLog::new(store.clone()), AuditLog::new(other.clone())];
        let mut tasks = Vec::new();
        for t in 0..8 {
            let log = hosts[t % 2].clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    log.append(NewEntry::new(
                        format!("user{t}"),
                        AuditAction::DataAccess,
                        format!("dataset/d{i}"),
                    ))
                    .await
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
        let report = hosts[1].verify().await.unwrap();
        assert!(
            matches!(report, VerifyReport::Ok { entries: 200, .. }),
            "{report}"
        );
        other.close().await;
    }
);

store_test!(
    the_database_refuses_updates_and_deletes,
    |store| async move {
        let log = AuditLog::new(store.clone());
        fill(&log, 3).await;
        for sql in [
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
            "DELETE FROM audit_log WHERE seq = 3",
            "DELETE FROM audit_log",
        ] {
            let e = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
            assert!(e.to_string().contains("append-only"), "{sql}: {e}");
        }
        for sql in [
            "UPDATE audit_head SET seq = 2 WHERE id = 1",
            "DELETE FROM audit_head",
        ] {
            let e = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
            assert!(e.to_string().contains("audit_head"), "{sql}: {e}");
        }
        if store.backend() == Backend::Postgres {
            let e = sqlx::query("TRUNCATE audit_log")
                .execute(store.pool())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("append-only"), "{e}");
        }
        assert!(log.verify().await.unwrap().is_ok());
    }
);

store_test!(an_edited_entry_is_named, |store| async move {
    let log = AuditLog::new(store.clone());
    fill(&log, 10).await;
    disable_walls(&store).await;
    exec(
        &store,
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4",
    )
    .await;
    let report = log.verify().await.unwrap();
    assert_eq!(broken(&report), (4, &BreakKind::Edited), "{report}");
    assert!(report.to_string().contains("entry 4"), "{report}");
});

store_test!(
    an_edit_with_a_recomputed_hash_breaks_the_next_link,
    |store| async move {
        let log = AuditLog::new(store.clone());
        fill(&log, 10).await;
        let anchor = log.head().await.unwrap();
        disable_walls(&store).await;
        let mut e = raw(&store, 4).await;
        e.detail = r#"{"i":999}"#.into();
        let forged = e.computed_hash(4);
        sqlx::query("UPDATE audit_log SET detail = $1, hash = $2 WHERE seq = 4")
            .bind(&e.detail)
            .bind(&forged)
            .execute(store.pool())
            .await
            .unwrap();
        for report in [
            log.verify().await.unwrap(),
            log.verify_against(&anchor).await.unwrap(),
        ] {
            let (seq, kind) = broken(&report);
            assert_eq!(seq, 5, "{report}");
            assert!(
                matches!(kind, BreakKind::BadLink { expected_prev, .. } if *expected_prev == forged),
                "{report}"
            );
            assert!(report.to_string().contains("entry 4"), "{report}");
        }
    }
);

store_test!(a_deleted_entry_is_named, |store| async move {
    let log = AuditLog::new(store.clone());
    fill(&log, 10).await;
    disable_walls(&store).await;
    exec(&store, "DELETE FROM audit_log WHERE seq = 4").await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        broken(&report),
        (4, &BreakKind::Deleted { from: 4, to: 4 }),
        "{report}"
    );
    exec(&store, "DELETE FROM audit_log WHERE seq IN (1, 2)").await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        broken(&report),
        (1, &BreakKind::Deleted { from: 1, to: 2 }),
        "{report}"
    );
});

/// Swaps the positions of entries `a` and `b` (their content intact).
async fn swap(store: &Store, a: i64, b: i64) {
    // Through a free seq: the primary key allows one row per seq.
    exec(
        store,
        &format!("UPDATE audit_log SET seq = 1000000 WHERE seq = {a}"),
    )
    .await;
    exec(
        store,
        &format!("UPDATE audit_log SET seq = {a} WHERE seq = {b}"),
    )
    .await;
    exec(
        store,
        &format!("UPDATE audit_log SET seq = {b} WHERE seq = 1000000"),
    )
    .await;
}

store_test!(reordered_entries_are_named, |store| async move {
    let log = AuditLog::new(store.clone());
    fill(&log, 10).await;
    disable_walls(&store).await;
    swap(&store, 3, 6).await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        broken(&report),
        (3, &BreakKind::Reordered { written_as: 6 }),
        "{report}"
    );
    swap(&store, 3, 6).await;
    assert!(log.verify().await.unwrap().is_ok());
    // Neighbours, and the first entry.
    swap(&store, 1, 2).await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        broken(&report),
        (1, &BreakKind::Reordered { written_as: 2 }),
        "{report}"
    );
    swap(&store, 1, 2).await;
    swap(&store, 9, 10).await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        broken(&report),
        (9, &BreakKind::Reordered { written_as: 10 }),
        "{report}"
    );
    // Swapping contents but keeping each row's hash is an edit.
    swap(&store, 9, 10).await;
    exec(
        &store,
        "UPDATE audit_log SET target = CASE seq WHEN 5 THEN 'app/a6' ELSE 'app/a5' END WHERE seq IN (5, 6)",
    )
    .await;
    assert_eq!(
        broken(&log.verify().await.unwrap()),
        (5, &BreakKind::Edited)
    );
});

store_test!(truncation_needs_the_head_or_an_anchor, |store| async move {
    let log = AuditLog::new(store.clone());
    let entries = fill(&log, 10).await;
    let anchor = log.head().await.unwrap();
    assert_eq!(anchor.seq, 10);
    disable_walls(&store).await;
    // Deleting the last entry: the chain that remains is valid, but the
    // audit_head record still says 10.
    exec(&store, "DELETE FROM audit_log WHERE seq = 10").await;
    let report = log.verify().await.unwrap();
    assert_eq!(
        broken(&report),
        (
            10,
            &BreakKind::Truncated {
                last_seq: 9,
                anchor_seq: 10
            }
        ),
        "{report}"
    );
    // An attacker who also rewinds the head record defeats the check in the
    // database (the documented limitation) …
    sqlx::query("UPDATE audit_head SET seq = 9, hash = $1 WHERE id = 1")
        .bind(&entries[8].hash)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(
        log.verify().await.unwrap(),
        VerifyReport::Ok {
            entries: 9,
            head_hash: entries[8].hash.clone()
        }
    );
    // … but not an anchor kept elsewhere.
    let report = log.verify_against(&anchor).await.unwrap();
    assert_eq!(
        broken(&report),
        (
            10,
            &BreakKind::Truncated {
                last_seq: 9,
                anchor_seq: 10
            }
        ),
        "{report}"
    );
    assert!(report.to_string().contains("the anchor"), "{report}");
    // An older anchor is still reached.
    let older = Anchor {
        seq: 5,
        hash: entries[4].hash.clone(),
    };
    assert!(log.verify_against(&older).await.unwrap().is_ok());
});

store_test!(
    a_rewritten_tail_is_caught_by_an_anchor,
    |store| async move {
        let log = AuditLog::new(store.clone());
        fill(&log, 5).await;
        let anchor = log.head().await.unwrap();
        disable_walls(&store).await;
        // Rewrite the last entry completely, recompute its hash and the head.
        let mut e = raw(&store, 5).await;
        e.actor = "mallory".into();
        let forged = e.computed_hash(5);
        sqlx::query("UPDATE audit_log SET actor = $1, hash = $2 WHERE seq = 5")
            .bind(&e.actor)
            .bind(&forged)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&forged)
            .execute(store.pool())
            .await
            .unwrap();
        assert!(
            log.verify().await.unwrap().is_ok(),
            "undetectable in the database alone"
        );
        let report = log.verify_against(&anchor).await.unwrap();
        let (seq, kind) = broken(&report);
        assert_eq!(seq, 5);
        assert!(matches!(kind, BreakKind::AnchorMismatch { .. }), "{report}");
    }
);

store_test!(the_audit_admin_filters_and_pages, |store| async move {
    let log = AuditLog::new(store);
    let t0 = now_micros();
    log.append_batch(vec![
        NewEntry::new("alice", AuditAction::LoginSuccess, "user/alice"),
        NewEntry::new("bob", AuditAction::LoginFailure, "user/bob").outcome(Outcome::Denied),
        NewEntry::data_access("alice", "fund-position", "dws.fund_balance", 10),
        NewEntry::data_access("alice", "fund-daily", "dws.fund_flow", 20),
        NewEntry::new("carol", AuditAction::Export, "report/100%_done"),
        NewEntry::new("carol", AuditAction::Export, "report/100XYdone"),
        NewEntry::new("carol", AuditAction::Export, "REPORT/upper"),
    ])
    .await
    .unwrap();
    let q = |f: AuditFilter| {
        let log = log.clone();
        async move {
            log.query(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(q(AuditFilter::default()).await, vec![7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(
        q(AuditFilter {
            actor: Some("alice".into()),
            ..Default::default()
        })
        .await,
        vec![4, 3, 1]
    );
    assert_eq!(
        q(AuditFilter {
            action: Some(AuditAction::DataAccess),
            order: Order::OldestFirst,
            ..Default::default()
        })
        .await,
        vec![3, 4]
    );
    // No wildcards, case-sensitive.
    assert_eq!(
        q(AuditFilter {
            target_prefix: Some("report/100%_".into()),
            ..Default::default()
        })
        .await,
        vec![5]
    );
    assert_eq!(
        q(AuditFilter {
            target_prefix: Some("report/".into()),
            ..Default::default()
        })
        .await,
        vec![6, 5]
    );
    assert_eq!(
        q(AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await,
        vec![2]
    );
    assert_eq!(
        q(AuditFilter {
            from: Some(t0),
            to: Some(now_micros() + 1),
            ..Default::default()
        })
        .await
        .len(),
        7
    );
    assert!(
        q(AuditFilter {
            to: Some(t0),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // Paging with the cursor, both ways.
    let page = |after, order| AuditFilter {
        after_seq: after,
        limit: Some(3),
        order,
        ..Default::default()
    };
    assert_eq!(q(page(None, Order::NewestFirst)).await, vec![7, 6, 5]);
    assert_eq!(q(page(Some(5), Order::NewestFirst)).await, vec![4, 3, 2]);
    assert_eq!(q(page(Some(2), Order::NewestFirst)).await, vec![1]);
    assert_eq!(q(page(Some(3), Order::OldestFirst)).await, vec![4, 5, 6]);
    for limit in [0, MAX_QUERY_LIMIT + 1] {
        let e = log
            .query(&AuditFilter {
                limit: Some(limit),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
    }
});
