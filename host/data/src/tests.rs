use super::*;
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use zhiyun_contract::{ColumnMeta, Date, ErrorKind, Filter, FilterOp, OrderBy, ValueKind};

fn q(dataset: &str, dims: &[&str], measures: &[&str]) -> SemanticQuery {
    SemanticQuery {
        dataset: dataset.into(),
        dimensions: dims.iter().map(|s| s.to_string()).collect(),
        measures: measures.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn filter(field: &str, op: FilterOp, values: Vec<Value>) -> Filter {
    Filter {
        field: field.into(),
        op,
        values,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn nov(day: u8) -> Value {
    Value::Date(Date::new(2026, 11, day))
}

fn money(v: &Value) -> i64 {
    match v {
        Value::Money(m) => *m,
        other => panic!("not money: {other:?}"),
    }
}

fn err(p: &FixtureProvider, query: &SemanticQuery) -> AppError {
    p.run(query).expect_err("query should fail")
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fixture provider never waits"),
    }
}

fn caller() -> Invocation {
    Invocation {
        user_id: "u1".into(),
        user_name: "张三".into(),
        org_id: "3300".into(),
        org_name: "示范市供电公司".into(),
        locale: "zh-CN".into(),
        now: 0,
        app_id: "test-app".into(),
        app_version: "0.1.0".into(),
        request_id: "r1".into(),
    }
}

/// All rows of fund_daily as maps from column name to value.
fn fund_rows() -> Vec<HashMap<String, Value>> {
    let ds = fund_daily();
    let names: Vec<String> = ds.columns().iter().map(|c| c.name.clone()).collect();
    (0..ds.row_count())
        .map(|i| names.iter().cloned().zip(ds.row(i).unwrap()).collect())
        .collect()
}

// ---- demo data -----------------------------------------------------------

#[test]
fn fund_daily_has_the_documented_shape() {
    let p = FixtureProvider::demo();
    let ds = p.dataset("fund_daily").unwrap();
    assert_eq!(ds.row_count(), 31 * 30);
    // The columns of the warehouse model `ads_fund_daily`, in its order.
    let columns: Vec<(&str, ValueKind)> = ds
        .columns()
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        columns,
        [
            ("org_id", ValueKind::Text),
            ("org_name", ValueKind::Text),
            ("parent_id", ValueKind::Text),
            ("acct_no", ValueKind::Text),
            ("bank", ValueKind::Text),
            ("acct_type", ValueKind::Text),
            ("in_pool", ValueKind::Boolean),
            ("balance_date", ValueKind::Date),
            ("opening", ValueKind::Money),
            ("inflow", ValueKind::Money),
            ("outflow", ValueKind::Money),
            ("closing", ValueKind::Money),
            ("available", ValueKind::Money),
            ("safety_reserve", ValueKind::Money),
            ("bank_bal", ValueKind::Money),
            ("unreconciled", ValueKind::Money),
            ("frozen", ValueKind::Money),
            ("pooled_closing", ValueKind::Money),
            ("below_reserve", ValueKind::Boolean),
            ("last_txn_date", ValueKind::Date),
            ("idle", ValueKind::Boolean),
        ]
    );
    assert_eq!(
        ds.dimensions(),
        [
            "org_id",
            "org_name",
            "parent_id",
            "acct_no",
            "bank",
            "acct_type",
            "in_pool",
            "balance_date",
            "below_reserve",
            "idle",
            "last_txn_date"
        ]
    );
    let measures: Vec<&str> = ds.measures().iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        measures,
        [
            "opening",
            "inflow",
            "outflow",
            "closing",
            "available",
            "safety_reserve",
            "bank_bal",
            "unreconciled",
            "pooled_closing",
            "account_count",
            "below_reserve_accounts",
            "idle_accounts",
            "first_date",
            "latest_date"
        ]
    );
    assert_eq!(p.dataset_names().collect::<Vec<_>>(), ["fund_daily"]);
    // Deterministic.
    assert_eq!(fund_rows(), fund_rows());
}

#[test]
fn balances_roll_forward() {
    let mut by_acct: BTreeMap<String, Vec<HashMap<String, Value>>> = BTreeMap::new();
    for row in fund_rows() {
        by_acct
            .entry(row["acct_no"].to_text())
            .or_default()
            .push(row);
    }
    assert_eq!(by_acct.len(), 31);
    for (acct, mut rows) in by_acct {
        rows.sort_by_key(|r| match &r["balance_date"] {
            Value::Date(d) => *d,
            _ => unreachable!(),
        });
        assert_eq!(rows.len(), 30, "{acct}");
        assert_eq!(rows[0]["balance_date"], nov(1));
        assert_eq!(rows[29]["balance_date"], nov(30));
        let reserve = money(&rows[0]["safety_reserve"]);
        assert!(reserve > 0);
        for (i, r) in rows.iter().enumerate() {
            let (opening, inflow, outflow, closing, available) = (
                money(&r["opening"]),
                money(&r["inflow"]),
                money(&r["outflow"]),
                money(&r["closing"]),
                money(&r["available"]),
            );
            assert_eq!(closing, opening + inflow - outflow, "{acct} day {}", i + 1);
            assert!(inflow >= 0 && outflow >= 0);
            assert!(
                0 <= available && available <= closing,
                "{acct} day {}",
                i + 1
            );
            assert_eq!(
                money(&r["safety_reserve"]),
                reserve,
                "reserve is per account"
            );
            if i > 0 {
                assert_eq!(
                    opening,
                    money(&rows[i - 1]["closing"]),
                    "{acct} day {}",
                    i + 1
                );
            }
            // Realistic magnitudes: 10^4 .. 10^8 元 (dips go below 10^5).
            assert!(
                (1_000_000..=10_000_000_000).contains(&closing),
                "{acct}: {closing}"
            );
        }
    }
}

#[test]
fn reserve_dips_are_exactly_the_documented_ones() {
    let mut found: Vec<(String, Date)> = Vec::new();
    for r in fund_rows() {
        let (closing, available, reserve) = (
            money(&r["closing"]),
            money(&r["available"]),
            money(&r["safety_reserve"]),
        );
        if available < reserve {
            let Value::Date(d) = r["balance_date"] else {
                unreachable!()
            };
            assert!(closing < reserve, "documented: closing is below too");
            found.push((r["acct_no"].to_text(), d));
        }
    }
    found.sort();
    let mut want: Vec<(String, Date)> = FUND_DAILY_RESERVE_DIPS
        .iter()
        .flat_map(|d| d.dates.iter().map(|date| (d.acct_no.to_string(), *date)))
        .collect();
    want.sort();
    assert_eq!(found, want);

    // The same through a query an alert rule would run.
    let p = FixtureProvider::demo();
    let mut query = q(
        "fund_daily",
        &["org_id", "acct_no", "available", "safety_reserve"],
        &[],
    );
    query.filters = vec![filter("balance_date", FilterOp::Eq, vec![nov(30)])];
    let t = p.run(&query).unwrap();
    let below: Vec<String> = t
        .rows
        .iter()
        .filter(|r| money(&r[2]) < money(&r[3]))
        .map(|r| r[1].to_text())
        .collect();
    assert_eq!(below, ["1903330300013"]);
}

#[test]
fn derived_columns_follow_the_model() {
    let unreconciled_days: Vec<(String, String)> = FUND_DAILY_UNRECONCILED
        .iter()
        .map(|u| (u.acct_no.to_string(), u.date.to_string()))
        .collect();
    let mut found = Vec::new();
    for r in fund_rows() {
        let (closing, available, reserve) = (
            money(&r["closing"]),
            money(&r["available"]),
            money(&r["safety_reserve"]),
        );
        let (bank_bal, unreconciled) = (money(&r["bank_bal"]), money(&r["unreconciled"]));
        assert_eq!(unreconciled, bank_bal - closing);
        if unreconciled != 0 {
            found.push((r["acct_no"].to_text(), r["balance_date"].to_text()));
        }
        assert_eq!(money(&r["frozen"]), closing - available);
        let pooled = if r["in_pool"] == Value::Boolean(true) {
            closing
        } else {
            0
        };
        assert_eq!(money(&r["pooled_closing"]), pooled);
        assert_eq!(r["below_reserve"], Value::Boolean(available < reserve));
        // Every fixture day has turnover, so it is its own last transaction day.
        assert!(money(&r["inflow"]) + money(&r["outflow"]) > 0);
        assert_eq!(r["last_txn_date"], r["balance_date"]);
        assert_eq!(r["idle"], Value::Boolean(false));
    }
    found.sort();
    let mut want = unreconciled_days;
    want.sort();
    assert_eq!(found, want);
}

#[test]
fn the_model_measures_aggregate_like_the_warehouse() {
    let p = FixtureProvider::demo();
    let mut query = q(
        "fund_daily",
        &[],
        &[
            "unreconciled",
            "bank_bal",
            "closing",
            "pooled_closing",
            "below_reserve_accounts",
            "idle_accounts",
            "first_date",
            "latest_date",
        ],
    );
    query.filters = vec![filter("balance_date", FilterOp::Eq, vec![nov(30)])];
    let t = p.run(&query).unwrap();
    let kinds: Vec<ValueKind> = t.columns.iter().map(|c| c.kind).collect();
    use ValueKind::{Date as D, Int, Money as M};
    assert_eq!(kinds, [M, M, M, M, Int, Int, D, D]);
    let row = &t.rows[0];
    // 3 180 000 − 126 500 fen (FUND_DAILY_UNRECONCILED on 2026-11-30).
    assert_eq!(row[0], Value::Money(3_053_500));
    assert_eq!(money(&row[1]), money(&row[2]) + 3_053_500);
    let manual_pooled: i64 = fund_rows()
        .iter()
        .filter(|r| r["balance_date"] == nov(30) && r["in_pool"] == Value::Boolean(true))
        .map(|r| money(&r["closing"]))
        .sum();
    assert_eq!(row[3], Value::Money(manual_pooled));
    // Only 1903330300013 is below its reserve on 2026-11-30.
    assert_eq!(row[4], Value::Int(1));
    assert_eq!(row[5], Value::Int(0));
    assert_eq!((&row[6], &row[7]), (&nov(30), &nov(30)));

    // Over the whole month: 6 account-days below reserve; the date range.
    let t = p
        .run(&q(
            "fund_daily",
            &[],
            &["below_reserve_accounts", "first_date", "latest_date"],
        ))
        .unwrap();
    assert_eq!(
        t.rows,
        vec![vec![
            Value::Int(6),
            Value::Date(FUND_DAILY_FIRST_DAY),
            Value::Date(FUND_DAILY_LAST_DAY)
        ]]
    );
    // No data: the latest date is null (so an app can tell "no data").
    let mut none = q(
        "fund_daily",
        &[],
        &["latest_date", "below_reserve_accounts"],
    );
    none.filters = vec![filter("org_id", FilterOp::Eq, vec![text("nobody")])];
    assert_eq!(
        p.run(&none).unwrap().rows,
        vec![vec![Value::Null, Value::Null]]
    );
    // The flags are dimensions too.
    let mut by_flag = q("fund_daily", &["below_reserve"], &["account_count"]);
    by_flag.filters = vec![filter("balance_date", FilterOp::Eq, vec![nov(30)])];
    assert_eq!(
        p.run(&by_flag).unwrap().rows,
        vec![
            vec![Value::Boolean(false), Value::Int(30)],
            vec![Value::Boolean(true), Value::Int(1)],
        ]
    );
}

#[test]
fn the_sum_of_a_flag_counts_its_true_rows() {
    let ds = Dataset::new(
        "flags",
        vec![
            ColumnMeta {
                name: "k".into(),
                kind: ValueKind::Text,
            },
            ColumnMeta {
                name: "on".into(),
                kind: ValueKind::Boolean,
            },
        ],
        vec!["k".into()],
        vec![("on_count".into(), Measure::sum("on"))],
    )
    .unwrap()
    .with_rows(vec![
        vec![text("a"), Value::Boolean(true)],
        vec![text("a"), Value::Boolean(false)],
        vec![text("a"), Value::Boolean(true)],
        vec![text("a"), Value::Null],
        vec![text("b"), Value::Boolean(false)],
        vec![text("c"), Value::Null],
    ])
    .unwrap();
    let p = FixtureProvider::empty().with_dataset(ds);
    let t = p.run(&q("flags", &["k"], &["on_count"])).unwrap();
    assert_eq!(t.columns[1].kind, ValueKind::Int);
    assert_eq!(
        t.rows,
        vec![
            vec![text("a"), Value::Int(2)],
            vec![text("b"), Value::Int(0)],
            // Only nulls: null, as for any sum.
            vec![text("c"), Value::Null],
        ]
    );
}

#[test]
fn org_tree_is_consistent() {
    let rows = fund_rows();
    for o in DEMO_ORGS {
        let r = rows
            .iter()
            .find(|r| r["org_id"] == text(o.id))
            .unwrap_or_else(|| panic!("{} has no rows", o.id));
        assert_eq!(r["org_name"], text(o.name));
        assert_eq!(r["parent_id"], text(o.parent_id));
    }
    let p = FixtureProvider::demo();
    assert_eq!(org_subtree(&p, "3301"), ["3301", "330101", "330102"]);
    assert_eq!(org_subtree(&p, "330202"), ["330202"]);
    let all = org_subtree(&p, "3300");
    assert_eq!(all.len(), 10);
    assert_eq!(&all[..4], ["3300", "3301", "330101", "330102"]);
    assert!(org_subtree(&p, "9999").is_empty());
    assert!(org_subtree(&FixtureProvider::empty(), "3300").is_empty());
}

#[test]
fn bench_journal_is_fast_and_deterministic() {
    let start = std::time::Instant::now();
    let ds = bench_journal(100_000);
    let took = start.elapsed();
    assert_eq!(ds.row_count(), 100_000);
    // Generous for unoptimised test builds; a few ms optimised.
    assert!(took.as_millis() < 2_000, "{took:?}");
    assert_eq!(ds.row(0), bench_journal(1).row(0));
    for i in [0, 500, 99_999] {
        let row = ds.row(i).unwrap();
        assert!(DEMO_ORGS.iter().any(|o| text(o.id) == row[0]));
        assert!(BENCH_ACCT_CODES.iter().any(|c| text(c) == row[1]));
        assert!(money(&row[2]).abs() <= 100_000_000);
    }
    let p = FixtureProvider::demo().with_bench_journal(100_000);
    let t = p
        .run(&q("bench_journal", &["org_id"], &["amount", "entry_count"]))
        .unwrap();
    assert_eq!(t.rows.len(), 10);
    let total: i64 = t.rows.iter().map(|r| money(&r[1])).sum();
    let manual: i64 = ds.column_values("amount").unwrap().iter().map(money).sum();
    assert_eq!(total, manual);
    let count: i64 = t
        .rows
        .iter()
        .map(|r| match r[2] {
            Value::Int(n) => n,
            _ => unreachable!(),
        })
        .sum();
    assert_eq!(count, 100_000);
    assert!(FixtureProvider::demo().dataset("bench_journal").is_none());
}

// ---- query semantics -----------------------------------------------------

#[test]
fn sum_by_dimension_equals_the_manual_sum() {
    let p = FixtureProvider::demo();
    let mut query = q("fund_daily", &["org_id"], &["closing", "account_count"]);
    query.filters = vec![filter("balance_date", FilterOp::Eq, vec![nov(30)])];
    let t = p.run(&query).unwrap();
    assert_eq!(
        t.columns,
        vec![
            ColumnMeta {
                name: "org_id".into(),
                kind: ValueKind::Text
            },
            ColumnMeta {
                name: "closing".into(),
                kind: ValueKind::Money
            },
            ColumnMeta {
                name: "account_count".into(),
                kind: ValueKind::Int
            },
        ]
    );
    assert_eq!(t.rows.len(), 10);
    // Groups come out in dimension order.
    let ids: Vec<String> = t.rows.iter().map(|r| r[0].to_text()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    let mut manual: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in fund_rows() {
        if r["balance_date"] == nov(30) {
            let e = manual.entry(r["org_id"].to_text()).or_default();
            e.0 += money(&r["closing"]);
            e.1 += 1;
        }
    }
    for row in &t.rows {
        let (sum, n) = manual[&row[0].to_text()];
        assert_eq!(row[1], Value::Money(sum));
        assert_eq!(row[2], Value::Int(n));
    }
}

#[test]
fn measures_without_dimensions_give_one_row() {
    let p = FixtureProvider::demo();
    let t = p
        .run(&q("fund_daily", &[], &["inflow", "account_count"]))
        .unwrap();
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.rows[0][1], Value::Int(930));
    let mut none = q("fund_daily", &[], &["inflow", "account_count"]);
    none.filters = vec![filter("org_id", FilterOp::Eq, vec![text("nobody")])];
    let t = p.run(&none).unwrap();
    assert_eq!(t.rows, vec![vec![Value::Null, Value::Int(0)]]);
}

#[test]
fn filters_work() {
    let p = FixtureProvider::demo();
    let count = |filters: Vec<Filter>| -> i64 {
        let mut query = q("fund_daily", &[], &["account_count"]);
        query.filters = filters;
        match p.run(&query).unwrap().rows[0][0] {
            Value::Int(n) => n,
            _ => unreachable!(),
        }
    };
    assert_eq!(count(vec![]), 930);
    assert_eq!(
        count(vec![filter(
            "balance_date",
            FilterOp::Between,
            vec![nov(1), nov(10)]
        )]),
        310
    );
    assert_eq!(
        count(vec![filter("balance_date", FilterOp::Lt, vec![nov(11)])]),
        310
    );
    assert_eq!(
        count(vec![filter("balance_date", FilterOp::Ge, vec![nov(30)])]),
        31
    );
    assert_eq!(
        count(vec![filter(
            "org_id",
            FilterOp::InList,
            vec![text("3301"), text("3302")]
        )]),
        6 * 30
    );
    assert_eq!(
        count(vec![filter(
            "org_name",
            FilterOp::Like,
            vec![text("%供电所")]
        )]),
        18 * 30
    );
    assert_eq!(
        count(vec![filter("org_id", FilterOp::Like, vec![text("33_1")])]),
        3 * 30
    );
    assert_eq!(
        count(vec![filter("org_id", FilterOp::Ne, vec![text("3300")])]),
        27 * 30
    );
    assert_eq!(
        count(vec![filter(
            "in_pool",
            FilterOp::Eq,
            vec![Value::Boolean(false)]
        )]),
        11 * 30
    );
    assert_eq!(
        count(vec![
            filter("balance_date", FilterOp::Eq, vec![nov(30)]),
            filter("acct_type", FilterOp::Eq, vec![text("电费收入户")]),
        ]),
        10
    );
    assert_eq!(
        count(vec![filter(
            "closing",
            FilterOp::Gt,
            vec![Value::Money(5_000_000_000)]
        )]),
        // Above 50 000 000 元: only the root's 电费收入户 (86 000 000 元 ± 8 %).
        30
    );
}

#[test]
fn raw_reads_allow_any_column_and_keep_duplicates() {
    let p = FixtureProvider::demo();
    let mut query = q("fund_daily", &["org_id", "closing"], &[]);
    query.filters = vec![filter("org_id", FilterOp::Eq, vec![text("3301")])];
    let t = p.run(&query).unwrap();
    assert_eq!(t.rows.len(), 90);
    assert_eq!(t.columns[1].kind, ValueKind::Money);
    // Duplicates kept: no implied DISTINCT.
    let t = p.run(&q("fund_daily", &["bank"], &[])).unwrap();
    assert_eq!(t.rows.len(), 930);
}

#[test]
fn order_is_stable_desc_and_nulls_first() {
    let ds = Dataset::new(
        "t",
        vec![
            ColumnMeta {
                name: "k".into(),
                kind: ValueKind::Text,
            },
            ColumnMeta {
                name: "v".into(),
                kind: ValueKind::Money,
            },
        ],
        vec!["k".into()],
        vec![("v".into(), Measure::sum("v"))],
    )
    .unwrap()
    .with_rows(vec![
        vec![text("a"), Value::Money(2)],
        vec![text("b"), Value::Null],
        vec![text("c"), Value::Money(2)],
        vec![text("d"), Value::Money(9)],
        vec![text("e"), Value::Money(-1)],
    ])
    .unwrap();
    let p = FixtureProvider::empty().with_dataset(ds);
    let keys = |desc: bool| -> Vec<String> {
        let mut query = q("t", &["k", "v"], &[]);
        query.order = vec![OrderBy {
            field: "v".into(),
            descending: desc,
        }];
        p.run(&query)
            .unwrap()
            .rows
            .iter()
            .map(|r| r[0].to_text())
            .collect()
    };
    assert_eq!(keys(false), ["b", "e", "a", "c", "d"]);
    assert_eq!(keys(true), ["b", "d", "a", "c", "e"]);

    // Order by a measure of an aggregated query, then limit.
    let mut query = q("t", &["k"], &["v"]);
    query.order = vec![OrderBy {
        field: "v".into(),
        descending: true,
    }];
    query.limit = Some(2);
    let t = p.run(&query).unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![text("b"), Value::Null],
            vec![text("d"), Value::Money(9)]
        ]
    );

    // Two keys.
    let mut query = q("fund_daily", &["org_id", "balance_date", "closing"], &[]);
    query.order = vec![
        OrderBy {
            field: "closing".into(),
            descending: true,
        },
        OrderBy {
            field: "org_id".into(),
            descending: false,
        },
    ];
    query.limit = Some(3);
    let t = FixtureProvider::demo().run(&query).unwrap();
    assert!(money(&t.rows[0][2]) >= money(&t.rows[1][2]));
    assert_eq!(t.rows[0][0], text("3300"));
}

#[test]
fn min_max_and_sum_overflow() {
    let ds = Dataset::new(
        "big",
        vec![
            ColumnMeta {
                name: "k".into(),
                kind: ValueKind::Text,
            },
            ColumnMeta {
                name: "v".into(),
                kind: ValueKind::Money,
            },
        ],
        vec!["k".into()],
        vec![
            ("total".into(), Measure::sum("v")),
            ("lo".into(), Measure::min("v")),
            ("hi".into(), Measure::max("v")),
            (
                "n".into(),
                Measure {
                    agg: Aggregation::Count,
                    column: Some("v".into()),
                },
            ),
        ],
    )
    .unwrap()
    .with_rows(vec![
        vec![text("a"), Value::Money(i64::MAX)],
        vec![text("a"), Value::Money(1)],
        vec![text("b"), Value::Money(-5)],
        vec![text("b"), Value::Null],
        vec![text("b"), Value::Money(7)],
    ])
    .unwrap();
    let p = FixtureProvider::empty().with_dataset(ds);
    let e = err(&p, &q("big", &["k"], &["total"]));
    assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    assert!(e.message.contains("overflows"), "{e}");

    let mut query = q("big", &["k"], &["total", "lo", "hi", "n"]);
    query.filters = vec![filter("k", FilterOp::Eq, vec![text("b")])];
    let t = p.run(&query).unwrap();
    assert_eq!(
        t.rows,
        vec![vec![
            text("b"),
            Value::Money(2),
            Value::Money(-5),
            Value::Money(7),
            Value::Int(2)
        ]]
    );
    assert_eq!(t.columns[2].kind, ValueKind::Money);
}

#[test]
fn row_cap_is_enforced_not_silently_applied() {
    let p = FixtureProvider::demo().with_bench_journal(100_000);
    let e = err(&p, &q("bench_journal", &["org_id", "amount"], &[]));
    assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    assert!(e.message.contains("matched 100000 rows"), "{e}");
    assert!(e.message.contains("row cap of 10000"), "{e}");

    let mut query = q("bench_journal", &["org_id", "amount"], &[]);
    query.limit = Some(50);
    assert_eq!(p.run(&query).unwrap().rows.len(), 50);
    query.limit = Some(10_000);
    assert_eq!(p.run(&query).unwrap().rows.len(), 10_000);
    // A limit above the cap is no licence to exceed it.
    query.limit = Some(20_000);
    assert_eq!(err(&p, &query).kind, ErrorKind::QuotaExceeded);

    // A smaller cap: the provider's and a per-call one.
    let small = FixtureProvider::demo().with_row_cap(100);
    let e = err(&small, &q("fund_daily", &["acct_no"], &[]));
    assert!(e.message.contains("matched 930 rows"), "{e}");
    assert!(e.message.contains("row cap of 100"), "{e}");
    let e = FixtureProvider::demo()
        .run_capped(&q("fund_daily", &["acct_no"], &[]), 500)
        .unwrap_err();
    assert!(e.message.contains("row cap of 500"), "{e}");
    // Aggregated results count after grouping.
    assert_eq!(
        small
            .run(&q("fund_daily", &["balance_date"], &["closing"]))
            .unwrap()
            .rows
            .len(),
        30
    );
}

#[test]
fn unknown_names_are_not_found_with_the_alternatives() {
    let p = FixtureProvider::demo();
    let e = err(&p, &q("fund_monthly", &["org_id"], &[]));
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("`fund_monthly`"), "{e}");
    assert!(e.message.contains("available datasets: fund_daily"), "{e}");

    let e = err(&p, &q("fund_daily", &["org"], &["closing"]));
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("no dimension `org`"), "{e}");
    assert!(e.message.contains("org_id, org_name"), "{e}");

    // A measure's column is not a dimension when aggregating …
    let e = err(&p, &q("fund_daily", &["closing"], &["inflow"]));
    assert_eq!(e.kind, ErrorKind::NotFound);
    // … and raw reads list columns.
    let e = err(&p, &q("fund_daily", &["balance"], &[]));
    assert!(e.message.contains("no column `balance`"), "{e}");
    assert!(e.message.contains("safety_reserve"), "{e}");

    let e = err(&p, &q("fund_daily", &[], &["total"]));
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("no measure `total`"), "{e}");
    assert!(e.message.contains("account_count"), "{e}");

    let mut query = q("fund_daily", &[], &["closing"]);
    query.filters = vec![filter("date", FilterOp::Eq, vec![nov(1)])];
    let e = err(&p, &query);
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("no column `date` to filter on"), "{e}");
    assert!(e.message.contains("balance_date"), "{e}");

    let mut query = q("fund_daily", &["org_id"], &["closing"]);
    query.order = vec![OrderBy {
        field: "inflow".into(),
        descending: false,
    }];
    let e = err(&p, &query);
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("output columns: org_id, closing"), "{e}");
}

#[test]
fn bad_filter_values_are_invalid_input() {
    let p = FixtureProvider::demo();
    let run = |f: Filter| {
        let mut query = q("fund_daily", &[], &["closing"]);
        query.filters = vec![f];
        err(&p, &query)
    };
    let e = run(filter(
        "balance_date",
        FilterOp::Eq,
        vec![text("2026-11-30")],
    ));
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("holds date values"), "{e}");
    let e = run(filter("closing", FilterOp::Gt, vec![Value::Int(5)]));
    assert!(e.message.contains("holds money values"), "{e}");
    let e = run(filter("closing", FilterOp::Gt, vec![Value::Float(5.0)]));
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let e = run(filter("org_id", FilterOp::Eq, vec![Value::Null]));
    assert!(e.message.contains("null"), "{e}");

    let e = run(filter("balance_date", FilterOp::Between, vec![nov(1)]));
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("exactly 2 values"), "{e}");
    let e = run(filter("org_id", FilterOp::InList, vec![]));
    assert!(e.message.contains("at least 1 value"), "{e}");
    let e = run(filter("org_id", FilterOp::Eq, vec![text("a"), text("b")]));
    assert!(e.message.contains("exactly 1 value, got 2"), "{e}");
    let e = run(filter("closing", FilterOp::Like, vec![text("1%")]));
    assert!(e.message.contains("works on text columns"), "{e}");

    let e = err(&p, &q("fund_daily", &[], &[]));
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let e = err(&p, &q("fund_daily", &["org_id", "org_id"], &[]));
    assert!(e.message.contains("twice"), "{e}");
}

#[test]
fn provider_trait_serves_query_and_refuses_sql() {
    let p: Arc<dyn DataProvider> = Arc::new(FixtureProvider::demo());
    let who = caller();
    let t = block_on(p.query(&who, q("fund_daily", &["org_id"], &["closing"]))).unwrap();
    assert_eq!(t.rows.len(), 10);
    let e = block_on(p.sql(&who, "select 1".into(), vec![])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(e.message, SQL_UNAVAILABLE);
}

// ---- JSON fixtures -------------------------------------------------------

const SMALL: &str = r#"{
  "name": "fund_daily",
  "columns": [
    { "name": "org_id", "kind": "text" },
    { "name": "parent_id", "kind": "text" },
    { "name": "balance_date", "kind": "date" },
    { "name": "closing", "kind": "money" },
    { "name": "rate", "kind": "decimal" },
    { "name": "ok", "kind": "boolean" }
  ],
  "dimensions": ["org_id", "balance_date"],
  "measures": {
    "closing": { "agg": "sum", "column": "closing" },
    "rows": { "agg": "count" }
  },
  "rows": [
    ["A", "", "2026-11-30", 100, "0.1300", true],
    ["B", "A", "2026-11-30", 250, "1", false],
    ["B", "A", "2026-11-29", null, null, null]
  ]
}"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn json_fixtures_override_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fund.json", SMALL);
    write(
        dir.path(),
        "extra.json",
        r#"{"name": "extra", "columns": [{"name": "x", "kind": "int"}], "dimensions": ["x"], "rows": [[1], [2]]}"#,
    );
    write(dir.path(), "notes.txt", "ignored");
    let p = FixtureProvider::from_json_dir(dir.path()).unwrap();
    assert_eq!(
        p.dataset_names().collect::<Vec<_>>(),
        ["extra", "fund_daily"]
    );
    let t = p
        .run(&q("fund_daily", &["org_id"], &["closing", "rows"]))
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![text("A"), Value::Money(100), Value::Int(1)],
            vec![text("B"), Value::Money(250), Value::Int(2)],
        ]
    );
    assert_eq!(org_subtree(&p, "A"), ["A", "B"]);
    let t = p.run(&q("extra", &["x"], &[])).unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(1)], vec![Value::Int(2)]]);
    // with_json_dir onto an empty provider.
    let p = FixtureProvider::empty().with_json_dir(dir.path()).unwrap();
    assert_eq!(p.dataset("fund_daily").unwrap().row_count(), 3);
}

#[test]
fn json_errors_name_file_row_and_column() {
    let check = |text: &str, want: &[&str]| {
        let e = dataset_from_json(text, "fixtures/f.json").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("fixtures/f.json"), "{s}");
        for w in want {
            assert!(s.contains(w), "missing {w:?} in: {s}");
        }
    };
    check(
        "{\n  \"name\": \"x\",\n  oops\n}",
        &["fixtures/f.json:3:", "invalid fixture JSON"],
    );
    check(
        &SMALL.replace("250, \"1\"", "2.5, \"1\""),
        &["row 2", "column `closing`", "integer number of fen"],
    );
    check(
        &SMALL.replace("\"2026-11-29\"", "\"2026-11-31\""),
        &["row 3", "column `balance_date`", "not a date"],
    );
    check(
        &SMALL.replace("\"0.1300\"", "\"13%\""),
        &["row 1", "column `rate`", "not a decimal"],
    );
    check(
        &SMALL.replace("true]", "\"yes\"]"),
        &["row 1", "column `ok`", "true or false"],
    );
    check(
        &SMALL.replace("null, null, null]", "null, null]"),
        &["row 3", "has 5 values"],
    );
    check(
        &SMALL.replace("\"kind\": \"decimal\"", "\"kind\": \"percent\""),
        &["unknown variant `percent`"],
    );
    check(
        &SMALL.replace("\"agg\": \"count\"", "\"agg\": \"avg\""),
        &["unknown variant `avg`"],
    );
    check(
        &SMALL.replace("[\"org_id\", \"balance_date\"]", "[\"org\"]"),
        &["dataset `fund_daily`", "dimension `org` is not a column"],
    );
    check(
        &SMALL.replace("\"rows\": [", "\"rowz\": [], \"rows\": ["),
        &["unknown field `rowz`"],
    );
}

#[test]
fn json_dir_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.json", SMALL);
    write(dir.path(), "b.json", SMALL);
    let e = FixtureProvider::from_json_dir(dir.path()).unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("b.json") && s.contains("also defined in") && s.contains("a.json"),
        "{s}"
    );
    let e = FixtureProvider::from_json_dir(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, FixtureError::Io { .. }), "{e}");
}

/// A guard for tests: keeps the rows of `orgs`, masks `acct_no` (text) and
/// `safety_reserve` (money) in rows of `masked_in`.
struct TestGuard {
    orgs: Vec<&'static str>,
    masked_in: Vec<&'static str>,
}

impl ViewGuard for TestGuard {
    fn org_column(&self) -> Option<&str> {
        Some("org_id")
    }
    fn owner_column(&self) -> Option<&str> {
        None
    }
    fn keeps_every_row(&self) -> bool {
        false
    }
    fn keep_row(&self, org: Option<&str>, _owner: Option<&str>) -> bool {
        org.is_some_and(|o| self.orgs.contains(&o))
    }
    fn may_mask(&self, column: &str) -> bool {
        column == "acct_no" || column == "safety_reserve"
    }
    fn masks_cell(&self, _column: &str, org: Option<&str>, _owner: Option<&str>) -> bool {
        org.is_some_and(|o| self.masked_in.contains(&o))
    }
    fn mask_text(&self, _column: &str, value: &str) -> String {
        format!("****{}", &value[value.len() - 4..])
    }
}

#[test]
fn a_guarded_query_sees_only_kept_rows_and_masked_cells_by_every_query_shape() {
    let p = FixtureProvider::demo();
    let guard = TestGuard {
        orgs: vec!["3301", "330101", "330102"],
        masked_in: vec!["330101"],
    };
    let all_rows = fund_rows().len();
    // Projection: only the kept orgs; acct_no masked exactly in 330101's rows.
    let rows = p
        .run_guarded(
            &q("fund_daily", &["org_id", "acct_no", "safety_reserve"], &[]),
            100_000,
            &guard,
        )
        .unwrap()
        .rows;
    assert!(!rows.is_empty() && rows.len() < all_rows);
    for r in &rows {
        let Value::Text(org) = &r[0] else { panic!() };
        assert!(guard.orgs.contains(&org.as_str()), "{org}");
        let Value::Text(acct) = &r[1] else { panic!() };
        assert_eq!(acct.starts_with("****"), org == "330101", "{org} {acct}");
        assert_eq!(matches!(r[2], Value::Null), org == "330101", "{r:?}");
    }
    // Aggregation and grouping run over the view: no group of another org,
    // and the total equals the sum of the kept rows only.
    let by_org = p
        .run_guarded(&q("fund_daily", &["org_id"], &["closing"]), 100_000, &guard)
        .unwrap();
    let orgs: Vec<_> = by_org.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(orgs, vec![text("3301"), text("330101"), text("330102")]);
    let kept_total: i64 = fund_rows()
        .iter()
        .filter(|r| matches!(&r["org_id"], Value::Text(o) if guard.orgs.contains(&o.as_str())))
        .map(|r| money(&r["closing"]))
        .sum();
    let total = p
        .run_guarded(&q("fund_daily", &[], &["closing"]), 100_000, &guard)
        .unwrap();
    assert_eq!(money(&total.rows[0][0]), kept_total);
    // A filter on another org's id finds nothing, rather than its rows.
    let mut other = q("fund_daily", &["acct_no"], &[]);
    other.filters = vec![filter("org_id", FilterOp::Eq, vec![text("3302")])];
    assert!(
        p.run_guarded(&other, 100_000, &guard)
            .unwrap()
            .rows
            .is_empty()
    );
    // Grouping by a masked column cannot recover the clear values.
    let by_acct = p
        .run_guarded(
            &q("fund_daily", &["acct_no"], &["closing"]),
            100_000,
            &guard,
        )
        .unwrap();
    for r in &by_acct.rows {
        let Value::Text(a) = &r[0] else { panic!() };
        assert!(a.starts_with("****") || !a.starts_with("***"));
    }
}
