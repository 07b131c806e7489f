//! Data services (数据服务) end to end, on SQLite and on PostgreSQL: what a
//! caller and an administrator rely on.
//!
//! A developer proposes a service over `fund_daily` (the e2e server has no
//! built models, so the built-in demo data of that name serves it); it is
//! not callable until someone other than its author approves it; a
//! business user calls it with an API token and receives exactly their
//! county's rows — the same sums as an independent computation over the
//! demo data and as the portal's governed preview — paged in a stable
//! order, every row once; bad, missing and unknown parameters, foreign or
//! altered page tokens, unknown services and tokens without the scope are
//! refused; the rate limit answers 429 with Retry-After; every call is in
//! the audit log; a retired service answers 410.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use zhiyun_contract::Value as Typed;

const SERVICE: &str = "fund-balances";
const DAY: &str = "2026-11-30";

/// The developer's service: every account's closing and available balance
/// on one day.
fn balances() -> Value {
    json!({
        "name": SERVICE,
        "title": "各账户日末余额",
        "description": "每个银行账户在指定日期的账户余额与可用余额（分）",
        "dataset": "fund_daily",
        "dimensions": ["org_id", "acct_no", "balance_date"],
        "measures": ["closing", "available"],
        "order": [{"field": "balance_date", "descending": true}],
        "parameters": [
            {"name": "date", "kind": "date", "required": true, "field": "balance_date",
             "op": "eq", "description": "余额日期 YYYY-MM-DD"},
        ],
        "max_page_size": 50,
    })
}

/// What one business user sees of `fund_daily` on `DAY`, computed from the
/// demo data directly (not through the server): per account, closing and
/// available in fen.
fn expected(org: &str) -> BTreeMap<String, (i64, i64)> {
    let provider = zhiyun_data::FixtureProvider::demo();
    let subtree: BTreeSet<String> = zhiyun_data::org_subtree(&provider, org)
        .into_iter()
        .collect();
    assert!(!subtree.is_empty(), "{org} is a demo org");
    let ds = zhiyun_data::fund_daily();
    let col = |name: &str| ds.columns().iter().position(|c| c.name == name).unwrap();
    let (org_c, acct_c, date_c, closing_c, available_c) = (
        col("org_id"),
        col("acct_no"),
        col("balance_date"),
        col("closing"),
        col("available"),
    );
    let day = zhiyun_contract::Date::parse_iso(DAY).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..ds.row_count() {
        let row = ds.row(i).unwrap();
        let (Typed::Text(org_id), Typed::Text(acct), Typed::Date(date)) =
            (&row[org_c], &row[acct_c], &row[date_c])
        else {
            panic!("row {i} of fund_daily is not typed as expected");
        };
        if *date != day || !subtree.contains(org_id) {
            continue;
        }
        let (Typed::Money(closing), Typed::Money(available)) = (&row[closing_c], &row[available_c])
        else {
            panic!("money columns hold money");
        };
        // A business user reads account numbers masked (last 4 kept).
        let tail: String = acct
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        out.insert(format!("{org_id}/{tail}"), (*closing, *available));
    }
    out
}

fn sums(rows: &BTreeMap<String, (i64, i64)>) -> (i64, i64) {
    rows.values()
        .fold((0, 0), |(c, a), (rc, ra)| (c + rc, a + ra))
}

/// The subtree of `org` in the demo data.
fn subtree(org: &str) -> BTreeSet<String> {
    zhiyun_data::org_subtree(&zhiyun_data::FixtureProvider::demo(), org)
        .into_iter()
        .collect()
}

/// An API token of `user` with `scopes`.
async fn token(api: &Api, user: &str, scopes: &[&str]) -> String {
    let session = api.login(user).await;
    let a = api
        .post(
            &session,
            "/api/v1/tokens",
            json!({"name": format!("{user} {scopes:?}"), "scopes": scopes}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["token"].as_str().unwrap().to_string()
}

async fn call(api: &Api, credential: &str, service: &str, query: &str) -> Answer {
    api.get(credential, &format!("/api/v1/services/{service}?{query}"))
        .await
}

/// Walks every page of `SERVICE` on `DAY` with `page_size`; the rows by
/// `org/last-4-of-account`, and how many pages it took. Checks on the way
/// that no row comes twice and every page but the last is full.
async fn walk(
    api: &Api,
    credential: &str,
    page_size: usize,
) -> (BTreeMap<String, (i64, i64)>, usize) {
    let mut rows = BTreeMap::new();
    let mut order = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = format!("date={DAY}&page_size={page_size}");
        if let Some(t) = &next {
            query.push_str(&format!("&page_token={t}"));
        }
        let a = call(api, credential, SERVICE, &query).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        pages += 1;
        assert_eq!(a.body["service"], SERVICE);
        assert_eq!(a.body["title"], "各账户日末余额");
        let columns: Vec<(String, String)> = a.body["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    c["kind"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            columns,
            [
                ("org_id", "text"),
                ("acct_no", "text"),
                ("balance_date", "date"),
                ("closing", "money"),
                ("available", "money")
            ]
            .map(|(n, k)| (n.to_string(), k.to_string()))
        );
        let page = a.body["rows"].as_array().unwrap();
        next = a.body["next_page_token"].as_str().map(String::from);
        if next.is_some() {
            assert_eq!(page.len(), page_size, "a page before the last is full");
        }
        for row in page {
            let org = row[0].as_str().unwrap();
            let acct = row[1].as_str().unwrap();
            assert_eq!(row[2], DAY);
            // Money stays integer fen.
            let closing = row[3].as_i64().expect("closing is integer fen");
            let available = row[4].as_i64().expect("available is integer fen");
            let tail: String = acct
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let key = format!("{org}/{tail}");
            assert!(
                rows.insert(key.clone(), (closing, available)).is_none(),
                "{key} came twice"
            );
            order.push((org.to_string(), acct.to_string()));
        }
        if next.is_none() {
            break;
        }
        assert!(pages < 100, "the pages never end");
    }
    // One day: the order is the dimensions', ascending.
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "rows in a stable order");
    (rows, pages)
}

/// The portal's governed preview of `fund_daily` for `credential`, summed
/// on `DAY`.
async fn preview_sums(api: &Api, credential: &str) -> (i64, i64) {
    let a = api
        .get(credential, "/api/v1/datasets/fund_daily/rows?limit=1000")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let columns: Vec<&str> = a.body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let at = |n: &str| columns.iter().position(|c| *c == n).unwrap();
    let day: Typed = Typed::Date(zhiyun_contract::Date::parse_iso(DAY).unwrap());
    let mut sums = (0, 0);
    let rows = a.body["rows"].as_array().unwrap();
    assert!(rows.len() < 1000, "the preview holds every row in scope");
    for row in rows {
        let date: Typed = serde_json::from_value(row[at("balance_date")].clone()).unwrap();
        if date != day {
            continue;
        }
        let money = |n: &str| match serde_json::from_value::<Typed>(row[at(n)].clone()).unwrap() {
            Typed::Money(fen) => fen,
            other => panic!("{n}: {other:?}"),
        };
        sums.0 += money("closing");
        sums.1 += money("available");
    }
    sums
}

async fn data_service_changes(api: &Api, reviewer: &str) -> usize {
    let a = api
        .get(reviewer, "/api/v1/changes?kind=data-service&limit=1000")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body.as_array().unwrap().len()
}

/// Audit entries of `action` (newest first), polled until `enough` holds:
/// calls are audited through the background writer.
async fn audit_entries(
    api: &Api,
    auditor: &str,
    query: &str,
    enough: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let a = api
            .get(auditor, &format!("/api/v1/audit?limit=1000&{query}"))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let entries = a.body.as_array().unwrap().clone();
        if enough(&entries) || start.elapsed() > Duration::from_secs(10) {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn flow(server: &Server) {
    let api = Api::new(&server.base);
    let dev = api.login("dev.cw").await;
    let sysadmin = api.login("sysadmin").await;
    let secadmin = api.login("secadmin").await;
    let reviewer = api.login("reviewer").await;
    let auditor = api.login("auditadmin").await;
    let user_east = api.login("user.3301").await;

    // A definition naming an unknown measure: 400 naming it, nothing filed.
    let filed = data_service_changes(&api, &reviewer).await;
    let mut bad = balances();
    bad["measures"] = json!(["closing", "profit_margin"]);
    let a = api.post(&dev, "/api/v1/data-services", bad).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("profit_margin"),
        "{}",
        a.body
    );
    let mut bad = balances();
    bad["parameters"][0]["field"] = json!("value_date");
    let a = api.post(&dev, "/api/v1/data-services", bad).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.to_string().contains("value_date"), "{}", a.body);
    assert_eq!(data_service_changes(&api, &reviewer).await, filed);
    // Business users do not propose services.
    let a = api
        .post(&user_east, "/api/v1/data-services", balances())
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);

    // The developer proposes: a pending data-service change request.
    let a = api.post(&dev, "/api/v1/data-services", balances()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["service"]["status"], "proposed");
    assert_eq!(a.body["change_request"]["kind"], "data-service");
    assert_eq!(a.body["change_request"]["state"], "pending");
    let change = a.body["change_request"]["id"].as_i64().unwrap();
    assert_eq!(data_service_changes(&api, &reviewer).await, filed + 1);
    // The same name again while it is proposed: a conflict.
    let a = api.post(&dev, "/api/v1/data-services", balances()).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);

    // Not callable before approval.
    let east = token(&api, "user.3301", &["services"]).await;
    let a = call(&api, &east, SERVICE, &format!("date={DAY}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(a.body.to_string().contains("not approved"), "{}", a.body);
    // Business users do not see proposals; their author does.
    let listed = api.get(&user_east, "/api/v1/data-services").await;
    assert_eq!(listed.body, json!([]), "{}", listed.body);
    let mine = api
        .get(&dev, &format!("/api/v1/data-services/{SERVICE}"))
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);

    // The author cannot approve; another administrator does.
    let a = api
        .post(
            &dev,
            &format!("/api/v1/changes/{change}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = api
        .post(
            &reviewer,
            &format!("/api/v1/changes/{change}/approve"),
            json!({"reason": "口径已核对"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = api
        .get(&user_east, &format!("/api/v1/data-services/{SERVICE}"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["status"], "active");
    assert_eq!(a.body["approved_by"], "reviewer");
    assert_eq!(a.body["url"], format!("/api/v1/services/{SERVICE}"));

    // 城东县's user: exactly 3301's subtree, the sums of the demo data and
    // of the governed preview; page by page, every row once.
    let mut calls: Vec<(String, usize)> = Vec::new();
    let want_east = expected("3301");
    assert_eq!(
        want_east.len(),
        9,
        "three accounts each in 3301, 330101, 330102"
    );
    let (rows, pages) = walk(&api, &east, 5).await;
    assert_eq!(rows, want_east);
    assert_eq!(pages, want_east.len().div_ceil(5));
    assert!(pages >= 2, "paging is exercised");
    let east_orgs = subtree("3301");
    assert!(
        rows.keys()
            .all(|k| east_orgs.contains(k.split('/').next().unwrap()))
    );
    assert_eq!(sums(&rows), preview_sums(&api, &user_east).await);
    // The same walk with one big page gives the same rows.
    let (whole, pages_whole) = walk(&api, &east, 50).await;
    assert_eq!((whole, pages_whole), (want_east.clone(), 1));
    calls.extend(std::iter::repeat_n(("user.3301".to_string(), 5), pages - 1));
    calls.push(("user.3301".into(), want_east.len() - 5 * (pages - 1)));
    calls.push(("user.3301".into(), want_east.len()));

    // 城西县's user: only 3302's.
    let west = token(&api, "user.3302", &["services"]).await;
    let want_west = expected("3302");
    let (rows, _) = walk(&api, &west, 50).await;
    assert_eq!(rows, want_west);
    let west_orgs = subtree("3302");
    assert!(
        rows.keys()
            .all(|k| west_orgs.contains(k.split('/').next().unwrap()))
    );
    assert!(
        want_east.keys().all(|k| !rows.contains_key(k)),
        "no row of 城东县 reaches 城西县"
    );
    calls.push(("user.3302".into(), want_west.len()));

    // A session may call too.
    let a = call(
        &api,
        &user_east,
        SERVICE,
        &format!("date={DAY}&page_size=1"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 1);
    let first_token = a.body["next_page_token"].as_str().unwrap().to_string();
    calls.push(("user.3301".into(), 1));

    // Page tokens: altered, or from another query, are refused.
    let mut altered = first_token.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for query in [
        format!("date={DAY}&page_size=1&page_token={altered}"),
        format!("date=2026-11-29&page_size=1&page_token={first_token}"),
        format!("date={DAY}&page_size=1&page_token=not-a-token"),
    ] {
        let a = call(&api, &east, SERVICE, &query).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.body);
        assert!(a.body.to_string().contains("page_token"), "{}", a.body);
    }
    // Parameters: missing, ill-typed, unknown — each named.
    for (query, name) in [
        ("", "date"),
        ("date=2026-13-01", "date"),
        ("date=yesterday", "date"),
        ("date=2026-11-30&date=2026-11-29", "date"),
        ("date=2026-11-30&org_id=3302", "org_id"),
        ("date=2026-11-30&page_size=51", "page_size"),
    ] {
        let a = call(&api, &east, SERVICE, query).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.body);
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{name}`")) || message.contains(name),
            "{query}: {message}"
        );
    }
    // An unknown service; a token without the scope.
    let a = call(&api, &east, "no-such-service", &format!("date={DAY}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let reader = token(&api, "user.3301", &["read"]).await;
    let a = call(&api, &reader, SERVICE, &format!("date={DAY}")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.to_string().contains("services"), "{}", a.body);

    // Four eyes in the engine: a developer who is also a reviewer still
    // cannot approve their own service.
    api.change(
        &sysadmin,
        &secadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "dev.cw", "role_id": "reviewer", "org_id": "3300-cw"}}),
    )
    .await;
    let dev = api.login("dev.cw").await;
    let totals = json!({
        "name": "fund-totals",
        "title": "单位资金合计",
        "dataset": "fund_daily",
        "dimensions": ["org_id"],
        "measures": ["closing"],
        "parameters": [
            {"name": "from", "kind": "date", "field": "balance_date", "op": "ge",
             "default": "2026-11-30"},
            {"name": "to", "kind": "date", "field": "balance_date", "op": "le",
             "default": "2026-11-30"},
            {"name": "orgs", "kind": "text", "field": "org_id", "op": "in-list"},
        ],
        "rate_limit_per_minute": 2,
    });
    let a = api.post(&dev, "/api/v1/data-services", totals).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let change = a.body["change_request"]["id"].as_i64().unwrap();
    let a = api
        .post(
            &dev,
            &format!("/api/v1/changes/{change}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.code(), "self-approval", "{}", a.body);
    let a = api
        .post(
            &secadmin,
            &format!("/api/v1/changes/{change}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // The rate limit: 2 calls a minute per token, then 429 with Retry-After.
    let a = call(&api, &east, "fund-totals", "orgs=3301,330101").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 2, "{}", a.body);
    let a = call(&api, &east, "fund-totals", "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let total: i64 = a.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_i64().unwrap())
        .sum();
    assert_eq!(total, sums(&want_east).0);
    let r = api
        .authed(
            api.http
                .get(format!("{}/api/v1/services/fund-totals", api.base)),
            &east,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate-limited", "{body}");
    // Another caller has a bucket of their own.
    let a = call(&api, &west, "fund-totals", "").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // Every successful call is a data.access as `service:<name>`, and a
    // service.call with the rows returned; the refused one is there too.
    let app = format!("service:{SERVICE}");
    let ours = |entries: &[Value]| -> Vec<Value> {
        entries
            .iter()
            .filter(|e| e["detail"]["app"] == app.as_str() && e["outcome"] == "ok")
            .cloned()
            .collect()
    };
    let accesses = audit_entries(&api, &auditor, "action=data.access", |e| {
        ours(e).len() >= calls.len()
    })
    .await;
    let accesses = ours(&accesses);
    assert_eq!(accesses.len(), calls.len(), "{accesses:#?}");
    for e in &accesses {
        assert_eq!(e["detail"]["dataset"], "fund_daily");
        assert!(e["detail"]["row_count"].as_u64().unwrap() >= 1);
    }
    let service_calls = audit_entries(
        &api,
        &auditor,
        &format!("action=service.call&target=data-service/{SERVICE}&outcome=ok"),
        |e| e.len() >= calls.len(),
    )
    .await;
    let mut logged: Vec<(String, usize)> = service_calls
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["detail"]["row_count"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    logged.sort();
    calls.sort();
    assert_eq!(logged, calls);
    let limited = audit_entries(
        &api,
        &auditor,
        "action=service.call&target=data-service/fund-totals&outcome=denied",
        |e| !e.is_empty(),
    )
    .await;
    assert_eq!(limited.len(), 1, "{limited:#?}");
    assert!(
        limited[0]["detail"]["error"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );

    // Retirement: the system admin (not the developer), with a reason;
    // calls then answer 410, and the name is not reused.
    let a = api
        .post(
            &dev,
            &format!("/api/v1/data-services/{SERVICE}/retire"),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = api
        .post(
            &sysadmin,
            &format!("/api/v1/data-services/{SERVICE}/retire"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = api
        .post(
            &sysadmin,
            &format!("/api/v1/data-services/{SERVICE}/retire"),
            json!({"reason": "口径调整，改用 fund-balances-v2"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["status"], "retired");
    let a = call(&api, &east, SERVICE, &format!("date={DAY}")).await;
    assert_eq!(a.status, StatusCode::GONE, "{}", a.body);
    assert!(
        a.body.to_string().contains("fund-balances-v2"),
        "{}",
        a.body
    );
    let a = api.post(&dev, "/api/v1/data-services", balances()).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    let retired = audit_entries(&api, &auditor, "action=service.retire", |e| !e.is_empty()).await;
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0]["actor"], "sysadmin");
    let listed = api.get(&user_east, "/api/v1/data-services").await;
    let statuses: BTreeMap<String, String> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        BTreeMap::from([
            ("fund-balances".to_string(), "retired".to_string()),
            ("fund-totals".to_string(), "active".to_string()),
        ])
    );
}

#[tokio::test]
async fn data_services_on_sqlite() {
    let server = Server::start(None);
    flow(&server).await;
}

#[tokio::test]
async fn data_services_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    let server = Server::start(Some(&url));
    flow(&server).await;
    drop(server);
    drop_database(&name).await;
}
