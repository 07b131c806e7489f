//! The data catalog: what a refresh finds, sensitivity suggestion and
//! confirmation, naming rules, search, and the quality score.

mod common;

use common::*;
use std::path::Path;
use std::sync::Arc;
use zhiyun_batch::{ColumnSpec, ColumnType, FileFormat, TableSpec, TableWriter};
use zhiyun_warehouse::catalog::{
    self, CatalogError, Kind, Layer, Level, MatchedOn, RefreshOptions, SearchQuery, TableDetail,
};
use zhiyun_warehouse::ods::{LoadOptions, load_batch};
use zhiyun_warehouse::{Db, on_db};

fn described(name: &str, ty: ColumnType, description: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty,
        description: description.into(),
    }
}

/// A 居民身份证号 with a valid check character, from a seed.
fn id_number(i: u64) -> String {
    let first17 = format!(
        "330106{:04}{:02}{:02}{:03}",
        1960 + i % 40,
        i % 12 + 1,
        i % 28 + 1,
        i % 999 + 1
    );
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// The same number with a check character that is wrong.
fn bad_id_number(i: u64) -> String {
    let good = id_number(i);
    let wrong = if good.ends_with('1') { '2' } else { '1' };
    format!("{}{wrong}", &good[..17])
}

/// A 19-digit card number that passes the Luhn check.
fn card_number(i: u64) -> String {
    let body = format!("621700{:012}", i * 7_919 + 13);
    let mut sum = 0;
    for (k, b) in body.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if k % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn customer_spec() -> TableSpec {
    TableSpec {
        name: "customer".into(),
        domain: "营销电费".into(),
        description: "用电客户档案（营销系统）".into(),
        columns: vec![
            described("cust_no", ColumnType::String, "用户编号（户号）"),
            described("cust_name", ColumnType::String, "用户名称"),
            described("id_card_no", ColumnType::String, "身份证号"),
            described("mobile", ColumnType::String, "联系电话"),
            // Innocuous names, personal values: the catalog must look at the values.
            described("remark", ColumnType::String, "备注"),
            described("memo", ColumnType::String, "说明"),
            described("ref_code", ColumnType::String, "参考编码"),
            described("check_code", ColumnType::String, "校验码"),
            described("kwh", ColumnType::Decimal, "年用电量（千瓦时）"),
            described("voltage", ColumnType::String, "供电电压等级"),
        ],
        key: vec!["cust_no".into()],
        period_column: None,
        org_column: None,
    }
}

fn customer_row(i: u64) -> Vec<String> {
    vec![
        format!("C{i:06}"),
        format!("客户{i}"),
        id_number(i),
        format!("139{:08}", 10_000_000 + i),
        // Half the remarks carry an ID number inside free text.
        if i.is_multiple_of(2) {
            format!("户主身份证{}已核验", id_number(i + 500))
        } else {
            String::new()
        },
        // A third of the memos carry a mobile number after a name.
        if i.is_multiple_of(3) {
            format!("王五 1{}{:09}", 3 + i % 7, i * 31)
        } else {
            "无".into()
        },
        card_number(i),
        // 18 digits that look like an ID number but whose check digit is wrong.
        bad_id_number(i),
        format!("{}.5", 1000 + i),
        "10kV".into(),
    ]
}

fn options() -> LoadOptions {
    LoadOptions {
        chunk_rows: 500,
        ..LoadOptions::default()
    }
}

async fn load(db: &Db, dir: &Path) {
    let report = load_batch(db, dir, &options(), Arc::new(|_| {}))
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:#?}");
}

async fn exec(db: &Db, sql: &str) {
    on_db!(db, |pool| sqlx::raw_sql(sqlx::AssertSqlSafe(
        sql.to_owned()
    ))
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
}

async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        sqlx::AssertSqlSafe(sql.to_owned())
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

fn renamed(name: &str, description: &str) -> TableSpec {
    let mut spec = payment_spec();
    spec.name = name.into();
    spec.description = description.into();
    spec
}

/// The warehouse every test starts from:
/// - batch B1 (as of 2026-10-31): `customer` (营销电费, 120 rows), `payment`
///   (资金, 300 clean rows), `pay_damaged` (资金, 300 rows + 3 unreadable lines);
/// - a DWD table `dwd_payment` with B1's rows, one of them quarantined by cleaning;
/// - a DWS table and two badly named tables created directly;
/// - reconciliation results: payment matches, pay_damaged does not.
async fn setup(db: &Db) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut customers = TableWriter::create(dir.path(), customer_spec(), FileFormat::Csv).unwrap();
    for i in 0..120 {
        customers.write_row(&customer_row(i)).unwrap();
    }
    let tables = vec![
        customers.finish().unwrap(),
        write_payments(
            dir.path(),
            renamed("payment", "付款单（资金支付）"),
            FileFormat::Csv,
            300,
            |_| {},
        ),
        write_payments(
            dir.path(),
            renamed("pay_damaged", "付款单（传输受损）"),
            FileFormat::Csv,
            300,
            |w| {
                for k in 0..3 {
                    w.write_damaged(&payment_row(9000 + k), b"P9,3301\n")
                        .unwrap();
                }
            },
        ),
    ];
    save(dir.path(), &manifest("B1", tables));
    load(db, dir.path()).await;

    exec(
        db,
        "CREATE TABLE dwd_payment (pay_id TEXT, org_id TEXT, pay_date TEXT, amount BIGINT, payee TEXT, _batch_id TEXT)",
    )
    .await;
    exec(
        db,
        "INSERT INTO dwd_payment SELECT pay_id, org_id, pay_date, 100, payee, _batch_id \
         FROM ods_payment WHERE pay_id <> 'P0000000'",
    )
    .await;
    exec(
        db,
        "INSERT INTO zw_quarantine (layer, batch_id, table_name, line, rule, reason, raw, quarantined_at) \
         VALUES ('dwd', 'B1', 'payment', 2, 'date', 'bad date', 'P0000000', 1)",
    )
    .await;
    exec(
        db,
        "CREATE TABLE dws_fund_daily (org_id TEXT, day TEXT, balance BIGINT)",
    )
    .await;
    exec(
        db,
        "INSERT INTO dws_fund_daily VALUES ('3301', '2026-10-31', 5)",
    )
    .await;
    exec(
        db,
        "CREATE TABLE \"dwd_BadName\" (x TEXT, \"Bad__Col\" TEXT)",
    )
    .await;
    exec(db, "CREATE TABLE tmp_x (x TEXT)").await;
    for (table, status) in [("payment", "match"), ("pay_damaged", "mismatch")] {
        exec(
            db,
            &format!(
                "INSERT INTO zw_reconcile (batch_id, table_name, status, manifest_rows, loaded_rows, \
                 quarantined_rows, manifest_checksum, loaded_checksum, report, checked_at) \
                 VALUES ('B1', '{table}', '{status}', 300, 300, 0, '0', '0', '{{}}', 5)"
            ),
        )
        .await;
    }
    dir
}

async fn detail(db: &Db, table: &str) -> TableDetail {
    catalog::table_detail(db, table)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{table} is not in the catalog"))
}

fn column<'a>(d: &'a TableDetail, name: &str) -> &'a catalog::ColumnDetail {
    d.columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{} has no column {name}", d.name))
}

fn part(d: &TableDetail, name: &str) -> Option<f64> {
    d.quality
        .parts
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no part {name}"))
        .value
}

both_backends!(refresh_finds_tables_with_their_metadata, |t| {
    let _dir = setup(&t.db).await;
    let report = catalog::refresh(&t.db).await.unwrap();
    assert_eq!(report.tables, 7, "{report:#?}");
    assert_eq!(report.by_layer["ODS"], 3);
    assert_eq!(report.by_layer["DWD"], 2);
    assert_eq!(report.by_layer["DWS"], 1);
    assert_eq!(report.by_layer["OTHER"], 1);
    assert_eq!(report.naming_violations, 2);

    let ods = detail(&t.db, "ods_customer").await;
    assert_eq!(ods.layer, Layer::Ods);
    assert_eq!(ods.source_table.as_deref(), Some("customer"));
    assert_eq!(ods.domain, "营销电费");
    assert_eq!(ods.description, "用电客户档案（营销系统）");
    assert_eq!(ods.owner.as_deref(), Some("营销部电费电价处"));
    assert_eq!(ods.row_count, 120);
    assert!(ods.naming.ok, "{:?}", ods.naming);
    assert_eq!(ods.freshness.batch_id.as_deref(), Some("B1"));
    assert_eq!(ods.freshness.as_of.as_deref(), Some("2026-10-31"));
    assert!(ods.freshness.loaded_at.is_some());
    assert_eq!(ods.manifest_batch_id.as_deref(), Some("B1"));
    let kwh = column(&ods, "kwh");
    assert_eq!(kwh.description, "年用电量（千瓦时）");
    assert_eq!(kwh.declared_type.as_deref(), Some("decimal"));
    assert_eq!(kwh.data_type, "text");
    assert_eq!(
        column(&ods, "_batch_id").description,
        "批次号（装载簿记列）"
    );
    assert_eq!(ods.columns[0].name, "_batch_id");

    let dwd = detail(&t.db, "dwd_payment").await;
    assert_eq!((dwd.layer, dwd.domain.as_str()), (Layer::Dwd, "资金"));
    assert_eq!(dwd.owner.as_deref(), Some("财务部资金管理处"));
    assert_eq!(dwd.row_count, 299);
    assert_eq!(dwd.freshness.batch_id.as_deref(), Some("B1"));
    assert_eq!(column(&dwd, "amount").data_type, "bigint");
    assert_eq!(
        column(&dwd, "amount").declared_type.as_deref(),
        Some("money")
    );

    let dws = detail(&t.db, "dws_fund_daily").await;
    assert_eq!((dws.layer, dws.domain.as_str()), (Layer::Dws, "未分类"));
    assert_eq!(dws.owner, None);
    assert_eq!(dws.freshness.batch_id, None);
    assert!(
        catalog::table_detail(&t.db, "zw_batch")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        catalog::table_detail(&t.db, "ods_nothing")
            .await
            .unwrap()
            .is_none()
    );

    // The directory: domains in their usual order, 未分类 last.
    let dir = catalog::directory(&t.db).await.unwrap();
    assert_eq!(dir.total, 7);
    let names: Vec<&str> = dir.domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, ["资金", "营销电费", "未分类"]);
    let fund = &dir.domains[0];
    assert_eq!(fund.tables, 3);
    assert_eq!(fund.owner.as_deref(), Some("财务部资金管理处"));
    let layers: Vec<(Layer, i64)> = fund.layers.iter().map(|l| (l.layer, l.tables)).collect();
    assert_eq!(layers, [(Layer::Ods, 2), (Layer::Dwd, 1)]);
    assert_eq!(dir.domains[2].tables, 3);

    // Owners can be overridden per domain and per table; a dropped table leaves the catalog.
    exec(&t.db, "DROP TABLE tmp_x").await;
    let mut options = RefreshOptions::default();
    options.owners.insert("资金".into(), "资金中心".into());
    options
        .table_owners
        .insert("dws_fund_daily".into(), "数据管理中心".into());
    let again = catalog::refresh_with(&t.db, &options).await.unwrap();
    assert_eq!((again.tables, again.removed), (6, 1));
    assert_eq!(
        detail(&t.db, "ods_payment").await.owner.as_deref(),
        Some("资金中心")
    );
    assert_eq!(
        detail(&t.db, "dws_fund_daily").await.owner.as_deref(),
        Some("数据管理中心")
    );
    assert!(
        catalog::table_detail(&t.db, "tmp_x")
            .await
            .unwrap()
            .is_none()
    );
    // The JSON the server will return.
    let json = serde_json::to_value(detail(&t.db, "ods_customer").await).unwrap();
    assert_eq!(json["layer"], "ODS");
    assert_eq!(json["columns"][4]["suggested"]["level"], "secret");
});

both_backends!(sensitivity_is_suggested_from_names_and_values, |t| {
    let _dir = setup(&t.db).await;
    let report = catalog::refresh(&t.db).await.unwrap();
    let d = detail(&t.db, "ods_customer").await;
    let suggested = |c: &str| {
        let s = &column(&d, c).suggested;
        (s.level, s.kind, s.reason.clone())
    };
    // By name.
    let (level, kind, reason) = suggested("id_card_no");
    assert_eq!(
        (level, kind),
        (Level::Secret, Some(Kind::IdCard)),
        "{reason}"
    );
    assert!(reason.starts_with("name:"), "{reason}");
    assert_eq!(suggested("mobile").0, Level::Sensitive);
    assert_eq!(suggested("mobile").1, Some(Kind::Mobile));
    // By values under innocuous names.
    let (level, kind, reason) = suggested("remark");
    assert_eq!(
        (level, kind),
        (Level::Secret, Some(Kind::IdCard)),
        "{reason}"
    );
    assert!(reason.contains("60 of 60"), "{reason}");
    assert!(
        !reason.contains(&id_number(500)),
        "the reason must mask the example: {reason}"
    );
    let (level, kind, reason) = suggested("memo");
    assert_eq!(
        (level, kind),
        (Level::Sensitive, Some(Kind::Mobile)),
        "{reason}"
    );
    let (level, kind, reason) = suggested("ref_code");
    assert_eq!(
        (level, kind),
        (Level::Secret, Some(Kind::BankCard)),
        "{reason}"
    );
    // 18 digits with a wrong check digit are not an ID number (they may be an account).
    let (_, kind, reason) = suggested("check_code");
    assert_ne!(kind, Some(Kind::IdCard), "{reason}");
    assert!(!reason.contains("身份证"), "{reason}");
    // Ordinary columns stay internal.
    for c in ["cust_no", "cust_name", "kwh", "voltage", "_line"] {
        assert_eq!(suggested(c).0, Level::Internal, "{c}: {}", suggested(c).2);
    }
    assert_eq!(column(&d, "remark").effective_level, Level::Secret);
    assert!(column(&d, "remark").confirmed.is_none());
    assert!(report.sensitive_columns >= 6, "{report:#?}");
    // The payments have nothing personal.
    let p = detail(&t.db, "ods_payment").await;
    assert!(
        p.columns
            .iter()
            .all(|c| c.suggested.level == Level::Internal),
        "{:#?}",
        p.columns
    );
});

both_backends!(confirmation_overrides_and_survives_refresh, |t| {
    let _dir = setup(&t.db).await;
    catalog::refresh(&t.db).await.unwrap();
    let confirmed =
        catalog::confirm_sensitivity(&t.db, "ods_customer", "cust_name", "sensitive", "admin1")
            .await
            .unwrap();
    assert_eq!(confirmed.level, Level::Sensitive);
    catalog::confirm_sensitivity(&t.db, "ods_customer", "remark", "内部", "admin1")
        .await
        .unwrap();

    let check = |d: &TableDetail| {
        let name = column(d, "cust_name");
        assert_eq!(name.suggested.level, Level::Internal);
        assert_eq!(name.effective_level, Level::Sensitive);
        let c = name.confirmed.as_ref().unwrap();
        assert_eq!(
            (c.level, c.confirmed_by.as_str()),
            (Level::Sensitive, "admin1")
        );
        let remark = column(d, "remark");
        assert_eq!(remark.suggested.level, Level::Secret);
        assert_eq!(remark.effective_level, Level::Internal);
    };
    check(&detail(&t.db, "ods_customer").await);
    catalog::refresh(&t.db).await.unwrap();
    check(&detail(&t.db, "ods_customer").await);

    // Bad confirmations are refused and change nothing.
    let before = count(&t.db, "SELECT count(*) FROM zw_catalog_sensitivity").await;
    let err = catalog::confirm_sensitivity(&t.db, "ods_nope", "x", "secret", "admin1")
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::UnknownTable(_)), "{err}");
    assert!(err.to_string().contains("ods_nope"), "{err}");
    let err = catalog::confirm_sensitivity(&t.db, "ods_customer", "nope", "secret", "admin1")
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::UnknownColumn { .. }), "{err}");
    let err =
        catalog::confirm_sensitivity(&t.db, "ods_customer", "cust_name", "top-secret", "admin1")
            .await
            .unwrap_err();
    assert!(matches!(err, CatalogError::InvalidLevel(_)), "{err}");
    assert!(
        err.to_string()
            .contains("public, internal, sensitive or secret"),
        "{err}"
    );
    let err = catalog::confirm_sensitivity(&t.db, "ods_customer", "cust_name", "public", " ")
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::Invalid(_)), "{err}");
    assert_eq!(
        count(&t.db, "SELECT count(*) FROM zw_catalog_sensitivity").await,
        before
    );
    check(&detail(&t.db, "ods_customer").await);
});

both_backends!(naming_violations_are_reported, |t| {
    let _dir = setup(&t.db).await;
    catalog::refresh(&t.db).await.unwrap();
    let bad = detail(&t.db, "dwd_BadName").await;
    assert_eq!(bad.layer, Layer::Dwd);
    assert!(!bad.naming.ok);
    let rules: Vec<&str> = bad
        .naming
        .violations
        .iter()
        .map(|v| v.rule.as_str())
        .collect();
    assert_eq!(rules, ["pattern", "column"], "{:#?}", bad.naming);
    assert!(bad.naming.violations[1].message.contains("Bad__Col"));
    assert_eq!(bad.naming.suggested_name.as_deref(), Some("dwd_badname"));

    let tmp = detail(&t.db, "tmp_x").await;
    assert_eq!((tmp.layer, tmp.domain.as_str()), (Layer::Other, "未分类"));
    let rules: Vec<&str> = tmp
        .naming
        .violations
        .iter()
        .map(|v| v.rule.as_str())
        .collect();
    assert_eq!(rules, ["pattern", "layer_prefix"]);
    assert_eq!(tmp.naming.suggested_name, None);

    for good in ["ods_payment", "dwd_payment", "dws_fund_daily"] {
        let d = detail(&t.db, good).await;
        assert!(
            d.naming.ok && d.naming.violations.is_empty(),
            "{good}: {:?}",
            d.naming
        );
    }
});

both_backends!(search_by_name_description_and_column, |t| {
    let _dir = setup(&t.db).await;
    catalog::refresh(&t.db).await.unwrap();
    let search = |q: SearchQuery| {
        let db = t.db.clone();
        async move { catalog::search(&db, &q).await.unwrap() }
    };
    let names = |page: &catalog::SearchPage| -> Vec<String> {
        page.items.iter().map(|h| h.name.clone()).collect()
    };

    // A Chinese table description.
    let page = search(SearchQuery {
        q: "付款单".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        names(&page),
        ["dwd_payment", "ods_pay_damaged", "ods_payment"]
    );
    assert!(
        page.items
            .iter()
            .all(|h| h.matched_on == MatchedOn::Description)
    );
    // Part of a description.
    let page = search(SearchQuery {
        q: "营销".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_customer"]);
    // A column name (case-insensitive), with the matching columns listed.
    let page = search(SearchQuery {
        q: "ID_CARD".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_customer"]);
    assert_eq!(page.items[0].matched_on, MatchedOn::Column);
    assert_eq!(page.items[0].matched_columns, ["id_card_no"]);
    assert_eq!(page.items[0].max_sensitivity, Some(Level::Secret));
    // A Chinese column description.
    let page = search(SearchQuery {
        q: "千瓦时".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_customer"]);
    assert_eq!(page.items[0].matched_on, MatchedOn::ColumnDescription);
    assert_eq!(page.items[0].matched_columns, ["kwh"]);
    // Name matches rank before description and column matches.
    let page = search(SearchQuery {
        q: "pay".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        names(&page)[..3],
        ["dwd_payment", "ods_pay_damaged", "ods_payment"]
    );
    assert_eq!(page.items[0].matched_on, MatchedOn::NamePart);
    let page = search(SearchQuery {
        q: "ods_payment".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(page.items[0].matched_on, MatchedOn::Name);
    assert_eq!(page.items[0].name, "ods_payment");
    // LIKE wildcards in the query are plain characters.
    assert_eq!(
        search(SearchQuery {
            q: "%".into(),
            ..Default::default()
        })
        .await
        .total,
        0
    );

    // Filters.
    let page = search(SearchQuery {
        q: "付款".into(),
        layer: Some(Layer::Ods),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_pay_damaged", "ods_payment"]);
    let page = search(SearchQuery {
        domain: Some("营销电费".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_customer"]);
    let page = search(SearchQuery {
        min_sensitivity: Some(Level::Sensitive),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_customer"]);
    // A confirmation counts in the filter.
    catalog::confirm_sensitivity(&t.db, "ods_payment", "payee", "secret", "admin1")
        .await
        .unwrap();
    let page = search(SearchQuery {
        min_sensitivity: Some(Level::Secret),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&page), ["ods_customer", "ods_payment"]);

    // Paging: everything, two at a time.
    let mut seen = Vec::new();
    for offset in [0, 2, 4, 6] {
        let page = search(SearchQuery {
            limit: Some(2),
            offset: Some(offset),
            ..Default::default()
        })
        .await;
        assert_eq!((page.total, page.limit, page.offset), (7, 2, offset));
        seen.extend(names(&page));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 7, "{seen:?}");
    let beyond = search(SearchQuery {
        limit: Some(2),
        offset: Some(50),
        ..Default::default()
    })
    .await;
    assert_eq!((beyond.total, beyond.items.len()), (7, 0));
    let err = catalog::search(
        &t.db,
        &SearchQuery {
            limit: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
});

both_backends!(
    quality_reflects_quarantine_reconciliation_and_freshness,
    |t| {
        let dir = setup(&t.db).await;
        catalog::refresh(&t.db).await.unwrap();
        let clean = detail(&t.db, "ods_payment").await;
        let damaged = detail(&t.db, "ods_pay_damaged").await;
        assert_eq!(part(&clean, "validity"), Some(1.0));
        let v = part(&damaged, "validity").unwrap();
        assert!((v - (1.0 - 3.0 / 303.0)).abs() < 1e-9, "{v}");
        assert_eq!(part(&clean, "reconciliation"), Some(1.0));
        assert_eq!(part(&damaged, "reconciliation"), Some(0.0));
        assert_eq!(clean.reconciliation.as_ref().unwrap().status, "match");
        assert_eq!(part(&clean, "completeness"), Some(1.0));
        assert_eq!(part(&clean, "freshness"), Some(1.0));
        assert_eq!(clean.quality.score, Some(100));
        assert!(damaged.quality.score.unwrap() < clean.quality.score.unwrap());
        assert!(
            damaged.quality.parts[0].explanation.contains("3 of 303"),
            "{:?}",
            damaged.quality.parts[0]
        );
        // The DWD table: one row of 300 quarantined by cleaning.
        let dwd = detail(&t.db, "dwd_payment").await;
        let v = part(&dwd, "validity").unwrap();
        assert!((v - (1.0 - 1.0 / 300.0)).abs() < 1e-9, "{v}");
        // Once cleaning records its runs, they are what counts for DWD.
        zhiyun_warehouse::clean::ensure_tables(&t.db).await.unwrap();
        exec(
        &t.db,
        "INSERT INTO zw_clean_run (batch_id, table_name, status, rules_source, rules_hash, rows_in, \
         rows_out, rows_quarantined, started_at, finished_at) \
         VALUES ('B1', 'payment', 'done', 'test', 'h', 300, 290, 10, 1, 2)",
    )
    .await;
        catalog::refresh(&t.db).await.unwrap();
        let dwd = detail(&t.db, "dwd_payment").await;
        let v = part(&dwd, "validity").unwrap();
        assert!((v - (1.0 - 10.0 / 300.0)).abs() < 1e-9, "{v}");
        assert_eq!(dwd.freshness.batch_id.as_deref(), Some("B1"));
        assert_eq!(dwd.freshness.loaded_at, Some(2));
        // Empty remarks lower completeness.
        let customer = detail(&t.db, "ods_customer").await;
        let c = part(&customer, "completeness").unwrap();
        assert!((c - (1.0 - 60.0 / 1200.0)).abs() < 1e-9, "{c}");
        // A DWS table has only the parts that apply.
        let dws = detail(&t.db, "dws_fund_daily").await;
        assert_eq!(part(&dws, "validity"), None);
        assert_eq!(dws.quality.score, Some(100));

        // A later batch (20 days on) brings payment again with a new column and a
        // new description: the description is the newest, the drift is listed,
        // and the tables not in it grow stale.
        let b2 = tempfile::tempdir().unwrap();
        let mut spec = renamed("payment", "付款单（第二批）");
        spec.columns
            .push(described("payee_mobile", ColumnType::String, "收款人手机"));
        let mut w = TableWriter::create(b2.path(), spec, FileFormat::Csv).unwrap();
        for i in 0..50 {
            let mut row = payment_row(1000 + i);
            row.push(format!("137{:08}", i));
            w.write_row(&row).unwrap();
        }
        let mut m = manifest("B2", vec![w.finish().unwrap()]);
        m.as_of = "2026-11-20".into();
        save(b2.path(), &m);
        load(&t.db, b2.path()).await;
        catalog::refresh(&t.db).await.unwrap();
        let p = detail(&t.db, "ods_payment").await;
        assert_eq!(p.description, "付款单（第二批）");
        assert_eq!(p.manifest_batch_id.as_deref(), Some("B2"));
        assert_eq!(p.freshness.batch_id.as_deref(), Some("B2"));
        assert_eq!(p.row_count, 350);
        assert_eq!(part(&p, "freshness"), Some(1.0));
        assert_eq!(
            column(&p, "payee_mobile").suggested.kind,
            Some(Kind::Mobile)
        );
        assert_eq!(p.drift.len(), 1, "{:#?}", p.drift);
        assert_eq!(
            (p.drift[0].column.as_str(), p.drift[0].kind.as_str()),
            ("payee_mobile", "added")
        );
        let stale = detail(&t.db, "ods_pay_damaged").await;
        let f = part(&stale, "freshness").unwrap();
        assert!((f - (1.0 - 20.0 / 30.0)).abs() < 1e-9, "{f}");
        assert_eq!(stale.description, "付款单（传输受损）");
        drop(dir);
    }
);

/// Refresh time for many tables (not run by default):
/// `CATALOG_BENCH_TABLES=1500 cargo test --release -p zhiyun-warehouse --test catalog -- --ignored --nocapture many_tables`
async fn many_tables(backend: zhiyun_store::Backend) {
    let tables: usize = std::env::var("CATALOG_BENCH_TABLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let rows = 1000;
    let t = TestDb::new(backend).await;
    let started = std::time::Instant::now();
    for i in 0..tables {
        let name = format!("ods_bench_{i:04}");
        let cols: Vec<String> = (0..12).map(|c| format!("c{c} TEXT")).collect();
        exec(
            &t.db,
            &format!(
                "CREATE TABLE {name} (_batch_id TEXT, _line BIGINT, {})",
                cols.join(", ")
            ),
        )
        .await;
        let values: Vec<String> = (0..12)
            .map(|c| match c {
                0 => "'13' || CAST(100000000 + n.i AS TEXT)".to_owned(),
                1 => "''".to_owned(),
                _ => format!("'v{c}_' || CAST(n.i AS TEXT)"),
            })
            .collect();
        exec(
            &t.db,
            &format!(
                "INSERT INTO {name} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
                 SELECT 'B1', n.i, {} FROM n",
                values.join(", ")
            ),
        )
        .await;
    }
    eprintln!(
        "{backend:?}: created {tables} tables × {rows} rows in {:?}",
        started.elapsed()
    );
    for round in 0..2 {
        let started = std::time::Instant::now();
        let report = catalog::refresh(&t.db).await.unwrap();
        eprintln!(
            "{backend:?}: refresh {round}: {} tables, {} columns, {} sensitive, in {:?}",
            report.tables,
            report.columns,
            report.sensitive_columns,
            started.elapsed()
        );
        assert_eq!(report.tables, tables);
        assert_eq!(report.sensitive_columns, tables);
    }
    let started = std::time::Instant::now();
    let page = catalog::search(
        &t.db,
        &SearchQuery {
            q: "c11".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    eprintln!(
        "{backend:?}: search: {} hits in {:?}",
        page.total,
        started.elapsed()
    );
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark"]
async fn many_tables_sqlite() {
    many_tables(zhiyun_store::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark"]
async fn many_tables_postgres() {
    many_tables(zhiyun_store::Backend::Postgres).await;
}
