//! Golden tests: the column lineage of every model under `plugins/models`,
//! parsed from its SQL, equals the reviewed file in `tests/golden/` — on
//! both dialects. A change to a model's SQL that changes its lineage fails
//! here until the golden file is regenerated (`UPDATE_GOLDEN=1 cargo test
//! -p zhiyun-models --test lineage_golden`) and the diff reviewed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use zhiyun_models::Project;
use zhiyun_models::lineage::models_lineage;
use zhiyun_store::Backend;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The DWD columns the models read, as cleaning creates them from the
/// generator's tables (without the `_batch_id`/`_line` bookkeeping).
fn sources() -> BTreeMap<String, Vec<String>> {
    let t = |cols: &[&str]| cols.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    BTreeMap::from([
        (
            "dwd_bank_txn".to_string(),
            t(&[
                "txn_id",
                "acct_no",
                "org_id",
                "txn_time",
                "dir",
                "amount",
                "counterparty",
                "purpose",
                "balance_after",
                "voucher_id",
            ]),
        ),
        (
            "dwd_bank_balance_daily".to_string(),
            t(&[
                "acct_no",
                "date",
                "org_id",
                "book_bal",
                "bank_bal",
                "available",
                "unreconciled",
                "frozen",
            ]),
        ),
        (
            "dwd_bank_account".to_string(),
            t(&[
                "acct_no",
                "bank",
                "bank_code",
                "org_id",
                "type",
                "in_pool",
                "safety_reserve",
                "status",
                "open_date",
            ]),
        ),
        (
            "dwd_dim_org".to_string(),
            t(&[
                "org_id",
                "org_code",
                "name",
                "parent_id",
                "level",
                "org_type",
                "is_acct_entity",
                "cost_center",
                "profit_center",
            ]),
        ),
    ])
}

#[test]
fn every_model_matches_its_golden_lineage_on_both_dialects() {
    let project = Project::load(&repo().join("plugins/models")).unwrap();
    assert!(!project.is_empty());
    let sqlite = models_lineage(&project, &sources(), Backend::Sqlite).unwrap();
    let postgres = models_lineage(&project, &sources(), Backend::Postgres).unwrap();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for model in project.in_order() {
        let got = serde_json::to_string_pretty(&sqlite[&model.name]).unwrap() + "\n";
        assert_eq!(
            serde_json::to_string_pretty(&postgres[&model.name]).unwrap() + "\n",
            got,
            "{}: the two dialects disagree",
            model.name
        );
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("{}.json", model.name));
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (generate with UPDATE_GOLDEN=1 and review it)",
                path.display()
            )
        });
        assert_eq!(
            got,
            want,
            "{}: lineage differs from {}",
            model.name,
            path.display()
        );
    }
}

#[test]
fn the_s02_metrics_trace_to_their_source_columns() {
    // Spot checks a reviewer can read without the golden files.
    let project = Project::load(&repo().join("plugins/models")).unwrap();
    let lineage = models_lineage(&project, &sources(), Backend::Sqlite).unwrap();
    let ads = &lineage["ads_fund_daily"];
    let direct = |model: &str, column: &str| -> Vec<String> {
        lineage[model]
            .column(column)
            .unwrap()
            .direct
            .iter()
            .map(|e| format!("{}:{:?}", e.from, e.kind))
            .collect()
    };
    assert_eq!(
        direct("ads_fund_daily", "closing"),
        ["dws_fund_account_daily.closing:Identity"]
    );
    assert_eq!(
        direct("dws_fund_account_daily", "closing"),
        ["dwd_bank_balance_daily.book_bal:Identity"]
    );
    assert_eq!(
        direct("dws_fund_account_daily", "unreconciled"),
        [
            "dwd_bank_balance_daily.bank_bal:Transformation",
            "dwd_bank_balance_daily.book_bal:Transformation"
        ]
    );
    assert_eq!(
        direct("dws_bank_txn_daily", "inflow"),
        ["dwd_bank_txn.amount:Aggregation"]
    );
    // The idle flag depends on the running last-transaction date: a window
    // over the account's days.
    assert!(
        ads.indirect
            .iter()
            .any(|e| e.from.column == "acct_no" && format!("{:?}", e.kind) == "Window")
    );
}

#[test]
fn a_model_whose_sql_yields_other_columns_than_declared_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dws_x.sql"),
        "SELECT acct_no, book_bal AS closing FROM {{ source('dwd_bank_balance_daily') }}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dws_x.toml"),
        "[model]\nname = \"dws_x\"\nlayer = \"dws\"\ndescription = \"x\"\nowner = \"x\"\ngrain = \"x\"\nkeys = [\"acct_no\"]\n\n\
         [[columns]]\nname = \"acct_no\"\ntype = \"text\"\ndescription = \"x\"\n\n\
         [[columns]]\nname = \"available\"\ntype = \"money\"\ndescription = \"x\"\n",
    )
    .unwrap();
    let project = Project::load(dir.path()).unwrap();
    let e = models_lineage(&project, &sources(), Backend::Sqlite)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("declared but not yielded: [available]")
            && e.contains("yielded but not declared: [closing]"),
        "{e}"
    );
}
